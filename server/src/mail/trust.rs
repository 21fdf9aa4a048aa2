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
use std::sync::{Mutex, RwLock};
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
/// Lookups of keys that never proved a mail (a selector no genuine mail has
/// used), at most this many an hour: what mails that prove nothing may cost.
/// A key that once verified a mail is always looked up.
const UNPROVEN_LOOKUPS_PER_HOUR: u32 = 120;

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
    /// The directory's mail addresses, lower case: only their mail is looked
    /// at. Replaced when the directory is refreshed.
    senders: RwLock<HashSet<String>>,
    /// Keys (`selector._domainkey.domain.`) that have verified a mail.
    proven_keys: Mutex<HashSet<String>>,
    /// Lookups of other keys in the current hour: (its start, how many).
    unproven_lookups: Mutex<(Instant, u32)>,
    /// How many such lookups an hour may have.
    unproven_lookups_per_hour: u32,
}

impl std::fmt::Debug for SenderVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.mode {
            Mode::Headers(t) => write!(f, "SenderVerifier({t:?})"),
            Mode::Dkim(check) => write!(
                f,
                "SenderVerifier(dkim, {} configured keys, {} senders)",
                check.keys.configured.len(),
                check.senders.read().map(|s| s.len()).unwrap_or_default()
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
                senders: RwLock::new(lower_case(senders)),
                proven_keys: Mutex::new(HashSet::new()),
                unproven_lookups: Mutex::new((Instant::now(), 0)),
                unproven_lookups_per_hour: UNPROVEN_LOOKUPS_PER_HOUR,
            })),
        };
        Ok(Self { mode })
    }

    /// The directory changed: from now on these are the people whose mail
    /// is worth a check (`dkim` mode; the other modes keep no list).
    pub fn replace_senders(&self, senders: impl IntoIterator<Item = String>) {
        if let Mode::Dkim(check) = &self.mode {
            *check.senders.write().unwrap_or_else(|p| p.into_inner()) = lower_case(senders);
        }
    }

    /// Whether the From of this mail is proven; `raw` is the mail as received.
    pub async fn check(&self, raw: &[u8], envelope: &Envelope) -> Result<Proof, TrustFailure> {
        match &self.mode {
            Mode::Headers(trust) => check_sender(trust, envelope),
            Mode::Dkim(check) => check.check(raw, envelope).await,
        }
    }
}

fn lower_case(addresses: impl IntoIterator<Item = String>) -> HashSet<String> {
    addresses
        .into_iter()
        .map(|a| a.trim().to_ascii_lowercase())
        .collect()
}

impl DkimCheck {
    async fn check(&self, raw: &[u8], envelope: &Envelope) -> Result<Proof, TrustFailure> {
        let from = single_from(envelope)?;
        let known = self
            .senders
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&from.trim().to_ascii_lowercase());
        if !known {
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
        self.within_budget(&mut message.dkim_headers)?;
        let outputs = self
            .authenticator
            .verify_dkim(Parameters::new(&message).with_txt_cache(&self.keys))
            .await;
        let mut found = Vec::new();
        for output in &outputs {
            let domain = output.signature().map(|s| s.d.to_ascii_lowercase());
            match (output.result(), domain) {
                (DkimResult::Pass, Some(d)) => {
                    if let Some(signature) = output.signature() {
                        lock(&self.proven_keys).insert(key_name(&signature.s, &signature.d));
                    }
                    return Ok(Proof::Dkim { domain: d });
                }
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

impl DkimCheck {
    /// Keeps the signatures whose key may be looked up: one that proved a
    /// mail before or is cached, freely; any other from the hour's budget of
    /// unproven lookups, and none once it is spent.
    fn within_budget(
        &self,
        signatures: &mut Vec<mail_auth::common::headers::Header<'_, mail_auth::dkim::Signature>>,
    ) -> Result<(), TrustFailure> {
        let proven = lock(&self.proven_keys);
        let mut budget = lock(&self.unproven_lookups);
        if budget.0.elapsed() >= Duration::from_secs(3600) {
            *budget = (Instant::now(), 0);
        }
        signatures.retain(|h| {
            let name = key_name(&h.header.s, &h.header.d);
            let free = proven.contains(&name)
                || mail_auth::ResolverCache::get(&self.keys, name.as_str()).is_some();
            if free {
                return true;
            }
            if budget.1 >= self.unproven_lookups_per_hour {
                return false;
            }
            budget.1 += 1;
            true
        });
        if signatures.is_empty() {
            return Err(TrustFailure::Dkim(format!(
                "its key was never seen to prove a mail, and the {} lookups of such keys this hour are used up; nothing was looked up",
                self.unproven_lookups_per_hour
            )));
        }
        Ok(())
    }
}

/// The DNS name of a DKIM key, as the key table and the cache name it.
fn key_name(selector: &str, domain: &str) -> String {
    format!(
        "{}._domainkey.{}.",
        selector.to_ascii_lowercase(),
        domain.trim_end_matches('.').to_ascii_lowercase()
    )
}

/// A lock that a panic elsewhere cannot leave unusable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
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
        lock(&self.answered)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use mailpresence_protocol::mail::{Limits, parse};

    use super::*;

    /// A mail from tanaka, Return-Path the same, signed (badly) with a key
    /// `selector` of the company's domain that no genuine mail has used.
    fn signed_with(selector: &str) -> Vec<u8> {
        format!(
            "Return-Path: <tanaka@example.test>\r\n\
             DKIM-Signature: v=1; a=rsa-sha256; d=example.test; s={selector}; c=relaxed/relaxed; h=from:subject; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA\r\n\
             From: tanaka@example.test\r\nSubject: Publish\r\n\r\n\
             Publisher: tanaka\r\nContact: tanaka@example.test\r\nActivity: busy\r\n"
        )
        .into_bytes()
    }

    fn verifier() -> SenderVerifier {
        let config: TrustConfig = toml::from_str("mode = \"dkim\"").unwrap();
        SenderVerifier::new(&config, ["tanaka@example.test".to_owned()]).unwrap()
    }

    #[tokio::test]
    async fn once_the_hours_unproven_lookups_are_spent_nothing_more_is_looked_up() {
        let mut verifier = verifier();
        let Mode::Dkim(check) = &mut verifier.mode else {
            panic!("dkim mode");
        };
        check.unproven_lookups_per_hour = 0;
        let raw = signed_with("random-1f3a");
        let envelope = parse(&raw, Limits::default()).envelope;
        let err = verifier.check(&raw, &envelope).await.unwrap_err();
        assert!(err.to_string().contains("are used up"), "{err}");
    }

    #[tokio::test]
    async fn a_stranger_costs_no_lookup() {
        let verifier = verifier();
        let raw = String::from_utf8(signed_with("s1"))
            .unwrap()
            .replace("tanaka@", "mallory@")
            .into_bytes();
        let envelope = parse(&raw, Limits::default()).envelope;
        let err = verifier.check(&raw, &envelope).await.unwrap_err();
        assert!(err.to_string().contains("nothing was looked up"), "{err}");
    }

    #[test]
    fn the_key_cache_keeps_answers_for_their_ttl_and_stays_bounded() {
        use mail_auth::ResolverCache;
        let keys = KeyTable {
            configured: HashMap::new(),
            answered: Mutex::new(HashMap::new()),
        };
        let record = || {
            let key = b"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
            Txt::from(DomainKey::parse(key).unwrap())
        };
        let now = Instant::now();
        keys.insert("old.".into(), record(), now);
        keys.insert("live.".into(), record(), now + Duration::from_secs(60));
        assert!(keys.get("old.").is_none(), "expired");
        assert!(keys.get("live.").is_some());
        for i in 0..2 * MAX_CACHED_KEYS {
            keys.insert(
                format!("k{i}.").into(),
                record(),
                now + Duration::from_secs(60),
            );
        }
        assert!(keys.answered().len() <= MAX_CACHED_KEYS);
    }
}
