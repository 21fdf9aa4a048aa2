//! Who may open one more connection: a count of the open connections in all
//! and per source address, shared by the SIP stream transports and the web
//! board, and a throttle that keeps a flood of refusals from becoming a
//! flood of log lines.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Which bound a refused connection met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// All sources together.
    Total,
    /// The connection's own source address.
    PerAddress,
}

/// Counts the open connections in all and per source address.
#[derive(Debug)]
pub struct Admission {
    max_total: usize,
    max_per_address: usize,
    /// Counted in the total only: a reverse proxy carries everyone's
    /// connections from one address.
    per_address_exempt: HashSet<IpAddr>,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    per_address: HashMap<IpAddr, usize>,
}

impl Admission {
    pub fn new(max_total: usize, max_per_address: usize) -> Arc<Self> {
        Self::with_exempt(max_total, max_per_address, &[])
    }

    /// Like [`Admission::new`], with addresses bound by the total alone.
    pub fn with_exempt(max_total: usize, max_per_address: usize, exempt: &[IpAddr]) -> Arc<Self> {
        Arc::new(Self {
            max_total,
            max_per_address,
            per_address_exempt: exempt.iter().map(IpAddr::to_canonical).collect(),
            open: Mutex::default(),
        })
    }

    /// A slot for one more connection from `ip`, given back when dropped.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Full> {
        // An IPv4 peer on a dual-stack socket shows as ::ffff:a.b.c.d; it is
        // the same source as a.b.c.d.
        let ip = ip.to_canonical();
        let bounded = !self.per_address_exempt.contains(&ip);
        let ip = source_of(ip);
        let mut open = self.lock();
        if open.total >= self.max_total {
            return Err(Full::Total);
        }
        // Looked at before an entry is made: a refused address leaves none.
        let from_ip = open.per_address.get(&ip).copied().unwrap_or(0);
        if bounded && from_ip >= self.max_per_address {
            return Err(Full::PerAddress);
        }
        open.per_address.insert(ip, from_ip + 1);
        open.total += 1;
        Ok(Slot {
            admission: self.clone(),
            ip,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.lock().total
    }

    fn release(&self, ip: IpAddr) {
        let mut open = self.lock();
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.per_address.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                // Only addresses with a connection are kept: the map stays
                // as small as the number of connections.
                open.per_address.remove(&ip);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What counts as one source: an IPv4 address, or an IPv6 /64 — one host is
/// usually given a whole /64 and could otherwise take every place by
/// connecting from a new address each time.
pub fn source_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from(
            u128::from(v6) & !((1u128 << 64) - 1),
        )),
    }
}

/// One admitted connection; dropping it frees the place.
#[derive(Debug)]
pub struct Slot {
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
pub struct LogThrottle {
    every: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl LogThrottle {
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            state: Mutex::new((None, 0)),
        }
    }

    /// `Some(held back since the last line)` when a line may be written now.
    pub fn ready(&self) -> Option<u64> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_gets_its_share_and_no_more() {
        let admission = Admission::new(10, 2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = admission.admit(a).unwrap();
        let _second = admission.admit(a).unwrap();
        assert_eq!(admission.admit(a).unwrap_err(), Full::PerAddress);
        let _other = admission.admit(b).unwrap();
        drop(first);
        assert!(admission.admit(a).is_ok(), "a freed place is given again");
    }

    #[test]
    fn the_total_holds_across_addresses() {
        let admission = Admission::new(3, 3);
        let slots: Vec<Slot> = (1..=3)
            .map(|i| admission.admit(IpAddr::from([192, 0, 2, i])).unwrap())
            .collect();
        assert_eq!(
            admission.admit("192.0.2.9".parse().unwrap()).unwrap_err(),
            Full::Total
        );
        drop(slots);
        assert_eq!(admission.open(), 0);
        assert!(
            admission.lock().per_address.is_empty(),
            "no address is remembered"
        );
    }

    #[test]
    fn a_mapped_ipv4_address_is_the_same_source() {
        let admission = Admission::new(10, 1);
        let _v4 = admission.admit("192.0.2.1".parse().unwrap()).unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(admission.admit(mapped).unwrap_err(), Full::PerAddress);
    }

    #[test]
    fn an_ipv6_64_is_one_source() {
        let admission = Admission::new(10, 2);
        let _a = admission.admit("2001:db8:1:2::1".parse().unwrap()).unwrap();
        let _b = admission
            .admit("2001:db8:1:2:ffff::9".parse().unwrap())
            .unwrap();
        assert_eq!(
            admission
                .admit("2001:db8:1:2::77".parse().unwrap())
                .unwrap_err(),
            Full::PerAddress,
            "a third address of the same /64"
        );
        assert!(admission.admit("2001:db8:1:3::1".parse().unwrap()).is_ok());
    }

    #[test]
    fn an_exempt_proxy_is_bound_by_the_total_alone() {
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let admission = Admission::with_exempt(4, 1, &[proxy]);
        let slots: Vec<Slot> = (0..4).map(|_| admission.admit(proxy).unwrap()).collect();
        assert_eq!(admission.admit(proxy).unwrap_err(), Full::Total);
        drop(slots);
        let _one = admission.admit("192.0.2.1".parse().unwrap()).unwrap();
        assert_eq!(
            admission.admit("192.0.2.1".parse().unwrap()).unwrap_err(),
            Full::PerAddress,
            "others keep their bound"
        );
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
