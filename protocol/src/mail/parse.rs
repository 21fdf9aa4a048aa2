//! Reading a received mail: MIME and charsets (by `mail-parser`), then the
//! Subject rule, refusals, and the tagged body. Any byte string is classified;
//! nothing here panics on input from the network.

use mail_parser::decoders::base64::base64_decode;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;
use mail_parser::{Message, MessageParser, MessagePart, MimeHeaders, PartType};

use super::tags::{self, Tag, Tags};
use super::{
    AuthResultsHeader, Envelope, MailKind, MailRefusal, Malformed, NotPresence, Notify, Outcome,
    ParsedMail, PresenceMessage, Publish, Subscribe, SubscribeMode,
};
use crate::model::{
    AccountName, Activity, Contact, Coordinates, PresenceFields, ScheduleEntry, ValueError,
    parse_timestamp,
};
use crate::pidf;

/// Size limits on what is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The whole mail as received, attachments included.
    pub max_mail_bytes: usize,
    /// The decoded text body that holds the tags.
    pub max_body_bytes: usize,
    /// Distinct colleagues one Subscribe may name.
    pub max_notifiers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_mail_bytes: 1024 * 1024,
            max_body_bytes: 64 * 1024,
            max_notifiers: 100,
        }
    }
}

/// A mail refused from its size alone (known, for instance, from the IMAP
/// server without downloading it).
pub fn oversized(size: usize, limits: Limits) -> ParsedMail {
    ParsedMail {
        envelope: Envelope::default(),
        outcome: Outcome::Refused(MailRefusal::Oversized {
            what: "mail",
            size,
            limit: limits.max_mail_bytes,
        }),
    }
}

/// Classifies one RFC 5322 mail.
pub fn parse(raw: &[u8], limits: Limits) -> ParsedMail {
    if raw.len() > limits.max_mail_bytes {
        return oversized(raw.len(), limits);
    }
    // mail-parser 0.11 panics on some broken MIME structures (our fuzzer found
    // one: a mangled multipart/report). A mail from the network must never
    // take the server or the app down, so its reading is contained; the
    // workspace keeps panic = "unwind" for this. (1.x may fix it but needs a
    // newer rustc than this project's.)
    let read = std::panic::catch_unwind(|| {
        MessageParser::default().parse(raw).map(|message| {
            let envelope = envelope_of(&message);
            let outcome = classify(&message, &envelope, limits);
            ParsedMail { envelope, outcome }
        })
    });
    match read {
        Ok(Some(parsed)) => parsed,
        Ok(None) => ParsedMail {
            envelope: Envelope::default(),
            outcome: Outcome::Malformed(Malformed::NotAMail),
        },
        Err(_) => {
            tracing::warn!("the MIME parser failed on a mail; treated as malformed");
            ParsedMail {
                envelope: Envelope::default(),
                outcome: Outcome::Malformed(Malformed::MimeStructure),
            }
        }
    }
}

fn envelope_of(message: &Message<'_>) -> Envelope {
    Envelope {
        from: message
            .from()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .map(str::to_owned),
        message_id: message.message_id().map(|id| format!("<{id}>")),
        in_reply_to: message
            .in_reply_to()
            .as_text_list()
            .and_then(|l| l.first())
            .map(|id| format!("<{id}>"))
            .or_else(|| message.in_reply_to().as_text().map(|id| format!("<{id}>"))),
        subject: message.subject().map(str::to_owned),
        authentication_results: authentication_results(message),
        return_path: return_path(message),
        from_headers: message
            .headers()
            .iter()
            .filter(|h| h.name == mail_parser::HeaderName::From)
            .count(),
        to: message
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .map(str::to_owned),
        date: topmost_raw(message, "Date").map(|v| unfold(v).trim().to_owned()),
        signature: topmost_raw(message, super::device_signature::HEADER).map(unfold),
    }
}

/// The `Authentication-Results` headers, topmost first, each with the number
/// of `Received:` headers above it (see `auth.rs` for why the place matters).
fn authentication_results(message: &Message<'_>) -> Vec<AuthResultsHeader> {
    let mut received = 0;
    let mut found = Vec::new();
    for (name, value) in message.headers_raw() {
        if name.eq_ignore_ascii_case("Received") {
            received += 1;
        } else if name.eq_ignore_ascii_case("Authentication-Results") {
            found.push(AuthResultsHeader {
                value: unfold(value),
                received_above: received,
            });
        }
    }
    found
}

/// The topmost `Return-Path` address (the delivering MTA's; one a sender
/// wrote would stand lower); `None` for `<>` or none at all.
fn return_path(message: &Message<'_>) -> Option<String> {
    let value = topmost_raw(message, "Return-Path")?;
    let address = unfold(value);
    let address = address
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    (!address.is_empty()).then(|| address.to_owned())
}

/// The raw value of the first (topmost) header called `name`. mail-parser's
/// `header_raw` gives the last one.
fn topmost_raw<'a>(message: &'a Message<'_>, name: &str) -> Option<&'a str> {
    message
        .headers_raw()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// A header value on one line: folding line breaks become the white space
/// they stand for.
fn unfold(value: &str) -> String {
    value
        .replace("\r\n", "")
        .replace('\n', "")
        .trim()
        .to_owned()
}

fn classify(message: &Message<'_>, envelope: &Envelope, limits: Limits) -> Outcome {
    if let Some(why) = bounce_reason(message) {
        return Outcome::Refused(MailRefusal::Bounce(why));
    }
    let Some(subject) = &envelope.subject else {
        return Outcome::NotPresence(NotPresence::NoSubject);
    };
    let Some(kind) = MailKind::from_subject(subject) else {
        return Outcome::NotPresence(NotPresence::Subject(subject.clone()));
    };
    // The server's mails (Notify, Enrolled, People, Memo) are automatic
    // replies by design; the others must come from a person.
    if !matches!(
        kind,
        MailKind::Notify | MailKind::Enrolled | MailKind::People | MailKind::Memo
    ) && let Some((header, value)) = auto_reply_marker(message)
    {
        return Outcome::Refused(MailRefusal::AutoSubmitted { header, value });
    }
    match read_body(message, kind, limits) {
        Ok(presence) => Outcome::Presence(presence),
        Err(BodyError::Refused(r)) => Outcome::Refused(r),
        Err(BodyError::Malformed(m)) => Outcome::Malformed(m),
    }
}

/// Delivery reports and bounces: empty return path, `multipart/report`, or a
/// mailer daemon as sender.
fn bounce_reason(message: &Message<'_>) -> Option<String> {
    if let Some(rp) = topmost_raw(message, "Return-Path")
        && rp.trim().trim_matches(['<', '>']).trim().is_empty()
    {
        return Some("empty Return-Path".into());
    }
    if message.root_part().is_content_type("multipart", "report") {
        return Some("multipart/report".into());
    }
    let from = message
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address());
    if let Some(local) = from.and_then(|f| f.split('@').next())
        && (local.eq_ignore_ascii_case("mailer-daemon") || local.eq_ignore_ascii_case("postmaster"))
    {
        return Some(format!("sent by {local}"));
    }
    None
}

/// RFC 3834 `Auto-Submitted` (any value but `no`) and the older markers that
/// vacation responders still send.
fn auto_reply_marker(message: &Message<'_>) -> Option<(String, String)> {
    let header = |name: &str| message.header_raw(name).map(|v| v.trim().to_owned());
    if let Some(v) = header("Auto-Submitted")
        && !v.eq_ignore_ascii_case("no")
    {
        return Some(("Auto-Submitted".into(), v));
    }
    // (Outlook's X-Auto-Response-Suppress is set on ordinary mail: not a marker.)
    for name in ["X-Autoreply", "X-Autorespond"] {
        if let Some(v) = header(name) {
            return Some((name.into(), v));
        }
    }
    if let Some(v) = header("Precedence")
        && ["auto_reply", "bulk", "junk", "list"].contains(&v.to_ascii_lowercase().as_str())
    {
        return Some(("Precedence".into(), v));
    }
    None
}

enum BodyError {
    Refused(MailRefusal),
    Malformed(Malformed),
}

impl From<Malformed> for BodyError {
    fn from(m: Malformed) -> Self {
        Self::Malformed(m)
    }
}

fn read_body(
    message: &Message<'_>,
    kind: MailKind,
    limits: Limits,
) -> Result<PresenceMessage, BodyError> {
    let text = body_text(message)?;
    if text.len() > limits.max_body_bytes {
        return Err(BodyError::Refused(MailRefusal::Oversized {
            what: "text body",
            size: text.len(),
            limit: limits.max_body_bytes,
        }));
    }
    let tags = tags::scan(&text).map_err(Malformed::Tags)?;
    let pidf = pidf_part(message)?;
    Ok(match kind {
        MailKind::Publish => {
            let publisher = account(&tags, Tag::Publisher)?;
            let presence = presence_fields(&tags, pidf.as_ref())?;
            PresenceMessage::Publish(Publish {
                publisher,
                presence,
            })
        }
        MailKind::Notify => {
            let notifier = account(&tags, Tag::Notifier)?;
            let presence = presence_fields(&tags, pidf.as_ref())?;
            PresenceMessage::Notify(Notify { notifier, presence })
        }
        MailKind::Subscribe => PresenceMessage::Subscribe(subscribe(&tags, limits)?),
        MailKind::Enrol => PresenceMessage::Enrol(super::Enrol {
            account: account(&tags, Tag::Account)?,
            token: required(&tags, Tag::Token)?.to_owned(),
            key: required(&tags, Tag::Key)?.to_owned(),
            device: required(&tags, Tag::Device)?.to_owned(),
        }),
        MailKind::Enrolled => PresenceMessage::Enrolled(super::Enrolled {
            account: account(&tags, Tag::Account)?,
            key: required(&tags, Tag::Key)?.to_owned(),
            device: required(&tags, Tag::Device)?.to_owned(),
        }),
        MailKind::Directory => PresenceMessage::Directory(super::DirectoryQuery {
            watcher: account(&tags, Tag::Watcher)?,
            query: query(&tags)?,
        }),
        MailKind::People => PresenceMessage::People(people(&tags)?),
        MailKind::Memo => PresenceMessage::Memo(memo(&tags)?),
    })
}

/// A Memo mail's 伝言メモ, held to the bounds the board holds it to.
fn memo(tags: &Tags) -> Result<crate::memo::Memo, Malformed> {
    let taken_at = parse_timestamp(required(tags, Tag::TakenAt)?).map_err(bad(Tag::TakenAt))?;
    let memo = crate::memo::Memo {
        recipient: account(tags, Tag::For)?,
        id: required(tags, Tag::MemoId)?.to_owned(),
        taken_by: required(tags, Tag::TakenBy)?.to_owned(),
        taken_at,
        caller: required(tags, Tag::Caller)?.to_owned(),
        callback: tags.one(Tag::Callback).map(str::to_owned),
        message: tags.one(Tag::Message).map(str::to_owned),
    };
    memo.checked().map_err(|e| Malformed::Unreadable {
        tag: e.field(),
        reason: e.to_string(),
    })
}

/// A Directory mail's query: a name or a reading, not an essay (each
/// character is searched for in every colleague).
fn query(tags: &Tags) -> Result<Option<String>, Malformed> {
    let Some(q) = tags.one(Tag::Query) else {
        return Ok(None);
    };
    let chars = q.chars().count();
    if chars > super::MAX_QUERY_CHARS {
        return Err(Malformed::Unreadable {
            tag: Tag::Query.name(),
            reason: format!(
                "{chars} characters; a query is at most {}",
                super::MAX_QUERY_CHARS
            ),
        });
    }
    Ok(Some(q.to_owned()))
}

/// A People mail's entries; one unreadable line refuses the mail (the
/// server writes them all), and `Total` is at least what is listed.
fn people(tags: &Tags) -> Result<super::People, Malformed> {
    let people = tags
        .all(Tag::Person)
        .map(|line| {
            crate::people::DirectoryEntry::from_line(line).map_err(|e| Malformed::Unreadable {
                tag: Tag::Person.name(),
                reason: e.to_string(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let listed = u32::try_from(people.len()).unwrap_or(u32::MAX);
    let total = match tags.one(Tag::Total) {
        Some(t) => t.trim().parse::<u32>().map_err(|e| Malformed::Unreadable {
            tag: Tag::Total.name(),
            reason: e.to_string(),
        })?,
        None => listed,
    };
    Ok(super::People {
        watcher: account(tags, Tag::Watcher)?,
        query: tags.one(Tag::Query).map(str::to_owned),
        people,
        total: total.max(listed),
    })
}

/// The first text part, or the text of the first HTML part, decoded. A
/// `format=flowed` text (RFC 3676, Apple Mail) has its soft breaks joined; an
/// HTML part (webmail) has its block elements turned into line breaks.
fn body_text(message: &Message<'_>) -> Result<String, Malformed> {
    let part = message
        .text_part(0)
        .or_else(|| message.html_part(0))
        .ok_or(Malformed::NoText)?;
    let text = match &part.body {
        PartType::Text(t) => match flowed_params(part) {
            Some(delsp) => super::flowed::unflow(t, delsp),
            None => t.to_string(),
        },
        PartType::Html(h) => super::html::to_text(h),
        _ => return Err(Malformed::NoText),
    };
    if part.is_encoding_problem || charset_decoding_failed(message, part, &text) {
        let charset = part
            .content_type()
            .and_then(|ct| ct.attribute("charset"))
            .unwrap_or("unknown");
        return Err(Malformed::Undecodable(charset.to_owned()));
    }
    Ok(text)
}

/// `Some(delsp)` for a `format=flowed` text part.
fn flowed_params(part: &MessagePart<'_>) -> Option<bool> {
    let ct = part.content_type()?;
    let flowed = ct
        .attribute("format")
        .is_some_and(|f| f.eq_ignore_ascii_case("flowed"));
    flowed.then(|| {
        ct.attribute("delsp")
            .is_some_and(|d| d.eq_ignore_ascii_case("yes"))
    })
}

/// A charset decoder puts U+FFFD where bytes made no sense. The sender may have
/// written U+FFFD itself (only UTF-8 can carry it), so a failure is a U+FFFD in
/// the text that the transfer-decoded bytes do not hold.
fn charset_decoding_failed(message: &Message<'_>, part: &MessagePart<'_>, text: &str) -> bool {
    const REPLACEMENT: &[u8] = "\u{FFFD}".as_bytes();
    let in_text = text.matches('\u{FFFD}').count();
    if in_text == 0 {
        return false;
    }
    let raw = message
        .raw_message()
        .get(part.offset_body as usize..part.offset_end as usize)
        .unwrap_or_default();
    let bytes = match part
        .content_transfer_encoding()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("base64") => base64_decode(raw),
        Some("quoted-printable") => quoted_printable_decode(raw),
        _ => Some(raw.to_vec()),
    };
    let in_bytes = bytes.map_or(0, |b| {
        b.windows(REPLACEMENT.len())
            .filter(|w| *w == REPLACEMENT)
            .count()
    });
    in_text > in_bytes
}

/// The optional `application/pidf+xml` part, decoded.
fn pidf_part(message: &Message<'_>) -> Result<Option<pidf::PidfPresence>, Malformed> {
    let Some(part) = message
        .parts
        .iter()
        .find(|p| p.is_content_type("application", "pidf+xml"))
    else {
        return Ok(None);
    };
    pidf::decode(part.contents())
        .map(Some)
        .map_err(Malformed::Pidf)
}

fn required(tags: &Tags, tag: Tag) -> Result<&str, Malformed> {
    tags.one(tag).ok_or(Malformed::MissingTag(tag.name()))
}

fn bad(tag: Tag) -> impl FnOnce(ValueError) -> Malformed {
    move |error| Malformed::BadValue {
        tag: tag.name(),
        error,
    }
}

fn account(tags: &Tags, tag: Tag) -> Result<AccountName, Malformed> {
    required(tags, tag)?.parse().map_err(bad(tag))
}

/// A contact as the model keeps it: a bare mail address has no `mailto:`.
/// The five fields of a Publish or Notify. Tags win; a PIDF part fills only
/// what the tags leave out.
fn presence_fields(
    tags: &Tags,
    pidf: Option<&pidf::PidfPresence>,
) -> Result<PresenceFields, Malformed> {
    let from_pidf = pidf.map(|p| &p.fields);
    let contact = match (tags.one(Tag::Contact), from_pidf) {
        (Some(c), _) => Contact::parse(c),
        (None, Some(p)) if !p.contact.is_empty() => p.contact.clone(),
        _ => return Err(Malformed::MissingTag(Tag::Contact.name())),
    };
    let activity = match (tags.one(Tag::Activity), from_pidf) {
        (Some(a), _) => Activity::parse(a).map_err(bad(Tag::Activity))?,
        (None, Some(p)) => p.activity.clone(),
        _ => return Err(Malformed::MissingTag(Tag::Activity.name())),
    };
    let mut schedule: Vec<ScheduleEntry> =
        tags.all(Tag::Schedule).map(ScheduleEntry::parse).collect();
    if schedule.is_empty() {
        schedule = from_pidf.map(|p| p.schedule.clone()).unwrap_or_default();
    }
    let updated = match tags.one(Tag::Updated) {
        Some(u) => Some(parse_timestamp(u).map_err(bad(Tag::Updated))?),
        None => from_pidf.and_then(|p| p.updated),
    };
    let coordinates = match tags.one(Tag::Coordinates) {
        Some(c) => Some(c.parse::<Coordinates>().map_err(bad(Tag::Coordinates))?),
        None => from_pidf.and_then(|p| p.coordinates),
    };
    let location = tags
        .one(Tag::Location)
        .map(str::to_owned)
        .or_else(|| from_pidf.and_then(|p| p.location.clone()));
    let address = from_pidf.and_then(|p| p.address.clone());
    Ok(PresenceFields {
        contact,
        activity,
        location,
        schedule,
        updated,
        coordinates,
        address,
    })
}

fn subscribe(tags: &Tags, limits: Limits) -> Result<Subscribe, Malformed> {
    let watcher = account(tags, Tag::Watcher)?;
    // Repeatable, and people also list several on one line. A name given twice
    // is asked for once: one mail must not cause a Notify per repetition.
    let mut notifiers: Vec<AccountName> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for name in tags
        .all(Tag::Notifier)
        .flat_map(|v| v.split([',', '、', '，', ';']))
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        let name = name.parse::<AccountName>().map_err(bad(Tag::Notifier))?;
        if seen.insert(name.clone()) {
            notifiers.push(name);
        }
    }
    if notifiers.len() > limits.max_notifiers {
        return Err(Malformed::TooManyNotifiers {
            count: notifiers.len(),
            limit: limits.max_notifiers,
        });
    }
    if notifiers.is_empty() {
        return Err(Malformed::MissingTag(Tag::Notifier.name()));
    }
    let send_to = Contact::parse(required(tags, Tag::SendTo)?).to_string();
    let mode = match tags.one(Tag::Mode) {
        None => SubscribeMode::Once,
        Some(m) if m.eq_ignore_ascii_case("once") => SubscribeMode::Once,
        Some(m) if m.eq_ignore_ascii_case("watch") => SubscribeMode::Watch,
        Some(m) => {
            return Err(Malformed::BadValue {
                tag: Tag::Mode.name(),
                error: ValueError::Mode(m.to_owned()),
            });
        }
    };
    let expires = match tags.one(Tag::Expires) {
        None => None,
        Some(e) => Some(e.parse::<u32>().map_err(|_| Malformed::BadValue {
            tag: Tag::Expires.name(),
            error: ValueError::Seconds(e.to_owned()),
        })?),
    };
    Ok(Subscribe {
        watcher,
        notifiers,
        send_to,
        mode,
        expires,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The headers as Dovecot delivered a mail that went through Postfix's
    /// submission (OpenDKIM signing) and its MX (OpenDKIM verifying), taken
    /// from the test mail servers; the sender had added a forged verdict
    /// below, as an attacker would.
    const DELIVERED: &str = "Return-Path: <sato@example.test>\r\n\
Delivered-To: presence@example.test\r\n\
Received: from mail.example.test ([127.0.0.1])\r\n\tby mail.example.test with LMTP\r\n\tid IPrdB8BNFWtAcwAAg+zDdQ\r\n\t(envelope-from <sato@example.test>)\r\n\tfor <presence@example.test>; Sun, 06 Dec 2026 11:57:52 +0000\r\n\
Authentication-Results: mx.example.test;\r\n\tdkim=pass (2048-bit key) header.d=example.test header.i=@example.test header.a=rsa-sha256 header.s=mail header.b=ZhmGA2f/;\r\n\tdkim-atps=neutral\r\n\
Received: from mail.example.test (unknown [127.0.0.1])\r\n\tby mail.example.test (Postfix) with ESMTP id 06BCA98E2DB\r\n\tfor <presence@example.test>; Sun,  6 Dec 2026 11:57:52 +0000 (UTC)\r\n\
Authentication-Results: mx.example.test; dkim=pass header.d=example.test\r\n\
Received: from [127.0.0.1] (unknown [127.0.0.1])\r\n\tby mail.example.test (Postfix) with ESMTPSA id E0C4F98E2D6\r\n\tfor <presence@example.test>; Sun,  6 Dec 2026 11:57:51 +0000 (UTC)\r\n\
From: tanaka@example.test\r\nTo: presence@example.test\r\nSubject: Publish\r\n\r\n\
Publisher: tanaka\r\nContact: tanaka@example.test\r\nActivity: busy\r\n";

    #[test]
    fn the_envelope_sender_and_each_verdicts_place_are_read() {
        let parsed = parse(DELIVERED.as_bytes(), Limits::default());
        let e = &parsed.envelope;
        assert_eq!(e.return_path.as_deref(), Some("sato@example.test"));
        let places: Vec<usize> = e
            .authentication_results
            .iter()
            .map(|h| h.received_above)
            .collect();
        assert_eq!(places, [1, 2]);
        assert!(
            e.authentication_results[0]
                .value
                .contains("dkim=pass (2048-bit key)")
        );
    }

    #[test]
    fn the_delivering_mtas_return_path_wins_over_one_the_sender_wrote() {
        let mail = "Return-Path: <sato@example.test>\r\nReceived: by mx\r\nReturn-Path: <tanaka@example.test>\r\nFrom: tanaka@example.test\r\nSubject: Hello\r\n\r\nhi\r\n";
        assert_eq!(
            parse(mail.as_bytes(), Limits::default())
                .envelope
                .return_path
                .as_deref(),
            Some("sato@example.test")
        );
    }

    #[test]
    fn an_empty_return_path_is_no_envelope_sender() {
        let mail = "Return-Path: <>\r\nFrom: a@example.test\r\nSubject: Hello\r\n\r\nhi\r\n";
        assert_eq!(
            parse(mail.as_bytes(), Limits::default())
                .envelope
                .return_path,
            None
        );
    }
}
