//! The enrolment code: everything a phone needs to join, in one QR code or
//! link, made by the presence server for one person and read by the apps and
//! the CLI through this one parser.
//!
//! It carries the mail servers' settings, the presence address, the person's
//! account and mail address, the trust name of the company's mail system, a
//! pin of the company CA where one is configured, the server's Ed25519 public
//! key, and a one-time token that expires — never a password. The whole code
//! is signed with the server's key, so a changed byte is refused as tampered;
//! the phone then pins that key for the Notify mails it will accept.
//!
//! Wire form: `mailpresence:enrol/1/<base64url(JSON)>.<base64url(signature)>`
//! — a URI a QR code holds in byte mode (well under 1,000 bytes for a real
//! company) and a link a mail or the board can carry.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::transport::TlsMode;
use crate::transport::oauth::ProviderConfig;

/// What every code begins with; the version follows.
pub const PREFIX: &str = "mailpresence:enrol/";
/// The one version this build writes and reads.
pub const VERSION: u32 = 1;
/// A code longer than this is not ours (a QR code holds at most 2,953 bytes).
pub const MAX_LEN: usize = 2_900;

/// One mail service as the phone reaches it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSettings {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
}

/// What a code tells the phone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolment {
    pub account: String,
    pub mail: String,
    /// The presence server's mail address.
    pub presence: String,
    pub imap: ServiceSettings,
    pub smtp: ServiceSettings,
    /// The name under which the company's mail system writes
    /// Authentication-Results (the phone believes a Notify only then).
    pub authserv_id: Option<String>,
    /// SHA-256 of the company CA certificate (DER), hex, when the mail
    /// servers' certificates come from it.
    pub ca_sha256: Option<String>,
    /// The server's Ed25519 public key, base64url.
    pub server_key: String,
    /// The one-time token the phone's enrolment mail carries.
    pub token: String,
    /// When the token expires (Unix seconds).
    pub expires: i64,
    /// The company's provider (Microsoft 365, Google Workspace) when its
    /// mail takes no password: the phone signs in instead of asking for one.
    /// An app registration's public id, never a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth: Option<ProviderConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnrolmentError {
    #[error("this is not a MailPresence enrolment code")]
    Foreign,
    #[error("the enrolment code is longer than any real one ({0} bytes)")]
    TooLong(usize),
    #[error(
        "the enrolment code is of version {0}; this app reads version {VERSION}: update the app"
    )]
    UnsupportedVersion(String),
    #[error("the enrolment code is damaged or was changed: ask IT for a new one")]
    Tampered,
    #[error("the enrolment code expired at {0}: ask IT for a new one")]
    Expired(String),
    /// Signed, but what it says cannot be right (an address that is no
    /// plain mail address, a host that is no host name, a known provider
    /// with its sign-in URLs changed).
    #[error("the enrolment code is not one a MailPresence server makes ({0}): ask IT")]
    Invalid(String),
}

impl Enrolment {
    /// The code, signed with the server's key.
    pub fn encode(&self, key: &SigningKey) -> String {
        // Serialising plain strings and numbers cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        let signature = key.sign(&json);
        format!(
            "{PREFIX}{VERSION}/{}.{}",
            URL_SAFE_NO_PAD.encode(&json),
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        )
    }

    /// Reads and checks a code: ours, this version, signed by the key it
    /// names, not expired at `now` (Unix seconds).
    pub fn decode(code: &str, now: i64) -> Result<Self, EnrolmentError> {
        let code = code.trim();
        if code.len() > MAX_LEN {
            return Err(EnrolmentError::TooLong(code.len()));
        }
        let rest = code.strip_prefix(PREFIX).ok_or(EnrolmentError::Foreign)?;
        let (version, body) = rest.split_once('/').ok_or(EnrolmentError::Foreign)?;
        if version != VERSION.to_string() {
            return Err(EnrolmentError::UnsupportedVersion(
                version.chars().take(8).collect(),
            ));
        }
        let (json, signature) = body.split_once('.').ok_or(EnrolmentError::Tampered)?;
        let json = URL_SAFE_NO_PAD
            .decode(json)
            .map_err(|_| EnrolmentError::Tampered)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .ok()
            .and_then(|s| Signature::from_slice(&s).ok())
            .ok_or(EnrolmentError::Tampered)?;
        let enrolment: Enrolment =
            serde_json::from_slice(&json).map_err(|_| EnrolmentError::Tampered)?;
        let key = enrolment.verifying_key().ok_or(EnrolmentError::Tampered)?;
        key.verify(&json, &signature)
            .map_err(|_| EnrolmentError::Tampered)?;
        if now >= enrolment.expires {
            let at = chrono::DateTime::from_timestamp(enrolment.expires, 0)
                .map(|t| t.to_rfc3339())
                .unwrap_or_else(|| enrolment.expires.to_string());
            return Err(EnrolmentError::Expired(at));
        }
        enrolment.check()?;
        Ok(enrolment)
    }

    /// What the code says, checked field by field: the code is signed only
    /// by the key it names, so whoever made it chose every byte.
    fn check(&self) -> Result<(), EnrolmentError> {
        let invalid = |what: &str| Err(EnrolmentError::Invalid(what.to_owned()));
        if !crate::mail::is_plain_address(&self.mail) {
            return invalid("the person's mail address");
        }
        if !crate::mail::is_plain_address(&self.presence) {
            return invalid("the presence server's address");
        }
        if self.account.parse::<crate::model::AccountName>().is_err() {
            return invalid("the account name");
        }
        let host_name = |h: &str| {
            !h.is_empty()
                && h.len() <= 253
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'))
        };
        if !host_name(&self.imap.host) || !host_name(&self.smtp.host) {
            return invalid("a mail server's host name");
        }
        if let Some(p) = &self.oauth {
            use crate::transport::oauth::ProviderKind;
            let urls = [
                &p.authorize_url,
                &p.token_url,
                &p.device_authorization_url,
                &p.revocation_url,
            ];
            // Microsoft's and Google's endpoints are the app's own to know; a
            // code that moves them would send the sign-in elsewhere.
            if p.provider != ProviderKind::Custom && urls.iter().any(|u| u.is_some()) {
                return invalid("a known provider's sign-in URLs");
            }
        }
        Ok(())
    }

    /// The server's key the code names.
    pub fn verifying_key(&self) -> Option<VerifyingKey> {
        let bytes: [u8; 32] = URL_SAFE_NO_PAD
            .decode(&self.server_key)
            .ok()?
            .try_into()
            .ok()?;
        VerifyingKey::from_bytes(&bytes).ok()
    }

    /// A short fingerprint of the server's key for people to compare
    /// (`3F2A 9C01 …`): the first 10 bytes of its SHA-256, as hex in groups.
    pub fn key_fingerprint(&self) -> String {
        use sha2::Digest as _;
        let raw = URL_SAFE_NO_PAD
            .decode(&self.server_key)
            .unwrap_or_else(|_| self.server_key.clone().into_bytes());
        let digest = sha2::Sha256::digest(&raw);
        digest[..10]
            .chunks(2)
            .map(|pair| pair.iter().map(|b| format!("{b:02X}")).collect::<String>())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The base64url form of a public key, as `server_key` carries it.
pub fn public_key_text(key: &VerifyingKey) -> String {
    URL_SAFE_NO_PAD.encode(key.as_bytes())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test may stop at the first surprise

    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    fn sample(key: &SigningKey) -> Enrolment {
        let service = |host: &str, port| ServiceSettings {
            host: host.into(),
            port,
            tls: TlsMode::Implicit,
        };
        Enrolment {
            account: "tanaka".into(),
            mail: "tanaka@example.co.jp".into(),
            presence: "presence@example.co.jp".into(),
            imap: service("mail.example.co.jp", 993),
            smtp: service("mail.example.co.jp", 465),
            authserv_id: Some("mx.example.co.jp".into()),
            ca_sha256: Some("ab".repeat(32)),
            server_key: public_key_text(&key.verifying_key()),
            token: "k3M9cVq2Lz8tXw1aYb5NpA".into(),
            expires: 2_000_000_000,
            oauth: None,
        }
    }

    #[test]
    fn a_code_reads_back_as_written_and_fits_a_qr_code() {
        let key = key();
        let code = sample(&key).encode(&key);
        assert!(code.starts_with("mailpresence:enrol/1/"));
        assert!(code.len() < 1_000, "{} bytes", code.len());
        assert_eq!(
            Enrolment::decode(&code, 1_900_000_000).unwrap(),
            sample(&key)
        );
    }

    #[test]
    fn a_microsoft_365_company_s_code_carries_its_sign_in_and_still_fits() {
        let key = key();
        let mut code = sample(&key);
        code.oauth = Some(ProviderConfig {
            provider: crate::transport::oauth::ProviderKind::Microsoft,
            client_id: "9b1c2f4e-5a6d-4e7f-8a9b-0c1d2e3f4a5b".into(),
            tenant: Some("example.co.jp".into()),
            scopes: None,
            authorize_url: None,
            token_url: None,
            device_authorization_url: None,
            revocation_url: None,
        });
        let text = code.encode(&key);
        assert!(text.len() < 1_200, "{} bytes", text.len());
        let read = Enrolment::decode(&text, 1_900_000_000).unwrap();
        assert_eq!(read.oauth, code.oauth);
        // A code without one reads as before (the field is left out).
        let plain = sample(&key).encode(&key);
        assert!(plain.len() < text.len());
    }

    #[test]
    fn a_signed_code_that_says_impossible_things_is_refused() {
        // Anyone can sign a code with a key of their own: what it says is
        // checked too — an address that would break an IMAP search, a host
        // that is no host, Microsoft's sign-in sent to another token URL.
        let key = key();
        let mut injected = sample(&key);
        injected.presence = "x\"\r\nA9 UID MOVE 1:* Trash\r\nA8 NOOP \"@example.co.jp".into();
        let mut host = sample(&key);
        host.smtp.host = "mail.example.co.jp/evil path".into();
        let mut moved = sample(&key);
        moved.oauth = Some(ProviderConfig {
            provider: crate::transport::oauth::ProviderKind::Microsoft,
            client_id: "9b1c".into(),
            tenant: None,
            scopes: None,
            authorize_url: None,
            token_url: Some("https://attacker.example/token".into()),
            device_authorization_url: None,
            revocation_url: None,
        });
        for (bad, what) in [
            (injected, "presence"),
            (host, "host"),
            (moved, "sign-in URLs"),
        ] {
            let err = Enrolment::decode(&bad.encode(&key), 0).unwrap_err();
            assert!(
                matches!(&err, EnrolmentError::Invalid(w) if w.contains(what)),
                "{err}"
            );
        }
    }

    #[test]
    fn a_changed_byte_anywhere_is_tampered() {
        let key = key();
        let code = sample(&key).encode(&key);
        let start = PREFIX.len() + 2;
        for i in (start..code.len()).step_by(7) {
            let mut bytes = code.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let changed = String::from_utf8(bytes).unwrap();
            if changed == code {
                continue;
            }
            assert_eq!(
                Enrolment::decode(&changed, 0),
                Err(EnrolmentError::Tampered),
                "byte {i}"
            );
        }
    }

    #[test]
    fn another_servers_key_cannot_vouch_for_a_changed_code() {
        let key = key();
        let mut other = sample(&key);
        other.account = "sato".into();
        // Signed by someone else, still naming our server's key.
        let forged = other.encode(&SigningKey::from_bytes(&[9u8; 32]));
        assert_eq!(Enrolment::decode(&forged, 0), Err(EnrolmentError::Tampered));
    }

    #[test]
    fn expired_foreign_future_and_huge_codes_say_so() {
        let key = key();
        let code = sample(&key).encode(&key);
        assert!(matches!(
            Enrolment::decode(&code, 2_000_000_000),
            Err(EnrolmentError::Expired(at)) if at.starts_with("2033-05-18")
        ));
        for foreign in ["https://example.co.jp/", "OPENPGP4FPR:ABCD", ""] {
            assert_eq!(Enrolment::decode(foreign, 0), Err(EnrolmentError::Foreign));
        }
        let future = code.replacen("/1/", "/2/", 1);
        assert_eq!(
            Enrolment::decode(&future, 0),
            Err(EnrolmentError::UnsupportedVersion("2".into()))
        );
        let huge = format!("{PREFIX}1/{}", "A".repeat(5_000));
        assert_eq!(
            Enrolment::decode(&huge, 0),
            Err(EnrolmentError::TooLong(huge.len()))
        );
    }
}
