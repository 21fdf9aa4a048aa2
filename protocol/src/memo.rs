//! A 伝言メモ ("電話がありました"): the note a desk worker leaves on the board
//! for a colleague who is out — who called, the number to call back, the
//! message, who took it and when. The server keeps it on the colleague's
//! row and mails it to them as a `Memo` mail (signed like a Notify); the
//! phone reads it back with the same checks. Every text is one bounded
//! line, so a memo always fits in tags and on a row.

use serde::{Deserialize, Serialize};

use crate::model::{AccountName, Timestamp};

/// Characters of who called (`山田商事 佐藤様`).
pub const MAX_CALLER_CHARS: usize = 60;
/// Characters of the number to call back (`03-1234-5678 内線 12`).
pub const MAX_CALLBACK_CHARS: usize = 30;
/// Characters of the message.
pub const MAX_MESSAGE_CHARS: usize = 200;
/// Characters of the taker's name.
pub const MAX_TAKER_CHARS: usize = 60;
/// Characters of a memo's id (the server makes it: hex).
pub const MAX_ID_CHARS: usize = 40;

/// One 伝言メモ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Memo {
    /// Whom it is for (`For`).
    pub recipient: AccountName,
    /// The server's id of it (`Memo-Id`): the board clears it by this.
    pub id: String,
    /// Who took the call, as their colleagues know them (`Taken-By`).
    pub taken_by: String,
    /// When (`Taken-At`, RFC 3339).
    pub taken_at: Timestamp,
    /// Who called (`Caller`).
    pub caller: String,
    /// The number to call back (`Callback`).
    pub callback: Option<String>,
    /// What they said (`Message`).
    pub message: Option<String>,
}

/// Why a memo's text is refused, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemoError {
    #[error("{0}: required")]
    Missing(&'static str),
    #[error("{field}: at most {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("Callback: {0:?} is not a telephone number")]
    Callback(String),
    #[error("Memo-Id: {0:?} is not an id")]
    Id(String),
}

impl MemoError {
    /// The tag at fault.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Missing(f) | Self::TooLong { field: f, .. } => f,
            Self::Callback(_) => "Callback",
            Self::Id(_) => "Memo-Id",
        }
    }
}

impl Memo {
    /// The memo with every text made one trimmed line, checked against
    /// its bound; a callback number in full-width digits made ASCII.
    pub fn checked(mut self) -> Result<Self, MemoError> {
        self.caller =
            line("Caller", &self.caller, MAX_CALLER_CHARS)?.ok_or(MemoError::Missing("Caller"))?;
        self.taken_by = line("Taken-By", &self.taken_by, MAX_TAKER_CHARS)?
            .ok_or(MemoError::Missing("Taken-By"))?;
        self.message = match &self.message {
            Some(m) => line("Message", m, MAX_MESSAGE_CHARS)?,
            None => None,
        };
        self.callback = match &self.callback {
            Some(c) => callback_number(c)?,
            None => None,
        };
        let id_ok = !self.id.is_empty()
            && self.id.len() <= MAX_ID_CHARS
            && self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !id_ok {
            return Err(MemoError::Id(self.id));
        }
        Ok(self)
    }
}

/// `text` as one trimmed line (line breaks and control characters become
/// spaces); `None` when empty; refused when longer than `max`.
pub fn line(field: &'static str, text: &str, max: usize) -> Result<Option<String>, MemoError> {
    let one: String = text
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                ' '
            } else {
                c
            }
        })
        .collect();
    let one = one.trim();
    if one.chars().count() > max {
        return Err(MemoError::TooLong { field, max });
    }
    Ok((!one.is_empty()).then(|| one.to_owned()))
}

/// A telephone number as people write it (`03-1234-5678`, `+81 3 1234 5678`,
/// `０９０－１２３４－５６７８`, `(03) 1234-5678 内線 12`): full-width digits
/// and signs as ASCII; at least one digit; nothing but digits, `+-()#*.`,
/// spaces and the words 内線 / ext.
pub fn callback_number(text: &str) -> Result<Option<String>, MemoError> {
    let Some(one) = line("Callback", text, MAX_CALLBACK_CHARS)? else {
        return Ok(None);
    };
    let ascii: String = one
        .chars()
        .map(|c| match c {
            '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
            '\u{3000}' => ' ',
            'ー' | '−' | '‐' | '–' | '—' => '-',
            c => c,
        })
        .collect();
    let rest = ascii.replace("内線", "").replace("ext", "");
    let fits = rest
        .chars()
        .all(|c| c.is_ascii_digit() || " +-()#*.".contains(c));
    if !fits || !rest.chars().any(|c| c.is_ascii_digit()) {
        return Err(MemoError::Callback(one));
    }
    Ok(Some(ascii))
}

/// The `tel:` URI of a callback number (`tel:0312345678`): its digits and a
/// leading `+`; `None` when an extension word makes it no plain number.
pub fn tel_uri(number: &str) -> Option<String> {
    if number.contains("内線") || number.contains("ext") {
        return None;
    }
    let digits: String = number
        .chars()
        .enumerate()
        .filter(|(i, c)| c.is_ascii_digit() || (*i == 0 && *c == '+') || "*#".contains(*c))
        .map(|(_, c)| c)
        .collect();
    (!digits.is_empty()).then(|| format!("tel:{digits}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memo() -> Memo {
        Memo {
            recipient: "tanaka".parse().unwrap(),
            id: "a1b2c3".into(),
            taken_by: " 佐藤 一郎 ".into(),
            taken_at: crate::model::parse_timestamp("2026-12-07T10:15:00+09:00").unwrap(),
            caller: "山田商事\n佐藤様".into(),
            callback: Some("０３－１２３４－５６７８".into()),
            message: Some("  見積の件で折り返しお願いします  ".into()),
        }
    }

    #[test]
    fn a_memo_is_made_one_trimmed_line_per_field() {
        let m = memo().checked().unwrap();
        assert_eq!(m.caller, "山田商事 佐藤様");
        assert_eq!(m.taken_by, "佐藤 一郎");
        assert_eq!(m.callback.as_deref(), Some("03-1234-5678"));
        assert_eq!(m.message.as_deref(), Some("見積の件で折り返しお願いします"));
    }

    #[test]
    fn every_field_is_bounded_and_the_caller_required() {
        let long = |n: usize| "あ".repeat(n);
        let refused = |m: Memo| m.checked().unwrap_err();
        assert_eq!(
            refused(Memo {
                caller: " ".into(),
                ..memo()
            }),
            MemoError::Missing("Caller")
        );
        assert_eq!(
            refused(Memo {
                caller: long(61),
                ..memo()
            }),
            MemoError::TooLong {
                field: "Caller",
                max: 60
            }
        );
        assert_eq!(
            refused(Memo {
                message: Some(long(201)),
                ..memo()
            }),
            MemoError::TooLong {
                field: "Message",
                max: 200
            }
        );
        assert!(
            Memo {
                message: Some(long(200)),
                ..memo()
            }
            .checked()
            .is_ok()
        );
        assert_eq!(
            refused(Memo {
                callback: Some("call me".into()),
                ..memo()
            }),
            MemoError::Callback("call me".into())
        );
        assert_eq!(
            refused(Memo {
                id: "../x".into(),
                ..memo()
            }),
            MemoError::Id("../x".into())
        );
        let none = Memo {
            callback: Some(" ".into()),
            message: Some("".into()),
            ..memo()
        };
        let none = none.checked().unwrap();
        assert_eq!((none.callback, none.message), (None, None));
    }

    #[test]
    fn callback_numbers_as_people_write_them() {
        for (written, kept) in [
            ("03-1234-5678", "03-1234-5678"),
            ("+81 3 1234 5678", "+81 3 1234 5678"),
            ("(03) 1234-5678 内線 12", "(03) 1234-5678 内線 12"),
            ("０９０ー１２３４ー５６７８", "090-1234-5678"),
        ] {
            assert_eq!(callback_number(written).unwrap().as_deref(), Some(kept));
        }
        for bad in ["", "内線", "abc", "03-1234-5678; drop"] {
            assert!(
                callback_number(bad).map(|n| n.is_none()).unwrap_or(true),
                "{bad}"
            );
        }
        assert_eq!(
            tel_uri("+81 3-1234-5678").as_deref(),
            Some("tel:+81312345678")
        );
        assert_eq!(tel_uri("03 1234 内線 12"), None);
    }
}
