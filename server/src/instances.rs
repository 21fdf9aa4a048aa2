//! What passes between server instances on one PostgreSQL store: a change
//! committed through another instance reaches this one's board streams and
//! the desk phones subscribed through this one. The other's commits are
//! announced on the database's change feed (in commit order); each record is
//! read back from the store and handed to the feed, and what each SIP
//! watcher may see of it to the SIP agent (which sends it in the dialogs it
//! holds and leaves the others' to them). Supervised like the other loops: a
//! lost listening connection is an error, and listening starts again.

use std::sync::Arc;

use tokio::sync::watch;
use tracing::{debug, warn};

use mailpresence_protocol::model::AccountName;

use crate::engine::{Delivery, Engine};
use crate::hub::Hub;
use crate::store::{ChangeListener, Medium, PostgresSettings, Store, StoreError, Time};
use crate::supervisor::Loops;

/// The supervisor's name for this loop.
pub const LOOP: &str = "instances";

#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("the change feed's connection closed; changes meanwhile may be missed")]
    Closed,
}

/// Follows the other instances' commits until shutdown.
pub async fn follow(
    hub: Arc<Hub>,
    settings: PostgresSettings,
    loops: Arc<Loops>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), FollowError> {
    let mut listener = ChangeListener::listen(&settings).await?;
    loops.running(LOOP, Some(settings.location()));
    loop {
        let announced = tokio::select! {
            announced = listener.next() => announced.ok_or(FollowError::Closed)?,
            _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
        };
        if announced.instance == hub.instance {
            continue;
        }
        let Ok(account) = announced.account.parse() else {
            warn!(account = %announced.account, "change feed: not an account; skipped");
            continue;
        };
        let engine = hub.engine();
        let mut store = hub.store();
        let (record, sip) = store.transaction(|tx| {
            let now = chrono::Utc::now();
            let record = tx.presence(&account)?;
            // Memos hang beside the row: one left or cleared on the other
            // instance's board is announced the same way.
            hub.memos.reload(tx, &account, now)?;
            let sip = sip_views(&engine, tx, &account, now)?;
            Ok::<_, StoreError>((record, sip))
        })?;
        if record.is_none() {
            debug!(%account, "change feed: no presence (forgotten, or only memos)");
        }
        // Under the store's lock, as after a commit here: rows in order.
        hub.feed.push_person(account, record);
        drop(store);
        hub.hand_to_sip(sip);
    }
}

/// What each SIP watcher of `notifier` may see of them now: one delivery per
/// open SIP request, for the agent to send in the dialogs it holds.
fn sip_views(
    engine: &Engine,
    tx: &mut dyn Store,
    notifier: &AccountName,
    now: Time,
) -> Result<Vec<Delivery>, StoreError> {
    let mut deliveries = Vec::new();
    for q in tx.open_requests_for(notifier, now)? {
        if q.medium != Medium::Sip {
            continue;
        }
        if let Ok(Some(notify)) = engine.current_view(tx, &q.watcher, notifier, now)? {
            deliveries.push(Delivery {
                watcher: q.watcher,
                medium: Medium::Sip,
                to: q.deliver_to,
                reference: q.reference,
                notify,
                stale: false,
            });
        }
    }
    Ok(deliveries)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test may stop at the first surprise

    use std::time::Duration;

    use mailpresence_protocol::model::{Activity, ActivityToken, PresenceFields};

    use super::*;
    use crate::config::{Person, Rule};
    use crate::directory::Directory;
    use crate::engine::Engine;
    use crate::store::PgStore;
    use crate::store::tests::fresh_postgres_settings;

    fn instance(settings: &PostgresSettings) -> Arc<Hub> {
        let people: Vec<Person> = ["tanaka", "sato"]
            .iter()
            .map(|a| Person {
                account: (*a).into(),
                name: String::new(),
                mail: Some(format!("{a}@example.test")),
                sip: None,
                sip_password: None,
                reading: None,
                extension: None,
                mobile: None,
                department: None,
                groups: Vec::new(),
            })
            .collect();
        let rules = [Rule {
            watchers: vec!["*".into()],
            may_see: vec!["*".into()],
            location: true,
        }];
        let engine = Engine::new(
            Directory::from_config(&people, &rules),
            Default::default(),
            "presence@example.test",
        );
        Hub::new(
            PgStore::open(settings.clone()).unwrap(),
            engine,
            "presence@example.test".into(),
        )
    }

    fn publish(hub: &Hub, who: &str, activity: ActivityToken) {
        let account = who.parse().unwrap();
        hub.step(|engine, tx, now| {
            let fields =
                PresenceFields::new(format!("{who}@example.test"), Activity::token(activity));
            engine
                .publish(tx, &account, fields, Medium::Mail, now)
                .map(Some)
        })
        .unwrap();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_change_committed_through_one_instance_reaches_the_others_board_in_commit_order() {
        let settings = fresh_postgres_settings();
        let (one, other) = (instance(&settings), instance(&settings));
        let (_stop, shutdown) = watch::channel(false);
        let (mut own, _) = one.feed.subscribe(None);
        let (mut board, _) = other.feed.subscribe(None);
        let following = tokio::spawn(follow(
            other.clone(),
            settings.clone(),
            Loops::new(other.clone()),
            shutdown,
        ));
        // Listening before the commits (the loop reports itself running).
        tokio::time::sleep(Duration::from_millis(500)).await;
        publish(&one, "tanaka", ActivityToken::Busy);
        publish(&one, "sato", ActivityToken::Away);
        let mut seen = Vec::new();
        for _ in 0..2 {
            let change = tokio::time::timeout(Duration::from_secs(5), board.recv())
                .await
                .expect("the other instance's board got the change")
                .unwrap();
            seen.push(change.account.as_str().to_owned());
        }
        assert_eq!(seen, ["tanaka", "sato"], "in commit order");
        // The instance that committed has it once, from its own commit.
        assert_eq!(own.recv().await.unwrap().account.as_str(), "tanaka");
        assert_eq!(own.recv().await.unwrap().account.as_str(), "sato");
        assert!(own.try_recv().is_err(), "its own announcement is skipped");
        following.abort();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_desk_phone_subscribed_through_the_other_instance_is_told_of_the_change() {
        let settings = fresh_postgres_settings();
        let (one, other) = (instance(&settings), instance(&settings));
        // sato's desk phone watches tanaka through `other` (dialog-1).
        let now = chrono::Utc::now();
        other
            .store()
            .transaction(|tx| {
                tx.add_request(&crate::store::Request {
                    id: 0,
                    watcher: "sato".parse().unwrap(),
                    notifier: "tanaka".parse().unwrap(),
                    medium: Medium::Sip,
                    deliver_to: "sip:sato@example.test".into(),
                    mode: mailpresence_protocol::mail::SubscribeMode::Watch,
                    state: crate::store::RequestState::Processed,
                    created_at: now,
                    expires_at: now + chrono::Duration::hours(1),
                    reference: Some("dialog-1".into()),
                    last_notified_at: None,
                    change_pending: false,
                })
            })
            .unwrap();
        let (to_sip, mut sip) = tokio::sync::mpsc::unbounded_channel();
        other.connect_sip(to_sip);
        let (_stop, shutdown) = watch::channel(false);
        let following = tokio::spawn(follow(
            other.clone(),
            settings,
            Loops::new(other.clone()),
            shutdown,
        ));
        tokio::time::sleep(Duration::from_millis(500)).await;
        publish(&one, "tanaka", ActivityToken::Busy);
        let delivery = tokio::time::timeout(Duration::from_secs(5), sip.recv())
            .await
            .expect("the other instance's SIP agent got the change")
            .unwrap();
        assert_eq!(delivery.reference.as_deref(), Some("dialog-1"));
        assert_eq!(delivery.watcher.as_str(), "sato");
        assert_eq!(
            delivery.notify.presence.activity,
            Activity::token(ActivityToken::Busy)
        );
        following.abort();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_memo_left_on_one_instances_board_shows_on_the_others_row() {
        use crate::memos::MemoBoard;
        use mailpresence_protocol::memo::Memo;

        let settings = fresh_postgres_settings();
        let (one, other) = (instance(&settings), instance(&settings));
        let (_stop, shutdown) = watch::channel(false);
        let (mut board, _) = other.feed.subscribe(None);
        let following = tokio::spawn(follow(
            other.clone(),
            settings,
            Loops::new(other.clone()),
            shutdown,
        ));
        tokio::time::sleep(Duration::from_millis(500)).await;
        // sato leaves a memo for tanaka (who never published) on the first
        // instance's board, as its handler does: stored and announced.
        let (tanaka, sato) = ("tanaka".parse().unwrap(), "sato".parse().unwrap());
        let now = chrono::Utc::now();
        let memo = Memo {
            recipient: "tanaka".parse().unwrap(),
            id: "m1".into(),
            taken_by: "佐藤".into(),
            taken_at: now.fixed_offset(),
            caller: "山田商事 山田様".into(),
            callback: None,
            message: Some("折り返しお願いします".into()),
        };
        {
            let mut store = one.store();
            let mut batch = store.batch().unwrap();
            batch
                .step(|tx| MemoBoard::leave(tx, memo, &sato, now))
                .unwrap();
            batch.announce(&one.instance, &["tanaka"]).unwrap();
            batch.commit().unwrap();
        }
        let change = tokio::time::timeout(Duration::from_secs(5), board.recv())
            .await
            .expect("the other instance's board was told")
            .unwrap();
        assert_eq!(change.account.as_str(), "tanaka");
        assert!(
            change.record.is_none(),
            "tanaka has no presence, only a memo"
        );
        let row = other.memos.row(&tanaka, &tanaka, chrono::Utc::now());
        assert_eq!(row.count, 1, "the memo is on the other's row");
        assert_eq!(row.items[0].caller, "山田商事 山田様");
        following.abort();
    }
}
