//! Writing a presence mail: the tagged body, and the RFC 5322 message around it
//! (by `lettre`'s builder). What is composed here, `parse` reads back unchanged.

use lettre::Message;
use lettre::message::Mailbox;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};

use super::tags::{self, MAX_VALUE_CHARS, Tag};
use super::{PresenceMessage, SubscribeMode};
use crate::model::PresenceFields;

/// The addressing of a mail to compose.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComposeEnvelope {
    /// `addr@example` or `Name <addr@example>`; Japanese display names are fine.
    pub from: String,
    pub to: String,
    /// `<id@domain>`; made up when not given.
    pub message_id: Option<String>,
    /// The Subscribe a Notify answers, `<id@domain>`.
    pub in_reply_to: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComposeError {
    #[error("{field}: {value:?} is not a mail address")]
    Address { field: &'static str, value: String },
    #[error("{0}: a value cannot hold a line break")]
    LineBreak(&'static str),
    #[error("{tag}: {chars} characters; at most {MAX_VALUE_CHARS} fit in a tag")]
    TooLong { tag: &'static str, chars: usize },
    #[error("the message could not be built: {0}")]
    Build(String),
}

/// The RFC 5322 bytes of a presence mail, ready for SMTP.
pub fn compose(
    message: &PresenceMessage,
    envelope: &ComposeEnvelope,
) -> Result<Vec<u8>, ComposeError> {
    let mailbox = |field: &'static str, value: &str| {
        value.parse::<Mailbox>().map_err(|_| ComposeError::Address {
            field,
            value: value.to_owned(),
        })
    };
    let from = mailbox("From", &envelope.from)?;
    let message_id = envelope
        .message_id
        .clone()
        .unwrap_or_else(|| new_message_id(from.email.domain()));
    let mut builder = Message::builder()
        .from(from)
        .to(mailbox("To", &envelope.to)?)
        .subject(message.kind().subject())
        .message_id(Some(message_id))
        .header(ContentType::TEXT_PLAIN);
    if let PresenceMessage::Notify(_)
    | PresenceMessage::Enrolled(_)
    | PresenceMessage::People(_)
    | PresenceMessage::Memo(_) = message
    {
        // RFC 3834: no mail system may answer a Notify.
        builder = builder.raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-replied".into(),
        ));
        if let Some(id) = &envelope.in_reply_to {
            builder = builder.in_reply_to(id.clone()).references(id.clone());
        }
    }
    let mail = builder
        .body(body(message)?)
        .map_err(|e| ComposeError::Build(e.to_string()))?;
    Ok(mail.formatted())
}

/// The tagged body of a presence mail.
pub fn body(message: &PresenceMessage) -> Result<String, ComposeError> {
    let mut out = BodyWriter::default();
    match message {
        PresenceMessage::Publish(p) => {
            out.tag(Tag::Publisher, p.publisher.as_str())?;
            out.presence(&p.presence)?;
        }
        PresenceMessage::Notify(n) => {
            out.tag(Tag::Notifier, n.notifier.as_str())?;
            out.presence(&n.presence)?;
        }
        PresenceMessage::Subscribe(s) => {
            out.tag(Tag::Watcher, s.watcher.as_str())?;
            for n in &s.notifiers {
                out.tag(Tag::Notifier, n.as_str())?;
            }
            out.tag(Tag::SendTo, &s.send_to)?;
            if s.mode != SubscribeMode::Once || s.expires.is_some() {
                out.tag(Tag::Mode, s.mode.as_str())?;
            }
            if let Some(e) = s.expires {
                out.tag(Tag::Expires, &e.to_string())?;
            }
        }
        PresenceMessage::Enrol(e) => {
            out.tag(Tag::Account, e.account.as_str())?;
            out.tag(Tag::Token, &e.token)?;
            out.tag(Tag::Key, &e.key)?;
            out.tag(Tag::Device, &e.device)?;
        }
        PresenceMessage::Enrolled(e) => {
            out.tag(Tag::Account, e.account.as_str())?;
            out.tag(Tag::Key, &e.key)?;
            out.tag(Tag::Device, &e.device)?;
        }
        PresenceMessage::Directory(d) => {
            out.tag(Tag::Watcher, d.watcher.as_str())?;
            if let Some(q) = &d.query {
                out.tag(Tag::Query, q)?;
            }
        }
        PresenceMessage::People(p) => {
            out.tag(Tag::Watcher, p.watcher.as_str())?;
            if let Some(q) = &p.query {
                out.tag(Tag::Query, q)?;
            }
            out.tag(Tag::Total, &p.total.to_string())?;
            for entry in &p.people {
                out.tag(Tag::Person, &entry.to_line())?;
            }
        }
        PresenceMessage::Memo(m) => {
            out.tag(Tag::For, m.recipient.as_str())?;
            out.tag(Tag::MemoId, &m.id)?;
            out.tag(Tag::TakenBy, &m.taken_by)?;
            out.tag(Tag::TakenAt, &m.taken_at.to_rfc3339())?;
            out.tag(Tag::Caller, &m.caller)?;
            if let Some(c) = &m.callback {
                out.tag(Tag::Callback, c)?;
            }
            if let Some(t) = &m.message {
                out.tag(Tag::Message, t)?;
            }
        }
    }
    Ok(out.0)
}

#[derive(Default)]
struct BodyWriter(String);

impl BodyWriter {
    fn tag(&mut self, tag: Tag, value: &str) -> Result<(), ComposeError> {
        if value.contains([
            '\r', '\n', '\u{2028}', '\u{2029}', '\u{85}', '\u{b}', '\u{c}',
        ]) {
            return Err(ComposeError::LineBreak(tag.name()));
        }
        let chars = value.chars().count();
        if chars > MAX_VALUE_CHARS {
            return Err(ComposeError::TooLong {
                tag: tag.name(),
                chars,
            });
        }
        self.0.push_str(&tags::line(tag, value));
        Ok(())
    }

    fn presence(&mut self, p: &PresenceFields) -> Result<(), ComposeError> {
        self.tag(Tag::Contact, p.contact.as_str())?;
        self.tag(Tag::Activity, &p.activity.to_wire())?;
        if let Some(l) = &p.location {
            self.tag(Tag::Location, l)?;
        }
        for e in &p.schedule {
            self.tag(Tag::Schedule, &e.to_wire())?;
        }
        if let Some(u) = &p.updated {
            self.tag(Tag::Updated, &u.to_rfc3339())?;
        }
        if let Some(c) = &p.coordinates {
            self.tag(Tag::Coordinates, &c.to_string())?;
        }
        Ok(())
    }
}

/// A globally unique Message-ID in the sender's domain.
pub fn new_message_id(domain: &str) -> String {
    format!("<{}@{}>", uuid::Uuid::new_v4().simple(), domain)
}
