//! Publications changing hands between instances on a shared store, and
//! from an earlier run to the next: each stored publication names the
//! instance holding it. A phone's refresh reaches another instance when the
//! one it published through died (a dispatcher in front fails over); that
//! instance takes the publication from the store instead of answering 412,
//! so the phone's presence does not flap to offline and back. When an
//! instance's heartbeat stops, the survivor takes all its publications, so
//! those whose phone went quiet still end (offline) when they expire.

use std::time::Duration;

use mailpresence_protocol::model::AccountName;
use tracing::{info, warn};

use super::{Publications, Stored};
use crate::hub::Batch;
use crate::sip::agent::stored;

/// How long a publication taken over on its refresh is held before that
/// refresh replaces it (its remaining time is the store row's, not read
/// here): only matters if the refresh fails after the take-over.
const ADOPTED_ON_REFRESH_LASTS: Duration = Duration::from_secs(60);

impl Publications {
    /// Takes over the stored publications whose instance is gone (see
    /// [`stored::adopt_orphans`]).
    pub(in crate::sip::agent) fn adopt_orphans(&mut self, b: &mut Batch<'_>) {
        let adopted = match stored::adopt_orphans::<Stored>(b, stored::PUBLICATION) {
            Ok(adopted) => adopted,
            Err(e) => {
                warn!(error = %e, "stored SIP publications not readable; phones publish again on their refresh");
                return;
            }
        };
        if !adopted.is_empty() {
            info!(count = adopted.len(), "took over stored SIP publications");
        }
        for (etag, s, left) in adopted {
            self.insert(etag, s.into_publication(left));
        }
    }

    /// A refresh or removal naming `etag`, on a shared store, where the
    /// store is the truth: one made through another instance is taken from
    /// it, and one another instance refreshed since (so it is gone from the
    /// store) is let go here, so that the request is answered 412 as it
    /// would be there.
    pub(super) fn follow_store(&mut self, etag: &str, b: &mut Batch<'_>) {
        if !self.shared {
            return;
        }
        let mut found = None;
        let read = b.step(|_, tx, now| {
            found = tx.live_record(stored::PUBLICATION, etag, now)?;
            Ok(None)
        });
        if let Err(e) = read {
            // Memory stands in: the request is answered from it.
            warn!(error = %e, %etag, "stored SIP publication not readable");
            return;
        }
        let stored = found.and_then(|json| serde_json::from_str::<Stored>(&json).ok());
        match (self.get(etag).is_some(), stored) {
            (true, None) => {
                info!(%etag, "a publication refreshed through another instance is let go here");
                self.remove(etag);
            }
            (false, Some(s)) => {
                info!(account = %s.account, "a publication made through another instance is refreshed here");
                self.insert(
                    etag.to_owned(),
                    s.into_publication(ADOPTED_ON_REFRESH_LASTS),
                );
            }
            _ => {}
        }
    }

    /// Whether `account` has a live publication held by another instance
    /// (its phone's refresh went there): then the end of one here does not
    /// make them offline.
    pub(super) fn published_elsewhere(&self, account: &AccountName, b: &mut Batch<'_>) -> bool {
        if !self.shared {
            return false;
        }
        let me = b.instance().to_owned();
        let mut elsewhere = false;
        let read = b.step(|_, tx, now| {
            elsewhere = tx
                .records(stored::PUBLICATION, now)?
                .into_iter()
                .filter_map(|(_, json, _)| serde_json::from_str::<Stored>(&json).ok())
                .any(|s| &s.account == account && s.owner != me);
            Ok(None)
        });
        read.is_ok() && elsewhere
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test may stop at the first surprise

    use std::sync::Arc;
    use std::time::Instant;

    use mailpresence_protocol::model::{Activity, PresenceFields};

    use super::super::{Publication, store_publication};
    use super::*;
    use crate::directory::Directory;
    use crate::engine::Engine;
    use crate::hub::Hub;
    use crate::store::tests::fresh_postgres_settings;
    use crate::store::{Database, PgStore};

    fn instance(store: impl Into<Database>) -> Arc<Hub> {
        let engine = Engine::new(
            Directory::from_config(&[], &[]),
            Default::default(),
            "presence@example.test",
        );
        Hub::new(store, engine, "presence@example.test".into())
    }

    /// `n` instances on one fresh PostgreSQL schema.
    fn instances(n: usize) -> Vec<Arc<Hub>> {
        let settings = fresh_postgres_settings();
        (0..n)
            .map(|_| instance(PgStore::open(settings.clone()).unwrap()))
            .collect()
    }

    fn shared() -> Publications {
        Publications {
            max_per_person: 4,
            shared: true,
            ..Publications::default()
        }
    }

    /// tanaka's desk phone says 会議中, for ten more minutes.
    fn publication() -> Publication {
        Publication {
            account: "tanaka".parse().unwrap(),
            expires_at: Instant::now() + Duration::from_secs(600),
            fields: PresenceFields::new(
                "sip:tanaka@example.test",
                Activity::parse("meeting — 会議中").unwrap(),
            ),
            changed_at: Instant::now(),
        }
    }

    /// `hub` made publication `etag` (in its memory and the store).
    fn publish_through(hub: &Hub, held: &mut Publications, etag: &str) {
        let p = publication();
        hub.steps(|b| store_publication(etag, &p, b)).unwrap();
        held.insert(etag.into(), p);
    }

    fn set_heartbeat(hub: &Hub, live: bool) {
        hub.steps(|b| {
            b.step(|_, tx, now| {
                if live {
                    let lasts = chrono::Duration::minutes(1);
                    tx.put_record(stored::INSTANCE, &hub.instance, "{}", now + lasts)?;
                } else {
                    tx.delete_record(stored::INSTANCE, &hub.instance)?;
                }
                Ok(None)
            })
        })
        .unwrap()
        .unwrap();
    }

    #[test]
    fn a_refresh_through_the_other_instance_takes_the_publication_and_the_first_lets_go() {
        let [one, other] = <[_; 2]>::try_from(instances(2)).unwrap();
        let (mut held_by_one, mut held_by_other) = (shared(), shared());
        publish_through(&one, &mut held_by_one, "e1");

        // The phone's refresh reached the other instance: it finds e1 there.
        other
            .steps(|b| held_by_other.follow_store("e1", b))
            .unwrap();
        let taken = held_by_other.get("e1").expect("taken from the store");
        assert_eq!(taken.account.as_str(), "tanaka");
        assert_eq!(taken.fields.activity.text.as_deref(), Some("会議中"));

        // The refresh replaced e1 by e2 there; a late refresh of e1 through
        // the first is then answered as the other would (412): let go.
        other
            .steps(|b| {
                held_by_other.unpublish("e1", b);
                store_publication("e2", &publication(), b);
            })
            .unwrap();
        one.steps(|b| held_by_one.follow_store("e1", b)).unwrap();
        assert!(held_by_one.get("e1").is_none(), "let go of e1");
        // tanaka's phone still publishes, through the other: when something
        // of tanaka's ends on the first, they are not made offline.
        assert!(
            one.steps(|b| held_by_one.published_elsewhere(&taken_account(), b))
                .unwrap()
        );
        assert!(
            !other
                .steps(|b| held_by_other.published_elsewhere(&taken_account(), b))
                .unwrap(),
            "the other holds tanaka's only publication itself"
        );
    }

    fn taken_account() -> AccountName {
        "tanaka".parse().unwrap()
    }

    #[test]
    fn the_publications_of_an_instance_whose_heartbeat_stopped_are_taken_over_once() {
        let [one, other, third] = <[_; 3]>::try_from(instances(3)).unwrap();
        let (mut held_by_one, mut held_by_other, mut held_by_third) =
            (shared(), shared(), shared());
        set_heartbeat(&one, true);
        set_heartbeat(&other, true);
        publish_through(&one, &mut held_by_one, "e1");

        // While the first beats, its publications stay its own.
        other.steps(|b| held_by_other.adopt_orphans(b)).unwrap();
        assert!(held_by_other.get("e1").is_none());

        // It died: the other takes e1 over, with the time it had left, and
        // owns it in the store (a third instance would not take it again).
        set_heartbeat(&one, false);
        other.steps(|b| held_by_other.adopt_orphans(b)).unwrap();
        let taken = held_by_other.get("e1").expect("taken over");
        let left = taken.expires_at.saturating_duration_since(Instant::now());
        assert!(left > Duration::from_secs(590), "{left:?}");
        third.steps(|b| held_by_third.adopt_orphans(b)).unwrap();
        assert!(
            held_by_third.get("e1").is_none(),
            "owned by a live instance"
        );
    }
}
