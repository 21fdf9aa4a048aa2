//! Exponential back-off with jitter, so that many phones (or many restarts) do
//! not reconnect in step: the one formula for reconnecting and for retrying a
//! mail, phone and server alike.

use std::time::Duration;

use rand::Rng;

/// The waits between tries of one connection.
#[derive(Debug)]
pub struct Backoff {
    tries: u32,
    min: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Self { tries: 0, min, max }
    }

    pub fn reset(&mut self) {
        self.tries = 0;
    }

    /// The wait before the next try: the current step ±25 %, then double it.
    pub fn next_delay(&mut self) -> Duration {
        let wait = delay(self.tries, self.min, self.max);
        self.tries = self.tries.saturating_add(1);
        wait
    }
}

/// The one formula: the wait before try `attempt + 1` after `attempt` failed
/// tries is `min · 2^attempt`, at most `max`, each ±25 %.
pub fn delay(attempt: u32, min: Duration, max: Duration) -> Duration {
    let base = min
        .saturating_mul(2u32.saturating_pow(attempt.min(30)))
        .min(max);
    base.mul_f64(rand::rng().random_range(0.75..1.25))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_up_to_its_cap() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(8));
        let d: Vec<f64> = (0..6).map(|_| b.next_delay().as_secs_f64()).collect();
        assert!((0.75..1.25).contains(&d[0]), "{d:?}");
        assert!((1.5..2.5).contains(&d[1]), "{d:?}");
        assert!(d[5] <= 10.0 && d[5] >= 6.0, "{d:?}");
        b.reset();
        assert!(b.next_delay() < Duration::from_secs(2));
    }

    #[test]
    fn a_mail_retried_many_times_waits_at_most_the_cap() {
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(300));
        assert!(delay(0, min, max) <= Duration::from_millis(1250));
        assert!(delay(3, min, max) >= Duration::from_secs(6));
        assert!(delay(1000, min, max) <= Duration::from_secs(375));
    }
}
