//! The board's sign-in limits, kept in memory in front of the store so that
//! a refused request costs no store work at all: requests per source (an
//! IPv4 address or an IPv6 /64, as [`admission`](crate::admission) counts
//! them) per hour, and at most one link mail per person per
//! `link_mail_minutes`. A refused request gets the same answer as any other.
//!
//! The mail gap bounds a person's inbox, never the person: it is shorter
//! than a link's life, so whoever is refused a new mail still has a live
//! link from the last one. Both maps are bounded: sources by
//! [`MAX_SOURCES`], people by the directory.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mailpresence_protocol::model::AccountName;

use crate::admission::source_of;

/// The window of the per-source count.
const HOUR: Duration = Duration::from_secs(3600);
/// Sources counted at once; past it, the ones whose hour is over go first,
/// then any (an attacker with that many addresses resets only counts that
/// bound store work; the mail gap still bounds every inbox).
const MAX_SOURCES: usize = 65_536;

/// Requests per source and mails per person.
#[derive(Debug)]
pub struct SignInLimits {
    per_source_hour: u32,
    mail_gap: Duration,
    sources: Mutex<HashMap<IpAddr, Window>>,
    mailed: Mutex<HashMap<AccountName, Instant>>,
}

/// One source's hour: when it started, and the requests counted in it.
#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    requests: u32,
}

impl SignInLimits {
    pub fn new(per_source_hour: u32, mail_gap: Duration) -> Self {
        Self {
            per_source_hour,
            mail_gap,
            sources: Mutex::default(),
            mailed: Mutex::default(),
        }
    }

    /// Counts one request from `ip`; `false` once its source has made its
    /// hour's requests (a refused one is not counted).
    pub fn admit_source(&self, ip: IpAddr, now: Instant) -> bool {
        let source = source_of(ip.to_canonical());
        let mut sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        if sources.len() >= MAX_SOURCES && !sources.contains_key(&source) {
            sources.retain(|_, w| now.duration_since(w.started) < HOUR);
            if sources.len() >= MAX_SOURCES
                && let Some(any) = sources.keys().next().copied()
            {
                sources.remove(&any);
            }
        }
        let window = sources.entry(source).or_insert(Window {
            started: now,
            requests: 0,
        });
        if now.duration_since(window.started) >= HOUR {
            *window = Window {
                started: now,
                requests: 0,
            };
        }
        if window.requests >= self.per_source_hour {
            return false;
        }
        window.requests += 1;
        true
    }

    /// Claims the person's next link mail: `true`, and the gap starts now,
    /// when none was claimed within the gap.
    pub fn claim_mail(&self, account: &AccountName, now: Instant) -> bool {
        let mut mailed = self.mailed.lock().unwrap_or_else(|p| p.into_inner());
        if mailed
            .get(account)
            .is_some_and(|last| now.duration_since(*last) < self.mail_gap)
        {
            return false;
        }
        mailed.insert(account.clone(), now);
        true
    }

    /// Gives back a claim whose mail could not be queued, so that the
    /// person's next request tries again.
    pub fn release_mail(&self, account: &AccountName, claimed: Instant) {
        let mut mailed = self.mailed.lock().unwrap_or_else(|p| p.into_inner());
        if mailed.get(account) == Some(&claimed) {
            mailed.remove(account);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test may stop at the first surprise

    use super::*;

    const GAP: Duration = Duration::from_secs(300);

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_source_gets_its_hours_requests_and_a_new_hour_starts_afresh() {
        let limits = SignInLimits::new(2, GAP);
        let start = Instant::now();
        assert!(limits.admit_source(ip("192.0.2.7"), start));
        assert!(limits.admit_source(ip("::ffff:192.0.2.7"), start));
        assert!(!limits.admit_source(ip("192.0.2.7"), start + Duration::from_secs(3599)));
        assert!(
            limits.admit_source(ip("192.0.2.8"), start),
            "another source"
        );
        assert!(limits.admit_source(ip("192.0.2.7"), start + HOUR));
    }

    #[test]
    fn an_ipv6_64_is_one_source() {
        let limits = SignInLimits::new(2, GAP);
        let start = Instant::now();
        assert!(limits.admit_source(ip("2001:db8:1:2::1"), start));
        assert!(limits.admit_source(ip("2001:db8:1:2::2"), start));
        assert!(!limits.admit_source(ip("2001:db8:1:2:ffff::3"), start));
        assert!(limits.admit_source(ip("2001:db8:1:3::1"), start));
    }

    #[test]
    fn the_sources_counted_stay_bounded() {
        let limits = SignInLimits::new(1, GAP);
        let start = Instant::now();
        for i in 0..(MAX_SOURCES as u32 + 10) {
            let source = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            assert!(limits.admit_source(source, start));
        }
        assert!(limits.sources.lock().unwrap().len() <= MAX_SOURCES);
    }

    #[test]
    fn one_mail_per_person_per_gap_and_a_failed_one_is_given_back() {
        let limits = SignInLimits::new(100, GAP);
        let tanaka: AccountName = "tanaka".parse().unwrap();
        let sato: AccountName = "sato".parse().unwrap();
        let start = Instant::now();
        assert!(limits.claim_mail(&tanaka, start));
        assert!(!limits.claim_mail(&tanaka, start + GAP - Duration::from_secs(1)));
        assert!(limits.claim_mail(&sato, start), "another person's inbox");
        assert!(limits.claim_mail(&tanaka, start + GAP));
        limits.release_mail(&sato, start);
        assert!(limits.claim_mail(&sato, start + Duration::from_secs(1)));
    }
}
