//! Presence records: the latest one per person, and forgetting locations
//! once they expire.

use mailpresence_protocol::model::{AccountName, PresenceFields};
use rusqlite::{OptionalExtension, params};

use super::{SqliteTx, account, ms, opt_time, time};
use crate::store::{Medium, PresenceRecord, Result, Store, StoreError, Time};

pub(super) fn presence(tx: &SqliteTx<'_>, account: &AccountName) -> Result<Option<PresenceRecord>> {
    let row = tx.one_row(
            "SELECT fields, source, received_at, location_expires_at FROM presence WHERE account = ?1",
            [account.as_str()],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get::<_, Option<i64>>(3)?)),
        )
        .optional()?;
    let Some((fields, source, received, loc_exp)) = row else {
        return Ok(None);
    };
    let fields: PresenceFields = serde_json::from_str(&fields)
        .map_err(|e| StoreError::Corrupt(format!("presence of {account}: {e}")))?;
    Ok(Some(PresenceRecord {
        account: account.clone(),
        fields,
        source: Medium::parse(&source)?,
        received_at: time(received)?,
        location_expires_at: opt_time(loc_exp)?,
    }))
}

pub(super) fn save_presence(tx: &mut SqliteTx<'_>, r: &PresenceRecord) -> Result<()> {
    let fields =
        serde_json::to_string(&r.fields).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    tx.exec(
        "INSERT INTO presence (account, fields, source, received_at, location_expires_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(account) DO UPDATE SET fields = ?2, source = ?3, received_at = ?4, location_expires_at = ?5",
        params![r.account.as_str(), fields, r.source.as_str(), ms(r.received_at), r.location_expires_at.map(ms)],
    )?;
    Ok(())
}

pub(super) fn expire_locations(tx: &mut SqliteTx<'_>, now: Time) -> Result<usize> {
    let expired: Vec<String> = {
        let mut stmt = tx
            .conn
            .prepare_cached("SELECT account FROM presence WHERE location_expires_at IS NOT NULL AND location_expires_at <= ?1")?;
        stmt.query_map([ms(now)], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?
    };
    for name in &expired {
        let acc = account(name.clone())?;
        if let Some(mut rec) = tx.presence(&acc)? {
            rec.fields.location = None;
            rec.fields.coordinates = None;
            rec.fields.address = None;
            rec.location_expires_at = None;
            tx.save_presence(&rec)?;
        }
    }
    Ok(expired.len())
}
