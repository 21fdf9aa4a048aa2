//! The field worker's phone (seed: mail terminal 3, figures 8–10): the own
//! record, publishing it when it changes, asking for colleagues' presence, and
//! reading their Notify mails. `engine` decides, `store` remembers; `client`
//! is the [`Terminal`] and its own record, `outbox` composes and queues the
//! Publish and Subscribe mails, `send_queue` is that queue as the shared
//! outbox policy sees it, `inbox` reads and proves the Notify mails, `loops`
//! runs them in the background, `clock` changes the own record when a
//! status or a sharing window ends by itself, `device` holds the phone's own
//! signing key and the pinned server key (and enrols), `directory` the
//! company directory the server sent and the colleagues the worker follows,
//! and `events` is what the app hears.

pub mod client;
pub mod clock;
pub mod config;
pub mod device;
pub mod directory;
pub mod engine;
pub mod events;
pub mod inbox;
pub mod loops;
pub mod outbox;
pub mod send_queue;
pub mod store;
#[cfg(test)]
mod testing;

pub use client::Terminal;
pub use config::{DEFAULT_LOCATION_TTL_SECS, MailServer, TerminalConfig};
pub use directory::DirectoryCopy;
pub use engine::{Sharing, StatusEnd};
pub use events::{ConnectionStatus, Event, MailRefused};
pub use store::{Colleague, Pruned};
