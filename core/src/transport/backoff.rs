//! Exponential back-off with jitter, so that many phones (or many restarts) do
//! not reconnect in step.

use std::time::Duration;

use rand::Rng;

/// The waits between tries of one connection.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
    min: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            next: min,
            min,
            max,
        }
    }

    pub fn reset(&mut self) {
        self.next = self.min;
    }

    /// The wait before the next try: the current step ±25 %, then double it.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        let jitter = rand::rng().random_range(0.75..1.25);
        base.mul_f64(jitter)
    }
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
}
