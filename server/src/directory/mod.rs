//! Who is who, and who may see whom: the people of the configuration (and
//! of the company's LDAP directory, `ldap`, read again by `refresh`) with
//! their mail and SIP identities, and the authorization rules; `people`
//! answers a phone's Directory mail from them.

pub mod ldap;
pub mod people;
pub mod refresh;

use std::collections::HashMap;

use mailpresence_protocol::model::AccountName;
use mailpresence_protocol::secret::Secret;

use crate::config::{self, Rule};

/// One person as the server knows them.
#[derive(Debug, Clone)]
pub struct Person {
    pub account: AccountName,
    pub name: String,
    /// The reading (kana) of the name, where the directory has one.
    pub reading: Option<String>,
    pub extension: Option<String>,
    /// The mobile phone's number, for a call from the board.
    pub mobile: Option<String>,
    pub department: Option<String>,
    pub mail: Option<String>,
    pub sip: Option<String>,
    pub sip_password: Option<Secret>,
    pub groups: Vec<String>,
}

impl Person {
    /// Whether `address` (mail or SIP URI) is one of this person's own.
    pub fn owns_address(&self, address: &str) -> bool {
        let a = address.trim();
        self.mail
            .as_deref()
            .is_some_and(|m| m.eq_ignore_ascii_case(a))
            || self.sip.as_deref().is_some_and(|s| same_sip_uri(s, a))
    }
}

/// How much of a colleague's presence a watcher may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    Nothing,
    /// Activity, contact and schedule; never the location.
    ActivityOnly,
    /// Everything, the location too.
    Full,
}

#[derive(Debug, Clone, Default)]
pub struct Directory {
    people: Vec<Person>,
    by_account: HashMap<AccountName, usize>,
    by_mail: HashMap<String, usize>,
    /// (user, lower-cased host) of each SIP URI, and each SIP user part.
    by_sip: HashMap<(String, String), usize>,
    by_sip_user: HashMap<String, usize>,
    rules: Vec<Rule>,
    /// What a phone's directory search looks at, per person (`people.rs`).
    search_texts: std::sync::OnceLock<Vec<String>>,
}

impl Directory {
    /// From a validated configuration (invalid entries were refused there).
    pub fn from_config(people: &[config::Person], rules: &[Rule]) -> Self {
        let mut dir = Directory {
            rules: rules.to_vec(),
            ..Default::default()
        };
        for p in people {
            let Ok(account) = p.account.parse::<AccountName>() else {
                continue;
            };
            let index = dir.people.len();
            dir.by_account.insert(account.clone(), index);
            if let Some(m) = &p.mail {
                dir.by_mail.insert(m.to_ascii_lowercase(), index);
            }
            if let Some((user, host)) = p.sip.as_deref().and_then(sip_user_host) {
                dir.by_sip_user.entry(user.clone()).or_insert(index);
                dir.by_sip.insert((user, host), index);
            }
            dir.people.push(Person {
                account,
                name: p.name.clone(),
                reading: p.reading.clone(),
                extension: p.extension.clone(),
                mobile: p.mobile.clone(),
                department: p.department.clone(),
                mail: p.mail.clone(),
                sip: p.sip.clone(),
                sip_password: p.sip_password.clone(),
                groups: p.groups.clone(),
            });
        }
        dir
    }

    /// Everyone, in the order of the configuration.
    pub fn people(&self) -> &[Person] {
        &self.people
    }

    pub fn person(&self, account: &AccountName) -> Option<&Person> {
        self.by_account.get(account).map(|&i| &self.people[i])
    }

    pub fn by_mail(&self, address: &str) -> Option<&Person> {
        self.by_mail
            .get(&address.trim().to_ascii_lowercase())
            .map(|&i| &self.people[i])
    }

    /// The person whose SIP URI has this user and host (parameters and
    /// ports ignored), or whose account is the user part.
    pub fn by_sip_uri(&self, uri: &str) -> Option<&Person> {
        let key = sip_user_host(uri)?;
        self.by_sip.get(&key).map(|&i| &self.people[i])
    }

    /// The person a Request-URI's user part names: the user of their SIP URI,
    /// or their account name (`sip:tanaka@10.0.0.5` finds tanaka).
    pub fn by_sip_user(&self, user: &str) -> Option<&Person> {
        self.by_sip_user
            .get(user)
            .map(|&i| &self.people[i])
            .or_else(|| user.parse().ok().and_then(|a: AccountName| self.person(&a)))
    }

    /// What `watcher` may see of `notifier`. Everyone sees all of themselves.
    pub fn access(&self, watcher: &AccountName, notifier: &AccountName) -> Access {
        let (Some(w), Some(n)) = (self.person(watcher), self.person(notifier)) else {
            return Access::Nothing;
        };
        if w.account == n.account {
            return Access::Full;
        }
        self.rules
            .iter()
            .filter(|r| matches_any(&r.watchers, w) && matches_any(&r.may_see, n))
            .map(|r| {
                if r.location {
                    Access::Full
                } else {
                    Access::ActivityOnly
                }
            })
            .max()
            .unwrap_or(Access::Nothing)
    }
}

fn matches_any(entries: &[String], person: &Person) -> bool {
    entries.iter().any(|e| {
        e == "*"
            || e == person.account.as_str()
            || e.strip_prefix("group:")
                .is_some_and(|g| person.groups.iter().any(|pg| pg == g))
    })
}

/// `sip:user@host[:port][;params]` → (`user`, `host`), lower-cased host.
pub fn sip_user_host(uri: &str) -> Option<(String, String)> {
    let uri = uri.trim().trim_start_matches('<');
    let rest = uri
        .strip_prefix("sip:")
        .or_else(|| uri.strip_prefix("sips:"))?;
    let rest = rest.split(['>', ';', '?']).next()?;
    let (user, hostport) = rest.split_once('@')?;
    let host = hostport.split(':').next()?.to_ascii_lowercase();
    Some((user.to_owned(), host))
}

fn same_sip_uri(a: &str, b: &str) -> bool {
    matches!((sip_user_host(a), sip_user_host(b)), (Some(x), Some(y)) if x == y)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(account: &str, groups: &[&str]) -> config::Person {
        config::Person {
            account: account.into(),
            name: String::new(),
            mail: Some(format!("{account}@example.test")),
            sip: Some(format!("sip:{account}@example.test")),
            sip_password: None,
            reading: None,
            extension: None,
            mobile: None,
            department: None,
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    fn rule(w: &[&str], s: &[&str], location: bool) -> Rule {
        Rule {
            watchers: w.iter().map(|x| x.to_string()).collect(),
            may_see: s.iter().map(|x| x.to_string()).collect(),
            location,
        }
    }

    #[test]
    fn rules_grant_the_most_they_allow_and_nothing_by_default() {
        let dir = Directory::from_config(
            &[
                person("tanaka", &["field"]),
                person("sato", &["desk"]),
                person("ito", &[]),
            ],
            &[
                rule(&["group:desk"], &["group:field"], true),
                rule(&["*"], &["group:field"], false),
            ],
        );
        let a = |s: &str| s.parse::<AccountName>().unwrap();
        assert_eq!(dir.access(&a("sato"), &a("tanaka")), Access::Full);
        assert_eq!(dir.access(&a("ito"), &a("tanaka")), Access::ActivityOnly);
        assert_eq!(dir.access(&a("tanaka"), &a("sato")), Access::Nothing);
        assert_eq!(dir.access(&a("ito"), &a("ito")), Access::Full);
        assert_eq!(dir.access(&a("nobody"), &a("tanaka")), Access::Nothing);
    }

    #[test]
    fn addresses_match_case_insensitively_and_sip_by_user_and_host() {
        let dir = Directory::from_config(&[person("tanaka", &[])], &[]);
        let p = dir.by_mail("Tanaka@Example.TEST").unwrap();
        assert!(p.owns_address("<sip:tanaka@EXAMPLE.test:5060;transport=udp>"));
        assert!(!p.owns_address("evil@example.test"));
        assert!(dir.by_sip_uri("sip:tanaka@example.test").is_some());
    }
}
