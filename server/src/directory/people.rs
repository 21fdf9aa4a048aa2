//! What a phone's `Directory` mail gets back: the colleagues the rules let
//! its person see (never more: a worker learns of nobody they could not
//! watch), those a query finds, people of the worker's own department
//! first and then in the order of their reading, and no more than one
//! mail holds. `total` tells the phone how many there were, so it can ask
//! with a narrower query.

use mailpresence_protocol::mail::People;
use mailpresence_protocol::model::AccountName;
use mailpresence_protocol::people::{DirectoryEntry, Search, clean};

use super::{Access, Directory, Person};

/// Bytes of `Person:` lines in one answer: a presence mail's body may hold
/// 64 KiB (`mail::Limits`), and the rest of the body is a few short tags.
/// About 600 colleagues with Japanese names fit.
const LINES_BUDGET: usize = 56 * 1024;

/// The answer to `watcher`'s Directory mail (with its `query`, if any).
pub fn answer(directory: &Directory, watcher: &AccountName, query: Option<&str>) -> People {
    let my_department = directory
        .person(watcher)
        .and_then(|me| me.department.as_deref());
    let search = query.map(Search::new);
    let texts = search_texts(directory);
    let mut found: Vec<(bool, DirectoryEntry)> = directory
        .people()
        .iter()
        .zip(texts)
        .filter(|(p, _)| p.account != *watcher)
        .filter(|(_, text)| search.as_ref().is_none_or(|s| s.finds(text)))
        .filter(|(p, _)| directory.access(watcher, &p.account) != Access::Nothing)
        .map(|(p, _)| {
            // Only the department the worker sees anyway puts someone first:
            // the order must not tell which groups (the rules' terms) they share.
            let elsewhere = my_department.is_none() || p.department.as_deref() != my_department;
            (elsewhere, entry(p))
        })
        .collect();
    found.sort_by(|(a, ea), (b, eb)| (a, sort_key(ea)).cmp(&(b, sort_key(eb))));
    let total = u32::try_from(found.len()).unwrap_or(u32::MAX);
    let mut used = 0;
    let people = found
        .into_iter()
        .map(|(_, e)| e)
        .take_while(|e| {
            // "Person: " and CRLF around each line.
            used += e.to_line().len() + 10;
            used <= LINES_BUDGET
        })
        .collect();
    People {
        watcher: watcher.clone(),
        query: query.map(clean),
        people,
        total,
    }
}

/// Each person's search text, made once per directory (a refresh brings a
/// new one): a query then costs a substring test per person, under the lock
/// the engine's steps hold. The board's search (`web/find.rs`) uses them too.
pub fn search_texts(directory: &Directory) -> &[String] {
    directory.search_texts.get_or_init(|| {
        directory
            .people()
            .iter()
            .map(|p| entry(p).search_text())
            .collect()
    })
}

/// A person as a phone's directory lists them.
fn entry(p: &Person) -> DirectoryEntry {
    DirectoryEntry {
        account: p.account.to_string(),
        name: if p.name.trim().is_empty() {
            p.account.to_string()
        } else {
            p.name.clone()
        },
        reading: p.reading.clone(),
        department: p.department.clone(),
        extension: p.extension.clone(),
        mail: p.mail.clone(),
    }
}

/// Kana order where there is a reading (as a Japanese list is sorted), else the name.
fn sort_key(e: &DirectoryEntry) -> (String, String) {
    (
        e.reading.clone().unwrap_or_else(|| e.name.clone()),
        e.account.clone(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, Rule};
    use mailpresence_protocol::mail::PresenceMessage;

    fn person(
        account: &str,
        name: &str,
        reading: &str,
        dept: &str,
        groups: &[&str],
    ) -> config::Person {
        toml::from_str(&format!(
            "account = \"{account}\"\nname = \"{name}\"\nreading = \"{reading}\"\ndepartment = \"{dept}\"\nmail = \"{account}@example.co.jp\"\ngroups = [{}]",
            groups.iter().map(|g| format!("\"{g}\"")).collect::<Vec<_>>().join(", ")
        ))
        .expect("person")
    }

    fn rule(watchers: &[&str], may_see: &[&str]) -> Rule {
        Rule {
            watchers: watchers.iter().map(|s| s.to_string()).collect(),
            may_see: may_see.iter().map(|s| s.to_string()).collect(),
            location: false,
        }
    }

    fn office() -> Directory {
        Directory::from_config(
            &[
                person("tanaka", "田中 太郎", "たなか たろう", "保守課", &["field"]),
                person(
                    "yamada",
                    "山田 花子",
                    "やまだ はなこ",
                    "営業一課",
                    &["desk"],
                ),
                person("abe", "阿部 次郎", "あべ じろう", "営業一課", &["desk"]),
                person(
                    "suzuki",
                    "鈴木 一郎",
                    "すずき いちろう",
                    "保守課",
                    &["field"],
                ),
                person("kanri", "管理 者", "かんり しゃ", "情報システム課", &["it"]),
            ],
            &[rule(&["group:field"], &["group:desk", "group:field"])],
        )
    }

    fn accounts(p: &People) -> Vec<&str> {
        p.people.iter().map(|e| e.account.as_str()).collect()
    }

    #[test]
    fn a_worker_gets_whom_the_rules_let_them_see_own_department_first() {
        let tanaka: AccountName = "tanaka".parse().expect("account");
        let people = answer(&office(), &tanaka, None);
        // Not tanaka himself, not kanri (no rule lets field see it);
        // suzuki (保守課, field) first, then the rest in kana order.
        assert_eq!(accounts(&people), ["suzuki", "abe", "yamada"]);
        assert_eq!(people.total, 3);
        assert_eq!(people.people[2].reading.as_deref(), Some("やまだ はなこ"));
    }

    #[test]
    fn someone_no_rule_covers_learns_of_nobody() {
        let kanri: AccountName = "kanri".parse().expect("account");
        let people = answer(&office(), &kanri, None);
        assert!(people.people.is_empty());
        assert_eq!(people.total, 0);
    }

    #[test]
    fn a_query_finds_by_reading_in_romaji_or_kana() {
        let tanaka: AccountName = "tanaka".parse().expect("account");
        for query in ["yamada", "やまだ", "ヤマダ", "山田", "hanako"] {
            assert_eq!(
                accounts(&answer(&office(), &tanaka, Some(query))),
                ["yamada"],
                "{query}"
            );
        }
        // The query never widens what the rules allow.
        assert!(answer(&office(), &tanaka, Some("kanri")).people.is_empty());
    }

    #[test]
    fn a_directory_larger_than_a_mail_is_cut_and_says_how_many_there_were() {
        let mut people = vec![person(
            "tanaka",
            "田中 太郎",
            "たなか たろう",
            "保守課",
            &["field"],
        )];
        for i in 0..3_000 {
            people.push(person(
                &format!("staff{i:04}"),
                "長谷川 佐和子",
                "はせがわ さわこ",
                "東日本営業本部第一営業部",
                &["desk"],
            ));
        }
        let directory = Directory::from_config(&people, &[rule(&["*"], &["*"])]);
        let tanaka: AccountName = "tanaka".parse().expect("account");
        let answer = answer(&directory, &tanaka, None);
        assert_eq!(answer.total, 3_000);
        assert!(
            answer.people.len() > 300 && answer.people.len() < 3_000,
            "{}",
            answer.people.len()
        );
        let body = mailpresence_protocol::mail::compose::body(&PresenceMessage::People(answer))
            .expect("composes");
        assert!(body.len() < 64 * 1024, "{} bytes", body.len());
    }
}
