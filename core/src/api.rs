//! The API the Android and iOS apps call, through UniFFI. It is thin: every
//! decision is in `terminal`, `location` and `mail`; this layer only converts
//! types, runs work on the client's own runtime, and forwards events to the
//! app's listener. One public error enum; async where it is natural (Kotlin
//! `suspend`, Swift `async`); a watch returns a handle that ends it when dropped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{NaiveTime, TimeZone, Utc};
use tokio::sync::watch;

use mailpresence_protocol::mail::SubscribeMode;
use mailpresence_protocol::model::{Activity, ActivityToken, PresenceFields, ScheduleEntry};
use mailpresence_protocol::summary::{Lang, summary_line};

use crate::error::Error;
pub use crate::error::PresenceError;
use crate::location::{Fix, Granularity, PolicyConfig};
use crate::sign_in::{AppTokens, TokenStorage};
pub use crate::terminal::{ConnectionStatus, MailRefused, MailServer};
use crate::terminal::{DEFAULT_LOCATION_TTL_SECS, Event, Sharing, Terminal, TerminalConfig};
use mailpresence_protocol::transport::oauth::{ProviderConfig, RefreshTokenStore};

fn invalid(message: impl Into<String>) -> PresenceError {
    PresenceError::InvalidInput {
        detail: message.into(),
    }
}

/// The account settings screen, as one record.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct AccountConfig {
    pub account: String,
    pub mail: String,
    pub presence_server: String,
    /// `ja` or `en`.
    pub language: String,
    pub imap: MailServer,
    pub smtp: MailServer,
    pub granularity: Granularity,
    /// The authserv-id of the company's mail system (`mx.example.co.jp`): a
    /// Notify counts only if that system proved it came from the presence
    /// server. Without it no colleague's presence is shown. Ask the company's
    /// IT for it.
    #[uniffi(default = None)]
    pub authserv_id: Option<String>,
    /// How many `Received:` headers the company's mailbox server writes
    /// above its verdict (None: 1, as Dovecot's LMTP does). Enrolment or IT
    /// sets it for other mail systems.
    #[uniffi(default = None)]
    pub delivery_hops: Option<u32>,
    /// The company's provider (Microsoft 365, Google Workspace) when the
    /// worker signs in instead of typing a password: `imap` and `smtp` with
    /// a user and no password log in with the sign-in
    /// ([`PresenceClient::with_sign_in`]).
    #[uniffi(default = None)]
    pub oauth: Option<ProviderConfig>,
    /// The presence server's public key from the enrolment code: a Notify
    /// then counts only with its signature.
    #[uniffi(default = None)]
    pub server_key: Option<String>,
}

/// Someone's presence as the app shows it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PresenceView {
    pub account: String,
    pub contact: String,
    pub activity: Option<ActivityToken>,
    pub activity_text: Option<String>,
    pub location: Option<String>,
    /// Plans as a person reads them (`15:00 帰社予定`, `13:00-15:00 部長会議`).
    pub schedule: Vec<String>,
    /// When it changed, seconds since 1970 (UTC).
    pub updated_unix: Option<i64>,
    /// One line for lists: `現場作業中（設備点検中） · 千代田区 · 15:00 帰社予定`.
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ColleaguePresence {
    pub presence: PresenceView,
    /// When this phone received it, seconds since 1970.
    pub received_unix: i64,
}

/// A 伝言メモ ("電話がありました") a desk worker left for this worker on the
/// board; the board keeps it until it is cleared there.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PhoneMessage {
    pub id: String,
    /// Who called (`山田商事 山田様`).
    pub caller: String,
    /// The number to call back, as written.
    pub callback: Option<String>,
    /// `tel:` of it, for a tap to call.
    pub callback_uri: Option<String>,
    pub message: Option<String>,
    /// Who took the call.
    pub taken_by: String,
    /// When, seconds since 1970.
    pub taken_unix: i64,
}

impl From<&mailpresence_protocol::memo::Memo> for PhoneMessage {
    fn from(m: &mailpresence_protocol::memo::Memo) -> Self {
        Self {
            id: m.id.clone(),
            caller: m.caller.clone(),
            callback_uri: m
                .callback
                .as_deref()
                .and_then(mailpresence_protocol::memo::tel_uri),
            callback: m.callback.clone(),
            message: m.message.clone(),
            taken_by: m.taken_by.clone(),
            taken_unix: m.taken_at.timestamp(),
        }
    }
}

/// Implemented by the app; called from a background thread. Each event
/// carries what it knows and nothing else.
#[uniffi::export(with_foreign)]
pub trait PresenceListener: Send + Sync {
    /// A colleague's presence arrived (or their location expired).
    fn on_colleague(&self, colleague: ColleaguePresence);
    /// The own presence was queued for the server, with the location it
    /// carries (`None` while sharing is off or no address is known).
    fn on_published(&self, location: Option<String>);
    /// The number of mails waiting for the network changed.
    fn on_outbox_changed(&self, depth: u32);
    fn on_connection(&self, status: ConnectionStatus);
    /// The mail server refused a queued mail for good (e.g. 550 for the
    /// presence server's address): it was dropped and will not be sent.
    fn on_mail_refused(&self, refused: MailRefused);
    /// The company directory arrived from the server: `listed` colleagues
    /// kept on the phone, of `total` the server has for this worker (more
    /// than fit in one mail: search narrower with `request_directory`).
    fn on_directory(&self, listed: u32, total: u32);
    /// A 伝言メモ left for this worker on the board arrived.
    fn on_phone_message(&self, message: PhoneMessage);
}

fn lang(code: &str) -> Lang {
    if code.eq_ignore_ascii_case("en") {
        Lang::En
    } else {
        Lang::Ja
    }
}

fn presence(account: &str, fields: &PresenceFields, lang: Lang) -> PresenceView {
    PresenceView {
        account: account.to_owned(),
        contact: fields.contact.to_string(),
        activity: fields.activity.token,
        activity_text: fields.activity.text.clone(),
        location: fields.location.clone(),
        schedule: fields
            .schedule
            .iter()
            .map(ScheduleEntry::to_human)
            .collect(),
        updated_unix: fields.updated.map(|t| t.timestamp()),
        summary: summary_line(fields, lang),
    }
}

/// The field worker's presence client.
#[derive(Debug, uniffi::Object)]
pub struct PresenceClient {
    terminal: Arc<Terminal>,
    /// Taken on drop: a runtime cannot be dropped from async code, only shut down.
    runtime: Option<tokio::runtime::Runtime>,
    stop: watch::Sender<bool>,
    running: AtomicBool,
    listener: Mutex<Option<tokio::task::JoinHandle<()>>>,
    lang: Lang,
}

#[uniffi::export]
impl PresenceClient {
    /// Opens the client over `storage_dir` (created when missing). `map_pack`
    /// is the bytes of the app's `mappack.bin` asset.
    #[uniffi::constructor]
    pub fn new(
        config: AccountConfig,
        storage_dir: String,
        map_pack: Option<Vec<u8>>,
    ) -> Result<Arc<Self>, PresenceError> {
        Self::open(config, storage_dir, map_pack, None)
    }

    /// Opens the client signed in with the company's provider
    /// (`config.oauth`): the refresh token comes from the app's `tokens`
    /// (where [`crate::sign_in::SignIn`] put it), and a rotated one goes back.
    #[uniffi::constructor]
    pub fn with_sign_in(
        config: AccountConfig,
        storage_dir: String,
        map_pack: Option<Vec<u8>>,
        tokens: Arc<dyn TokenStorage>,
    ) -> Result<Arc<Self>, PresenceError> {
        let store: Arc<dyn RefreshTokenStore> = Arc::new(AppTokens(tokens));
        Self::open(config, storage_dir, map_pack, Some(store))
    }
}

impl PresenceClient {
    fn open(
        config: AccountConfig,
        storage_dir: String,
        map_pack: Option<Vec<u8>>,
        refresh_tokens: Option<Arc<dyn RefreshTokenStore>>,
    ) -> Result<Arc<Self>, PresenceError> {
        let lang = lang(&config.language);
        let terminal_config = TerminalConfig {
            account: config.account,
            mail: config.mail,
            presence_server: config.presence_server,
            language: lang,
            imap: config.imap,
            smtp: config.smtp,
            location: PolicyConfig {
                granularity: config.granularity,
                ..Default::default()
            },
            authserv_id: config.authserv_id.filter(|id| !id.trim().is_empty()),
            delivery_hops: config
                .delivery_hops
                .unwrap_or(mailpresence_protocol::mail::auth::DEFAULT_DELIVERY_HOPS as u32),
            presence_folder: crate::terminal::config::DEFAULT_PRESENCE_FOLDER.into(),
            location_ttl_secs: DEFAULT_LOCATION_TTL_SECS,
            oauth: config.oauth,
            // The apps' device key through a platform key store is still to
            // come (issue "Enrol a phone with one scan"); the pin already works.
            device_key_file: None,
            server_key: config.server_key,
        };
        let terminal = Terminal::open_signed_in(
            terminal_config,
            std::path::Path::new(&storage_dir),
            map_pack.as_deref(),
            refresh_tokens,
        )?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("mailpresence")
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        let (stop, _) = watch::channel(false);
        Ok(Arc::new(Self {
            terminal,
            runtime: Some(runtime),
            stop,
            running: AtomicBool::new(false),
            listener: Mutex::new(None),
            lang,
        }))
    }
}

#[uniffi::export]
impl PresenceClient {
    /// The app's listener; it replaces any earlier one.
    pub fn set_listener(&self, listener: Arc<dyn PresenceListener>) {
        let mut events = self.terminal.events();
        let lang = self.lang;
        let Some(runtime) = &self.runtime else { return };
        let task = runtime.spawn(async move {
            loop {
                match events.recv().await {
                    Ok(Event::Colleague(c)) => listener.on_colleague(ColleaguePresence {
                        presence: presence(&c.account, &c.fields, lang),
                        received_unix: c.received_at.timestamp(),
                    }),
                    Ok(Event::Published { location }) => listener.on_published(location),
                    Ok(Event::OutboxChanged { depth }) => listener.on_outbox_changed(depth),
                    Ok(Event::Refused(refused)) => listener.on_mail_refused(refused),
                    Ok(Event::Connection(status)) => listener.on_connection(status),
                    Ok(Event::Directory { listed, total }) => listener.on_directory(listed, total),
                    Ok(Event::Memo(m)) => listener.on_phone_message(PhoneMessage::from(m.as_ref())),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return,
                }
            }
        });
        if let Some(old) = self
            .listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(task)
        {
            old.abort();
        }
    }

    /// Starts sending the outbox and watching the inbox (IMAP IDLE) in the
    /// background, until `stop` or the client goes away.
    pub fn start(&self) {
        if self.running.swap(true, Ordering::SeqCst) {
            return;
        }
        self.stop.send_replace(false);
        self.renew_follows();
        if let Some(runtime) = &self.runtime {
            runtime.spawn(self.terminal.clone().run(self.stop.subscribe()));
        }
    }

    pub fn stop(&self) {
        self.running.store(false, Ordering::SeqCst);
        self.stop.send_replace(true);
    }

    /// The platform's network came or went.
    pub fn network_changed(&self, online: bool) {
        self.terminal.network_changed(online);
    }

    pub fn own_presence(&self) -> Result<PresenceView, PresenceError> {
        Ok(presence(
            &self.terminal.config().account,
            &self.terminal.own()?,
            self.lang,
        ))
    }

    pub fn colleagues(&self) -> Result<Vec<ColleaguePresence>, PresenceError> {
        Ok(self
            .terminal
            .colleagues()?
            .iter()
            .map(|c| ColleaguePresence {
                presence: presence(&c.account, &c.fields, self.lang),
                received_unix: c.received_at.timestamp(),
            })
            .collect())
    }

    pub fn outbox_depth(&self) -> Result<u32, PresenceError> {
        Ok(self.terminal.outbox_depth()?)
    }

    /// Map data attributions, for the About screen.
    pub fn attributions(&self) -> Vec<String> {
        self.terminal.attributions()
    }

    /// Sets the own activity (a token, free text, or both) and publishes it.
    /// With `until_unix` it ends by itself then (「会議 until 15:00」): the
    /// status goes back to what it was before, or to available, and that is
    /// published too, also after a restart ([`crate::terminal::clock`]).
    #[uniffi::method(default(until_unix = None))]
    pub async fn set_status(
        &self,
        activity: Option<ActivityToken>,
        text: Option<String>,
        until_unix: Option<i64>,
    ) -> Result<(), PresenceError> {
        let text = text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
        if activity.is_none() && text.is_none() {
            return Err(invalid("choose an activity or write one"));
        }
        let until = time_of(until_unix)?;
        self.terminal.set_status_until(
            Activity {
                token: activity,
                text,
            },
            until,
        )?;
        self.flush().await
    }

    /// Adds a plan (`15:00 帰社予定`) and publishes.
    pub async fn add_schedule(&self, entry: String) -> Result<(), PresenceError> {
        if entry.trim().is_empty() {
            return Err(invalid("the plan is empty"));
        }
        self.terminal.add_schedule(ScheduleEntry::parse(&entry))?;
        self.flush().await
    }

    pub async fn clear_schedule(&self) -> Result<(), PresenceError> {
        self.terminal.clear_schedule()?;
        self.flush().await
    }

    /// Location sharing on: until a time (seconds since 1970), within
    /// working hours (`08:00-19:00`), with or without coordinates. Published
    /// at once. A new phone shares nothing until this is called.
    pub async fn set_location_sharing(
        &self,
        until_unix: Option<i64>,
        working_hours: Option<String>,
        share_coordinates: bool,
    ) -> Result<(), PresenceError> {
        let until = time_of(until_unix)?;
        let working_hours = working_hours.map(|h| parse_hours(&h)).transpose()?;
        self.terminal.set_sharing(Sharing {
            on: true,
            until,
            working_hours,
            coordinates: share_coordinates,
        })?;
        self.flush().await
    }

    /// Whether the location goes out with Publishes now (sharing on, not past
    /// its end, inside working hours): what the app's sharing switch shows.
    pub fn is_sharing_location(&self) -> Result<bool, PresenceError> {
        Ok(self
            .terminal
            .sharing()?
            .active(chrono::Local::now().fixed_offset()))
    }

    /// A GPS fix from the platform; returns the address when it was published.
    pub async fn location_fix(
        &self,
        lat: f64,
        lon: f64,
        accuracy_m: Option<f64>,
        time_unix_ms: Option<i64>,
    ) -> Result<Option<String>, PresenceError> {
        let time = time_unix_ms.and_then(|ms| Utc.timestamp_millis_opt(ms).single());
        let published = self.terminal.on_fix(&Fix {
            time,
            lat,
            lon,
            accuracy_m,
        })?;
        if published.is_some() {
            self.flush().await?;
        }
        Ok(published)
    }

    /// Asks once for colleagues' presence; answers arrive at the listener.
    pub async fn lookup(&self, accounts: Vec<String>) -> Result<(), PresenceError> {
        self.terminal
            .subscribe(&accounts, SubscribeMode::Once, None)?;
        self.flush().await
    }

    /// Watches colleagues until the handle is stopped or dropped.
    pub fn watch(&self, accounts: Vec<String>) -> Result<Arc<WatchHandle>, PresenceError> {
        self.terminal
            .subscribe(&accounts, SubscribeMode::Watch, None)?;
        Ok(Arc::new(WatchHandle {
            terminal: self.terminal.clone(),
            accounts,
            stopped: AtomicBool::new(false),
        }))
    }

    /// Reads new Notify mails once (for platforms that wake the app briefly);
    /// returns how many colleagues changed.
    pub async fn sync(&self) -> Result<u32, PresenceError> {
        self.renew_follows();
        // A status whose end came while the app was not running goes back.
        self.terminal
            .on_clock(chrono::Local::now().fixed_offset())?;
        let terminal = self.terminal.clone();
        let changed = self
            .on_runtime(async move { terminal.sync().await })
            .await??;
        self.flush().await?;
        Ok(u32::try_from(changed).unwrap_or(u32::MAX))
    }
}

impl PresenceClient {
    /// Sends what is queued. A failure to reach the server is not an error
    /// for the caller: the mail stays queued and goes when the network is back.
    pub(crate) async fn flush(&self) -> Result<(), PresenceError> {
        let terminal = self.terminal.clone();
        match self
            .on_runtime(async move { terminal.flush().await })
            .await?
        {
            Ok(_) => Ok(()),
            Err(e) => match PresenceError::from(e) {
                PresenceError::Unreachable { .. } => Ok(()),
                other => Err(other),
            },
        }
    }
}

impl PresenceClient {
    /// Asks again for the followed colleagues' watches when due; a failure
    /// only delays it to the next start or sync.
    fn renew_follows(&self) {
        if let Err(e) = self.terminal.renew_follows(Utc::now()) {
            tracing::warn!(error = %e, "could not renew the follows");
        }
    }

    /// The client behind the UniFFI edge, for the edge's other files.
    pub(crate) fn terminal(&self) -> &Arc<Terminal> {
        &self.terminal
    }

    /// Runs I/O on the client's runtime, whatever executor polls the caller
    /// (Kotlin coroutines, Swift tasks).
    pub(crate) async fn on_runtime<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, PresenceError> {
        let runtime = self.runtime.as_ref().ok_or(Error::Closed)?;
        Ok(runtime.spawn(work).await.map_err(Error::from)?)
    }
}

impl Drop for PresenceClient {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A running watch; stopping (or dropping) it ends the watch on the server.
#[derive(Debug, uniffi::Object)]
pub struct WatchHandle {
    terminal: Arc<Terminal>,
    accounts: Vec<String>,
    stopped: AtomicBool,
}

#[uniffi::export]
impl WatchHandle {
    pub fn stop(&self) {
        if !self.stopped.swap(true, Ordering::SeqCst)
            && let Err(e) = self
                .terminal
                .subscribe(&self.accounts, SubscribeMode::Watch, Some(0))
        {
            tracing::warn!(error = %e, "could not end the watch");
        }
    }

    pub fn accounts(&self) -> Vec<String> {
        self.accounts.clone()
    }
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `08:00-19:00` → (08:00, 19:00).
pub(crate) fn parse_hours(s: &str) -> Result<(NaiveTime, NaiveTime), PresenceError> {
    let (a, b) = s
        .split_once(['-', '~', '〜'])
        .ok_or_else(|| invalid(format!("{s:?} is not HH:MM-HH:MM")))?;
    let t = |x: &str| {
        NaiveTime::parse_from_str(x.trim(), "%H:%M")
            .map_err(|_| invalid(format!("{x:?} is not HH:MM")))
    };
    Ok((t(a)?, t(b)?))
}

/// The row a colleague's presence makes in the app, built from its fields
/// (a schedule entry as a person writes it, `13:00-15:00 部長会議`): the same
/// view and summary line the listener hands over. For previews and the apps'
/// tests; it reads no mail and proves nothing: a colleague's presence the
/// phone believes arrives only from a proven Notify, through the listener.
#[allow(clippy::too_many_arguments)]
#[uniffi::export]
pub fn presence_view(
    account: String,
    contact: String,
    activity: Option<ActivityToken>,
    activity_text: Option<String>,
    location: Option<String>,
    schedule: Vec<String>,
    updated_unix: Option<i64>,
    language: String,
) -> Result<PresenceView, PresenceError> {
    let account: mailpresence_protocol::model::AccountName = account
        .parse()
        .map_err(|e| invalid(format!("account: {e}")))?;
    let updated = time_of(updated_unix)?;
    let mut fields = PresenceFields::new(
        contact,
        Activity {
            token: activity,
            text: activity_text,
        },
    );
    fields.location = location;
    fields.schedule = schedule.iter().map(|e| ScheduleEntry::parse(e)).collect();
    fields.updated = updated;
    Ok(presence(account.as_str(), &fields, lang(&language)))
}

/// A Unix time the app hands over, as the core keeps times.
pub(crate) fn time_of(
    unix: Option<i64>,
) -> Result<Option<chrono::DateTime<chrono::FixedOffset>>, PresenceError> {
    unix.map(|s| {
        Utc.timestamp_opt(s, 0)
            .single()
            .map(|t| t.fixed_offset())
            .ok_or_else(|| invalid("bad time"))
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_presence_view_from_fields_carries_the_summary_the_list_shows() {
        let view = presence_view(
            "yamada".into(),
            "sip:yamada@pbx.example.co.jp".into(),
            Some(ActivityToken::Meeting),
            Some("部長会議".into()),
            None,
            vec!["13:00-15:00 部長会議".into(), "15:00 在席予定".into()],
            Some(1_795_665_480),
            "ja".into(),
        )
        .expect("a view");
        assert_eq!(view.summary, "会議中（部長会議） · 13:00-15:00 部長会議");
        assert_eq!(view.schedule, ["13:00-15:00 部長会議", "15:00 在席予定"]);
        assert_eq!(view.updated_unix, Some(1_795_665_480));
    }

    #[test]
    fn a_name_no_account_can_have_is_refused() {
        let refused = presence_view(
            "田中 太郎".into(),
            "tanaka@example.co.jp".into(),
            None,
            Some("外出中".into()),
            None,
            Vec::new(),
            None,
            "ja".into(),
        );
        assert!(
            matches!(refused, Err(PresenceError::InvalidInput { .. })),
            "{refused:?}"
        );
    }
}
