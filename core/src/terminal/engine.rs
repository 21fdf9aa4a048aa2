//! The phone's decisions, without I/O (seed figure 10): what a Publish says
//! given the own record and the sharing preferences, when sharing may next
//! start or stop, what a status that ends by itself goes back to, and what a
//! Subscribe asks.

use chrono::{DateTime, Days, FixedOffset, NaiveTime};
use serde::{Deserialize, Serialize};

use mailpresence_protocol::mail::{PresenceMessage, Publish, Subscribe, SubscribeMode};
use mailpresence_protocol::model::{AccountName, Activity, ActivityToken, PresenceFields};

/// When the location may be shared: only once the worker turned sharing on
/// (a new phone shares nothing), until a time they chose ("share my
/// location until 18:00"), and only inside working hours.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sharing {
    /// The worker turned sharing on. Preferences stored before this field
    /// existed were set by the worker turning sharing on, hence on.
    #[serde(default = "turned_on")]
    pub on: bool,
    /// Sharing stops at this time, when set.
    pub until: Option<DateTime<FixedOffset>>,
    /// Working hours (start, end) in the phone's local time; outside them the
    /// location is paused. Overnight shifts (22:00–06:00) work too.
    pub working_hours: Option<(NaiveTime, NaiveTime)>,
    /// Send coordinates as well as the address.
    pub coordinates: bool,
}

fn turned_on() -> bool {
    true
}

impl Sharing {
    /// Whether the location may be published at `now` (the phone's local time).
    pub fn active(&self, now: DateTime<FixedOffset>) -> bool {
        if !self.on || self.until.is_some_and(|until| now >= until) {
            return false;
        }
        match self.working_hours {
            None => true,
            Some((start, end)) => {
                let t = now.time();
                if start <= end {
                    (start..end).contains(&t)
                } else {
                    t >= start || t < end
                }
            }
        }
    }

    /// The next moment after `now` at which [`Sharing::active`] may change
    /// (the end chosen, a shift's start or end); `None` when it never will.
    /// The app's "sharing now" indicator looks again then, and the clock
    /// publishes without the place when a window closes.
    pub fn next_change(&self, now: DateTime<FixedOffset>) -> Option<DateTime<FixedOffset>> {
        if !self.on || self.until.is_some_and(|until| now >= until) {
            return None;
        }
        let shift = self
            .working_hours
            .filter(|(start, end)| start != end)
            .and_then(|(start, end)| {
                let today = now.date_naive();
                [start, end]
                    .into_iter()
                    .flat_map(|t| {
                        [Some(today), today.checked_add_days(Days::new(1))]
                            .into_iter()
                            .flatten()
                            .map(move |day| day.and_time(t))
                    })
                    .filter_map(|local| local.and_local_timezone(*now.offset()).single())
                    .filter(|at| *at > now)
                    .min()
            });
        match (self.until, shift) {
            (Some(until), Some(shift)) => Some(until.min(shift)),
            (until, shift) => until.or(shift),
        }
    }
}

/// A status that ends by itself (「会議 until 15:00」): when, and the
/// activity the own record goes back to then. Kept in the phone's store, so
/// a restart in between changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusEnd {
    pub at: DateTime<FixedOffset>,
    pub back_to: Activity,
}

impl StatusEnd {
    /// The end of `activity`, set now until `at` while the record shows
    /// `current`: it goes back to what was before. When a timed status
    /// already runs, "before" is what was before that one (「会議 until
    /// 15:00」 then 「外出 until 16:00」 ends in the status of the morning).
    /// Going back to the very status being set would change nothing, so it
    /// goes back to available then.
    pub fn new(
        at: DateTime<FixedOffset>,
        activity: &Activity,
        current: &Activity,
        running: Option<&StatusEnd>,
    ) -> Self {
        let before = running.map_or(current, |r| &r.back_to);
        let back_to = if before == activity || (before.token.is_none() && before.text.is_none()) {
            Activity::token(ActivityToken::Available)
        } else {
            before.clone()
        };
        Self { at, back_to }
    }

    /// The activity to go back to, once `now` has reached the end.
    pub fn due(&self, now: DateTime<FixedOffset>) -> Option<&Activity> {
        (now >= self.at).then_some(&self.back_to)
    }
}

/// The Publish for the own record: without any location while sharing is paused.
pub fn publish_message(
    account: &AccountName,
    own: &PresenceFields,
    sharing: &Sharing,
    now: DateTime<FixedOffset>,
) -> PresenceMessage {
    let mut presence = own.clone();
    if !sharing.active(now) {
        presence.location = None;
        presence.address = None;
        presence.coordinates = None;
    } else if !sharing.coordinates {
        presence.coordinates = None;
    }
    PresenceMessage::Publish(Publish {
        publisher: account.clone(),
        presence,
    })
}

pub fn subscribe_message(
    watcher: &AccountName,
    send_to: &str,
    notifiers: Vec<AccountName>,
    mode: SubscribeMode,
    expires: Option<u32>,
) -> PresenceMessage {
    PresenceMessage::Subscribe(Subscribe {
        watcher: watcher.clone(),
        notifiers,
        send_to: send_to.to_owned(),
        mode,
        expires,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailpresence_protocol::model::{Activity, Coordinates};

    fn at(hh: u32, mm: u32) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(&format!("2026-11-26T{hh:02}:{mm:02}:00+09:00")).unwrap()
    }

    #[test]
    fn location_is_paused_after_until_and_outside_working_hours() {
        let sharing = Sharing {
            on: true,
            until: Some(at(18, 0)),
            working_hours: Some((
                NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
                NaiveTime::from_hms_opt(19, 0, 0).unwrap(),
            )),
            coordinates: false,
        };
        assert!(sharing.active(at(9, 0)));
        assert!(!sharing.active(at(18, 30)), "after until");
        assert!(!sharing.active(at(7, 59)), "before work");
        let night = Sharing {
            on: true,
            working_hours: Some((
                NaiveTime::from_hms_opt(22, 0, 0).unwrap(),
                NaiveTime::from_hms_opt(6, 0, 0).unwrap(),
            )),
            ..Default::default()
        };
        assert!(night.active(at(23, 0)) && night.active(at(5, 0)) && !night.active(at(12, 0)));

        let mut own = PresenceFields::new("t@x.jp", Activity::parse("on-site").unwrap());
        own.location = Some("京都府京都市".into());
        own.coordinates = Coordinates::new(35.0, 135.7, None);
        let account: AccountName = "tanaka".parse().unwrap();
        let PresenceMessage::Publish(p) = publish_message(&account, &own, &sharing, at(18, 30))
        else {
            panic!()
        };
        assert_eq!(
            (p.presence.location, p.presence.coordinates),
            (None, None),
            "paused: no location at all"
        );
        let PresenceMessage::Publish(p) = publish_message(&account, &own, &sharing, at(10, 0))
        else {
            panic!()
        };
        assert_eq!(p.presence.location.as_deref(), Some("京都府京都市"));
        assert_eq!(p.presence.coordinates, None, "coordinates only when chosen");
    }

    fn hours(start: u32, end: u32) -> Option<(NaiveTime, NaiveTime)> {
        Some((
            NaiveTime::from_hms_opt(start, 0, 0).unwrap(),
            NaiveTime::from_hms_opt(end, 0, 0).unwrap(),
        ))
    }

    #[test]
    fn a_new_phone_shares_nothing_until_the_worker_turns_sharing_on() {
        assert!(!Sharing::default().active(at(10, 0)));
        assert_eq!(Sharing::default().next_change(at(10, 0)), None);
        // Kept by an app before "on" existed: the worker had turned it on.
        let stored: Sharing =
            serde_json::from_str(r#"{"until":null,"working_hours":null,"coordinates":false}"#)
                .unwrap();
        assert!(stored.on && stored.active(at(10, 0)));
    }

    #[test]
    fn sharing_next_changes_at_the_chosen_end_or_the_shifts_edge_whichever_comes_first() {
        let shift = Sharing {
            on: true,
            working_hours: hours(8, 19),
            ..Default::default()
        };
        assert_eq!(
            shift.next_change(at(7, 0)),
            Some(at(8, 0)),
            "the shift starts"
        );
        assert_eq!(shift.next_change(at(8, 0)), Some(at(19, 0)), "then ends");
        let tomorrow = DateTime::parse_from_rfc3339("2026-11-27T08:00:00+09:00").unwrap();
        assert_eq!(
            shift.next_change(at(20, 0)),
            Some(tomorrow),
            "tomorrow's start"
        );
        let until = Sharing {
            until: Some(at(18, 0)),
            ..shift.clone()
        };
        assert_eq!(until.next_change(at(12, 0)), Some(at(18, 0)));
        assert_eq!(until.next_change(at(18, 0)), None, "over for good");
        let night = Sharing {
            working_hours: hours(22, 6),
            ..shift.clone()
        };
        let morning = DateTime::parse_from_rfc3339("2026-11-27T06:00:00+09:00").unwrap();
        assert_eq!(night.next_change(at(23, 0)), Some(morning));
        let always = Sharing {
            on: true,
            ..Default::default()
        };
        assert_eq!(always.next_change(at(12, 0)), None);
        let off = Sharing { on: false, ..until };
        assert_eq!(off.next_change(at(12, 0)), None);
    }

    #[test]
    fn a_timed_status_goes_back_to_what_was_before_it_or_to_available() {
        let meeting = Activity::token(ActivityToken::Meeting);
        let on_site = Activity {
            token: Some(ActivityToken::OnSite),
            text: Some("設備点検中".into()),
        };
        let end = StatusEnd::new(at(15, 0), &meeting, &on_site, None);
        assert_eq!(end.due(at(14, 59)), None);
        assert_eq!(end.due(at(15, 0)), Some(&on_site));
        assert_eq!(end.due(at(16, 0)), Some(&on_site), "late is still due");

        let out = Activity::parse("外出中").unwrap();
        let chained = StatusEnd::new(at(16, 0), &out, &meeting, Some(&end));
        assert_eq!(
            chained.back_to, on_site,
            "the status of before the first timed one"
        );

        let same = StatusEnd::new(at(15, 0), &meeting, &meeting, None);
        assert_eq!(same.back_to, Activity::token(ActivityToken::Available));
        let nothing = Activity {
            token: None,
            text: None,
        };
        let from_nothing = StatusEnd::new(at(15, 0), &meeting, &nothing, None);
        assert_eq!(
            from_nothing.back_to,
            Activity::token(ActivityToken::Available)
        );
    }
}
