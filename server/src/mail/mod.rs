//! The mail side of the server: `intake` reads the presence mailbox over IMAP
//! and hands each mail to the engine; `outbox` hands queued Notify mails to the
//! SMTP server until it accepts them; `memo` queues a 伝言メモ from the board
//! for its colleague. Connections come from `mailpresence_protocol::transport`.

pub mod intake;
pub mod memo;
pub mod outbox;
mod put_away;
pub mod trust;

use ed25519_dalek::SigningKey;
use mailpresence_protocol::mail::{self, ComposeEnvelope, PresenceMessage, device_signature};

use crate::engine::Step;
use crate::store::{Medium, Store, Time};

/// Composes a mail of the server's, signed with its key when it has one.
fn compose_signed(
    message: &PresenceMessage,
    envelope: &ComposeEnvelope,
    key: Option<&SigningKey>,
    now: Time,
) -> Result<Vec<u8>, String> {
    let raw = mail::compose(message, envelope).map_err(|e| e.to_string())?;
    match key {
        Some(key) => {
            device_signature::sign_mail(&raw, key, now.timestamp()).map_err(|e| e.to_string())
        }
        None => Ok(raw),
    }
}

/// Composes the Notify mails of the step's deliveries (and the reply the
/// sender is owed: an enrolled phone's confirmation, a directory) and queues them in the outbox, inside the caller's
/// transaction, signed with `key`. Returns how many were queued.
pub fn queue_deliveries(
    store: &mut dyn Store,
    step: &Step,
    server_address: &str,
    key: Option<&SigningKey>,
    now: Time,
) -> crate::store::Result<usize> {
    let mut queued = 0;
    if let Some(reply) = &step.reply {
        let envelope = ComposeEnvelope {
            from: server_address.to_owned(),
            to: reply.to.clone(),
            message_id: None,
            in_reply_to: reply.reference.clone(),
        };
        match compose_signed(&reply.message, &envelope, key, now) {
            Ok(raw) => {
                store.enqueue_mail(
                    server_address,
                    &reply.to,
                    &raw,
                    reply.replaces.as_deref(),
                    now,
                )?;
                queued += 1;
            }
            Err(e) => {
                tracing::error!(to = %reply.to, kind = %reply.message.kind(), error = %e, "cannot compose the reply")
            }
        }
    }
    for d in &step.deliveries {
        if d.medium != Medium::Mail {
            continue;
        }
        let envelope = ComposeEnvelope {
            from: server_address.to_owned(),
            to: d.to.clone(),
            message_id: None,
            in_reply_to: d.reference.clone(),
        };
        match compose_signed(
            &PresenceMessage::Notify(d.notify.clone()),
            &envelope,
            key,
            now,
        ) {
            Ok(raw) => {
                // One pending Notify per watcher address and colleague.
                let key = format!("{}\n{}", d.to.to_ascii_lowercase(), d.notify.notifier);
                store.enqueue_mail(server_address, &d.to, &raw, Some(&key), now)?;
                queued += 1;
                if d.stale {
                    tracing::info!(to = %d.to, notifier = %d.notify.notifier, "presence sent as stale");
                }
            }
            Err(e) => {
                tracing::error!(to = %d.to, notifier = %d.notify.notifier, error = %e, "cannot compose Notify")
            }
        }
    }
    Ok(queued)
}
