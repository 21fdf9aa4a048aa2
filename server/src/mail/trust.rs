//! Who sent a presence mail, proven as the `[trust]` section says: by the
//! company MTA's `Authentication-Results` header (read in the protocol crate,
//! which the phone shares), by a DKIM signature this server verifies itself
//! with the `mail-auth` crate, or — for a closed mail system only — by the
//! From header. Only a proven sender's mail reaches the engine as that
//! person's.
//!
//! In `dkim` mode an outsider chooses what the server looks up, so the work
//! one mail can cause is bounded before any lookup: a From address that is no
//! one's in the directory is refused unread (its mail would be refused anyway),
//! only signatures aligned with the From domain are verified (so only that
//! domain's keys are looked up, at most `MAX_SIGNATURES`), answers are kept
//! for their TTL, and each mail has one time budget for all its lookups. The
//! intake checks the mails of a batch side by side, so a slow lookup holds up
//! no other mail.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::verify::DomainKey;
use mail_auth::{AuthenticatedMessage, DkimResult, MessageAuthenticator, Parameters, Txt};
use mailpresence_protocol::mail::Envelope;
use mailpresence_protocol::mail::auth::{
    Alignment, EnvelopeRule, Proof, SenderTrust, TrustFailure, aligned_as, check_envelope,
    check_sender, domain_of, single_from,
};

use crate::config::{TrustConfig, TrustMode};

/// At most this many aligned DKIM signatures of one mail are verified: each
/// can cost a DNS lookup. Real mail carries one, two while keys rotate.
const MAX_SIGNATURES: usize = 2;
/// Key records kept from DNS answers, at most; the company's few selectors
/// fit many times over.
const MAX_CACHED_KEYS: usize = 1024;

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
    Dkim(Box<DkimCheck>),
}

/// What `dkim` mode needs: the verifier, its keys, the rules and who may send.
struct DkimCheck {
    authenticator: MessageAuthenticator,
    keys: KeyTable,
    timeout: Duration,
    alignment: Alignment,
    envelope: EnvelopeRule,
    /// The directory's mail addresses, lower case: only their mail is looked at.
    senders: HashSet<String>,
}

impl std::fmt::Debug for SenderVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.mode {
            Mode::Headers(t) => write!(f, "SenderVerifier({t:?})"),
            Mode::Dkim(check) => write!(
                f,
                "SenderVerifier(dkim, {} configured keys, {} senders)",
                check.keys.configured.len(),
                check.senders.len()
            ),
        }
    }
}

impl SenderVerifier {
    /// `senders`: the mail addresses of the people in the directory.
    pub fn new(
        config: &TrustConfig,
        senders: impl IntoIterator<Item = String>,
    ) -> Result<Self, TrustSetupError> {
        let mode = match config.mode {
            TrustMode::FromHeader => Mode::Headers(SenderTrust::FromHeader),
            TrustMode::AuthenticationResults => Mode::Headers(SenderTrust::AuthenticationResults {
                authserv_id: config.authserv_id.clone().unwrap_or_default(),
                alignment: config.alignment,
                envelope: config.envelope,
                delivery_hops: config.delivery_hops,
            }),
            TrustMode::Dkim => Mode::Dkim(Box::new(DkimCheck {
                authenticator: MessageAuthenticator::new_system_conf()
                    .map_err(|e| TrustSetupError::Resolver(e.to_string()))?,
                keys: KeyTable::new(config)?,
                timeout: Duration::from_secs(config.dns_timeout_secs),
                alignment: config.alignment,
                envelope: config.envelope,
                senders: senders
                    .into_iter()
                    .map(|a| a.trim().to_ascii_lowercase())
                    .collect(),
            })),
        };
        Ok(Self { mode })
    }

    /// Whether the From of this mail is proven; `raw` is the mail as received.
    pub async fn check(&self, raw: &[u8], envelope: &Envelope) -> Result<Proof, TrustFailure> {
        match &self.mode {
            Mode::Headers(trust) => check_sender(trust, envelope),
            Mode::Dkim(check) => check.check(raw, envelope).await,
        }
    }
}

impl DkimCheck {
    async fn check(&self, raw: &[u8], envelope: &Envelope) -> Result<Proof, TrustFailure> {
        let from = single_from(envelope)?;
        if !self.senders.contains(&from.trim().to_ascii_lowercase()) {
            return Err(TrustFailure::Dkim(format!(
                "{from} is no one's address in the directory; nothing was looked up"
            )));
        }
        let from_domain =
            domain_of(from).ok_or_else(|| TrustFailure::FromWithoutDomain(from.to_owned()))?;
        // The envelope costs nothing to check: before any lookup.
        check_envelope(self.envelope, envelope, from)?;
        let lookups = self.verify(raw, &from_domain);
        tokio::time::timeout(self.timeout, lookups)
            .await
            .unwrap_or_else(|_| {
                Err(TrustFailure::Dkim(format!(
                    "key lookup took longer than {} s",
                    self.timeout.as_secs()
                )))
            })
    }

    async fn verify(&self, raw: &[u8], from_domain: &str) -> Result<Proof, TrustFailure> {
        let mut message = AuthenticatedMessage::parse(raw)
            .ok_or_else(|| TrustFailure::Dkim("the mail cannot be read".into()))?;
        let signatures = message.dkim_headers.len();
        if signatures == 0 {
            return Err(TrustFailure::Dkim("the mail has no DKIM signature".into()));
        }
        // Only a signature aligned with From can prove anything: the others
        // are never looked up.
        message
            .dkim_headers
            .retain(|h| aligned_as(self.alignment, &h.header.d, from_domain));
        if message.dkim_headers.is_empty() {
            return Err(TrustFailure::Dkim(format!(
                "none of its {signatures} DKIM signatures is of {from_domain}"
            )));
        }
        message.dkim_headers.truncate(MAX_SIGNATURES);
        let outputs = self
            .authenticator
            .verify_dkim(Parameters::new(&message).with_txt_cache(&self.keys))
            .await;
        let mut found = Vec::new();
        for output in &outputs {
            let domain = output.signature().map(|s| s.d.to_ascii_lowercase());
            match (output.result(), domain) {
                (DkimResult::Pass, Some(d)) => return Ok(Proof::Dkim { domain: d }),
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

/// DKIM keys given in the configuration, served in place of DNS answers,
/// and the keys DNS answered, kept for their TTL (at most
/// `MAX_CACHED_KEYS`; when full, expired ones go, and then the lookup is
/// simply not kept).
struct KeyTable {
    configured: HashMap<Box<str>, Txt>,
    answered: Mutex<HashMap<Box<str>, (Txt, Instant)>>,
}

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
        Ok(Self {
            configured: keys,
            answered: Mutex::new(HashMap::new()),
        })
    }

    fn answered(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, (Txt, Instant)>> {
        // A panic while holding it cannot leave the map half-written.
        self.answered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl mail_auth::ResolverCache<Box<str>, Txt> for KeyTable {
    fn get<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        if let Some(key) = self.configured.get(name) {
            return Some(key.clone());
        }
        let mut answered = self.answered();
        match answered.get(name) {
            Some((txt, until)) if *until > Instant::now() => Some(txt.clone()),
            Some(_) => {
                answered.remove(name);
                None
            }
            None => None,
        }
    }

    fn remove<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.answered().remove(name).map(|(txt, _)| txt)
    }

    fn insert(&self, name: Box<str>, txt: Txt, valid_until: Instant) {
        let mut answered = self.answered();
        if answered.len() >= MAX_CACHED_KEYS {
            let now = Instant::now();
            answered.retain(|_, (_, until)| *until > now);
        }
        if answered.len() < MAX_CACHED_KEYS {
            answered.insert(name, (txt, valid_until));
        }
    }
}
