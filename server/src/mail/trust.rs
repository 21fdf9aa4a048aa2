//! Who sent a presence mail, proven as the `[trust]` section says: by the
//! company MTA's `Authentication-Results` header (read in the core, which the
//! phone shares), by a DKIM signature this server verifies itself with the
//! `mail-auth` crate, or — for a closed mail system only — by the From header.
//! Only a proven sender's mail reaches the engine as that person's.

use std::collections::HashMap;
use std::time::Duration;

use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::verify::DomainKey;
use mail_auth::{AuthenticatedMessage, DkimResult, MessageAuthenticator, Parameters, Txt};
use mailpresence_protocol::mail::Envelope;
use mailpresence_protocol::mail::auth::{
    Proof, SenderTrust, TrustFailure, aligned, check_sender, domain_of, single_from,
};

use crate::config::{TrustConfig, TrustMode};

/// More DKIM signatures than this on one mail are refused unread: each one
/// can cost a DNS lookup.
const MAX_SIGNATURES: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum TrustSetupError {
    #[error("[[trust.dkim_key]] {name}: {error}")]
    Key { name: String, error: String },
    #[error("DNS resolver for DKIM: {0}")]
    Resolver(String),
}

/// Checks the sender of each presence mail.
pub struct SenderVerifier {
    mode: Mode,
}

enum Mode {
    Headers(SenderTrust),
    Dkim {
        authenticator: Box<MessageAuthenticator>,
        keys: KeyTable,
        timeout: Duration,
    },
}

impl std::fmt::Debug for SenderVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.mode {
            Mode::Headers(t) => write!(f, "SenderVerifier({t:?})"),
            Mode::Dkim { keys, .. } => write!(f, "SenderVerifier(dkim, {} keys)", keys.0.len()),
        }
    }
}

impl SenderVerifier {
    pub fn new(config: &TrustConfig) -> Result<Self, TrustSetupError> {
        let mode = match config.mode {
            TrustMode::FromHeader => Mode::Headers(SenderTrust::FromHeader),
            TrustMode::AuthenticationResults => Mode::Headers(SenderTrust::AuthenticationResults {
                authserv_id: config.authserv_id.clone().unwrap_or_default(),
            }),
            TrustMode::Dkim => Mode::Dkim {
                authenticator: Box::new(
                    MessageAuthenticator::new_system_conf()
                        .map_err(|e| TrustSetupError::Resolver(e.to_string()))?,
                ),
                keys: KeyTable::new(config)?,
                timeout: Duration::from_secs(config.dns_timeout_secs),
            },
        };
        Ok(Self { mode })
    }

    /// Whether the From of this mail is proven; `raw` is the mail as received.
    pub async fn check(&self, raw: &[u8], envelope: &Envelope) -> Result<Proof, TrustFailure> {
        match &self.mode {
            Mode::Headers(trust) => check_sender(trust, envelope),
            Mode::Dkim {
                authenticator,
                keys,
                timeout,
            } => {
                let from = single_from(envelope)?;
                let from_domain = domain_of(from)
                    .ok_or_else(|| TrustFailure::FromWithoutDomain(from.to_owned()))?;
                tokio::time::timeout(
                    *timeout,
                    verify_dkim(authenticator, keys, raw, &from_domain),
                )
                .await
                .unwrap_or_else(|_| {
                    Err(TrustFailure::Dkim(format!(
                        "key lookup took longer than {} s",
                        timeout.as_secs()
                    )))
                })
            }
        }
    }
}

async fn verify_dkim(
    authenticator: &MessageAuthenticator,
    keys: &KeyTable,
    raw: &[u8],
    from_domain: &str,
) -> Result<Proof, TrustFailure> {
    let message = AuthenticatedMessage::parse(raw)
        .ok_or_else(|| TrustFailure::Dkim("the mail cannot be read".into()))?;
    let signatures = message.dkim_headers.len();
    if signatures == 0 {
        return Err(TrustFailure::Dkim("the mail has no DKIM signature".into()));
    }
    if signatures > MAX_SIGNATURES {
        return Err(TrustFailure::Dkim(format!(
            "{signatures} DKIM signatures; at most {MAX_SIGNATURES} are checked"
        )));
    }
    let outputs = authenticator
        .verify_dkim(Parameters::new(&message).with_txt_cache(keys))
        .await;
    let mut found = Vec::new();
    for output in &outputs {
        let domain = output.signature().map(|s| s.d.to_ascii_lowercase());
        match (output.result(), domain) {
            (DkimResult::Pass, Some(d)) if aligned(&d, from_domain) => {
                return Ok(Proof::Dkim { domain: d });
            }
            (DkimResult::Pass, Some(d)) => found.push(format!("pass for {d}, not {from_domain}")),
            (result, d) => found.push(format!(
                "{} for {}",
                describe(result),
                d.as_deref().unwrap_or("?")
            )),
        }
    }
    Err(TrustFailure::Dkim(format!(
        "no valid signature aligned with {from_domain} ({})",
        found.join("; ")
    )))
}

fn describe(result: &DkimResult) -> String {
    match result {
        DkimResult::Pass => "pass".into(),
        DkimResult::Neutral(e) => format!("neutral: {e}"),
        DkimResult::Fail(e) => format!("fail: {e}"),
        DkimResult::PermError(e) => format!("permanent error: {e}"),
        DkimResult::TempError(e) => format!("temporary error: {e}"),
        DkimResult::None => "none".into(),
    }
}

/// DKIM keys given in the configuration, served in place of DNS answers.
/// Lookups of other keys go to DNS and are not kept.
struct KeyTable(HashMap<Box<str>, Txt>);

impl KeyTable {
    fn new(config: &TrustConfig) -> Result<Self, TrustSetupError> {
        let mut keys = HashMap::new();
        for key in &config.dkim_keys {
            let parsed =
                DomainKey::parse(key.record.as_bytes()).map_err(|e| TrustSetupError::Key {
                    name: key.name.clone(),
                    error: e.to_string(),
                })?;
            let mut name = key.name.trim().to_ascii_lowercase();
            if !name.ends_with('.') {
                name.push('.');
            }
            keys.insert(name.into_boxed_str(), Txt::from(parsed));
        }
        Ok(Self(keys))
    }
}

impl mail_auth::ResolverCache<Box<str>, Txt> for KeyTable {
    fn get<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.0.get(name).cloned()
    }

    fn remove<Q>(&self, _: &Q) -> Option<Txt>
    where
        Box<str>: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        None
    }

    fn insert(&self, _: Box<str>, _: Txt, _: std::time::Instant) {}
}
