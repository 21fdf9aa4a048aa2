//! The field phone's Rust core, on top of `mailpresence-protocol`: `location`
//! turns a GPS fix into an address from the map pack, `terminal` is the
//! phone's presence client (its record, store, decisions and mail traffic),
//! and `api` is the UniFFI edge the Android and iOS apps call (with
//! `my_status` the status and sharing screens' part of it and
//! `connection_check` the Account screen's "Test connection"), with `log`
//! handing the core's log records to the app, `sign_in` the worker's
//! sign-in with Microsoft 365 or Google Workspace, `settings` the mail
//! settings found from the address alone, and `enrolment` the scanned
//! enrolment code and the phone's device key, and `colleagues` the company
//! directory and the colleagues a worker follows.
//!
//! "Terminal" is the patent's word (JP6286887B2, "the seed") for a field
//! worker's phone; "seed figure N" in comments is its figure N.

pub mod api;
pub mod colleagues;
pub mod connection_check;
pub mod enrolment;
pub mod error;
pub mod location;
pub mod log;
pub mod my_status;
pub mod settings;
pub mod sign_in;
pub mod terminal;

pub use mailpresence_protocol as protocol;

uniffi::setup_scaffolding!();
