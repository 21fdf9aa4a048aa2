//! What IT's monitoring reads: the server's counters and gauges in the
//! Prometheus / OpenMetrics text format, served on their own address
//! (`[metrics] listen`, see `listen`).
//!
//! Counters are counted where things happen (mails by verdict and reason,
//! SIP answers by method and code); gauges are read when scraped, from the
//! store (the same counts as `--status`), the supervisor's loops and the
//! board. Every label value comes from a closed set (a reason's kind, a SIP
//! method we answer, a status code), so no sender can grow the answer.

pub mod listen;

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::engine::Verdict;
use crate::status::Status;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MailLabels {
    verdict: &'static str,
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SipLabels {
    method: &'static str,
    code: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LoopLabels {
    name: String,
}

/// The counters the server's parts update while they work.
#[derive(Debug)]
pub struct Metrics {
    mails: Family<MailLabels, Counter>,
    /// Seconds from a mail's arrival at the IMAP server to its effect
    /// being committed: the intake's lag.
    intake_lag: Histogram,
    sip_answers: Family<SipLabels, Counter>,
    /// Open board streams (Server-Sent Events), kept by the board.
    board_streams: AtomicI64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            mails: Family::default(),
            intake_lag: Histogram::new(LAG_BUCKETS),
            sip_answers: Family::default(),
            board_streams: AtomicI64::new(0),
        }
    }
}

/// Upper bounds (seconds) of the intake lag's buckets: IDLE answers within
/// a second; minutes mean a backlog, hours a stalled intake.
const LAG_BUCKETS: [f64; 10] = [0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 7200.0];

impl Metrics {
    /// A mail's effect committed this long after it arrived in the mailbox.
    pub fn mail_waited(&self, waited: chrono::TimeDelta) {
        let seconds = waited.num_milliseconds().max(0) as f64 / 1000.0;
        self.intake_lag.observe(seconds);
    }

    /// One presence mail handled, by its verdict.
    pub fn mail_handled(&self, verdict: &Verdict) {
        let (verdict, reason) = match verdict {
            Verdict::Applied(_) => ("applied", ""),
            Verdict::Ignored(_) => ("ignored", ""),
            Verdict::Refused(why) => ("refused", why.kind()),
        };
        self.mails
            .get_or_create(&MailLabels { verdict, reason })
            .inc();
    }

    /// One SIP answer sent. `method` is the request's, named only when it is
    /// one we know (anything else counts as `other`).
    pub fn sip_answer(&self, method: Option<&str>, code: u16) {
        let method = match method {
            Some(m) => known_method(m),
            None => "other",
        };
        self.sip_answers
            .get_or_create(&SipLabels { method, code })
            .inc();
    }

    pub fn board_stream_opened(&self) {
        self.board_streams.fetch_add(1, Ordering::Relaxed);
    }

    pub fn board_stream_closed(&self) {
        self.board_streams.fetch_sub(1, Ordering::Relaxed);
    }

    /// The whole text a scrape gets: the counters, and gauges from `status`
    /// (read now, from the store and the loops).
    pub fn render(&self, status: &Status, now: DateTime<Utc>) -> String {
        let mut registry = Registry::with_prefix("mailpresence");
        registry.register(
            "mails",
            "Presence mails handled, by verdict and refusal reason",
            self.mails.clone(),
        );
        registry.register(
            "mail_intake_lag_seconds",
            "From a mail's arrival at the IMAP server to its effect committed",
            self.intake_lag.clone(),
        );
        registry.register(
            "sip_answers",
            "SIP responses sent, by request method and status code",
            self.sip_answers.clone(),
        );
        let c = &status.counts;
        let database_up = Gauge::<i64>::default();
        database_up.set(i64::from(status.database.reachable));
        registry.register(
            "database_up",
            "1 when the store (SQLite or PostgreSQL) could be read for this scrape, 0 when not",
            database_up,
        );
        let gauges: [(&str, &str, i64); 10] = [
            (
                "presence_records",
                "People with a presence record",
                c.records as i64,
            ),
            (
                "pending_requests",
                "Requests waiting for a first presence",
                c.pending_requests as i64,
            ),
            (
                "open_watches",
                "Open watches (mail and SIP)",
                c.open_watches as i64,
            ),
            (
                "outbox_depth",
                "Notify mails waiting to be sent",
                c.outbox_depth as i64,
            ),
            (
                "outbox_oldest_age_seconds",
                "Age of the oldest mail waiting in the outbox",
                age(c.outbox_oldest.as_deref(), now).unwrap_or(0),
            ),
            (
                "undeliverable_mails",
                "Notify mails the SMTP server refused for good",
                c.undeliverable_mails as i64,
            ),
            (
                "imap_contact_age_seconds",
                "Seconds since the IMAP server was last reached (-1: never)",
                age(c.last_imap_contact.as_deref(), now).unwrap_or(-1),
            ),
            (
                "sip_dialogs",
                "Open SIP subscription dialogs",
                c.sip_dialogs as i64,
            ),
            (
                "sip_publications",
                "Live SIP publications (RFC 3903)",
                c.sip_publications as i64,
            ),
            (
                "board_streams",
                "Open board streams",
                self.board_streams.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, value) in gauges {
            let gauge = Gauge::<i64>::default();
            gauge.set(value);
            registry.register(name, help, gauge);
        }
        if let Some(d) = &status.directory {
            let directory: [(&str, &str, i64); 3] = [
                (
                    "directory_age_seconds",
                    "Seconds since the LDAP directory was last read (-1: never)",
                    age(d.read_at.as_deref(), now).unwrap_or(-1),
                ),
                (
                    "directory_people",
                    "People read from the LDAP directory",
                    d.people as i64,
                ),
                (
                    "directory_read_failing",
                    "1 while the LDAP directory cannot be read (the last good copy is in use)",
                    i64::from(d.error.is_some()),
                ),
            ];
            for (name, help, value) in directory {
                let gauge = Gauge::<i64>::default();
                gauge.set(value);
                registry.register(name, help, gauge);
            }
        }
        let restarts = Family::<LoopLabels, Gauge>::default();
        let up = Family::<LoopLabels, Gauge>::default();
        for (name, state) in &status.loops {
            let labels = LoopLabels { name: name.clone() };
            restarts
                .get_or_create(&labels)
                .set(i64::from(state.restarts));
            up.get_or_create(&labels)
                .set(i64::from(state.state == "running"));
        }
        registry.register(
            "loop_restarts",
            "Times the supervisor restarted each loop",
            restarts,
        );
        registry.register(
            "loop_running",
            "1 when the loop is running, 0 when it waits or restarts",
            up,
        );
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

/// Seconds from an RFC 3339 time to `now`.
fn age(at: Option<&str>, now: DateTime<Utc>) -> Option<i64> {
    let at = DateTime::parse_from_rfc3339(at?).ok()?;
    Some((now - at.with_timezone(&Utc)).num_seconds().max(0))
}

fn known_method(method: &str) -> &'static str {
    const KNOWN: [&str; 10] = [
        "PUBLISH",
        "SUBSCRIBE",
        "NOTIFY",
        "REGISTER",
        "OPTIONS",
        "MESSAGE",
        "INVITE",
        "BYE",
        "CANCEL",
        "INFO",
    ];
    KNOWN
        .into_iter()
        .find(|k| k.eq_ignore_ascii_case(method))
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test may stop at the first surprise

    use std::collections::BTreeMap;

    use super::*;
    use crate::engine::RequestRefusal;
    use crate::status::DatabaseState;
    use crate::store::{Counts, PostgresSettings, StorePlace};
    use crate::supervisor::LoopState;

    fn status() -> Status {
        let mut loops = BTreeMap::new();
        loops.insert(
            "intake".into(),
            LoopState {
                state: "running".into(),
                restarts: 2,
                ..LoopState::default()
            },
        );
        Status {
            counts: Counts {
                outbox_depth: 3,
                outbox_oldest: Some("2026-12-06T10:00:00+00:00".into()),
                ..Counts::default()
            },
            loops,
            directory: None,
            database: DatabaseState::of(&StorePlace::Sqlite("/var/lib/p.db".into()), None),
        }
    }

    #[test]
    fn a_scrape_names_each_reason_and_code_with_its_count() {
        let m = Metrics::default();
        m.mail_handled(&Verdict::Applied("publish".into()));
        m.mail_handled(&Verdict::Refused(RequestRefusal::NoFrom));
        m.mail_handled(&Verdict::Refused(RequestRefusal::NoFrom));
        m.sip_answer(Some("publish"), 200);
        m.sip_answer(Some("X-EVIL-METHOD-1234"), 405);
        m.board_stream_opened();
        m.mail_waited(chrono::TimeDelta::milliseconds(700));
        m.mail_waited(chrono::TimeDelta::seconds(40));
        let now = DateTime::parse_from_rfc3339("2026-12-06T10:01:30+00:00")
            .unwrap()
            .with_timezone(&Utc);
        let text = m.render(&status(), now);
        for line in [
            r#"mailpresence_mails_total{verdict="applied",reason=""} 1"#,
            r#"mailpresence_mails_total{verdict="refused",reason="no_from"} 2"#,
            r#"mailpresence_sip_answers_total{method="PUBLISH",code="200"} 1"#,
            r#"mailpresence_sip_answers_total{method="other",code="405"} 1"#,
            "mailpresence_database_up 1",
            "mailpresence_outbox_depth 3",
            "mailpresence_outbox_oldest_age_seconds 90",
            "mailpresence_imap_contact_age_seconds -1",
            "mailpresence_board_streams 1",
            "mailpresence_mail_intake_lag_seconds_count 2",
            r#"mailpresence_mail_intake_lag_seconds_bucket{le="1.0"} 1"#,
            r#"mailpresence_mail_intake_lag_seconds_bucket{le="60.0"} 2"#,
            r#"mailpresence_loop_restarts{name="intake"} 2"#,
            r#"mailpresence_loop_running{name="intake"} 1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
        assert!(!text.contains("EVIL"), "a sender's method is no label");
    }

    #[test]
    fn a_scrape_says_when_the_database_cannot_be_reached() {
        let place = StorePlace::Postgres(PostgresSettings::new("postgres://db.example.test/p"));
        let mut down = status();
        down.database = DatabaseState::of(&place, Some("connection refused".into()));
        let text = Metrics::default().render(&down, Utc::now());
        assert!(text.contains("mailpresence_database_up 0"), "{text}");
        assert_eq!(
            crate::status::line(&down),
            "database=postgresql unreachable[connection refused]"
        );
    }
}
