//! The [`Store`] operations on PostgreSQL: the same rows as SQLite's files
//! (`sqlite/presence.rs`, `requests.rs`, `outbox.rs` …) hold, in PostgreSQL's
//! SQL. Times are unix ms in BIGINT columns, as in SQLite.

use mailpresence_protocol::mail::SubscribeMode;
use mailpresence_protocol::model::{AccountName, PresenceFields};
use tokio_postgres::Row;

use super::PgTx;
use crate::store::sqlite::{account, ms, opt_time, time};
use crate::store::{
    Counts, Device, Medium, OutboxMail, PresenceRecord, Request, RequestState, Result, SignInBy,
    Store, StoreError, Time,
};

/// An hour in unix ms.
const HOUR_MS: i64 = 3_600_000;

const REQUEST_COLUMNS: &str = "id, watcher, notifier, medium, deliver_to, mode, state, created_at, expires_at, reference, last_notified_at, change_pending";

fn request(row: &Row) -> Result<Request> {
    let mode: String = row.try_get(5)?;
    let state: String = row.try_get(6)?;
    Ok(Request {
        id: row.try_get(0)?,
        watcher: account(row.try_get(1)?)?,
        notifier: account(row.try_get(2)?)?,
        medium: Medium::parse(row.try_get(3)?)?,
        deliver_to: row.try_get(4)?,
        mode: match mode.as_str() {
            "once" => SubscribeMode::Once,
            "watch" => SubscribeMode::Watch,
            other => return Err(StoreError::Corrupt(format!("mode {other:?}"))),
        },
        state: match state.as_str() {
            "unprocessed" => RequestState::Unprocessed,
            "processed" => RequestState::Processed,
            other => return Err(StoreError::Corrupt(format!("state {other:?}"))),
        },
        created_at: time(row.try_get(7)?)?,
        expires_at: time(row.try_get(8)?)?,
        reference: row.try_get(9)?,
        last_notified_at: opt_time(row.try_get(10)?)?,
        change_pending: row.try_get(11)?,
    })
}

fn outbox_mail(r: &Row) -> Result<OutboxMail> {
    Ok(OutboxMail {
        id: r.try_get(0)?,
        sender: r.try_get(1)?,
        recipient: r.try_get(2)?,
        raw: r.try_get(3)?,
        attempts: r.try_get::<_, i64>(4)?.clamp(0, i64::from(u32::MAX)) as u32,
        next_attempt_at: time(r.try_get(5)?)?,
    })
}

fn state_str(s: RequestState) -> &'static str {
    match s {
        RequestState::Unprocessed => "unprocessed",
        RequestState::Processed => "processed",
    }
}

impl PgTx<'_> {
    fn requests(
        &self,
        sql_where: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Request>> {
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM request WHERE {sql_where} ORDER BY id");
        self.rows(&sql, params)?.iter().map(request).collect()
    }

    fn hourly_count(&self, sql: &str, by: &str, key: Option<&str>, now: Time) -> Result<u32> {
        let hour_ago = ms(now) - HOUR_MS;
        let row = match key {
            Some(key) => self.one_row(sql, &[&by, &key, &ms(now), &hour_ago])?,
            None => self.one_row(sql, &[&by, &ms(now), &hour_ago])?,
        };
        Ok(u32::try_from(row.try_get::<_, i64>(0)?).unwrap_or(u32::MAX))
    }
}

impl Store for PgTx<'_> {
    fn presence(&self, who: &AccountName) -> Result<Option<PresenceRecord>> {
        let Some(row) = self.opt_row(
            "SELECT fields, source, received_at, location_expires_at FROM presence WHERE account = $1",
            &[&who.as_str()],
        )?
        else {
            return Ok(None);
        };
        let fields: String = row.try_get(0)?;
        let fields: PresenceFields = serde_json::from_str(&fields)
            .map_err(|e| StoreError::Corrupt(format!("presence of {who}: {e}")))?;
        Ok(Some(PresenceRecord {
            account: who.clone(),
            fields,
            source: Medium::parse(row.try_get(1)?)?,
            received_at: time(row.try_get(2)?)?,
            location_expires_at: opt_time(row.try_get(3)?)?,
        }))
    }

    fn save_presence(&mut self, r: &PresenceRecord) -> Result<()> {
        let fields =
            serde_json::to_string(&r.fields).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.exec(
            "INSERT INTO presence (account, fields, source, received_at, location_expires_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (account) DO UPDATE SET fields = $2, source = $3, received_at = $4, location_expires_at = $5",
            &[&r.account.as_str(), &fields, &r.source.as_str(), &ms(r.received_at), &r.location_expires_at.map(ms)],
        )?;
        Ok(())
    }

    fn expire_locations(&mut self, now: Time) -> Result<usize> {
        let expired = self.rows(
            "SELECT account FROM presence WHERE location_expires_at IS NOT NULL AND location_expires_at <= $1",
            &[&ms(now)],
        )?;
        for row in &expired {
            let who = account(row.try_get(0)?)?;
            if let Some(mut rec) = self.presence(&who)? {
                rec.fields.location = None;
                rec.fields.coordinates = None;
                rec.fields.address = None;
                rec.location_expires_at = None;
                self.save_presence(&rec)?;
            }
        }
        Ok(expired.len())
    }

    fn open_requests_for(&self, notifier: &AccountName, now: Time) -> Result<Vec<Request>> {
        self.requests(
            "notifier = $1 AND expires_at > $2 AND (state = 'unprocessed' OR mode = 'watch')",
            &[&notifier.as_str(), &ms(now)],
        )
    }

    fn open_requests_between(
        &self,
        watcher: &AccountName,
        notifier: &AccountName,
        now: Time,
    ) -> Result<Vec<Request>> {
        self.requests(
            "watcher = $1 AND notifier = $2 AND expires_at > $3 AND (state = 'unprocessed' OR mode = 'watch')",
            &[&watcher.as_str(), &notifier.as_str(), &ms(now)],
        )
    }

    fn add_request(&mut self, q: &Request) -> Result<i64> {
        let row = self.one_row(
            "INSERT INTO request (watcher, notifier, medium, deliver_to, mode, state, created_at, expires_at, reference, last_notified_at, change_pending)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
            &[
                &q.watcher.as_str(), &q.notifier.as_str(), &q.medium.as_str(), &q.deliver_to, &q.mode.as_str(),
                &state_str(q.state), &ms(q.created_at), &ms(q.expires_at), &q.reference,
                &q.last_notified_at.map(ms), &q.change_pending,
            ],
        )?;
        Ok(row.try_get(0)?)
    }

    fn update_request(&mut self, q: &Request) -> Result<()> {
        self.exec(
            "UPDATE request SET state = $2, expires_at = $3, last_notified_at = $4, change_pending = $5 WHERE id = $1",
            &[&q.id, &state_str(q.state), &ms(q.expires_at), &q.last_notified_at.map(ms), &q.change_pending],
        )?;
        Ok(())
    }

    fn mark_requests_notified(&mut self, ids: &[i64], at: Time) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        self.exec(
            "UPDATE request SET state = $1, last_notified_at = $2, change_pending = false
             WHERE id = ANY($3)",
            &[&state_str(RequestState::Processed), &ms(at), &ids],
        )?;
        Ok(())
    }

    fn mark_requests_owed(&mut self, ids: &[i64]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        self.exec(
            "UPDATE request SET change_pending = true WHERE id = ANY($1)",
            &[&ids],
        )?;
        Ok(())
    }

    fn remove_requests_with_reference(&mut self, reference: &str) -> Result<usize> {
        self.exec("DELETE FROM request WHERE reference = $1", &[&reference])
    }

    fn forget_person(&mut self, who: &AccountName, now: Time) -> Result<usize> {
        let name = who.as_str();
        let presence = self.exec("DELETE FROM presence WHERE account = $1", &[&name])?;
        let requests = self.exec(
            "DELETE FROM request WHERE watcher = $1 OR notifier = $1",
            &[&name],
        )?;
        // Their phones may no longer speak for them.
        let devices = self.exec(
            "UPDATE device SET revoked_at = $2 WHERE account = $1 AND revoked_at IS NULL",
            &[&name, &ms(now)],
        )?;
        // Nor may a code made for them still enrol one. CASE: only an
        // enrolment record is read as JSON (PostgreSQL may test the
        // conditions of an AND in any order).
        let codes = self.exec(
            "DELETE FROM expiring_record WHERE kind = 'enrolment'
               AND (CASE WHEN kind = 'enrolment' THEN record::jsonb ->> 'account' END) = $1",
            &[&name],
        )?;
        Ok(presence + requests + devices + codes)
    }

    fn expire_requests(&mut self, now: Time) -> Result<usize> {
        self.exec("DELETE FROM request WHERE expires_at <= $1", &[&ms(now)])
    }

    fn due_watches(&self, mail_before: Time, sip_before: Time, now: Time) -> Result<Vec<Request>> {
        self.requests(
            "mode = 'watch' AND change_pending AND expires_at > $3 AND (last_notified_at IS NULL \
             OR last_notified_at <= CASE medium WHEN 'sip' THEN $2::BIGINT ELSE $1::BIGINT END)",
            &[&ms(mail_before), &ms(sip_before), &ms(now)],
        )
    }

    fn mail_handled(&self, message_id: &str) -> Result<bool> {
        // Two instances may read the same mail for a moment (while intake
        // passes from one to the other): the second to ask waits here until
        // the first's transaction ends, then sees its mark. So a mail is
        // applied once, whoever reads it.
        self.exec(
            "SELECT pg_advisory_xact_lock(hashtext('mailpresence mail ' || $1::TEXT))",
            &[&message_id],
        )?;
        Ok(self
            .opt_row(
                "SELECT 1 FROM handled_mail WHERE message_id = $1",
                &[&message_id],
            )?
            .is_some())
    }

    fn mark_mail_handled(&mut self, message_id: &str, verdict: &str, now: Time) -> Result<()> {
        self.exec(
            "INSERT INTO handled_mail (message_id, verdict, handled_at) VALUES ($1, $2, $3)
             ON CONFLICT (message_id) DO UPDATE SET verdict = $2, handled_at = $3",
            &[&message_id, &verdict, &ms(now)],
        )?;
        Ok(())
    }

    fn forget_handled_mail(&mut self, before: Time) -> Result<usize> {
        self.exec(
            "DELETE FROM handled_mail WHERE handled_at < $1",
            &[&ms(before)],
        )
    }

    fn enqueue_mail(
        &mut self,
        sender: &str,
        recipient: &str,
        raw: &[u8],
        replaces: Option<&str>,
        now: Time,
    ) -> Result<i64> {
        if let Some(key) = replaces {
            // Deleted, not updated: a sender holding the old row's id then
            // finds nothing to mark, and the new row is sent after it.
            self.exec(
                "DELETE FROM outbox WHERE replace_key = $1 AND sent_at IS NULL",
                &[&key],
            )?;
        }
        let row = self.one_row(
            "INSERT INTO outbox (sender, recipient, raw, created_at, next_attempt_at, replace_key)
             VALUES ($1, $2, $3, $4, $4, $5) RETURNING id",
            &[&sender, &recipient, &raw, &ms(now), &replaces],
        )?;
        Ok(row.try_get(0)?)
    }

    fn due_mails(&self, now: Time, limit: usize) -> Result<Vec<OutboxMail>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.rows(
            "SELECT id, sender, recipient, raw, attempts, next_attempt_at FROM outbox
             WHERE sent_at IS NULL AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2",
            &[&ms(now), &limit],
        )?
        .iter()
        .map(outbox_mail)
        .collect()
    }

    fn claim_due_mails(
        &mut self,
        now: Time,
        limit: usize,
        hold_until: Time,
    ) -> Result<Vec<OutboxMail>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // SKIP LOCKED: rows another instance is claiming right now are left
        // to it, not waited for; the claim (a later next_attempt_at) keeps
        // them from the others until it is sent or the hold ends.
        let mut mails = self
            .rows(
                "UPDATE outbox SET next_attempt_at = $3 WHERE id IN (
                   SELECT id FROM outbox WHERE sent_at IS NULL AND next_attempt_at <= $1
                   ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)
                 RETURNING id, sender, recipient, raw, attempts, next_attempt_at",
                &[&ms(now), &limit, &ms(hold_until)],
            )?
            .iter()
            .map(outbox_mail)
            .collect::<Result<Vec<_>>>()?;
        mails.sort_by_key(|m| m.id);
        Ok(mails)
    }

    fn mark_mail_sent(&mut self, id: i64, _now: Time) -> Result<()> {
        // A sent Notify may hold a location: it is not kept.
        self.exec("DELETE FROM outbox WHERE id = $1", &[&id])?;
        Ok(())
    }

    fn mark_mail_failed(&mut self, id: i64, error: &str, retry_at: Time) -> Result<()> {
        self.exec(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3 WHERE id = $1",
            &[&id, &error, &ms(retry_at)],
        )?;
        Ok(())
    }

    fn mark_mail_undeliverable(&mut self, id: i64, error: &str, now: Time) -> Result<()> {
        self.exec(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $2, sent_at = $3, raw = ''::BYTEA WHERE id = $1",
            &[&id, &format!("undeliverable: {error}"), &ms(now)],
        )?;
        Ok(())
    }

    fn next_mail_due(&self) -> Result<Option<Time>> {
        let row = self.one_row(
            "SELECT MIN(next_attempt_at) FROM outbox WHERE sent_at IS NULL",
            &[],
        )?;
        opt_time(row.try_get(0)?)
    }

    fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        self.exec(
            "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = $2",
            &[&key, &value],
        )?;
        Ok(())
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        self.opt_row("SELECT value FROM meta WHERE key = $1", &[&key])?
            .map(|r| Ok(r.try_get(0)?))
            .transpose()
    }

    fn count_sender_mail(&mut self, sender: &str, now: Time) -> Result<u32> {
        self.hourly_count(
            "INSERT INTO sender_hour (sender, started_at, mails) VALUES ($1, $2, 1)
             ON CONFLICT (sender) DO UPDATE SET
               mails = CASE WHEN sender_hour.started_at <= $3 THEN 1 ELSE sender_hour.mails + 1 END,
               started_at = CASE WHEN sender_hour.started_at <= $3 THEN $2 ELSE sender_hour.started_at END
             RETURNING mails",
            sender,
            None,
            now,
        )
    }

    fn forget_sender_counts(&mut self, before: Time) -> Result<usize> {
        self.exec(
            "DELETE FROM sender_hour WHERE started_at < $1",
            &[&ms(before)],
        )
    }

    fn counts(&self, now: Time) -> Result<Counts> {
        let now_ms = ms(now);
        let records_of = |kind: &str| {
            self.count(
                "SELECT COUNT(*) FROM expiring_record WHERE kind = $1 AND expires_at > $2",
                &[&kind, &now_ms],
            )
        };
        let oldest: Option<i64> = self
            .one_row(
                "SELECT MIN(created_at) FROM outbox WHERE sent_at IS NULL",
                &[],
            )?
            .try_get(0)?;
        Ok(Counts {
            records: self.count("SELECT COUNT(*) FROM presence", &[])?,
            pending_requests: self.count(
                "SELECT COUNT(*) FROM request WHERE state = 'unprocessed' AND expires_at > $1",
                &[&now_ms],
            )?,
            open_watches: self.count(
                "SELECT COUNT(*) FROM request WHERE mode = 'watch' AND expires_at > $1",
                &[&now_ms],
            )?,
            outbox_depth: self.count("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL", &[])?,
            mails_handled: self.count("SELECT COUNT(*) FROM handled_mail", &[])?,
            undeliverable_mails: self.count(
                "SELECT COUNT(*) FROM outbox WHERE last_error LIKE 'undeliverable:%'",
                &[],
            )?,
            last_imap_contact: self.meta("last_imap_contact")?,
            outbox_oldest: opt_time(oldest)?.map(|t| t.to_rfc3339()),
            sip_dialogs: records_of("dialog")?,
            sip_publications: records_of("publication")?,
            sip_bindings: records_of("binding")?,
        })
    }

    fn live_device_keys(&self, who: &str) -> Result<Vec<(i64, String)>> {
        self.rows(
            "SELECT id, public_key FROM device WHERE account = $1 AND revoked_at IS NULL ORDER BY id",
            &[&who],
        )?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
    }

    fn ever_enrolled(&self, who: &str) -> Result<bool> {
        Ok(self.count("SELECT COUNT(*) FROM device WHERE account = $1", &[&who])? > 0)
    }

    fn device_seen(&mut self, id: i64, now: Time) -> Result<()> {
        self.exec(
            "UPDATE device SET last_seen_at = $2 WHERE id = $1",
            &[&id, &ms(now)],
        )?;
        Ok(())
    }

    fn bind_device(&mut self, who: &str, name: &str, public_key: &str, now: Time) -> Result<i64> {
        let row = self.one_row(
            "INSERT INTO device (account, name, public_key, enrolled_at) VALUES ($1, $2, $3, $4) RETURNING id",
            &[&who, &name, &public_key, &ms(now)],
        )?;
        Ok(row.try_get(0)?)
    }

    fn devices_of(&self, who: &str) -> Result<Vec<Device>> {
        self.rows(
            "SELECT id, account, name, public_key, enrolled_at, last_seen_at, revoked_at
             FROM device WHERE account = $1 ORDER BY id",
            &[&who],
        )?
        .iter()
        .map(|r| {
            Ok(Device {
                id: r.try_get(0)?,
                account: r.try_get(1)?,
                name: r.try_get(2)?,
                public_key: r.try_get(3)?,
                enrolled_at: time(r.try_get(4)?)?,
                last_seen_at: opt_time(r.try_get(5)?)?,
                revoked_at: opt_time(r.try_get(6)?)?,
            })
        })
        .collect()
    }

    fn revoke_device(&mut self, who: &str, id: i64, now: Time) -> Result<bool> {
        let changed = self.exec(
            "UPDATE device SET revoked_at = $3 WHERE account = $1 AND id = $2 AND revoked_at IS NULL",
            &[&who, &id, &ms(now)],
        )?;
        Ok(changed > 0)
    }

    fn live_record(&self, kind: &str, key: &str, now: Time) -> Result<Option<String>> {
        self.opt_row(
            "SELECT record FROM expiring_record WHERE kind = $1 AND key = $2 AND expires_at > $3",
            &[&kind, &key, &ms(now)],
        )?
        .map(|r| Ok(r.try_get(0)?))
        .transpose()
    }

    fn take_record(&mut self, kind: &str, key: &str, now: Time) -> Result<Option<String>> {
        // Deleted as it is read: of two instances redeeming the same token,
        // one gets it.
        self.opt_row(
            "DELETE FROM expiring_record WHERE kind = $1 AND key = $2 AND expires_at > $3 RETURNING record",
            &[&kind, &key, &ms(now)],
        )?
        .map(|r| Ok(r.try_get(0)?))
        .transpose()
    }

    fn put_record(&mut self, kind: &str, key: &str, record: &str, expires_at: Time) -> Result<()> {
        self.exec(
            "INSERT INTO expiring_record (kind, key, record, expires_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (kind, key) DO UPDATE SET record = $3, expires_at = $4",
            &[&kind, &key, &record, &ms(expires_at)],
        )?;
        Ok(())
    }

    fn delete_record(&mut self, kind: &str, key: &str) -> Result<()> {
        self.exec(
            "DELETE FROM expiring_record WHERE kind = $1 AND key = $2",
            &[&kind, &key],
        )?;
        Ok(())
    }

    fn records(&self, kind: &str, now: Time) -> Result<Vec<(String, String, Time)>> {
        self.rows(
            "SELECT key, record, expires_at FROM expiring_record WHERE kind = $1 AND expires_at > $2 ORDER BY key",
            &[&kind, &ms(now)],
        )?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, time(r.try_get(2)?)?)))
        .collect()
    }

    fn expire_records(&mut self, now: Time) -> Result<usize> {
        self.exec(
            "DELETE FROM expiring_record WHERE expires_at <= $1",
            &[&ms(now)],
        )
    }

    fn count_sign_in(&mut self, by: SignInBy, key: &str, now: Time) -> Result<u32> {
        self.hourly_count(
            "INSERT INTO sign_in_hour (counted_by, key, started_at, requests) VALUES ($1, $2, $3, 1)
             ON CONFLICT (counted_by, key) DO UPDATE SET
               requests = CASE WHEN sign_in_hour.started_at <= $4 THEN 1 ELSE sign_in_hour.requests + 1 END,
               started_at = CASE WHEN sign_in_hour.started_at <= $4 THEN $3 ELSE sign_in_hour.started_at END
             RETURNING requests",
            by.as_str(),
            Some(key),
            now,
        )
    }

    fn forget_sign_in_counts(&mut self, before: Time) -> Result<usize> {
        self.exec(
            "DELETE FROM sign_in_hour WHERE started_at < $1",
            &[&ms(before)],
        )
    }
}
