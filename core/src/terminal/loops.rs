//! The phone's background work: the send loop (the outbox handed to SMTP
//! whenever there is something to send), the receive loop (the inbox
//! watched with IMAP IDLE) and the clock (`clock.rs`: statuses that end by
//! themselves, sharing windows that close), run together until the app
//! stops them. All are
//! kept alive as the server's loops are (`server/src/supervisor.rs`): a loop
//! that fails — a store error, a panic — is logged, told to the app, and
//! started again after the shared jittered back-off; a lost connection is
//! retried the same way inside the receive loop.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::{debug, error, warn};

use super::client::Terminal;
use super::events::{ConnectionStatus, Event};
use crate::error::Error;
use mailpresence_protocol::transport::Backoff;
use mailpresence_protocol::transport::outbox::Round;

/// How often the presence folder is emptied of Notify mails past the TTL.
const PURGE_EVERY: Duration = Duration::from_secs(10 * 60);
/// A loop that ran this long before it failed starts again at the shortest
/// back-off: its failure is news, not the same fault again.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

impl Terminal {
    /// Runs the loops until `shutdown`: the outbox is sent whenever there
    /// is something to send (retried with back-off), the inbox is watched with
    /// IDLE (both reconnect with jittered back-off), and the clock publishes
    /// what time changes.
    pub async fn run(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        tokio::join!(
            self.clone().send_loop(shutdown.clone()),
            self.clone().clock_loop(shutdown.clone()),
            self.receive_loop(shutdown)
        );
    }

    /// Hands the outbox to SMTP until `shutdown`. A store error ends one
    /// run of the shared outbox loop; it is started again after a back-off.
    async fn send_loop(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        let terminal = self.clone();
        supervise("send", self, shutdown.clone(), move || {
            let (terminal, mut shutdown) = (terminal.clone(), shutdown.clone());
            async move {
                let stop = async move {
                    let _ = shutdown.wait_for(|stop| *stop).await;
                };
                let report = |round: &Round| {
                    if let Err(e) = terminal.report(round) {
                        warn!(error = %e, "outbox report");
                    }
                };
                terminal.outbox.run(stop, report).await.map_err(Error::from)
            }
        })
        .await;
    }

    /// Watches the inbox until `shutdown`; reconnects by itself, and is
    /// started again should it panic.
    async fn receive_loop(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        let terminal = self.clone();
        supervise("receive", self, shutdown.clone(), move || {
            let (terminal, shutdown) = (terminal.clone(), shutdown.clone());
            async move {
                terminal.watch_inbox(shutdown).await;
                Ok(())
            }
        })
        .await;
    }

    async fn watch_inbox(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(60));
        loop {
            match self.idle_session(&mut shutdown, &mut backoff).await {
                Ok(()) => return,
                Err(e) => {
                    warn!(error = %e, "inbox connection");
                    self.emit(Event::Connection(ConnectionStatus::Failed {
                        error: e.into(),
                    }));
                    tokio::select! {
                        _ = tokio::time::sleep(backoff.next_delay()) => {}
                        _ = self.inbox_wake.notified() => {}
                        _ = shutdown.wait_for(|stop| *stop) => return,
                    }
                }
            }
        }
    }

    async fn idle_session(
        &self,
        shutdown: &mut watch::Receiver<bool>,
        backoff: &mut Backoff,
    ) -> Result<(), Error> {
        let mut session = self.open_inbox().await?;
        backoff.reset();
        self.emit(Event::Connection(ConnectionStatus::Connected));
        let mut last_purge: Option<Instant> = None;
        loop {
            // First, so that the search below sees every Notify that arrived
            // while the presence folder was selected.
            if last_purge.is_none_or(|t| t.elapsed() >= PURGE_EVERY) {
                self.purge_presence_folder(&mut session).await?;
                self.prune_store()?;
                last_purge = Some(Instant::now());
            }
            self.read_notifies(&mut session).await?;
            if *shutdown.borrow() {
                session.logout().await;
                return Ok(());
            }
            if session.mail_announced() {
                continue;
            }
            let interrupt = async {
                tokio::select! {
                    () = self.inbox_wake.notified() => {}
                    _ = shutdown.wait_for(|stop| *stop) => {}
                }
            };
            let (next, woken) = session.wait(Duration::from_secs(60), interrupt).await?;
            session = next;
            debug!(?woken, "inbox wait ended");
        }
    }
}

/// Runs the loop `make` builds until it returns `Ok` or `shutdown` turns
/// true. An error or a panic is logged and told to the app, and the loop is
/// built again after a back-off (the shortest again once a run lasted
/// [`HEALTHY_RUN`]).
pub(super) async fn supervise<F, Fut>(
    name: &'static str,
    terminal: Arc<Terminal>,
    mut shutdown: watch::Receiver<bool>,
    mut make: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), Error>> + Send + 'static,
{
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(60));
    loop {
        let started = Instant::now();
        // Spawned, so that a panic ends only this run.
        let failure = match tokio::spawn(make()).await {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e,
            Err(join) => Error::Task(join),
        };
        if *shutdown.borrow() {
            return;
        }
        if started.elapsed() >= HEALTHY_RUN {
            backoff.reset();
        }
        let delay = backoff.next_delay();
        error!(task = name, error = %failure, retry_in_ms = delay.as_millis() as u64, "loop failed; restarting");
        terminal.emit(Event::Connection(ConnectionStatus::Failed {
            error: failure.into(),
        }));
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::PresenceError;
    use crate::terminal::testing::{offline_config, open};
    use mailpresence_protocol::mail::SubscribeMode;
    use tokio::sync::broadcast;

    /// The next connection failure the app is told of, within `within`.
    async fn next_failure(
        events: &mut broadcast::Receiver<Event>,
        within: Duration,
    ) -> Option<PresenceError> {
        tokio::time::timeout(within, async {
            loop {
                match events.recv().await {
                    Ok(Event::Connection(ConnectionStatus::Failed { error })) => return error,
                    Ok(_) => continue,
                    Err(e) => panic!("events: {e}"),
                }
            }
        })
        .await
        .ok()
    }

    /// Renames a table of the client's store behind its back, from a second
    /// connection, as a damaged or full store would fail it.
    fn rename_table(dir: &std::path::Path, from: &str, to: &str) {
        let conn = rusqlite::Connection::open(dir.join("terminal.db")).expect("open");
        conn.execute_batch(&format!("ALTER TABLE {from} RENAME TO {to}"))
            .expect("rename");
    }

    #[tokio::test]
    async fn the_send_loop_starts_again_after_a_store_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let terminal = open(offline_config(), dir.path());
        terminal
            .subscribe(&["sato".into()], SubscribeMode::Once, None)
            .expect("queued");
        let mut events = terminal.events();
        rename_table(dir.path(), "outbox", "outbox_away");
        let (stop, shutdown) = watch::channel(false);
        let sending = tokio::spawn(terminal.clone().send_loop(shutdown));

        let first = next_failure(&mut events, Duration::from_secs(10)).await;
        assert!(
            matches!(first, Some(PresenceError::Storage { .. })),
            "{first:?}"
        );
        rename_table(dir.path(), "outbox_away", "outbox");
        // Started again, the loop reaches the queued mail and tries SMTP
        // (which is not there).
        let next = next_failure(&mut events, Duration::from_secs(10)).await;
        assert!(
            matches!(next, Some(PresenceError::Unreachable { .. })),
            "the send loop did not start again: {next:?}"
        );
        assert_eq!(terminal.outbox_depth().expect("depth"), 1, "kept for later");

        stop.send_replace(true);
        tokio::time::timeout(Duration::from_secs(5), sending)
            .await
            .expect("the loop stops when told")
            .expect("no panic");
    }
}
