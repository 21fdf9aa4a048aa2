//! Digest authentication (RFC 2617 / RFC 8760 with MD5) for directory entries
//! that have a SIP password: a 401 challenge, then the phone's answer checked.
//! Nonces are ours, short-lived, and each is tied to when it was made.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use rand::Rng;

use super::message::Message;

const NONCE_LIFETIME: Duration = Duration::from_secs(300);
const MAX_NONCES: usize = 10_000;

/// The nonces handed out and not yet expired.
#[derive(Debug, Default)]
pub struct Nonces {
    issued: HashMap<String, Instant>,
}

impl Nonces {
    /// The `WWW-Authenticate` value of a fresh challenge.
    pub fn challenge(&mut self, realm: &str) -> String {
        if self.issued.len() >= MAX_NONCES {
            let now = Instant::now();
            self.issued
                .retain(|_, t| now.duration_since(*t) < NONCE_LIFETIME);
        }
        let nonce = format!("{:032x}", rand::rng().random::<u128>());
        self.issued.insert(nonce.clone(), Instant::now());
        format!("Digest realm=\"{realm}\", nonce=\"{nonce}\", algorithm=MD5, qop=\"auth\"")
    }

    /// Whether `request` carries valid credentials for `user` with `password`.
    pub fn verify(&self, request: &Message, realm: &str, user: &str, password: &str) -> bool {
        let Some(auth) = request.header("Authorization") else {
            return false;
        };
        let Some(fields) = auth.trim().strip_prefix("Digest").map(parse_fields) else {
            return false;
        };
        let get = |k: &str| fields.get(k).map(String::as_str);
        let (Some(username), Some(nonce), Some(uri), Some(response)) =
            (get("username"), get("nonce"), get("uri"), get("response"))
        else {
            return false;
        };
        let fresh = self
            .issued
            .get(nonce)
            .is_some_and(|t| t.elapsed() < NONCE_LIFETIME);
        if username != user || get("realm") != Some(realm) || !fresh {
            return false;
        }
        let method = request.method().unwrap_or_default();
        let ha1 = md5_hex(&format!("{user}:{realm}:{password}"));
        let ha2 = md5_hex(&format!("{method}:{uri}"));
        let expected = match (get("qop"), get("nc"), get("cnonce")) {
            (Some(qop), Some(nc), Some(cnonce)) => {
                md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}"))
            }
            _ => md5_hex(&format!("{ha1}:{nonce}:{ha2}")),
        };
        expected.eq_ignore_ascii_case(response)
    }
}

fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `a="x", b=y` → {a: x, b: y}; quoted values may hold commas.
fn parse_fields(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        out.insert(key, value.trim().to_owned());
        rest = tail.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_2617_example_answer_is_accepted() {
        // RFC 2617 §3.5's example, with SIP's method in place of GET.
        let mut nonces = Nonces::default();
        nonces
            .issued
            .insert("dcd98b7102dd2f0e8b11d0f600bfb0c093".into(), Instant::now());
        let ha1 = md5_hex("Mufasa:testrealm@host.com:Circle Of Life");
        let ha2 = md5_hex("PUBLISH:sip:a@x");
        let response = md5_hex(&format!(
            "{ha1}:dcd98b7102dd2f0e8b11d0f600bfb0c093:00000001:0a4f113b:auth:{ha2}"
        ));
        let raw = format!(
            "PUBLISH sip:a@x SIP/2.0\r\nAuthorization: Digest username=\"Mufasa\", realm=\"testrealm@host.com\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"sip:a@x\", qop=auth, nc=00000001, cnonce=\"0a4f113b\", response=\"{response}\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"\r\nContent-Length: 0\r\n\r\n"
        );
        let m = Message::parse(raw.as_bytes(), true).unwrap();
        assert!(nonces.verify(&m, "testrealm@host.com", "Mufasa", "Circle Of Life"));
        assert!(!nonces.verify(&m, "testrealm@host.com", "Mufasa", "wrong"));
        assert!(
            !Nonces::default().verify(&m, "testrealm@host.com", "Mufasa", "Circle Of Life"),
            "unknown nonce"
        );
        assert_eq!(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
    }
}
