//! What time changes in the own record without the worker touching the
//! phone: a status that ends by itself (「会議 until 15:00」) goes back to
//! what it was before and is published, and a sharing window that closes
//! (the end the worker chose, the end of the shift) publishes the record
//! without its place, so the server does not keep showing it. `engine`
//! decides ([`StatusEnd`], [`Sharing::next_change`]); the store keeps the
//! end, so a restart in between changes nothing; the clock loop here owns
//! the timer and runs supervised beside the send and receive loops.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Local};
use tokio::sync::watch;

use super::client::Terminal;
use super::engine::StatusEnd;
use super::loops::supervise;
use crate::error::Error;
use mailpresence_protocol::model::Activity;

/// The store's key of the running status end.
const STATUS_END: &str = "status_end";
/// The store's key of whether the last Publish carried a place.
pub(super) const PLACE_PUBLISHED: &str = "place_published";
/// The longest the clock sleeps while something is due. A phone asleep does
/// not count the time a timer waits, so the clock looks at the wall clock
/// again at least this often and is at most this late after a sleep.
const LOOK_AGAIN: Duration = Duration::from_secs(60);

impl Terminal {
    /// Sets the own activity and publishes it; with `until`, it ends by
    /// itself then and the record goes back to the activity of before (see
    /// [`StatusEnd::new`]). Without, any running end is dropped.
    pub fn set_status_until(
        &self,
        activity: Activity,
        until: Option<DateTime<FixedOffset>>,
    ) -> Result<(), Error> {
        match until {
            None => self.store().remove_pref(STATUS_END)?,
            Some(at) => {
                if at <= Local::now().fixed_offset() {
                    return Err(Error::InvalidInput(
                        "the status would end in the past".into(),
                    ));
                }
                let end = StatusEnd::new(
                    at,
                    &activity,
                    &self.own()?.activity,
                    self.status_end()?.as_ref(),
                );
                // Before the change: a crash in between leaves an end that
                // restores the status as it is, never a status without end.
                self.store().set_pref(STATUS_END, &end)?;
            }
        }
        self.change(|own| own.activity = activity)?;
        self.clock_wake.notify_one();
        Ok(())
    }

    /// The running status end, if the own status ends by itself.
    pub fn status_end(&self) -> Result<Option<StatusEnd>, Error> {
        Ok(self.store().pref(STATUS_END)?)
    }

    /// What time brought by `now`: a status whose end came goes back, a
    /// place still on the server while sharing is paused goes. Each
    /// publishes (the send loop hands it over). Returns whether it did.
    pub fn on_clock(&self, now: DateTime<FixedOffset>) -> Result<bool, Error> {
        if let Some(end) = self.status_end()?
            && let Some(back) = end.due(now)
        {
            self.store().remove_pref(STATUS_END)?;
            let back = back.clone();
            // The Publish also leaves the place out if sharing is paused.
            self.change_at(now, |own| own.activity = back)?;
            return Ok(true);
        }
        if self.place_published()? && !self.sharing()?.active(now) {
            self.change_at(now, |_| {})?;
            return Ok(true);
        }
        Ok(false)
    }

    /// The next moment [`Terminal::on_clock`] may have something to do.
    fn next_tick(
        &self,
        now: DateTime<FixedOffset>,
    ) -> Result<Option<DateTime<FixedOffset>>, Error> {
        let status = self.status_end()?.map(|end| end.at);
        let sharing = if self.place_published()? {
            self.sharing()?.next_change(now)
        } else {
            None
        };
        Ok(match (status, sharing) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    /// Whether the last Publish carried a place (written by the outbox side).
    fn place_published(&self) -> Result<bool, Error> {
        Ok(self.store().pref(PLACE_PUBLISHED)?.unwrap_or(false))
    }

    /// Runs the clock until `shutdown`; started again after a failure.
    pub(super) async fn clock_loop(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        let terminal = self.clone();
        supervise("clock", self, shutdown.clone(), move || {
            let (terminal, shutdown) = (terminal.clone(), shutdown.clone());
            async move { terminal.keep_time(shutdown).await }
        })
        .await;
    }

    async fn keep_time(&self, mut shutdown: watch::Receiver<bool>) -> Result<(), Error> {
        loop {
            let now = Local::now().fixed_offset();
            self.on_clock(now)?;
            let next = self.next_tick(now)?;
            let wait = next
                .and_then(|at| (at - now).to_std().ok())
                .unwrap_or_default()
                .clamp(Duration::from_millis(200), LOOK_AGAIN);
            tokio::select! {
                () = tokio::time::sleep(wait), if next.is_some() => {}
                () = self.clock_wake.notified() => {}
                _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test may stop at the first surprise

    use chrono::TimeDelta;

    use super::*;
    use crate::terminal::engine::Sharing;
    use crate::terminal::events::Event;
    use crate::terminal::testing::{offline_config, open};
    use mailpresence_protocol::model::ActivityToken;

    fn now() -> DateTime<FixedOffset> {
        Local::now().fixed_offset()
    }

    fn on_site() -> Activity {
        Activity {
            token: Some(ActivityToken::OnSite),
            text: Some("設備点検中".into()),
        }
    }

    #[test]
    fn a_timed_status_goes_back_when_its_end_comes_and_is_published() {
        let dir = tempfile::tempdir().unwrap();
        let terminal = open(offline_config(), dir.path());
        terminal.set_status(on_site()).unwrap();
        let until = now() + TimeDelta::hours(1);
        terminal
            .set_status_until(Activity::token(ActivityToken::Meeting), Some(until))
            .unwrap();
        assert_eq!(
            terminal.own().unwrap().activity,
            Activity::token(ActivityToken::Meeting)
        );
        assert_eq!(terminal.status_end().unwrap().map(|e| e.at), Some(until));
        let queued = terminal.outbox_depth().unwrap();

        assert!(
            !terminal.on_clock(until - TimeDelta::seconds(1)).unwrap(),
            "not yet"
        );
        let mut events = terminal.events();
        assert!(terminal.on_clock(until).unwrap());
        assert_eq!(terminal.own().unwrap().activity, on_site());
        assert_eq!(terminal.status_end().unwrap(), None, "over");
        assert_eq!(terminal.outbox_depth().unwrap(), queued + 1, "published");
        assert!(matches!(events.try_recv(), Ok(Event::Published { .. })));
        assert!(!terminal.on_clock(until).unwrap(), "once");
    }

    #[test]
    fn the_end_survives_a_restart_and_a_status_set_for_good_drops_it() {
        let dir = tempfile::tempdir().unwrap();
        let until = now() + TimeDelta::hours(1);
        {
            let terminal = open(offline_config(), dir.path());
            terminal.set_status(on_site()).unwrap();
            terminal
                .set_status_until(Activity::token(ActivityToken::Meeting), Some(until))
                .unwrap();
        }
        let terminal = open(offline_config(), dir.path());
        assert_eq!(
            terminal.status_end().unwrap().map(|e| e.back_to),
            Some(on_site())
        );
        assert!(terminal.on_clock(until + TimeDelta::minutes(5)).unwrap());
        assert_eq!(terminal.own().unwrap().activity, on_site());

        terminal
            .set_status_until(Activity::token(ActivityToken::Meeting), Some(until))
            .unwrap();
        terminal
            .set_status(Activity::token(ActivityToken::Driving))
            .unwrap();
        assert_eq!(terminal.status_end().unwrap(), None);
        assert!(!terminal.on_clock(until).unwrap());
        assert_eq!(
            terminal.own().unwrap().activity,
            Activity::token(ActivityToken::Driving)
        );
    }

    #[test]
    fn an_end_in_the_past_is_refused_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let terminal = open(offline_config(), dir.path());
        let refused = terminal.set_status_until(
            Activity::token(ActivityToken::Meeting),
            Some(now() - TimeDelta::minutes(1)),
        );
        assert!(
            matches!(refused, Err(Error::InvalidInput(_))),
            "{refused:?}"
        );
        assert_eq!(terminal.outbox_depth().unwrap(), 0);
        assert_eq!(terminal.status_end().unwrap(), None);
    }

    #[test]
    fn a_closing_sharing_window_publishes_once_without_the_place() {
        let dir = tempfile::tempdir().unwrap();
        let terminal = open(offline_config(), dir.path());
        let until = now() + TimeDelta::hours(1);
        terminal
            .set_sharing(Sharing {
                on: true,
                until: Some(until),
                ..Sharing::default()
            })
            .unwrap();
        // A place arrives (as a fix would put it) and goes out.
        let mut events = terminal.events();
        terminal
            .change(|own| own.location = Some("京都府京都市北区".into()))
            .unwrap();
        assert!(matches!(
            events.try_recv(),
            Ok(Event::Published { location: Some(_) })
        ));
        assert_eq!(terminal.next_tick(now()).unwrap(), Some(until));

        assert!(!terminal.on_clock(until - TimeDelta::seconds(1)).unwrap());
        assert!(terminal.on_clock(until).unwrap());
        let mut published = None;
        while let Ok(event) = events.try_recv() {
            if let Event::Published { location } = event {
                published = Some(location);
            }
        }
        assert_eq!(published, Some(None), "the closing Publish has no place");
        assert!(!terminal.on_clock(until).unwrap(), "once");
        assert_eq!(
            terminal.next_tick(until).unwrap(),
            None,
            "nothing left to do"
        );
    }

    #[tokio::test]
    async fn the_clock_loop_ends_a_status_by_itself() {
        let dir = tempfile::tempdir().unwrap();
        let terminal = open(offline_config(), dir.path());
        terminal.set_status(on_site()).unwrap();
        let (stop, shutdown) = watch::channel(false);
        let clock = tokio::spawn(terminal.clone().clock_loop(shutdown));
        terminal
            .set_status_until(
                Activity::token(ActivityToken::Meeting),
                Some(now() + TimeDelta::milliseconds(700)),
            )
            .unwrap();
        let back = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if terminal.own().unwrap().activity == on_site() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        assert!(back.is_ok(), "the status never went back");
        stop.send_replace(true);
        tokio::time::timeout(Duration::from_secs(5), clock)
            .await
            .expect("the clock stops when told")
            .unwrap();
    }
}
