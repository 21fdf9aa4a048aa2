//! Tests of subscription dialogs changing hands: between two instances on
//! one PostgreSQL store (on a refresh that reached the other, or when one's
//! heartbeat stopped), and on SQLite from an earlier run to the next.

#![allow(clippy::unwrap_used)] // a test may stop at the first surprise

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::dialogs::{Dialog, Dialogs};
use super::stored;
use crate::directory::Directory;
use crate::engine::Engine;
use crate::hub::Hub;
use crate::sip::transport::Peer;
use crate::store::tests::fresh_postgres_settings;
use crate::store::{Database, PgStore, SqliteStore};

fn instance(store: impl Into<Database>) -> Arc<Hub> {
    let engine = Engine::new(
        Directory::from_config(&[], &[]),
        Default::default(),
        "presence@example.test",
    );
    Hub::new(store, engine, "presence@example.test".into())
}

/// sato's desk phone watching tanaka, for ten more minutes.
fn dialog() -> Dialog {
    Dialog {
        call_id: "call-1".into(),
        local_party: "<sip:tanaka@example.test>;tag=ours".into(),
        remote_party: "<sip:sato@example.test>;tag=theirs".into(),
        remote_target: "sip:sato@192.0.2.7".into(),
        presentity: "tanaka".parse().unwrap(),
        watcher: "sato".parse().unwrap(),
        peer: Peer::Udp("192.0.2.7:5060".parse().unwrap()),
        cseq: 4,
        cseq_reserved: 0,
        expires_at: Instant::now() + Duration::from_secs(600),
        answered: true,
        heard_at: Instant::now(),
        awaiting: false,
        behind: false,
        ending: None,
    }
}

/// `hub` holds `dialogs`' dialog `id` in the store.
fn hold(hub: &Hub, dialogs: &mut Dialogs, id: &str) {
    if !dialogs.contains(id) {
        dialogs.insert(id.into(), dialog());
    }
    dialogs.get_mut(id).unwrap().expires_at = Instant::now() + Duration::from_secs(600);
    hub.steps(|b| dialogs.store(id, b)).unwrap();
}

/// `hub`'s heartbeat, live for a minute.
fn beat(hub: &Hub) {
    hub.steps(|b| {
        b.step(|_, tx, now| {
            tx.put_record(
                stored::INSTANCE,
                &hub.instance,
                "{}",
                now + chrono::Duration::minutes(1),
            )?;
            Ok(None)
        })
    })
    .unwrap()
    .unwrap();
}

#[test]
fn a_refresh_moves_a_dialog_to_the_other_instance_and_the_first_lets_go() {
    let settings = fresh_postgres_settings();
    let one = instance(PgStore::open(settings.clone()).unwrap());
    let other = instance(PgStore::open(settings).unwrap());
    let (mut held_by_one, mut held_by_other) = (Dialogs::default(), Dialogs::default());
    beat(&one);
    beat(&other);
    hold(&one, &mut held_by_one, "d1");

    // `one` is alive: `other` takes nothing on its own.
    assert!(
        other
            .steps(|b| held_by_other.adopt_orphans(b))
            .unwrap()
            .is_empty()
    );
    assert!(!one.steps(|b| held_by_one.taken_elsewhere("d1", b)).unwrap());

    // sato's refresh reaches `other` (a dispatcher in front sent it there).
    assert!(other.steps(|b| held_by_other.adopt("d1", b)).unwrap());
    hold(&other, &mut held_by_other, "d1");
    let taken = held_by_other.get("d1").unwrap();
    assert_eq!(taken.watcher.as_str(), "sato");
    // Above every CSeq `one` may have used (4, and its reserved block).
    assert!(taken.cseq >= 4, "the CSeq goes on, not {}", taken.cseq);
    assert!(one.steps(|b| held_by_one.taken_elsewhere("d1", b)).unwrap());
    assert!(
        !other
            .steps(|b| held_by_other.taken_elsewhere("d1", b))
            .unwrap()
    );
    // Nor does `one` take it back while `other` lives.
    assert!(
        one.steps(|b| held_by_one.adopt_orphans(b))
            .unwrap()
            .is_empty()
    );
    // A dialog no one stored is no one's to take.
    assert!(!other.steps(|b| held_by_other.adopt("no-such", b)).unwrap());
}

#[test]
fn the_dialogs_of_an_instance_whose_heartbeat_stopped_are_taken_over_by_one_survivor() {
    let settings = fresh_postgres_settings();
    let dead = instance(PgStore::open(settings.clone()).unwrap());
    let (first, second) = (
        instance(PgStore::open(settings.clone()).unwrap()),
        instance(PgStore::open(settings).unwrap()),
    );
    let mut held_by_dead = Dialogs::default();
    hold(&dead, &mut held_by_dead, "d1");
    hold(&dead, &mut held_by_dead, "d2");
    // `dead` never beat (or its heartbeat ran out); the survivors do.
    beat(&first);
    beat(&second);
    let mut took_first = Dialogs::default();
    let mut ids = first.steps(|b| took_first.adopt_orphans(b)).unwrap();
    ids.sort();
    assert_eq!(ids, ["d1", "d2"]);
    let mut took_second = Dialogs::default();
    assert!(
        second
            .steps(|b| took_second.adopt_orphans(b))
            .unwrap()
            .is_empty(),
        "one survivor holds each dialog"
    );
    assert!(
        dead.steps(|b| held_by_dead.taken_elsewhere("d1", b))
            .unwrap()
    );
    assert_eq!(took_first.of_watcher(&"sato".parse().unwrap()), 2);
}

#[test]
fn on_sqlite_the_next_run_takes_over_the_last_runs_dialogs() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("presence.db");
    {
        // The agent beats only on a shared store: the last run did not.
        let last_run = instance(SqliteStore::open(&path).unwrap());
        hold(&last_run, &mut Dialogs::default(), "d1");
    }
    let next_run = instance(SqliteStore::open(&path).unwrap());
    let mut dialogs = Dialogs::default();
    assert_eq!(
        next_run.steps(|b| dialogs.adopt_orphans(b)).unwrap(),
        ["d1"]
    );
    let resumed = dialogs.get("d1").unwrap();
    assert_eq!(resumed.peer, Peer::Udp("192.0.2.7:5060".parse().unwrap()));
    assert!(resumed.expires_at > Instant::now() + Duration::from_secs(500));
}
