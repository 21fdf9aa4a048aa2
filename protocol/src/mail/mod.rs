//! Presence over e-mail (wire format v1): the three kinds of presence mail, how a
//! received mail is classified, and how one is composed. `tags` reads the body,
//! `parse` reads a whole RFC 5322 mail, `compose` writes one.

pub mod auth;
pub mod auth_results;
pub mod compose;
pub mod device_signature;
mod flowed;
mod html;
pub mod parse;
pub mod tags;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::{AccountName, PresenceFields, ValueError};
use crate::pidf::PidfError;

pub use compose::{ComposeEnvelope, ComposeError, compose};
pub use parse::{Limits, parse};

/// The kind of a presence mail, told by its Subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailKind {
    Publish,
    Subscribe,
    Notify,
    /// A phone binds its device key to its person with an enrolment token.
    Enrol,
    /// The server's signed answer to an Enrol: the key is bound.
    Enrolled,
    /// A phone asks for the colleagues it may see (all, or those a query finds).
    Directory,
    /// The server's answer to a Directory: one `Person:` line per colleague.
    People,
    /// A 伝言メモ the server passes on from the board, signed like a Notify.
    Memo,
}

impl MailKind {
    /// The Subject keyword.
    pub fn subject(self) -> &'static str {
        match self {
            Self::Publish => "Publish",
            Self::Subscribe => "Subscribe",
            Self::Notify => "Notify",
            Self::Enrol => "Enrol",
            Self::Enrolled => "Enrolled",
            Self::Directory => "Directory",
            Self::People => "People",
            Self::Memo => "Memo",
        }
    }

    /// The kind a decoded Subject names, if it is exactly a keyword.
    pub fn from_subject(subject: &str) -> Option<Self> {
        let s = subject.trim();
        [
            Self::Publish,
            Self::Subscribe,
            Self::Notify,
            Self::Enrol,
            Self::Enrolled,
            Self::Directory,
            Self::People,
            Self::Memo,
        ]
        .into_iter()
        .find(|k| s.eq_ignore_ascii_case(k.subject()))
    }
}

impl fmt::Display for MailKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.subject())
    }
}

/// Whether `address` is a bare addr-spec a phone may put in a mail header
/// and an IMAP search: one `@`, both sides present, and nothing that quotes,
/// comments, separates or breaks a line (`"`, `\`, `()<>,;:[]`, spaces,
/// control characters). Addresses from an enrolment code or an account file
/// are checked with it before any use.
pub fn is_plain_address(address: &str) -> bool {
    let Some((local, domain)) = address.split_once('@') else {
        return false;
    };
    let allowed = |c: char| !c.is_control() && !c.is_whitespace() && !"\"\\()<>,;:[]@".contains(c);
    !local.is_empty()
        && !domain.is_empty()
        && address.len() <= 254
        && local.chars().all(allowed)
        && domain.chars().all(allowed)
}

/// Publish: a terminal tells the server its presence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Publish {
    pub publisher: AccountName,
    #[serde(flatten)]
    pub presence: PresenceFields,
}

/// Notify: the server tells a watcher someone's presence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notify {
    pub notifier: AccountName,
    #[serde(flatten)]
    pub presence: PresenceFields,
}

/// `once` is the seed's behaviour: answered once, as soon as there is presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubscribeMode {
    #[default]
    Once,
    Watch,
}

impl SubscribeMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Once => "once",
            Self::Watch => "watch",
        }
    }
}

/// Subscribe: a watcher asks for one or more colleagues' presence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscribe {
    pub watcher: AccountName,
    pub notifiers: Vec<AccountName>,
    pub send_to: String,
    pub mode: SubscribeMode,
    /// Seconds a `watch` should last; the server caps it.
    pub expires: Option<u32>,
}

/// Enrol: a phone's new device key, bound to its person by the one-time
/// token of their enrolment code. Signed with that key (it proves holding it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrol {
    pub account: AccountName,
    pub token: String,
    /// base64url of the Ed25519 public key.
    pub key: String,
    /// The device's name as its owner knows it (`Pixel 8`, `田中のiPhone`).
    pub device: String,
}

/// Enrolled: the server's answer, signed with its key: `key` (the key id)
/// is bound to `account`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolled {
    pub account: AccountName,
    pub key: String,
    pub device: String,
}

/// The longest `Query` of a Directory mail, in characters.
pub const MAX_QUERY_CHARS: usize = 64;

/// Directory: a phone asks for the colleagues its person may see; with a
/// query, only those it finds (name, reading in kana or romaji, extension).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryQuery {
    pub watcher: AccountName,
    pub query: Option<String>,
}

/// People: the server's answer to a Directory, signed like a Notify. It
/// lists at most what fits in one mail; `total` says how many the query
/// found, so a phone knows when to search narrower.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct People {
    pub watcher: AccountName,
    pub query: Option<String>,
    pub people: Vec<crate::people::DirectoryEntry>,
    pub total: u32,
}

/// One presence mail, as its body says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum PresenceMessage {
    Publish(Publish),
    Subscribe(Subscribe),
    Notify(Notify),
    Enrol(Enrol),
    Enrolled(Enrolled),
    Directory(DirectoryQuery),
    People(People),
    Memo(crate::memo::Memo),
}

impl PresenceMessage {
    pub fn kind(&self) -> MailKind {
        match self {
            Self::Publish(_) => MailKind::Publish,
            Self::Subscribe(_) => MailKind::Subscribe,
            Self::Notify(_) => MailKind::Notify,
            Self::Enrol(_) => MailKind::Enrol,
            Self::Directory(_) => MailKind::Directory,
            Self::People(_) => MailKind::People,
            Self::Enrolled(_) => MailKind::Enrolled,
            Self::Memo(_) => MailKind::Memo,
        }
    }
}

/// What the headers of a received mail say, whatever its body: the server needs
/// it to check the sender, thread replies, and refuse a mail a second time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Envelope {
    /// The `From:` address, as written (compare case-insensitively).
    pub from: Option<String>,
    pub message_id: Option<String>,
    pub in_reply_to: Option<String>,
    pub subject: Option<String>,
    /// The top-level `Authentication-Results` headers, topmost first: what
    /// the receiving mail systems proved about the sender.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub authentication_results: Vec<AuthResultsHeader>,
    /// The address of the topmost `Return-Path` (the envelope sender the
    /// delivering MTA recorded), without `<>`; `None` without one or for `<>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_path: Option<String>,
    /// How many `From:` headers the mail has (one, in an honest mail).
    #[serde(skip)]
    pub from_headers: usize,
    /// The first `To:` address: a signature covers it.
    #[serde(skip)]
    pub to: Option<String>,
    /// The `Date:` header as written (unfolded): a device signature covers it.
    #[serde(skip)]
    pub date: Option<String>,
    /// The topmost `MailPresence-Signature` header's value, if any.
    #[serde(skip)]
    pub signature: Option<String>,
}

/// One `Authentication-Results` header and where it stood in the mail.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AuthResultsHeader {
    /// The value, unfolded.
    pub value: String,
    /// How many `Received:` headers stand above it.
    pub received_above: usize,
}

impl AuthResultsHeader {
    /// A header where the receiving MTA writes its verdict in a mail that
    /// Dovecot's LMTP delivered (one `Received:` above it), as a test or a
    /// fuzzer writes it.
    pub fn delivered(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            received_above: auth::DEFAULT_DELIVERY_HOPS,
        }
    }
}

/// How a received mail was classified. Every mail is exactly one of these.
// The presence variant is the common case and lives briefly; boxing it would
// only add an allocation per mail.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Presence(PresenceMessage),
    /// Not addressed to the presence system (a human's mail); left alone.
    NotPresence(NotPresence),
    /// A presence Subject, but never to be acted on or answered.
    Refused(MailRefusal),
    /// A presence mail that cannot be read.
    Malformed(Malformed),
}

/// A received mail: its headers and what it is.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedMail {
    pub envelope: Envelope,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotPresence {
    #[error("the mail has no Subject")]
    NoSubject,
    #[error("Subject {0:?} is not Publish, Subscribe or Notify")]
    Subject(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailRefusal {
    #[error("automatic mail ({header}: {value}); automatic mail is never answered")]
    AutoSubmitted { header: String, value: String },
    #[error("delivery report or bounce ({0})")]
    Bounce(String),
    #[error("{what} is {size} bytes; at most {limit} are accepted")]
    Oversized {
        what: &'static str,
        size: usize,
        limit: usize,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("message: not an RFC 5322 mail")]
    NotAMail,
    #[error("message: the MIME structure cannot be read")]
    MimeStructure,
    #[error("body: the mail has no text part")]
    NoText,
    #[error("body: text could not be decoded from charset {0}")]
    Undecodable(String),
    #[error("{0}: required tag is missing")]
    MissingTag(&'static str),
    #[error("{tag}: {error}")]
    BadValue {
        tag: &'static str,
        error: ValueError,
    },
    /// A value only this kind of mail has (a `Person:` line, a `Total`).
    #[error("{tag}: {reason}")]
    Unreadable { tag: &'static str, reason: String },
    #[error("{0}")]
    Tags(tags::TagError),
    #[error("Notifier: {count} colleagues named; at most {limit} in one Subscribe")]
    TooManyNotifiers { count: usize, limit: usize },
    #[error("application/pidf+xml part: {0}")]
    Pidf(PidfError),
}

impl Malformed {
    /// The tag or part at fault, e.g. `Publisher` or `body`.
    pub fn part(&self) -> &'static str {
        match self {
            Self::NotAMail | Self::MimeStructure => "message",
            Self::NoText | Self::Undecodable(_) => "body",
            Self::MissingTag(t)
            | Self::BadValue { tag: t, .. }
            | Self::Unreadable { tag: t, .. } => t,
            Self::TooManyNotifiers { .. } => "Notifier",
            Self::Tags(tags::TagError::Repeated(t) | tags::TagError::TooLong { tag: t, .. }) => t,
            Self::Pidf(_) => "application/pidf+xml",
        }
    }
}
