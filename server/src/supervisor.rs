//! Keeps the server's long-running loops (intake, outbox, SIP, clock) alive:
//! a loop that fails — or panics — is logged with its cause and started again
//! after a jittered back-off. Each loop's state, restarts and last error are
//! kept here and written to the store, so `--status` (another process) and
//! SIGUSR1 show them.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use mailpresence_protocol::transport::Backoff;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::hub::Hub;

/// The store's meta key holding every loop's state as JSON.
pub const META_KEY: &str = "loops";

/// What one loop is doing, for people.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoopState {
    /// `starting`, `running`, `waiting` (working, but held up: see `detail`),
    /// `restarting` or `stopped`.
    pub state: String,
    /// Why it waits, or what it is connected to.
    pub detail: Option<String>,
    pub restarts: u32,
    pub last_error: Option<String>,
    /// When `state` last changed (RFC 3339).
    pub since: String,
}

/// The states of all loops, shared by the loops and the supervisor.
#[derive(Debug)]
pub struct Loops {
    hub: Arc<Hub>,
    states: Mutex<BTreeMap<String, LoopState>>,
}

impl Loops {
    pub fn new(hub: Arc<Hub>) -> Arc<Self> {
        Arc::new(Self {
            hub,
            states: Mutex::new(BTreeMap::new()),
        })
    }

    /// The loop works (`detail`: e.g. what it is connected to).
    pub fn running(&self, name: &str, detail: Option<String>) {
        self.update(name, |s| {
            s.state = "running".into();
            s.detail = detail;
        });
    }

    /// The loop works but is held up, e.g. the SMTP server refuses logins.
    pub fn waiting(&self, name: &str, why: String) {
        self.update(name, |s| {
            s.state = "waiting".into();
            s.detail = Some(why);
        });
    }

    pub fn snapshot(&self) -> BTreeMap<String, LoopState> {
        self.states
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn update(&self, name: &str, change: impl FnOnce(&mut LoopState)) {
        let json = {
            let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
            let state = states.entry(name.to_owned()).or_default();
            let before = state.clone();
            change(state);
            if state.state != before.state || state.detail != before.detail {
                state.since = Utc::now().to_rfc3339();
            }
            if *state == before {
                return;
            }
            serde_json::to_string(&*states).unwrap_or_default()
        };
        // Best effort: the state is for people; a failed write is only logged.
        if let Err(e) = self
            .hub
            .store()
            .transaction(|tx| tx.set_meta(META_KEY, &json))
        {
            warn!(error = %e, "cannot record the loops' state");
        }
    }
}

/// Runs the loop made by `make` until it returns `Ok` or `shutdown` turns
/// true; an error or a panic restarts it after a back-off (reset once the
/// loop reported itself running again).
pub async fn supervise<F, Fut, E>(
    name: &'static str,
    loops: Arc<Loops>,
    mut shutdown: watch::Receiver<bool>,
    mut make: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Display + Send + 'static,
{
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(60));
    loop {
        loops.update(name, |s| {
            s.state = "starting".into();
            s.detail = None;
        });
        // Spawned, so that a panic in the loop ends only this try.
        let outcome = match tokio::spawn(make()).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(join) if join.is_panic() => Some(format!("panicked: {}", panic_text(join))),
            Err(join) => Some(join.to_string()),
        };
        let Some(cause) = outcome else {
            loops.update(name, |s| s.state = "stopped".into());
            return;
        };
        if *shutdown.borrow() {
            loops.update(name, |s| s.state = "stopped".into());
            return;
        }
        let was_running = loops
            .snapshot()
            .get(name)
            .is_some_and(|s| s.state == "running" || s.state == "waiting");
        if was_running {
            backoff.reset();
        }
        let delay = backoff.next_delay();
        error!(task = name, error = %cause, retry_in_ms = delay.as_millis() as u64, "loop failed; restarting");
        loops.update(name, |s| {
            s.state = "restarting".into();
            s.detail = None;
            s.restarts += 1;
            s.last_error = Some(cause);
        });
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = shutdown.changed() => {
                loops.update(name, |s| s.state = "stopped".into());
                info!(task = name, "stopped while waiting to restart");
                return;
            }
        }
    }
}

fn panic_text(join: tokio::task::JoinError) -> String {
    let payload = join.into_panic();
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::Directory;
    use crate::engine::Engine;
    use crate::store::SqliteStore;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn hub() -> Arc<Hub> {
        let store = SqliteStore::in_memory().expect("store");
        let engine = Engine::new(
            Directory::from_config(&[], &[]),
            Default::default(),
            "presence@example.test",
        );
        Hub::new(store, engine, "presence@example.test".into())
    }

    #[tokio::test]
    async fn a_failing_and_a_panicking_loop_are_restarted_and_their_errors_kept() {
        let loops = Loops::new(hub());
        let (_stop, shutdown) = watch::channel(false);
        let tries = Arc::new(AtomicU32::new(0));
        let counter = tries.clone();
        supervise("intake", loops.clone(), shutdown, move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                match n {
                    0 => Err("connection reset".to_owned()),
                    1 => panic!("index out of bounds"),
                    _ => Ok(()),
                }
            }
        })
        .await;
        assert_eq!(tries.load(Ordering::SeqCst), 3);
        let state = loops.snapshot()["intake"].clone();
        assert_eq!(state.restarts, 2);
        assert_eq!(state.state, "stopped");
        assert_eq!(
            state.last_error.as_deref(),
            Some("panicked: index out of bounds")
        );
    }

    #[tokio::test]
    async fn the_state_reaches_the_store_for_the_status_command() {
        let hub = hub();
        let loops = Loops::new(hub.clone());
        loops.waiting("outbox", "login refused: 535 5.7.8".into());
        let json = hub
            .store()
            .transaction(|tx| tx.meta(META_KEY))
            .expect("meta")
            .expect("written");
        let states: BTreeMap<String, LoopState> = serde_json::from_str(&json).expect("json");
        assert_eq!(states["outbox"].state, "waiting");
        assert_eq!(
            states["outbox"].detail.as_deref(),
            Some("login refused: 535 5.7.8")
        );
    }
}
