//! Presence requests: a watcher's open questions and watches, found by
//! notifier, by watcher and notifier, or by reference (a SIP dialog), and
//! the watches whose coalesced change falls due.

use mailpresence_protocol::mail::SubscribeMode;
use mailpresence_protocol::model::AccountName;
use rusqlite::{Row, params};

use super::{SqliteTx, account, ms, opt_time, time};
use crate::store::{Medium, Request, RequestState, Result, StoreError, Time};

pub(super) fn open_requests_for(
    tx: &SqliteTx<'_>,
    notifier: &AccountName,
    now: Time,
) -> Result<Vec<Request>> {
    tx.requests(
        "notifier = ?1 AND expires_at > ?2 AND (state = 'unprocessed' OR mode = 'watch')",
        params![notifier.as_str(), ms(now)],
    )
}

pub(super) fn open_requests_between(
    tx: &SqliteTx<'_>,
    watcher: &AccountName,
    notifier: &AccountName,
    now: Time,
) -> Result<Vec<Request>> {
    tx.requests(
        "watcher = ?1 AND notifier = ?2 AND expires_at > ?3 AND (state = 'unprocessed' OR mode = 'watch')",
        params![watcher.as_str(), notifier.as_str(), ms(now)],
    )
}

pub(super) fn add_request(tx: &mut SqliteTx<'_>, q: &Request) -> Result<i64> {
    tx.exec(
        "INSERT INTO request (watcher, notifier, medium, deliver_to, mode, state, created_at, expires_at, reference, last_notified_at, change_pending)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            q.watcher.as_str(), q.notifier.as_str(), q.medium.as_str(), q.deliver_to, mode_str(q.mode),
            state_str(q.state), ms(q.created_at), ms(q.expires_at), q.reference,
            q.last_notified_at.map(ms), q.change_pending
        ],
    )?;
    Ok(tx.conn.last_insert_rowid())
}

pub(super) fn update_request(tx: &mut SqliteTx<'_>, q: &Request) -> Result<()> {
    tx.exec(
        "UPDATE request SET state = ?2, expires_at = ?3, last_notified_at = ?4, change_pending = ?5 WHERE id = ?1",
        params![q.id, state_str(q.state), ms(q.expires_at), q.last_notified_at.map(ms), q.change_pending],
    )?;
    Ok(())
}

/// `ids` as a JSON array, for `json_each`: one statement whatever their number.
fn id_list(ids: &[i64]) -> String {
    let listed: Vec<String> = ids.iter().map(i64::to_string).collect();
    format!("[{}]", listed.join(","))
}

pub(super) fn mark_requests_notified(tx: &mut SqliteTx<'_>, ids: &[i64], at: Time) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    tx.exec(
        "UPDATE request SET state = ?1, last_notified_at = ?2, change_pending = 0
         WHERE id IN (SELECT value FROM json_each(?3))",
        params![state_str(RequestState::Processed), ms(at), id_list(ids)],
    )?;
    Ok(())
}

pub(super) fn mark_requests_owed(tx: &mut SqliteTx<'_>, ids: &[i64]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    tx.exec(
        "UPDATE request SET change_pending = 1 WHERE id IN (SELECT value FROM json_each(?1))",
        params![id_list(ids)],
    )?;
    Ok(())
}

pub(super) fn remove_requests_with_reference(
    tx: &mut SqliteTx<'_>,
    reference: &str,
) -> Result<usize> {
    Ok(tx.exec("DELETE FROM request WHERE reference = ?1", [reference])?)
}

pub(super) fn expire_requests(tx: &mut SqliteTx<'_>, now: Time) -> Result<usize> {
    // Answered once-requests are kept until expiry too: they are the record
    // that the question was answered.
    Ok(tx.exec("DELETE FROM request WHERE expires_at <= ?1", [ms(now)])?)
}

pub(super) fn due_watches(
    tx: &SqliteTx<'_>,
    mail_before: Time,
    sip_before: Time,
    now: Time,
) -> Result<Vec<Request>> {
    tx.requests(
        "mode = 'watch' AND change_pending = 1 AND expires_at > ?3 AND (last_notified_at IS NULL \
         OR last_notified_at <= CASE medium WHEN 'sip' THEN ?2 ELSE ?1 END)",
        params![ms(mail_before), ms(sip_before), ms(now)],
    )
}

fn mode_str(m: SubscribeMode) -> &'static str {
    m.as_str()
}

fn request_from_row(row: &Row<'_>) -> rusqlite::Result<RawRequest> {
    Ok(RawRequest {
        id: row.get(0)?,
        watcher: row.get(1)?,
        notifier: row.get(2)?,
        medium: row.get(3)?,
        deliver_to: row.get(4)?,
        mode: row.get(5)?,
        state: row.get(6)?,
        created_at: row.get(7)?,
        expires_at: row.get(8)?,
        reference: row.get(9)?,
        last_notified_at: row.get(10)?,
        change_pending: row.get(11)?,
    })
}

const REQUEST_COLUMNS: &str = "id, watcher, notifier, medium, deliver_to, mode, state, created_at, expires_at, reference, last_notified_at, change_pending";

/// A request row before its values are checked.
struct RawRequest {
    id: i64,
    watcher: String,
    notifier: String,
    medium: String,
    deliver_to: String,
    mode: String,
    state: String,
    created_at: i64,
    expires_at: i64,
    reference: Option<String>,
    last_notified_at: Option<i64>,
    change_pending: bool,
}

impl RawRequest {
    fn check(self) -> Result<Request> {
        Ok(Request {
            id: self.id,
            watcher: account(self.watcher)?,
            notifier: account(self.notifier)?,
            medium: Medium::parse(&self.medium)?,
            deliver_to: self.deliver_to,
            mode: match self.mode.as_str() {
                "once" => SubscribeMode::Once,
                "watch" => SubscribeMode::Watch,
                other => return Err(StoreError::Corrupt(format!("mode {other:?}"))),
            },
            state: match self.state.as_str() {
                "unprocessed" => RequestState::Unprocessed,
                "processed" => RequestState::Processed,
                other => return Err(StoreError::Corrupt(format!("state {other:?}"))),
            },
            created_at: time(self.created_at)?,
            expires_at: time(self.expires_at)?,
            reference: self.reference,
            last_notified_at: opt_time(self.last_notified_at)?,
            change_pending: self.change_pending,
        })
    }
}

fn state_str(s: RequestState) -> &'static str {
    match s {
        RequestState::Unprocessed => "unprocessed",
        RequestState::Processed => "processed",
    }
}

impl SqliteTx<'_> {
    fn requests(&self, sql_where: &str, params: impl rusqlite::Params) -> Result<Vec<Request>> {
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM request WHERE {sql_where} ORDER BY id");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let raw = stmt
            .query_map(params, request_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        raw.into_iter().map(RawRequest::check).collect()
    }
}
