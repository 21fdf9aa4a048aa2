//! A presence mail signed by the phone that wrote it, with the Ed25519 key it
//! made at enrolment (the private half never leaves the phone).
//!
//! The signature covers what the server acts on, not the bytes on the wire:
//! the From address, the Subject, the Message-ID, the Date header, the
//! signing time, and the presence message as the parser reads it (its JSON).
//! Mail systems re-wrap lines, re-encode bodies (7bit, quoted-printable,
//! base64) and add headers; none of that changes what is signed, while a
//! changed tag, subject, date or identity does. A replay is caught by its
//! Message-ID (already handled) and by the signing time (too old).
//!
//! It travels in one header, which Postfix, Dovecot, Exchange and Gmail pass
//! through as it is:
//!
//! `MailPresence-Signature: v=1; k=<key id>; t=<unix seconds>; s=<base64url>`
//!
//! The key id is the first 16 hex digits of the SHA-256 of the public key.
//! The phone signs what the parser reads back from the body it composed, so
//! both sides sign the same message.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::{Limits, Outcome, ParsedMail, PresenceMessage};

/// The header's name.
pub const HEADER: &str = "MailPresence-Signature";
/// A signature older than this is refused (a replayed mail); the phone's
/// outbox sends within hours, not days.
pub const MAX_AGE_SECS: i64 = 3 * 24 * 3600;
/// Clocks may differ by this much into the future.
pub const MAX_SKEW_SECS: i64 = 5 * 60;

/// What a signature covers, taken from a composed or a received mail.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    pub from: &'a str,
    /// The recipient: a signed mail forwarded to someone else is not theirs.
    pub to: &'a str,
    pub subject: &'a str,
    pub message_id: &'a str,
    pub date: &'a str,
    pub message: &'a PresenceMessage,
}

/// The parts of a `MailPresence-Signature` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    pub key_id: String,
    pub signed_at: i64,
    signature: [u8; 64],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is malformed")]
    Malformed,
    #[error("the signature is of version {0}, not 1")]
    Version(String),
    #[error("no enrolled, unrevoked device of the sender has key {0}")]
    UnknownKey(String),
    #[error("the signature does not match the mail")]
    Mismatch,
    #[error("the mail was signed {0} s ago: too old (a replay?)")]
    TooOld(i64),
    #[error("the mail was signed in the future")]
    Future,
    #[error(
        "the mail lacks what a signature covers (From, Subject, Message-ID, Date, a readable body)"
    )]
    Unsignable,
}

/// The id a key is named by in the header.
pub fn key_id(key: &VerifyingKey) -> String {
    Sha256::digest(key.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The bytes signed: each covered part on its own line, then the JSON.
fn canonical(signed: &Signed<'_>, key_id: &str, signed_at: i64) -> Vec<u8> {
    let one_line = |s: &str| s.replace(['\r', '\n'], " ").trim().to_owned();
    let mut out = format!(
        "mailpresence-signature/1\nkey:{key_id}\nat:{signed_at}\nfrom:{}\nto:{}\nsubject:{}\nmessage-id:{}\ndate:{}\n",
        one_line(signed.from).to_ascii_lowercase(),
        one_line(signed.to).to_ascii_lowercase(),
        one_line(signed.subject),
        one_line(signed.message_id),
        one_line(signed.date),
    )
    .into_bytes();
    // Serialising the parsed message (strings, numbers) cannot fail.
    out.extend(serde_json::to_vec(signed.message).unwrap_or_default());
    out
}

/// The header value for `signed`, made at `signed_at` (Unix seconds).
pub fn sign(key: &SigningKey, signed: &Signed<'_>, signed_at: i64) -> String {
    let id = key_id(&key.verifying_key());
    let signature = key.sign(&canonical(signed, &id, signed_at));
    format!(
        "v=1; k={id}; t={signed_at}; s={}",
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    )
}

/// What a received (or just composed) mail's signature covers; `None` if
/// it is not a readable presence mail with From, Subject, Message-ID and Date.
pub fn signed_parts(mail: &ParsedMail) -> Option<Signed<'_>> {
    let Outcome::Presence(message) = &mail.outcome else {
        return None;
    };
    let e = &mail.envelope;
    Some(Signed {
        from: e.from.as_deref()?,
        to: e.to.as_deref()?,
        subject: e.subject.as_deref()?,
        message_id: e.message_id.as_deref()?,
        date: e.date.as_deref()?,
        message,
    })
}

/// A composed presence mail with its signature header put on top: the mail
/// is read back with the receiving side's parser and what that reads is
/// signed, so both sides sign the same thing.
pub fn sign_mail(raw: &[u8], key: &SigningKey, now: i64) -> Result<Vec<u8>, SignatureError> {
    let parsed = super::parse(raw, Limits::default());
    let signed = signed_parts(&parsed).ok_or(SignatureError::Unsignable)?;
    let header = sign(key, &signed, now);
    let mut out = format!("{HEADER}: {header}\r\n").into_bytes();
    out.extend_from_slice(raw);
    Ok(out)
}

/// The signature of a received mail checked against the sender's keys:
/// `Ok(None)` when it carries none, the signing key's id when it verifies.
pub fn verify_mail(
    mail: &ParsedMail,
    keys: &[VerifyingKey],
    now: i64,
) -> Result<Option<String>, SignatureError> {
    let Some(value) = mail.envelope.signature.as_deref() else {
        return Ok(None);
    };
    let header = parse_header(value)?;
    let signed = signed_parts(mail).ok_or(SignatureError::Malformed)?;
    verify(&header, &signed, keys, now).map(Some)
}

/// A public key as enrolment codes and Enrol mails carry it (base64url).
pub fn read_public_key(text: &str) -> Option<VerifyingKey> {
    let bytes: [u8; 32] = URL_SAFE_NO_PAD.decode(text.trim()).ok()?.try_into().ok()?;
    // A small-order key verifies signatures anyone can make: never a device's.
    VerifyingKey::from_bytes(&bytes)
        .ok()
        .filter(|k| !k.is_weak())
}

/// Reads a header value (tolerant of folding and spacing, strict on content).
pub fn parse_header(value: &str) -> Result<SignatureHeader, SignatureError> {
    let (mut version, mut key_id, mut signed_at, mut signature) = (None, None, None, None);
    for part in value.split(';') {
        let part: String = part.split_whitespace().collect();
        let Some((name, v)) = part.split_once('=') else {
            continue;
        };
        match name {
            "v" => version = Some(v.to_owned()),
            "k" => key_id = Some(v.to_owned()),
            "t" => signed_at = v.parse::<i64>().ok(),
            "s" => signature = URL_SAFE_NO_PAD.decode(v).ok(),
            _ => {}
        }
    }
    match version.as_deref() {
        Some("1") => {}
        Some(other) => return Err(SignatureError::Version(other.chars().take(8).collect())),
        None => return Err(SignatureError::Malformed),
    }
    let key_id = key_id
        .filter(|k| k.len() == 16 && k.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or(SignatureError::Malformed)?;
    Ok(SignatureHeader {
        key_id: key_id.to_ascii_lowercase(),
        signed_at: signed_at.ok_or(SignatureError::Malformed)?,
        signature: signature
            .and_then(|s| s.try_into().ok())
            .ok_or(SignatureError::Malformed)?,
    })
}

/// Checks `header` against `signed` with the sender's device keys (the
/// enrolled, unrevoked ones), at `now`. Returns the key id that signed.
pub fn verify(
    header: &SignatureHeader,
    signed: &Signed<'_>,
    keys: &[VerifyingKey],
    now: i64,
) -> Result<String, SignatureError> {
    let key = keys
        .iter()
        .find(|k| key_id(k) == header.key_id)
        .ok_or_else(|| SignatureError::UnknownKey(header.key_id.clone()))?;
    // The time first (any i64 a sender writes), then the signature.
    let age = now.saturating_sub(header.signed_at);
    if age > MAX_AGE_SECS {
        return Err(SignatureError::TooOld(age));
    }
    if age < -MAX_SKEW_SECS {
        return Err(SignatureError::Future);
    }
    let bytes = canonical(signed, &header.key_id, header.signed_at);
    key.verify_strict(&bytes, &Signature::from_bytes(&header.signature))
        .map_err(|_| SignatureError::Mismatch)?;
    Ok(header.key_id.clone())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test may stop at the first surprise

    use super::*;
    use crate::mail::Publish;
    use crate::mail::parse::parse;
    use crate::model::{Activity, PresenceFields};

    fn message(location: &str) -> PresenceMessage {
        let mut presence =
            PresenceFields::new("tanaka@example.co.jp", Activity::parse("busy").unwrap());
        presence.location = Some(location.into());
        PresenceMessage::Publish(Publish {
            publisher: "tanaka".parse().unwrap(),
            presence,
        })
    }

    fn signed<'a>(m: &'a PresenceMessage, from: &'a str) -> Signed<'a> {
        Signed {
            from,
            to: "presence@example.co.jp",
            subject: "Publish",
            message_id: "<a1@example.co.jp>",
            date: "Sun, 06 Dec 2026 10:00:00 +0900",
            message: m,
        }
    }

    const NOW: i64 = 1_796_000_000;

    #[test]
    fn a_signed_mail_verifies_with_its_devices_key_and_nothing_else() {
        let phone = SigningKey::from_bytes(&[1u8; 32]);
        let other = SigningKey::from_bytes(&[2u8; 32]);
        let m = message("東京都千代田区丸の内一丁目");
        let header = parse_header(&sign(&phone, &signed(&m, "tanaka@example.co.jp"), NOW)).unwrap();
        let keys = [other.verifying_key(), phone.verifying_key()];
        assert_eq!(
            verify(
                &header,
                &signed(&m, "Tanaka@Example.co.jp"),
                &keys,
                NOW + 60
            ),
            Ok(key_id(&phone.verifying_key()))
        );
        // Another person's device key is not the sender's.
        assert!(matches!(
            verify(
                &header,
                &signed(&m, "tanaka@example.co.jp"),
                &[other.verifying_key()],
                NOW
            ),
            Err(SignatureError::UnknownKey(_))
        ));
    }

    #[test]
    fn a_changed_place_identity_or_date_does_not_verify() {
        let phone = SigningKey::from_bytes(&[1u8; 32]);
        let keys = [phone.verifying_key()];
        let m = message("東京都千代田区丸の内一丁目");
        let header = parse_header(&sign(&phone, &signed(&m, "tanaka@example.co.jp"), NOW)).unwrap();
        let moved = message("東京都千代田区丸の内二丁目");
        assert_eq!(
            verify(&header, &signed(&moved, "tanaka@example.co.jp"), &keys, NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&header, &signed(&m, "sato@example.co.jp"), &keys, NOW),
            Err(SignatureError::Mismatch)
        );
        // Sent on to someone else: not theirs (the phone checks To is its own).
        let mut forwarded = signed(&m, "tanaka@example.co.jp");
        forwarded.to = "suzuki@example.co.jp";
        assert_eq!(
            verify(&header, &forwarded, &keys, NOW),
            Err(SignatureError::Mismatch)
        );
        // Any time a sender writes is judged without overflow.
        let mut ancient = header.clone();
        ancient.signed_at = i64::MIN;
        assert!(matches!(
            verify(&ancient, &signed(&m, "tanaka@example.co.jp"), &keys, NOW),
            Err(SignatureError::TooOld(_))
        ));
        let mut later = signed(&m, "tanaka@example.co.jp");
        later.date = "Mon, 07 Dec 2026 10:00:00 +0900";
        assert_eq!(
            verify(&header, &later, &keys, NOW),
            Err(SignatureError::Mismatch)
        );
        assert!(matches!(
            verify(
                &header,
                &signed(&m, "tanaka@example.co.jp"),
                &keys,
                NOW + MAX_AGE_SECS + 1
            ),
            Err(SignatureError::TooOld(_))
        ));
        assert_eq!(
            verify(
                &header,
                &signed(&m, "tanaka@example.co.jp"),
                &keys,
                NOW - 3600
            ),
            Err(SignatureError::Future)
        );
    }

    #[test]
    fn the_body_re_encoded_by_a_mail_system_still_verifies() {
        // The phone signs what the parser reads from its own body; a relay
        // that re-encodes it as base64 changes no byte of what was signed.
        let phone = SigningKey::from_bytes(&[1u8; 32]);
        let body = "Publisher: tanaka\r\nContact: tanaka@example.co.jp\r\nActivity: busy\r\nLocation: 東京都千代田区丸の内一丁目\r\n";
        let head = "From: tanaka@example.co.jp\r\nTo: presence@example.co.jp\r\nSubject: Publish\r\nMessage-ID: <a1@example.co.jp>\r\nDate: Sun, 06 Dec 2026 10:00:00 +0900\r\nMIME-Version: 1.0\r\n";
        let as_sent = format!(
            "{head}Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}"
        );
        let relayed = format!(
            "{head}Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            base64::engine::general_purpose::STANDARD.encode(body)
        );
        let read = |raw: &str| match parse(raw.as_bytes(), Limits::default()).outcome {
            Outcome::Presence(m) => m,
            other => panic!("{other:?}"),
        };
        let sent = read(&as_sent);
        let header =
            parse_header(&sign(&phone, &signed(&sent, "tanaka@example.co.jp"), NOW)).unwrap();
        let received = read(&relayed);
        assert_eq!(
            verify(
                &header,
                &signed(&received, "tanaka@example.co.jp"),
                &[phone.verifying_key()],
                NOW
            ),
            Ok(key_id(&phone.verifying_key()))
        );
    }

    #[test]
    fn malformed_and_foreign_headers_are_named() {
        assert_eq!(parse_header("garbage"), Err(SignatureError::Malformed));
        assert_eq!(
            parse_header("v=2; k=0011223344556677; t=1; s=AA"),
            Err(SignatureError::Version("2".into()))
        );
        assert_eq!(
            parse_header("v=1; k=zz; t=1; s=AA"),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            parse_header("v=1; k=0011223344556677; t=x; s=AA"),
            Err(SignatureError::Malformed)
        );
    }
}
