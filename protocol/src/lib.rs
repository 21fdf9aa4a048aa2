//! What the field phone and the presence server share: the presence model,
//! the two wire formats (presence mail and PIDF), the one-line summaries both
//! show, the mail transport both use (IMAP with IDLE, SMTP, the outbox), and
//! the map pack's file format (the phone geocodes with it, the server's web
//! board draws its map from it), and the enrolment code (the server makes it,
//! the phones read it), and the company directory as phones search it
//! (`people`). Nothing here knows about GPS, the phone's
//! store or SIP.
//!
//! Glossary of the comments: "the seed" is the patent this system implements
//! (JP6286887B2); "seed figure N" its figure N — figure 7 the server handling
//! a Publish or Subscribe, figure 9 a terminal's own record, figure 10 a
//! terminal deciding what to publish. A "terminal" is a field worker's phone.
//!
//! With the `ffi` feature the types the phone's app API hands out as they are
//! carry UniFFI derives (as matrix-rust-sdk's crates do), so that edge has no
//! copies of them.

pub mod enrolment;
pub mod mail;
pub mod mappack;
pub mod memo;
pub mod model;
pub mod people;
pub mod pidf;
#[cfg(feature = "sqlite")]
pub mod schema;
pub mod secret;
pub mod summary;
pub mod transport;

pub use mail::{Envelope, MailKind, Outcome, ParsedMail, PresenceMessage};
pub use model::{Activity, ActivityToken, Presence, PresenceFields};

#[cfg(feature = "ffi")]
uniffi::setup_scaffolding!();
