//! What the server keeps, behind one small interface: presence records (only
//! the latest per person), presence requests, the mails already handled, the
//! outbox, expiring records (SIP state, the board's links and sessions), rate
//! counts and enrolled devices. `sqlite` is the embedded implementation;
//! `postgres` the shared one several server instances use together;
//! `database` opens either from the configuration.

pub mod database;
pub mod postgres;
pub mod sqlite;
#[cfg(test)]
pub(crate) mod tests;

use chrono::{DateTime, Utc};
use mailpresence_protocol::mail::SubscribeMode;
use mailpresence_protocol::model::{AccountName, PresenceFields};

pub use database::{Database, DatabaseBatch, StorePlace};
pub use postgres::{
    Announced, ChangeListener, IntakeLease, PgBatch, PgStore, PgTx, PostgresSettings,
};
pub use sqlite::{SqliteBatch, SqliteStore, SqliteTx};

pub type Time = DateTime<Utc>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// With the server's own words (tokio-postgres keeps them in the source).
    #[error("PostgreSQL: {}", postgres::error_text(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// No connection to PostgreSQL could be had (the server is down or
    /// unreachable, or refused the login): the step is not done; the caller
    /// tries again as after a mail server's outage.
    #[error("PostgreSQL at {at} is unreachable: {reason}")]
    PostgresUnreachable { at: String, reason: String },
    #[error("PostgreSQL settings: {0}")]
    PostgresSettings(String),
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
    #[error("cannot create {path}: {source}")]
    Create {
        path: String,
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// How a person or a watcher is reached, or where a presence came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Medium {
    Mail,
    Sip,
    /// The web board (a desk worker setting their own state); never a
    /// watcher's medium: the board reads presence, it holds no requests.
    Web,
}

impl Medium {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mail => "mail",
            Self::Sip => "sip",
            Self::Web => "web",
        }
    }
    fn parse(s: &str) -> Result<Self> {
        match s {
            "mail" => Ok(Self::Mail),
            "sip" => Ok(Self::Sip),
            "web" => Ok(Self::Web),
            other => Err(StoreError::Corrupt(format!("medium {other:?}"))),
        }
    }
}

/// One person's latest presence.
#[derive(Debug, Clone, PartialEq)]
pub struct PresenceRecord {
    pub account: AccountName,
    pub fields: PresenceFields,
    pub source: Medium,
    pub received_at: Time,
    /// When the location (and coordinates) are forgotten.
    pub location_expires_at: Option<Time>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestState {
    /// Waiting for the notifier's first presence (a `once` request).
    Unprocessed,
    /// Answered; a `watch` stays open for later changes.
    Processed,
}

/// A watcher's request for one notifier's presence.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub id: i64,
    pub watcher: AccountName,
    pub notifier: AccountName,
    pub medium: Medium,
    /// Mail address or SIP URI the answer goes to.
    pub deliver_to: String,
    pub mode: SubscribeMode,
    pub state: RequestState,
    pub created_at: Time,
    pub expires_at: Time,
    /// Message-ID of the Subscribe mail (for threading), or the SIP dialog id.
    pub reference: Option<String>,
    pub last_notified_at: Option<Time>,
    /// A change arrived inside the coalescing interval and is still owed.
    pub change_pending: bool,
}

/// A mail waiting to be handed to the SMTP server.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMail {
    pub id: i64,
    pub sender: String,
    pub recipient: String,
    pub raw: Vec<u8>,
    pub attempts: u32,
    pub next_attempt_at: Time,
}

/// What a request for a board sign-in link is counted by; each has its own
/// hourly limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInBy {
    /// The browser's address (an IP address).
    Source,
    /// The mail address the link is asked for.
    Address,
}

impl SignInBy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Source => "source",
            Self::Address => "address",
        }
    }
}

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

/// Counts for the status report.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub records: u64,
    pub pending_requests: u64,
    pub open_watches: u64,
    pub outbox_depth: u64,
    pub mails_handled: u64,
    /// Notify mails the SMTP server refused for good (kept as a record).
    pub undeliverable_mails: u64,
    pub last_imap_contact: Option<String>,
    /// When the oldest mail still waiting in the outbox was queued (RFC 3339).
    pub outbox_oldest: Option<String>,
    /// SIP state the server keeps: subscription dialogs, publications
    /// (RFC 3903) and registrar bindings, unexpired.
    pub sip_dialogs: u64,
    pub sip_publications: u64,
    pub sip_bindings: u64,
}

/// The operations the engine and the transports need, inside one transaction.
pub trait Store {
    fn presence(&self, account: &AccountName) -> Result<Option<PresenceRecord>>;
    fn save_presence(&mut self, record: &PresenceRecord) -> Result<()>;
    /// Forgets expired locations; returns how many were dropped.
    fn expire_locations(&mut self, now: Time) -> Result<usize>;

    /// Requests for `notifier` that may still be answered.
    fn open_requests_for(&self, notifier: &AccountName, now: Time) -> Result<Vec<Request>>;
    /// The open requests of one watcher for `notifier`: what a renewal looks
    /// through, without reading everyone's (a person with 3,000 watchers
    /// made each SUBSCRIBE read 3,000 rows).
    fn open_requests_between(
        &self,
        watcher: &AccountName,
        notifier: &AccountName,
        now: Time,
    ) -> Result<Vec<Request>>;
    /// Adds a request; returns its id.
    fn add_request(&mut self, request: &Request) -> Result<i64>;
    fn update_request(&mut self, request: &Request) -> Result<()>;
    /// The requests `ids` were answered at `at`: processed, notified then,
    /// nothing owed. One statement for a fan-out's thousands, where
    /// [`Self::update_request`] each was most of a PUBLISH's step.
    fn mark_requests_notified(&mut self, ids: &[i64], at: Time) -> Result<()>;
    /// A change for the requests `ids` is owed: coalesced, the tick sends it.
    fn mark_requests_owed(&mut self, ids: &[i64]) -> Result<()>;
    /// Drops the requests answering through this reference (a SIP dialog).
    fn remove_requests_with_reference(&mut self, reference: &str) -> Result<usize>;
    /// Forgets a person who left the directory: their presence, every
    /// request they made or that was about them, and their enrolled devices
    /// (revoked). Returns the rows changed.
    fn forget_person(&mut self, account: &AccountName, now: Time) -> Result<usize>;
    /// Drops requests past their expiry; returns how many.
    fn expire_requests(&mut self, now: Time) -> Result<usize>;
    /// Watches with a change owed whose coalescing interval has passed: last
    /// notified before `mail_before` (by mail) or `sip_before` (over SIP).
    fn due_watches(&self, mail_before: Time, sip_before: Time, now: Time) -> Result<Vec<Request>>;

    fn mail_handled(&self, message_id: &str) -> Result<bool>;
    fn mark_mail_handled(&mut self, message_id: &str, verdict: &str, now: Time) -> Result<()>;
    /// Drops the record of mails handled before `before` (they are flagged done
    /// on the IMAP server, so only a lost flag could bring one back).
    fn forget_handled_mail(&mut self, before: Time) -> Result<usize>;

    /// Queues a mail. A mail with a `replaces` key takes the place of any
    /// unsent mail with the same key (a newer Notify for the same watcher
    /// and colleague), so a flood queues one mail per key and an old
    /// presence never goes out after a newer one.
    fn enqueue_mail(
        &mut self,
        sender: &str,
        recipient: &str,
        raw: &[u8],
        replaces: Option<&str>,
        now: Time,
    ) -> Result<i64>;
    fn due_mails(&self, now: Time, limit: usize) -> Result<Vec<OutboxMail>>;
    /// The due mails (as [`Store::due_mails`]), claimed for this sender: not
    /// due for anyone else until `hold_until`, unless marked before. With
    /// several instances on one database each mail is claimed by one; one
    /// whose claimer died is sent again after the hold (at least once).
    fn claim_due_mails(
        &mut self,
        now: Time,
        limit: usize,
        hold_until: Time,
    ) -> Result<Vec<OutboxMail>>;
    /// Sent: the mail leaves the store (it may hold a location).
    fn mark_mail_sent(&mut self, id: i64, now: Time) -> Result<()>;
    fn mark_mail_failed(&mut self, id: i64, error: &str, retry_at: Time) -> Result<()>;
    /// The SMTP server refused the mail for good: its addresses and the error are
    /// kept for the record, its content is not; never retried.
    fn mark_mail_undeliverable(&mut self, id: i64, error: &str, now: Time) -> Result<()>;
    /// When the next unsent mail is due, if any.
    fn next_mail_due(&self) -> Result<Option<Time>>;

    fn set_meta(&mut self, key: &str, value: &str) -> Result<()>;
    fn meta(&self, key: &str) -> Result<Option<String>>;
    /// Counts one more presence mail from `sender` in its current hour and
    /// returns the count, this one included. An hour starts with a sender's
    /// first mail after the last hour ended.
    fn count_sender_mail(&mut self, sender: &str, now: Time) -> Result<u32>;
    /// Forgets counts of hours that started before `before`.
    fn forget_sender_counts(&mut self, before: Time) -> Result<usize>;
    fn counts(&self, now: Time) -> Result<Counts>;

    /// A person's enrolled, unrevoked devices: (device id, base64url public key).
    fn live_device_keys(&self, account: &str) -> Result<Vec<(i64, String)>>;
    /// Whether `account` ever had a phone enrolled (revoked ones count).
    fn ever_enrolled(&self, account: &str) -> Result<bool>;
    /// A device's mail was accepted at `now`.
    fn device_seen(&mut self, id: i64, now: Time) -> Result<()>;
    /// Binds a new device key to `account`; its id.
    fn bind_device(
        &mut self,
        account: &str,
        name: &str,
        public_key: &str,
        now: Time,
    ) -> Result<i64>;
    /// The live record `kind`/`key`, left in place.
    fn live_record(&self, kind: &str, key: &str, now: Time) -> Result<Option<String>>;
    /// The live record `kind`/`key`, deleted as it is read (a one-time token).
    fn take_record(&mut self, kind: &str, key: &str, now: Time) -> Result<Option<String>>;
    /// Stores (or replaces) the record `kind`/`key` until `expires_at`.
    fn put_record(&mut self, kind: &str, key: &str, record: &str, expires_at: Time) -> Result<()>;
    fn delete_record(&mut self, kind: &str, key: &str) -> Result<()>;
    /// The records of `kind` still live at `now` (key, record, expiry), by key.
    fn records(&self, kind: &str, now: Time) -> Result<Vec<(String, String, Time)>>;
    /// Drops every record expired at `now`.
    fn expire_records(&mut self, now: Time) -> Result<usize>;

    /// Counts one more request for a sign-in link by `by` (`key`: the source
    /// address or the mail address) in its current hour, and returns the
    /// count, this one included.
    fn count_sign_in(&mut self, by: SignInBy, key: &str, now: Time) -> Result<u32>;
    /// Forgets sign-in counts of hours that started before `before`.
    fn forget_sign_in_counts(&mut self, before: Time) -> Result<usize>;

    /// A person's devices, revoked ones too, oldest first.
    fn devices_of(&self, account: &str) -> Result<Vec<Device>>;
    /// Revokes one device of `account`; whether there was such a live one.
    fn revoke_device(&mut self, account: &str, id: i64, now: Time) -> Result<bool>;
}
