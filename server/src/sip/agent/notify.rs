//! How a NOTIFY is written (RFC 6665 §4.2.2): the next request of a
//! subscription dialog, with the Subscription-State it is in and, when there
//! is presence to tell, a PIDF body. And where phones reach us, which it
//! names in its Via and Contact: [`Advertised`] owns those addresses.
//! Nothing here sends or stores; `Subscriptions` does, after the dialog's
//! trust and bounds were checked when it was opened.

use std::time::Instant;

use mailpresence_protocol::model::{AccountName, PresenceFields};
use mailpresence_protocol::pidf;
use mailpresence_protocol::summary::Lang;

use super::dialogs::{Dialog, Ending};
use super::{PIDF, random_token};
use crate::directory::Directory;
use crate::sip::message::Message;
use crate::sip::transport::Peer;

/// Where phones reach us: the SIP domain (of PIDF entities) and the
/// `host:port` written in Via and Contact, on the TLS port for TLS dialogs.
#[derive(Debug)]
pub(super) struct Advertised {
    domain: String,
    plain: String,
    /// `host:port` for TLS dialogs (the TLS port), when TLS is on.
    tls: Option<String>,
}

impl Advertised {
    pub(super) fn new(domain: String, plain: String) -> Self {
        Self {
            domain,
            plain,
            tls: None,
        }
    }

    /// Where phones reach us over TLS.
    pub(super) fn set_tls(&mut self, host_port: Option<String>) {
        self.tls = host_port;
    }

    /// `host:port` as `peer` reaches us: the TLS port for TLS.
    fn host_port(&self, peer: &Peer) -> &str {
        match (peer, &self.tls) {
            (Peer::Tls { .. }, Some(tls)) => tls,
            _ => &self.plain,
        }
    }

    /// Our Contact for a dialog with `peer`: on the transport the peer came on
    /// (RFC 3261 §8.1.1.8), so the phone keeps the dialog there.
    pub(super) fn contact(&self, user: Option<&AccountName>, peer: &Peer) -> String {
        let user = user.map(|u| format!("{u}@")).unwrap_or_default();
        let transport = peer
            .uri_param()
            .map(|t| format!(";transport={t}"))
            .unwrap_or_default();
        format!("<sip:{user}{}{transport}>", self.host_port(peer))
    }

    /// The PIDF entity of `account`: their SIP URI, or one in our domain.
    fn entity(&self, dir: &Directory, account: &AccountName) -> String {
        dir.person(account)
            .and_then(|p| p.sip.clone())
            .unwrap_or_else(|| pidf::entity_for(account, &self.domain))
    }
}

/// The PIDF body last written: the watchers of a fan-out allowed the same
/// view get the same bytes, encoded once, not once per NOTIFY.
#[derive(Debug, Default)]
pub(super) struct LastBody {
    entity: String,
    fields: Option<PresenceFields>,
    bytes: Vec<u8>,
}

impl LastBody {
    fn of(&mut self, entity: String, fields: &PresenceFields, lang: Lang) -> Vec<u8> {
        if self.entity != entity || self.fields.as_ref() != Some(fields) {
            self.bytes = pidf::encode(&entity, fields, lang).into_bytes();
            self.entity = entity;
            self.fields = Some(fields.clone());
        }
        self.bytes.clone()
    }
}

/// The next NOTIFY of `dialog` (its CSeq moves on): active with the
/// remaining time, or terminated when the dialog is ending; `fields` as its
/// body (from `last` when it is the same). Returns its Via branch (its
/// transaction) and its bytes.
pub(super) fn write(
    dialog: &mut Dialog,
    here: &Advertised,
    dir: &Directory,
    fields: Option<&PresenceFields>,
    last: &mut LastBody,
    lang: Lang,
) -> (String, Vec<u8>) {
    let body = fields.map(|f| last.of(here.entity(dir, &dialog.presentity), f, lang));
    let contact = here.contact(Some(&dialog.presentity), &dialog.peer);
    let via_host = here.host_port(&dialog.peer);
    dialog.cseq = dialog.cseq.wrapping_add(1);
    let remaining = dialog
        .expires_at
        .saturating_duration_since(Instant::now())
        .as_secs();
    let state = match dialog.ending {
        Some(ending) => ending.subscription_state(),
        None if remaining == 0 => Ending::Timeout.subscription_state(),
        None => format!("active;expires={remaining}"),
    };
    let branch = format!("z9hG4bK{}", random_token());
    let mut notify = Message::request("NOTIFY", &dialog.remote_target);
    notify
        .push(
            "Via",
            format!(
                "SIP/2.0/{} {};branch={branch};rport",
                dialog.peer.transport(),
                via_host
            ),
        )
        .push("Max-Forwards", "70")
        .push("From", dialog.local_party.clone())
        .push("To", dialog.remote_party.clone())
        .push("Call-ID", dialog.call_id.clone())
        .push("CSeq", format!("{} NOTIFY", dialog.cseq))
        .push("Contact", contact)
        .push("Event", "presence")
        .push("Subscription-State", state);
    if let Some(body) = body {
        notify.set_body(PIDF, body);
    }
    (branch, notify.to_bytes())
}
