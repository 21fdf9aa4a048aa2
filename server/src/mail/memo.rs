//! A 伝言メモ left on the board, on its way to its colleague: one `Memo`
//! mail, signed like a Notify, queued in the caller's transaction. The
//! board bounds how many memos there are (per colleague, per taker and
//! hour), so this queues exactly one mail per memo and never more.

use ed25519_dalek::SigningKey;
use mailpresence_protocol::mail::{ComposeEnvelope, PresenceMessage};
use mailpresence_protocol::memo::Memo;

use super::compose_signed;
use crate::store::{Store, Time};

/// Queues the Memo mail of `memo` to `to` (the colleague's mail address).
/// Returns whether one was queued (a memo that cannot be composed is
/// logged and left on the board only).
pub fn queue_memo(
    store: &mut dyn Store,
    memo: &Memo,
    to: &str,
    server_address: &str,
    key: Option<&SigningKey>,
    now: Time,
) -> crate::store::Result<bool> {
    let envelope = ComposeEnvelope {
        from: server_address.to_owned(),
        to: to.to_owned(),
        message_id: None,
        in_reply_to: None,
    };
    match compose_signed(&PresenceMessage::Memo(memo.clone()), &envelope, key, now) {
        Ok(raw) => {
            store.enqueue_mail(server_address, to, &raw, None, now)?;
            Ok(true)
        }
        Err(e) => {
            tracing::error!(to = %to, memo = %memo.id, error = %e, "cannot compose a Memo mail");
            Ok(false)
        }
    }
}
