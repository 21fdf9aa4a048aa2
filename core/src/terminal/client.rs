//! The phone's presence client, [`Terminal`]: what it holds (account, store,
//! geocoder, outbox, event channel) and the own record with what changes it
//! (status, schedule, GPS fixes, sharing). Each change is published through
//! the outbox side (`outbox.rs`); colleagues' Notify mails are read by the
//! inbox side (`inbox.rs`); `loops.rs` keeps both running in the background.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Local, Timelike};
use tokio::sync::{Notify, broadcast};
use tracing::warn;

use super::config::TerminalConfig;
use super::engine::Sharing;
use super::events::{ConnectionStatus, Event};
use super::send_queue::{PhoneOutbox, check_addresses};
use super::store::{Colleague, TerminalStore};
use crate::error::Error;
use crate::location::{ChangePolicy, Fix, OfflineGeocoder};
use mailpresence_protocol::model::{
    AccountName, Activity, ActivityToken, Coordinates, PresenceFields, ScheduleEntry,
};
use mailpresence_protocol::transport::Endpoint;
use mailpresence_protocol::transport::oauth::RefreshTokenStore;
use mailpresence_protocol::transport::outbox::{Outbox, Policy};
use mailpresence_protocol::transport::smtp::Mailer;

/// The store's key of the sharing preferences.
const SHARING: &str = "sharing";

#[derive(Debug)]
pub struct Terminal {
    pub(super) config: TerminalConfig,
    /// The inbox's server, its login built once (a sign-in's token cache
    /// lives as long as the client).
    pub(super) imap: Endpoint,
    pub(super) account: AccountName,
    store: Arc<Mutex<TerminalStore>>,
    geocoder: Option<OfflineGeocoder>,
    policy: Mutex<ChangePolicy>,
    events: broadcast::Sender<Event>,
    pub(super) outbox: Outbox<PhoneOutbox>,
    /// Wakes the inbox loop (network back); kept until it next waits.
    pub(super) inbox_wake: Notify,
    /// Wakes the clock loop (a new status end or sharing window).
    pub(super) clock_wake: Notify,
    online: Arc<AtomicBool>,
    /// The device key that signs, the server key that must have signed.
    pub(super) keys: Mutex<super::device::DeviceKeys>,
}

impl Terminal {
    /// Opens the client over the storage folder; `map_pack` is the bytes of
    /// `assets/mappack.bin` (without it, fixes are not turned into addresses).
    pub fn open(
        config: TerminalConfig,
        dir: &Path,
        map_pack: Option<&[u8]>,
    ) -> Result<Arc<Self>, Error> {
        Self::open_signed_in(config, dir, map_pack, None)
    }

    /// Opens the client; with `[oauth]` in the account, `refresh_tokens`
    /// holds the worker's sign-in (the CLI's file, the app's Keystore or
    /// Keychain) and both mail servers log in with it.
    pub fn open_signed_in(
        config: TerminalConfig,
        dir: &Path,
        map_pack: Option<&[u8]>,
        refresh_tokens: Option<Arc<dyn RefreshTokenStore>>,
    ) -> Result<Arc<Self>, Error> {
        let account: AccountName = config
            .account
            .parse()
            .map_err(|e| Error::InvalidInput(format!("account: {e}")))?;
        check_addresses(&account, &config)?;
        if map_pack.is_none() {
            warn!("no map pack: GPS fixes will not be turned into addresses or published");
        }
        if config
            .authserv_id
            .as_deref()
            .is_none_or(|id| id.trim().is_empty())
        {
            warn!(
                "no authserv_id: no Notify can be proven to come from the presence server, \
                 so no colleague's presence will be shown; set the company mail system's authserv-id"
            );
        }
        let keys = super::device::DeviceKeys::from_config(&config)?;
        let geocoder = map_pack
            .map(|b| OfflineGeocoder::from_bytes(b).map(|g| g.with_language(config.language)))
            .transpose()?;
        let store = Arc::new(Mutex::new(TerminalStore::open(dir)?));
        let (events, _) = broadcast::channel(256);
        let online = Arc::new(AtomicBool::new(true));
        let (imap, smtp) = config.endpoints(refresh_tokens);
        let smtp = Mailer::new(smtp, Duration::from_secs(30))?;
        let outbox = Outbox::new(
            PhoneOutbox::new(store.clone(), config.mail.clone(), online.clone()),
            smtp,
            Policy::default(),
        );
        Ok(Arc::new(Self {
            policy: Mutex::new(ChangePolicy::new(config.location.clone())),
            account,
            store,
            geocoder,
            config,
            imap,
            events,
            outbox,
            inbox_wake: Notify::new(),
            clock_wake: Notify::new(),
            online,
            keys: Mutex::new(keys),
        }))
    }

    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    pub(super) fn store(&self) -> MutexGuard<'_, TerminalStore> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn emit(&self, event: Event) {
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

    /// The sharing preferences; off until the worker turns sharing on.
    pub fn sharing(&self) -> Result<Sharing, Error> {
        Ok(self.store().pref(SHARING)?.unwrap_or_default())
    }

    /// Sets the own activity for good (a status that ends by itself:
    /// [`Terminal::set_status_until`]); a timed one running is over.
    pub fn set_status(&self, activity: Activity) -> Result<(), Error> {
        self.set_status_until(activity, None)
    }

    pub fn add_schedule(&self, entry: ScheduleEntry) -> Result<(), Error> {
        self.change(|own| own.schedule.push(entry))
    }

    pub fn clear_schedule(&self) -> Result<(), Error> {
        self.change(|own| own.schedule.clear())
    }

    /// New sharing preferences; published at once (the location may appear or go).
    pub fn set_sharing(&self, sharing: Sharing) -> Result<(), Error> {
        self.store().set_pref(SHARING, &sharing)?;
        self.change(|_| {})?;
        self.clock_wake.notify_one();
        Ok(())
    }

    /// Sharing on with no limits, when the worker has not chosen yet: kept
    /// without a Publish of its own (the next change carries the place).
    /// For the CLI's `replay`, where replaying a track is the choice to
    /// share it; the apps ask the worker.
    pub fn share_unless_chosen(&self) -> Result<(), Error> {
        let mut store = self.store();
        if store.pref::<Sharing>(SHARING)?.is_none() {
            store.set_pref(
                SHARING,
                &Sharing {
                    on: true,
                    ..Sharing::default()
                },
            )?;
        }
        Ok(())
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
            own.coordinates = Coordinates::new(fix.lat, fix.lon, fix.accuracy_m);
        })?;
        Ok(Some(display))
    }

    /// Applies a change to the own record and queues its Publish, together.
    pub(super) fn change(&self, f: impl FnOnce(&mut PresenceFields)) -> Result<(), Error> {
        self.change_at(Local::now().fixed_offset(), f)
    }

    /// [`Terminal::change`] as of `now` (the clock's moment: what sharing
    /// allows then decides the Publish).
    pub(super) fn change_at(
        &self,
        now: DateTime<FixedOffset>,
        f: impl FnOnce(&mut PresenceFields),
    ) -> Result<(), Error> {
        let mut own = self.own()?;
        f(&mut own);
        // Whole seconds in the phone's own offset: people read this. What
        // sharing allows is decided at `now` itself.
        own.updated = Some(now.with_nanosecond(0).unwrap_or(now));
        self.publish(&own, now)
    }

    pub fn colleagues(&self) -> Result<Vec<Colleague>, Error> {
        Ok(self.store().colleagues()?)
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
}
