//! How long what a request asks for lasts: the Expires of a PUBLISH, a
//! SUBSCRIBE or a REGISTER binding, defaulted when absent and held between
//! the configured floor and ceiling. One policy, used by the router for
//! publications and subscriptions and by the registrar for each binding.

use super::reply::Reply;
use crate::config::SipConfig;
use crate::sip::message::Message;

/// The configured lifetimes: the default, the floor and the ceiling.
#[derive(Debug, Clone, Copy)]
pub(super) struct Lifetimes {
    default: u32,
    min: u32,
    max: u32,
}

impl Lifetimes {
    pub(super) fn new(config: &SipConfig) -> Self {
        Self {
            default: config.default_expires,
            min: config.min_expires,
            max: config.max_expires,
        }
    }

    /// The Expires of a request, defaulted and capped; the answer when it is
    /// unreadable (400) or too brief (423).
    pub(super) fn of_request(&self, req: &Message) -> Result<u32, Reply> {
        let asked = req
            .expires()
            .map_err(|_| Reply::new(400, "Bad Request").because("Expires is not a number"))?;
        self.granted(asked)
    }

    /// What is granted of an asked lifetime (none asked: the default).
    pub(super) fn granted(&self, asked: Option<u32>) -> Result<u32, Reply> {
        let e = asked.unwrap_or(self.default).min(self.max);
        if e != 0 && e < self.min {
            return Err(
                Reply::new(423, "Interval Too Brief").with("Min-Expires", self.min.to_string())
            );
        }
        Ok(e)
    }
}
