//! Who really sent a mail: reading the `Authentication-Results` header
//! (RFC 8601) that the company's own mail system stamps, and deciding from it
//! whether the `From:` address is proven.
//!
//! A mail's `From:` header is whatever the sender typed. What can be trusted
//! is what the receiving MTA checked (a DKIM signature, DMARC) and wrote down
//! under its own name, the authserv-id. Senders can write
//! `Authentication-Results` headers too, so only the topmost one carrying the
//! configured authserv-id counts: MTAs prepend theirs, so anything below it
//! came with the mail. The server uses this for Publish and Subscribe mails,
//! the phone for Notify mails. No crate parses these headers, hence this small
//! parser; it is fuzzed (`fuzz/fuzz_targets/auth_results.rs`).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Envelope;

/// At most this many bytes of one header are read; a real one is a few hundred.
const MAX_HEADER_BYTES: usize = 16 * 1024;
/// At most this many results in one header.
const MAX_RESULTS: usize = 64;

/// One `Authentication-Results` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthResults {
    /// Who checked: the MTA's authserv-id (`mx.example.co.jp`).
    pub authserv_id: String,
    /// One entry per check (`dkim=pass header.d=…`); empty for `; none`.
    pub results: Vec<MethodResult>,
}

/// One check and its outcome: `dkim=pass header.d=example.co.jp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodResult {
    /// Lower case, without a version (`dkim`, `dmarc`, `spf`, `auth`).
    pub method: String,
    /// Lower case (`pass`, `fail`, `none`, …).
    pub result: String,
    pub reason: Option<String>,
    pub properties: Vec<Property>,
}

/// `ptype.property=value`, e.g. `header.d=example.co.jp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// Lower case (`header`, `smtp`, `policy`).
    pub ptype: String,
    /// Lower case (`d`, `i`, `from`, `mailfrom`, `auth`).
    pub name: String,
    pub value: String,
}

impl MethodResult {
    /// The value of `ptype.name`, if present.
    pub fn property(&self, ptype: &str, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|p| p.ptype == ptype && p.name == name)
            .map(|p| p.value.as_str())
    }
}

impl fmt::Display for MethodResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.method, self.result)?;
        for p in &self.properties {
            // The signature fragment says nothing to a reader of the log.
            if p.name != "b" {
                write!(f, " {}.{}={}", p.ptype, p.name, p.value)?;
            }
        }
        Ok(())
    }
}

/// Why a header could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthResultsError {
    #[error("the header is empty")]
    Empty,
    #[error("the header is {0} bytes; at most {MAX_HEADER_BYTES} are read")]
    TooLong(usize),
    #[error("more than {MAX_RESULTS} results")]
    TooManyResults,
    #[error("unexpected {found} where {expected} was expected")]
    Syntax {
        expected: &'static str,
        found: String,
    },
    #[error("an unterminated comment or quoted string")]
    Unterminated,
}

/// Reads one header's value (after `Authentication-Results:`).
pub fn parse_authentication_results(value: &str) -> Result<AuthResults, AuthResultsError> {
    if value.len() > MAX_HEADER_BYTES {
        return Err(AuthResultsError::TooLong(value.len()));
    }
    let tokens = tokenize(value)?;
    Parser { tokens, pos: 0 }.header()
}

/// The authserv-id of a header, read without judging the rest: used to find
/// the header that is ours before reading it in full. Whatever follows the id
/// (a comment the MTA copied from the sender, say) cannot hide the header.
pub fn authserv_id_of(value: &str) -> Option<String> {
    // Only the first token is read, however long the rest.
    let mut chars = value.chars().peekable();
    match next_token(&mut chars)? {
        Ok(Token::Word(w) | Token::Quoted(w)) => Some(w),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Punct(char),
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Self::Word(w) => format!("{w:?}"),
            Self::Quoted(q) => format!("\"{q}\""),
            Self::Punct(c) => format!("'{c}'"),
        }
    }
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

/// Words, quoted strings and the punctuation `;` `=`; comments `( … )`
/// (nested, with `\` escapes) and white space are dropped.
fn tokenize(value: &str) -> Result<Vec<Token>, AuthResultsError> {
    let mut chars = value.chars().peekable();
    let mut tokens = Vec::new();
    while let Some(token) = next_token(&mut chars) {
        tokens.push(token?);
    }
    Ok(tokens)
}

/// The next token, or `None` at the end.
fn next_token(chars: &mut Chars<'_>) -> Option<Result<Token, AuthResultsError>> {
    loop {
        let c = *chars.peek()?;
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                if let Err(e) = skip_comment(chars) {
                    return Some(Err(e));
                }
            }
            ';' | '=' => {
                chars.next();
                return Some(Ok(Token::Punct(c)));
            }
            '"' => {
                chars.next();
                return Some(quoted(chars).map(Token::Quoted));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, ';' | '=' | '(' | ')' | '"') {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                if word.is_empty() {
                    // A stray `)`.
                    chars.next();
                    return Some(Ok(Token::Punct(c)));
                }
                return Some(Ok(Token::Word(word)));
            }
        }
    }
}

fn skip_comment(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
) -> Result<(), AuthResultsError> {
    let mut depth = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Ok(());
                }
            }
            _ => {}
        }
    }
    Err(AuthResultsError::Unterminated)
}

fn quoted(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
) -> Result<String, AuthResultsError> {
    let mut out = String::new();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next().ok_or(AuthResultsError::Unterminated)?),
            '"' => return Ok(out),
            _ => out.push(c),
        }
    }
    Err(AuthResultsError::Unterminated)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn unexpected(&self, expected: &'static str) -> AuthResultsError {
        AuthResultsError::Syntax {
            expected,
            found: self
                .peek()
                .map_or_else(|| "the end".to_owned(), Token::describe),
        }
    }

    fn value(&mut self, expected: &'static str) -> Result<String, AuthResultsError> {
        match self.peek() {
            Some(Token::Word(w) | Token::Quoted(w)) => {
                let v = w.clone();
                self.pos += 1;
                Ok(v)
            }
            _ => Err(self.unexpected(expected)),
        }
    }

    fn punct(&mut self, c: char, expected: &'static str) -> Result<(), AuthResultsError> {
        if self.peek() == Some(&Token::Punct(c)) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.unexpected(expected))
        }
    }

    fn header(mut self) -> Result<AuthResults, AuthResultsError> {
        if self.tokens.is_empty() {
            return Err(AuthResultsError::Empty);
        }
        let authserv_id = self.value("the authserv-id")?;
        // An optional version number after the id.
        if let Some(Token::Word(w)) = self.peek()
            && w.bytes().all(|b| b.is_ascii_digit())
        {
            self.pos += 1;
        }
        let mut results = Vec::new();
        while self.peek().is_some() {
            self.punct(';', "';'")?;
            if self.peek().is_none() {
                break; // a trailing `;`
            }
            if results.is_empty()
                && matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case("none"))
                && self.tokens.get(self.pos + 1).is_none()
            {
                self.pos += 1;
                break;
            }
            if results.len() == MAX_RESULTS {
                return Err(AuthResultsError::TooManyResults);
            }
            results.push(self.result()?);
        }
        Ok(AuthResults {
            authserv_id,
            results,
        })
    }

    /// `method[/version]=result [reason=…] [ptype.property=value …]`
    fn result(&mut self) -> Result<MethodResult, AuthResultsError> {
        let method = self.value("a method")?;
        let method = method
            .split('/')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        self.punct('=', "'=' after the method")?;
        let result = self.value("a result")?.to_ascii_lowercase();
        let mut reason = None;
        let mut properties = Vec::new();
        while let Some(Token::Word(key)) = self.peek() {
            let key = key.to_ascii_lowercase();
            self.pos += 1;
            self.punct('=', "'=' after a property")?;
            let value = self.value("a property value")?;
            if key == "reason" {
                reason = Some(value);
            } else if let Some((ptype, name)) = key.split_once('.') {
                properties.push(Property {
                    ptype: ptype.to_owned(),
                    name: name.to_owned(),
                    value,
                });
            }
            // Anything else (RFC 7410 extensions) is skipped.
        }
        match self.peek() {
            None | Some(Token::Punct(';')) => Ok(MethodResult {
                method,
                result,
                reason,
                properties,
            }),
            Some(_) => {
                let e = self.unexpected("';' or a property");
                self.next();
                Err(e)
            }
        }
    }
}

/// How the sender of a mail is established.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum SenderTrust {
    /// The `Authentication-Results` header stamped by the MTA named
    /// `authserv_id` must show a DKIM pass aligned with the From domain, or a
    /// DMARC pass.
    AuthenticationResults { authserv_id: String },
    /// The From header alone: only for a closed mail system where nobody from
    /// outside can deliver to the mailbox.
    FromHeader,
}

/// What proved the sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    /// A DKIM signature of this domain, checked by the MTA.
    Dkim { domain: String },
    /// A DMARC pass for the From domain, checked by the MTA.
    Dmarc { domain: String },
    /// Nothing: the configuration trusts the From header.
    FromHeader,
}

impl fmt::Display for Proof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dkim { domain } => write!(f, "dkim=pass header.d={domain}"),
            Self::Dmarc { domain } => write!(f, "dmarc=pass header.from={domain}"),
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
    #[error("the Authentication-Results header from {authserv_id} cannot be read: {error}")]
    Unreadable {
        authserv_id: String,
        error: AuthResultsError,
    },
    #[error(
        "Authentication-Results from {authserv_id} shows no DKIM pass aligned with {from_domain} and no DMARC pass (it says: {found})"
    )]
    NotProven {
        authserv_id: String,
        from_domain: String,
        found: String,
    },
    #[error("DKIM: {0}")]
    Dkim(String),
}

/// Decides from the headers of a mail whether its From address is proven.
pub fn check_sender(trust: &SenderTrust, envelope: &Envelope) -> Result<Proof, TrustFailure> {
    let from = single_from(envelope)?;
    let authentication_results = &envelope.authentication_results;
    let authserv_id = match trust {
        SenderTrust::FromHeader => return Ok(Proof::FromHeader),
        SenderTrust::AuthenticationResults { authserv_id } => authserv_id,
    };
    let from_domain =
        domain_of(from).ok_or_else(|| TrustFailure::FromWithoutDomain(from.into()))?;
    let ours = authentication_results
        .iter()
        .find(|h| authserv_id_of(h).is_some_and(|id| id.eq_ignore_ascii_case(authserv_id)))
        .ok_or_else(|| TrustFailure::NoResults {
            authserv_id: authserv_id.clone(),
        })?;
    let header = parse_authentication_results(ours).map_err(|error| TrustFailure::Unreadable {
        authserv_id: authserv_id.clone(),
        error,
    })?;
    proof_in(&header, &from_domain).ok_or_else(|| TrustFailure::NotProven {
        authserv_id: authserv_id.clone(),
        from_domain: from_domain.clone(),
        found: if header.results.is_empty() {
            "none".to_owned()
        } else {
            header
                .results
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        },
    })
}

/// The one From address. A second From header is how a forger shows one
/// address to the reader while a signature covers the other.
pub fn single_from(envelope: &Envelope) -> Result<&str, TrustFailure> {
    if envelope.from_headers > 1 {
        return Err(TrustFailure::SeveralFrom(envelope.from_headers));
    }
    envelope.from.as_deref().ok_or(TrustFailure::NoFrom)
}

/// A DKIM pass aligned with the From domain, or a DMARC pass for it.
fn proof_in(header: &AuthResults, from_domain: &str) -> Option<Proof> {
    header.results.iter().find_map(|r| {
        if r.result != "pass" {
            return None;
        }
        match r.method.as_str() {
            "dkim" => {
                let d = r
                    .property("header", "d")
                    .map(str::to_owned)
                    .or_else(|| r.property("header", "i").and_then(domain_of))?;
                aligned(&d, from_domain).then(|| Proof::Dkim {
                    domain: d.to_ascii_lowercase(),
                })
            }
            "dmarc" => {
                // The From domain DMARC judged must be this mail's.
                let judged = r.property("header", "from")?;
                judged
                    .eq_ignore_ascii_case(from_domain)
                    .then(|| Proof::Dmarc {
                        domain: from_domain.to_owned(),
                    })
            }
            _ => None,
        }
    })
}

/// DKIM alignment in DMARC's relaxed mode (RFC 7489 §3.1.1): the signing
/// domain and the From domain have the same organizational domain, told by
/// the public suffix list (`mail.example.co.jp` and `example.co.jp` align;
/// `co.jp` is a public suffix and aligns with nothing).
pub fn aligned(signing_domain: &str, from_domain: &str) -> bool {
    let d = signing_domain
        .trim()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let f = from_domain
        .trim()
        .trim_end_matches('.')
        .to_ascii_lowercase();
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

    fn mail(from: Option<&str>, headers: &[&str]) -> Envelope {
        Envelope {
            from: from.map(str::to_owned),
            from_headers: usize::from(from.is_some()),
            authentication_results: headers.iter().map(|h| (*h).to_owned()).collect(),
            ..Envelope::default()
        }
    }

    fn check(from: &str, headers: &[&str]) -> Result<Proof, TrustFailure> {
        check_sender(&trust(), &mail(Some(from), headers))
    }

    fn trust() -> SenderTrust {
        SenderTrust::AuthenticationResults {
            authserv_id: "mx.example.co.jp".into(),
        }
    }

    #[test]
    fn reads_what_opendkim_writes() {
        let h = parse_authentication_results(
            "mx.example.co.jp;\r\n\tdkim=pass (2048-bit key; unprotected) header.d=example.co.jp header.i=@example.co.jp header.a=rsa-sha256 header.s=mail header.b=Zf/G+k3x",
        )
        .unwrap();
        assert_eq!(h.authserv_id, "mx.example.co.jp");
        assert_eq!(h.results.len(), 1);
        let r = &h.results[0];
        assert_eq!((r.method.as_str(), r.result.as_str()), ("dkim", "pass"));
        assert_eq!(r.property("header", "d"), Some("example.co.jp"));
        assert_eq!(r.property("header", "b"), Some("Zf/G+k3x"));
    }

    #[test]
    fn reads_versions_comments_quotes_reasons_and_none() {
        let h = parse_authentication_results(
            "\"mx (main)\" 1; spf=pass smtp.mailfrom=a@b.example (ok (nested)); dkim/1=fail reason=\"bad sig\" header.d=b.example; dmarc=pass (p=reject) header.from=b.example",
        )
        .unwrap();
        assert_eq!(h.authserv_id, "mx (main)");
        assert_eq!(h.results.len(), 3);
        assert_eq!(h.results[1].method, "dkim");
        assert_eq!(h.results[1].reason.as_deref(), Some("bad sig"));
        let none = parse_authentication_results("mx.example.co.jp; none").unwrap();
        assert!(none.results.is_empty());
        assert_eq!(
            parse_authentication_results("mx; dkim").unwrap_err(),
            AuthResultsError::Syntax {
                expected: "'=' after the method",
                found: "the end".into()
            }
        );
        assert_eq!(
            parse_authentication_results("mx; dkim=pass (open"),
            Err(AuthResultsError::Unterminated)
        );
        assert_eq!(
            parse_authentication_results("  "),
            Err(AuthResultsError::Empty)
        );
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
        // A subdomain's sender, signed by the parent domain.
        assert!(check("tanaka@mail.example.co.jp", &headers).is_ok());
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
        ] {
            assert!(check("tanaka@example.co.jp", &[h]).is_err(), "{h}");
        }
        let dmarc = "mx.example.co.jp; dmarc=pass header.from=example.co.jp";
        assert!(check("tanaka@example.co.jp", &[dmarc]).is_ok());
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
}
