//! SIP messages (RFC 3261 §7): parsing what phones send — compact header forms,
//! folded lines, a missing Content-Length on UDP — and writing requests and
//! responses. Also TCP framing. Every failure is an error value; nothing here
//! panics on input from the network.

use std::fmt::Write as _;

/// Largest SIP message accepted (UDP datagram or one TCP message).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
const MAX_HEADERS: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SipError {
    #[error("message is {0} bytes; at most {MAX_MESSAGE_BYTES} are accepted")]
    TooLarge(usize),
    #[error("no blank line ends the headers")]
    NoHeaderEnd,
    #[error("headers are not UTF-8")]
    NotUtf8,
    #[error("bad start line {0:?}")]
    StartLine(String),
    #[error("bad header line {0:?}")]
    HeaderLine(String),
    #[error("{MAX_HEADERS} headers or more")]
    TooManyHeaders,
    #[error("Content-Length {0:?} is not a number")]
    ContentLength(String),
    #[error("body is {have} bytes, Content-Length says {want}")]
    ShortBody { have: usize, want: usize },
    #[error("missing header {0}")]
    Missing(&'static str),
    #[error("bad {0} header")]
    BadHeader(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    Request { method: String, uri: String },
    Response { code: u16, reason: String },
}

/// One SIP message: start line, headers in order (canonical names), body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub start: StartLine,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// RFC 3261 §7.3.3 compact forms, plus the SIP-events ones.
fn canonical_name(name: &str) -> String {
    let long = match name.to_ascii_lowercase().as_str() {
        "v" | "via" => "Via",
        "f" | "from" => "From",
        "t" | "to" => "To",
        "i" | "call-id" => "Call-ID",
        "m" | "contact" => "Contact",
        "l" | "content-length" => "Content-Length",
        "c" | "content-type" => "Content-Type",
        "e" | "content-encoding" => "Content-Encoding",
        "k" | "supported" => "Supported",
        "s" | "subject" => "Subject",
        "o" | "event" => "Event",
        "u" | "allow-events" => "Allow-Events",
        "cseq" => "CSeq",
        "expires" => "Expires",
        "sip-etag" => "SIP-ETag",
        "sip-if-match" => "SIP-If-Match",
        "subscription-state" => "Subscription-State",
        "www-authenticate" => "WWW-Authenticate",
        "authorization" => "Authorization",
        "max-forwards" => "Max-Forwards",
        "record-route" => "Record-Route",
        "accept" => "Accept",
        _ => return name.to_owned(),
    };
    long.to_owned()
}

impl Message {
    /// Parses one whole message (a UDP datagram, or a frame cut by [`frame_len`]).
    /// `stream` says whether it came over a stream transport, where
    /// Content-Length is required (RFC 3261 §18.3); on UDP it may be missing.
    pub fn parse(bytes: &[u8], stream: bool) -> Result<Self, SipError> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(SipError::TooLarge(bytes.len()));
        }
        let head_end = find(bytes, b"\r\n\r\n").ok_or(SipError::NoHeaderEnd)?;
        let head = std::str::from_utf8(&bytes[..head_end]).map_err(|_| SipError::NotUtf8)?;
        let body = &bytes[head_end + 4..];
        let mut lines = unfold(head).into_iter();
        let first = lines.next().unwrap_or_default();
        let start = parse_start_line(&first)?;
        let mut headers = Vec::new();
        // Headers other than Content-Length: one place of MAX_HEADERS is kept
        // for the Content-Length `to_bytes` always writes, so what is read
        // can be written and read again. (Lines are bounded by the size.)
        let mut others = 0;
        for line in lines {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| SipError::HeaderLine(line.clone()))?;
            let name = name.trim();
            if name.is_empty() || !name.bytes().all(is_token_char) {
                return Err(SipError::HeaderLine(line.clone()));
            }
            let name = canonical_name(name);
            if name != "Content-Length" {
                others += 1;
                if others >= MAX_HEADERS {
                    return Err(SipError::TooManyHeaders);
                }
            }
            headers.push((name, value.trim().to_owned()));
        }
        let mut message = Self {
            start,
            headers,
            body: Vec::new(),
        };
        let body_len = match message.header("Content-Length") {
            Some(v) => v
                .trim()
                .parse::<usize>()
                .map_err(|_| SipError::ContentLength(v.to_owned()))?,
            None if stream => 0,
            None => body.len(),
        };
        if body.len() < body_len {
            return Err(SipError::ShortBody {
                have: body.len(),
                want: body_len,
            });
        }
        message.body = body[..body_len].to_vec();
        Ok(message)
    }

    pub fn request(method: &str, uri: &str) -> Self {
        Self {
            start: StartLine::Request {
                method: method.to_owned(),
                uri: uri.to_owned(),
            },
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A response to `request` (RFC 3261 §8.2.6): its Via, From, To, Call-ID
    /// and CSeq copied, the To tag added when given and missing.
    pub fn response_to(request: &Message, code: u16, reason: &str, to_tag: Option<&str>) -> Self {
        let mut r = Self {
            start: StartLine::Response {
                code,
                reason: reason.to_owned(),
            },
            headers: Vec::new(),
            body: Vec::new(),
        };
        for (name, value) in &request.headers {
            match name.as_str() {
                "Via" | "From" | "Call-ID" | "CSeq" => {
                    r.headers.push((name.clone(), value.clone()))
                }
                "To" => {
                    let mut to = value.clone();
                    if let Some(tag) = to_tag
                        && param(value, "tag").is_none()
                    {
                        to.push_str(";tag=");
                        to.push_str(tag);
                    }
                    r.headers.push((name.clone(), to));
                }
                _ => {}
            }
        }
        r
    }

    pub fn method(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { code, .. } => Some(*code),
            StartLine::Request { .. } => None,
        }
    }

    /// The first value of a header (names as [`canonical_name`] spells them).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn required(&self, name: &'static str) -> Result<&str, SipError> {
        self.header(name).ok_or(SipError::Missing(name))
    }

    pub fn push(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    pub fn set_body(&mut self, content_type: &str, body: Vec<u8>) -> &mut Self {
        self.headers.retain(|(n, _)| n != "Content-Type");
        self.headers
            .push(("Content-Type".into(), content_type.into()));
        self.body = body;
        self
    }

    /// `CSeq: 12 NOTIFY` → (12, `NOTIFY`).
    pub fn cseq(&self) -> Result<(u32, &str), SipError> {
        let v = self.required("CSeq")?;
        let (n, m) = v
            .trim()
            .split_once(char::is_whitespace)
            .ok_or(SipError::BadHeader("CSeq"))?;
        Ok((
            n.parse().map_err(|_| SipError::BadHeader("CSeq"))?,
            m.trim(),
        ))
    }

    /// The Expires header in seconds, when present and valid.
    pub fn expires(&self) -> Result<Option<u32>, SipError> {
        self.header("Expires")
            .map(|v| v.trim().parse().map_err(|_| SipError::BadHeader("Expires")))
            .transpose()
    }

    /// The bytes on the wire; Content-Length always written.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::new();
        match &self.start {
            StartLine::Request { method, uri } => {
                let _ = write!(out, "{method} {uri} SIP/2.0\r\n");
            }
            StartLine::Response { code, reason } => {
                let _ = write!(out, "SIP/2.0 {code} {reason}\r\n");
            }
        }
        for (name, value) in self.headers.iter().filter(|(n, _)| n != "Content-Length") {
            let _ = write!(out, "{name}: {value}\r\n");
        }
        let _ = write!(out, "Content-Length: {}\r\n\r\n", self.body.len());
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// For a TCP stream: the length of the first complete message in `buf`, if it
/// is all there; `Err` when the head is broken or too large (drop the stream).
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, SipError> {
    let Some(head_end) = find(buf, b"\r\n\r\n") else {
        return if buf.len() > MAX_MESSAGE_BYTES {
            Err(SipError::TooLarge(buf.len()))
        } else {
            Ok(None)
        };
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| SipError::NotUtf8)?;
    let mut length = 0usize;
    for line in unfold(head).iter().skip(1) {
        if let Some((name, value)) = line.split_once(':')
            && canonical_name(name.trim()) == "Content-Length"
        {
            length = value
                .trim()
                .parse()
                .map_err(|_| SipError::ContentLength(value.trim().to_owned()))?;
        }
    }
    // A hostile Content-Length may be near usize::MAX: no wrapping sums.
    let total = (head_end + 4).saturating_add(length);
    if total > MAX_MESSAGE_BYTES {
        return Err(SipError::TooLarge(total));
    }
    Ok((buf.len() >= total).then_some(total))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Header lines with continuation lines (leading space or tab) joined.
fn unfold(head: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for line in head.split("\r\n") {
        match lines.last_mut() {
            Some(last) if line.starts_with([' ', '\t']) => {
                last.push(' ');
                last.push_str(line.trim());
            }
            _ => lines.push(line.to_owned()),
        }
    }
    lines
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

fn parse_start_line(line: &str) -> Result<StartLine, SipError> {
    let bad = || SipError::StartLine(line.chars().take(200).collect());
    let mut parts = line.splitn(3, ' ');
    let (a, b, c) = (
        parts.next().ok_or_else(bad)?,
        parts.next().ok_or_else(bad)?,
        parts.next().ok_or_else(bad)?,
    );
    if a == "SIP/2.0" {
        let code: u16 = b.parse().map_err(|_| bad())?;
        if !(100..700).contains(&code) {
            return Err(bad());
        }
        return Ok(StartLine::Response {
            code,
            reason: c.to_owned(),
        });
    }
    if c != "SIP/2.0" || a.is_empty() || !a.bytes().all(|x| x.is_ascii_uppercase()) || b.is_empty()
    {
        return Err(bad());
    }
    Ok(StartLine::Request {
        method: a.to_owned(),
        uri: b.to_owned(),
    })
}

/// A parameter of a header value (`tag` of `<sip:a@b>;tag=x`, `branch` of a
/// Via). Parameters inside `<…>` belong to the URI and are skipped.
pub fn param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    let after_uri = match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => &value[b + 1..],
        _ => value,
    };
    after_uri
        .split(';')
        .skip(usize::from(after_uri == value))
        .find_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().trim_matches('"'))
        })
}

/// Whether a parameter is present at all (`rport` has no value).
pub fn has_param(value: &str, name: &str) -> bool {
    param(value, name).is_some()
}

/// The URI of a name-addr or addr-spec (`"佐藤" <sip:sato@x>;tag=1` → `sip:sato@x`).
pub fn uri_of(value: &str) -> &str {
    match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => &value[a + 1..b],
        _ => value.split(';').next().unwrap_or(value).trim(),
    }
}

/// The `Event` package name, parameters dropped.
pub fn event_package(value: &str) -> &str {
    value.split(';').next().unwrap_or_default().trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINPHONE_REMOVE: &[u8] = b"PUBLISH sip:kobayashi@example.test SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.11:5060;branch=z9hG4bK.x;rport\r\nFrom: <sip:kobayashi@example.test>;tag=a\r\nTo: <sip:kobayashi@example.test>\r\nCall-ID: c1\r\nCSeq: 21 PUBLISH\r\nEvent: presence\r\nExpires: 0\r\nSIP-If-Match: e1\r\n\r\n";

    #[test]
    fn udp_message_without_content_length_and_compact_forms() {
        let m = Message::parse(LINPHONE_REMOVE, false).unwrap();
        assert_eq!(m.method(), Some("PUBLISH"));
        assert_eq!(m.expires().unwrap(), Some(0));
        assert!(m.body.is_empty());
        let c = Message::parse(b"SUBSCRIBE sip:t@x SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nf: \"Sato\" <sip:a@x>;tag=1\r\nt: <sip:t@x>\r\ni: c\r\nCSeq: 1 SUBSCRIBE\r\no: presence;id=3\r\nl: 0\r\nSupported:\r\n\r\n", false).unwrap();
        assert_eq!(c.header("from").map(uri_of), Some("sip:a@x"));
        assert_eq!(c.header("Event").map(event_package), Some("presence"));
        assert_eq!(c.header("Supported"), Some(""));
        assert_eq!(param(c.header("From").unwrap(), "tag"), Some("1"));
    }

    #[test]
    fn responses_copy_the_dialog_headers_and_add_a_tag() {
        let m = Message::parse(LINPHONE_REMOVE, false).unwrap();
        let r = Message::response_to(&m, 412, "Conditional Request Failed", Some("srv"));
        let text = String::from_utf8(r.to_bytes()).unwrap();
        assert!(text.starts_with("SIP/2.0 412 Conditional Request Failed\r\n"));
        assert!(text.contains("To: <sip:kobayashi@example.test>;tag=srv\r\n"));
        assert!(text.contains("CSeq: 21 PUBLISH\r\n"));
        assert!(text.ends_with("Content-Length: 0\r\n\r\n"));
        let back = Message::parse(&r.to_bytes(), true).unwrap();
        assert_eq!(back.status(), Some(412));
    }

    #[test]
    fn tcp_framing_waits_for_the_whole_body() {
        let mut m = Message::request("PUBLISH", "sip:a@x");
        m.push("Call-ID", "x")
            .set_body("application/pidf+xml", b"<presence/>".to_vec());
        let bytes = m.to_bytes();
        assert_eq!(frame_len(&bytes[..bytes.len() - 1]), Ok(None));
        assert_eq!(frame_len(&bytes), Ok(Some(bytes.len())));
        let mut two = bytes.clone();
        two.extend_from_slice(&bytes);
        assert_eq!(frame_len(&two), Ok(Some(bytes.len())));
        assert!(frame_len(b"PUBLISH x SIP/2.0\r\nContent-Length: 99999999\r\n\r\n").is_err());
        // Found by the fuzzer: a length that overflowed the frame size.
        assert!(
            frame_len(b"SIP/2.0 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n").is_err()
        );
    }

    #[test]
    fn broken_messages_are_errors() {
        for raw in [
            &b""[..],
            b"\r\n\r\n",
            b"HELLO\r\n\r\n",
            b"publish sip:a SIP/2.0\r\n\r\n",
            b"SIP/2.0 99 x\r\n\r\n",
            b"PUBLISH sip:a SIP/2.0\r\nno colon\r\n\r\n",
            b"PUBLISH sip:a SIP/2.0\r\nContent-Length: 10\r\n\r\nshort",
            b"PUBLISH sip:a SIP/2.0\r\nContent-Length: -1\r\n\r\n",
            b"PUBLISH sip:a SIP/2.0\r\n\xff: x\r\n\r\n",
        ] {
            assert!(
                Message::parse(raw, false).is_err(),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn params_and_uris() {
        let via = "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK77;rport";
        assert_eq!(param(via, "branch"), Some("z9hG4bK77"));
        assert!(has_param(via, "rport"));
        assert_eq!(param(via, "received"), None);
        let contact = "<sip:a@x;gr=urn:uuid:1>;+sip.instance=\"<urn:uuid:1>\"";
        assert_eq!(uri_of(contact), "sip:a@x;gr=urn:uuid:1");
        assert_eq!(
            param(contact, "gr"),
            None,
            "URI parameters are not header parameters"
        );
        assert_eq!(uri_of("sip:bare@x;tag=1"), "sip:bare@x");
    }

    #[test]
    fn a_message_with_the_most_headers_is_written_and_read_again() {
        // Found by the fuzzer: 128 headers and no Content-Length parsed, and
        // the copy with its Content-Length added did not.
        let mut text = String::from("SIP/2.0 200 OK\r\n");
        for i in 0..200 {
            text.push_str(&format!("X-H{i}: v\r\n"));
            let head = format!("{text}\r\n");
            if let Ok(m) = Message::parse(head.as_bytes(), false) {
                assert!(Message::parse(&m.to_bytes(), true).is_ok(), "{i} headers");
            }
        }
    }
}
