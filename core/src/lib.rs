//! MailPresence core: the presence model and the two wire formats (presence
//! mail and PIDF) that the field phone and the presence server share.

pub mod api;
pub mod location;
pub mod mail;
pub mod model;
pub mod pidf;
pub mod summary;
pub mod terminal;
pub mod transport;

pub use mail::{Envelope, MailKind, Outcome, ParsedMail, PresenceMessage};
pub use model::{Activity, ActivityToken, Presence, PresenceFields};

uniffi::setup_scaffolding!();
