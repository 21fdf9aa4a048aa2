//! The company directory as a phone sees it: one [`DirectoryEntry`] per
//! colleague the server's rules let a worker see, how an entry stands on one
//! `Person:` line of a `People` mail, and how a worker finds one by what they
//! remember — the name (山田), the reading in kana (やまだ, ヤマダ), the reading
//! in romaji (yamada, "yamada hanako"), the account or the extension.
//! The server filters with it (a `Directory` mail's `Query`), the phone
//! searches its copy with it: both find the same people.

use serde::{Deserialize, Serialize};
use wana_kana::ConvertJapanese;

/// Between the fields of a `Person:` line.
const SEPARATOR: &str = " | ";

/// One colleague of the directory, as the phone keeps and shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct DirectoryEntry {
    pub account: String,
    /// `山田 花子`; the account when the directory has no name.
    pub name: String,
    /// The reading in kana (`やまだ はなこ`), where the directory has one.
    pub reading: Option<String>,
    pub department: Option<String>,
    /// The desk phone's extension (`2301`), for a call from the phone.
    pub extension: Option<String>,
    pub mail: Option<String>,
}

/// Why a `Person:` line cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error(
        "a Person line has {0} fields; 6 are expected (account | name | reading | department | extension | mail)"
    )]
    Fields(usize),
    #[error("a Person line has no account")]
    NoAccount,
}

impl DirectoryEntry {
    /// `yamada | 山田 花子 | やまだ はなこ | 営業一課 | 2301 | yamada@example.co.jp`:
    /// empty fields stay empty, and a `|` inside a field becomes `｜`, so the
    /// line always splits back into the same six fields.
    pub fn to_line(&self) -> String {
        let field = |v: Option<&str>| clean(v.unwrap_or_default());
        [
            clean(&self.account),
            clean(&self.name),
            field(self.reading.as_deref()),
            field(self.department.as_deref()),
            field(self.extension.as_deref()),
            field(self.mail.as_deref()),
        ]
        .join(SEPARATOR)
    }

    /// Reads a line [`to_line`](Self::to_line) wrote (spaces around `|`
    /// do not matter).
    pub fn from_line(line: &str) -> Result<Self, EntryError> {
        let fields: Vec<&str> = line.split('|').map(str::trim).collect();
        let [account, name, reading, department, extension, mail] = fields[..] else {
            return Err(EntryError::Fields(fields.len()));
        };
        if account.is_empty() {
            return Err(EntryError::NoAccount);
        }
        let some = |v: &str| (!v.is_empty()).then(|| v.to_owned());
        Ok(Self {
            account: account.to_owned(),
            name: if name.is_empty() { account } else { name }.to_owned(),
            reading: some(reading),
            department: some(department),
            extension: some(extension),
            mail: some(mail),
        })
    }

    /// Whether this entry is what `query` looks for: every word of the query
    /// is found in the name, the reading (in hiragana, katakana or romaji),
    /// the account, the extension or the department, whatever the width or
    /// case it was typed in. An empty query finds everyone.
    pub fn matches(&self, query: &str) -> bool {
        Search::new(query).finds(&self.search_text())
    }

    /// Everything a search may look at, folded, with the reading also in
    /// hiragana and in romaji, each with and without its spaces. Made once
    /// per entry where many queries look at it (the server's directory).
    pub fn search_text(&self) -> String {
        let mut parts = vec![fold(&self.name), self.account.to_ascii_lowercase()];
        if let Some(reading) = &self.reading {
            let hiragana = fold(reading).to_hiragana();
            parts.push(hiragana.to_romaji().to_lowercase());
            parts.push(hiragana);
        }
        parts.extend(self.extension.iter().map(|e| fold(e)));
        parts.extend(self.department.iter().map(|d| fold(d)));
        let spaced = parts.join("\n");
        let joined = spaced.replace(' ', "");
        format!("{spaced}\n{joined}")
    }
}

/// A query made ready once for many entries: its words folded, each with the
/// hiragana it spells when it is romaji or katakana.
#[derive(Debug, Clone)]
pub struct Search {
    words: Vec<(String, Option<String>)>,
}

impl Search {
    pub fn new(query: &str) -> Self {
        let words = fold(query)
            .split_whitespace()
            .map(|word| {
                let hiragana = word.to_hiragana();
                let alternative = (hiragana != word).then_some(hiragana);
                (word.to_owned(), alternative)
            })
            .collect();
        Self { words }
    }

    /// Whether every word is in `haystack` (an entry's [`DirectoryEntry::search_text`]).
    pub fn finds(&self, haystack: &str) -> bool {
        self.words.iter().all(|(word, hiragana)| {
            haystack.contains(word.as_str())
                || hiragana.as_deref().is_some_and(|h| haystack.contains(h))
        })
    }
}

/// Full-width letters, digits and the ideographic space as ASCII, half-width
/// katakana as full-width, and lower case: `ＹＡＭＡＤＡ　２３０１` is
/// `yamada 2301`, `ﾔﾏﾀﾞ` is `ヤマダ`.
fn fold(text: &str) -> String {
    full_width_kana(text)
        .chars()
        .map(|c| match c {
            '\u{3000}' => ' ',
            '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
            _ => c,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// The full-width katakana for U+FF61–U+FF9D, in order.
const HALF_WIDTH_KANA: &str = "。「」、・ヲァィゥェォャュョッーアイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン";

/// Half-width katakana (ｶﾞ) as full-width (ガ), a voiced mark joined to its
/// kana and a mark with nothing to join dropped. Done here, before any kana
/// conversion: wana_kana 5.0 loops for ever (or, with overflow checks,
/// panics) on a lone ﾞ or ﾟ, and a query or a reading is anyone's text.
fn full_width_kana(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\u{ff61}'..='\u{ff9d}' => {
                let index = (c as u32 - 0xff61) as usize;
                out.push(HALF_WIDTH_KANA.chars().nth(index).unwrap_or(c));
            }
            '\u{ff9e}' | '\u{ff9f}' => {
                let semi = c == '\u{ff9f}';
                if let Some(marked) = out.chars().last().and_then(|k| voiced(k, semi)) {
                    out.pop();
                    out.push(marked);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// カ with ﾞ is ガ, ハ with ﾟ is パ, ウ with ﾞ is ヴ; None where the mark does not join.
fn voiced(kana: char, semi: bool) -> Option<char> {
    let k = kana as u32;
    let shifted = |by: u32| char::from_u32(k + by);
    match (kana, semi) {
        ('ウ', false) => Some('ヴ'),
        // カ…ト take ﾞ on the next code point (カ ガ キ ギ …; ッ ツ ヅ テ デ ト ド).
        (
            'カ' | 'キ' | 'ク' | 'ケ' | 'コ' | 'サ' | 'シ' | 'ス' | 'セ' | 'ソ' | 'タ' | 'チ'
            | 'ツ' | 'テ' | 'ト',
            false,
        ) => shifted(1),
        // ハ…ホ: バ on the next, パ on the one after.
        ('ハ' | 'ヒ' | 'フ' | 'ヘ' | 'ホ', false) => shifted(1),
        ('ハ' | 'ヒ' | 'フ' | 'ヘ' | 'ホ', true) => shifted(2),
        _ => None,
    }
}

/// Characters in one field of a `Person:` line: six of them stay well
/// inside a tag's 1,000.
pub const MAX_FIELD_CHARS: usize = 120;

/// A field as it may stand between separators: one line (no control
/// character, no Unicode line or paragraph separator), no `|`, at most
/// [`MAX_FIELD_CHARS`] characters.
pub fn clean(value: &str) -> String {
    value
        .chars()
        .map(|c| match c {
            '|' => '｜',
            '\u{2028}' | '\u{2029}' => ' ',
            c if c.is_control() => ' ',
            c => c,
        })
        .take(MAX_FIELD_CHARS)
        .collect::<String>()
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yamada() -> DirectoryEntry {
        DirectoryEntry {
            account: "yamada".into(),
            name: "山田 花子".into(),
            reading: Some("やまだ はなこ".into()),
            department: Some("営業一課".into()),
            extension: Some("2301".into()),
            mail: Some("yamada@example.co.jp".into()),
        }
    }

    #[test]
    fn an_entry_goes_through_its_line_unchanged() {
        let line = yamada().to_line();
        assert_eq!(
            line,
            "yamada | 山田 花子 | やまだ はなこ | 営業一課 | 2301 | yamada@example.co.jp"
        );
        assert_eq!(DirectoryEntry::from_line(&line), Ok(yamada()));
    }

    #[test]
    fn empty_fields_and_separators_inside_a_field_survive() {
        let entry = DirectoryEntry {
            account: "sato".into(),
            name: "佐藤|一郎".into(),
            reading: None,
            department: None,
            extension: None,
            mail: None,
        };
        let back = DirectoryEntry::from_line(&entry.to_line()).expect("reads");
        assert_eq!(back.name, "佐藤｜一郎");
        assert_eq!(back.reading, None);
        assert_eq!(back.mail, None);
    }

    #[test]
    fn a_line_with_missing_fields_or_no_account_is_refused() {
        assert_eq!(
            DirectoryEntry::from_line("yamada | 山田"),
            Err(EntryError::Fields(2))
        );
        assert_eq!(
            DirectoryEntry::from_line(" | 山田 | | | | "),
            Err(EntryError::NoAccount)
        );
    }

    #[test]
    fn a_colleague_is_found_by_what_a_worker_remembers() {
        let y = yamada();
        for query in [
            "山田",
            "花子",
            "山田 花子",
            "やまだ",
            "ヤマダ",
            "ﾔﾏﾀﾞ",
            "yamada",
            "YAMADA",
            "ｙａｍａｄａ",
            "hanako",
            "yamada hanako",
            "yamadahanako",
            "やまだはなこ",
            "2301",
            "営業",
            "",
        ] {
            assert!(y.matches(query), "{query:?} should find 山田 花子");
        }
        for query in ["佐藤", "さとう", "sato", "2302", "yamada sato"] {
            assert!(!y.matches(query), "{query:?} should not find 山田 花子");
        }
    }

    #[test]
    fn half_width_kana_and_lone_voiced_marks_are_read_not_looped_on() {
        assert_eq!(fold("ﾔﾏﾀﾞ ﾊﾟﾝ ｳﾞ"), "ヤマダ パン ヴ");
        let y = yamada();
        for query in ["ﾞ", "ﾟ", "aﾞ", "ｱﾞ", "ﾞﾞﾞ", "ﾔﾏﾀﾞﾞ"] {
            // Must return; a lone mark is dropped, so these find by what is left.
            let _ = y.matches(query);
        }
        assert!(y.matches("ﾔﾏﾀﾞﾞ"));
        let odd = DirectoryEntry {
            reading: Some("ｱﾞ ﾟ".into()),
            ..yamada()
        };
        assert!(odd.matches(""));
    }

    #[test]
    fn a_field_is_one_bounded_line() {
        let entry = DirectoryEntry {
            name: format!("山田\u{2028}花子{}", "あ".repeat(500)),
            ..yamada()
        };
        let line = entry.to_line();
        assert!(!line.contains('\u{2028}'));
        assert!(line.chars().count() < 1_000, "{}", line.chars().count());
    }

    #[test]
    fn romaji_spellings_of_one_sound_find_the_same_person() {
        let entry = DirectoryEntry {
            account: "shimizu".into(),
            name: "清水 翔太".into(),
            reading: Some("シミズ ショウタ".into()),
            department: None,
            extension: None,
            mail: None,
        };
        for query in ["shimizu", "simizu", "shouta", "しみず", "シミズ"] {
            assert!(entry.matches(query), "{query:?}");
        }
    }
}
