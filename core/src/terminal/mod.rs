//! The field worker's phone (seed: mail terminal 3, figures 8–10): the own
//! record, publishing it when it changes, asking for colleagues' presence, and
//! reading their Notify mails. `engine` decides, `store` remembers, `client`
//! talks to the mail server.

pub mod client;
pub mod config;
pub mod engine;
pub mod store;

pub use client::{ConnectionStatus, Event, MailRefused, Terminal};
pub use config::{DEFAULT_LOCATION_TTL_SECS, MailServer, TerminalConfig};
pub use engine::Sharing;
pub use store::{Colleague, Pruned};
