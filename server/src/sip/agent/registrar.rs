//! The registrar: REGISTER (RFC 3261 §10), for sites where this server is
//! the only SIP server: most desk phones register before they publish or
//! subscribe, and give up on presence when REGISTER is refused. Off unless
//! `[sip] registrar = true` (behind a company PBX, the PBX is the registrar).
//!
//! [`Registrar`] owns the bindings (who is reachable at which contact) and
//! nothing else: the router has found the person (the To URI) and checked
//! their trust (digest, as for every request) before a REGISTER comes here.
//! Bindings are bounded per person, kept in the store so that a restart does
//! not log the phones out, and dropped when they expire.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use mailpresence_protocol::model::AccountName;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::lifetime::Lifetimes;
use super::reply::{Handled, Reply};
use super::{keys_where, stored};
use crate::directory::Person;
use crate::hub::{Batch, Hub};
use crate::sip::message::{Message, param, uri_of};

/// The longest Contact URI a binding may have.
const MAX_CONTACT_URI_BYTES: usize = 256;

/// Contacts one person may register (desk phone, softphone, mobile…).
const MAX_BINDINGS_PER_PERSON: usize = 10;

/// One registered contact of a person.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Binding {
    account: AccountName,
    contact: String,
    call_id: String,
    cseq: u32,
    #[serde(skip, default = "Instant::now")]
    expires_at: Instant,
}

/// The registered contacts by store key (`account contact`), and the
/// lifetimes they may be granted.
#[derive(Debug)]
pub(super) struct Registrar {
    bindings: HashMap<String, Binding>,
    lifetimes: Lifetimes,
}

fn key(account: &AccountName, contact: &str) -> String {
    format!("{account} {contact}")
}

/// One Contact of a REGISTER: its URI and the lifetime it asks for.
struct Asked<'a> {
    uri: &'a str,
    expires: Option<u32>,
}

impl Registrar {
    /// A registrar with no bindings (the role is off).
    pub(super) fn new(lifetimes: Lifetimes) -> Self {
        Self {
            bindings: HashMap::new(),
            lifetimes,
        }
    }

    /// The bindings stored by an earlier run, still live.
    pub(super) fn resume(hub: &Hub, lifetimes: Lifetimes) -> Self {
        let bindings = stored::load::<Binding>(hub, stored::BINDING)
            .into_iter()
            .map(|(k, mut binding, left)| {
                binding.expires_at = Instant::now() + left;
                (k, binding)
            })
            .collect();
        Self {
            bindings,
            lifetimes,
        }
    }

    /// A REGISTER for `person` (the address of record, its To URI), whose
    /// trust the router has checked: binds, refreshes or removes contacts.
    pub(super) fn register(
        &mut self,
        req: &Message,
        person: &Person,
        b: &mut Batch<'_>,
    ) -> Handled {
        let contacts: Vec<&str> = req
            .headers_named("Contact")
            .flat_map(split_contacts)
            .collect();
        if contacts.iter().any(|c| c.trim() == "*") {
            return self.unregister_all(req, &person.account, contacts.len(), b);
        }
        let asked: Vec<Asked<'_>> = contacts
            .iter()
            .map(|c| Asked {
                uri: uri_of(c),
                expires: param(c, "expires").and_then(|e| e.parse().ok()),
            })
            .collect();
        // A phone's contact is a short URI; long ones would make every
        // answer listing the bindings a big reply to a small request.
        if asked.iter().any(|a| a.uri.len() > MAX_CONTACT_URI_BYTES) {
            return Err(Reply::new(400, "Bad Request").because("Contact URI too long"));
        }
        let header_expires = req
            .expires()
            .map_err(|_| Reply::new(400, "Bad Request").because("Expires is not a number"))?;
        for a in &asked {
            self.lifetime(a.expires.or(header_expires))?;
        }
        let (call_id, cseq) = (
            req.header("Call-ID").unwrap_or_default().to_owned(),
            req.cseq().map(|(n, _)| n).unwrap_or(0),
        );
        for a in asked {
            let seconds = self.lifetime(a.expires.or(header_expires)).unwrap_or(0);
            let k = key(&person.account, a.uri);
            if let Some(old) = self.bindings.get(&k)
                && old.call_id == call_id
                && old.cseq >= cseq
            {
                // §10.3 step 7: an older REGISTER arriving late changes nothing.
                continue;
            }
            if seconds == 0 {
                self.unbind(&k, b);
                continue;
            }
            if !self.bindings.contains_key(&k)
                && self.bindings_of(&person.account) >= MAX_BINDINGS_PER_PERSON
            {
                warn!(account = %person.account, "too many registered contacts; REGISTER refused");
                return Err(Reply::new(403, "Forbidden").because("too many registered contacts"));
            }
            let binding = Binding {
                account: person.account.clone(),
                contact: a.uri.to_owned(),
                call_id: call_id.clone(),
                cseq,
                expires_at: Instant::now() + Duration::from_secs(u64::from(seconds)),
            };
            self.bind(k, binding, seconds, b);
        }
        info!(account = %person.account, contacts = self.bindings_of(&person.account), "registered");
        Ok(self.bindings_reply(&person.account))
    }

    /// `Contact: *` with `Expires: 0`: every binding of the person goes.
    fn unregister_all(
        &mut self,
        req: &Message,
        account: &AccountName,
        contacts: usize,
        b: &mut Batch<'_>,
    ) -> Handled {
        if contacts != 1 || req.expires().ok().flatten() != Some(0) {
            return Err(
                Reply::new(400, "Bad Request").because("Contact: * goes alone and with Expires: 0")
            );
        }
        for k in keys_where(&self.bindings, |x| &x.account == account) {
            self.unbind(&k, b);
        }
        info!(%account, "unregistered");
        Ok(self.bindings_reply(account))
    }

    /// The lifetime a binding gets, or the answer when it is too brief.
    fn lifetime(&self, wanted: Option<u32>) -> Result<u32, Reply> {
        self.lifetimes.granted(wanted)
    }

    fn bindings_of(&self, account: &AccountName) -> usize {
        self.bindings
            .values()
            .filter(|x| &x.account == account)
            .count()
    }

    fn bind(&mut self, k: String, binding: Binding, seconds: u32, b: &mut Batch<'_>) {
        let lasts = Duration::from_secs(u64::from(seconds));
        stored::put(b, stored::BINDING, &k, &binding, lasts);
        self.bindings.insert(k, binding);
    }

    fn unbind(&mut self, k: &str, b: &mut Batch<'_>) {
        self.bindings.remove(k);
        stored::delete(b, stored::BINDING, k);
    }

    /// 200 OK listing the person's bindings with what is left of each.
    fn bindings_reply(&self, account: &AccountName) -> Reply {
        let now = Instant::now();
        let contacts = self
            .bindings
            .values()
            .filter(|x| &x.account == account)
            .map(|x| {
                let left = x.expires_at.saturating_duration_since(now).as_secs();
                format!("<{}>;expires={left}", x.contact)
            });
        contacts
            .fold(Reply::ok(), |r, c| r.with("Contact", c))
            .with(
                "Date",
                Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
            )
    }

    /// Bindings whose time is up go (the phone did not refresh).
    pub(super) fn expire(&mut self, now: Instant, b: &mut Batch<'_>) {
        for k in keys_where(&self.bindings, |x| x.expires_at <= now) {
            info!(binding = %k, "registration expired");
            self.unbind(&k, b);
        }
    }
}

/// A Contact header value as its comma-separated entries (commas inside
/// `<…>` or quotes belong to the entry).
fn split_contacts(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0);
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => depth += 1,
            '>' if !quoted => depth -= 1,
            ',' if !quoted && depth <= 0 => {
                out.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(value[start..].trim());
    out.retain(|s| !s.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::split_contacts;

    #[test]
    fn contacts_split_on_commas_outside_brackets_and_quotes() {
        assert_eq!(
            split_contacts(
                r#""Sato, J" <sip:sato@10.0.0.5;a=1,2>;expires=60, <sip:sato@10.0.0.6>"#
            ),
            [
                r#""Sato, J" <sip:sato@10.0.0.5;a=1,2>;expires=60"#,
                "<sip:sato@10.0.0.6>"
            ]
        );
        assert_eq!(split_contacts("*"), ["*"]);
        assert!(split_contacts(" , ").is_empty());
    }
}
