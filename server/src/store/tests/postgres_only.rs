//! What only the PostgreSQL store has: the same schema versions as SQLite,
//! migrations taken once under their lock by instances starting together,
//! bounded waits on an unreachable server, and a new session after the
//! server ended the old one.

#![allow(clippy::unwrap_used)] // a test may stop at the first surprise

use super::{fresh_postgres, fresh_postgres_settings, record};
use crate::store::{PgStore, PostgresSettings, Store, StoreError, postgres, sqlite};

#[test]
fn both_stores_have_the_same_schema_versions() {
    // A version added to one store and not the other fails here.
    assert_eq!(postgres::VERSION, sqlite::VERSION);
}

#[test]
fn two_instances_opening_a_new_postgres_schema_at_once_migrate_it_once() {
    let settings = fresh_postgres_settings();
    let opened: Vec<_> = (0..4)
        .map(|_| {
            let s = settings.clone();
            std::thread::spawn(move || PgStore::open(s))
        })
        .collect();
    let mut stores: Vec<PgStore> = opened
        .into_iter()
        .map(|t| t.join().unwrap().unwrap())
        .collect();
    let applied: Vec<usize> = stores.iter().map(PgStore::migrated).collect();
    assert_eq!(
        applied.iter().sum::<usize>(),
        postgres::VERSION,
        "one instance migrated, the others found it done: {applied:?}"
    );
    // Each sees the other's writes: one schema.
    stores[0]
        .transaction(|tx| tx.save_presence(&record("tanaka", None)))
        .unwrap();
    let seen = stores[3]
        .transaction(|tx| tx.presence(&"tanaka".parse().unwrap()))
        .unwrap();
    assert!(seen.is_some());
    let versions = stores[1]
        .transaction(|tx| tx.count("SELECT COUNT(*) FROM schema_version", &[]))
        .unwrap();
    assert_eq!(versions, 1, "one version row, written once");
}

#[test]
fn an_unreachable_postgres_is_reported_within_the_connect_timeout() {
    // A port nothing listens on (bound and closed again).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut settings = PostgresSettings::new(format!("postgres://nobody@127.0.0.1:{port}/none"));
    settings.connect_timeout = std::time::Duration::from_secs(2);
    let started = std::time::Instant::now();
    let err = PgStore::open(settings).unwrap_err();
    assert!(
        matches!(err, StoreError::PostgresUnreachable { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
}

#[test]
fn a_postgres_session_ended_by_the_server_is_replaced_on_the_next_transaction() {
    let mut store = fresh_postgres();
    let flag = store.reachable();
    store
        .transaction(|tx| tx.save_presence(&record("tanaka", None)))
        .unwrap();
    // The database ends this session, as a restart or a failover would.
    let ended =
        store.transaction(|tx| tx.execute_batch("SELECT pg_terminate_backend(pg_backend_pid())"));
    assert!(ended.is_err());
    assert!(
        !flag.load(std::sync::atomic::Ordering::Relaxed),
        "reported unreachable"
    );
    // The next transaction connects anew and finds what was committed.
    assert!(
        store
            .transaction(|tx| tx.presence(&"tanaka".parse().unwrap()))
            .unwrap()
            .is_some()
    );
    assert!(flag.load(std::sync::atomic::Ordering::Relaxed));
}

#[test]
fn two_instances_claiming_the_outbox_at_once_never_get_the_same_mail() {
    let settings = fresh_postgres_settings();
    let mut first = PgStore::open(settings.clone()).unwrap();
    let now = chrono::Utc::now();
    let hold = now + chrono::Duration::minutes(2);
    first
        .transaction(|tx| -> Result<(), StoreError> {
            for i in 0..200 {
                tx.enqueue_mail(
                    "p@example.test",
                    &format!("w{i}@example.test"),
                    b"n",
                    None,
                    now,
                )?;
            }
            Ok(())
        })
        .unwrap();
    let claimers: Vec<_> = (0..4)
        .map(|_| {
            let settings = settings.clone();
            std::thread::spawn(move || {
                let mut store = PgStore::open(settings).unwrap();
                let mut mine = Vec::new();
                loop {
                    let claimed = store
                        .transaction(|tx| tx.claim_due_mails(now, 7, hold))
                        .unwrap();
                    if claimed.is_empty() {
                        return mine;
                    }
                    mine.extend(claimed.into_iter().map(|m| m.id));
                }
            })
        })
        .collect();
    let mut all: Vec<i64> = claimers
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    let claimed = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!((claimed, all.len()), (200, 200), "each mail claimed once");
}

#[test]
fn a_mail_read_by_two_instances_at_once_is_handled_by_one() {
    // The second instance asks whether the mail was handled while the
    // first's transaction that handles it is still open: it waits, and sees it.
    let settings = fresh_postgres_settings();
    let mut first = PgStore::open(settings.clone()).unwrap();
    let mut second = PgStore::open(settings).unwrap();
    let (marked_tx, marked) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        first
            .transaction(|tx| -> Result<(), StoreError> {
                assert!(!tx.mail_handled("<m1@example.test>")?);
                tx.mark_mail_handled("<m1@example.test>", "applied", chrono::Utc::now())?;
                marked_tx.send(()).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(500));
                Ok(())
            })
            .unwrap();
    });
    marked.recv().unwrap();
    let asked = std::time::Instant::now();
    let seen = second
        .transaction(|tx| tx.mail_handled("<m1@example.test>"))
        .unwrap();
    holder.join().unwrap();
    assert!(seen, "the second instance saw the first's mark");
    assert!(asked.elapsed() >= std::time::Duration::from_millis(300));
}

#[test]
fn instances_take_turns_writing_as_sqlites_one_writer() {
    let settings = fresh_postgres_settings();
    let mut first = PgStore::open(settings.clone()).unwrap();
    let mut second = PgStore::open(settings).unwrap();
    let (began_tx, began) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        first
            .transaction(|tx| -> Result<(), StoreError> {
                tx.count_sender_mail("tanaka@example.test", chrono::Utc::now())?;
                began_tx.send(()).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(500));
                Ok(())
            })
            .unwrap();
    });
    began.recv().unwrap();
    let asked = std::time::Instant::now();
    // Counted after the first's count is committed, not beside it.
    let count = second
        .transaction(|tx| tx.count_sender_mail("tanaka@example.test", chrono::Utc::now()))
        .unwrap();
    holder.join().unwrap();
    assert_eq!(count, 2);
    assert!(asked.elapsed() >= std::time::Duration::from_millis(300));
}
