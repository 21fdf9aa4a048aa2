//! Each person's enrolled phones and their public keys: enrolled, listed,
//! seen, revoked (one device, or all of a person's when they leave).

use rusqlite::params;

use super::{SqliteTx, ms, time};
pub use crate::store::Device;
use crate::store::{Result, Time};

impl SqliteTx<'_> {
    /// Binds `public_key` to `account` as a new device; its id.
    pub(super) fn enrol_device(
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
    pub(super) fn list_devices(&self, account: &str) -> Result<Vec<Device>> {
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
    pub(super) fn revoke_device_of(&mut self, account: &str, id: i64, now: Time) -> Result<bool> {
        let changed = self.exec(
            "UPDATE device SET revoked_at = ?3 WHERE account = ?1 AND id = ?2 AND revoked_at IS NULL",
            params![account, id, ms(now)],
        )?;
        Ok(changed > 0)
    }

    /// Revokes every live device of `account` (they left the company).
    pub(super) fn revoke_devices_of(&mut self, account: &str, now: Time) -> Result<usize> {
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
