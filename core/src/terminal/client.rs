//! The field worker's presence client: the own record and what changes it
//! (status, schedule, GPS fixes, sharing), colleagues' presence from Notify
//! mails, and the mail traffic itself — an outbox handed to SMTP when the
//! network allows, and the inbox read with IMAP IDLE (or `sync` when a
//! platform wakes the app only briefly).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Local, Timelike, Utc};
use tokio::sync::{Notify, broadcast, watch};
use tracing::{debug, info, warn};

use super::config::TerminalConfig;
use super::engine::{Sharing, publish_message, subscribe_message};
use super::store::{Colleague, StoreError, TerminalStore};
use crate::error::{Error, PresenceError};
use crate::location::{ChangePolicy, Fix, OfflineGeocoder};
use mailpresence_protocol::mail::auth::{SenderTrust, check_sender};
use mailpresence_protocol::mail::{
    self, ComposeEnvelope, Limits, Outcome, PresenceMessage, SubscribeMode,
};
use mailpresence_protocol::model::{
    AccountName, Activity, ActivityToken, PresenceFields, ScheduleEntry,
};
use mailpresence_protocol::transport::imap::{Fetched, MailSession, Timeouts};
use mailpresence_protocol::transport::outbox::{Outbox, OutboxStore, Policy, QueuedMail, Round};
use mailpresence_protocol::transport::{Backoff, smtp};

/// What became of one mail of the inbox.
enum Reading {
    /// A Notify from the presence server.
    Presence { changed: bool },
    /// Not one: a person's mail, or a forgery. Left for the user.
    NotFromServer,
}

/// Marks a mail that looks like a Notify but is not proven to be one, so it is
/// not read again; it stays unread for the user.
pub const NOT_OURS_KEYWORD: &str = "$PresenceNotOurs";

/// The keyword that marks a Notify mail as read by the app.
const DONE_KEYWORD: &str = "$PresenceDone";
/// How often the presence folder is emptied of Notify mails past the TTL.
const PURGE_EVERY: Duration = Duration::from_secs(10 * 60);

/// The state of the link to the mail server, for the app's status line.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum ConnectionStatus {
    Connected,
    Offline,
    Failed { error: PresenceError },
}

/// A queued mail the mail server refused for good: it was dropped and will
/// not be sent (e.g. 550 for the presence server's address).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MailRefused {
    pub recipient: String,
    /// The server's answer, with its reply code.
    pub reason: String,
}

/// What the app hears about.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Colleague(Box<Colleague>),
    /// A Publish was queued; with the location it carries (none while
    /// sharing is off or nothing is known).
    Published {
        location: Option<String>,
    },
    /// The number of mails waiting in the outbox changed.
    OutboxChanged {
        depth: u32,
    },
    Refused(MailRefused),
    Connection(ConnectionStatus),
}

/// The phone's outbox table, seen through the shared outbox policy. While
/// the platform says the phone is offline nothing is due, so no try is made.
#[derive(Debug, Clone)]
struct PhoneOutbox {
    store: Arc<Mutex<TerminalStore>>,
    sender: String,
    online: Arc<AtomicBool>,
}

impl PhoneOutbox {
    fn store(&self) -> MutexGuard<'_, TerminalStore> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl OutboxStore for PhoneOutbox {
    type Error = StoreError;

    fn due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<QueuedMail>, StoreError> {
        if !self.online.load(Ordering::SeqCst) {
            return Ok(Vec::new());
        }
        let mut due = self.store().due(now)?;
        due.truncate(limit);
        Ok(due
            .into_iter()
            .map(|q| QueuedMail {
                id: q.id,
                sender: self.sender.clone(),
                recipient: q.recipient,
                raw: q.raw,
                attempts: q.attempts,
            })
            .collect())
    }

    fn sent(&self, id: i64, _now: DateTime<Utc>) -> Result<(), StoreError> {
        self.store().sent(id)
    }

    fn retry(&self, id: i64, error: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.store().failed(id, error, at)
    }

    /// Refused for good: the phone keeps no copy (it may hold a location).
    fn undeliverable(&self, id: i64, _error: &str, _now: DateTime<Utc>) -> Result<(), StoreError> {
        self.store().sent(id)
    }

    fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.store().next_due()
    }
}

#[derive(Debug)]
pub struct Terminal {
    config: TerminalConfig,
    account: AccountName,
    store: Arc<Mutex<TerminalStore>>,
    geocoder: Option<OfflineGeocoder>,
    policy: Mutex<ChangePolicy>,
    events: broadcast::Sender<Event>,
    outbox: Outbox<PhoneOutbox>,
    /// Wakes the inbox loop (network back); kept until it next waits.
    inbox_wake: Notify,
    online: Arc<AtomicBool>,
}

impl Terminal {
    /// Opens the client over the storage folder; `map_pack` is the bytes of
    /// `assets/mappack.bin` (without it, fixes are not turned into addresses).
    pub fn open(
        config: TerminalConfig,
        dir: &Path,
        map_pack: Option<&[u8]>,
    ) -> Result<Arc<Self>, Error> {
        let account: AccountName = config
            .account
            .parse()
            .map_err(|e| Error::InvalidInput(format!("account: {e}")))?;
        if mail::compose(
            &subscribe_message(
                &account,
                &config.mail,
                vec![account.clone()],
                SubscribeMode::Once,
                None,
            ),
            &envelope(&config),
        )
        .is_err()
        {
            return Err(Error::InvalidInput(format!(
                "{} or {} is not a mail address",
                config.mail, config.presence_server
            )));
        }
        if map_pack.is_none() {
            warn!("no map pack: GPS fixes will not be turned into addresses or published");
        }
        let geocoder = map_pack
            .map(|b| OfflineGeocoder::from_bytes(b).map(|g| g.with_language(config.language)))
            .transpose()?;
        let store = Arc::new(Mutex::new(TerminalStore::open(dir)?));
        let (events, _) = broadcast::channel(256);
        let online = Arc::new(AtomicBool::new(true));
        let smtp = smtp::transport(&config.smtp.endpoint(), Duration::from_secs(30))?;
        let outbox = Outbox::new(
            PhoneOutbox {
                store: store.clone(),
                sender: config.mail.clone(),
                online: online.clone(),
            },
            smtp,
            Policy::default(),
        );
        Ok(Arc::new(Self {
            policy: Mutex::new(ChangePolicy::new(config.location.clone())),
            account,
            store,
            geocoder,
            config,
            events,
            outbox,
            inbox_wake: Notify::new(),
            online,
        }))
    }

    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    fn store(&self) -> MutexGuard<'_, TerminalStore> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }

    pub fn config(&self) -> &TerminalConfig {
        &self.config
    }

    pub fn attributions(&self) -> Vec<String> {
        self.geocoder
            .as_ref()
            .map(|g| g.attributions().to_vec())
            .unwrap_or_default()
    }

    /// The own record (seed figure 9); available with the own address until set.
    pub fn own(&self) -> Result<PresenceFields, Error> {
        Ok(self.store().own()?.unwrap_or_else(|| {
            PresenceFields::new(
                self.config.mail.clone(),
                Activity::token(ActivityToken::Available),
            )
        }))
    }

    pub fn sharing(&self) -> Result<Sharing, Error> {
        Ok(self.store().pref("sharing")?.unwrap_or_default())
    }

    pub fn set_status(&self, activity: Activity) -> Result<(), Error> {
        self.change(|own| own.activity = activity)
    }

    pub fn add_schedule(&self, entry: ScheduleEntry) -> Result<(), Error> {
        self.change(|own| own.schedule.push(entry))
    }

    pub fn clear_schedule(&self) -> Result<(), Error> {
        self.change(|own| own.schedule.clear())
    }

    /// New sharing preferences; published at once (the location may appear or go).
    pub fn set_sharing(&self, sharing: Sharing) -> Result<(), Error> {
        self.store().set_pref("sharing", &sharing)?;
        self.change(|_| {})
    }

    /// A GPS fix from the platform. Returns the address when it was published.
    pub fn on_fix(&self, fix: &Fix) -> Result<Option<String>, Error> {
        let Some(geocoder) = &self.geocoder else {
            return Ok(None);
        };
        let decided = self
            .policy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .on_fix(fix, geocoder)?;
        let Some(address) = decided else {
            return Ok(None);
        };
        let display = address.display.clone();
        self.change(|own| {
            own.location = Some(address.display.clone());
            own.address = Some(address.civic());
            own.coordinates =
                mailpresence_protocol::model::Coordinates::new(fix.lat, fix.lon, fix.accuracy_m);
        })?;
        Ok(Some(display))
    }

    /// Applies a change to the own record and queues its Publish, together.
    fn change(&self, f: impl FnOnce(&mut PresenceFields)) -> Result<(), Error> {
        let mut own = self.own()?;
        f(&mut own);
        // Whole seconds in the phone's own offset: people read this.
        let now = Local::now().fixed_offset();
        let now = now.with_nanosecond(0).unwrap_or(now);
        own.updated = Some(now);
        let sharing = self.sharing()?;
        let message = publish_message(&self.account, &own, &sharing, now);
        let raw = mail::compose(&message, &envelope(&self.config))
            .map_err(|e| Error::InvalidInput(e.to_string()))?;
        self.store()
            .save_own_and_queue(&own, &self.config.presence_server, &raw, Utc::now())?;
        let location = match &message {
            PresenceMessage::Publish(p) => p.presence.location.clone(),
            _ => None,
        };
        self.emit(Event::Published { location });
        self.queued()
    }

    /// Asks for colleagues' presence: answered once, or every change (`watch`)
    /// until `expires` seconds pass; a watch with `expires = Some(0)` ends one.
    pub fn subscribe(
        &self,
        names: &[String],
        mode: SubscribeMode,
        expires: Option<u32>,
    ) -> Result<(), Error> {
        let notifiers = names
            .iter()
            .map(|n| {
                n.parse::<AccountName>()
                    .map_err(|e| Error::InvalidInput(format!("{n}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if notifiers.is_empty() {
            return Err(Error::InvalidInput("name at least one colleague".into()));
        }
        let message = subscribe_message(&self.account, &self.config.mail, notifiers, mode, expires);
        let raw = mail::compose(&message, &envelope(&self.config))
            .map_err(|e| Error::InvalidInput(e.to_string()))?;
        self.store()
            .queue("Subscribe", &self.config.presence_server, &raw, Utc::now())?;
        self.queued()
    }

    fn queued(&self) -> Result<(), Error> {
        let depth = self.store().outbox_depth()?;
        self.emit(Event::OutboxChanged { depth });
        self.outbox.wake();
        Ok(())
    }

    pub fn colleagues(&self) -> Result<Vec<Colleague>, Error> {
        Ok(self.store().colleagues()?)
    }

    pub fn outbox_depth(&self) -> Result<u32, Error> {
        Ok(self.store().outbox_depth()?)
    }

    /// The platform says the network came or went.
    pub fn network_changed(&self, online: bool) {
        self.online.store(online, Ordering::SeqCst);
        if !online {
            self.emit(Event::Connection(ConnectionStatus::Offline));
        }
        self.outbox.wake();
        self.inbox_wake.notify_one();
    }

    /// Hands every due mail to SMTP. Returns how many went; an error when the
    /// server could not be used (the mails stay queued). A mail the server
    /// refused for good is dropped and reported as [`Event::Refused`].
    pub async fn flush(&self) -> Result<usize, Error> {
        let round = self.outbox.send_due().await?;
        self.report(&round)?;
        match &round.blocked {
            Some(why) => Err(Error::Send(why.clone())),
            None => Ok(round.sent),
        }
    }

    fn report(&self, round: &Round) -> Result<(), Error> {
        for (_, recipient, error) in &round.undeliverable {
            warn!(to = %recipient, %error, "the mail server refused a mail for good");
            self.emit(Event::Refused(MailRefused {
                recipient: recipient.clone(),
                reason: error.clone(),
            }));
        }
        if let Some(why) = &round.blocked {
            self.emit(Event::Connection(ConnectionStatus::Failed {
                error: Error::Send(why.clone()).into(),
            }));
        }
        if round.sent > 0 || !round.undeliverable.is_empty() || round.blocked.is_some() {
            self.emit(Event::OutboxChanged {
                depth: self.store().outbox_depth()?,
            });
        }
        Ok(())
    }

    fn timeouts(&self) -> Timeouts {
        Timeouts::default()
    }

    /// Connects, makes sure the presence folder exists, selects the inbox.
    async fn open_inbox(&self) -> Result<MailSession, Error> {
        let mut session = MailSession::open(&self.config.imap.endpoint(), self.timeouts()).await?;
        session.ensure_mailbox(&self.config.presence_folder).await?;
        session.select("INBOX").await?;
        Ok(session)
    }

    /// Reads the Notify mails that arrived (one short connection, for platforms
    /// that wake the app only briefly). Returns how many colleagues changed.
    pub async fn sync(&self) -> Result<usize, Error> {
        let mut session = self.open_inbox().await?;
        self.purge_presence_folder(&mut session).await?;
        let changed = self.read_notifies(&mut session).await?;
        session.logout().await;
        self.prune_store()?;
        Ok(changed)
    }

    async fn read_notifies(&self, session: &mut MailSession) -> Result<usize, Error> {
        let query = format!(
            "UNDELETED UNKEYWORD {DONE_KEYWORD} UNKEYWORD {NOT_OURS_KEYWORD} SUBJECT \"Notify\" FROM \"{}\"",
            self.config.presence_server
        );
        // Read before a crash or a lost connection, but not yet moved.
        let leftovers = session.search(&format!("KEYWORD {DONE_KEYWORD}")).await?;
        session
            .move_to(&leftovers, &self.config.presence_folder)
            .await?;
        let uids = session.search(&query).await?;
        if uids.is_empty() {
            return Ok(0);
        }
        let fetched = session
            .fetch(&uids, Limits::default().max_mail_bytes)
            .await?;
        let mut changed = 0;
        let (mut read, mut not_ours) = (Vec::new(), Vec::new());
        for mail in &fetched {
            let reading = match mail {
                Fetched::Mail { raw, .. } => self.read_mail(raw)?,
                Fetched::TooLarge { size, .. } => {
                    warn!(
                        size,
                        "a mail titled Notify is too large to be one; left alone"
                    );
                    Reading::NotFromServer
                }
            };
            match reading {
                Reading::Presence { changed: c } => {
                    changed += usize::from(c);
                    read.push(mail.uid());
                }
                Reading::NotFromServer => not_ours.push(mail.uid()),
            }
        }
        // A mail that only looks like a Notify is the user's and stays unread,
        // marked only so it is not fetched again. A Notify read is marked
        // read and moved out of the inbox, into the presence folder.
        session
            .add_flags(&not_ours, &format!("({NOT_OURS_KEYWORD})"))
            .await?;
        session
            .add_flags(&read, &format!("(\\Seen {DONE_KEYWORD})"))
            .await?;
        session.move_to(&read, &self.config.presence_folder).await?;
        Ok(changed)
    }

    /// Deletes the Notify mails older than the location TTL from the
    /// presence folder, then selects the inbox again; also drops what the
    /// store no longer needs.
    async fn purge_presence_folder(&self, session: &mut MailSession) -> Result<(), Error> {
        let ttl = Duration::from_secs(self.config.location_ttl_secs);
        session.select(&self.config.presence_folder).await?;
        let old = session.older_than(ttl).await?;
        session.delete(&old).await?;
        if !old.is_empty() {
            debug!(
                mails = old.len(),
                "Notify mails past the location TTL deleted"
            );
        }
        session.select("INBOX").await?;
        Ok(())
    }

    /// One mail from the inbox: a Notify from the presence server updates that
    /// colleague. Returns whether a colleague changed.
    pub fn apply_mail(&self, raw: &[u8]) -> Result<bool, Error> {
        Ok(matches!(
            self.read_mail(raw)?,
            Reading::Presence { changed: true }
        ))
    }

    fn read_mail(&self, raw: &[u8]) -> Result<Reading, Error> {
        let parsed = mail::parse(raw, Limits::default());
        let Outcome::Presence(PresenceMessage::Notify(mut n)) = parsed.outcome else {
            debug!(outcome = ?parsed.outcome, "not a Notify");
            return Ok(Reading::NotFromServer);
        };
        if let Err(why) = self.proven_from_presence_server(&parsed.envelope) {
            warn!(from = ?parsed.envelope.from, "a Notify not proven to come from the presence server is left alone: {why}");
            return Ok(Reading::NotFromServer);
        }
        if let Some(id) = &parsed.envelope.message_id
            && self.store().seen(id)?
        {
            return Ok(Reading::Presence { changed: false });
        }
        let now = Utc::now();
        if n.presence.clamp_future_updated(now) {
            debug!(colleague = %n.notifier, "Updated lies in the future; taken as now");
        }
        let saved = self
            .store()
            .save_colleague(n.notifier.as_str(), &n.presence, now)?;
        if let Some(id) = &parsed.envelope.message_id {
            self.store().mark_seen(id, now)?;
        }
        if saved {
            info!(colleague = %n.notifier, "presence received");
            self.emit(Event::Colleague(Box::new(Colleague {
                account: n.notifier.to_string(),
                fields: n.presence,
                received_at: now,
            })));
        }
        Ok(Reading::Presence { changed: saved })
    }

    /// A Notify counts only from the presence server's exact address and, when
    /// the account names the company's authserv-id, as its mail system proved.
    fn proven_from_presence_server(&self, envelope: &mail::Envelope) -> Result<(), String> {
        let from = envelope.from.as_deref().unwrap_or_default();
        if !from.eq_ignore_ascii_case(self.config.presence_server.trim()) {
            return Err(format!(
                "From {from:?} is not {}",
                self.config.presence_server
            ));
        }
        if let Some(authserv_id) = &self.config.authserv_id {
            let trust = SenderTrust::authentication_results(authserv_id.clone());
            check_sender(&trust, envelope).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Runs the mail loops until `shutdown`: the outbox is sent whenever there
    /// is something to send (retried with back-off), the inbox is watched with
    /// IDLE; both reconnect with jittered back-off.
    pub async fn run(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        tokio::join!(
            self.clone().send_loop(shutdown.clone()),
            self.receive_loop(shutdown)
        );
    }

    async fn send_loop(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let stop = async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        };
        let result = self
            .outbox
            .run(stop, |round| {
                if let Err(e) = self.report(round) {
                    warn!(error = %e, "outbox report");
                }
            })
            .await;
        if let Err(e) = result {
            warn!(error = %e, "the outbox stopped");
            self.emit(Event::Connection(ConnectionStatus::Failed {
                error: Error::from(e).into(),
            }));
        }
    }

    async fn receive_loop(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(60));
        loop {
            match self.idle_session(&mut shutdown, &mut backoff).await {
                Ok(()) => return,
                Err(e) => {
                    warn!(error = %e, "inbox connection");
                    self.emit(Event::Connection(ConnectionStatus::Failed {
                        error: e.into(),
                    }));
                    tokio::select! {
                        _ = tokio::time::sleep(backoff.next_delay()) => {}
                        _ = self.inbox_wake.notified() => {}
                        _ = shutdown.wait_for(|stop| *stop) => return,
                    }
                }
            }
        }
    }

    async fn idle_session(
        &self,
        shutdown: &mut watch::Receiver<bool>,
        backoff: &mut Backoff,
    ) -> Result<(), Error> {
        let mut session = self.open_inbox().await?;
        backoff.reset();
        self.emit(Event::Connection(ConnectionStatus::Connected));
        let mut last_purge: Option<Instant> = None;
        loop {
            // First, so that the search below sees every Notify that arrived
            // while the presence folder was selected.
            if last_purge.is_none_or(|t| t.elapsed() >= PURGE_EVERY) {
                self.purge_presence_folder(&mut session).await?;
                self.prune_store()?;
                last_purge = Some(Instant::now());
            }
            self.read_notifies(&mut session).await?;
            if *shutdown.borrow() {
                session.logout().await;
                return Ok(());
            }
            if session.mail_announced() {
                continue;
            }
            let interrupt = async {
                tokio::select! {
                    () = self.inbox_wake.notified() => {}
                    _ = shutdown.wait_for(|stop| *stop) => {}
                }
            };
            let (next, woken) = session.wait(Duration::from_secs(60), interrupt).await?;
            session = next;
            debug!(?woken, "inbox wait ended");
        }
    }

    /// Drops what the store no longer needs (colleagues' old locations,
    /// old Message-IDs).
    fn prune_store(&self) -> Result<(), Error> {
        let pruned = self.store().prune(Utc::now(), self.config.location_ttl())?;
        if pruned.seen > 0 {
            debug!(message_ids = pruned.seen, "old Message-IDs forgotten");
        }
        // The app shows these colleagues again, without where they were.
        for account in &pruned.locations {
            let colleague = self.store().colleague(account)?;
            if let Some(colleague) = colleague {
                debug!(colleague = %account, "location past its TTL forgotten");
                self.emit(Event::Colleague(Box::new(colleague)));
            }
        }
        Ok(())
    }
}

fn envelope(config: &TerminalConfig) -> ComposeEnvelope {
    ComposeEnvelope {
        from: config.mail.clone(),
        to: config.presence_server.clone(),
        ..Default::default()
    }
}
