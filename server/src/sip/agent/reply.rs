//! What a handler answers a request with. Each handler — the router's
//! checks (trust among them), the publications, the subscription dialogs,
//! the registrar — returns one `Reply` (an early refusal as `Err`, so `?`
//! reads like the checks it stands for), and the router turns it into the
//! one response through `route`'s `respond`, which adds what every answer
//! carries (To-tag, Via marks, Server).

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
    pub(super) fn because(self, why: impl std::fmt::Display) -> Self {
        self.with("Warning", format!("399 mailpresence \"{why}\""))
    }

    pub(super) fn tagged(mut self, tag: &str) -> Self {
        self.to_tag = Some(tag.to_owned());
        self
    }
}
