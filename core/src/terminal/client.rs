//! The field worker's presence client: the own record and what changes it
//! (status, schedule, GPS fixes, sharing), colleagues' presence from Notify
//! mails, and the mail traffic itself — an outbox handed to SMTP when the
//! network allows, and the inbox read with IMAP IDLE (or `sync` when a
//! platform wakes the app only briefly).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use chrono::{Local, Timelike, Utc};
use futures::TryStreamExt;
use lettre::AsyncTransport;
use lettre::address::Envelope;
use tokio::sync::{Notify, broadcast, watch};
use tracing::{debug, info, warn};

use super::config::TerminalConfig;
use super::engine::{Sharing, publish_message, subscribe_message};
use super::store::{Colleague, StoreError, TerminalStore};
use crate::location::{ChangePolicy, Fix, LocationError, OfflineGeocoder};
use crate::mail::auth::{SenderTrust, check_sender};
use crate::mail::{self, ComposeEnvelope, Limits, Outcome, PresenceMessage, SubscribeMode};
use crate::model::{AccountName, Activity, ActivityToken, PresenceFields, ScheduleEntry};
use crate::transport::imap::{self, ConnectError, ImapSession};
use crate::transport::{Backoff, smtp};

/// What became of one mail of the inbox.
enum Reading {
    /// A Notify from the presence server.
    Presence { changed: bool },
    /// Not one: a person's mail, or a forgery. Left for the user.
    NotFromServer,
}

/// `1,2,3` for a UID FETCH or STORE.
fn uid_list(uids: &[u32]) -> String {
    uids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Marks a mail that looks like a Notify but is not proven to be one, so it is
/// not read again; it stays unread for the user.
pub const NOT_OURS_KEYWORD: &str = "$PresenceNotOurs";

/// The keyword that marks a Notify mail as read by the app.
const DONE_KEYWORD: &str = "$PresenceDone";
/// IDLE is renewed after this long, below the 29-minute server keepalive.
const IDLE_RENEW: Duration = Duration::from_secs(20 * 60);

/// Failures a person can act on, in words the app shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TerminalError {
    #[error("the mail server refused the user name or password: {0}")]
    WrongPassword(String),
    #[error("the mail server cannot be reached: {0}")]
    Unreachable(String),
    #[error("the mail server's certificate is not trusted: {0}")]
    Certificate(String),
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    Storage(String),
    #[error("mail server: {0}")]
    Protocol(String),
}

impl From<StoreError> for TerminalError {
    fn from(e: StoreError) -> Self {
        Self::Storage(e.to_string())
    }
}

impl From<LocationError> for TerminalError {
    fn from(e: LocationError) -> Self {
        Self::InvalidInput(e.to_string())
    }
}

impl From<ConnectError> for TerminalError {
    fn from(e: ConnectError) -> Self {
        match e {
            ConnectError::Login { .. } | ConnectError::NoCredentials => {
                Self::WrongPassword(e.to_string())
            }
            ConnectError::Unreachable(..) => Self::Unreachable(e.to_string()),
            ConnectError::Tls(..) | ConnectError::TlsSetup(_) => Self::Certificate(e.to_string()),
            ConnectError::Imap(_) => Self::Protocol(e.to_string()),
        }
    }
}

fn smtp_error(e: &lettre::transport::smtp::Error) -> TerminalError {
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    if lower.contains("535") || lower.contains("authentication") {
        TerminalError::WrongPassword(text)
    } else if lower.contains("certificate") || lower.contains("unknownissuer") {
        TerminalError::Certificate(text)
    } else if e.is_permanent() {
        TerminalError::Protocol(text)
    } else {
        TerminalError::Unreachable(text)
    }
}

/// The state of the link to the mail server, for the app's status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    Connected,
    Offline,
    Failed(TerminalError),
}

/// What the app hears about.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Colleague(Box<Colleague>),
    /// A Publish was queued; with the location it carries.
    Published {
        location: Option<String>,
    },
    Outbox {
        depth: u32,
    },
    Connection(ConnectionState),
}

#[derive(Debug)]
pub struct Terminal {
    config: TerminalConfig,
    account: AccountName,
    store: Mutex<TerminalStore>,
    geocoder: Option<OfflineGeocoder>,
    policy: Mutex<ChangePolicy>,
    events: broadcast::Sender<Event>,
    wake: Notify,
    online: AtomicBool,
}

impl Terminal {
    /// Opens the client over the storage folder; `map_pack` is the bytes of
    /// `assets/mappack.bin` (without it, fixes are not turned into addresses).
    pub fn open(
        config: TerminalConfig,
        dir: &Path,
        map_pack: Option<&[u8]>,
    ) -> Result<Arc<Self>, TerminalError> {
        let account: AccountName = config
            .account
            .parse()
            .map_err(|e| TerminalError::InvalidInput(format!("account: {e}")))?;
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
            return Err(TerminalError::InvalidInput(format!(
                "{} or {} is not a mail address",
                config.mail, config.presence_server
            )));
        }
        let geocoder = map_pack
            .map(|b| OfflineGeocoder::from_bytes(b).map(|g| g.with_language(config.language)))
            .transpose()?;
        let store = TerminalStore::open(dir)?;
        let (events, _) = broadcast::channel(256);
        Ok(Arc::new(Self {
            policy: Mutex::new(ChangePolicy::new(config.location.clone())),
            account,
            store: Mutex::new(store),
            geocoder,
            config,
            events,
            wake: Notify::new(),
            online: AtomicBool::new(true),
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
    pub fn own(&self) -> Result<PresenceFields, TerminalError> {
        Ok(self.store().own()?.unwrap_or_else(|| {
            PresenceFields::new(
                self.config.mail.clone(),
                Activity::token(ActivityToken::Available),
            )
        }))
    }

    pub fn sharing(&self) -> Result<Sharing, TerminalError> {
        Ok(self.store().pref("sharing")?.unwrap_or_default())
    }

    pub fn set_status(&self, activity: Activity) -> Result<(), TerminalError> {
        self.change(|own| own.activity = activity)
    }

    pub fn add_schedule(&self, entry: ScheduleEntry) -> Result<(), TerminalError> {
        self.change(|own| own.schedule.push(entry))
    }

    pub fn clear_schedule(&self) -> Result<(), TerminalError> {
        self.change(|own| own.schedule.clear())
    }

    /// New sharing preferences; published at once (the location may appear or go).
    pub fn set_sharing(&self, sharing: Sharing) -> Result<(), TerminalError> {
        self.store().set_pref("sharing", &sharing)?;
        self.change(|_| {})
    }

    /// A GPS fix from the platform. Returns the address when it was published.
    pub fn on_fix(&self, fix: &Fix) -> Result<Option<String>, TerminalError> {
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
            own.coordinates = crate::model::Coordinates::new(fix.lat, fix.lon, fix.accuracy_m);
        })?;
        Ok(Some(display))
    }

    /// Applies a change to the own record and queues its Publish, together.
    fn change(&self, f: impl FnOnce(&mut PresenceFields)) -> Result<(), TerminalError> {
        let mut own = self.own()?;
        f(&mut own);
        // Whole seconds in the phone's own offset: people read this.
        let now = Local::now().fixed_offset();
        let now = now.with_nanosecond(0).unwrap_or(now);
        own.updated = Some(now);
        let sharing = self.sharing()?;
        let message = publish_message(&self.account, &own, &sharing, now);
        let raw = mail::compose(&message, &envelope(&self.config))
            .map_err(|e| TerminalError::InvalidInput(e.to_string()))?;
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
    ) -> Result<(), TerminalError> {
        let notifiers = names
            .iter()
            .map(|n| {
                n.parse::<AccountName>()
                    .map_err(|e| TerminalError::InvalidInput(format!("{n}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if notifiers.is_empty() {
            return Err(TerminalError::InvalidInput(
                "name at least one colleague".into(),
            ));
        }
        let message = subscribe_message(&self.account, &self.config.mail, notifiers, mode, expires);
        let raw = mail::compose(&message, &envelope(&self.config))
            .map_err(|e| TerminalError::InvalidInput(e.to_string()))?;
        self.store()
            .queue("Subscribe", &self.config.presence_server, &raw, Utc::now())?;
        self.queued()
    }

    fn queued(&self) -> Result<(), TerminalError> {
        let depth = self.store().outbox_depth()?;
        self.emit(Event::Outbox { depth });
        self.wake.notify_waiters();
        Ok(())
    }

    pub fn colleagues(&self) -> Result<Vec<Colleague>, TerminalError> {
        Ok(self.store().colleagues()?)
    }

    pub fn outbox_depth(&self) -> Result<u32, TerminalError> {
        Ok(self.store().outbox_depth()?)
    }

    /// The platform says the network came or went.
    pub fn network_changed(&self, online: bool) {
        self.online.store(online, Ordering::SeqCst);
        if !online {
            self.emit(Event::Connection(ConnectionState::Offline));
        }
        self.wake.notify_waiters();
    }

    /// Hands every due mail to SMTP. Returns how many went; an error when the
    /// server could not be used at all (the mails stay queued).
    pub async fn flush(&self) -> Result<usize, TerminalError> {
        if !self.online.load(Ordering::SeqCst) {
            return Ok(0);
        }
        let due = self.store().due(Utc::now())?;
        if due.is_empty() {
            return Ok(0);
        }
        let transport = smtp::transport(&self.config.smtp.endpoint())
            .map_err(|e| TerminalError::Certificate(e.to_string()))?;
        let from: lettre::Address = self
            .config
            .mail
            .parse()
            .map_err(|_| TerminalError::InvalidInput(self.config.mail.clone()))?;
        let mut sent = 0;
        for mail in due {
            let to: lettre::Address = mail
                .recipient
                .parse()
                .map_err(|_| TerminalError::InvalidInput(mail.recipient.clone()))?;
            let env = Envelope::new(Some(from.clone()), vec![to])
                .map_err(|e| TerminalError::InvalidInput(e.to_string()))?;
            match transport.send_raw(&env, &mail.raw).await {
                Ok(_) => {
                    self.store().sent(mail.id)?;
                    sent += 1;
                    debug!(kind = %mail.kind, "sent");
                }
                Err(e) => {
                    let wait =
                        Duration::from_secs(2u64.saturating_pow(mail.attempts.min(8)).min(300));
                    let retry = Utc::now()
                        + chrono::Duration::from_std(wait)
                            .unwrap_or_else(|_| chrono::Duration::seconds(60));
                    self.store().failed(mail.id, &e.to_string(), retry)?;
                    let error = smtp_error(&e);
                    self.emit(Event::Connection(ConnectionState::Failed(error.clone())));
                    self.emit(Event::Outbox {
                        depth: self.store().outbox_depth()?,
                    });
                    return Err(error);
                }
            }
        }
        self.emit(Event::Outbox {
            depth: self.store().outbox_depth()?,
        });
        Ok(sent)
    }

    /// Reads the Notify mails that arrived (one short connection, for platforms
    /// that wake the app briefly). Returns how many colleagues changed.
    pub async fn sync(&self) -> Result<usize, TerminalError> {
        let mut session = imap::connect(&self.config.imap.endpoint()).await?;
        session
            .select("INBOX")
            .await
            .map_err(|e| TerminalError::Protocol(e.to_string()))?;
        let changed = self.read_notifies(&mut session).await?;
        session.logout().await.ok();
        Ok(changed)
    }

    async fn read_notifies(&self, session: &mut ImapSession) -> Result<usize, TerminalError> {
        let protocol = |e: async_imap::error::Error| TerminalError::Protocol(e.to_string());
        let query = format!(
            "UNKEYWORD {DONE_KEYWORD} UNKEYWORD {NOT_OURS_KEYWORD} SUBJECT \"Notify\" FROM \"{}\"",
            self.config.presence_server
        );
        let mut uids: Vec<u32> = session
            .uid_search(&query)
            .await
            .map_err(protocol)?
            .into_iter()
            .collect();
        if uids.is_empty() {
            return Ok(0);
        }
        uids.sort_unstable();
        let fetched: Vec<_> = session
            .uid_fetch(uid_list(&uids), "(UID BODY.PEEK[])")
            .await
            .map_err(protocol)?
            .try_collect()
            .await
            .map_err(protocol)?;
        let mut changed = 0;
        let (mut read, mut not_ours) = (Vec::new(), Vec::new());
        for f in &fetched {
            let (Some(uid), Some(body)) = (f.uid, f.body()) else {
                continue;
            };
            match self.read_mail(body)? {
                Reading::Presence { changed: c } => {
                    changed += usize::from(c);
                    read.push(uid);
                }
                Reading::NotFromServer => not_ours.push(uid),
            }
        }
        // A Notify read is marked read; a mail that only looks like one is the
        // user's and stays unread, marked only so it is not fetched again.
        for (uids, flags) in [
            (read, format!("(\\Seen {DONE_KEYWORD})")),
            (not_ours, format!("({NOT_OURS_KEYWORD})")),
        ] {
            if uids.is_empty() {
                continue;
            }
            let _: Vec<_> = session
                .uid_store(uid_list(&uids), format!("+FLAGS.SILENT {flags}"))
                .await
                .map_err(protocol)?
                .try_collect()
                .await
                .map_err(protocol)?;
        }
        Ok(changed)
    }

    /// One mail from the inbox: a Notify from the presence server updates that
    /// colleague. Returns whether a colleague changed.
    pub fn apply_mail(&self, raw: &[u8]) -> Result<bool, TerminalError> {
        Ok(matches!(
            self.read_mail(raw)?,
            Reading::Presence { changed: true }
        ))
    }

    fn read_mail(&self, raw: &[u8]) -> Result<Reading, TerminalError> {
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
            let trust = SenderTrust::AuthenticationResults {
                authserv_id: authserv_id.clone(),
            };
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
        loop {
            let wait = match self.flush().await {
                Ok(_) => Duration::from_secs(30),
                Err(e) => {
                    debug!(error = %e, "outbox waits");
                    Duration::from_secs(5)
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.notified() => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    async fn receive_loop(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(60));
        loop {
            match self.idle_session(&mut shutdown, &mut backoff).await {
                Ok(()) => return,
                Err(e) => {
                    warn!(error = %e, "inbox connection");
                    self.emit(Event::Connection(ConnectionState::Failed(e)));
                    tokio::select! {
                        _ = tokio::time::sleep(backoff.next_delay()) => {}
                        _ = self.wake.notified() => {}
                        _ = shutdown.changed() => return,
                    }
                }
            }
        }
    }

    async fn idle_session(
        &self,
        shutdown: &mut watch::Receiver<bool>,
        backoff: &mut Backoff,
    ) -> Result<(), TerminalError> {
        let protocol = |e: async_imap::error::Error| TerminalError::Protocol(e.to_string());
        let mut session = imap::connect(&self.config.imap.endpoint()).await?;
        session.select("INBOX").await.map_err(protocol)?;
        backoff.reset();
        self.emit(Event::Connection(ConnectionState::Connected));
        loop {
            self.read_notifies(&mut session).await?;
            if *shutdown.borrow() {
                session.logout().await.ok();
                return Ok(());
            }
            if imap::mail_announced(&session) {
                continue;
            }
            let mut idle = session.idle();
            idle.init().await.map_err(protocol)?;
            {
                let (wait, _stop) = idle.wait_with_timeout(IDLE_RENEW);
                tokio::select! {
                    r = wait => if let IdleResponse::NewData(_) = r.map_err(protocol)? { debug!("inbox changed") },
                    _ = self.wake.notified() => {}
                    _ = shutdown.changed() => {}
                }
            }
            session = idle.done().await.map_err(protocol)?;
        }
    }
}

fn envelope(config: &TerminalConfig) -> ComposeEnvelope {
    ComposeEnvelope {
        from: config.mail.clone(),
        to: config.presence_server.clone(),
        ..Default::default()
    }
}
