//! `[presence]`: how presence behaves over time (how long requests, watches,
//! locations last, how often Notify goes out, how many mails one sender may
//! send), its defaults and its checks.

use serde::Deserialize;

/// How presence behaves over time.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PresencePolicy {
    /// An unanswered request is dropped after this long.
    pub request_ttl_secs: u64,
    /// The longest a `watch` may last, whatever it asks for.
    pub watch_max_secs: u64,
    /// A watcher gets at most one Notify mail per colleague per this interval
    /// (changes in between are folded into the next one).
    pub notify_interval_secs: u64,
    /// The same for SIP watchers (desk phones), in milliseconds: short, since a
    /// NOTIFY costs a datagram, not a phone's download (RFC 6446's rate control).
    pub sip_notify_interval_ms: u64,
    /// Presence older than this is sent as stale (its Updated says how old).
    pub stale_after_secs: u64,
    /// A location is forgotten this long after it was published.
    pub location_ttl_secs: u64,
    /// Presence mails one sender may send per hour; more are refused.
    pub sender_mails_per_hour: u32,
}

impl Default for PresencePolicy {
    fn default() -> Self {
        Self {
            request_ttl_secs: 24 * 3600,
            watch_max_secs: 24 * 3600,
            notify_interval_secs: 60,
            sip_notify_interval_ms: 1000,
            stale_after_secs: 2 * 3600,
            location_ttl_secs: 8 * 3600,
            sender_mails_per_hour: 120,
        }
    }
}

impl PresencePolicy {
    /// What is wrong with `[presence]`.
    pub(super) fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.notify_interval_secs == 0 {
            p.push("[presence] notify_interval_secs must be at least 1".into());
        }
        if self.sender_mails_per_hour == 0 {
            p.push("[presence] sender_mails_per_hour must be at least 1".into());
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_zero_intervals_are_named() {
        assert_eq!(PresencePolicy::default().problems(), Vec::<String>::new());
        let policy: PresencePolicy =
            toml::from_str("notify_interval_secs = 0\nsender_mails_per_hour = 0").unwrap();
        assert_eq!(
            policy.problems(),
            [
                "[presence] notify_interval_secs must be at least 1",
                "[presence] sender_mails_per_hour must be at least 1",
            ]
        );
    }
}
