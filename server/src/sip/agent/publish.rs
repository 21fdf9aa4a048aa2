//! The publications: PUBLISH (RFC 3903), a desk phone publishing its
//! presence. Each publication has an entity-tag (`SIP-ETag`, which a refresh
//! or a removal names in `SIP-If-Match`) and lives until its Expires. A
//! person with several devices (a desk phone and a softphone) has one
//! publication each; their presence is the one changed last among the live
//! ones (§4.4's composition, kept simple), so a device that stops refreshing
//! never hides one that is still live. When the last one ends, they are offline.
//!
//! [`Publications`] owns the live publications (by entity-tag and by person)
//! and the ones the group being stored made. The router has checked the
//! request's event, its presentity, that the publisher is that person, and
//! their trust (digest) before a PUBLISH comes here; presence itself goes to
//! the engine, in the group's transaction. On a store shared by instances
//! each stored publication names the instance that holds it, as a dialog
//! does (see `takeover`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Local, Utc};
use mailpresence_protocol::model::{AccountName, Activity, ActivityToken, Contact, PresenceFields};
use mailpresence_protocol::pidf;
use serde::{Deserialize, Serialize};
use tracing::{debug, info, warn};

mod takeover;

use super::reply::{Handled, Reply};
use super::{PIDF, keys_where, random_token, stored};
use crate::directory::{Directory, Person};
use crate::hub::{Batch, Hub};
use crate::sip::message::Message;
use crate::store::Medium;
/// What a stored publication holds (its expiry is the store row's). A
/// restart must not forget publications, or a phone's removal (`SIP-If-Match`
/// with `Expires: 0`) would meet a 412 and its person stay "online" for good.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    account: AccountName,
    fields: PresenceFields,
    changed_at: DateTime<Utc>,
    /// The instance that holds it (empty in records written before
    /// instances shared a store: whoever starts takes them).
    #[serde(default)]
    owner: String,
}

impl stored::Held for Stored {
    fn owner(&self) -> &str {
        &self.owner
    }
    fn set_owner(&mut self, instance: &str) {
        instance.clone_into(&mut self.owner);
    }
}

impl Stored {
    fn into_publication(self, left: Duration) -> Publication {
        let ago = (Utc::now() - self.changed_at).to_std().unwrap_or_default();
        Publication {
            account: self.account,
            expires_at: Instant::now() + left,
            fields: self.fields,
            changed_at: Instant::now().checked_sub(ago).unwrap_or_else(Instant::now),
        }
    }
}

/// One phone's presence publication.
#[derive(Debug)]
struct Publication {
    account: AccountName,
    expires_at: Instant,
    /// What it last said, and when (a refresh without a body keeps both).
    fields: PresenceFields,
    changed_at: Instant,
}

/// The live publications by entity-tag, and each person's entity-tags: a
/// PUBLISH looks at its person's few publications (their bound, the one to
/// compose) without going through everyone's, which under load cost more
/// than the rest of the PUBLISH.
#[derive(Debug, Default)]
pub(super) struct Publications {
    by_etag: HashMap<String, Publication>,
    by_person: HashMap<AccountName, Vec<String>>,
    /// Live publications one person may have (one per device).
    max_per_person: usize,
    /// Entity-tags made by the group being stored: forgotten if its commit
    /// fails, since their PUBLISHes are then answered 500.
    made: Vec<String>,
    /// The store is shared with other instances (PostgreSQL): publications
    /// change hands between them (see `takeover`).
    shared: bool,
}

impl Publications {
    /// The publications stored by an earlier run, or by an instance on the
    /// shared store whose heartbeat stopped, still live: this instance takes
    /// them over.
    pub(super) fn resume(hub: &Hub, max_per_person: usize) -> Self {
        let mut publications = Self {
            max_per_person,
            shared: hub.store().is_shared(),
            ..Self::default()
        };
        if let Err(e) = hub.steps(|b| publications.adopt_orphans(b)) {
            warn!(error = %e, "stored SIP publications not taken over; phones publish again on their refresh");
        }
        publications
    }

    /// A group of requests begins: nothing is made by it yet.
    pub(super) fn begin_group(&mut self) {
        self.made.clear();
    }

    /// The group's commit failed: the publications it made go from memory
    /// too (the store rolled them back).
    pub(super) fn undo_group(&mut self) {
        for etag in std::mem::take(&mut self.made) {
            self.remove(&etag);
        }
    }

    fn get(&self, etag: &str) -> Option<&Publication> {
        self.by_etag.get(etag)
    }

    /// Adds (or replaces) publication `etag`.
    fn insert(&mut self, etag: String, publication: Publication) {
        self.remove(&etag);
        self.by_person
            .entry(publication.account.clone())
            .or_default()
            .push(etag.clone());
        self.by_etag.insert(etag, publication);
    }

    fn remove(&mut self, etag: &str) -> Option<Publication> {
        let gone = self.by_etag.remove(etag)?;
        self.unlist(&gone.account, etag);
        Some(gone)
    }

    fn unlist(&mut self, account: &AccountName, etag: &str) {
        if let Some(mine) = self.by_person.get_mut(account) {
            mine.retain(|e| e != etag);
            if mine.is_empty() {
                self.by_person.remove(account);
            }
        }
    }

    /// `account`'s publications, with their entity-tags.
    fn of<'a>(
        &'a self,
        account: &AccountName,
    ) -> impl Iterator<Item = (&'a str, &'a Publication)> + 'a {
        self.by_person
            .get(account)
            .into_iter()
            .flatten()
            .filter_map(|etag| Some((etag.as_str(), self.by_etag.get(etag)?)))
    }

    /// The entity-tags of the publications that `matches`.
    fn etags_where(&self, matches: impl Fn(&Publication) -> bool) -> Vec<String> {
        keys_where(&self.by_etag, matches)
    }

    /// A PUBLISH for `person` lasting `expires`, checked by the router (the
    /// event, the presentity and publisher, their trust, the Expires).
    pub(super) fn publish(
        &mut self,
        req: &Message,
        person: &Person,
        expires: u32,
        b: &mut Batch<'_>,
    ) -> Handled {
        let fields = body_fields(req, person).map_err(|r| r.with("Accept", PIDF))?;
        let if_match = req.header("SIP-If-Match").map(str::trim).map(str::to_owned);
        if let Some(etag) = &if_match {
            self.follow_store(etag, b);
        }
        if let Some(etag) = &if_match
            && self.get(etag).is_none_or(|p| p.account != person.account)
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
                self.recompose(person, &old, b);
            }
            return Ok(Reply::ok().with("Expires", "0"));
        }
        let (kept, changed_at) = match (&fields, old) {
            (Some(new), _) => (new.clone(), Instant::now()),
            (None, Some(old)) => (old.fields, old.changed_at),
            (None, None) => return Err(Reply::new(500, "Server Internal Error")),
        };
        if if_match.is_none() {
            self.make_room(&person.account, b);
        }
        let etag = random_token();
        let publication = Publication {
            account: person.account.clone(),
            expires_at: Instant::now() + Duration::from_secs(u64::from(expires)),
            fields: kept,
            changed_at,
        };
        store_publication(&etag, &publication, b);
        self.insert(etag.clone(), publication);
        self.made.push(etag.clone());
        if let Some(fields) = fields
            && let Err(e) = b.step(|engine, tx, now| {
                engine
                    .publish(tx, &person.account, fields, Medium::Sip, now)
                    .map(Some)
            })
        {
            warn!(error = %e, "PUBLISH not stored");
            self.remove(&etag);
            return Err(Reply::new(500, "Server Internal Error"));
        }
        info!(account = %person.account, expires, refresh = if_match.is_some(), "presence published over SIP");
        Ok(Reply::ok()
            .with("SIP-ETag", etag)
            .with("Expires", expires.to_string()))
    }

    /// Publications whose time is up go (the phone did not refresh); each
    /// person's presence is composed again from what is left.
    /// On a shared store, a person whose device publishes through another
    /// instance now keeps that presence.
    pub(super) fn expire(&mut self, now: Instant, dir: &Directory, b: &mut Batch<'_>) {
        for etag in self.etags_where(|p| p.expires_at <= now) {
            if let Some(p) = self.unpublish(&etag, b)
                && !self.published_elsewhere(&p.account, b)
                && let Some(person) = dir.person(&p.account).cloned()
            {
                info!(account = %p.account, "publication expired");
                self.recompose(&person, &p, b);
            }
        }
    }

    /// Forgets publication `etag`, in memory and in the store.
    fn unpublish(&mut self, etag: &str, b: &mut Batch<'_>) -> Option<Publication> {
        let gone = self.remove(etag)?;
        stored::delete(b, stored::PUBLICATION, etag);
        Some(gone)
    }

    /// A person's device stopped publishing (`gone`): when it was the one
    /// that set their presence, the live publication changed last takes its
    /// place; when none is left, they are offline.
    fn recompose(&self, person: &Person, gone: &Publication, b: &mut Batch<'_>) {
        let latest = self
            .of(&person.account)
            .map(|(_, p)| p)
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
    fn make_room(&mut self, account: &AccountName, b: &mut Batch<'_>) {
        if self.of(account).count() < self.max_per_person {
            return;
        }
        let oldest = self
            .of(account)
            .min_by_key(|(_, p)| p.expires_at)
            .map(|(etag, _)| etag.to_owned());
        if let Some(etag) = oldest {
            debug!(%account, "publications at their bound; the oldest is dropped");
            self.unpublish(&etag, b);
        }
    }
}

/// The PIDF body of a PUBLISH as presence fields; `None` without a body.
fn body_fields(req: &Message, person: &Person) -> Result<Option<PresenceFields>, Reply> {
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
            .as_deref()
            .map_or_else(|| person.account.to_string().into(), Contact::parse);
    }
    Ok(Some(decoded.fields))
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
        owner: b.instance().to_owned(),
    };
    let left = p.expires_at.saturating_duration_since(Instant::now());
    stored::put(b, stored::PUBLICATION, etag, &record, left);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(name: &str) -> AccountName {
        name.parse().unwrap()
    }

    fn publication(name: &str, expires_in: u64) -> Publication {
        Publication {
            account: account(name),
            expires_at: Instant::now() + Duration::from_secs(expires_in),
            fields: PresenceFields::new(
                format!("sip:{name}@example.test"),
                Activity::token(ActivityToken::Offline),
            ),
            changed_at: Instant::now(),
        }
    }

    fn etags_of(publications: &Publications, name: &str) -> Vec<String> {
        let mut etags: Vec<String> = publications
            .of(&account(name))
            .map(|(e, _)| e.to_owned())
            .collect();
        etags.sort();
        etags
    }

    #[test]
    fn each_person_sees_only_their_own_publications() {
        let mut p = Publications::default();
        p.insert("a1".into(), publication("tanaka", 60));
        p.insert("a2".into(), publication("tanaka", 60));
        p.insert("b1".into(), publication("sato", 60));
        assert_eq!(etags_of(&p, "tanaka"), ["a1", "a2"]);
        assert_eq!(etags_of(&p, "sato"), ["b1"]);
        assert!(etags_of(&p, "ito").is_empty());

        assert_eq!(p.remove("a1").unwrap().account, account("tanaka"));
        assert!(p.remove("a1").is_none());
        assert!(p.get("a1").is_none());
        assert_eq!(etags_of(&p, "tanaka"), ["a2"]);

        // The same entity-tag again replaces, even for someone else.
        p.insert("a2".into(), publication("tanaka", 120));
        assert_eq!(etags_of(&p, "tanaka"), ["a2"]);
        p.insert("a2".into(), publication("sato", 60));
        assert!(etags_of(&p, "tanaka").is_empty());
        assert_eq!(etags_of(&p, "sato"), ["a2", "b1"]);
        assert!(!p.by_person.contains_key(&account("tanaka")));

        let expired = p.etags_where(|x| x.account == account("sato"));
        assert_eq!(expired.len(), 2);
    }

    #[test]
    fn a_persons_publications_are_found_without_going_through_everyones() {
        // 100,000 publications of others, then 10,000 PUBLISHes' worth of
        // looking at one person's: a scan of all of them each time (what
        // made PUBLISH crawl under load) takes minutes; the index, milliseconds.
        let mut p = Publications::default();
        for i in 0..100_000 {
            p.insert(
                format!("e{i}"),
                publication(&format!("u{}", i % 12_500), 60),
            );
        }
        p.insert("mine".into(), publication("w1", 30));
        let me = account("w1");
        let started = Instant::now();
        for _ in 0..10_000 {
            assert_eq!(p.of(&me).count(), 1);
            assert_eq!(
                p.of(&me).min_by_key(|(_, x)| x.expires_at).map(|(e, _)| e),
                Some("mine")
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
}
