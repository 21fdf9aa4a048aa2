//! The phone's keys: its own Ed25519 device key (made at enrolment; every
//! Publish and Subscribe it writes is signed with it) and the presence
//! server's public key pinned from the enrolment code (a Notify counts only
//! with its signature). Also the enrolment itself: the signed Enrol mail
//! carrying the code's one-time token, and the server's signed Enrolled
//! answer read from the inbox.

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use ed25519_dalek::{SigningKey, VerifyingKey};
use mailpresence_protocol::enrolment::public_key_text;
use mailpresence_protocol::mail::device_signature::{self, read_public_key};
use mailpresence_protocol::mail::{
    self, Enrol, Enrolled, Limits, Outcome, ParsedMail, PresenceMessage,
};
use mailpresence_protocol::transport::imap::Fetched;
use tracing::{debug, info};

use super::client::Terminal;
use super::config::TerminalConfig;
use super::send_queue::envelope;
use crate::error::Error;

/// Enrolled answers read at each look (the newest), their size bound, and
/// how often the inbox is looked at while waiting.
const ENROLLED_LOOKED_AT: usize = 8;
const ENROLLED_MAX_BYTES: usize = 64 * 1024;
const ENROLLED_POLL: Duration = Duration::from_secs(2);

/// The keys of one phone, as its account names them.
#[derive(Default)]
pub struct DeviceKeys {
    pub(super) device: Option<SigningKey>,
    pub(super) server: Option<VerifyingKey>,
}

impl std::fmt::Debug for DeviceKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceKeys")
            .field(
                "device",
                &self
                    .device
                    .as_ref()
                    .map(|k| device_signature::key_id(&k.verifying_key())),
            )
            .field(
                "server",
                &self.server.as_ref().map(device_signature::key_id),
            )
            .finish()
    }
}

impl DeviceKeys {
    /// Reads the device key file and the pinned server key the account names.
    pub fn from_config(config: &TerminalConfig) -> Result<Self, Error> {
        let device = config
            .device_key_file
            .as_deref()
            .map(|f| read_key_file(Path::new(f)))
            .transpose()?;
        let server = config
            .server_key
            .as_deref()
            .map(|k| {
                read_public_key(k).ok_or_else(|| {
                    Error::InvalidInput("server_key is not an Ed25519 public key".into())
                })
            })
            .transpose()?;
        Ok(Self { device, server })
    }
}

/// A new device key, written owner-only; its public half (base64url).
pub fn new_key_file(path: &Path) -> Result<String, Error> {
    let key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let text = format!("{}\n", key_text(&key));
    write_owner_only(path, &text)
        .map_err(|e| Error::InvalidInput(format!("{}: {e}", path.display())))?;
    Ok(public_key_text(&key.verifying_key()))
}

fn write_owner_only(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}

fn read_key_file(path: &Path) -> Result<SigningKey, Error> {
    let bad = |why: String| Error::InvalidInput(format!("device key {}: {why}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    key_from_text(&text).ok_or_else(|| bad("not a key this app wrote".into()))
}

/// A device key as its file and the apps' key storage keep it (base64url).
pub fn key_text(key: &SigningKey) -> String {
    URL_SAFE_NO_PAD.encode(key.to_bytes())
}

fn key_from_text(text: &str) -> Option<SigningKey> {
    let bytes: [u8; 32] = URL_SAFE_NO_PAD.decode(text.trim()).ok()?.try_into().ok()?;
    Some(SigningKey::from_bytes(&bytes))
}

impl Terminal {
    fn keys(&self) -> std::sync::MutexGuard<'_, DeviceKeys> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the device key the app keeps (Keystore, Keychain), or makes one
    /// when it keeps none: then returns the new key's text for the app to
    /// keep. The key signs every mail from now on.
    pub fn adopt_device_key(&self, stored: Option<&str>) -> Result<Option<String>, Error> {
        let (key, new) = match stored {
            Some(text) => (
                key_from_text(text).ok_or_else(|| {
                    Error::InvalidInput("the stored device key is not one this app made".into())
                })?,
                None,
            ),
            None => {
                let key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
                let text = key_text(&key);
                (key, Some(text))
            }
        };
        self.keys().device = Some(key);
        Ok(new)
    }

    /// The device key's id (as `devices ACCOUNT` and the signature name it).
    pub fn device_key_id(&self) -> Option<String> {
        self.keys()
            .device
            .as_ref()
            .map(|k| device_signature::key_id(&k.verifying_key()))
    }

    /// A composed mail, signed with the device key when the phone has one.
    pub(super) fn signed(&self, raw: Vec<u8>) -> Result<Vec<u8>, Error> {
        match &self.keys().device {
            Some(key) => device_signature::sign_mail(&raw, key, Utc::now().timestamp())
                .map_err(|e| Error::InvalidInput(e.to_string())),
            None => Ok(raw),
        }
    }

    /// Whether a Notify (or Enrolled) carries the pinned server key's valid
    /// signature; `None` when no key is pinned (the mail system's proof
    /// decides then).
    pub(super) fn server_signed(&self, parsed: &ParsedMail) -> Option<bool> {
        let key = self.keys().server?;
        // The signature covers To: one sent to a colleague and passed on
        // here is not this phone's.
        let to_me = parsed
            .envelope
            .to
            .as_deref()
            .is_some_and(|to| to.eq_ignore_ascii_case(&self.config.mail));
        if !to_me {
            debug!("a server-signed mail addressed to someone else");
            return Some(false);
        }
        let verdict = device_signature::verify_mail(parsed, &[key], Utc::now().timestamp());
        if let Err(e) = &verdict {
            debug!(error = %e, "the server's signature does not verify");
        }
        Some(matches!(verdict, Ok(Some(_))))
    }

    /// Queues the Enrol mail: the code's one-time token and this phone's
    /// public key, signed with the device key (the server binds it to the
    /// person, once).
    pub fn enrol(&self, token: &str, device_name: &str) -> Result<(), Error> {
        let public = self
            .keys()
            .device
            .as_ref()
            .map(|k| public_key_text(&k.verifying_key()))
            .ok_or_else(|| Error::InvalidInput("this phone has no device key to enrol".into()))?;
        let message = PresenceMessage::Enrol(Enrol {
            account: self.account.clone(),
            token: token.to_owned(),
            key: public,
            device: device_name.to_owned(),
        });
        let raw = mail::compose(&message, &envelope(&self.config))
            .map_err(|e| Error::InvalidInput(e.to_string()))?;
        let raw = self.signed(raw)?;
        self.store()
            .queue("Enrol", &self.config.presence_server, &raw, Utc::now())?;
        self.outbox.wake();
        Ok(())
    }

    /// Waits (up to `timeout`) for the server's Enrolled answer about this
    /// phone's key, signed with the pinned server key.
    pub async fn await_enrolled(&self, timeout: Duration) -> Result<Option<Enrolled>, Error> {
        let Some(own) = self.device_key_id() else {
            return Ok(None);
        };
        let until = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(found) = self.find_enrolled(&own).await? {
                info!(device = %found.device, "enrolled");
                return Ok(Some(found));
            }
            if tokio::time::Instant::now() >= until {
                return Ok(None);
            }
            tokio::time::sleep(ENROLLED_POLL).await;
        }
    }

    async fn find_enrolled(&self, own_key: &str) -> Result<Option<Enrolled>, Error> {
        let mut session = self.open_inbox().await?;
        let query = format!(
            "UNDELETED SUBJECT \"Enrolled\" FROM \"{}\"",
            self.config.presence_server
        );
        let mut uids = session.search(&query).await?;
        // The newest few only: look-alikes anyone may send cost no more.
        uids.sort_unstable();
        let newest = &uids[uids.len().saturating_sub(ENROLLED_LOOKED_AT)..];
        let fetched = session.fetch(newest, ENROLLED_MAX_BYTES).await?;
        let mut found = None;
        for f in &fetched {
            let Fetched::Mail { raw, .. } = f else {
                continue;
            };
            let parsed = mail::parse(raw, Limits::default());
            if self.server_signed(&parsed) != Some(true) {
                continue;
            }
            if let Outcome::Presence(PresenceMessage::Enrolled(e)) = parsed.outcome
                && e.key == own_key
                && e.account == self.account
            {
                found = Some(e);
            }
        }
        session.logout().await;
        Ok(found)
    }
}
