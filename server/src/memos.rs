//! The 伝言メモ the board holds: each memo in the store as an expiring record
//! (it survives a restart and is gone after [`MEMO_DAYS`]), a copy of the
//! live ones in memory so that rows are made without reading the store
//! (the copy changes only under the store's lock, right after its commit;
//! on a shared store, also when another instance announces the colleague's
//! row changed, see `instances.rs`; kept by the hub for that reason),
//! and the bounds that keep one desk worker from flooding a colleague's row
//! or mailbox: [`MEMOS_PER_PERSON`] live memos per colleague, and
//! [`MEMOS_PER_TAKER_HOUR`] memos taken per desk worker and hour. Each memo
//! is one mail at most, so these bound the mail too.
//!
//! Who sees what: a colleague's row shows how many memos wait for them to
//! everyone who sees the row; what a memo says only to the colleague it is
//! for and to the desk worker who took it, who are also the ones who may
//! clear it.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::Duration;
use mailpresence_protocol::memo::{Memo, tel_uri};
use mailpresence_protocol::model::AccountName;
use serde::{Deserialize, Serialize};

use crate::store::{Store, StoreError, Time};

/// The store's kind of memo records.
const MEMO_KIND: &str = "board-memo";
/// Live memos one colleague may have waiting.
pub const MEMOS_PER_PERSON: usize = 5;
/// Memos one desk worker may leave in an hour (for everyone together).
pub const MEMOS_PER_TAKER_HOUR: usize = 10;
/// Days a memo stays on the board when nobody clears it.
pub const MEMO_DAYS: i64 = 7;

/// One memo as the store keeps it: the memo and the account of its taker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMemo {
    pub memo: Memo,
    pub taker: String,
    /// When it leaves the board by itself.
    pub expires_at: Time,
}

/// Why a memo was not left.
#[derive(Debug, thiserror::Error)]
pub enum LeaveError {
    #[error("{0} memos already wait for this colleague")]
    Full(usize),
    #[error("{0} memos were left by you in the last hour")]
    TooMany(usize),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// The live memos by colleague, as the store has them.
#[derive(Debug, Default)]
pub struct MemoBoard(Mutex<HashMap<String, Vec<StoredMemo>>>);

/// A row's memos as one viewer may see them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RowMemos {
    /// How many wait for the person.
    pub count: usize,
    /// Those the viewer may read (and clear).
    pub items: Vec<MemoView>,
}

/// One memo as the board shows it.
#[derive(Debug, Clone, Serialize)]
pub struct MemoView {
    pub id: String,
    pub caller: String,
    pub callback: Option<String>,
    /// `tel:` of the callback number, for a click to call.
    pub callback_uri: Option<String>,
    pub message: Option<String>,
    pub taken_by: String,
    /// RFC 3339.
    pub taken_at: String,
}

impl MemoBoard {
    /// Takes the live memos of the store (at the start).
    pub fn load(&self, tx: &dyn Store, now: Time) -> Result<(), StoreError> {
        let mut all: HashMap<String, Vec<StoredMemo>> = HashMap::new();
        for memo in live(tx, now)? {
            all.entry(memo.memo.recipient.to_string())
                .or_default()
                .push(memo);
        }
        *self.lock() = all;
        Ok(())
    }

    /// Reads `person`'s memos from the store again (another instance may
    /// have left or cleared one).
    pub fn reload(
        &self,
        tx: &dyn Store,
        person: &AccountName,
        now: Time,
    ) -> Result<(), StoreError> {
        self.settle(person, of(live(tx, now)?, person));
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<StoredMemo>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What `viewer` may see of the memos waiting for `person` at `now`.
    pub fn row(&self, viewer: &AccountName, person: &AccountName, now: Time) -> RowMemos {
        let all = self.lock();
        let Some(memos) = all.get(person.as_str()) else {
            return RowMemos::default();
        };
        let live: Vec<&StoredMemo> = memos.iter().filter(|m| m.expires_at > now).collect();
        let items = live
            .iter()
            .filter(|m| viewer == person || m.taker == viewer.as_str())
            .map(|m| view(&m.memo))
            .collect();
        RowMemos {
            count: live.len(),
            items,
        }
    }

    /// Stores `memo` (taken by `taker`) if the bounds allow it; the memos of
    /// the colleague after it are kept in memory by [`MemoBoard::settle`]
    /// once the transaction committed.
    pub fn leave(
        tx: &mut dyn Store,
        memo: Memo,
        taker: &AccountName,
        now: Time,
    ) -> Result<Vec<StoredMemo>, LeaveError> {
        let all = live(tx, now)?;
        let waiting = all
            .iter()
            .filter(|m| m.memo.recipient == memo.recipient)
            .count();
        if waiting >= MEMOS_PER_PERSON {
            return Err(LeaveError::Full(waiting));
        }
        let hour_ago = now - Duration::hours(1);
        let taken = all
            .iter()
            .filter(|m| m.taker == taker.as_str() && m.memo.taken_at > hour_ago)
            .count();
        if taken >= MEMOS_PER_TAKER_HOUR {
            return Err(LeaveError::TooMany(taken));
        }
        let stored = StoredMemo {
            taker: taker.to_string(),
            expires_at: now + Duration::days(MEMO_DAYS),
            memo,
        };
        let text = serde_json::to_string(&stored).unwrap_or_default();
        tx.put_record(
            MEMO_KIND,
            &key(&stored.memo.recipient, &stored.memo.id),
            &text,
            stored.expires_at,
        )?;
        Ok(of(live(tx, now)?, &stored.memo.recipient))
    }

    /// Removes the memo `id` for `person` if `viewer` may clear it (the
    /// colleague, or its taker); returns the memos left, or `None` when
    /// there was no such memo for this viewer.
    pub fn clear(
        tx: &mut dyn Store,
        viewer: &AccountName,
        person: &AccountName,
        id: &str,
        now: Time,
    ) -> Result<Option<Vec<StoredMemo>>, StoreError> {
        let all = live(tx, now)?;
        let found = all
            .iter()
            .find(|m| m.memo.recipient == *person && m.memo.id == id);
        let allowed = found.is_some_and(|m| viewer == person || m.taker == viewer.as_str());
        if !allowed {
            return Ok(None);
        }
        tx.delete_record(MEMO_KIND, &key(person, id))?;
        Ok(Some(of(live(tx, now)?, person)))
    }

    /// After a commit (still under the store's lock): `person`'s memos are these.
    pub fn settle(&self, person: &AccountName, memos: Vec<StoredMemo>) {
        let mut all = self.lock();
        if memos.is_empty() {
            all.remove(person.as_str());
        } else {
            all.insert(person.to_string(), memos);
        }
    }
}

fn key(person: &AccountName, id: &str) -> String {
    format!("{person}/{id}")
}

/// Every live memo in the store (a few per person at most).
fn live(tx: &dyn Store, now: Time) -> Result<Vec<StoredMemo>, StoreError> {
    Ok(tx
        .records(MEMO_KIND, now)?
        .into_iter()
        .filter_map(|(key, text, _)| match serde_json::from_str(&text) {
            Ok(memo) => Some(memo),
            Err(e) => {
                tracing::warn!(key, error = %e, "board: an unreadable memo record is skipped");
                None
            }
        })
        .collect())
}

/// `person`'s memos among `all`, oldest first.
fn of(all: Vec<StoredMemo>, person: &AccountName) -> Vec<StoredMemo> {
    let mut mine: Vec<StoredMemo> = all
        .into_iter()
        .filter(|m| m.memo.recipient == *person)
        .collect();
    mine.sort_by_key(|m| m.memo.taken_at);
    mine
}

fn view(memo: &Memo) -> MemoView {
    MemoView {
        id: memo.id.clone(),
        caller: memo.caller.clone(),
        callback_uri: memo.callback.as_deref().and_then(tel_uri),
        callback: memo.callback.clone(),
        message: memo.message.clone(),
        taken_by: memo.taken_by.clone(),
        taken_at: memo.taken_at.to_rfc3339(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::store::SqliteStore;
    use chrono::Utc;

    fn memo(to: &str, id: &str, at: Time) -> Memo {
        Memo {
            recipient: to.parse().unwrap(),
            id: id.into(),
            taken_by: "佐藤 一郎".into(),
            taken_at: at.fixed_offset(),
            caller: "山田商事 山田様".into(),
            callback: Some("03-1234-5678".into()),
            message: Some("見積の件".into()),
        }
    }

    fn account(a: &str) -> AccountName {
        a.parse().unwrap()
    }

    #[test]
    fn a_colleague_holds_a_bounded_number_of_memos_and_a_taker_a_bounded_rate() {
        let mut store = SqliteStore::in_memory().unwrap();
        let now = Utc::now();
        let sato = account("sato");
        let left = |store: &mut SqliteStore, to: &str, id: &str, by: &AccountName, at: Time| {
            store.transaction(|tx| MemoBoard::leave(tx, memo(to, id, at), by, at))
        };
        for i in 0..MEMOS_PER_PERSON {
            let memos = left(&mut store, "tanaka", &format!("t{i}"), &sato, now).unwrap();
            assert_eq!(memos.len(), i + 1);
        }
        let full = left(&mut store, "tanaka", "t9", &account("ito"), now);
        assert!(matches!(full, Err(LeaveError::Full(5))), "{full:?}");
        for i in MEMOS_PER_PERSON..MEMOS_PER_TAKER_HOUR {
            left(&mut store, "suzuki", &format!("s{i}"), &sato, now).unwrap();
        }
        // Five for tanaka, five for suzuki: sato has left ten this hour.
        left(&mut store, "kato", "k0", &sato, now).unwrap_err();
        // Another desk worker may still leave one for kato, and sato an hour later.
        left(&mut store, "kato", "k1", &account("ito"), now).unwrap();
        let later = now + Duration::minutes(61);
        left(&mut store, "kato", "k2", &sato, later).unwrap();
    }

    #[test]
    fn only_the_colleague_and_the_taker_read_and_clear_a_memo_and_it_expires() {
        let mut store = SqliteStore::in_memory().unwrap();
        let now = Utc::now();
        let (sato, tanaka, ito) = (account("sato"), account("tanaka"), account("ito"));
        let memos = store
            .transaction(|tx| MemoBoard::leave(tx, memo("tanaka", "m1", now), &sato, now))
            .unwrap();
        let board = MemoBoard::default();
        board.settle(&tanaka, memos);
        let seen_by = |who: &AccountName| board.row(who, &tanaka, now);
        assert_eq!(seen_by(&tanaka).items.len(), 1);
        assert_eq!(seen_by(&sato).items[0].caller, "山田商事 山田様");
        assert_eq!(seen_by(&ito).count, 1);
        assert!(seen_by(&ito).items.is_empty(), "ito did not take it");
        assert_eq!(
            seen_by(&tanaka).items[0].callback_uri.as_deref(),
            Some("tel:0312345678")
        );
        let gone = now + Duration::days(MEMO_DAYS) + Duration::seconds(1);
        assert_eq!(board.row(&tanaka, &tanaka, gone).count, 0);
        // ito may not clear it; tanaka may.
        let by_ito = store
            .transaction(|tx| MemoBoard::clear(tx, &ito, &tanaka, "m1", now))
            .unwrap();
        assert!(by_ito.is_none());
        let by_tanaka = store
            .transaction(|tx| MemoBoard::clear(tx, &tanaka, &tanaka, "m1", now))
            .unwrap();
        assert_eq!(by_tanaka.map(|m| m.len()), Some(0));
        let reloaded = MemoBoard::default();
        store.transaction(|tx| reloaded.load(tx, now)).unwrap();
        assert_eq!(reloaded.row(&tanaka, &tanaka, now).count, 0);
    }
}
