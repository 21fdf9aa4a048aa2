//! MailPresence server: the seed's presence server 1. It keeps everyone's
//! presence, reads presence mails from its mailbox over IMAP, answers over
//! SMTP, and (next) speaks SIP presence to desk phones.
//!
//! `engine` holds the logic and no I/O; `store` keeps state; `mail` is the
//! mail transport; `config` and `directory` say who is who.

pub mod config;
pub mod directory;
pub mod engine;
pub mod hub;
pub mod mail;
pub mod sip;
pub mod status;
pub mod store;
pub mod supervisor;
