//! Which phone spoke: a presence mail's device signature checked against
//! its person's enrolled, unrevoked keys, and an Enrol mail binding a new
//! key with the one-time token of an enrolment code. Pure over the store
//! transaction, like the engine that calls it.

use mailpresence_protocol::mail::device_signature::{self, SignatureError, read_public_key};
use mailpresence_protocol::mail::{Enrol, Enrolled, ParsedMail};
use mailpresence_protocol::model::AccountName;
use serde::Deserialize;

use crate::enrolment::{TOKEN_KIND, token_key};
use crate::store::{Result, Store, Time};

/// What `[trust] unsigned` says of a mail without a device signature.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnsignedMail {
    /// Judged by the `[trust]` mode alone, as before phones had keys —
    /// but only for people who never enrolled a phone: once one did, only
    /// a phone's signature speaks for them (else a revoked phone's mail app,
    /// or anyone who may send as them, would speak on unsigned).
    #[default]
    Accept,
    /// Refused from everyone: only enrolled phones speak.
    Refuse,
}

/// Why a mail's device signature is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceRefusal {
    #[error("unsigned, and [trust] unsigned = \"refuse\"")]
    Unsigned,
    #[error(
        "unsigned, from someone who enrolled a phone: only a phone's signature speaks for them"
    )]
    Enrolled,
    #[error("device signature: {0}")]
    Signature(#[from] SignatureError),
    #[error("enrolment: {0}")]
    Enrolment(String),
}

/// Checks the signature of `mail`, which speaks for `account`: `Ok` when
/// it verifies with one of their live keys (that device is marked seen),
/// or carries none and unsigned mail is accepted.
pub fn check_signed(
    store: &mut dyn Store,
    account: &AccountName,
    mail: &ParsedMail,
    unsigned: UnsignedMail,
    now: Time,
) -> Result<std::result::Result<(), DeviceRefusal>> {
    let devices = store.live_device_keys(account.as_str())?;
    let keys: Vec<_> = devices
        .iter()
        .filter_map(|(_, k)| read_public_key(k))
        .collect();
    match device_signature::verify_mail(mail, &keys, now.timestamp()) {
        Ok(Some(key_id)) => {
            let signer = devices.iter().find(|(_, k)| {
                read_public_key(k).is_some_and(|k| device_signature::key_id(&k) == key_id)
            });
            if let Some((id, _)) = signer {
                store.device_seen(*id, now)?;
            }
            Ok(Ok(()))
        }
        Ok(None) if unsigned == UnsignedMail::Refuse => Ok(Err(DeviceRefusal::Unsigned)),
        Ok(None) if store.ever_enrolled(account.as_str())? => Ok(Err(DeviceRefusal::Enrolled)),
        Ok(None) => Ok(Ok(())),
        Err(e) => Ok(Err(e.into())),
    }
}

#[derive(Deserialize)]
struct TokenRecord {
    account: String,
}

/// An Enrol mail from `account`'s proven address: its token redeemed (once),
/// the mail signed with the key it brings, the key bound. The answer to send.
pub fn enrol(
    store: &mut dyn Store,
    mail: &ParsedMail,
    request: &Enrol,
    now: Time,
) -> Result<std::result::Result<Enrolled, DeviceRefusal>> {
    let refuse = |why: &str| Ok(Err(DeviceRefusal::Enrolment(why.to_owned())));
    let Some(key) = read_public_key(&request.key) else {
        return refuse("the key is not a usable Ed25519 public key");
    };
    // The mail must be signed by the key it brings: proof the phone holds it.
    match device_signature::verify_mail(mail, &[key], now.timestamp()) {
        Ok(Some(_)) => {}
        Ok(None) => return refuse("the Enrol mail is not signed with its key"),
        Err(e) => return Ok(Err(e.into())),
    }
    let key_of_token = token_key(&request.token);
    let Some(record) = store.live_record(TOKEN_KIND, &key_of_token, now)? else {
        return refuse("the token is unknown, used or expired: make a new code");
    };
    let for_account = serde_json::from_str::<TokenRecord>(&record)
        .map(|r| r.account)
        .unwrap_or_default();
    if for_account != request.account.as_str() {
        // Refused without using it up: the rightful phone can still enrol.
        return refuse("the token was made for someone else");
    }
    store.take_record(TOKEN_KIND, &key_of_token, now)?;
    let name: String = request.device.chars().take(64).collect();
    let id = store.bind_device(request.account.as_str(), &name, &request.key, now)?;
    tracing::info!(account = %request.account, device = id, name = %name, "phone enrolled");
    Ok(Ok(Enrolled {
        account: request.account.clone(),
        key: device_signature::key_id(&key),
        device: id.to_string(),
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test may stop at the first surprise

    use chrono::Utc;
    use ed25519_dalek::SigningKey;
    use mailpresence_protocol::enrolment::public_key_text;
    use mailpresence_protocol::mail::device_signature::{SignatureError, sign_mail};
    use mailpresence_protocol::mail::{self, ComposeEnvelope, Limits, PresenceMessage, Publish};
    use mailpresence_protocol::model::{Activity, PresenceFields};

    use super::*;
    use crate::store::SqliteStore;

    fn publish_mail(key: Option<&SigningKey>) -> ParsedMail {
        let message = PresenceMessage::Publish(Publish {
            publisher: "tanaka".parse().unwrap(),
            presence: PresenceFields::new("tanaka@example.test", Activity::parse("busy").unwrap()),
        });
        enveloped(&message, key)
    }

    fn enveloped(message: &PresenceMessage, key: Option<&SigningKey>) -> ParsedMail {
        let env = ComposeEnvelope {
            from: "tanaka@example.test".into(),
            to: "presence@example.test".into(),
            ..Default::default()
        };
        let raw = mail::compose(message, &env).unwrap();
        let raw = match key {
            Some(k) => sign_mail(&raw, k, Utc::now().timestamp()).unwrap(),
            None => raw,
        };
        mail::parse(&raw, Limits::default())
    }

    fn check(
        store: &mut SqliteStore,
        mail: &ParsedMail,
        unsigned: UnsignedMail,
    ) -> std::result::Result<(), DeviceRefusal> {
        store
            .transaction(|tx| {
                check_signed(tx, &"tanaka".parse().unwrap(), mail, unsigned, Utc::now())
            })
            .unwrap()
    }

    #[test]
    fn a_live_key_s_mail_passes_a_revoked_or_foreign_one_does_not() {
        let mut store = SqliteStore::in_memory().unwrap();
        let phone = SigningKey::from_bytes(&[1u8; 32]);
        let id = store
            .transaction(|tx| {
                tx.bind_device(
                    "tanaka",
                    "Pixel",
                    &public_key_text(&phone.verifying_key()),
                    Utc::now(),
                )
            })
            .unwrap();
        assert_eq!(
            check(
                &mut store,
                &publish_mail(Some(&phone)),
                UnsignedMail::Refuse
            ),
            Ok(())
        );
        let seen = store.transaction(|tx| tx.devices_of("tanaka")).unwrap();
        assert!(seen[0].last_seen_at.is_some(), "the device was seen");
        let stranger = SigningKey::from_bytes(&[2u8; 32]);
        assert!(matches!(
            check(
                &mut store,
                &publish_mail(Some(&stranger)),
                UnsignedMail::Accept
            ),
            Err(DeviceRefusal::Signature(SignatureError::UnknownKey(_)))
        ));
        store
            .transaction(|tx| tx.revoke_device("tanaka", id, Utc::now()))
            .unwrap();
        assert!(matches!(
            check(
                &mut store,
                &publish_mail(Some(&phone)),
                UnsignedMail::Accept
            ),
            Err(DeviceRefusal::Signature(SignatureError::UnknownKey(_)))
        ));
    }

    #[test]
    fn unsigned_mail_is_judged_as_trust_unsigned_says() {
        let mut store = SqliteStore::in_memory().unwrap();
        assert_eq!(
            check(&mut store, &publish_mail(None), UnsignedMail::Accept),
            Ok(())
        );
        assert_eq!(
            check(&mut store, &publish_mail(None), UnsignedMail::Refuse),
            Err(DeviceRefusal::Unsigned)
        );
    }

    fn enrol_request(key: &SigningKey, token: &str) -> Enrol {
        Enrol {
            account: "tanaka".parse().unwrap(),
            token: token.into(),
            key: public_key_text(&key.verifying_key()),
            device: "田中のiPhone".into(),
        }
    }

    fn redeem(
        store: &mut SqliteStore,
        request: &Enrol,
        signer: Option<&SigningKey>,
    ) -> std::result::Result<Enrolled, DeviceRefusal> {
        let mail = enveloped(&PresenceMessage::Enrol(request.clone()), signer);
        store
            .transaction(|tx| enrol(tx, &mail, request, Utc::now()))
            .unwrap()
    }

    fn put_token(store: &mut SqliteStore, token: &str, account: &str) {
        let record = serde_json::json!({ "account": account }).to_string();
        store
            .transaction(|tx| {
                tx.put_record(
                    TOKEN_KIND,
                    &token_key(token),
                    &record,
                    Utc::now() + chrono::Duration::hours(1),
                )
            })
            .unwrap();
    }

    #[test]
    fn a_token_binds_one_key_once_and_only_for_its_person() {
        let mut store = SqliteStore::in_memory().unwrap();
        let phone = SigningKey::from_bytes(&[1u8; 32]);
        put_token(&mut store, "t-1", "tanaka");
        // Not signed with the key it brings: refused, the token kept.
        let other = SigningKey::from_bytes(&[3u8; 32]);
        assert!(redeem(&mut store, &enrol_request(&phone, "t-1"), Some(&other)).is_err());
        assert!(redeem(&mut store, &enrol_request(&phone, "t-1"), None).is_err());
        let done = redeem(&mut store, &enrol_request(&phone, "t-1"), Some(&phone)).unwrap();
        assert_eq!(done.account.as_str(), "tanaka");
        assert_eq!(
            store
                .transaction(|tx| tx.live_device_keys("tanaka"))
                .unwrap()
                .len(),
            1
        );
        // Used once: a second phone cannot ride on it.
        let second = SigningKey::from_bytes(&[4u8; 32]);
        assert!(matches!(
            redeem(&mut store, &enrol_request(&second, "t-1"), Some(&second)),
            Err(DeviceRefusal::Enrolment(why)) if why.contains("unknown, used or expired")
        ));
        // A token made for Sato does not enrol a phone as Tanaka.
        put_token(&mut store, "t-2", "sato");
        assert!(matches!(
            redeem(&mut store, &enrol_request(&second, "t-2"), Some(&second)),
            Err(DeviceRefusal::Enrolment(why)) if why.contains("someone else")
        ));
        assert_eq!(
            store
                .transaction(|tx| tx.live_device_keys("tanaka"))
                .unwrap()
                .len(),
            1
        );
    }
}
