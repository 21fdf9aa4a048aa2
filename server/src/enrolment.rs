//! Making enrolment codes: `mailpresence-server enroll ACCOUNT` (and, later,
//! the board's Phones page). A code carries the phones' mail settings (the
//! `[phones]` section, or the server's own `[imap]`/`[smtp]` hosts), the
//! `[trust]` name, a pin of the company CA, the phones' sign-in provider
//! (`[phones] sign_in`), the server's public key and a one-time token; the token is kept (only its SHA-256) as an expiring
//! record naming the person, for the phone's enrolment mail to redeem.

use std::path::Path;

use chrono::{Duration, Utc};
use ed25519_dalek::SigningKey;
use mailpresence_protocol::enrolment::{self, Enrolment, ServiceSettings};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::hex::to_hex;
use crate::store::{Database, StoreError};

/// The expiring records' kind for outstanding enrolment tokens.
pub const TOKEN_KIND: &str = "enrolment";

#[derive(Debug, thiserror::Error)]
pub enum EnrolError {
    #[error("{0} is not in the directory")]
    Unknown(String),
    #[error("{0} has no mail address: a phone enrols by mail")]
    NoMail(String),
    #[error("the company CA file {path}: {message}")]
    Ca { path: String, message: String },
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// The mail address of `account` among `people` (the file's and the
/// directory's), which a phone enrols by.
pub fn mail_of(people: &[crate::config::Person], account: &str) -> Result<String, EnrolError> {
    people
        .iter()
        .find(|p| p.account == account)
        .ok_or_else(|| EnrolError::Unknown(account.to_owned()))?
        .mail
        .clone()
        .ok_or_else(|| EnrolError::NoMail(account.to_owned()))
}

/// A code for `account` (whose mail address is `mail`), valid for
/// `valid_for`; its token recorded in `store`.
pub fn make_code(
    config: &Config,
    key: &SigningKey,
    store: &mut Database,
    account: &str,
    mail: String,
    valid_for: Duration,
) -> Result<String, EnrolError> {
    let token: [u8; 16] = rand::random();
    let token = base64_url(&token);
    let expires = Utc::now() + valid_for;
    let (imap, smtp) = phone_services(config);
    let code = Enrolment {
        account: account.to_owned(),
        mail,
        presence: config.server.address.clone(),
        imap,
        smtp,
        authserv_id: config.trust.as_ref().and_then(|t| t.authserv_id.clone()),
        ca_sha256: ca_pin(config.imap.ca_file.as_deref())?,
        server_key: enrolment::public_key_text(&key.verifying_key()),
        token: token.clone(),
        expires: expires.timestamp(),
        oauth: config.phones.as_ref().and_then(|p| p.sign_in.clone()),
    }
    .encode(key);
    let record = serde_json::json!({ "account": account, "made_at": Utc::now().to_rfc3339() });
    store.transaction(|tx| {
        tx.put_record(TOKEN_KIND, &token_key(&token), &record.to_string(), expires)
    })?;
    Ok(code)
}

/// Where a stored token is found: its SHA-256, so the database holds no
/// token a reader of it could redeem.
pub fn token_key(token: &str) -> String {
    to_hex(&Sha256::digest(token.as_bytes()))
}

/// The phones' IMAP and SMTP: the `[phones]` settings, else the server's own.
fn phone_services(config: &Config) -> (ServiceSettings, ServiceSettings) {
    let phones = config.phones.as_ref();
    let pick = |given: Option<&ServiceSettings>, host: &str, port: u16, tls| {
        given.cloned().unwrap_or(ServiceSettings {
            host: host.to_owned(),
            port,
            tls,
        })
    };
    (
        pick(
            phones.and_then(|p| p.imap.as_ref()),
            &config.imap.host,
            config.imap.port,
            config.imap.tls,
        ),
        pick(
            phones.and_then(|p| p.smtp.as_ref()),
            &config.smtp.host,
            config.smtp.port,
            config.smtp.tls,
        ),
    )
}

/// SHA-256 (hex) of the first certificate of the company CA file.
fn ca_pin(ca_file: Option<&Path>) -> Result<Option<String>, EnrolError> {
    let Some(path) = ca_file else {
        return Ok(None);
    };
    let certs =
        mailpresence_protocol::transport::tls::read_ca_file(path).map_err(|e| EnrolError::Ca {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
    Ok(certs.first().map(|c| to_hex(&Sha256::digest(c.as_ref()))))
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The code as a QR code for a terminal (two rows per character).
pub fn qr_for_terminal(code: &str) -> Option<String> {
    let qr =
        qrcode::QrCode::with_error_correction_level(code.as_bytes(), qrcode::EcLevel::M).ok()?;
    Some(
        qr.render::<qrcode::render::unicode::Dense1x2>()
            .quiet_zone(true)
            .build(),
    )
}
