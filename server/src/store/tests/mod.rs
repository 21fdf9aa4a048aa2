//! The store's tests, run on each store: SQLite (in memory) and PostgreSQL
//! (a fresh schema per test in the database MAILPRESENCE_POSTGRES_URL names;
//! scripts/test.sh starts one). Without that variable the PostgreSQL half
//! fails and says how to start one: no test is skipped in silence.
//! What only PostgreSQL has (the migration lock, reconnection) is tested in
//! `postgres_only`; what only SQLite has, beside its files.

#![allow(clippy::unwrap_used)] // a test may stop at the first surprise

use chrono::{Duration, Utc};
use mailpresence_protocol::mail::SubscribeMode;
use mailpresence_protocol::model::{Activity, ActivityToken, Contact, PresenceFields};

use super::*;

mod postgres_only;

/// The PostgreSQL settings of a fresh schema of the test database.
pub(crate) fn fresh_postgres_settings() -> PostgresSettings {
    let url = std::env::var("MAILPRESENCE_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "MAILPRESENCE_POSTGRES_URL is not set: the store's tests run on PostgreSQL as on \
             SQLite. Start a throwaway one and run the tests again:\n  \
             eval \"$(scripts/postgres-server.sh start /tmp/mailpresence-postgres)\"\n\
             (scripts/test.sh starts one itself; stop it with \
             scripts/postgres-server.sh stop /tmp/mailpresence-postgres)"
        )
    });
    let mut settings = PostgresSettings::new(url);
    settings.schema = Some(format!("test_{:016x}", rand::random::<u64>()));
    settings
}

/// A PostgreSQL store on a fresh schema.
pub(crate) fn fresh_postgres() -> PgStore {
    let settings = fresh_postgres_settings();
    PgStore::open(settings.clone())
        .unwrap_or_else(|e| panic!("PostgreSQL at {}: {e}", settings.location()))
}

/// Each store, named, fresh and empty.
fn each_store() -> Vec<(&'static str, Database)> {
    vec![
        ("SQLite", SqliteStore::in_memory().unwrap().into()),
        ("PostgreSQL", fresh_postgres().into()),
    ]
}

pub(super) fn record(account: &str, location: Option<&str>) -> PresenceRecord {
    let mut fields = PresenceFields::new(
        Contact::parse(&format!("{account}@example.test")),
        Activity::token(ActivityToken::Busy),
    );
    fields.location = location.map(str::to_owned);
    PresenceRecord {
        account: account.parse().unwrap(),
        fields,
        source: Medium::Mail,
        received_at: Utc::now(),
        location_expires_at: None,
    }
}

fn request(watcher: &str, notifier: &str, mode: SubscribeMode, now: Time) -> Request {
    Request {
        id: 0,
        watcher: watcher.parse().unwrap(),
        notifier: notifier.parse().unwrap(),
        medium: Medium::Mail,
        deliver_to: format!("{watcher}@example.test"),
        mode,
        state: RequestState::Unprocessed,
        created_at: now,
        expires_at: now + Duration::hours(1),
        reference: None,
        last_notified_at: None,
        change_pending: false,
    }
}

fn stored(db: &mut Database, account: &str) -> bool {
    let account = account.parse().unwrap();
    db.transaction(|tx| tx.presence(&account))
        .unwrap()
        .is_some()
}

#[test]
fn presence_is_kept_replaced_and_its_location_forgotten_when_due() {
    for (name, mut db) in each_store() {
        let now = Utc::now();
        let mut first = record("tanaka", Some("東京都千代田区丸の内一丁目"));
        first.location_expires_at = Some(now + Duration::minutes(30));
        db.transaction(|tx| tx.save_presence(&first)).unwrap();
        let read = db
            .transaction(|tx| tx.presence(&"tanaka".parse().unwrap()))
            .unwrap()
            .unwrap();
        // Kept to the millisecond (both stores keep unix ms).
        assert_eq!(read.fields, first.fields, "{name}");
        assert_eq!(
            read.received_at.timestamp_millis(),
            first.received_at.timestamp_millis(),
            "{name}"
        );
        assert_eq!(
            db.transaction(|tx| tx.expire_locations(now + Duration::minutes(29)))
                .unwrap(),
            0,
            "{name}: not yet"
        );
        assert_eq!(
            db.transaction(|tx| tx.expire_locations(now + Duration::minutes(31)))
                .unwrap(),
            1,
            "{name}"
        );
        let read = db
            .transaction(|tx| tx.presence(&"tanaka".parse().unwrap()))
            .unwrap()
            .unwrap();
        assert_eq!(read.fields.location, None, "{name}");
        assert_eq!(read.fields.activity, first.fields.activity, "{name}");
        assert!(!stored(&mut db, "sato"), "{name}");
    }
}

#[test]
fn a_fan_outs_requests_are_marked_answered_and_owed_in_one_go() {
    for (name, mut db) in each_store() {
        let now = Utc::now();
        let ids = db
            .transaction(|tx| -> Result<Vec<i64>> {
                let mut ids = Vec::new();
                for (watcher, notifier, mode) in [
                    ("sato", "tanaka", SubscribeMode::Once),
                    ("suzuki", "tanaka", SubscribeMode::Watch),
                    ("ito", "tanaka", SubscribeMode::Watch),
                    ("sato", "yamada", SubscribeMode::Watch),
                ] {
                    ids.push(tx.add_request(&request(watcher, notifier, mode, now))?);
                }
                Ok(ids)
            })
            .unwrap();
        let at = now + Duration::seconds(3);
        db.transaction(|tx| -> Result<()> {
            tx.mark_requests_notified(&ids[..2], at)?;
            tx.mark_requests_owed(&ids[2..3])?;
            tx.mark_requests_notified(&[], at)?;
            tx.mark_requests_owed(&[])
        })
        .unwrap();
        let open = |db: &mut Database, notifier: &str| {
            db.transaction(|tx| tx.open_requests_for(&notifier.parse().unwrap(), now))
                .unwrap()
        };
        // The once-request, answered, is no longer open; the watches are.
        let tanaka = open(&mut db, "tanaka");
        assert_eq!(
            tanaka.iter().map(|q| q.id).collect::<Vec<_>>(),
            ids[1..3],
            "{name}"
        );
        let (answered, owed) = (&tanaka[0], &tanaka[1]);
        assert_eq!(answered.state, RequestState::Processed, "{name}");
        let notified = answered.last_notified_at.map(|t| t.timestamp_millis());
        assert_eq!(notified, Some(at.timestamp_millis()), "{name}");
        assert!(!answered.change_pending, "{name}");
        assert_eq!(owed.state, RequestState::Unprocessed, "{name}");
        assert!(owed.change_pending, "{name}");
        assert_eq!(owed.last_notified_at, None, "{name}");
        // Another notifier's request is not touched.
        let yamada = open(&mut db, "yamada");
        assert_eq!(yamada[0].state, RequestState::Unprocessed, "{name}");
        assert!(!yamada[0].change_pending, "{name}");
    }
}

#[test]
fn requests_are_found_answered_coalesced_and_expired() {
    for (name, mut db) in each_store() {
        let now = Utc::now();
        let (once, watch, other) = db
            .transaction(|tx| -> Result<_> {
                let once = tx.add_request(&request("sato", "tanaka", SubscribeMode::Once, now))?;
                let mut w = request("suzuki", "tanaka", SubscribeMode::Watch, now);
                w.medium = Medium::Sip;
                w.reference = Some("dialog-1".into());
                let watch = tx.add_request(&w)?;
                let other = tx.add_request(&request("sato", "ito", SubscribeMode::Once, now))?;
                Ok((once, watch, other))
            })
            .unwrap();
        assert!(once < watch && watch < other, "{name}: ids grow");
        let open = db
            .transaction(|tx| tx.open_requests_for(&"tanaka".parse().unwrap(), now))
            .unwrap();
        assert_eq!(
            open.iter().map(|q| q.id).collect::<Vec<_>>(),
            [once, watch],
            "{name}"
        );
        assert_eq!(open[1].medium, Medium::Sip, "{name}");
        assert_eq!(open[1].reference.as_deref(), Some("dialog-1"), "{name}");
        // Answered: the once-request is no longer open; the watch owes a change.
        db.transaction(|tx| -> Result<()> {
            let mut q = open[0].clone();
            q.state = RequestState::Processed;
            q.last_notified_at = Some(now);
            tx.update_request(&q)?;
            let mut w = open[1].clone();
            w.state = RequestState::Processed;
            w.last_notified_at = Some(now);
            w.change_pending = true;
            tx.update_request(&w)
        })
        .unwrap();
        let between = db
            .transaction(|tx| {
                tx.open_requests_between(&"sato".parse().unwrap(), &"tanaka".parse().unwrap(), now)
            })
            .unwrap();
        assert!(between.is_empty(), "{name}: sato's question was answered");
        // A SIP watch falls due after the SIP interval, not the mail one.
        let due = |db: &mut Database, mail_before, sip_before| {
            db.transaction(|tx| tx.due_watches(mail_before, sip_before, now))
                .unwrap()
                .len()
        };
        assert_eq!(
            due(
                &mut db,
                now + Duration::minutes(5),
                now - Duration::seconds(1)
            ),
            0,
            "{name}"
        );
        assert_eq!(due(&mut db, now - Duration::minutes(5), now), 1, "{name}");
        assert_eq!(
            db.transaction(|tx| tx.remove_requests_with_reference("dialog-1"))
                .unwrap(),
            1,
            "{name}"
        );
        assert_eq!(
            db.transaction(|tx| tx.expire_requests(now + Duration::hours(2)))
                .unwrap(),
            2,
            "{name}"
        );
    }
}

#[test]
fn the_outbox_replaces_retries_sends_and_keeps_only_the_record_of_a_refusal() {
    for (name, mut db) in each_store() {
        let now = Utc::now();
        let (old, new, other) = db
            .transaction(|tx| -> Result<_> {
                let old = tx.enqueue_mail(
                    "p@example.test",
                    "sato@example.test",
                    b"old",
                    Some("sato/tanaka"),
                    now,
                )?;
                let new = tx.enqueue_mail(
                    "p@example.test",
                    "sato@example.test",
                    b"new",
                    Some("sato/tanaka"),
                    now,
                )?;
                let other =
                    tx.enqueue_mail("p@example.test", "ito@example.test", b"ito", None, now)?;
                Ok((old, new, other))
            })
            .unwrap();
        let due = db.transaction(|tx| tx.due_mails(now, 10)).unwrap();
        assert_eq!(
            due.iter().map(|m| m.id).collect::<Vec<_>>(),
            [new, other],
            "{name}: the newer Notify replaced the older ({old})"
        );
        assert_eq!(due[0].raw, b"new", "{name}");
        let retry = now + Duration::minutes(1);
        db.transaction(|tx| tx.mark_mail_failed(new, "421 try later", retry))
            .unwrap();
        let due = db.transaction(|tx| tx.due_mails(now, 10)).unwrap();
        assert_eq!(
            due.iter().map(|m| m.id).collect::<Vec<_>>(),
            [other],
            "{name}"
        );
        assert_eq!(
            db.transaction(|tx| tx.due_mails(retry, 1)).unwrap()[0].attempts,
            0,
            "{name}: the limit keeps the oldest due, ito's"
        );
        db.transaction(|tx| tx.mark_mail_sent(other, now)).unwrap();
        let again = db.transaction(|tx| tx.due_mails(retry, 10)).unwrap();
        assert_eq!((again.len(), again[0].attempts), (1, 1), "{name}");
        assert_eq!(
            db.transaction(|tx| tx.next_mail_due())
                .unwrap()
                .map(|t| t.timestamp_millis()),
            Some(retry.timestamp_millis()),
            "{name}"
        );
        db.transaction(|tx| tx.mark_mail_undeliverable(new, "550 no such user", retry))
            .unwrap();
        let counts = db.transaction(|tx| tx.counts(retry)).unwrap();
        assert_eq!(
            (counts.outbox_depth, counts.undeliverable_mails),
            (0, 1),
            "{name}"
        );
        assert_eq!(
            db.transaction(|tx| tx.next_mail_due()).unwrap(),
            None,
            "{name}"
        );
    }
}

#[test]
fn a_claimed_mail_is_not_due_for_anyone_else_until_its_hold_ends() {
    for (name, mut db) in each_store() {
        let now = Utc::now();
        let ids = db
            .transaction(|tx| -> Result<Vec<i64>> {
                (0..3)
                    .map(|i| {
                        tx.enqueue_mail(
                            "p@example.test",
                            &format!("w{i}@example.test"),
                            b"n",
                            None,
                            now,
                        )
                    })
                    .collect()
            })
            .unwrap();
        let hold = now + Duration::minutes(2);
        let claimed = db
            .transaction(|tx| tx.claim_due_mails(now, 2, hold))
            .unwrap();
        assert_eq!(
            claimed.iter().map(|m| m.id).collect::<Vec<_>>(),
            ids[..2],
            "{name}"
        );
        let rest = db
            .transaction(|tx| tx.claim_due_mails(now, 10, hold))
            .unwrap();
        assert_eq!(
            rest.iter().map(|m| m.id).collect::<Vec<_>>(),
            ids[2..],
            "{name}"
        );
        assert!(
            db.transaction(|tx| tx.claim_due_mails(now, 10, hold))
                .unwrap()
                .is_empty(),
            "{name}: all claimed"
        );
        // Sent: gone. Its claimer died: due again once the hold is over.
        db.transaction(|tx| tx.mark_mail_sent(ids[0], now)).unwrap();
        let again = db.transaction(|tx| tx.due_mails(hold, 10)).unwrap();
        assert_eq!(
            again.iter().map(|m| m.id).collect::<Vec<_>>(),
            ids[1..],
            "{name}"
        );
    }
}

#[test]
fn handled_mails_meta_and_counts_are_kept_and_forgotten() {
    for (name, mut db) in each_store() {
        let now = Utc::now();
        db.transaction(|tx| -> Result<()> {
            tx.mark_mail_handled("<a@example.test>", "applied", now - Duration::days(2))?;
            tx.mark_mail_handled("<b@example.test>", "refused", now)?;
            // Handled again (a lost flag): one row, the newer verdict.
            tx.mark_mail_handled("<b@example.test>", "applied", now)?;
            tx.set_meta("last_imap_contact", "2026-12-06T10:00:00Z")?;
            tx.set_meta("last_imap_contact", "2026-12-06T11:00:00Z")?;
            tx.save_presence(&record("tanaka", None))
        })
        .unwrap();
        let counts = db.transaction(|tx| tx.counts(now)).unwrap();
        assert_eq!(counts.mails_handled, 2, "{name}");
        assert_eq!(counts.records, 1, "{name}");
        assert_eq!(
            counts.last_imap_contact.as_deref(),
            Some("2026-12-06T11:00:00Z"),
            "{name}"
        );
        assert_eq!(
            db.transaction(|tx| tx.forget_handled_mail(now - Duration::days(1)))
                .unwrap(),
            1,
            "{name}"
        );
        let (a, b, none) = db
            .transaction(|tx| -> Result<_> {
                Ok((
                    tx.mail_handled("<a@example.test>")?,
                    tx.mail_handled("<b@example.test>")?,
                    tx.meta("nothing")?,
                ))
            })
            .unwrap();
        assert_eq!((a, b, none), (false, true, None), "{name}");
    }
}

#[test]
fn presence_mails_are_counted_per_sender_each_hour() {
    for (name, mut db) in each_store() {
        let start = Utc::now();
        let counts = db
            .transaction(|tx| -> Result<Vec<u32>> {
                Ok(vec![
                    tx.count_sender_mail("tanaka@example.test", start)?,
                    tx.count_sender_mail("tanaka@example.test", start + Duration::minutes(10))?,
                    tx.count_sender_mail("sato@example.test", start)?,
                    tx.count_sender_mail("tanaka@example.test", start + Duration::minutes(61))?,
                ])
            })
            .unwrap();
        assert_eq!(counts, [1, 2, 1, 1], "{name}");
        assert_eq!(
            db.transaction(|tx| tx.forget_sender_counts(start + Duration::minutes(30)))
                .unwrap(),
            1,
            "{name}: sato's hour started before"
        );
    }
}

#[test]
fn sign_in_requests_are_counted_per_source_and_address_each_hour_apart_from_mail() {
    for (name, mut db) in each_store() {
        let start = Utc::now();
        let counts = db
            .transaction(|tx| -> Result<Vec<u32>> {
                Ok(vec![
                    tx.count_sign_in(SignInBy::Source, "192.0.2.7", start)?,
                    tx.count_sign_in(SignInBy::Source, "192.0.2.7", start)?,
                    // The same text counted by the other measure is another count.
                    tx.count_sign_in(SignInBy::Address, "192.0.2.7", start)?,
                    // Presence mails from that "sender" are not the board's business.
                    tx.count_sender_mail("192.0.2.7", start)?,
                    tx.count_sign_in(SignInBy::Source, "192.0.2.7", start + Duration::minutes(59))?,
                    // The hour is over: a new one starts with this request.
                    tx.count_sign_in(SignInBy::Source, "192.0.2.7", start + Duration::minutes(61))?,
                ])
            })
            .unwrap();
        assert_eq!(counts, [1, 2, 1, 1, 3, 1], "{name}");
        let later = start + Duration::hours(3);
        let forgotten = db
            .transaction(|tx| tx.forget_sign_in_counts(later - Duration::hours(1)))
            .unwrap();
        assert_eq!(forgotten, 2, "{name}: both counts' hours started long ago");
        let fresh = db
            .transaction(|tx| tx.count_sign_in(SignInBy::Address, "192.0.2.7", later))
            .unwrap();
        assert_eq!(fresh, 1, "{name}");
    }
}

#[test]
fn a_device_is_enrolled_listed_and_revoked_once() {
    for (name, mut db) in each_store() {
        let now = Utc::now();
        let (id, again, other) = db
            .transaction(|tx| {
                let id = tx.bind_device("tanaka", "Pixel 8", "key-a", now)?;
                tx.bind_device("tanaka", "iPad", "key-b", now)?;
                let first = tx.revoke_device("tanaka", id, now)?;
                let again = tx.revoke_device("tanaka", id, now)?;
                // Someone else's device id is not tanaka's to revoke.
                let sato = tx.bind_device("sato", "iPhone", "key-c", now)?;
                let other = tx.revoke_device("tanaka", sato, now)?;
                assert!(first, "{name}");
                Ok::<_, StoreError>((id, again, other))
            })
            .unwrap();
        assert!(!again && !other, "{name}");
        let list = db.transaction(|tx| tx.devices_of("tanaka")).unwrap();
        assert_eq!(list.len(), 2, "{name}");
        assert_eq!(list[0].id, id, "{name}");
        assert!(
            list[0].revoked_at.is_some() && list[1].revoked_at.is_none(),
            "{name}"
        );
        let live = db.transaction(|tx| tx.live_device_keys("tanaka")).unwrap();
        assert_eq!(live, [(list[1].id, "key-b".to_owned())], "{name}");
        // A key is bound to one device only.
        assert!(
            db.transaction(|tx| tx.bind_device("ito", "Galaxy", "key-a", now))
                .is_err(),
            "{name}"
        );
        // Leaving the company revokes the rest, through forget_person.
        db.transaction(|tx| tx.forget_person(&"tanaka".parse().unwrap(), now))
            .unwrap();
        let list = db.transaction(|tx| tx.devices_of("tanaka")).unwrap();
        assert!(list.iter().all(|d| d.revoked_at.is_some()), "{name}");
        assert!(
            db.transaction(|tx| tx.ever_enrolled("tanaka")).unwrap(),
            "{name}"
        );
        let sato = db.transaction(|tx| tx.devices_of("sato")).unwrap();
        assert!(sato[0].revoked_at.is_none(), "{name}");
    }
}

#[test]
fn expiring_records_live_until_due_and_a_taken_one_is_gone() {
    for (name, mut db) in each_store() {
        let now = Utc::now();
        db.transaction(|tx| -> Result<()> {
            tx.put_record("dialog", "b", r#"{"n":1}"#, now + Duration::minutes(10))?;
            tx.put_record("dialog", "a", r#"{"n":2}"#, now + Duration::minutes(1))?;
            // Replaced, not added.
            tx.put_record("dialog", "b", r#"{"n":3}"#, now + Duration::minutes(10))?;
            tx.put_record("web-link", "t", "token", now + Duration::minutes(10))?;
            tx.put_record(
                "enrolment",
                "x",
                r#"{"account":"tanaka"}"#,
                now + Duration::hours(1),
            )?;
            tx.put_record(
                "enrolment",
                "y",
                r#"{"account":"sato"}"#,
                now + Duration::hours(1),
            )
        })
        .unwrap();
        let dialogs = db.transaction(|tx| tx.records("dialog", now)).unwrap();
        assert_eq!(
            dialogs
                .iter()
                .map(|(k, v, _)| (k.as_str(), v.as_str()))
                .collect::<Vec<_>>(),
            [("a", r#"{"n":2}"#), ("b", r#"{"n":3}"#)],
            "{name}"
        );
        assert_eq!(
            db.transaction(|tx| tx.counts(now)).unwrap().sip_dialogs,
            2,
            "{name}"
        );
        let taken = db
            .transaction(|tx| tx.take_record("web-link", "t", now))
            .unwrap();
        assert_eq!(taken.as_deref(), Some("token"), "{name}");
        assert_eq!(
            db.transaction(|tx| tx.take_record("web-link", "t", now))
                .unwrap(),
            None,
            "{name}: one use"
        );
        let later = now + Duration::minutes(5);
        assert_eq!(
            db.transaction(|tx| tx.live_record("dialog", "a", later))
                .unwrap(),
            None,
            "{name}: expired"
        );
        assert_eq!(
            db.transaction(|tx| tx.expire_records(later)).unwrap(),
            1,
            "{name}"
        );
        db.transaction(|tx| tx.delete_record("dialog", "b"))
            .unwrap();
        assert!(
            db.transaction(|tx| tx.records("dialog", now))
                .unwrap()
                .is_empty(),
            "{name}"
        );
        // A leaver's enrolment code goes with them; a colleague's stays.
        db.transaction(|tx| tx.forget_person(&"tanaka".parse().unwrap(), now))
            .unwrap();
        let (x, y) = db
            .transaction(|tx| -> Result<_> {
                Ok((
                    tx.live_record("enrolment", "x", now)?,
                    tx.live_record("enrolment", "y", now)?,
                ))
            })
            .unwrap();
        assert!(x.is_none() && y.is_some(), "{name}");
    }
}

/// What makes COMMIT fail, in each store's words: a deferred foreign key
/// broken by a trigger when the account "doomed" is saved.
fn doom_on_commit(db: &mut Database) {
    match db {
        Database::Sqlite(s) => s
            .transaction(|tx| {
                tx.execute_batch(
                    "CREATE TABLE parent (id INTEGER PRIMARY KEY);
                     CREATE TABLE child (parent INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);
                     CREATE TRIGGER doom AFTER INSERT ON presence WHEN NEW.account = 'doomed'
                       BEGIN INSERT INTO child (parent) VALUES (42); END;",
                )
            })
            .unwrap(),
        Database::Postgres(s) => s
            .transaction(|tx| {
                tx.execute_batch(
                    "CREATE TABLE parent (id BIGINT PRIMARY KEY);
                     CREATE TABLE child (parent BIGINT REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);
                     CREATE FUNCTION doom() RETURNS trigger LANGUAGE plpgsql AS
                       $$ BEGIN INSERT INTO child (parent) VALUES (42); RETURN NEW; END $$;
                     CREATE TRIGGER doom AFTER INSERT ON presence FOR EACH ROW
                       WHEN (NEW.account = 'doomed') EXECUTE FUNCTION doom();",
                )
            })
            .unwrap(),
    }
}

#[test]
fn a_batch_whose_commit_fails_keeps_none_of_its_steps() {
    for (name, mut db) in each_store() {
        doom_on_commit(&mut db);
        let mut batch = db.batch().unwrap();
        batch
            .step(|tx| tx.save_presence(&record("tanaka", None)))
            .unwrap();
        batch
            .step(|tx| tx.save_presence(&record("doomed", None)))
            .unwrap();
        assert!(batch.commit().is_err(), "{name}");
        assert!(!stored(&mut db, "tanaka"), "{name}");
        // The connection is usable again: the failed transaction was rolled back.
        db.transaction(|tx| tx.save_presence(&record("sato", None)))
            .unwrap();
        assert!(stored(&mut db, "sato"), "{name}");
    }
}

#[test]
fn a_failed_step_is_undone_alone_and_the_others_are_committed() {
    for (name, mut db) in each_store() {
        let mut batch = db.batch().unwrap();
        batch
            .step(|tx| tx.save_presence(&record("tanaka", None)))
            .unwrap();
        let failed = batch.step(|tx| -> Result<()> {
            tx.save_presence(&record("sato", None))?;
            // The same key twice: refused by the store, and sato with it.
            tx.bind_device("sato", "a", "same-key", Utc::now())?;
            tx.bind_device("sato", "b", "same-key", Utc::now())?;
            Ok(())
        });
        assert!(failed.is_err(), "{name}");
        batch
            .step(|tx| tx.save_presence(&record("ito", None)))
            .unwrap();
        batch.commit().unwrap();
        assert!(
            stored(&mut db, "tanaka") && stored(&mut db, "ito"),
            "{name}"
        );
        assert!(!stored(&mut db, "sato"), "{name}");
        assert!(
            db.transaction(|tx| tx.devices_of("sato"))
                .unwrap()
                .is_empty(),
            "{name}"
        );
    }
}
