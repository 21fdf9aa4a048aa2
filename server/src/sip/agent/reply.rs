//! What a handler answers a request with. Each handler — the router's
//! checks (trust among them), the publications, the subscription dialogs,
//! the registrar — returns one `Reply` (an early refusal as `Err`, so `?`
//! reads like the checks it stands for), and the router turns it into the
//! one response through `route`'s `respond`, which adds what every answer
//! carries (To-tag, Via marks, Server).

/// The most of a reason a `Warning` quotes.
const MAX_WARNING_TEXT: usize = 120;

/// A final answer to a request: status, reason and the headers it adds.
#[derive(Debug)]
pub(super) struct Reply {
    pub(super) code: u16,
    pub(super) reason: &'static str,
    /// Our To-tag when the answer opens a dialog; a fresh one otherwise.
    pub(super) to_tag: Option<String>,
    pub(super) headers: Vec<(&'static str, String)>,
}

/// A handler's outcome: `Ok` the answer it meant, `Err` a refusal; both are sent.
pub(super) type Handled = Result<Reply, Reply>;

impl Reply {
    pub(super) fn new(code: u16, reason: &'static str) -> Self {
        Self {
            code,
            reason,
            to_tag: None,
            headers: Vec::new(),
        }
    }

    pub(super) fn ok() -> Self {
        Self::new(200, "OK")
    }

    pub(super) fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// A `Warning` (RFC 3261 §20.43) that tells a person reading traces why.
    /// Cut short: a reason may quote the request (a bad Content-Length), and
    /// an answer must not outweigh its request.
    pub(super) fn because(self, why: impl std::fmt::Display) -> Self {
        let mut text = why.to_string();
        if text.len() > MAX_WARNING_TEXT {
            text.truncate(text.floor_char_boundary(MAX_WARNING_TEXT));
            // No backslash left to escape the closing quote.
            text.truncate(text.trim_end_matches('\\').len());
            text.push_str("...");
        }
        self.with("Warning", format!("399 mailpresence \"{text}\""))
    }

    pub(super) fn tagged(mut self, tag: &str) -> Self {
        self.to_tag = Some(tag.to_owned());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_WARNING_TEXT, Reply};

    #[test]
    fn a_warning_quotes_a_long_reason_cut_short() {
        let reason = format!("Content-Length \"{}\" is not a number", "\\".repeat(5000));
        let reply = Reply::new(400, "Bad Request").because(reason);
        let warning = &reply.headers[0].1;
        assert!(warning.len() < MAX_WARNING_TEXT + 30, "{warning}");
        assert!(warning.ends_with("...\""), "{warning}");
    }
}
