//! MailPresence server: the presence server of the patent (JP6286887B2, "the
//! seed" in comments: its presence server 1). It keeps everyone's presence,
//! reads presence mails from its mailbox over IMAP and answers over SMTP, and
//! speaks SIP presence to desk phones, bridging the two.
//!
//! `engine` holds the presence logic and no I/O; `hub` runs its steps in store
//! transactions for the transports; `store` keeps state (SQLite, or PostgreSQL
//! shared by several instances; `instances` passes their changes between them); `mail` and
//! `sip` are the transports (`mail::trust` proves who sent a mail,
//! `sip::digest` who sent a request), `web` the desk staff's board in the
//! browser (fed by `feed`); `supervisor` keeps their loops running; `admission` bounds
//! their connections, `tls` reads the certificate SIP and the board serve,
//! `hex` writes digests and tokens; `config` and `directory` say who is who
//! and who may see whom; `status` reports, `metrics` counts for IT's
//! monitoring, `signing` keeps the server's Ed25519 key, `enrolment` makes
//! the codes phones join with and `admin` what IT runs beside the server;
//! `service` tells systemd the server is ready and alive. `directory::refresh`
//! keeps the directory current (the file on SIGHUP, LDAP on a schedule).
//!
//! Glossary of the comments: "seed figure N" is figure N of the patent —
//! figure 7 the server's handling of a Publish or Subscribe, figure 9 a
//! terminal's own record, figure 10 a terminal deciding what to publish;
//! "terminal" is a field worker's phone; "presentity" the person whose
//! presence is watched; "watcher" the one watching.

pub mod admin;
pub mod admission;
pub mod config;
pub mod device_keys;
pub mod directory;
pub mod engine;
pub mod enrolment;
pub mod feed;
pub mod hex;
pub mod hub;
pub mod instances;
pub mod mail;
pub mod memos;
pub mod metrics;
pub mod service;
pub mod signing;
pub mod sip;
pub mod status;
pub mod store;
pub mod supervisor;
pub mod tls;
pub mod web;
