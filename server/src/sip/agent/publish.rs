//! PUBLISH (RFC 3903): a desk phone publishes its presence. Each publication
//! lives until its Expires. A person with several devices (a desk phone and a
//! softphone) has one publication each; their presence is the one changed
//! last among the live ones (§4.4's composition, kept simple), so a device
//! that stops refreshing never hides one that is still live. When the last
//! one ends, they are offline.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Local, Utc};
use mailpresence_core::model::{AccountName, Activity, ActivityToken, PresenceFields};
use mailpresence_core::pidf;
use serde::{Deserialize, Serialize};
use tracing::{debug, info, warn};

use super::reply::{Handled, Reply};
use super::{Agent, Made, PIDF, is_presence_event, keys_where, random_token, stored};
use crate::directory::Person;
use crate::hub::{Batch, Hub};
use crate::sip::message::{Message, uri_of};
use crate::sip::transport::Peer;
use crate::store::Medium;

/// What a stored publication holds (its expiry is the store row's). A
/// restart must not forget publications, or a phone's removal (`SIP-If-Match`
/// with `Expires: 0`) would meet a 412 and its person stay "online" for good.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    account: AccountName,
    fields: PresenceFields,
    changed_at: DateTime<Utc>,
}

/// One phone's presence publication.
#[derive(Debug)]
pub(super) struct Publication {
    pub(super) account: AccountName,
    pub(super) expires_at: Instant,
    /// What it last said, and when (a refresh without a body keeps both).
    fields: PresenceFields,
    changed_at: Instant,
}

impl Agent {
    pub(super) fn on_publish(&mut self, req: &Message, peer: &Peer, b: &mut Batch<'_>) -> Handled {
        if !is_presence_event(req) {
            return Err(Reply::new(489, "Bad Event").with("Allow-Events", "presence"));
        }
        let person = self
            .presentity(req)
            .cloned()
            .ok_or_else(|| Reply::new(404, "Not Found"))?;
        let publisher = req
            .header("From")
            .map(uri_of)
            .and_then(|u| self.hub.engine.directory().by_sip_uri(u));
        if publisher.is_none_or(|p| p.account != person.account) {
            warn!(presentity = %person.account, from = req.header("From").unwrap_or("-"), "PUBLISH for someone else refused");
            return Err(Reply::new(403, "Forbidden"));
        }
        self.authorize(req, peer, &person)?;
        let expires = self.expires(req)?;
        let fields = self
            .publish_body(req, &person)
            .map_err(|r| r.with("Accept", PIDF))?;
        let if_match = req.header("SIP-If-Match").map(str::trim).map(str::to_owned);
        if let Some(etag) = &if_match
            && self
                .publications
                .get(etag)
                .is_none_or(|p| p.account != person.account)
        {
            return Err(Reply::new(412, "Conditional Request Failed"));
        }
        if if_match.is_none() && fields.is_none() {
            return Err(
                Reply::new(400, "Bad Request").because("an initial PUBLISH needs a PIDF body")
            );
        }
        let old = if_match.as_ref().and_then(|e| self.unpublish(e, b));
        if expires == 0 {
            info!(account = %person.account, "publication removed");
            if let Some(old) = old {
                self.recompose(&person, &old, b);
            }
            return Ok(Reply::ok().with("Expires", "0"));
        }
        let (kept, changed_at) = match (&fields, old) {
            (Some(new), _) => (new.clone(), Instant::now()),
            (None, Some(old)) => (old.fields, old.changed_at),
            (None, None) => return Err(Reply::new(500, "Server Internal Error")),
        };
        if if_match.is_none() {
            self.make_room_for_publication(&person.account, b);
        }
        let etag = random_token();
        let publication = Publication {
            account: person.account.clone(),
            expires_at: Instant::now() + Duration::from_secs(u64::from(expires)),
            fields: kept,
            changed_at,
        };
        store_publication(&etag, &publication, b);
        self.publications.insert(etag.clone(), publication);
        self.made.push(Made::Publication(etag.clone()));
        if let Some(fields) = fields
            && let Err(e) = b.step(|engine, tx, now| {
                engine
                    .publish(tx, &person.account, fields, Medium::Sip, now)
                    .map(Some)
            })
        {
            warn!(error = %e, "PUBLISH not stored");
            self.publications.remove(&etag);
            return Err(Reply::new(500, "Server Internal Error"));
        }
        info!(account = %person.account, expires, refresh = if_match.is_some(), "presence published over SIP");
        Ok(Reply::ok()
            .with("SIP-ETag", etag)
            .with("Expires", expires.to_string()))
    }

    /// The PIDF body of a PUBLISH as presence fields; `None` without a body.
    pub(super) fn publish_body(
        &self,
        req: &Message,
        person: &Person,
    ) -> Result<Option<PresenceFields>, Reply> {
        if req.body.is_empty() {
            return Ok(None);
        }
        let content_type = req.header("Content-Type").unwrap_or_default();
        if !content_type.trim().to_ascii_lowercase().starts_with(PIDF) {
            return Err(Reply::new(415, "Unsupported Media Type"));
        }
        let mut decoded = pidf::decode(&req.body).map_err(|e| {
            debug!(error = %e, "bad PIDF in PUBLISH");
            Reply::new(400, "Bad Request").because("the body is not PIDF")
        })?;
        if decoded.fields.contact.is_empty() {
            decoded.fields.contact = person
                .sip
                .clone()
                .unwrap_or_else(|| person.account.to_string());
        }
        Ok(Some(decoded.fields))
    }

    pub(super) fn expire_publications(&mut self, now: Instant, b: &mut Batch<'_>) {
        for etag in keys_where(&self.publications, |p| p.expires_at <= now) {
            if let Some(p) = self.unpublish(&etag, b)
                && let Some(person) = self.hub.engine.directory().person(&p.account).cloned()
            {
                info!(account = %p.account, "publication expired");
                self.recompose(&person, &p, b);
            }
        }
    }

    /// Forgets publication `etag`, in memory and in the store.
    fn unpublish(&mut self, etag: &str, b: &mut Batch<'_>) -> Option<Publication> {
        let gone = self.publications.remove(etag)?;
        stored::delete(b, stored::PUBLICATION, etag);
        Some(gone)
    }

    /// A person's device stopped publishing (`gone`): when it was the one
    /// that set their presence, the live publication changed last takes its
    /// place; when none is left, they are offline.
    fn recompose(&self, person: &Person, gone: &Publication, b: &mut Batch<'_>) {
        let latest = self
            .publications
            .values()
            .filter(|p| p.account == person.account)
            .max_by_key(|p| p.changed_at);
        let fields = match latest {
            Some(live) if live.changed_at > gone.changed_at => return,
            Some(live) => {
                let mut fields = live.fields.clone();
                // Newer than what `gone` said, or the engine would keep that.
                fields.updated = Some(Local::now().fixed_offset());
                fields
            }
            None => offline(person),
        };
        if let Err(e) = b.step(|engine, tx, now| {
            engine
                .publish(tx, &person.account, fields, Medium::Sip, now)
                .map(Some)
        }) {
            warn!(error = %e, "presence after a publication ended not stored");
        }
    }

    /// A new publication of `account` fits under the bound: the one refreshed
    /// longest ago goes when not (a phone that reboots publishes anew each time).
    fn make_room_for_publication(&mut self, account: &AccountName, b: &mut Batch<'_>) {
        let mine = || {
            self.publications
                .iter()
                .filter(|(_, p)| &p.account == account)
        };
        if mine().count() < self.config.max_publications_per_person {
            return;
        }
        let oldest = mine()
            .min_by_key(|(_, p)| p.expires_at)
            .map(|(etag, _)| etag.clone());
        if let Some(etag) = oldest {
            debug!(%account, "publications at their bound; the oldest is dropped");
            self.unpublish(&etag, b);
        }
    }
}

/// `person` with no device publishing.
fn offline(person: &Person) -> PresenceFields {
    let contact = person
        .sip
        .clone()
        .or_else(|| person.mail.clone())
        .unwrap_or_default();
    let mut fields = PresenceFields::new(contact, Activity::token(ActivityToken::Offline));
    fields.updated = Some(Local::now().fixed_offset());
    fields
}

/// Writes `p` to the store with the group, so that it outlives a restart.
fn store_publication(etag: &str, p: &Publication, b: &mut Batch<'_>) {
    let ago = chrono::Duration::from_std(p.changed_at.elapsed()).unwrap_or_default();
    let record = Stored {
        account: p.account.clone(),
        fields: p.fields.clone(),
        changed_at: Utc::now() - ago,
    };
    let left = p.expires_at.saturating_duration_since(Instant::now());
    stored::put(b, stored::PUBLICATION, etag, &record, left);
}

/// The publications stored by an earlier run, still live.
pub(super) fn resume(hub: &Hub) -> HashMap<String, Publication> {
    let now = Utc::now();
    stored::load::<Stored>(hub, stored::PUBLICATION)
        .into_iter()
        .map(|(etag, s, left)| {
            let ago = (now - s.changed_at).to_std().unwrap_or_default();
            let publication = Publication {
                account: s.account,
                expires_at: Instant::now() + left,
                fields: s.fields,
                changed_at: Instant::now().checked_sub(ago).unwrap_or_else(Instant::now),
            };
            (etag, publication)
        })
        .collect()
}
