//! The SIP agent's state that outlives a restart — subscription dialogs,
//! publications, registrar bindings — as JSON records in the store, each
//! under its kind and key, gone when it expires; each kind is written and
//! read only by the part that owns that state. Writes join the group being
//! committed, so a record is durable exactly when what it describes is.

use std::collections::HashSet;
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::warn;

use crate::hub::{Batch, Hub};
use crate::store::StoreError;

/// Kinds of records.
pub(super) const DIALOG: &str = "dialog";
pub(super) const PUBLICATION: &str = "publication";
pub(super) const BINDING: &str = "binding";
/// An instance's heartbeat on a shared store: its key is the instance, and
/// while it is live the instance holds its dialogs (see `dialogs`).
pub(super) const INSTANCE: &str = "instance";

/// Stores `record` as `kind`/`key` for `lasts` more, with the group.
pub(super) fn put<T: Serialize>(
    b: &mut Batch<'_>,
    kind: &str,
    key: &str,
    record: &T,
    lasts: Duration,
) {
    let result = b.step(|_, tx, now| {
        let json = serde_json::to_string(record)
            .map_err(|e| StoreError::Corrupt(format!("{kind} record: {e}")))?;
        let expires_at = now + chrono::Duration::from_std(lasts).unwrap_or_default();
        tx.put_record(kind, key, &json, expires_at)?;
        Ok(None)
    });
    if let Err(e) = result {
        warn!(error = %e, %kind, %key, "SIP state not stored; it ends with a restart");
    }
}

/// Removes `kind`/`key` from the store, with the group.
pub(super) fn delete(b: &mut Batch<'_>, kind: &str, key: &str) {
    let result = b.step(|_, tx, _| {
        tx.delete_record(kind, key)?;
        Ok(None)
    });
    if let Err(e) = result {
        warn!(error = %e, %kind, %key, "stored SIP state not removed");
    }
}

/// The live records of `kind` stored by an earlier run, with how long each
/// has left; expired ones are dropped on the way, unreadable ones skipped.
pub(super) fn load<T: DeserializeOwned>(hub: &Hub, kind: &str) -> Vec<(String, T, Duration)> {
    let mut rows = Vec::new();
    let read = hub.step(|_, tx, now| {
        tx.expire_records(now)?;
        rows = tx.records(kind, now)?;
        Ok(None)
    });
    if let Err(e) = read {
        warn!(error = %e, %kind, "stored SIP state not readable; phones renew it on their refresh");
    }
    let now = Utc::now();
    rows.into_iter()
        .filter_map(
            |(key, json, expires_at)| match serde_json::from_str(&json) {
                Ok(record) => Some((key, record, (expires_at - now).to_std().unwrap_or_default())),
                Err(e) => {
                    warn!(%kind, %key, error = %e, "stored SIP state unreadable; skipped");
                    None
                }
            },
        )
        .collect()
}

/// A record one instance holds on a shared store (a dialog, a publication):
/// it names that instance, the only one that acts on it.
pub(super) trait Held: Serialize + DeserializeOwned {
    fn owner(&self) -> &str;
    fn set_owner(&mut self, instance: &str);
}

/// Takes over the live records of `kind` whose instance is gone — one whose
/// heartbeat is not live, or an earlier run of this server — in one step of
/// the group, so that two survivors cannot both take one: each is stored
/// again as this instance's. Returns them with the time each has left;
/// unreadable ones are skipped.
pub(super) fn adopt_orphans<T: Held>(
    b: &mut Batch<'_>,
    kind: &str,
) -> Result<Vec<(String, T, Duration)>, StoreError> {
    let me = b.instance().to_owned();
    let mut adopted = Vec::new();
    b.step(|_, tx, now| {
        let live: HashSet<String> = tx
            .records(INSTANCE, now)?
            .into_iter()
            .map(|(instance, ..)| instance)
            .collect();
        for (key, json, expires_at) in tx.records(kind, now)? {
            let Ok(mut record) = serde_json::from_str::<T>(&json) else {
                warn!(%kind, %key, "stored SIP state unreadable; skipped");
                continue;
            };
            if record.owner() == me || live.contains(record.owner()) {
                continue;
            }
            record.set_owner(&me);
            let json = serde_json::to_string(&record)
                .map_err(|e| StoreError::Corrupt(format!("{kind} record: {e}")))?;
            tx.put_record(kind, &key, &json, expires_at)?;
            let left = (expires_at - now).to_std().unwrap_or_default();
            adopted.push((key, record, left));
        }
        Ok(None)
    })?;
    Ok(adopted)
}
