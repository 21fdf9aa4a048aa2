//! The tagged body of a presence mail: `Tag: value` lines, as people and phones
//! really write them (full-width colons, signatures, quoted replies, chatter).
//! This module only splits text into tags; what the tags mean is in `parse`.

use std::collections::BTreeMap;

/// Longest value of one tag, in characters.
pub const MAX_VALUE_CHARS: usize = 1_000;

/// The tags this version of the protocol knows, under their canonical names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tag {
    Publisher,
    Contact,
    Activity,
    Location,
    Schedule,
    Updated,
    Coordinates,
    Watcher,
    Notifier,
    SendTo,
    Mode,
    Expires,
    Account,
    Token,
    Key,
    Device,
    Query,
    Person,
    Total,
    For,
    MemoId,
    TakenBy,
    TakenAt,
    Caller,
    Callback,
    Message,
}

impl Tag {
    /// The spelling composed mails use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Publisher => "Publisher",
            Self::Contact => "Contact",
            Self::Activity => "Activity",
            Self::Location => "Location",
            Self::Schedule => "Schedule",
            Self::Updated => "Updated",
            Self::Coordinates => "Coordinates",
            Self::Watcher => "Watcher",
            Self::Notifier => "Notifier",
            Self::SendTo => "Send-To",
            Self::Mode => "Mode",
            Self::Expires => "Expires",
            Self::Account => "Account",
            Self::Token => "Token",
            Self::Key => "Key",
            Self::Device => "Device",
            Self::Query => "Query",
            Self::Person => "Person",
            Self::Total => "Total",
            Self::For => "For",
            Self::MemoId => "Memo-Id",
            Self::TakenBy => "Taken-By",
            Self::TakenAt => "Taken-At",
            Self::Caller => "Caller",
            Self::Callback => "Callback",
            Self::Message => "Message",
        }
    }

    /// Tags that may stand on several lines.
    pub fn is_repeatable(self) -> bool {
        matches!(self, Self::Schedule | Self::Notifier | Self::Person)
    }

    /// Reads a tag name: case, spaces, `-` and `_` do not matter
    /// (`Send to`, `Send-To`, `SendTo` and `send_to` are one tag).
    fn from_name(name: &str) -> Option<Self> {
        let norm: String = name
            .chars()
            .filter(|c| !matches!(c, ' ' | '\t' | '-' | '_' | '\u{3000}'))
            .flat_map(char::to_lowercase)
            .collect();
        Some(match norm.as_str() {
            "publisher" => Self::Publisher,
            "contact" => Self::Contact,
            "activity" => Self::Activity,
            "location" => Self::Location,
            "schedule" => Self::Schedule,
            "updated" => Self::Updated,
            "coordinates" => Self::Coordinates,
            "watcher" => Self::Watcher,
            "notifier" => Self::Notifier,
            "sendto" => Self::SendTo,
            "mode" => Self::Mode,
            "expires" => Self::Expires,
            "account" => Self::Account,
            "token" => Self::Token,
            "key" => Self::Key,
            "device" => Self::Device,
            "query" => Self::Query,
            "person" => Self::Person,
            "total" => Self::Total,
            "for" => Self::For,
            "memoid" => Self::MemoId,
            "takenby" => Self::TakenBy,
            "takenat" => Self::TakenAt,
            "caller" => Self::Caller,
            "callback" => Self::Callback,
            "message" => Self::Message,
            _ => return None,
        })
    }
}

/// Why a body's tags cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    #[error("tag {0} is given more than once")]
    Repeated(&'static str),
    #[error("tag {tag} is {chars} characters long; at most {MAX_VALUE_CHARS} are allowed")]
    TooLong { tag: &'static str, chars: usize },
}

/// The known tags of one body, each with its values in the order written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tags(BTreeMap<Tag, Vec<String>>);

impl Tags {
    /// The single value of a tag, if given (empty values count as not given).
    pub fn one(&self, tag: Tag) -> Option<&str> {
        self.0
            .get(&tag)
            .and_then(|v| v.first())
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// All non-empty values of a repeatable tag.
    pub fn all(&self, tag: Tag) -> impl Iterator<Item = &str> {
        self.0
            .get(&tag)
            .into_iter()
            .flatten()
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// Reads the tags of a body. Stops at a signature delimiter (`-- `) or a quoted
/// line (`>`); skips lines that are not `Tag: value` and tags it does not know.
pub fn scan(body: &str) -> Result<Tags, TagError> {
    let mut tags: BTreeMap<Tag, Vec<String>> = BTreeMap::new();
    for raw in body.lines() {
        if is_end_of_tags(raw) {
            break;
        }
        let Some((name, value)) = split_tag_line(raw) else {
            continue;
        };
        let Some(tag) = Tag::from_name(name) else {
            continue;
        };
        let chars = value.chars().count();
        if chars > MAX_VALUE_CHARS {
            return Err(TagError::TooLong {
                tag: tag.name(),
                chars,
            });
        }
        let values = tags.entry(tag).or_default();
        if !values.is_empty() && !tag.is_repeatable() {
            return Err(TagError::Repeated(tag.name()));
        }
        values.push(value.to_owned());
    }
    Ok(Tags(tags))
}

fn is_end_of_tags(line: &str) -> bool {
    let trimmed_end = line.trim_end_matches(['\r', '\n']);
    trimmed_end == "-- " || trimmed_end == "--" || line.trim_start().starts_with(['>', '＞'])
}

/// `Tag: value` → (`Tag`, `value`), splitting at the first ASCII or full-width colon.
fn split_tag_line(line: &str) -> Option<(&str, &str)> {
    let line = line.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    let at = line.find([':', '：'])?;
    let colon_len = line[at..].chars().next().map_or(1, char::len_utf8);
    let name = line[..at].trim();
    let value = line[at + colon_len..].trim();
    (!name.is_empty()).then_some((name, value))
}

/// One `Tag: value` line as composed.
pub fn line(tag: Tag, value: &str) -> String {
    format!("{}: {}\n", tag.name(), value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_colons_and_chatter() {
        let body = "こんにちは\n\
                    SEND TO： sato@example.co.jp\n\
                    schedule: 15:00 帰社\n\
                    Schedule:16:30-17:00 日報\n\
                    X-Future: ignored\n\
                    Sent from my iPhone\n\
                    \n\
                    Watcher : sato\n";
        let t = scan(body).unwrap();
        assert_eq!(t.one(Tag::SendTo), Some("sato@example.co.jp"));
        assert_eq!(t.one(Tag::Watcher), Some("sato"));
        assert_eq!(
            t.all(Tag::Schedule).collect::<Vec<_>>(),
            ["15:00 帰社", "16:30-17:00 日報"]
        );
    }

    #[test]
    fn signature_and_quotes_end_the_tags() {
        let t = scan("Publisher: a\n-- \nContact: sig@example\n").unwrap();
        assert_eq!(t.one(Tag::Contact), None);
        let t = scan("Publisher: a\n> Contact: quoted@example\nContact: after\n").unwrap();
        assert_eq!(t.one(Tag::Contact), None);
    }

    #[test]
    fn repeated_single_tag_and_long_value() {
        assert_eq!(
            scan("Publisher: a\npublisher: b\n"),
            Err(TagError::Repeated("Publisher"))
        );
        let long = format!("Location: {}\n", "あ".repeat(1001));
        assert!(matches!(
            scan(&long),
            Err(TagError::TooLong {
                tag: "Location",
                chars: 1001
            })
        ));
        assert!(scan(&format!("Location: {}\n", "あ".repeat(1000))).is_ok());
    }
}
