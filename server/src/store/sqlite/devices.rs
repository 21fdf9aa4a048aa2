//! Each person's enrolled phones and their public keys: enrolled, listed,
//! seen, revoked (one device, or all of a person's when they leave).

use rusqlite::params;

use super::{SqliteTx, ms, time};
use crate::store::{Result, Time};

/// One enrolled phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub id: i64,
    pub account: String,
    pub name: String,
    /// base64url of the Ed25519 public key.
    pub public_key: String,
    pub enrolled_at: Time,
    pub last_seen_at: Option<Time>,
    pub revoked_at: Option<Time>,
}

impl SqliteTx<'_> {
    /// Binds `public_key` to `account` as a new device; its id.
    pub fn enrol_device(
        &mut self,
        account: &str,
        name: &str,
        public_key: &str,
        now: Time,
    ) -> Result<i64> {
        self.exec(
            "INSERT INTO device (account, name, public_key, enrolled_at) VALUES (?1, ?2, ?3, ?4)",
            params![account, name, public_key, ms(now)],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// A person's devices, revoked ones too, oldest first.
    pub fn devices_of(&self, account: &str) -> Result<Vec<Device>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, account, name, public_key, enrolled_at, last_seen_at, revoked_at
             FROM device WHERE account = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([account], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, Option<i64>>(5)?,
                r.get::<_, Option<i64>>(6)?,
            ))
        })?;
        let mut devices = Vec::new();
        for row in rows {
            let (id, account, name, public_key, enrolled, seen, revoked) = row?;
            devices.push(Device {
                id,
                account,
                name,
                public_key,
                enrolled_at: time(enrolled)?,
                last_seen_at: seen.map(time).transpose()?,
                revoked_at: revoked.map(time).transpose()?,
            });
        }
        Ok(devices)
    }

    /// Revokes one device of `account`; whether there was such a live one.
    pub fn revoke_device(&mut self, account: &str, id: i64, now: Time) -> Result<bool> {
        let changed = self.exec(
            "UPDATE device SET revoked_at = ?3 WHERE account = ?1 AND id = ?2 AND revoked_at IS NULL",
            params![account, id, ms(now)],
        )?;
        Ok(changed > 0)
    }

    /// Revokes every live device of `account` (they left the company).
    pub fn revoke_devices_of(&mut self, account: &str, now: Time) -> Result<usize> {
        Ok(self.exec(
            "UPDATE device SET revoked_at = ?2 WHERE account = ?1 AND revoked_at IS NULL",
            params![account, ms(now)],
        )?)
    }
}

/// `account`'s unrevoked devices: (id, public key).
pub(super) fn live_keys(tx: &SqliteTx<'_>, account: &str) -> Result<Vec<(i64, String)>> {
    let mut stmt = tx.conn.prepare_cached(
        "SELECT id, public_key FROM device WHERE account = ?1 AND revoked_at IS NULL ORDER BY id",
    )?;
    let rows = stmt
        .query_map([account], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

pub(super) fn seen(tx: &SqliteTx<'_>, id: i64, now: Time) -> Result<()> {
    tx.conn
        .prepare_cached("UPDATE device SET last_seen_at = ?2 WHERE id = ?1")?
        .execute(params![id, ms(now)])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test may stop at the first surprise

    use chrono::Utc;

    use super::super::SqliteStore;
    use crate::store::Store;

    #[test]
    fn a_device_is_enrolled_listed_and_revoked_once() {
        let mut store = SqliteStore::in_memory().unwrap();
        let now = Utc::now();
        let (id, again, other) = store
            .transaction(|tx| {
                let id = tx.enrol_device("tanaka", "Pixel 8", "key-a", now)?;
                tx.enrol_device("tanaka", "iPad", "key-b", now)?;
                let first = tx.revoke_device("tanaka", id, now)?;
                let again = tx.revoke_device("tanaka", id, now)?;
                // Someone else's device id is not tanaka's to revoke.
                let sato = tx.enrol_device("sato", "iPhone", "key-c", now)?;
                let other = tx.revoke_device("tanaka", sato, now)?;
                assert!(first);
                Ok::<_, crate::store::StoreError>((id, again, other))
            })
            .unwrap();
        assert!(!again && !other);
        let list = store.transaction(|tx| tx.devices_of("tanaka")).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].id, id);
        assert!(list[0].revoked_at.is_some() && list[1].revoked_at.is_none());
        // Leaving the company revokes the rest, through forget_person.
        store
            .transaction(|tx| tx.forget_person(&"tanaka".parse().unwrap(), now))
            .unwrap();
        let list = store.transaction(|tx| tx.devices_of("tanaka")).unwrap();
        assert!(list.iter().all(|d| d.revoked_at.is_some()));
        let sato = store.transaction(|tx| tx.devices_of("sato")).unwrap();
        assert!(sato[0].revoked_at.is_none());
    }
}
