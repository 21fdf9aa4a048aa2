//! Enrolment for the apps: the code a worker scans (or opens as a link),
//! read by the protocol crate's one parser and handed to the app to show and
//! to fill the account from; the phone's device key kept by the app's key
//! store (Android Keystore-wrapped, the iOS Keychain) through
//! [`DeviceKeyStorage`]; and the Enrol mail that binds that key to the
//! person. Thin over `terminal::device`.

use std::sync::Arc;

use chrono::Utc;
use mailpresence_protocol::enrolment::{Enrolment, ServiceSettings};
use mailpresence_protocol::transport::oauth::ProviderConfig;

use crate::api::PresenceClient;
use crate::error::{Error, PresenceError};
use crate::terminal::MailServer;

/// Implemented by the app: where the device's private key lives. Called
/// from a background thread; the key is base64url text.
#[uniffi::export(with_foreign)]
pub trait DeviceKeyStorage: Send + Sync {
    fn load(&self) -> Option<String>;
    fn save(&self, key: String);
}

/// What an enrolment code says, for the app to show ("you are about to
/// trust …") and to fill the account from.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct EnrolmentCode {
    pub account: String,
    pub mail: String,
    pub presence_server: String,
    /// Without user or password: the app adds the person's.
    pub imap: MailServer,
    pub smtp: MailServer,
    pub authserv_id: Option<String>,
    /// SHA-256 of the company CA the mail servers' certificates come from.
    pub ca_sha256: Option<String>,
    /// The server's public key (pinned: `AccountConfig.server_key`).
    pub server_key: String,
    /// Its fingerprint as the server's `enroll` prints it, for a person to compare.
    pub server_key_fingerprint: String,
    /// The one-time token the Enrol mail carries.
    pub token: String,
    pub expires_unix: i64,
    /// The company's sign-in, where its mail takes no password.
    pub sign_in: Option<ProviderConfig>,
}

/// Reads a scanned code or link: an expired, changed or foreign one is
/// `InvalidInput` with the reason in words.
#[uniffi::export]
pub fn read_enrolment_code(code: String) -> Result<EnrolmentCode, PresenceError> {
    let read = Enrolment::decode(code.trim(), Utc::now().timestamp())
        .map_err(|e| Error::InvalidInput(e.to_string()))?;
    let server = |s: &ServiceSettings| MailServer {
        host: s.host.clone(),
        port: s.port,
        tls: s.tls,
        user: None,
        password: None,
        oauth_token_file: None,
        oauth_mechanism: None,
        ca_file: None,
    };
    Ok(EnrolmentCode {
        imap: server(&read.imap),
        smtp: server(&read.smtp),
        server_key_fingerprint: read.key_fingerprint(),
        account: read.account,
        mail: read.mail,
        presence_server: read.presence,
        authserv_id: read.authserv_id,
        ca_sha256: read.ca_sha256,
        server_key: read.server_key,
        token: read.token,
        expires_unix: read.expires,
        sign_in: read.oauth,
    })
}

#[uniffi::export]
impl PresenceClient {
    /// Takes the device key from the app's storage, or makes one and hands
    /// it to the storage; every mail is signed with it from now on. Returns
    /// the key's id.
    pub fn use_device_key(
        &self,
        storage: Arc<dyn DeviceKeyStorage>,
    ) -> Result<String, PresenceError> {
        let stored = storage.load().filter(|k| !k.trim().is_empty());
        if let Some(new) = self.terminal().adopt_device_key(stored.as_deref())? {
            storage.save(new);
        }
        self.terminal()
            .device_key_id()
            .ok_or_else(|| Error::InvalidInput("no device key".into()).into())
    }

    /// Sends the Enrol mail for the code's `token` under `device_name` (what
    /// IT sees), signed with the device key; `enrolled` says when the
    /// server's signed answer has come.
    pub async fn enrol(&self, token: String, device_name: String) -> Result<(), PresenceError> {
        self.terminal().enrol(&token, &device_name)?;
        self.flush().await
    }

    /// Waits up to `timeout_secs` for the server's signed answer; whether it came.
    pub async fn enrolled(&self, timeout_secs: u32) -> Result<bool, PresenceError> {
        let terminal = self.terminal().clone();
        let wait = std::time::Duration::from_secs(u64::from(timeout_secs));
        Ok(self
            .on_runtime(async move { terminal.await_enrolled(wait).await })
            .await??
            .is_some())
    }

    /// The mails waiting to be sent, as text (the "waiting to send" view).
    pub fn queued_mails(&self) -> Result<Vec<String>, PresenceError> {
        Ok(self
            .terminal()
            .queued_mails()?
            .into_iter()
            .map(|(_, raw)| String::from_utf8_lossy(&raw).into_owned())
            .collect())
    }
}
