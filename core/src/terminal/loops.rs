//! The phone's background work: the send loop (the outbox handed to SMTP
//! whenever there is something to send) and the receive loop (the inbox
//! watched with IMAP IDLE), run together until the app stops them; a lost
//! connection is retried with the shared jittered back-off.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::{debug, warn};

use super::client::Terminal;
use super::events::{ConnectionStatus, Event};
use crate::error::Error;
use mailpresence_protocol::transport::Backoff;

/// How often the presence folder is emptied of Notify mails past the TTL.
const PURGE_EVERY: Duration = Duration::from_secs(10 * 60);

impl Terminal {
    /// Runs the mail loops until `shutdown`: the outbox is sent whenever there
    /// is something to send (retried with back-off), the inbox is watched with
    /// IDLE; both reconnect with jittered back-off.
    pub async fn run(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        tokio::join!(
            self.clone().send_loop(shutdown.clone()),
            self.receive_loop(shutdown)
        );
    }

    async fn send_loop(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let stop = async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        };
        let result = self
            .outbox
            .run(stop, |round| {
                if let Err(e) = self.report(round) {
                    warn!(error = %e, "outbox report");
                }
            })
            .await;
        if let Err(e) = result {
            warn!(error = %e, "the outbox stopped");
            self.emit(Event::Connection(ConnectionStatus::Failed {
                error: Error::from(e).into(),
            }));
        }
    }

    async fn receive_loop(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
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
