//! PIDF (RFC 3863) with the extensions desk phones and presence servers use:
//! RPID activities (RFC 4480), PIDF-LO civic address and point (RFC 4119/5139/
//! 5491), timed status (RFC 4481), and a one-line human `<note>`. `encode` writes
//! what `decode` reads back unchanged; `decode` also reads what real phones write.

mod decode;
mod dom;
mod encode;

use crate::model::{AccountName, PresenceFields};

pub use decode::decode;
pub use encode::encode;

/// Largest PIDF document accepted from the network.
pub const MAX_PIDF_BYTES: usize = 256 * 1024;

pub(crate) mod ns {
    pub const PIDF: &str = "urn:ietf:params:xml:ns:pidf";
    pub const DM: &str = "urn:ietf:params:xml:ns:pidf:data-model";
    pub const RPID: &str = "urn:ietf:params:xml:ns:pidf:rpid";
    pub const GP: &str = "urn:ietf:params:xml:ns:pidf:geopriv10";
    pub const CA: &str = "urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr";
    pub const GML: &str = "http://www.opengis.net/gml";
    pub const GS: &str = "http://www.opengis.net/pidflo/1.0";
    pub const TP: &str = "urn:ietf:params:xml:ns:pidf:timed-status";
    /// Ours: the schedule lines exactly as the mail side writes them.
    pub const MP: &str = "urn:mailpresence:params:xml:ns:schedule";
}

/// A decoded PIDF document: whose presence, and the fields.
#[derive(Debug, Clone, PartialEq)]
pub struct PidfPresence {
    /// The `entity` URI, e.g. `sip:tanaka@example.co.jp`.
    pub entity: String,
    pub fields: PresenceFields,
}

impl PidfPresence {
    /// The account name in the entity's user part (`sip:tanaka@…` → `tanaka`).
    pub fn account(&self) -> Option<AccountName> {
        account_from_entity(&self.entity)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PidfError {
    #[error("document is {0} bytes; at most {MAX_PIDF_BYTES} are accepted")]
    TooLarge(usize),
    #[error("not well-formed XML: {0}")]
    Xml(String),
    #[error("root element is <{0}>, not a PIDF <presence>")]
    NotPidf(String),
    #[error("nesting deeper than {0} elements")]
    TooDeep(usize),
    #[error("more than {0} elements")]
    TooManyElements(usize),
}

/// `sip:USER@DOMAIN` for an account, with the user part percent-encoded where
/// RFC 3261 needs it (account names may be Japanese).
pub fn entity_for(account: &AccountName, domain: &str) -> String {
    let mut user = String::new();
    for b in account.as_str().bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            user.push(char::from(b));
        } else {
            user.push_str(&format!("%{b:02X}"));
        }
    }
    format!("sip:{user}@{domain}")
}

/// The account name of a `sip:`, `sips:` or `pres:` URI's user part.
pub fn account_from_entity(entity: &str) -> Option<AccountName> {
    let rest = entity.trim().trim_start_matches('<');
    let (_, rest) = rest.split_once(':')?;
    let user = rest.split(['@', ';', '>']).next()?;
    percent_decode(user)?.parse().ok()
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_uris() {
        let a: AccountName = "田中".parse().unwrap();
        let e = entity_for(&a, "example.co.jp");
        assert_eq!(e, "sip:%E7%94%B0%E4%B8%AD@example.co.jp");
        assert_eq!(account_from_entity(&e), Some(a));
        assert_eq!(
            account_from_entity("<sip:sato@pbx.local;transport=udp>")
                .unwrap()
                .as_str(),
            "sato"
        );
        assert_eq!(
            account_from_entity("pres:suzuki@example.co.jp")
                .unwrap()
                .as_str(),
            "suzuki"
        );
        assert_eq!(account_from_entity("garbage"), None);
        assert_eq!(account_from_entity("sip:%ZZ@x"), None);
    }
}
