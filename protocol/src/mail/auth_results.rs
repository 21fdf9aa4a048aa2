//! The `Authentication-Results` header (RFC 8601) read into its parts: who
//! checked (the authserv-id) and what each check found. No crate parses these
//! headers, hence this small parser; it is fuzzed
//! (`fuzz/fuzz_targets/auth_results.rs`). What the results prove about a
//! sender is decided in `auth.rs`.

use std::fmt;

/// At most this many bytes of one header are read; a real one is a few hundred.
const MAX_HEADER_BYTES: usize = 16 * 1024;
/// At most this many results in one header.
const MAX_RESULTS: usize = 64;

/// One `Authentication-Results` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthResults {
    /// Who checked: the MTA's authserv-id (`mx.example.co.jp`).
    pub authserv_id: String,
    /// One entry per check (`dkim=pass header.d=…`); empty for `; none`.
    pub results: Vec<MethodResult>,
}

/// One check and its outcome: `dkim=pass header.d=example.co.jp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodResult {
    /// Lower case, without a version (`dkim`, `dmarc`, `spf`, `auth`).
    pub method: String,
    /// Lower case (`pass`, `fail`, `none`, …).
    pub result: String,
    pub reason: Option<String>,
    pub properties: Vec<Property>,
}

/// `ptype.property=value`, e.g. `header.d=example.co.jp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// Lower case (`header`, `smtp`, `policy`).
    pub ptype: String,
    /// Lower case (`d`, `i`, `from`, `mailfrom`, `auth`).
    pub name: String,
    pub value: String,
}

impl MethodResult {
    /// The value of `ptype.name`, if present.
    pub fn property(&self, ptype: &str, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|p| p.ptype == ptype && p.name == name)
            .map(|p| p.value.as_str())
    }
}

impl fmt::Display for MethodResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.method, self.result)?;
        for p in &self.properties {
            // The signature fragment says nothing to a reader of the log.
            if p.name != "b" {
                write!(f, " {}.{}={}", p.ptype, p.name, p.value)?;
            }
        }
        Ok(())
    }
}

/// Why a header could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthResultsError {
    #[error("the header is empty")]
    Empty,
    #[error("the header is {0} bytes; at most {MAX_HEADER_BYTES} are read")]
    TooLong(usize),
    #[error("more than {MAX_RESULTS} results")]
    TooManyResults,
    #[error("unexpected {found} where {expected} was expected")]
    Syntax {
        expected: &'static str,
        found: String,
    },
    #[error("an unterminated comment or quoted string")]
    Unterminated,
}

/// Reads one header's value (after `Authentication-Results:`).
pub fn parse_authentication_results(value: &str) -> Result<AuthResults, AuthResultsError> {
    if value.len() > MAX_HEADER_BYTES {
        return Err(AuthResultsError::TooLong(value.len()));
    }
    let tokens = tokenize(value)?;
    Parser { tokens, pos: 0 }.header()
}

/// The authserv-id of a header, read without judging the rest: used to find
/// the header that is ours before reading it in full. Whatever follows the id
/// (a comment the MTA copied from the sender, say) cannot hide the header.
pub fn authserv_id_of(value: &str) -> Option<String> {
    // Only the first token is read, however long the rest.
    let mut chars = value.chars().peekable();
    match next_token(&mut chars)? {
        Ok(Token::Word(w) | Token::Quoted(w)) => Some(w),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Punct(char),
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Self::Word(w) => format!("{w:?}"),
            Self::Quoted(q) => format!("\"{q}\""),
            Self::Punct(c) => format!("'{c}'"),
        }
    }
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

/// Words, quoted strings and the punctuation `;` `=`; comments `( … )`
/// (nested, with `\` escapes) and white space are dropped.
fn tokenize(value: &str) -> Result<Vec<Token>, AuthResultsError> {
    let mut chars = value.chars().peekable();
    let mut tokens = Vec::new();
    while let Some(token) = next_token(&mut chars) {
        tokens.push(token?);
    }
    Ok(tokens)
}

/// The next token, or `None` at the end.
fn next_token(chars: &mut Chars<'_>) -> Option<Result<Token, AuthResultsError>> {
    loop {
        let c = *chars.peek()?;
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                if let Err(e) = skip_comment(chars) {
                    return Some(Err(e));
                }
            }
            ';' | '=' => {
                chars.next();
                return Some(Ok(Token::Punct(c)));
            }
            '"' => {
                chars.next();
                return Some(quoted(chars).map(Token::Quoted));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, ';' | '=' | '(' | ')' | '"') {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                if word.is_empty() {
                    // A stray `)`.
                    chars.next();
                    return Some(Ok(Token::Punct(c)));
                }
                return Some(Ok(Token::Word(word)));
            }
        }
    }
}

fn skip_comment(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
) -> Result<(), AuthResultsError> {
    let mut depth = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Ok(());
                }
            }
            _ => {}
        }
    }
    Err(AuthResultsError::Unterminated)
}

fn quoted(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
) -> Result<String, AuthResultsError> {
    let mut out = String::new();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next().ok_or(AuthResultsError::Unterminated)?),
            '"' => return Ok(out),
            _ => out.push(c),
        }
    }
    Err(AuthResultsError::Unterminated)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn unexpected(&self, expected: &'static str) -> AuthResultsError {
        AuthResultsError::Syntax {
            expected,
            found: self
                .peek()
                .map_or_else(|| "the end".to_owned(), Token::describe),
        }
    }

    fn value(&mut self, expected: &'static str) -> Result<String, AuthResultsError> {
        match self.peek() {
            Some(Token::Word(w) | Token::Quoted(w)) => {
                let v = w.clone();
                self.pos += 1;
                Ok(v)
            }
            _ => Err(self.unexpected(expected)),
        }
    }

    fn punct(&mut self, c: char, expected: &'static str) -> Result<(), AuthResultsError> {
        if self.peek() == Some(&Token::Punct(c)) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.unexpected(expected))
        }
    }

    fn header(mut self) -> Result<AuthResults, AuthResultsError> {
        if self.tokens.is_empty() {
            return Err(AuthResultsError::Empty);
        }
        let authserv_id = self.value("the authserv-id")?;
        // An optional version number after the id.
        if let Some(Token::Word(w)) = self.peek()
            && w.bytes().all(|b| b.is_ascii_digit())
        {
            self.pos += 1;
        }
        let mut results = Vec::new();
        while self.peek().is_some() {
            self.punct(';', "';'")?;
            if self.peek().is_none() {
                break; // a trailing `;`
            }
            if results.is_empty()
                && matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case("none"))
                && self.tokens.get(self.pos + 1).is_none()
            {
                self.pos += 1;
                break;
            }
            if results.len() == MAX_RESULTS {
                return Err(AuthResultsError::TooManyResults);
            }
            results.push(self.result()?);
        }
        Ok(AuthResults {
            authserv_id,
            results,
        })
    }

    /// `method[/version]=result [reason=…] [ptype.property=value …]`
    fn result(&mut self) -> Result<MethodResult, AuthResultsError> {
        let method = self.value("a method")?;
        let method = method
            .split('/')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        self.punct('=', "'=' after the method")?;
        let result = self.value("a result")?.to_ascii_lowercase();
        let mut reason = None;
        let mut properties = Vec::new();
        while let Some(Token::Word(key)) = self.peek() {
            let key = key.to_ascii_lowercase();
            self.pos += 1;
            self.punct('=', "'=' after a property")?;
            let value = self.value("a property value")?;
            if key == "reason" {
                reason = Some(value);
            } else if let Some((ptype, name)) = key.split_once('.') {
                properties.push(Property {
                    ptype: ptype.to_owned(),
                    name: name.to_owned(),
                    value,
                });
            }
            // Anything else (RFC 7410 extensions) is skipped.
        }
        match self.peek() {
            None | Some(Token::Punct(';')) => Ok(MethodResult {
                method,
                result,
                reason,
                properties,
            }),
            Some(_) => {
                let e = self.unexpected("';' or a property");
                self.next();
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_opendkim_writes() {
        let h = parse_authentication_results(
            "mx.example.co.jp;\r\n\tdkim=pass (2048-bit key; unprotected) header.d=example.co.jp header.i=@example.co.jp header.a=rsa-sha256 header.s=mail header.b=Zf/G+k3x",
        )
        .unwrap();
        assert_eq!(h.authserv_id, "mx.example.co.jp");
        assert_eq!(h.results.len(), 1);
        let r = &h.results[0];
        assert_eq!((r.method.as_str(), r.result.as_str()), ("dkim", "pass"));
        assert_eq!(r.property("header", "d"), Some("example.co.jp"));
        assert_eq!(r.property("header", "b"), Some("Zf/G+k3x"));
    }

    #[test]
    fn reads_versions_comments_quotes_reasons_and_none() {
        let h = parse_authentication_results(
            "\"mx (main)\" 1; spf=pass smtp.mailfrom=a@b.example (ok (nested)); dkim/1=fail reason=\"bad sig\" header.d=b.example; dmarc=pass (p=reject) header.from=b.example",
        )
        .unwrap();
        assert_eq!(h.authserv_id, "mx (main)");
        assert_eq!(h.results.len(), 3);
        assert_eq!(h.results[1].method, "dkim");
        assert_eq!(h.results[1].reason.as_deref(), Some("bad sig"));
        let none = parse_authentication_results("mx.example.co.jp; none").unwrap();
        assert!(none.results.is_empty());
        assert_eq!(
            parse_authentication_results("mx; dkim").unwrap_err(),
            AuthResultsError::Syntax {
                expected: "'=' after the method",
                found: "the end".into()
            }
        );
        assert_eq!(
            parse_authentication_results("mx; dkim=pass (open"),
            Err(AuthResultsError::Unterminated)
        );
        assert_eq!(
            parse_authentication_results("  "),
            Err(AuthResultsError::Empty)
        );
    }
}
