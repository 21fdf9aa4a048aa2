//! The presence engine: the patent's figure 7 (see the glossary in `lib.rs`)
//! with what a real server needs.
//!
//! It does no I/O. Transports hand it parsed requests (a received mail, a SIP
//! PUBLISH or SUBSCRIBE) together with the open store transaction, and get
//! back a [`Step`]: a verdict for the log and the deliveries to send. Because
//! the caller commits the store changes and queues the deliveries in the same
//! transaction, a crash never leaves a presence applied but its Notify lost.
//! `mail` reads a presence mail into those requests (who sent it, whether
//! they may speak for the account it names); this file holds what both
//! media share: publishing, subscribing, the timer's tick.

mod mail;

use chrono::{Duration, Local};
use mailpresence_protocol::mail::auth::TrustFailure;
use mailpresence_protocol::mail::{Notify, PresenceMessage, SubscribeMode};
use mailpresence_protocol::model::{AccountName, PresenceFields};

use crate::config::PresencePolicy;
use std::sync::Arc;

use crate::device_keys::{DeviceRefusal, UnsignedMail};
use crate::directory::{Access, Directory};
use crate::store::{Medium, PresenceRecord, Request, RequestState, Result, Store, Time};

/// One presence answer owed to one watcher.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub watcher: AccountName,
    pub medium: Medium,
    /// Mail address or SIP URI.
    pub to: String,
    /// Message-ID of the Subscribe (mail) or the dialog (SIP) this answers.
    pub reference: Option<String>,
    /// The presence as this watcher may see it.
    pub notify: Notify,
    /// Older than the stale limit; its Updated says how old.
    pub stale: bool,
}

/// What became of one input, for the log and the handled-mail record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Applied(String),
    /// Nothing to do, and nothing wrong (a human's mail, an out-of-date Publish).
    Ignored(String),
    /// Refused; logged with the reason, never answered.
    Refused(RequestRefusal),
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Applied(s) => write!(f, "applied: {s}"),
            Self::Ignored(s) => write!(f, "ignored: {s}"),
            Self::Refused(r) => write!(f, "refused: {r}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestRefusal {
    #[error("{0}")]
    Wire(String),
    #[error("malformed: {0}")]
    Malformed(String),
    #[error("the mail has no From address")]
    NoFrom,
    #[error("mail from the server's own address")]
    OwnAddress,
    #[error("sender not proven: {0}")]
    Unproven(TrustFailure),
    #[error(
        "{sender} sent more than {limit} presence mails this hour; its mails are refused until the hour is over"
    )]
    RateLimited {
        sender: String,
        limit: u32,
        /// The first refusal of this window: the one worth a warning.
        first: bool,
    },
    #[error("{0} is not in the directory")]
    UnknownAccount(AccountName),
    #[error("From {from} is not the address registered for {account}")]
    SpoofedFrom { account: AccountName, from: String },
    #[error("Send-To {send_to} is not an address of {watcher}")]
    ForeignSendTo {
        watcher: AccountName,
        send_to: String,
    },
    #[error("Send-To {0} is a SIP URI; SIP phones subscribe over SIP")]
    SipSendTo(String),
    #[error("{watcher} may not see {notifier}")]
    NotAllowed {
        watcher: AccountName,
        notifier: AccountName,
    },
    #[error("a Notify is for terminals, not for the server")]
    NotifyToServer,
    #[error("{0}")]
    Device(DeviceRefusal),
}

impl RequestRefusal {
    /// The reason's kind, in snake case: a closed set, for the metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Wire(_) => "wire",
            Self::Malformed(_) => "malformed",
            Self::NoFrom => "no_from",
            Self::OwnAddress => "own_address",
            Self::Unproven(_) => "unproven",
            Self::RateLimited { .. } => "rate_limited",
            Self::UnknownAccount(_) => "unknown_account",
            Self::SpoofedFrom { .. } => "spoofed_from",
            Self::ForeignSendTo { .. } => "foreign_send_to",
            Self::SipSendTo(_) => "sip_send_to",
            Self::NotAllowed { .. } => "not_allowed",
            Self::NotifyToServer => "notify_to_server",
            Self::Device(DeviceRefusal::Unsigned | DeviceRefusal::Enrolled) => "unsigned",
            Self::Device(DeviceRefusal::Signature(_)) => "device_signature",
            Self::Device(DeviceRefusal::Enrolment(_)) => "enrolment",
        }
    }

    /// Refusals that repeat one already logged as a warning.
    pub fn is_repeat(&self) -> bool {
        matches!(self, Self::RateLimited { first: false, .. })
    }
}

/// The verdict and the deliveries of one step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub verdict: Verdict,
    pub deliveries: Vec<Delivery>,
    /// Requests refused within an otherwise applied Subscribe.
    pub partial_refusals: Vec<RequestRefusal>,
    /// The presence record this step saved (a publish), for the web board's
    /// live feed once the step is committed.
    pub published: Option<PresenceRecord>,
    /// A mail owed to the sender of this one (an Enrolled, a People).
    pub reply: Option<Reply>,
}

/// A mail the server owes the proven sender of the mail it answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub to: String,
    pub message: PresenceMessage,
    /// Message-ID of the mail it answers.
    pub reference: Option<String>,
    /// The outbox key of a reply a newer one replaces while unsent (a
    /// worker's directory: only the latest answer goes out).
    pub replaces: Option<String>,
}

impl Step {
    fn verdict(verdict: Verdict) -> Self {
        Self {
            verdict,
            deliveries: Vec::new(),
            partial_refusals: Vec::new(),
            published: None,
            reply: None,
        }
    }

    fn refused(r: RequestRefusal) -> Self {
        Self::verdict(Verdict::Refused(r))
    }
}

/// A subscription as the engine needs it, whatever medium it came on.
#[derive(Debug, Clone)]
pub struct SubscribeRequest {
    pub watcher: AccountName,
    pub notifiers: Vec<AccountName>,
    pub medium: Medium,
    pub deliver_to: String,
    pub mode: SubscribeMode,
    pub expires_secs: Option<u64>,
    pub reference: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Engine {
    /// Shared with the transports, who read it beside the engine's steps;
    /// a refreshed directory comes as a new engine (see `Hub::replace_directory`).
    directory: Arc<Directory>,
    policy: PresencePolicy,
    own_address: String,
    /// `[trust] unsigned`: what a mail without a device signature gets.
    unsigned: UnsignedMail,
}

impl Engine {
    pub fn new(
        directory: Directory,
        policy: PresencePolicy,
        own_address: impl Into<String>,
    ) -> Self {
        Self {
            directory: Arc::new(directory),
            policy,
            own_address: own_address.into(),
            unsigned: UnsignedMail::default(),
        }
    }

    /// The same engine judging unsigned mail as `[trust] unsigned` says.
    pub fn with_unsigned(mut self, unsigned: UnsignedMail) -> Self {
        self.unsigned = unsigned;
        self
    }

    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// The directory, to keep beside the engine after this step.
    pub fn shared_directory(&self) -> Arc<Directory> {
        self.directory.clone()
    }

    /// The same engine with another directory (the rules come with it).
    pub fn with_directory(&self, directory: Directory) -> Self {
        Self {
            directory: Arc::new(directory),
            policy: self.policy.clone(),
            own_address: self.own_address.clone(),
            unsigned: self.unsigned,
        }
    }

    /// New presence for `account` from either medium: store it, then answer
    /// every open request for that person (seed figure 7).
    pub fn publish(
        &self,
        store: &mut dyn Store,
        account: &AccountName,
        mut fields: PresenceFields,
        source: Medium,
        now: Time,
    ) -> Result<Step> {
        // A clock far ahead would make every later, honest update look older.
        if fields.clamp_future_updated(now) {
            tracing::debug!(%account, "Updated lies in the future; taken as now");
        }
        let previous = store.presence(account)?;
        if let (Some(prev), Some(new)) = (
            previous.as_ref().and_then(|p| p.fields.updated),
            fields.updated,
        ) && new < prev
        {
            return Ok(Step::verdict(Verdict::Ignored(format!(
                "presence of {account} updated {new} is older than the stored {prev}"
            ))));
        }
        let has_location = fields.location.is_some() || fields.coordinates.is_some();
        let record = PresenceRecord {
            account: account.clone(),
            fields,
            source,
            received_at: now,
            location_expires_at: has_location
                .then(|| after(now, secs(self.policy.location_ttl_secs))),
        };
        store.save_presence(&record)?;

        let mut deliveries = Vec::new();
        let (mut notified, mut owed) = (Vec::new(), Vec::new());
        for request in store.open_requests_for(account, now)? {
            let Some(delivery) = self.answer(&request, &record, now) else {
                continue;
            };
            let first_answer = request.state == RequestState::Unprocessed;
            let interval_passed = request
                .last_notified_at
                .is_none_or(|t| now - t >= self.notify_interval(request.medium));
            if first_answer || interval_passed {
                deliveries.push(delivery);
                notified.push(request.id);
            } else if !request.change_pending {
                // Coalesced: the tick sends the latest presence when the interval ends.
                owed.push(request.id);
            }
        }
        // In two statements, not one per request: on PostgreSQL each was a
        // round trip, a thousand for a fan-out to a thousand watchers.
        store.mark_requests_notified(&notified, now)?;
        store.mark_requests_owed(&owed)?;
        Ok(Step {
            verdict: Verdict::Applied(format!("presence of {account} from {}", source.as_str())),
            deliveries,
            partial_refusals: Vec::new(),
            published: Some(record),
            reply: None,
        })
    }

    /// A watcher asks for notifiers' presence: one request per notifier,
    /// answered at once when the notifier has presence.
    pub fn subscribe(
        &self,
        store: &mut dyn Store,
        req: SubscribeRequest,
        now: Time,
    ) -> Result<Step> {
        let mut step = Step::verdict(Verdict::Applied(String::new()));
        let mut accepted = Vec::new();
        for notifier in &req.notifiers {
            if self.directory.person(notifier).is_none() {
                step.partial_refusals
                    .push(RequestRefusal::UnknownAccount(notifier.clone()));
                continue;
            }
            if self.directory.access(&req.watcher, notifier) == Access::Nothing {
                step.partial_refusals.push(RequestRefusal::NotAllowed {
                    watcher: req.watcher.clone(),
                    notifier: notifier.clone(),
                });
                continue;
            }
            let mut request = self.stored_request(store, &req, notifier, now)?;
            if let Some(record) = store.presence(notifier)?
                && let Some(delivery) = self.answer(&request, &record, now)
            {
                step.deliveries.push(delivery);
                request.state = RequestState::Processed;
                request.last_notified_at = Some(now);
                request.change_pending = false;
            }
            store.update_request(&request)?;
            accepted.push(notifier.to_string());
        }
        if accepted.is_empty() {
            let reason =
                step.partial_refusals
                    .first()
                    .cloned()
                    .unwrap_or(RequestRefusal::NotAllowed {
                        watcher: req.watcher.clone(),
                        notifier: req.watcher.clone(),
                    });
            return Ok(Step {
                verdict: Verdict::Refused(reason),
                deliveries: Vec::new(),
                partial_refusals: step.partial_refusals,
                published: None,
                reply: None,
            });
        }
        step.verdict = Verdict::Applied(format!(
            "{} {} subscribes to {}",
            req.watcher,
            req.mode.as_str(),
            accepted.join(", ")
        ));
        Ok(step)
    }

    /// The request for this watcher, notifier and address: an open one is
    /// renewed (a phone re-subscribing), else a new one is stored.
    fn stored_request(
        &self,
        store: &mut dyn Store,
        req: &SubscribeRequest,
        notifier: &AccountName,
        now: Time,
    ) -> Result<Request> {
        let lifetime = match req.mode {
            SubscribeMode::Once => self.policy.request_ttl_secs,
            SubscribeMode::Watch => req
                .expires_secs
                .unwrap_or(self.policy.watch_max_secs)
                .min(self.policy.watch_max_secs),
        };
        // A mail watcher is one address; a SIP watcher may hold several dialogs
        // (two phones), each its own request.
        let same = |r: &Request| match req.medium {
            Medium::Mail => r.deliver_to.eq_ignore_ascii_case(&req.deliver_to),
            Medium::Sip => r.reference.is_some() && r.reference == req.reference,
            Medium::Web => false,
        };
        let existing = store
            .open_requests_between(&req.watcher, notifier, now)?
            .into_iter()
            .find(|r| r.medium == req.medium && same(r));
        let mut request = existing.unwrap_or(Request {
            id: 0,
            watcher: req.watcher.clone(),
            notifier: notifier.clone(),
            medium: req.medium,
            deliver_to: req.deliver_to.clone(),
            mode: req.mode,
            state: RequestState::Unprocessed,
            created_at: now,
            expires_at: now,
            reference: req.reference.clone(),
            last_notified_at: None,
            change_pending: false,
        });
        request.mode = req.mode;
        request.state = RequestState::Unprocessed;
        request.expires_at = after(now, secs(lifetime));
        request.reference = req.reference.clone().or(request.reference);
        if request.id == 0 {
            request.id = store.add_request(&request)?;
        }
        Ok(request)
    }

    /// What `watcher` may see of `notifier` now, without storing a request (a
    /// SIP fetch). `Err` when the rules hide the notifier; `Ok(None)` when the
    /// notifier has no presence yet.
    pub fn current_view(
        &self,
        store: &mut dyn Store,
        watcher: &AccountName,
        notifier: &AccountName,
        now: Time,
    ) -> Result<std::result::Result<Option<Notify>, RequestRefusal>> {
        if self.directory.person(notifier).is_none() {
            return Ok(Err(RequestRefusal::UnknownAccount(notifier.clone())));
        }
        if self.directory.access(watcher, notifier) == Access::Nothing {
            return Ok(Err(RequestRefusal::NotAllowed {
                watcher: watcher.clone(),
                notifier: notifier.clone(),
            }));
        }
        let probe = Request {
            id: 0,
            watcher: watcher.clone(),
            notifier: notifier.clone(),
            medium: Medium::Sip,
            deliver_to: String::new(),
            mode: SubscribeMode::Once,
            state: RequestState::Unprocessed,
            created_at: now,
            expires_at: now,
            reference: None,
            last_notified_at: None,
            change_pending: false,
        };
        Ok(Ok(store
            .presence(notifier)?
            .and_then(|record| self.answer(&probe, &record, now))
            .map(|d| d.notify)))
    }

    /// The watcher's side ended (SIP dialog terminated or unreachable).
    pub fn end_request(&self, store: &mut dyn Store, reference: &str) -> Result<usize> {
        store.remove_requests_with_reference(reference)
    }

    /// Time passes: coalesced watch changes fall due, requests and locations expire.
    pub fn tick(&self, store: &mut dyn Store, now: Time) -> Result<Step> {
        let expired_requests = store.expire_requests(now)?;
        let expired_locations = store.expire_locations(now)?;
        store.forget_sender_counts(after_signed(now, -secs(3600)))?;
        store.forget_handled_mail(after_signed(now, -secs(HANDLED_MAIL_MEMORY_SECS)))?;
        let mut deliveries = Vec::new();
        let before = |medium| {
            now.checked_sub_signed(self.notify_interval(medium))
                .unwrap_or(now)
        };
        let due = store.due_watches(before(Medium::Mail), before(Medium::Sip), now)?;
        for mut request in due {
            if let Some(record) = store.presence(&request.notifier)?
                && let Some(delivery) = self.answer(&request, &record, now)
            {
                deliveries.push(delivery);
                request.last_notified_at = Some(now);
            }
            request.change_pending = false;
            store.update_request(&request)?;
        }
        Ok(Step {
            verdict: Verdict::Applied(format!(
                "tick: {} coalesced, {expired_requests} requests and {expired_locations} locations expired",
                deliveries.len()
            )),
            deliveries,
            partial_refusals: Vec::new(),
            published: None,
            reply: None,
        })
    }

    /// The least time between two notifications to one watcher about one
    /// colleague: a mail costs the phone a download, a SIP NOTIFY a datagram.
    fn notify_interval(&self, medium: Medium) -> Duration {
        match medium {
            Medium::Mail => secs(self.policy.notify_interval_secs),
            Medium::Sip | Medium::Web => Duration::milliseconds(
                i64::try_from(self.policy.sip_notify_interval_ms).unwrap_or(i64::MAX),
            ),
        }
    }

    /// The presence this request's watcher may see, or `None` if no longer allowed.
    fn answer(&self, request: &Request, record: &PresenceRecord, now: Time) -> Option<Delivery> {
        let access = self.directory.access(&request.watcher, &record.account);
        if access == Access::Nothing {
            return None;
        }
        let mut fields = record.fields.clone();
        if access != Access::Full {
            fields.location = None;
            fields.coordinates = None;
            fields.address = None;
        }
        // Every Notify says how old it is: a terminal that gave no Updated gets
        // the time the server received it.
        let updated = *fields
            .updated
            .get_or_insert_with(|| record.received_at.with_timezone(&Local).fixed_offset());
        let stale = now.signed_duration_since(updated) > secs(self.policy.stale_after_secs);
        Some(Delivery {
            watcher: request.watcher.clone(),
            medium: request.medium,
            to: request.deliver_to.clone(),
            reference: request.reference.clone(),
            notify: Notify {
                notifier: record.account.clone(),
                presence: fields,
            },
            stale,
        })
    }
}

/// A span of seconds from configuration or the network, saturating instead of
/// overflowing.
fn secs(s: u64) -> Duration {
    i64::try_from(s)
        .ok()
        .and_then(Duration::try_seconds)
        .unwrap_or(Duration::MAX)
}

/// How long a handled mail's Message-ID is remembered.
const HANDLED_MAIL_MEMORY_SECS: u64 = 30 * 24 * 3600;

fn after_signed(now: Time, d: Duration) -> Time {
    now.checked_add_signed(d).unwrap_or(now)
}

/// `now + d` without overflow.
fn after(now: Time, d: Duration) -> Time {
    now.checked_add_signed(d)
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
}
