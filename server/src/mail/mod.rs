//! The mail side of the server: `intake` reads the presence mailbox over IMAP
//! and hands each mail to the engine; `outbox` hands queued Notify mails to the
//! SMTP server until it accepts them. Connections come from `mailpresence_protocol::transport`.

pub mod intake;
pub mod outbox;
pub mod trust;

use mailpresence_protocol::mail::{self, ComposeEnvelope, PresenceMessage};

use crate::engine::Delivery;
use crate::store::{Medium, Store, Time};

/// Composes the Notify mails of `deliveries` and queues them in the outbox,
/// inside the caller's transaction. Returns how many were queued.
pub fn queue_deliveries(
    store: &mut dyn Store,
    deliveries: &[Delivery],
    server_address: &str,
    now: Time,
) -> crate::store::Result<usize> {
    let mut queued = 0;
    for d in deliveries {
        if d.medium != Medium::Mail {
            continue;
        }
        let envelope = ComposeEnvelope {
            from: server_address.to_owned(),
            to: d.to.clone(),
            message_id: None,
            in_reply_to: d.reference.clone(),
        };
        match mail::compose(&PresenceMessage::Notify(d.notify.clone()), &envelope) {
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
