//! Grouped commits: many engine steps in one transaction, each kept or undone
//! on its own, their effects visible and handed over only after the commit.
#![allow(clippy::unwrap_used)] // a test may stop at the first surprise

use std::path::Path;
use std::sync::Arc;

use mailpresence_protocol::mail::SubscribeMode;
use mailpresence_protocol::model::{AccountName, Activity, ActivityToken, PresenceFields};
use mailpresence_server::config::{self, PresencePolicy, Rule};
use mailpresence_server::directory::Directory;
use mailpresence_server::engine::{Engine, SubscribeRequest};
use mailpresence_server::hub::{Hub, StepResult};
use mailpresence_server::store::{Medium, SqliteStore, Store, StoreError, Time};
use tokio::sync::mpsc;

fn person(account: &str) -> config::Person {
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
        groups: Vec::new(),
    }
}

fn hub(db: &Path) -> Arc<Hub> {
    let people = ["tanaka", "suzuki", "sato", "ito"].map(person);
    let rules = [Rule {
        watchers: vec!["*".into()],
        may_see: vec!["*".into()],
        location: true,
    }];
    let engine = Engine::new(
        Directory::from_config(&people, &rules),
        PresencePolicy::default(),
        "presence@example.test",
    );
    Hub::new(
        SqliteStore::open(db).unwrap(),
        engine,
        "presence@example.test".into(),
    )
}

fn a(s: &str) -> AccountName {
    s.parse().unwrap()
}

/// A step publishing `account` as busy.
fn publish(account: &str) -> impl FnOnce(&Engine, &mut dyn Store, Time) -> StepResult {
    let account = a(account);
    move |engine, tx, now| {
        let fields = PresenceFields::new(
            format!("{account}@example.test"),
            Activity::token(ActivityToken::Busy),
        );
        engine
            .publish(tx, &account, fields, Medium::Sip, now)
            .map(Some)
    }
}

/// Whether `account`'s presence is in the database, as another process
/// (`--status`, or the server after a restart) reads it.
fn on_disk(db: &Path, account: &str) -> bool {
    let mut reader = SqliteStore::open_read_only(db).unwrap();
    reader
        .transaction(|tx| tx.presence(&a(account)))
        .unwrap()
        .is_some()
}

#[test]
fn one_failing_step_is_undone_alone_and_the_others_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("presence.db");
    let hub = hub(&db);
    let results = hub
        .steps(|batch| {
            let first = batch.step(publish("tanaka")).map(|c| c.is_some());
            // Writes, then fails: its write must not survive.
            let second = batch
                .step(|engine, tx, now| {
                    publish("suzuki")(engine, tx, now)?;
                    Err(StoreError::Corrupt("a step that fails".into()))
                })
                .map(|c| c.is_some());
            let third = batch.step(publish("sato")).map(|c| c.is_some());
            [first.is_ok(), second.is_ok(), third.is_ok()]
        })
        .unwrap();
    assert_eq!(results, [true, false, true]);
    assert!(on_disk(&db, "tanaka"));
    assert!(!on_disk(&db, "suzuki"));
    assert!(on_disk(&db, "sato"));
}

#[test]
fn a_batch_is_one_transaction_seen_by_others_only_after_its_commit() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("presence.db");
    let hub = hub(&db);
    hub.steps(|batch| {
        batch.step(publish("tanaka")).unwrap();
        batch.step(publish("suzuki")).unwrap();
        assert!(!on_disk(&db, "tanaka"), "visible before the commit");
        assert!(!on_disk(&db, "suzuki"), "visible before the commit");
    })
    .unwrap();
    assert!(on_disk(&db, "tanaka"));
    assert!(on_disk(&db, "suzuki"));
}

#[test]
fn a_later_step_of_a_batch_sees_the_earlier_ones() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub(&dir.path().join("presence.db"));
    let seen = hub
        .steps(|batch| {
            batch.step(publish("tanaka")).unwrap();
            let mut seen = None;
            batch
                .step(|_, tx, _| {
                    seen = tx.presence(&a("tanaka"))?.map(|r| r.fields.activity);
                    Ok(None)
                })
                .unwrap();
            seen
        })
        .unwrap();
    assert_eq!(seen, Some(Activity::token(ActivityToken::Busy)));
}

fn watch(watcher: &str, medium: Medium, deliver_to: String) -> SubscribeRequest {
    SubscribeRequest {
        watcher: a(watcher),
        notifiers: vec![a("tanaka")],
        medium,
        deliver_to,
        mode: SubscribeMode::Watch,
        expires_secs: Some(3600),
        reference: Some(format!("dialog-of-{watcher}")),
    }
}

#[test]
fn notifies_are_handed_over_only_after_the_commit() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub(&dir.path().join("presence.db"));
    let (sip, mut to_sip_agent) = mpsc::unbounded_channel();
    hub.connect_sip(sip);
    for (watcher, medium, to) in [
        ("sato", Medium::Sip, "sip:sato@example.test"),
        ("ito", Medium::Mail, "ito@example.test"),
    ] {
        let request = watch(watcher, medium, to.into());
        hub.step(|engine, tx, now| engine.subscribe(tx, request, now).map(Some))
            .unwrap();
    }
    hub.steps(|batch| {
        let step = batch.step(publish("tanaka")).unwrap().unwrap();
        assert_eq!(step.step.deliveries.len(), 2);
        assert!(to_sip_agent.try_recv().is_err(), "NOTIFY before the commit");
    })
    .unwrap();
    let delivery = to_sip_agent.try_recv().unwrap();
    assert_eq!(delivery.to, "sip:sato@example.test");
    assert!(to_sip_agent.try_recv().is_err());
    let outbox = hub.store().transaction(|tx| tx.counts(chrono::Utc::now()));
    assert_eq!(outbox.unwrap().outbox_depth, 1, "ito's Notify mail");
}

/// What intake does with a fetched batch of mails: each is applied and
/// recorded as handled in its own step, all committed at once; a mail whose
/// step fails is not recorded, so it is not flagged done and is read again.
#[test]
fn mails_of_one_batch_are_recorded_as_handled_together() {
    let dir = tempfile::tempdir().unwrap();
    let hub = hub(&dir.path().join("presence.db"));
    let ids = ["<1@phone>", "<2@phone>", "<3@phone>"];
    let handled: Vec<bool> = hub
        .steps(|batch| {
            ids.iter()
                .map(|id| {
                    batch
                        .step(|engine, tx, now| {
                            let step = publish("tanaka")(engine, tx, now)?;
                            tx.mark_mail_handled(id, "applied", now)?;
                            if *id == "<2@phone>" {
                                return Err(StoreError::Corrupt("a step that fails".into()));
                            }
                            Ok(step)
                        })
                        .is_ok()
                })
                .collect()
        })
        .unwrap();
    assert_eq!(handled, [true, false, true]);
    let recorded: Vec<bool> = hub
        .store()
        .transaction(|tx| ids.iter().map(|id| tx.mail_handled(id)).collect())
        .unwrap();
    assert_eq!(recorded, [true, false, true]);
}
