//! Digest authentication (RFC 3261 §22 as updated by RFC 8760, hashes and
//! directives per RFC 7616) for directory entries that have a SIP password:
//! the 401 challenges — SHA-256 first, MD5 for older phones — and the check of
//! the phone's answer, which refuses replayed nonce counts.
//!
//! A nonce carries when it was made and a keyed hash of ours, so a nonce that
//! expired or was evicted is still known as ours (and answered `stale=true`)
//! without being remembered. What is remembered, for at most
//! [`MAX_LIVE_NONCES`] live nonces, is the highest nonce count accepted with
//! each: that is what refuses a replay.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use md5::Md5;
use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::message::{Message, StartLine};
use crate::hex::to_hex;

/// How long after it was handed out a nonce is accepted.
pub const NONCE_LIFETIME: Duration = Duration::from_secs(300);
/// The most nonces remembered at once; beyond it the oldest is forgotten,
/// and an answer to it gets `stale=true` and one more round trip. Every
/// challenged request takes one, so this must outlast the time phones take to
/// answer while the server is busy: a burst (an office's phones rebooting,
/// each challenged for REGISTER, PUBLISH and every BLF SUBSCRIBE) or a queue
/// of requests under load. 10,000 lasted 1.3 s at 8,000 challenges a second,
/// and under load answers came back after that (`bench/sip.sh auth`: every
/// failed call was a `stale=true` 401). About 50 bytes each, so ~5 MB full;
/// Kamailio's auth module tracks 1M nonce counts by default.
pub const MAX_LIVE_NONCES: usize = 100_000;
/// More directives than any honest answer has (RFC 7616 §3.4 defines twelve).
const MAX_DIRECTIVES: usize = 24;
/// The count recorded once a nonce was used without qop: nothing may follow.
const SPENT: u32 = u32::MAX;
/// Hex digits of a nonce: issue time (16), random part (16), tag (32).
const NONCE_HEX_LEN: usize = 64;

/// A digest algorithm we can check (RFC 7616 §6.1 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub enum Algorithm {
    #[serde(rename = "SHA-256")]
    Sha256,
    #[serde(rename = "MD5")]
    Md5,
}

impl Algorithm {
    /// Its name in `algorithm=`.
    pub fn token(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA-256",
            Self::Md5 => "MD5",
        }
    }

    /// The algorithm an answer names; absent means MD5 (RFC 7616 §3.4).
    /// The `-sess` variants are not supported.
    fn named(token: Option<&str>) -> Option<Self> {
        match token {
            None => Some(Self::Md5),
            Some(t) if t.eq_ignore_ascii_case("MD5") => Some(Self::Md5),
            Some(t) if t.eq_ignore_ascii_case("SHA-256") => Some(Self::Sha256),
            Some(_) => None,
        }
    }

    /// The lowercase hex digest of `data`.
    fn hex(self, data: &str) -> String {
        match self {
            Self::Sha256 => to_hex(&Sha256::digest(data.as_bytes())),
            Self::Md5 => to_hex(&Md5::digest(data.as_bytes())),
        }
    }
}

/// What an `Authorization` header is worth for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Right credentials on a live nonce, with a nonce count not used before.
    Valid,
    /// Right credentials on a nonce of ours that expired or was evicted:
    /// answer 401 with `stale=true`, and the phone retries by itself.
    Stale,
    /// No digest credentials at all: answer 401 with a challenge.
    Missing,
    /// Credentials that do not pass: answer 401 with a challenge.
    Refused(DigestRefusal),
}

/// Why credentials were refused (for the debug log; the phone sees a 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DigestRefusal {
    #[error("the username is not the addressed person's")]
    WrongUser,
    #[error("the realm is not ours")]
    WrongRealm,
    #[error("the digest uri is not the Request-URI")]
    UriMismatch,
    #[error("the nonce is not one we handed out")]
    UnknownNonce,
    #[error("this nonce count was already used with this nonce (a replay)")]
    Replay,
    #[error("the response does not match the password")]
    BadResponse,
    #[error("the algorithm is not one we offer")]
    UnsupportedAlgorithm,
    #[error("an answer without qop is taken only from old phones (MD5 configured)")]
    NoQop,
    #[error("the Authorization header is not a digest answer we can read")]
    Malformed,
}

/// A nonce of ours without its tag: when it was made and its random part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct NonceId {
    issued_ms: u64,
    random: u64,
}

/// The nonces handed out, the nonce counts seen with the live ones, and the
/// algorithms offered.
pub struct Nonces {
    algorithms: Vec<Algorithm>,
    /// Keys the tag that makes a nonce recognisably ours.
    key: [u8; 32],
    opaque: String,
    /// What a nonce's issue time counts from.
    epoch: Instant,
    /// Live nonces → the highest nonce count accepted with each (0: none).
    live: HashMap<NonceId, u32>,
    /// The live nonces, oldest first: eviction and expiry take from the front.
    order: VecDeque<NonceId>,
}

impl std::fmt::Debug for Nonces {
    // The key stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nonces")
            .field("algorithms", &self.algorithms)
            .field("live", &self.live.len())
            .finish_non_exhaustive()
    }
}

impl Default for Nonces {
    /// SHA-256 alone: MD5 only where the configuration asks for old phones.
    fn default() -> Self {
        Self::offering(&[Algorithm::Sha256])
    }
}

impl Nonces {
    /// Nonces whose challenges offer `algorithms`, most preferred first.
    /// An empty list would lock everyone out, so it means the default.
    /// An answer without qop (RFC 2069, from phones older than RFC 2617) has
    /// no nonce count and no client nonce; it is taken only where MD5 is
    /// offered, which is the setting for old phones: otherwise a downgrade
    /// to the weakest form would be one header away.
    pub fn offering(algorithms: &[Algorithm]) -> Self {
        let mut offered: Vec<Algorithm> = Vec::new();
        for a in algorithms {
            if !offered.contains(a) {
                offered.push(*a);
            }
        }
        if offered.is_empty() {
            offered = vec![Algorithm::Sha256];
        }
        let mut rng = rand::rng();
        Self {
            algorithms: offered,
            key: rng.random(),
            opaque: format!("{:032x}", rng.random::<u128>()),
            epoch: Instant::now(),
            live: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// The `WWW-Authenticate` values of a 401 to a request from `source`, one
    /// per algorithm offered, most preferred first (RFC 8760 §2.3), all on
    /// one fresh nonce. `stale` says the request being answered got
    /// [`Check::Stale`].
    ///
    /// A nonce is good only from the address it was handed to: otherwise
    /// anyone with a password could fetch one at home and send signed
    /// requests "from" a victim's address over UDP, and every answer and
    /// NOTIFY of theirs would go to the victim.
    pub fn challenges_for(&mut self, realm: &str, stale: bool, source: IpAddr) -> Vec<String> {
        self.challenges_at(realm, stale, Instant::now(), source)
    }

    /// What the credentials of `request`, from `source`, are worth for `user`
    /// (the username a phone must give) with `password` in `realm`. Records
    /// the nonce count of a valid answer, so the same answer is refused the
    /// second time.
    pub fn check_from(
        &mut self,
        request: &Message,
        realm: &str,
        user: &str,
        password: &str,
        source: IpAddr,
    ) -> Check {
        self.check_at(request, realm, user, password, Instant::now(), source)
    }

    fn challenges_at(
        &mut self,
        realm: &str,
        stale: bool,
        now: Instant,
        source: IpAddr,
    ) -> Vec<String> {
        let nonce = self.issue(now, source);
        let stale = if stale { ", stale=true" } else { "" };
        self.algorithms
            .iter()
            .map(|a| {
                format!(
                    "Digest realm={}, nonce=\"{nonce}\", opaque=\"{}\", algorithm={}, qop=\"auth\"{stale}",
                    quoted(realm),
                    self.opaque,
                    a.token(),
                )
            })
            .collect()
    }

    fn check_at(
        &mut self,
        request: &Message,
        realm: &str,
        user: &str,
        password: &str,
        now: Instant,
        source: IpAddr,
    ) -> Check {
        let StartLine::Request { method, uri } = &request.start else {
            return Check::Missing;
        };
        let Some(credentials) = credentials_for(request, realm) else {
            return Check::Missing;
        };
        let expected = Expected {
            method,
            request_uri: uri,
            realm,
            user,
            password,
        };
        self.judge(credentials, &expected, now, source)
            .unwrap_or_else(Check::Refused)
    }

    /// The checks in an order that says the most useful reason first, and
    /// that records a nonce count only for an answer that passed them all.
    fn judge(
        &mut self,
        credentials: &str,
        e: &Expected<'_>,
        now: Instant,
        source: IpAddr,
    ) -> Result<Check, DigestRefusal> {
        let answer = Answer::parse(credentials)?;
        let algorithm = Algorithm::named(answer.algorithm.as_deref())
            .filter(|a| self.algorithms.contains(a))
            .ok_or(DigestRefusal::UnsupportedAlgorithm)?;
        if answer.realm != e.realm {
            return Err(DigestRefusal::WrongRealm);
        }
        if answer.username != e.user {
            return Err(DigestRefusal::WrongUser);
        }
        // RFC 3261 §22.4 has the phone copy the Request-URI; we compare the
        // strings exactly (after trimming) rather than by §19.1.4 URI
        // equivalence, which phones have no reason to need.
        if answer.uri.trim() != e.request_uri.trim() {
            return Err(DigestRefusal::UriMismatch);
        }
        if answer.opaque.as_deref().is_some_and(|o| o != self.opaque) {
            return Err(DigestRefusal::Malformed);
        }
        let id = self
            .ours(&answer.nonce, source)
            .ok_or(DigestRefusal::UnknownNonce)?;
        if !answer.response_matches(algorithm, e) {
            return Err(DigestRefusal::BadResponse);
        }
        if !self.is_live(id, now) {
            return Ok(Check::Stale);
        }
        if answer.qop.is_none() && !self.algorithms.contains(&Algorithm::Md5) {
            return Err(DigestRefusal::NoQop);
        }
        self.count(id, answer.qop.as_ref().map(|q| q.nc))?;
        Ok(Check::Valid)
    }

    /// A fresh nonce, remembered; the expired and, when full, the oldest
    /// nonces are forgotten first.
    fn issue(&mut self, now: Instant, source: IpAddr) -> String {
        self.forget_expired(now);
        while self.live.len() >= MAX_LIVE_NONCES {
            self.forget_oldest();
        }
        let issued_ms = u64::try_from(now.saturating_duration_since(self.epoch).as_millis())
            .unwrap_or(u64::MAX);
        let mut rng = rand::rng();
        let id = loop {
            let id = NonceId {
                issued_ms,
                random: rng.random(),
            };
            if !self.live.contains_key(&id) {
                break id;
            }
        };
        self.live.insert(id, 0);
        self.order.push_back(id);
        format!(
            "{:016x}{:016x}{}",
            id.issued_ms,
            id.random,
            self.tag(id, source)
        )
    }

    fn forget_expired(&mut self, now: Instant) {
        while let Some(oldest) = self.order.front() {
            if self.issued(*oldest) + NONCE_LIFETIME > now {
                break;
            }
            self.forget_oldest();
        }
    }

    fn forget_oldest(&mut self) {
        if let Some(oldest) = self.order.pop_front() {
            self.live.remove(&oldest);
        }
    }

    fn issued(&self, id: NonceId) -> Instant {
        self.epoch
            .checked_add(Duration::from_millis(id.issued_ms))
            .unwrap_or(self.epoch)
    }

    /// A truncated SHA-256 of our key, the nonce's first half and the address
    /// it was handed to (as IPv6, so the input has a fixed length). The
    /// output is cut, so length extension gives nothing; an HMAC would add a
    /// crate for no gain here.
    fn tag(&self, id: NonceId, source: IpAddr) -> String {
        let source = match source.to_canonical() {
            IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            IpAddr::V6(v6) => v6,
        };
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(id.issued_ms.to_be_bytes());
        h.update(id.random.to_be_bytes());
        h.update(source.octets());
        to_hex(&h.finalize()[..16])
    }

    /// The nonce's id when it is one of ours, live or not.
    fn ours(&self, nonce: &str, source: IpAddr) -> Option<NonceId> {
        if nonce.len() != NONCE_HEX_LEN || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        // All ASCII, so these byte offsets are character boundaries.
        let id = NonceId {
            issued_ms: u64::from_str_radix(&nonce[..16], 16).ok()?,
            random: u64::from_str_radix(&nonce[16..32], 16).ok()?,
        };
        let given = nonce[32..].to_ascii_lowercase();
        bool::from(self.tag(id, source).as_bytes().ct_eq(given.as_bytes())).then_some(id)
    }

    fn is_live(&self, id: NonceId, now: Instant) -> bool {
        self.live.contains_key(&id) && now < self.issued(id) + NONCE_LIFETIME
    }

    /// Records an answer's nonce count (`None`: no qop), refusing one not
    /// above the last. Without qop there is no count, so such an answer is
    /// taken once per nonce.
    fn count(&mut self, id: NonceId, nc: Option<u32>) -> Result<(), DigestRefusal> {
        let last = self.live.get_mut(&id).ok_or(DigestRefusal::UnknownNonce)?;
        let next = match nc {
            Some(nc) if nc > *last => nc,
            None if *last == 0 => SPENT,
            _ => return Err(DigestRefusal::Replay),
        };
        *last = next;
        Ok(())
    }
}

/// What the answer must match: the request and the person's credentials.
struct Expected<'a> {
    method: &'a str,
    request_uri: &'a str,
    realm: &'a str,
    user: &'a str,
    password: &'a str,
}

/// The digest credentials meant for `realm`: those naming it, else the first
/// digest ones (which will then be refused for their realm).
fn credentials_for<'a>(request: &'a Message, realm: &str) -> Option<&'a str> {
    let mut digests = request
        .headers_named("Authorization")
        .filter_map(digest_credentials);
    let first = digests.next()?;
    let names_realm = |c: &str| Directives::parse(c).is_ok_and(|d| d.get("realm") == Some(realm));
    if names_realm(first) {
        return Some(first);
    }
    Some(digests.find(|c| names_realm(c)).unwrap_or(first))
}

/// `Digest a=b, …` → `a=b, …`; other schemes → None.
fn digest_credentials(value: &str) -> Option<&str> {
    let value = value.trim_start();
    let (scheme, rest) = value.split_once(|c: char| c.is_ascii_whitespace())?;
    scheme.eq_ignore_ascii_case("Digest").then_some(rest)
}

/// The qop part of an answer.
#[derive(Debug)]
struct Qop {
    /// As sent, since the response was computed with it.
    qop: String,
    nc_text: String,
    nc: u32,
    cnonce: String,
}

/// An `Authorization: Digest` answer, read.
#[derive(Debug)]
struct Answer {
    username: String,
    realm: String,
    nonce: String,
    uri: String,
    response: String,
    algorithm: Option<String>,
    opaque: Option<String>,
    qop: Option<Qop>,
}

impl Answer {
    fn parse(credentials: &str) -> Result<Self, DigestRefusal> {
        let mut d = Directives::parse(credentials)?;
        let mut required = |name: &str| d.take(name).ok_or(DigestRefusal::Malformed);
        let (username, realm, nonce, uri, response) = (
            required("username")?,
            required("realm")?,
            required("nonce")?,
            required("uri")?,
            required("response")?,
        );
        let qop = match d.take("qop") {
            None => None,
            Some(qop) => Some(Qop::parse(qop, d.take("nc"), d.take("cnonce"))?),
        };
        Ok(Self {
            username,
            realm,
            nonce,
            uri,
            response,
            algorithm: d.take("algorithm"),
            opaque: d.take("opaque"),
            qop,
        })
    }

    /// Whether the response is the one `e`'s password gives (RFC 7616 §3.4.1,
    /// §3.4.3), compared in constant time.
    fn response_matches(&self, algorithm: Algorithm, e: &Expected<'_>) -> bool {
        let expected = response(
            algorithm,
            &format!("{}:{}:{}", e.user, e.realm, e.password),
            &format!("{}:{}", e.method, self.uri),
            &self.nonce,
            self.qop.as_ref(),
        );
        let given = self.response.to_ascii_lowercase();
        expected.as_bytes().ct_eq(given.as_bytes()).into()
    }
}

impl Qop {
    /// Only `auth` is offered; `nc` is eight hex digits, never zero.
    fn parse(
        qop: String,
        nc: Option<String>,
        cnonce: Option<String>,
    ) -> Result<Self, DigestRefusal> {
        let (Some(nc_text), Some(cnonce)) = (nc, cnonce) else {
            return Err(DigestRefusal::Malformed);
        };
        let nc = (nc_text.len() == 8 && nc_text.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u32::from_str_radix(&nc_text, 16).ok())
            .flatten()
            .filter(|n| *n > 0);
        match nc {
            Some(nc) if qop.eq_ignore_ascii_case("auth") && !cnonce.is_empty() => Ok(Self {
                qop,
                nc_text,
                nc,
                cnonce,
            }),
            _ => Err(DigestRefusal::Malformed),
        }
    }
}

/// The response digest: KD(H(A1), nonce:nc:cnonce:qop:H(A2)) with qop, or
/// KD(H(A1), nonce:H(A2)) without (RFC 2069 phones).
fn response(algorithm: Algorithm, a1: &str, a2: &str, nonce: &str, qop: Option<&Qop>) -> String {
    let (ha1, ha2) = (algorithm.hex(a1), algorithm.hex(a2));
    match qop {
        Some(q) => algorithm.hex(&format!(
            "{ha1}:{nonce}:{}:{}:{}:{ha2}",
            q.nc_text, q.cnonce, q.qop
        )),
        None => algorithm.hex(&format!("{ha1}:{nonce}:{ha2}")),
    }
}

/// The directives of a digest answer (RFC 7616 §3.4, list syntax of RFC 7230
/// §7): names lowercased, quoted values unescaped, each name at most once.
#[derive(Debug)]
struct Directives(Vec<(String, String)>);

impl Directives {
    fn parse(s: &str) -> Result<Self, DigestRefusal> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut rest = s;
        loop {
            // Empty list elements are allowed: `a=b,,c=d`.
            rest = rest.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
            if rest.is_empty() {
                return Ok(Self(out));
            }
            if out.len() >= MAX_DIRECTIVES {
                return Err(DigestRefusal::Malformed);
            }
            let name_end = rest.find(|c: char| !is_token_char(c)).unwrap_or(rest.len());
            let name = rest[..name_end].to_ascii_lowercase();
            let after_name = rest[name_end..].trim_start();
            let value_start = after_name
                .strip_prefix('=')
                .ok_or(DigestRefusal::Malformed)?
                .trim_start();
            let (value, after_value) = match value_start.strip_prefix('"') {
                Some(quoted) => unquote(quoted)?,
                None => token(value_start)?,
            };
            let after_value = after_value.trim_start();
            let ends_here = after_value.is_empty() || after_value.starts_with(',');
            if name.is_empty() || !ends_here || out.iter().any(|(n, _)| *n == name) {
                return Err(DigestRefusal::Malformed);
            }
            out.push((name, value));
            rest = after_value;
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn take(&mut self, name: &str) -> Option<String> {
        let at = self.0.iter().position(|(n, _)| n == name)?;
        Some(self.0.swap_remove(at).1)
    }
}

/// RFC 7230 §3.2.6 tchar.
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// The rest of a quoted string after its opening quote → (value, what follows
/// the closing quote); `\x` stands for `x`.
fn unquote(s: &str) -> Result<(String, &str), DigestRefusal> {
    let mut value = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((value, &s[i + 1..])),
            '\\' => value.push(chars.next().ok_or(DigestRefusal::Malformed)?.1),
            c => value.push(c),
        }
    }
    Err(DigestRefusal::Malformed)
}

/// An unquoted value: up to a comma or whitespace, not empty.
fn token(s: &str) -> Result<(String, &str), DigestRefusal> {
    let end = s
        .find(|c: char| c == ',' || c.is_whitespace())
        .unwrap_or(s.len());
    if end == 0 {
        return Err(DigestRefusal::Malformed);
    }
    Ok((s[..end].to_owned(), &s[end..]))
}

/// `s` as a quoted string.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The tests' phone address, where a nonce source does not matter to them.
#[cfg(test)]
const TEST_PHONE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7));

#[cfg(test)]
impl Nonces {
    fn challenges(&mut self, realm: &str, stale: bool) -> Vec<String> {
        self.challenges_for(realm, stale, TEST_PHONE)
    }

    fn check(&mut self, request: &Message, realm: &str, user: &str, password: &str) -> Check {
        self.check_from(request, realm, user, password, TEST_PHONE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REALM: &str = "example.test";
    const USER: &str = "yamada";
    const PASSWORD: &str = "kaigi-2026";
    const RURI: &str = "sip:yamada@example.test";

    /// One directive of a challenge, e.g. `nonce`.
    fn directive(challenge: &str, name: &str) -> String {
        let d = Directives::parse(digest_credentials(challenge).unwrap()).unwrap();
        d.get(name).unwrap_or_default().to_owned()
    }

    /// How a phone answers `challenge` for a PUBLISH to `uri`.
    struct Phone<'a> {
        challenge: &'a str,
        uri: &'a str,
        password: &'a str,
        nc: u32,
    }

    impl Phone<'_> {
        fn new(challenge: &str) -> Phone<'_> {
            Phone {
                challenge,
                uri: RURI,
                password: PASSWORD,
                nc: 1,
            }
        }

        fn authorization(&self) -> String {
            let nonce = directive(self.challenge, "nonce");
            let algorithm = directive(self.challenge, "algorithm");
            let alg = Algorithm::named(Some(&algorithm)).unwrap();
            let nc = format!("{:08x}", self.nc);
            let ha1 = alg.hex(&format!("{USER}:{REALM}:{}", self.password));
            let ha2 = alg.hex(&format!("PUBLISH:{}", self.uri));
            let response = alg.hex(&format!("{ha1}:{nonce}:{nc}:0a4f113b:auth:{ha2}"));
            format!(
                "Digest username=\"{USER}\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"{}\", algorithm={algorithm}, qop=auth, nc={nc}, cnonce=\"0a4f113b\", response=\"{response}\", opaque=\"{}\"",
                self.uri,
                directive(self.challenge, "opaque"),
            )
        }
    }

    fn publish_with(authorization: &str) -> Message {
        let mut m = Message::request("PUBLISH", RURI);
        m.push("Authorization", authorization);
        m
    }

    fn check(nonces: &mut Nonces, authorization: &str) -> Check {
        nonces.check(&publish_with(authorization), REALM, USER, PASSWORD)
    }

    #[test]
    fn rfc_7616_example_responses() {
        // RFC 7616 §3.9.1: the same request answered with SHA-256 and MD5.
        let qop = Qop {
            qop: "auth".into(),
            nc_text: "00000001".into(),
            nc: 1,
            cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ".into(),
        };
        let answer = |alg| {
            response(
                alg,
                "Mufasa:http-auth@example.org:Circle of Life",
                "GET:/dir/index.html",
                "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
                Some(&qop),
            )
        };
        assert_eq!(
            answer(Algorithm::Sha256),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
        assert_eq!(answer(Algorithm::Md5), "8ca523f5e9506fed4657c9700eebdbec");
    }

    #[test]
    fn rfc_2617_example_response() {
        // RFC 2617 §3.5.
        let qop = Qop {
            qop: "auth".into(),
            nc_text: "00000001".into(),
            nc: 1,
            cnonce: "0a4f113b".into(),
        };
        let r = response(
            Algorithm::Md5,
            "Mufasa:testrealm@host.com:Circle Of Life",
            "GET:/dir/index.html",
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            Some(&qop),
        );
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn by_default_only_sha_256_is_offered() {
        let c = Nonces::default().challenges(REALM, false);
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(directive(&c[0], "algorithm"), "SHA-256");
        assert_eq!(Nonces::offering(&[]).challenges(REALM, false).len(), 1);
    }

    /// What `digest_algorithms = ["SHA-256", "MD5"]` offers, for old phones.
    fn old_phones() -> Nonces {
        Nonces::offering(&[Algorithm::Sha256, Algorithm::Md5])
    }

    #[test]
    fn old_phones_get_sha_256_then_md5_on_one_nonce() {
        let mut nonces = old_phones();
        let c = nonces.challenges(REALM, false);
        assert_eq!(c.len(), 2);
        assert_eq!(directive(&c[0], "algorithm"), "SHA-256");
        assert_eq!(directive(&c[1], "algorithm"), "MD5");
        for one in &c {
            assert_eq!(directive(one, "realm"), REALM);
            assert_eq!(directive(one, "qop"), "auth");
            assert_eq!(directive(one, "opaque").len(), 32);
            assert_eq!(directive(one, "stale"), "");
        }
        assert_eq!(directive(&c[0], "nonce"), directive(&c[1], "nonce"));
        let again = nonces.challenges(REALM, true);
        assert_ne!(directive(&again[0], "nonce"), directive(&c[0], "nonce"));
        assert_eq!(directive(&again[0], "stale"), "true");
        assert_eq!(directive(&again[1], "stale"), "true");
    }

    #[test]
    fn a_quote_in_the_realm_stays_inside_it() {
        let c = Nonces::default().challenges("a\"b", false);
        assert_eq!(directive(&c[0], "realm"), "a\"b");
    }

    #[test]
    fn answers_to_either_challenge_are_accepted() {
        let mut nonces = Nonces::default();
        // Both challenges share a nonce, so the second answer counts on.
        for (n, challenge) in (1..).zip(nonces.challenges(REALM, false)) {
            let auth = Phone {
                nc: n,
                ..Phone::new(&challenge)
            }
            .authorization();
            assert_eq!(check(&mut nonces, &auth), Check::Valid, "{auth}");
        }
    }

    #[test]
    fn an_md5_answer_shaped_like_sipps_is_accepted() {
        // SIPp 3.6.1 ([authentication], MD5 only) writes no spaces and puts
        // the algorithm last; its uri is the one the scenario must address.
        let mut nonces = old_phones();
        let c = nonces.challenges(REALM, false);
        let nonce = directive(&c[1], "nonce");
        let uri = "sip:127.0.0.1:5060";
        let ha1 = Algorithm::Md5.hex(&format!("{USER}:{REALM}:{PASSWORD}"));
        let ha2 = Algorithm::Md5.hex(&format!("PUBLISH:{uri}"));
        let resp = Algorithm::Md5.hex(&format!("{ha1}:{nonce}:00000001:6b8b4567:auth:{ha2}"));
        let auth = format!(
            "Digest username=\"{USER}\",realm=\"{REALM}\",cnonce=\"6b8b4567\",nc=00000001,qop=auth,uri=\"{uri}\",nonce=\"{nonce}\",response=\"{resp}\",algorithm=MD5,opaque=\"{}\"",
            directive(&c[1], "opaque")
        );
        let mut m = Message::request("PUBLISH", uri);
        m.push("Authorization", auth);
        assert_eq!(nonces.check(&m, REALM, USER, PASSWORD), Check::Valid);
    }

    #[test]
    fn wrong_credentials_are_refused_with_their_reason() {
        let mut nonces = Nonces::default();
        let c = nonces.challenges(REALM, false);
        let good = Phone::new(&c[0]).authorization();
        let cases = [
            (
                Phone {
                    password: "guess",
                    ..Phone::new(&c[0])
                }
                .authorization(),
                DigestRefusal::BadResponse,
            ),
            (good.replace(USER, "sato"), DigestRefusal::WrongUser),
            (good.replace(REALM, "other.test"), DigestRefusal::WrongRealm),
            (
                good.replace("algorithm=SHA-256", "algorithm=SHA-256-sess"),
                DigestRefusal::UnsupportedAlgorithm,
            ),
            (
                good.replace("algorithm=SHA-256", "algorithm=SHA-512-256"),
                DigestRefusal::UnsupportedAlgorithm,
            ),
            (
                good.replace("opaque=\"", "opaque=\"x"),
                DigestRefusal::Malformed,
            ),
            (
                good.replace("qop=auth", "qop=auth-int"),
                DigestRefusal::Malformed,
            ),
            (
                good.replace("nc=00000001", "nc=1"),
                DigestRefusal::Malformed,
            ),
            (
                good.replace("nc=00000001", "nc=00000000"),
                DigestRefusal::Malformed,
            ),
        ];
        for (auth, why) in cases {
            assert_eq!(check(&mut nonces, &auth), Check::Refused(why), "{auth}");
        }
        assert_eq!(
            check(&mut nonces, &good),
            Check::Valid,
            "refusals record nothing"
        );
    }

    #[test]
    fn the_digest_uri_must_be_the_request_uri() {
        let mut nonces = Nonces::default();
        let c = nonces.challenges(REALM, false);
        let elsewhere = Phone {
            uri: "sip:sato@example.test",
            ..Phone::new(&c[0])
        };
        assert_eq!(
            check(&mut nonces, &elsewhere.authorization()),
            Check::Refused(DigestRefusal::UriMismatch)
        );
    }

    #[test]
    fn a_replayed_nonce_count_is_refused_and_a_higher_one_accepted() {
        let mut nonces = Nonces::default();
        let c = nonces.challenges(REALM, false);
        let at = |nc| {
            Phone {
                nc,
                ..Phone::new(&c[0])
            }
            .authorization()
        };
        assert_eq!(check(&mut nonces, &at(1)), Check::Valid);
        assert_eq!(
            check(&mut nonces, &at(1)),
            Check::Refused(DigestRefusal::Replay)
        );
        assert_eq!(check(&mut nonces, &at(2)), Check::Valid);
        assert_eq!(check(&mut nonces, &at(7)), Check::Valid, "counts may skip");
        assert_eq!(
            check(&mut nonces, &at(5)),
            Check::Refused(DigestRefusal::Replay)
        );
        assert_eq!(
            check(&mut nonces, &at(7)),
            Check::Refused(DigestRefusal::Replay)
        );
        assert_eq!(check(&mut nonces, &at(8)), Check::Valid);
    }

    #[test]
    fn an_answer_without_qop_is_taken_once_per_nonce_from_old_phones() {
        let mut nonces = old_phones();
        let c = nonces.challenges(REALM, false);
        let nonce = directive(&c[1], "nonce");
        let ha1 = Algorithm::Md5.hex(&format!("{USER}:{REALM}:{PASSWORD}"));
        let ha2 = Algorithm::Md5.hex(&format!("PUBLISH:{RURI}"));
        let resp = Algorithm::Md5.hex(&format!("{ha1}:{nonce}:{ha2}"));
        let auth = format!(
            "Digest username=\"{USER}\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"{RURI}\", response=\"{resp}\""
        );
        assert_eq!(check(&mut nonces, &auth), Check::Valid);
        assert_eq!(
            check(&mut nonces, &auth),
            Check::Refused(DigestRefusal::Replay)
        );
        let with_qop = Phone::new(&c[1]).authorization();
        assert_eq!(
            check(&mut nonces, &with_qop),
            Check::Refused(DigestRefusal::Replay),
            "a spent nonce stays spent"
        );
    }

    #[test]
    fn an_expired_nonce_is_stale_only_for_the_right_password() {
        let mut nonces = Nonces::default();
        let c = nonces.challenges(REALM, false);
        let later = Instant::now() + NONCE_LIFETIME + Duration::from_secs(1);
        let check_later = |nonces: &mut Nonces, auth: &str| {
            nonces.check_at(
                &publish_with(auth),
                REALM,
                USER,
                PASSWORD,
                later,
                TEST_PHONE,
            )
        };
        let right = Phone::new(&c[0]).authorization();
        let wrong = Phone {
            password: "guess",
            ..Phone::new(&c[0])
        }
        .authorization();
        assert_eq!(check_later(&mut nonces, &right), Check::Stale);
        assert_eq!(
            check_later(&mut nonces, &wrong),
            Check::Refused(DigestRefusal::BadResponse)
        );
        // Issuing later forgets the expired nonce; it is still known as ours.
        nonces.challenges_at(REALM, false, later, TEST_PHONE);
        assert_eq!(nonces.live.len(), 1);
        assert_eq!(check_later(&mut nonces, &right), Check::Stale);
    }

    #[test]
    fn nonces_not_made_here_are_unknown() {
        let mut nonces = Nonces::default();
        let c = nonces.challenges(REALM, false);
        let good = Phone::new(&c[0]).authorization();
        let nonce = directive(&c[0], "nonce");
        let mut forged = nonce.clone().into_bytes();
        forged[63] = if forged[63] == b'0' { b'1' } else { b'0' };
        let forged = String::from_utf8(forged).unwrap();
        let from_elsewhere = Nonces::default().challenges(REALM, false);
        for other in [
            forged,
            directive(&from_elsewhere[0], "nonce"),
            "dcd98b7102dd2f0e8b11d0f600bfb0c093".to_owned(),
            "é".repeat(32),
        ] {
            let auth = good.replace(&nonce, &other);
            assert_eq!(
                check(&mut nonces, &auth),
                Check::Refused(DigestRefusal::UnknownNonce),
                "{other}"
            );
        }
    }

    #[test]
    fn a_nonce_outlasts_the_challenges_of_a_busy_server_meanwhile() {
        // 8,000 challenges a second for 5 s between our 401 and its answer.
        let mut nonces = Nonces::default();
        let c = nonces.challenges(REALM, false);
        for _ in 0..40_000 {
            nonces.challenges(REALM, false);
        }
        assert_eq!(
            check(&mut nonces, &Phone::new(&c[0]).authorization()),
            Check::Valid
        );
    }

    #[test]
    fn when_full_the_oldest_nonce_is_evicted_and_answers_to_it_are_stale() {
        let mut nonces = Nonces::default();
        let first = nonces.challenges(REALM, false);
        for _ in 0..MAX_LIVE_NONCES {
            nonces.challenges(REALM, false);
        }
        assert_eq!(nonces.live.len(), MAX_LIVE_NONCES);
        assert_eq!(nonces.order.len(), MAX_LIVE_NONCES);
        let last = nonces.challenges(REALM, false);
        assert_eq!(nonces.live.len(), MAX_LIVE_NONCES);
        let evicted = Phone::new(&first[0]).authorization();
        assert_eq!(check(&mut nonces, &evicted), Check::Stale);
        assert_eq!(
            check(&mut nonces, &Phone::new(&last[0]).authorization()),
            Check::Valid
        );
    }

    #[test]
    fn offering_sha_256_alone_refuses_md5_answers() {
        let mut nonces = Nonces::offering(&[Algorithm::Sha256]);
        let c = nonces.challenges(REALM, false);
        assert_eq!(c.len(), 1);
        let sha = Phone::new(&c[0]).authorization();
        let md5_challenge = c[0].replace("algorithm=SHA-256", "algorithm=MD5");
        let md5 = Phone::new(&md5_challenge).authorization();
        assert_eq!(
            check(&mut nonces, &md5),
            Check::Refused(DigestRefusal::UnsupportedAlgorithm)
        );
        assert_eq!(check(&mut nonces, &sha), Check::Valid);
    }

    #[test]
    fn without_md5_an_answer_without_qop_is_a_downgrade_and_refused() {
        let mut nonces = Nonces::default();
        let c = nonces.challenges(REALM, false);
        let nonce = directive(&c[0], "nonce");
        let ha1 = Algorithm::Sha256.hex(&format!("{USER}:{REALM}:{PASSWORD}"));
        let ha2 = Algorithm::Sha256.hex(&format!("PUBLISH:{RURI}"));
        let resp = Algorithm::Sha256.hex(&format!("{ha1}:{nonce}:{ha2}"));
        let auth = format!(
            "Digest username=\"{USER}\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"{RURI}\", response=\"{resp}\", algorithm=SHA-256"
        );
        assert_eq!(
            check(&mut nonces, &auth),
            Check::Refused(DigestRefusal::NoQop)
        );
        // The same phone answering with qop is welcome on that nonce.
        assert_eq!(
            check(&mut nonces, &Phone::new(&c[0]).authorization()),
            Check::Valid
        );
    }

    #[test]
    fn credentials_for_our_realm_are_found_among_several() {
        let mut nonces = Nonces::default();
        let c = nonces.challenges(REALM, false);
        let mut m = publish_with("Basic eWFtYWRhOmthaWdp");
        m.push(
            "Authorization",
            "Digest username=\"x\", realm=\"proxy.test\", nonce=\"n\", uri=\"u\", response=\"r\"",
        );
        m.push("Authorization", Phone::new(&c[0]).authorization());
        assert_eq!(nonces.check(&m, REALM, USER, PASSWORD), Check::Valid);
        let mut proxy_only = publish_with(
            "Digest username=\"x\", realm=\"proxy.test\", nonce=\"n\", uri=\"u\", response=\"r\", algorithm=SHA-256",
        );
        proxy_only.push("Authorization", "Basic eWFtYWRhOmthaWdp");
        assert_eq!(
            nonces.check(&proxy_only, REALM, USER, PASSWORD),
            Check::Refused(DigestRefusal::WrongRealm)
        );
    }

    #[test]
    fn no_digest_credentials_is_missing() {
        let mut nonces = Nonces::default();
        let bare = Message::request("PUBLISH", RURI);
        assert_eq!(nonces.check(&bare, REALM, USER, PASSWORD), Check::Missing);
        for other in [
            "Basic eWFtYWRhOmthaWdp",
            "Digest",
            "",
            "Digestusername=\"a\"",
        ] {
            assert_eq!(check(&mut nonces, other), Check::Missing, "{other:?}");
        }
    }

    #[test]
    fn directives_are_read_like_rfc_7230_lists() {
        let d =
            Directives::parse(" USERNAME = \"a\\\"b, c\" ,, realm=\"r\",nc=00000001\t,qop=auth , ")
                .unwrap();
        assert_eq!(d.get("username"), Some("a\"b, c"));
        assert_eq!(d.get("realm"), Some("r"));
        assert_eq!(d.get("nc"), Some("00000001"));
        assert_eq!(d.get("qop"), Some("auth"));
    }

    #[test]
    fn garbage_credentials_are_refused_without_panicking() {
        let mut nonces = Nonces::default();
        let c = nonces.challenges(REALM, false);
        let good = Phone::new(&c[0]).authorization();
        let garbage = [
            "Digest =".to_owned(),
            "Digest ,,,,".to_owned(),
            "Digest a".to_owned(),
            "Digest a=".to_owned(),
            "Digest a=\"".to_owned(),
            "Digest a=\"\\".to_owned(),
            "Digest a=b c=d".to_owned(),
            "Digest \"a\"=b".to_owned(),
            "Digest a=b, a=c".to_owned(),
            "Digest username=\"yamada\", username=\"yamada\"".to_owned(),
            "Digest é=ü, realm=\"ü\"".to_owned(),
            format!(
                "Digest {}",
                (0..10_000).map(|i| format!("a{i}=b,")).collect::<String>()
            ),
            format!("Digest x=\"{}\"", "\\".repeat(9_999)),
            good.replace(", response=", ", response=\"\", x="),
            good.replace("nc=00000001", "nc=ffffffffff"),
            good.replace("nc=00000001", "nc=+0000001"),
            good.replace("cnonce=\"0a4f113b\"", "cnonce=\"\""),
            good.replace("uri=\"", "uri=\"\u{0}"),
            good.replace(", nc=00000001", ""),
        ];
        for g in &garbage {
            let outcome = check(&mut nonces, g);
            assert!(
                matches!(outcome, Check::Refused(_) | Check::Missing),
                "{g:.80}: {outcome:?}"
            );
        }
        assert!(matches!(
            check(&mut nonces, &garbage[11]),
            Check::Refused(DigestRefusal::Malformed)
        ));
    }

    mod hostile {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_header_is_judged_without_panicking(value in ".{0,400}") {
                let mut nonces = Nonces::default();
                nonces.challenges(REALM, false);
                let _ = check(&mut nonces, &value);
                let _ = check(&mut nonces, &format!("Digest {value}"));
            }

            #[test]
            fn directive_soup_is_judged_without_panicking(
                value in r#"Digest( ?,? ?(username|realm|nonce|uri|response|qop|nc|cnonce|opaque|algorithm|[a-z]{1,3}) ?= ?("([^"\\]|\\.){0,12}"?|[0-9a-fA-F]{0,10}|[^ ,"]{0,8})){0,14}"#
            ) {
                let mut nonces = Nonces::default();
                nonces.challenges(REALM, false);
                prop_assert_ne!(check(&mut nonces, &value), Check::Valid);
            }

            #[test]
            fn a_valid_answer_changed_in_substance_is_not_valid(at in 0usize..600, byte in 0u8..128) {
                let mut nonces = Nonces::default();
                let c = nonces.challenges(REALM, false);
                // Without the opaque, which is not required back: renaming
                // it to an unknown directive would leave the answer valid.
                let good = Phone::new(&c[0]).authorization();
                let good = good[..good.find(", opaque=").unwrap()].to_owned();
                let mut bytes = good.clone().into_bytes();
                let at = at % bytes.len();
                prop_assume!(bytes[at] != byte);
                bytes[at] = byte;
                let changed = String::from_utf8(bytes).unwrap();
                let outcome = check(&mut nonces, &changed);
                // Only what the hash does not cover may change and leave
                // the answer valid: the case of names, hex digits and the
                // algorithm, and the spacing and commas between directives.
                let plain = |s: &str| {
                    s.chars()
                        .filter(|c| !c.is_whitespace() && *c != ',')
                        .collect::<String>()
                        .to_ascii_lowercase()
                };
                if outcome == Check::Valid {
                    prop_assert_eq!(plain(&changed), plain(&good));
                }
            }
        }
    }

    #[test]
    fn a_nonce_is_good_only_from_the_address_it_was_handed_to() {
        let mut nonces = Nonces::default();
        let home: IpAddr = "198.51.100.20".parse().unwrap();
        let victim: IpAddr = "203.0.113.5".parse().unwrap();
        let c = nonces.challenges_for(REALM, false, home);
        let answer = Phone::new(&c[0]).authorization();
        assert_eq!(
            nonces.check_from(&publish_with(&answer), REALM, USER, PASSWORD, victim),
            Check::Refused(DigestRefusal::UnknownNonce),
            "signed at home, sent with the victim's address"
        );
        assert_eq!(
            nonces.check_from(&publish_with(&answer), REALM, USER, PASSWORD, home),
            Check::Valid
        );
        // The same address written as IPv4-mapped IPv6 is the same address.
        let c = nonces.challenges_for(REALM, false, home);
        let answer = Phone::new(&c[0]).authorization();
        let mapped: IpAddr = "::ffff:198.51.100.20".parse().unwrap();
        assert_eq!(
            nonces.check_from(&publish_with(&answer), REALM, USER, PASSWORD, mapped),
            Check::Valid
        );
    }
}
