//! The company directory on the phone and the colleagues its worker follows.
//! The phone asks the server with a Directory mail and keeps the People mail
//! it gets back (only colleagues the server's rules let this worker see), so
//! a search by name, kana or romaji works offline and at once. Follows are
//! kept in the store, not in a screen: they survive leaving the screen and a
//! restart, and their watches are renewed before the server lets them lapse.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use tracing::info;

use super::client::Terminal;
use super::events::Event;
use super::send_queue::envelope;
use crate::error::Error;
use mailpresence_protocol::mail::{self, DirectoryQuery, People, PresenceMessage, SubscribeMode};
use mailpresence_protocol::people::{DirectoryEntry, Search};

/// Results of one local search: a list a person scrolls.
pub const SEARCH_RESULTS: usize = 50;
/// Colleagues one worker may follow: each is a watch the server keeps.
pub const MAX_FOLLOWED: usize = 100;
/// A server keeps a watch a day at most (`[presence] watch_max_secs`); the
/// phone asks again after half of that.
const RENEW_FOLLOWS_AFTER: Duration = Duration::hours(12);

/// The directory as the server last sent it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DirectoryCopy {
    pub people: Vec<DirectoryEntry>,
    /// How many the server had; more than `people` when one mail could not hold them all.
    pub total: u32,
    pub received_at: Option<DateTime<Utc>>,
    /// When the server wrote the answer kept (its Date): an older one is ignored.
    #[serde(default)]
    pub answered_at: Option<DateTime<Utc>>,
}

impl Terminal {
    /// Queues a Directory mail (everyone this worker may see, or those `query` finds).
    pub fn request_directory(&self, query: Option<String>) -> Result<(), Error> {
        let query = query.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty());
        if query
            .as_ref()
            .is_some_and(|q| q.chars().count() > mail::MAX_QUERY_CHARS)
        {
            return Err(Error::InvalidInput(format!(
                "a search is at most {} characters",
                mail::MAX_QUERY_CHARS
            )));
        }
        let message = PresenceMessage::Directory(DirectoryQuery {
            watcher: self.account.clone(),
            query,
        });
        let raw = mail::compose(&message, &envelope(&self.config))
            .map_err(|e| Error::InvalidInput(e.to_string()))?;
        let raw = self.signed(raw)?;
        self.store()
            .queue("Directory", &self.config.presence_server, &raw, Utc::now())?;
        self.queued()
    }

    pub fn directory(&self) -> Result<DirectoryCopy, Error> {
        Ok(self.store().pref("directory")?.unwrap_or_default())
    }

    /// The colleagues of the kept directory that `query` finds, in the
    /// server's order (own department first); at most [`SEARCH_RESULTS`].
    pub fn search_directory(&self, query: &str) -> Result<Vec<DirectoryEntry>, Error> {
        Ok(self
            .directory()?
            .people
            .into_iter()
            .filter(|e| e.matches(query))
            .take(SEARCH_RESULTS)
            .collect())
    }

    /// A proven People mail, written at `sent_at` (its Date): the whole
    /// directory replaces the kept one; a query's answer brings those it
    /// found, and when it is complete it also drops the kept ones it no longer
    /// lists (no longer visible to this worker). An answer older than the
    /// one kept (mail overtakes mail) changes nothing.
    pub(super) fn take_people(
        &self,
        people: People,
        sent_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let listed = u32::try_from(people.people.len()).unwrap_or(u32::MAX);
        let mut copy = self.directory()?;
        let written = sent_at.unwrap_or(now);
        if copy.answered_at.is_some_and(|kept| written < kept) {
            info!("an older directory answer arrived after a newer one; ignored");
            return Ok(());
        }
        match &people.query {
            None => {
                copy.people = people.people;
                copy.total = people.total;
            }
            Some(query) => {
                if people.total == listed {
                    let search = Search::new(query);
                    copy.people.retain(|e| {
                        !search.finds(&e.search_text())
                            || people.people.iter().any(|n| n.account == e.account)
                    });
                }
                for entry in people.people {
                    match copy.people.iter_mut().find(|e| e.account == entry.account) {
                        Some(known) => *known = entry,
                        None => copy.people.push(entry),
                    }
                }
                copy.total = copy
                    .total
                    .max(u32::try_from(copy.people.len()).unwrap_or(u32::MAX));
            }
        }
        copy.received_at = Some(now);
        copy.answered_at = Some(written);
        self.store().set_pref("directory", &copy)?;
        info!(listed, total = people.total, "directory received");
        self.emit(Event::Directory {
            listed,
            total: people.total,
        });
        Ok(())
    }

    /// The accounts this worker follows, in the order they were followed.
    pub fn following(&self) -> Result<Vec<String>, Error> {
        Ok(self.store().pref("following")?.unwrap_or_default())
    }

    /// Follows colleagues: kept, and watched from now on.
    pub fn follow(&self, accounts: &[String]) -> Result<(), Error> {
        let mut following = self.following()?;
        let mut new: Vec<String> = Vec::new();
        for account in accounts.iter().map(|a| a.trim().to_owned()) {
            if !following.contains(&account) && !new.contains(&account) {
                new.push(account);
            }
        }
        if new.is_empty() {
            return Ok(());
        }
        if following.len() + new.len() > MAX_FOLLOWED {
            return Err(Error::InvalidInput(format!(
                "at most {MAX_FOLLOWED} colleagues can be followed"
            )));
        }
        // Checked and queued first: a name that is no account changes nothing.
        self.subscribe(&new, SubscribeMode::Watch, None)?;
        following.extend(new);
        self.store().set_pref("following", &following)?;
        Ok(())
    }

    /// Stops following colleagues: their watches end on the server.
    pub fn unfollow(&self, accounts: &[String]) -> Result<(), Error> {
        let mut following = self.following()?;
        let gone: Vec<String> = accounts
            .iter()
            .map(|a| a.trim().to_owned())
            .filter(|a| following.contains(a))
            .collect();
        if gone.is_empty() {
            return Ok(());
        }
        self.subscribe(&gone, SubscribeMode::Watch, Some(0))?;
        following.retain(|a| !gone.contains(a));
        self.store().set_pref("following", &following)?;
        Ok(())
    }

    /// Asks again for the followed colleagues' watches when the last ask
    /// is half a server's watch old (at start, and at each sync). Returns
    /// whether it asked.
    pub fn renew_follows(&self, now: DateTime<Utc>) -> Result<bool, Error> {
        let following = self.following()?;
        let last: Option<DateTime<Utc>> = self.store().pref("follows_renewed_at")?;
        // A time ahead of now (the clock was wrong) counts as due, or the
        // watches would lapse unnoticed.
        let recent = last.is_some_and(|t| t <= now && now - t < RENEW_FOLLOWS_AFTER);
        if following.is_empty() || recent {
            return Ok(false);
        }
        self.subscribe(&following, SubscribeMode::Watch, None)?;
        self.store().set_pref("follows_renewed_at", &now)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::terminal::testing::{offline_config, open};

    fn entry(account: &str, name: &str, reading: &str) -> DirectoryEntry {
        DirectoryEntry {
            account: account.into(),
            name: name.into(),
            reading: Some(reading.into()),
            department: None,
            extension: None,
            mail: Some(format!("{account}@example.co.jp")),
        }
    }

    fn people(query: Option<&str>, entries: Vec<DirectoryEntry>) -> People {
        People {
            watcher: "tanaka".parse().expect("account"),
            query: query.map(str::to_owned),
            total: u32::try_from(entries.len()).expect("small"),
            people: entries,
        }
    }

    fn kinds(terminal: &Terminal) -> Vec<String> {
        terminal
            .queued_mails()
            .expect("queue")
            .into_iter()
            .map(|(kind, _)| kind)
            .collect()
    }

    #[test]
    fn the_kept_directory_is_searched_by_kana_and_romaji_and_survives_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = open(offline_config(), dir.path());
        t.take_people(
            people(
                None,
                vec![
                    entry("yamada", "山田 花子", "やまだ はなこ"),
                    entry("suzuki", "鈴木 一郎", "すずき いちろう"),
                ],
            ),
            None,
            Utc::now(),
        )
        .expect("kept");
        drop(t);
        let t = open(offline_config(), dir.path());
        let found: Vec<String> = t
            .search_directory("suzuki")
            .expect("search")
            .into_iter()
            .map(|e| e.account)
            .collect();
        assert_eq!(found, ["suzuki"]);
        assert_eq!(t.search_directory("ヤマダ").expect("search").len(), 1);
        assert_eq!(t.search_directory("").expect("search").len(), 2);
    }

    #[test]
    fn a_query_answer_adds_to_the_directory_and_a_full_one_replaces_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = open(offline_config(), dir.path());
        t.take_people(
            people(None, vec![entry("yamada", "山田 花子", "やまだ はなこ")]),
            None,
            Utc::now(),
        )
        .expect("kept");
        t.take_people(
            people(
                Some("sato"),
                vec![entry("sato", "佐藤 次郎", "さとう じろう")],
            ),
            None,
            Utc::now(),
        )
        .expect("kept");
        assert_eq!(t.directory().expect("copy").people.len(), 2);
        t.take_people(
            people(None, vec![entry("abe", "阿部 三郎", "あべ さぶろう")]),
            None,
            Utc::now(),
        )
        .expect("kept");
        let copy = t.directory().expect("copy");
        assert_eq!(copy.people.len(), 1);
        assert_eq!(copy.people[0].account, "abe");
    }

    #[test]
    fn a_complete_query_answer_drops_who_is_no_longer_visible_and_an_older_answer_is_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = open(offline_config(), dir.path());
        let now = Utc::now();
        t.take_people(
            people(
                None,
                vec![
                    entry("yamada", "山田 花子", "やまだ はなこ"),
                    entry("yamamoto", "山本 一", "やまもと はじめ"),
                ],
            ),
            Some(now - Duration::minutes(10)),
            now,
        )
        .expect("kept");
        // "yama" now finds only yamada: yamamoto left (or may no longer be seen).
        t.take_people(
            people(
                Some("yama"),
                vec![entry("yamada", "山田 花子", "やまだ はなこ")],
            ),
            Some(now),
            now,
        )
        .expect("kept");
        let accounts: Vec<String> = t
            .directory()
            .expect("copy")
            .people
            .into_iter()
            .map(|e| e.account)
            .collect();
        assert_eq!(accounts, ["yamada"]);
        // The full answer from before, delivered late, changes nothing.
        t.take_people(
            people(None, vec![entry("yamamoto", "山本 一", "やまもと はじめ")]),
            Some(now - Duration::minutes(5)),
            now,
        )
        .expect("ignored");
        assert_eq!(t.directory().expect("copy").people[0].account, "yamada");
    }

    #[test]
    fn follows_are_kept_watched_and_ended() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = open(offline_config(), dir.path());
        t.follow(&["yamada".into(), "suzuki".into()])
            .expect("follows");
        t.follow(&["yamada".into()]).expect("again: nothing new");
        t.follow(&["abe".into(), "abe".into()])
            .expect("once, though named twice");
        t.unfollow(&["abe".into()]).expect("unfollows");
        assert_eq!(t.following().expect("following"), ["yamada", "suzuki"]);
        assert_eq!(kinds(&t), ["Subscribe", "Subscribe", "Subscribe"]);
        // A name that is no account changes nothing.
        assert!(t.follow(&["bad name".into()]).is_err());
        assert_eq!(t.following().expect("following").len(), 2);
        drop(t);
        let t = open(offline_config(), dir.path());
        assert_eq!(t.following().expect("following"), ["yamada", "suzuki"]);
        t.unfollow(&["yamada".into()]).expect("unfollows");
        assert_eq!(t.following().expect("following"), ["suzuki"]);
        let last = t.queued_mails().expect("queue").pop().expect("a mail");
        let text = String::from_utf8_lossy(&last.1);
        assert!(
            text.contains("Notifier: yamada") && text.contains("Expires: 0"),
            "{text}"
        );
    }

    #[test]
    fn follows_are_renewed_after_half_a_day_not_before() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = open(offline_config(), dir.path());
        let now = Utc::now();
        assert!(!t.renew_follows(now).expect("nothing followed"));
        t.follow(&["yamada".into()]).expect("follows");
        assert!(t.renew_follows(now).expect("first renewal"));
        assert!(
            !t.renew_follows(now + Duration::hours(11))
                .expect("too soon")
        );
        assert!(t.renew_follows(now + Duration::hours(13)).expect("due"));
        // A renewal stamped in the future (a wrong clock) is due, not never.
        assert!(t.renew_follows(now).expect("stamp ahead of the clock"));
        assert_eq!(kinds(&t).len(), 4);
    }

    #[test]
    fn a_directory_request_is_queued_for_the_server() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = open(offline_config(), dir.path());
        t.request_directory(Some("  やまだ ".into()))
            .expect("queued");
        let (kind, raw) = t.queued_mails().expect("queue").pop().expect("a mail");
        assert_eq!(kind, "Directory");
        let parsed = mail::parse(&raw, mail::Limits::default());
        assert_eq!(
            parsed.outcome,
            mail::Outcome::Presence(PresenceMessage::Directory(DirectoryQuery {
                watcher: "tanaka".parse().expect("account"),
                query: Some("やまだ".into()),
            }))
        );
    }
}
