//! What the service manager hears from the server (systemd's `Type=notify`):
//! ready once every loop is started, stopping on shutdown, and watchdog
//! pings from the clock loop, so that a server whose store hangs stops
//! pinging and is restarted. Outside systemd (no `NOTIFY_SOCKET`) each call
//! does nothing.

use std::time::{Duration, Instant};

use sd_notify::NotifyState;

/// Tells the service manager the server is serving.
pub fn ready() {
    notify(&[NotifyState::Ready]);
}

/// Tells the service manager the server is shutting down.
pub fn stopping() {
    notify(&[NotifyState::Stopping]);
}

fn notify(state: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(false, state) {
        tracing::debug!(error = %e, "service manager not told");
    }
}

/// Pings the watchdog at half its interval, when systemd set one.
#[derive(Debug)]
pub struct Watchdog {
    every: Option<Duration>,
    last: Option<Instant>,
}

impl Watchdog {
    pub fn from_env() -> Self {
        let mut usec = 0u64;
        let every =
            sd_notify::watchdog_enabled(false, &mut usec).then(|| Duration::from_micros(usec) / 2);
        Self { every, last: None }
    }

    /// Called after each piece of work that proves the server alive.
    pub fn alive(&mut self) {
        let Some(every) = self.every else { return };
        if self.last.is_some_and(|t| t.elapsed() < every) {
            return;
        }
        self.last = Some(Instant::now());
        notify(&[NotifyState::Watchdog]);
    }
}
