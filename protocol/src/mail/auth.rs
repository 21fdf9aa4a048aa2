//! Who really sent a mail: deciding from what the company's own mail system
//! recorded whether the `From:` address is proven. The server uses this for
//! Publish and Subscribe mails, the phone for Notify mails.
//!
//! A mail's `From:` header is whatever the sender typed. What can be trusted
//! is what the receiving MTA checked and wrote down under its own name, the
//! authserv-id, in an `Authentication-Results` header (read by
//! `auth_results.rs`), and the envelope sender the delivering MTA recorded as
//! `Return-Path`. Three rules make that proof hold for one person, not just
//! for the company's domain:
//! - **Position.** Senders can write `Authentication-Results` headers too.
//!   The receiving MTA stamps its verdict just above the `Received:` header it
//!   writes itself; only the local delivery (Dovecot's LMTP, say) adds
//!   `Received:` headers above that. So the topmost header with our
//!   authserv-id counts only with exactly `delivery_hops` `Received:` headers
//!   above it: one the sender wrote sits below the MTA's own `Received:`
//!   (where the MTA stamped nothing, as OpenDKIM does not before a broken
//!   `DKIM-Signature`, the sender's header is the topmost one).
//! - **DKIM, aligned.** Only a DKIM pass whose signing domain is the From
//!   domain (strict, the default) or shares its organizational domain
//!   (relaxed) counts. A DMARC pass is not enough: DMARC passes through SPF
//!   too, and every tenant of a shared sender in the company's SPF record can
//!   pass SPF.
//! - **Envelope.** DKIM with the company's domain proves "sent through our
//!   submission server", not "sent by this person": a colleague logged in as
//!   himself can type another's address in the From header. The submission
//!   server binds the envelope sender to the login
//!   (`reject_sender_login_mismatch`), and the delivering MTA writes that
//!   envelope sender as the topmost `Return-Path`. So the Return-Path must be
//!   the From address, unless the configuration says the site does not bind
//!   logins (`EnvelopeRule::Ignore`).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Envelope;
pub use super::auth_results::{
    AuthResults, AuthResultsError, MethodResult, Property, authserv_id_of,
    parse_authentication_results,
};

/// How the sender of a mail is established.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum SenderTrust {
    /// The `Authentication-Results` header stamped by the MTA named
    /// `authserv_id` must show a DKIM pass aligned with the From domain, and
    /// the envelope sender must be the From address.
    AuthenticationResults {
        authserv_id: String,
        #[serde(default)]
        alignment: Alignment,
        #[serde(default)]
        envelope: EnvelopeRule,
        /// How many `Received:` headers the local delivery writes above the
        /// receiving MTA's verdict (Dovecot's LMTP: one).
        #[serde(default = "default_delivery_hops")]
        delivery_hops: usize,
    },
    /// The From header alone: only for a closed mail system where nobody from
    /// outside can deliver to the mailbox.
    FromHeader,
}

/// Dovecot's LMTP writes one `Received:` above the MTA's verdict.
pub const DEFAULT_DELIVERY_HOPS: usize = 1;

fn default_delivery_hops() -> usize {
    DEFAULT_DELIVERY_HOPS
}

impl SenderTrust {
    /// The `Authentication-Results` mode with the safe defaults: strict
    /// alignment, the envelope checked, one delivery hop.
    pub fn authentication_results(authserv_id: impl Into<String>) -> Self {
        Self::AuthenticationResults {
            authserv_id: authserv_id.into(),
            alignment: Alignment::default(),
            envelope: EnvelopeRule::default(),
            delivery_hops: DEFAULT_DELIVERY_HOPS,
        }
    }
}

/// How a DKIM signing domain must match the From domain (RFC 7489 §3.1.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Alignment {
    /// The From domain itself.
    #[default]
    Strict,
    /// The same organizational domain (`mail.example.co.jp` for
    /// `example.co.jp`).
    Relaxed,
}

/// Whether the envelope sender (`Return-Path`) must be the From address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnvelopeRule {
    /// The topmost `Return-Path` must be the From address: the company's
    /// submission server binds the envelope sender to the login.
    #[default]
    Require,
    /// Not checked: the site does not bind logins to envelope senders, and a
    /// colleague can speak for another.
    Ignore,
}

/// What proved the sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    /// A DKIM signature of this domain, checked by the MTA or by the server.
    Dkim { domain: String },
    /// Nothing: the configuration trusts the From header.
    FromHeader,
}

impl fmt::Display for Proof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dkim { domain } => write!(f, "dkim=pass header.d={domain}"),
            Self::FromHeader => f.write_str("From header trusted by configuration"),
        }
    }
}

/// Why a sender is not proven.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustFailure {
    #[error("the mail has no From address")]
    NoFrom,
    #[error("the mail has {0} From headers")]
    SeveralFrom(usize),
    #[error("From {0:?} has no domain")]
    FromWithoutDomain(String),
    #[error("no Authentication-Results header from {authserv_id}")]
    NoResults { authserv_id: String },
    #[error(
        "the Authentication-Results header from {authserv_id} stands below {received_above} Received headers; the receiving MTA's own stands below {allowed}, so another wrote it"
    )]
    ResultsOutOfPlace {
        authserv_id: String,
        received_above: usize,
        allowed: usize,
    },
    #[error("the Authentication-Results header from {authserv_id} cannot be read: {error}")]
    Unreadable {
        authserv_id: String,
        error: AuthResultsError,
    },
    #[error(
        "Authentication-Results from {authserv_id} shows no DKIM pass aligned with {from_domain} (it says: {found})"
    )]
    NotProven {
        authserv_id: String,
        from_domain: String,
        found: String,
    },
    #[error(
        "the envelope sender (Return-Path) {return_path:?} is not the From address {from:?}: a logged-in sender can type any From"
    )]
    EnvelopeMismatch {
        from: String,
        return_path: Option<String>,
    },
    #[error("DKIM: {0}")]
    Dkim(String),
}

/// Decides from the headers of a mail whether its From address is proven.
pub fn check_sender(trust: &SenderTrust, envelope: &Envelope) -> Result<Proof, TrustFailure> {
    let from = single_from(envelope)?;
    let SenderTrust::AuthenticationResults {
        authserv_id,
        alignment,
        envelope: envelope_rule,
        delivery_hops,
    } = trust
    else {
        return Ok(Proof::FromHeader);
    };
    let from_domain =
        domain_of(from).ok_or_else(|| TrustFailure::FromWithoutDomain(from.into()))?;
    let ours = envelope
        .authentication_results
        .iter()
        .find(|h| authserv_id_of(&h.value).is_some_and(|id| id.eq_ignore_ascii_case(authserv_id)))
        .ok_or_else(|| TrustFailure::NoResults {
            authserv_id: authserv_id.clone(),
        })?;
    // Exactly where the receiving MTA writes it: one higher is impossible
    // for a real verdict, one lower was written by the sender (an MTA that
    // stamps nothing, e.g. OpenDKIM before a broken DKIM-Signature, leaves
    // the sender's header standing there).
    if ours.received_above != *delivery_hops {
        return Err(TrustFailure::ResultsOutOfPlace {
            authserv_id: authserv_id.clone(),
            received_above: ours.received_above,
            allowed: *delivery_hops,
        });
    }
    let header =
        parse_authentication_results(&ours.value).map_err(|error| TrustFailure::Unreadable {
            authserv_id: authserv_id.clone(),
            error,
        })?;
    let proof = dkim_proof_in(&header, &from_domain, *alignment).ok_or_else(|| {
        TrustFailure::NotProven {
            authserv_id: authserv_id.clone(),
            from_domain: from_domain.clone(),
            found: describe_results(&header),
        }
    })?;
    check_envelope(*envelope_rule, envelope, from)?;
    Ok(proof)
}

/// The envelope rule: the topmost `Return-Path` is the From address.
pub fn check_envelope(
    rule: EnvelopeRule,
    envelope: &Envelope,
    from: &str,
) -> Result<(), TrustFailure> {
    if rule == EnvelopeRule::Ignore {
        return Ok(());
    }
    match envelope.return_path.as_deref() {
        Some(rp) if rp.eq_ignore_ascii_case(from.trim()) => Ok(()),
        other => Err(TrustFailure::EnvelopeMismatch {
            from: from.to_owned(),
            return_path: other.map(str::to_owned),
        }),
    }
}

fn describe_results(header: &AuthResults) -> String {
    if header.results.is_empty() {
        return "none".to_owned();
    }
    header
        .results
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The one From address. A second From header is how a forger shows one
/// address to the reader while a signature covers the other.
pub fn single_from(envelope: &Envelope) -> Result<&str, TrustFailure> {
    if envelope.from_headers > 1 {
        return Err(TrustFailure::SeveralFrom(envelope.from_headers));
    }
    envelope.from.as_deref().ok_or(TrustFailure::NoFrom)
}

/// A DKIM pass aligned with the From domain. DMARC and SPF results are not
/// read: see the module doc.
fn dkim_proof_in(header: &AuthResults, from_domain: &str, alignment: Alignment) -> Option<Proof> {
    header.results.iter().find_map(|r| {
        if r.result != "pass" || r.method != "dkim" {
            return None;
        }
        let d = signing_domain(r)?;
        aligned_as(alignment, &d, from_domain).then(|| Proof::Dkim {
            domain: d.to_ascii_lowercase(),
        })
    })
}

/// The signing domain a DKIM result names: `header.d`, else the domain of
/// `header.i`. Part of `i` comes from the signature, which the sender wrote:
/// a result naming either twice, a domain that is no host name, or an `i`
/// outside `d` is read as no domain at all.
fn signing_domain(r: &MethodResult) -> Option<String> {
    let named = |name: &str| {
        r.properties
            .iter()
            .filter(|p| p.ptype == "header" && p.name == name)
            .count()
    };
    if named("d") > 1 || named("i") > 1 {
        return None;
    }
    let d = r.property("header", "d").map(str::to_owned);
    let i = r.property("header", "i").and_then(domain_of);
    let domain = match (d, i) {
        (Some(d), Some(i)) => {
            let (d, i) = (normalized(&d), normalized(&i));
            (i == d || i.ends_with(&format!(".{d}"))).then_some(d)?
        }
        (Some(d), None) => d,
        (None, i) => i?,
    };
    is_host_name(&domain).then_some(domain)
}

/// Letters, digits, hyphens and dots, as a DNS host name is written.
fn is_host_name(domain: &str) -> bool {
    !domain.is_empty()
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Whether a signing domain is aligned with the From domain under `alignment`.
pub fn aligned_as(alignment: Alignment, signing_domain: &str, from_domain: &str) -> bool {
    match alignment {
        Alignment::Strict => normalized(signing_domain) == normalized(from_domain),
        Alignment::Relaxed => aligned(signing_domain, from_domain),
    }
}

fn normalized(domain: &str) -> String {
    domain.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// DKIM alignment in DMARC's relaxed mode (RFC 7489 §3.1.1): the signing
/// domain and the From domain have the same organizational domain, told by
/// the public suffix list (`mail.example.co.jp` and `example.co.jp` align;
/// `co.jp` is a public suffix and aligns with nothing).
pub fn aligned(signing_domain: &str, from_domain: &str) -> bool {
    let d = normalized(signing_domain);
    let f = normalized(from_domain);
    match (psl::domain_str(&d), psl::domain_str(&f)) {
        (Some(od), Some(of)) => od == of,
        _ => false,
    }
}

/// The domain of a mail address (`tanaka@example.co.jp` → `example.co.jp`),
/// lower case; `@example.co.jp` (an `i=` tag) gives the same.
pub fn domain_of(address: &str) -> Option<String> {
    let (_, domain) = address.trim().trim_matches(['<', '>']).rsplit_once('@')?;
    let domain = domain.trim().trim_end_matches('.');
    (!domain.is_empty()).then(|| domain.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::AuthResultsHeader;

    fn mail(from: Option<&str>, headers: &[&str]) -> Envelope {
        Envelope {
            from: from.map(str::to_owned),
            from_headers: usize::from(from.is_some()),
            authentication_results: headers
                .iter()
                .map(|h| AuthResultsHeader::delivered(*h))
                .collect(),
            return_path: from.map(str::to_owned),
            ..Envelope::default()
        }
    }

    fn check(from: &str, headers: &[&str]) -> Result<Proof, TrustFailure> {
        check_sender(&trust(), &mail(Some(from), headers))
    }

    fn trust() -> SenderTrust {
        SenderTrust::authentication_results("mx.example.co.jp")
    }

    fn relaxed() -> SenderTrust {
        SenderTrust::AuthenticationResults {
            authserv_id: "mx.example.co.jp".into(),
            alignment: Alignment::Relaxed,
            envelope: EnvelopeRule::Require,
            delivery_hops: DEFAULT_DELIVERY_HOPS,
        }
    }

    #[test]
    fn an_aligned_dkim_pass_proves_the_sender() {
        let headers = ["mx.example.co.jp; dkim=pass header.d=example.co.jp"];
        assert_eq!(
            check("tanaka@example.co.jp", &headers),
            Ok(Proof::Dkim {
                domain: "example.co.jp".into()
            })
        );
        // A subdomain's sender, signed by the parent domain: only relaxed.
        let sub = mail(Some("tanaka@mail.example.co.jp"), &headers);
        assert!(check_sender(&trust(), &sub).is_err());
        assert!(check_sender(&relaxed(), &sub).is_ok());
    }

    #[test]
    fn a_pass_for_another_domain_proves_nothing() {
        let err = check(
            "tanaka@example.co.jp",
            &["mx.example.co.jp; dkim=pass header.d=evil.example"],
        )
        .unwrap_err();
        assert!(matches!(err, TrustFailure::NotProven { .. }), "{err}");
        assert!(
            err.to_string().contains("dkim=pass header.d=evil.example"),
            "{err}"
        );
        for d in ["co.jp", "jp", "ample.co.jp", "example.co.jp.evil", ""] {
            assert!(!aligned(d, "example.co.jp"), "{d}");
        }
        for d in ["example.co.jp", "mail.example.co.jp", "EXAMPLE.co.jp."] {
            assert!(aligned(d, "example.co.jp"), "{d}");
            assert!(aligned("example.co.jp", d), "{d}");
        }
    }

    #[test]
    fn failures_none_and_other_results_prove_nothing() {
        for h in [
            "mx.example.co.jp; dkim=fail header.d=example.co.jp",
            "mx.example.co.jp; dkim=none",
            "mx.example.co.jp; none",
            "mx.example.co.jp; spf=pass smtp.mailfrom=tanaka@example.co.jp",
            "mx.example.co.jp; dmarc=pass header.from=other.example",
            // DMARC passes through SPF too: a tenant of a shared sender in
            // the company's SPF record passes it. Only aligned DKIM counts.
            "mx.example.co.jp; spf=pass smtp.mailfrom=x@example.co.jp; dmarc=pass header.from=example.co.jp",
        ] {
            assert!(check("tanaka@example.co.jp", &[h]).is_err(), "{h}");
        }
    }

    #[test]
    fn only_the_topmost_header_of_our_mta_counts() {
        // The MTA's own verdict is on top; the sender's forgery below it.
        let headers = [
            "other.example; dkim=pass header.d=example.co.jp",
            "mx.example.co.jp; dkim=none",
            "mx.example.co.jp; dkim=pass header.d=example.co.jp",
        ];
        let err = check("tanaka@example.co.jp", &headers).unwrap_err();
        assert!(matches!(err, TrustFailure::NotProven { .. }), "{err}");
        // Another MTA's pass alone is nothing.
        let err = check("tanaka@example.co.jp", &headers[..1]).unwrap_err();
        assert!(matches!(err, TrustFailure::NoResults { .. }), "{err}");
    }

    #[test]
    fn our_header_broken_after_its_id_still_hides_a_forgery_below() {
        let headers = [
            "mx.example.co.jp; spf=pass smtp.mailfrom=\"unterminated",
            "mx.example.co.jp; dkim=pass header.d=example.co.jp",
        ];
        let err = check("tanaka@example.co.jp", &headers).unwrap_err();
        assert!(matches!(err, TrustFailure::Unreadable { .. }), "{err}");
        assert_eq!(authserv_id_of("\"a;b\" 1; none").as_deref(), Some("a;b"));
    }

    #[test]
    fn two_from_headers_prove_nothing() {
        let mut m = mail(
            Some("tanaka@example.co.jp"),
            &["mx.example.co.jp; dkim=pass header.d=example.co.jp"],
        );
        m.from_headers = 2;
        assert_eq!(
            check_sender(&trust(), &m),
            Err(TrustFailure::SeveralFrom(2))
        );
    }

    #[test]
    fn from_header_mode_trusts_the_header() {
        assert_eq!(
            check_sender(&SenderTrust::FromHeader, &mail(Some("a@b.example"), &[])),
            Ok(Proof::FromHeader)
        );
        assert_eq!(
            check_sender(&SenderTrust::FromHeader, &mail(None, &[])),
            Err(TrustFailure::NoFrom)
        );
    }

    #[test]
    fn a_colleague_logged_in_as_himself_cannot_speak_for_another() {
        // What Postfix + OpenDKIM deliver when sato logs in and types
        // tanaka's address in From: a DKIM pass for the company's domain, and
        // sato's login-bound envelope sender as Return-Path.
        let mut m = mail(
            Some("tanaka@example.co.jp"),
            &["mx.example.co.jp; dkim=pass header.d=example.co.jp"],
        );
        m.return_path = Some("sato@example.co.jp".into());
        let err = check_sender(&trust(), &m).unwrap_err();
        assert!(
            matches!(err, TrustFailure::EnvelopeMismatch { .. }),
            "{err}"
        );
        m.return_path = None;
        assert!(check_sender(&trust(), &m).is_err());
        // The same address in another case is the same sender.
        m.return_path = Some("Tanaka@Example.co.jp".into());
        assert!(check_sender(&trust(), &m).is_ok());
        // A site that does not bind logins can say so, and then DKIM decides.
        m.return_path = Some("sato@example.co.jp".into());
        let ignore = SenderTrust::AuthenticationResults {
            authserv_id: "mx.example.co.jp".into(),
            alignment: Alignment::Strict,
            envelope: EnvelopeRule::Ignore,
            delivery_hops: DEFAULT_DELIVERY_HOPS,
        };
        assert!(check_sender(&ignore, &m).is_ok());
    }

    #[test]
    fn a_verdict_below_the_receiving_mtas_received_header_is_the_senders() {
        let pass = "mx.example.co.jp; dkim=pass header.d=example.co.jp";
        let mut m = mail(Some("tanaka@example.co.jp"), &[pass]);
        // Where OpenDKIM puts it: above Postfix's Received, below Dovecot's.
        m.authentication_results[0].received_above = 1;
        assert!(check_sender(&trust(), &m).is_ok());
        // Above the delivery's own Received: not where any MTA writes it.
        m.authentication_results[0].received_above = 0;
        assert!(check_sender(&trust(), &m).is_err());
        // An MTA that stamped nothing: the sender's own header sits below the
        // MTA's Received (two above it, with the delivery's).
        m.authentication_results[0].received_above = 2;
        let err = check_sender(&trust(), &m).unwrap_err();
        assert!(
            matches!(err, TrustFailure::ResultsOutOfPlace { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("below 2 Received"), "{err}");
    }

    #[test]
    fn a_result_whose_domain_was_written_twice_or_oddly_proves_nothing() {
        for h in [
            "mx.example.co.jp; dkim=pass header.d=evil.example header.d=example.co.jp",
            "mx.example.co.jp; dkim=pass header.i=@evil.example header.i=@example.co.jp",
            "mx.example.co.jp; dkim=pass header.d=example.co.jp header.i=@evil.example",
            "mx.example.co.jp; dkim=pass header.d=\"example.co.jp x\"",
        ] {
            assert!(check("tanaka@example.co.jp", &[h]).is_err(), "{h}");
        }
        // Gmail names only i=; a subdomain's i under d is fine.
        for h in [
            "mx.example.co.jp; dkim=pass header.i=@example.co.jp",
            "mx.example.co.jp; dkim=pass header.d=example.co.jp header.i=tanaka@mail.example.co.jp",
        ] {
            assert!(check("tanaka@example.co.jp", &[h]).is_ok(), "{h}");
        }
    }
}
