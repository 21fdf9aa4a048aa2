//! What the phone's client tells the app: the [`Event`]s it broadcasts, and
//! the status records they carry across the FFI edge (the connection's state
//! for the status line, a mail the server refused for good).

use super::store::Colleague;
use crate::error::PresenceError;

/// The state of the link to the mail server, for the app's status line.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum ConnectionStatus {
    Connected,
    Offline,
    Failed { error: PresenceError },
}

/// A queued mail the mail server refused for good: it was dropped and will
/// not be sent (e.g. 550 for the presence server's address).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MailRefused {
    pub recipient: String,
    /// The server's answer, with its reply code.
    pub reason: String,
}

/// What the app hears about.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Colleague(Box<Colleague>),
    /// A Publish was queued; with the location it carries (none while
    /// sharing is off or nothing is known).
    Published {
        location: Option<String>,
    },
    /// The number of mails waiting in the outbox changed.
    OutboxChanged {
        depth: u32,
    },
    Refused(MailRefused),
    Connection(ConnectionStatus),
    /// The server's directory arrived: `listed` colleagues of `total`.
    Directory {
        listed: u32,
        total: u32,
    },
    /// A 伝言メモ a desk worker left for this worker on the board.
    Memo(Box<mailpresence_protocol::memo::Memo>),
}
