//! Bounds on the stream transports (TCP and TLS): how many connections in all
//! and from one address, how long a connection may stay silent or spend on
//! one message, and how much may wait to be written to it. Also a throttle
//! that keeps a flood of refusals from becoming a flood of log lines.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The bounds of one server's TCP and TLS connections (counted together).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once, all sources together.
    pub max_connections: usize,
    /// Connections open at once from one IP address.
    pub max_connections_per_ip: usize,
    /// A connection that sends no byte at all for this long is closed.
    pub idle_timeout: Duration,
    /// A message must be complete this long after its first byte, a TLS
    /// handshake done this long after the connection came, and each write
    /// of ours taken by the peer within this long.
    pub message_timeout: Duration,
    /// Bytes queued for one connection; a peer that does not read is
    /// disconnected rather than let the queue grow.
    pub write_queue_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            max_connections_per_ip: 32,
            idle_timeout: Duration::from_secs(300),
            message_timeout: Duration::from_secs(10),
            write_queue_bytes: 256 * 1024,
        }
    }
}

/// Why a connection was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    Total,
    PerIp,
}

/// Counts the open connections in all and per source address.
#[derive(Debug)]
pub(super) struct Admission {
    max_total: usize,
    max_per_ip: usize,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

impl Admission {
    pub(super) fn new(limits: &Limits) -> Arc<Self> {
        Arc::new(Self {
            max_total: limits.max_connections,
            max_per_ip: limits.max_connections_per_ip,
            open: Mutex::default(),
        })
    }

    /// A slot for one more connection from `ip`, given back when dropped.
    pub(super) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Refusal> {
        // An IPv4 peer on a dual-stack socket shows as ::ffff:a.b.c.d; it is
        // the same source as a.b.c.d.
        let ip = ip.to_canonical();
        let mut open = self.lock();
        if open.total >= self.max_total {
            return Err(Refusal::Total);
        }
        let from_ip = open.per_ip.entry(ip).or_insert(0);
        if *from_ip >= self.max_per_ip {
            return Err(Refusal::PerIp);
        }
        *from_ip += 1;
        open.total += 1;
        Ok(Slot {
            admission: self.clone(),
            ip,
        })
    }

    #[cfg(test)]
    fn open(&self) -> usize {
        self.lock().total
    }

    fn release(&self, ip: IpAddr) {
        let mut open = self.lock();
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.per_ip.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                // Only addresses with a connection are kept: the map stays
                // as small as the number of connections.
                open.per_ip.remove(&ip);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One admitted connection; dropping it frees the place.
#[derive(Debug)]
pub(super) struct Slot {
    admission: Arc<Admission>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.admission.release(self.ip);
    }
}

/// Lets a log line through at most once per interval and counts the ones
/// held back, so that a thousand refused connections make one line.
#[derive(Debug)]
pub(super) struct LogThrottle {
    every: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl LogThrottle {
    pub(super) fn new(every: Duration) -> Self {
        Self {
            every,
            state: Mutex::new((None, 0)),
        }
    }

    /// `Some(held back since the last line)` when a line may be written now.
    pub(super) fn ready(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (last, held) = &mut *state;
        let now = Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < self.every) {
            *held += 1;
            return None;
        }
        *last = Some(now);
        Some(std::mem::take(held))
    }
}

/// Raises the soft limit on open files to the hard limit, as a server with
/// a thousand connections needs (service managers often start processes
/// with a soft limit of 1024). Returns the soft limit in force.
pub(super) fn raise_file_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    // `None` is "unlimited"; an unlimited hard limit is left alone (Linux
    // refuses an unlimited soft limit for open files anyway).
    if let (Some(soft), Some(hard)) = (limit.current, limit.maximum)
        && soft < hard
    {
        let raised = Rlimit {
            current: Some(hard),
            maximum: Some(hard),
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return Some(hard);
        }
    }
    limit.current
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per_ip: usize) -> Limits {
        Limits {
            max_connections: total,
            max_connections_per_ip: per_ip,
            ..Limits::default()
        }
    }

    #[test]
    fn one_address_gets_its_share_and_no_more() {
        let admission = Admission::new(&limits(10, 2));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = admission.admit(a).unwrap();
        let _second = admission.admit(a).unwrap();
        assert_eq!(admission.admit(a).unwrap_err(), Refusal::PerIp);
        let _other = admission.admit(b).unwrap();
        drop(first);
        assert!(admission.admit(a).is_ok(), "a freed place is given again");
    }

    #[test]
    fn the_total_holds_across_addresses() {
        let admission = Admission::new(&limits(3, 3));
        let slots: Vec<Slot> = (1..=3)
            .map(|i| admission.admit(IpAddr::from([192, 0, 2, i])).unwrap())
            .collect();
        assert_eq!(
            admission.admit("192.0.2.9".parse().unwrap()).unwrap_err(),
            Refusal::Total
        );
        drop(slots);
        assert_eq!(admission.open(), 0);
        assert!(
            admission.lock().per_ip.is_empty(),
            "no address is remembered"
        );
    }

    #[test]
    fn a_mapped_ipv4_address_is_the_same_source() {
        let admission = Admission::new(&limits(10, 1));
        let _v4 = admission.admit("192.0.2.1".parse().unwrap()).unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(admission.admit(mapped).unwrap_err(), Refusal::PerIp);
    }

    #[test]
    fn the_throttle_lets_one_line_through_and_counts_the_rest() {
        let throttle = LogThrottle::new(Duration::from_millis(200));
        assert_eq!(throttle.ready(), Some(0));
        assert_eq!(throttle.ready(), None);
        assert_eq!(throttle.ready(), None);
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(throttle.ready(), Some(2));
    }
}
