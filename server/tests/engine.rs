//! The engine's behaviour (seed figure 7) on each real store: SQLite in memory
//! and a fresh schema of the test PostgreSQL (the file tests on SQLite alone).
#![allow(clippy::unwrap_used)] // a test may stop at the first surprise

use chrono::{DateTime, TimeZone, Utc};
use mailpresence_protocol::mail::auth::{self, Proof, TrustFailure};
use mailpresence_protocol::mail::{
    self, ComposeEnvelope, Limits, ParsedMail, PresenceMessage, Publish, Subscribe, SubscribeMode,
};
use mailpresence_protocol::model::{AccountName, Activity, ActivityToken, PresenceFields};
use mailpresence_server::config::{self, PresencePolicy, Rule};
use mailpresence_server::directory::Directory;
use mailpresence_server::engine::{Engine, RequestRefusal, Step, SubscribeRequest, Verdict};
use mailpresence_server::store::{
    Counts, Database, Medium, OutboxMail, PgStore, PostgresSettings, PresenceRecord, SqliteStore,
    Store, StoreError, Time,
};

fn person(account: &str, groups: &[&str]) -> config::Person {
    config::Person {
        account: account.into(),
        name: String::new(),
        mail: Some(format!("{account}@example.test")),
        sip: Some(format!("sip:{account}@example.test")),
        sip_password: None,
        reading: None,
        extension: None,
        mobile: None,
        department: None,
        groups: groups.iter().map(|g| g.to_string()).collect(),
    }
}

fn engine() -> Engine {
    let people = [
        person("tanaka", &["field"]),
        person("sato", &["desk"]),
        person("ito", &["desk"]),
        person("kato", &[]),
        person("suzuki", &["field"]),
    ];
    let rules = [
        Rule {
            watchers: vec!["sato".into()],
            may_see: vec!["group:field".into()],
            location: true,
        },
        Rule {
            watchers: vec!["ito".into()],
            may_see: vec!["group:field".into()],
            location: false,
        },
    ];
    let policy = PresencePolicy {
        notify_interval_secs: 60,
        stale_after_secs: 3600,
        location_ttl_secs: 8 * 3600,
        ..Default::default()
    };
    Engine::new(
        Directory::from_config(&people, &rules),
        policy,
        "presence@example.test",
    )
}

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_795_000_000 + secs, 0).single().unwrap()
}

fn a(s: &str) -> AccountName {
    s.parse().unwrap()
}

fn fields(activity: &str, location: Option<&str>, updated_secs: Option<i64>) -> PresenceFields {
    let mut f = PresenceFields::new("tanaka@example.test", Activity::parse(activity).unwrap());
    f.location = location.map(str::to_owned);
    f.updated = updated_secs.map(|s| t(s).fixed_offset());
    f
}

/// A mail whose sender the transport proved (a DKIM pass of its domain).
fn on_mail(
    e: &Engine,
    s: &mut dyn Store,
    m: &ParsedMail,
    now: Time,
) -> mailpresence_server::store::Result<Step> {
    let domain = m
        .envelope
        .from
        .as_deref()
        .and_then(auth::domain_of)
        .unwrap_or_default();
    e.on_mail(s, m, &Ok(Proof::Dkim { domain }), now)
}

/// A mail as the intake would see it, made with the real composer and parser.
fn mail(from: &str, message: PresenceMessage) -> ParsedMail {
    let env = ComposeEnvelope {
        from: from.into(),
        to: "presence@example.test".into(),
        ..Default::default()
    };
    mail::parse(&mail::compose(&message, &env).unwrap(), Limits::default())
}

fn publish_mail(from: &str, who: &str, f: PresenceFields) -> ParsedMail {
    mail(
        from,
        PresenceMessage::Publish(Publish {
            publisher: a(who),
            presence: f,
        }),
    )
}

fn subscribe_mail(
    from: &str,
    watcher: &str,
    notifiers: &[&str],
    send_to: &str,
    mode: SubscribeMode,
) -> ParsedMail {
    mail(
        from,
        PresenceMessage::Subscribe(Subscribe {
            watcher: a(watcher),
            notifiers: notifiers.iter().map(|n| a(n)).collect(),
            send_to: send_to.into(),
            mode,
            expires: None,
        }),
    )
}

/// The office of these tests and its store: the engine of `engine()` (or one
/// given), each step one transaction, as the hub runs them.
struct Office {
    engine: Engine,
    db: Database,
    /// Which store, for a failing test's message.
    store: &'static str,
}

impl Office {
    /// The office of `engine()` on each store: SQLite in memory, and a fresh
    /// schema of the PostgreSQL that MAILPRESENCE_POSTGRES_URL names.
    fn each() -> Vec<Self> {
        let mut postgres = Self::with(engine(), fresh_postgres());
        postgres.store = "PostgreSQL";
        vec![
            Self::with(engine(), SqliteStore::in_memory().unwrap()),
            postgres,
        ]
    }

    fn with(engine: Engine, db: impl Into<Database>) -> Self {
        Self {
            engine,
            db: db.into(),
            store: "SQLite",
        }
    }

    /// A mail arrives at `now`, its sender proven (see `on_mail`).
    fn receives(&mut self, m: &ParsedMail, now: Time) -> Step {
        self.run(|e, s| on_mail(e, s, m, now))
    }

    /// A mail arrives and, as the intake does, the step's Notify mails are
    /// queued in the same transaction; returns how many were queued.
    fn receives_and_queues(&mut self, m: &ParsedMail, now: Time) -> usize {
        let e = &self.engine;
        self.db
            .transaction(|s| {
                let step = on_mail(e, s, m, now)?;
                mailpresence_server::mail::queue_deliveries(
                    s,
                    &step,
                    "presence@example.test",
                    None,
                    now,
                )
            })
            .unwrap()
    }

    /// The engine's timer at `now`.
    fn tick(&mut self, now: Time) -> Step {
        self.run(|e, s| e.tick(s, now))
    }

    /// Any step of the engine, in one transaction.
    fn run(&mut self, f: impl FnOnce(&Engine, &mut dyn Store) -> Result<Step, StoreError>) -> Step {
        let e = &self.engine;
        self.db.transaction(|tx| f(e, tx)).unwrap()
    }

    fn counts(&mut self, now: Time) -> Counts {
        self.db.transaction(|s| s.counts(now)).unwrap()
    }

    /// What the store holds for `who` (who must have published).
    fn presence_of(&mut self, who: &str) -> PresenceRecord {
        self.db
            .transaction(|s| s.presence(&a(who)))
            .unwrap()
            .unwrap()
    }

    /// The outbox's mails due at `now`.
    fn due_mails(&mut self, now: Time) -> Vec<OutboxMail> {
        self.db.transaction(|s| s.due_mails(now, 10)).unwrap()
    }
}

impl Drop for Office {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("(the store under test was {})", self.store);
        }
    }
}

/// A store on a fresh schema of the test PostgreSQL.
fn fresh_postgres() -> PgStore {
    let url = std::env::var("MAILPRESENCE_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "MAILPRESENCE_POSTGRES_URL is not set: the engine's tests run on PostgreSQL as on \
             SQLite. Start one with\n  eval \"$(scripts/postgres-server.sh start /tmp/mailpresence-postgres)\""
        )
    });
    let mut settings = PostgresSettings::new(url);
    settings.schema = Some(format!("engine_{:016x}", rand::random::<u64>()));
    PgStore::open(settings).unwrap()
}

/// `who` publishes `f` from their own address.
fn publish_by(who: &str, f: PresenceFields) -> ParsedMail {
    publish_mail(&format!("{who}@example.test"), who, f)
}

/// `watcher` asks once, from their own address and to be answered there.
fn ask_once(watcher: &str, notifiers: &[&str]) -> ParsedMail {
    let own = format!("{watcher}@example.test");
    subscribe_mail(&own, watcher, notifiers, &own, SubscribeMode::Once)
}

/// `watcher` watches, from their own address and to be answered there.
fn watch(watcher: &str, notifiers: &[&str]) -> ParsedMail {
    let own = format!("{watcher}@example.test");
    subscribe_mail(&own, watcher, notifiers, &own, SubscribeMode::Watch)
}

/// Raw mail text as a person's mailer would send it.
fn raw_mail(from: &str, subject: &str, body: &str) -> ParsedMail {
    let raw = format!(
        "From: {from}\r\nTo: presence@example.test\r\nSubject: {subject}\r\nMessage-ID: <{}@example.test>\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n{body}",
        uuid_like(body)
    );
    mail::parse(raw.as_bytes(), Limits::default())
}

fn uuid_like(body: &str) -> String {
    format!(
        "{:x}",
        body.len() * 7919 + body.bytes().map(usize::from).sum::<usize>()
    )
}

#[test]
fn subscribe_after_publish_is_answered_at_once_and_only_once() {
    for mut office in Office::each() {
        let step = office.receives(
            &publish_by(
                "tanaka",
                fields("on-site — 点検", Some("東京都千代田区"), Some(0)),
            ),
            t(0),
        );
        assert!(matches!(step.verdict, Verdict::Applied(_)), "{step:?}");
        let step = office.receives(&ask_once("sato", &["tanaka"]), t(5));
        assert_eq!(step.deliveries.len(), 1);
        let d = &step.deliveries[0];
        assert_eq!(d.to, "sato@example.test");
        assert_eq!(d.notify.notifier, a("tanaka"));
        assert_eq!(
            d.notify.presence.activity.token,
            Some(ActivityToken::OnSite)
        );
        assert_eq!(
            d.notify.presence.location.as_deref(),
            Some("東京都千代田区")
        );
        assert!(d.reference.is_some(), "threads to the Subscribe");
        // A later publish does not answer a processed once-request again.
        let step = office.run(|e, s| {
            e.publish(
                s,
                &a("tanaka"),
                fields("driving", None, Some(100)),
                Medium::Mail,
                t(100),
            )
        });
        assert!(step.deliveries.is_empty());
    }
}

#[test]
fn subscribe_before_publish_waits_for_the_first_publish() {
    for mut office in Office::each() {
        let step = office.receives(&ask_once("sato", &["tanaka"]), t(0));
        assert!(step.deliveries.is_empty());
        assert_eq!(office.counts(t(1)).pending_requests, 1);
        let step = office.receives(&publish_by("tanaka", fields("busy", None, Some(10))), t(10));
        assert_eq!(step.deliveries.len(), 1);
        assert_eq!(office.counts(t(11)).pending_requests, 0);
    }
}

#[test]
fn watch_is_coalesced_to_one_notify_per_interval_with_the_latest_presence() {
    for mut office in Office::each() {
        office.receives(&watch("sato", &["tanaka"]), t(0));
        let mut publish_at = |secs: i64, activity: &str| {
            office.receives(
                &publish_by("tanaka", fields(activity, None, Some(secs))),
                t(secs),
            )
        };
        assert_eq!(publish_at(1, "busy").deliveries.len(), 1);
        assert_eq!(publish_at(10, "meeting").deliveries.len(), 0);
        assert_eq!(publish_at(20, "driving").deliveries.len(), 0);
        assert!(
            office.tick(t(30)).deliveries.is_empty(),
            "interval not over"
        );
        let step = office.tick(t(62));
        assert_eq!(step.deliveries.len(), 1);
        assert_eq!(
            step.deliveries[0].notify.presence.activity.token,
            Some(ActivityToken::Driving)
        );
        assert!(
            office.tick(t(200)).deliveries.is_empty(),
            "nothing owed twice"
        );
    }
}

#[test]
fn an_older_publish_never_overwrites_a_newer_one() {
    for mut office in Office::each() {
        office.receives(
            &publish_by("tanaka", fields("busy", None, Some(100))),
            t(100),
        );
        let step = office.receives(
            &publish_by("tanaka", fields("away", None, Some(50))),
            t(101),
        );
        assert!(matches!(step.verdict, Verdict::Ignored(_)), "{step:?}");
        let rec = office.presence_of("tanaka");
        assert_eq!(rec.fields.activity.token, Some(ActivityToken::Busy));
    }
}

#[test]
fn a_missing_optional_tag_blanks_the_field() {
    for mut office in Office::each() {
        office.receives(
            &publish_by("tanaka", fields("busy", Some("京都市"), Some(1))),
            t(1),
        );
        office.receives(&publish_by("tanaka", fields("busy", None, Some(2))), t(2));
        let rec = office.presence_of("tanaka");
        assert_eq!(rec.fields.location, None);
    }
}

#[test]
fn refusals_change_nothing_and_answer_nobody() {
    for mut office in Office::each() {
        office.receives(&publish_by("tanaka", fields("busy", None, Some(0))), t(0));
        let before = office.counts(t(1));
        let cases = [
            (
                publish_mail(
                    "mallory@evil.test",
                    "tanaka",
                    fields("vacation", None, Some(5)),
                ),
                "not the address registered",
            ),
            (
                publish_mail("kato@example.test", "nobody", fields("busy", None, Some(5))),
                "not in the directory",
            ),
            (
                subscribe_mail(
                    "sato@example.test",
                    "sato",
                    &["tanaka"],
                    "mallory@evil.test",
                    SubscribeMode::Once,
                ),
                "Send-To",
            ),
            (ask_once("kato", &["tanaka"]), "may not see"),
            (
                publish_mail(
                    "presence@example.test",
                    "tanaka",
                    fields("busy", None, Some(5)),
                ),
                "own address",
            ),
        ];
        for (m, says) in cases {
            let step = office.receives(&m, t(5));
            match &step.verdict {
                Verdict::Refused(r) => assert!(r.to_string().contains(says), "{r} / {says}"),
                v => panic!("{says}: {v:?}"),
            }
            assert!(step.deliveries.is_empty());
        }
        assert_eq!(office.counts(t(6)), before);
        let rec = office.presence_of("tanaka");
        assert_eq!(
            rec.fields.activity.token,
            Some(ActivityToken::Busy),
            "spoofed vacation not applied"
        );
    }
}

#[test]
fn a_subscribe_refused_for_one_notifier_still_serves_the_others() {
    for mut office in Office::each() {
        office.receives(&publish_by("tanaka", fields("busy", None, Some(0))), t(0));
        let step = office.receives(&ask_once("sato", &["tanaka", "kato", "ghost"]), t(1));
        assert!(matches!(step.verdict, Verdict::Applied(_)));
        assert_eq!(step.deliveries.len(), 1);
        assert_eq!(step.partial_refusals.len(), 2);
        assert!(
            step.partial_refusals
                .iter()
                .any(|r| matches!(r, RequestRefusal::NotAllowed { .. }))
        );
    }
}

#[test]
fn an_activity_only_watcher_never_gets_the_location() {
    for mut office in Office::each() {
        let mut f = fields("on-site", Some("東京都千代田区丸の内"), Some(0));
        f.coordinates = mailpresence_protocol::model::Coordinates::new(35.68, 139.76, None);
        office.receives(&publish_by("tanaka", f), t(0));
        let step = office.receives(&ask_once("ito", &["tanaka"]), t(1));
        let p = &step.deliveries[0].notify.presence;
        assert_eq!(p.activity.token, Some(ActivityToken::OnSite));
        assert_eq!((p.location.as_ref(), p.coordinates.as_ref()), (None, None));
        let step = office.receives(&ask_once("sato", &["tanaka"]), t(1));
        assert!(step.deliveries[0].notify.presence.location.is_some());
    }
}

#[test]
fn old_presence_is_delivered_as_stale_with_its_age() {
    for mut office in Office::each() {
        office.receives(&publish_by("tanaka", fields("busy", None, None)), t(0));
        let step = office.receives(&ask_once("sato", &["tanaka"]), t(7200));
        let d = &step.deliveries[0];
        assert!(d.stale);
        assert_eq!(
            d.notify.presence.updated.map(|u| u.timestamp()),
            Some(t(0).timestamp()),
            "Updated is the receive time"
        );
    }
}

#[test]
fn locations_and_requests_expire() {
    for mut office in Office::each() {
        office.receives(
            &publish_by("tanaka", fields("busy", Some("京都市"), Some(0))),
            t(0),
        );
        office.receives(&ask_once("sato", &["suzuki"]), t(0));
        office.tick(t(8 * 3600 + 1));
        let rec = office.presence_of("tanaka");
        assert_eq!(rec.fields.location, None, "no location kept past its time");
        assert_eq!(
            rec.fields.activity.token,
            Some(ActivityToken::Busy),
            "the rest stays"
        );
        assert_eq!(office.counts(t(8 * 3600 + 2)).pending_requests, 1);
        office.tick(t(24 * 3600 + 1));
        assert_eq!(
            office.counts(t(24 * 3600 + 2)).pending_requests,
            0,
            "pending request expired"
        );
        // Suzuki's first publish after expiry answers nobody.
        let step = office.receives(
            &publish_by("suzuki", fields("busy", None, Some(90_000))),
            t(90_000),
        );
        assert!(step.deliveries.is_empty());
    }
}

#[test]
fn a_sent_notify_leaves_no_copy_of_the_location_behind() {
    let mut db = SqliteStore::in_memory().unwrap();
    let secret = "東京都千代田区丸の内一丁目".as_bytes();
    let id = db
        .transaction(|s| s.enqueue_mail("p@example.test", "sato@example.test", secret, None, t(0)))
        .unwrap();
    assert_eq!(db.transaction(|s| s.due_mails(t(1), 10)).unwrap().len(), 1);
    db.transaction(|s| s.mark_mail_sent(id, t(1))).unwrap();
    assert!(
        db.transaction(|s| s.due_mails(t(2), 10))
            .unwrap()
            .is_empty()
    );
    assert_eq!(db.transaction(|s| s.counts(t(2))).unwrap().outbox_depth, 0);
    let id = db
        .transaction(|s| s.enqueue_mail("p@example.test", "gone@example.test", secret, None, t(3)))
        .unwrap();
    db.transaction(|s| s.mark_mail_undeliverable(id, "550 no such user", t(4)))
        .unwrap();
    assert!(
        db.transaction(|s| s.due_mails(t(5), 10))
            .unwrap()
            .is_empty(),
        "never retried"
    );
}

#[test]
fn the_database_file_holds_no_old_location() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let mut office = Office::with(engine(), SqliteStore::open(&path).unwrap());
    office.receives(
        &publish_by(
            "tanaka",
            fields("busy", Some("Secret Yard 7 Kanda"), Some(0)),
        ),
        t(0),
    );
    office.receives_and_queues(&ask_once("sato", &["tanaka"]), t(1));
    let queued = office.due_mails(t(2));
    assert_eq!(queued.len(), 1);
    assert!(String::from_utf8_lossy(&queued[0].raw).contains("Secret Yard 7 Kanda"));
    for m in &queued {
        office
            .db
            .transaction(|s| s.mark_mail_sent(m.id, t(2)))
            .unwrap();
    }
    office.receives(
        &publish_by("tanaka", fields("busy", Some("Next Site 9 Ueno"), Some(10))),
        t(10),
    );
    drop(office);
    let mut bytes = std::fs::read(&path).unwrap();
    if let Ok(wal) = std::fs::read(dir.path().join("p.db-wal")) {
        bytes.extend(wal);
    }
    let needle = "Secret Yard 7 Kanda".as_bytes();
    assert!(
        !bytes.windows(needle.len()).any(|w| w == needle),
        "the old location is gone from the file"
    );
}

#[test]
fn two_processes_opening_a_new_database_at_once_both_succeed() {
    for _ in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.db");
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let p = path.clone();
                std::thread::spawn(move || SqliteStore::open(&p).map(|_| ()))
            })
            .collect();
        for h in handles {
            h.join().unwrap().unwrap();
        }
        let mut store = SqliteStore::open_read_only(&path).unwrap();
        assert_eq!(store.transaction(|s| s.counts(t(0))).unwrap().records, 0);
    }
    assert!(SqliteStore::open_read_only(std::path::Path::new("/nonexistent/x.db")).is_err());
}

#[test]
fn an_unproven_sender_changes_nothing() {
    for mut office in Office::each() {
        let m = publish_by("tanaka", fields("busy", Some("東京都"), Some(0)));
        let why = TrustFailure::NotProven {
            authserv_id: "mx.example.test".into(),
            from_domain: "example.test".into(),
            found: "dkim=none".into(),
        };
        let step = office.run(|e, s| e.on_mail(s, &m, &Err(why.clone()), t(0)));
        assert_eq!(
            step.verdict,
            Verdict::Refused(RequestRefusal::Unproven(why))
        );
        assert!(step.deliveries.is_empty());
        assert_eq!(office.counts(t(1)).records, 0);
    }
}

#[test]
fn one_sender_is_refused_past_its_hourly_limit_and_warned_once() {
    let e = Engine::new(
        Directory::from_config(&[person("tanaka", &[])], &[]),
        PresencePolicy {
            sender_mails_per_hour: 3,
            ..Default::default()
        },
        "presence@example.test",
    );
    let mut office = Office::with(e, SqliteStore::in_memory().unwrap());
    let verdicts: Vec<Verdict> = (0..6)
        .map(|i| {
            let m = publish_mail(
                "Tanaka@Example.test",
                "tanaka",
                fields("busy", None, Some(i)),
            );
            office.receives(&m, t(i)).verdict
        })
        .collect();
    assert!(
        verdicts[..3]
            .iter()
            .all(|v| matches!(v, Verdict::Applied(_))),
        "{verdicts:?}"
    );
    let firsts: Vec<bool> = verdicts[3..]
        .iter()
        .map(|v| match v {
            Verdict::Refused(RequestRefusal::RateLimited {
                first, limit: 3, ..
            }) => *first,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(firsts, [true, false, false]);
    // The next hour starts afresh.
    let m = publish_by("tanaka", fields("away", None, Some(4000)));
    let step = office.receives(&m, t(4000));
    assert!(matches!(step.verdict, Verdict::Applied(_)), "{step:?}");
}

#[test]
fn a_subscribe_naming_a_colleague_3000_times_asks_once() {
    for mut office in Office::each() {
        office.receives(&publish_by("tanaka", fields("busy", None, Some(0))), t(0));
        let body = format!(
            "Watcher: sato\nSend-To: sato@example.test\n{}",
            "Notifier: tanaka\n".repeat(3000)
        );
        let m = raw_mail("sato@example.test", "Subscribe", &body);
        let step = office.receives(&m, t(1));
        assert!(matches!(step.verdict, Verdict::Applied(_)), "{step:?}");
        assert_eq!(step.deliveries.len(), 1);
        let counts = office.counts(t(1));
        assert_eq!(
            counts.pending_requests + counts.open_watches,
            0,
            "{counts:?}"
        );
    }
}

#[test]
fn a_subscribe_naming_more_than_100_colleagues_is_refused_whole() {
    for mut office in Office::each() {
        let names: Vec<String> = (0..101).map(|i| format!("Notifier: p{i}")).collect();
        let body = format!(
            "Watcher: sato\nSend-To: sato@example.test\n{}\n",
            names.join("\n")
        );
        let m = raw_mail("sato@example.test", "Subscribe", &body);
        let step = office.receives(&m, t(1));
        match step.verdict {
            Verdict::Refused(RequestRefusal::Malformed(why)) => {
                assert!(why.contains("101 colleagues named; at most 100"), "{why}")
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_flood_of_subscribes_queues_one_notify_per_watcher_and_colleague() {
    for mut office in Office::each() {
        let publish =
            |activity: &str, secs: i64| publish_by("tanaka", fields(activity, None, Some(secs)));
        office.receives_and_queues(&publish("busy", 0), t(0));
        for i in 1..=20 {
            assert_eq!(
                office.receives_and_queues(&ask_once("sato", &["tanaka"]), t(i)),
                1
            );
        }
        assert_eq!(office.counts(t(30)).outbox_depth, 1);
        // A newer presence replaces the queued one: the old never goes out after it.
        office.receives_and_queues(&publish("away", 31), t(31));
        assert_eq!(
            office.receives_and_queues(&ask_once("sato", &["tanaka"]), t(32)),
            1
        );
        let due = office.due_mails(t(40));
        assert_eq!(due.len(), 1);
        let text = String::from_utf8_lossy(&due[0].raw).into_owned();
        assert!(text.contains("Activity: away"), "{text}");
    }
}

#[test]
fn an_updated_in_the_future_is_taken_as_now() {
    for mut office in Office::each() {
        office.receives(
            &publish_by("tanaka", fields("busy", None, Some(86_400))),
            t(0),
        );
        let stored = office.presence_of("tanaka");
        assert_eq!(stored.fields.updated, Some(t(0).fixed_offset()));
        // So the next honest update, a minute later, is not taken as older.
        let step = office.receives(&publish_by("tanaka", fields("away", None, Some(60))), t(60));
        assert!(matches!(step.verdict, Verdict::Applied(_)), "{step:?}");
    }
}

/// A watch of `watcher` on tanaka over `medium`, through `reference` (a SIP dialog).
fn watch_of(watcher: &str, medium: Medium, reference: Option<&str>) -> SubscribeRequest {
    SubscribeRequest {
        watcher: a(watcher),
        notifiers: vec![a("tanaka")],
        medium,
        deliver_to: format!("{watcher}@example.test"),
        mode: SubscribeMode::Watch,
        expires_secs: Some(3600),
        reference: reference.map(str::to_owned),
    }
}

#[test]
fn a_renewal_renews_its_own_request_and_nobody_elses() {
    for mut office in Office::each() {
        let mut subscribe = |req: SubscribeRequest, at: i64| {
            office.run(|e, s| e.subscribe(s, req, t(at)));
        };
        subscribe(watch_of("sato", Medium::Mail, None), 0);
        subscribe(watch_of("ito", Medium::Mail, None), 0);
        subscribe(watch_of("sato", Medium::Sip, Some("dialog-1")), 0);
        subscribe(watch_of("sato", Medium::Sip, Some("dialog-2")), 0);
        // Later: sato's mail watch and first dialog are renewed, nothing new.
        subscribe(watch_of("sato", Medium::Mail, None), 1800);
        subscribe(watch_of("sato", Medium::Sip, Some("dialog-1")), 1800);
        let open = office
            .db
            .transaction(|s| s.open_requests_for(&a("tanaka"), t(1800)))
            .unwrap();
        let mut seen: Vec<(String, Medium, Option<String>, i64)> = open
            .iter()
            .map(|r| {
                let lasts = (r.expires_at - t(0)).num_seconds();
                (r.watcher.to_string(), r.medium, r.reference.clone(), lasts)
            })
            .collect();
        seen.sort_by(|x, y| (&x.0, x.2.as_deref()).cmp(&(&y.0, y.2.as_deref())));
        assert_eq!(
            seen,
            [
                ("ito".into(), Medium::Mail, None, 3600),
                ("sato".into(), Medium::Mail, None, 5400),
                ("sato".into(), Medium::Sip, Some("dialog-1".into()), 5400),
                ("sato".into(), Medium::Sip, Some("dialog-2".into()), 3600),
            ]
        );
    }
}

/// A mail address that happens to start with "sip" is a mail address: the
/// support desk's `sip-support@…` watches like anyone else. Only a SIP URI
/// as Send-To is refused (a mail request is answered by mail).
#[test]
fn a_mail_address_starting_with_sip_is_no_sip_uri() {
    let people = [
        person("tanaka", &["field"]),
        person("sip-support", &["desk"]),
    ];
    let rules = [Rule {
        watchers: vec!["group:desk".into()],
        may_see: vec!["group:field".into()],
        location: true,
    }];
    let engine = Engine::new(
        Directory::from_config(&people, &rules),
        PresencePolicy::default(),
        "presence@example.test",
    );
    let mut office = Office::with(engine, SqliteStore::in_memory().unwrap());
    office.receives(&publish_by("tanaka", fields("busy", None, Some(0))), t(0));
    let desk = "sip-support@example.test";
    let step = office.receives(
        &subscribe_mail(desk, "sip-support", &["tanaka"], desk, SubscribeMode::Once),
        t(5),
    );
    assert_eq!(step.deliveries.len(), 1, "{step:?}");
    assert_eq!(step.deliveries[0].to, desk);
    let step = office.receives(
        &subscribe_mail(
            desk,
            "sip-support",
            &["tanaka"],
            "sip:sip-support@example.test",
            SubscribeMode::Once,
        ),
        t(6),
    );
    assert!(
        matches!(step.verdict, Verdict::Refused(RequestRefusal::SipSendTo(_))),
        "{step:?}"
    );
}
