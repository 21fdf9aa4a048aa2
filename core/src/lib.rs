//! MailPresence core: the presence model and the two wire formats (presence
//! mail and PIDF) that the field phone and the presence server share, the mail
//! transport both use, and the phone's own parts: `location` (GPS fix to
//! address from the map pack), `terminal` (the phone's client, store and
//! decisions) and `api` (the UniFFI edge the apps call).
//!
//! Glossary of the comments: "the seed" is the patent this system implements
//! (JP6286887B2); "seed figure N" its figure N — figure 7 the server handling
//! a Publish or Subscribe, figure 9 a terminal's own record, figure 10 a
//! terminal deciding what to publish. A "terminal" is a field worker's phone.

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
