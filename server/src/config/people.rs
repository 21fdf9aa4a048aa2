//! `[[person]]`: the directory of people — account, name, mail address, SIP
//! URI and password, groups — and its checks: accounts and mail addresses
//! each belong to one person, and everyone can be reached somehow.

use std::collections::HashSet;

use mailpresence_protocol::model::AccountName;
use mailpresence_protocol::secret::Secret;
use serde::{Deserialize, Serialize};

use super::looks_like_address;

/// One person of the directory (also what `[directory]` reads from LDAP,
/// and the last good copy of it the server keeps).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    pub account: String,
    #[serde(default)]
    pub name: String,
    /// The reading (kana) of the name, for sorting and search.
    #[serde(default)]
    pub reading: Option<String>,
    /// The desk phone's extension.
    #[serde(default)]
    pub extension: Option<String>,
    /// The mobile phone's number (`090-1234-5678`), for a call from the board.
    #[serde(default)]
    pub mobile: Option<String>,
    #[serde(default)]
    pub department: Option<String>,
    /// Mail address; people without one use SIP only.
    pub mail: Option<String>,
    /// SIP URI; people without one use mail only.
    pub sip: Option<String>,
    /// Digest password for the SIP side, when authentication is wanted.
    #[serde(default, skip_serializing)]
    pub sip_password: Option<Secret>,
    #[serde(default)]
    pub groups: Vec<String>,
}

/// What is wrong with the `[[person]]` entries; none may have the server's
/// own mail address, `server_address`.
pub(super) fn problems(people: &[Person], server_address: &str) -> Vec<String> {
    let mut p = Vec::new();
    let mut accounts = HashSet::new();
    let mut mails = HashSet::new();
    for (i, person) in people.iter().enumerate() {
        let at = format!("[[person]] #{} ({})", i + 1, person.account);
        if let Err(e) = person.account.parse::<AccountName>() {
            p.push(format!("{at}: account: {e}"));
        }
        if !accounts.insert(person.account.as_str()) {
            p.push(format!("{at}: account {} is listed twice", person.account));
        }
        if person.mail.is_none() && person.sip.is_none() {
            p.push(format!("{at}: needs a mail address or a SIP URI, or both"));
        }
        if let Some(m) = &person.mail {
            if !looks_like_address(m) {
                p.push(format!("{at}: mail {m:?} is not a mail address"));
            } else if !mails.insert(m.to_ascii_lowercase()) {
                p.push(format!("{at}: mail {m} belongs to someone else too"));
            }
            if m.eq_ignore_ascii_case(server_address) {
                p.push(format!("{at}: mail {m} is the server's own address"));
            }
        }
        if let Some(s) = &person.sip
            && !(s.starts_with("sip:") || s.starts_with("sips:"))
        {
            p.push(format!("{at}: sip {s:?} must start with sip: or sips:"));
        }
    }
    p
}

/// What an empty directory means.
pub(super) fn warnings(people: &[Person]) -> Vec<String> {
    if people.is_empty() {
        vec!["no [[person]]: every presence mail will be refused".into()]
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER: &str = "presence@example.co.jp";

    fn person(text: &str) -> Person {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn each_person_is_named_by_place_and_account() {
        let people = [
            person("account = \"tanaka\"\nmail = \"tanaka@example.co.jp\""),
            person("account = \"tanaka\"\nmail = \"Tanaka@example.co.jp\""),
            person("account = \"desk\"\nmail = \"Presence@example.co.jp\""),
            person("account = \"ito\"\nsip = \"ito@example.co.jp\""),
            person("account = \"sato\""),
        ];
        assert_eq!(
            problems(&people, SERVER),
            [
                "[[person]] #2 (tanaka): account tanaka is listed twice",
                "[[person]] #2 (tanaka): mail Tanaka@example.co.jp belongs to someone else too",
                "[[person]] #3 (desk): mail Presence@example.co.jp is the server's own address",
                "[[person]] #4 (ito): sip \"ito@example.co.jp\" must start with sip: or sips:",
                "[[person]] #5 (sato): needs a mail address or a SIP URI, or both",
            ]
        );
    }

    #[test]
    fn an_account_that_is_no_account_name_says_why() {
        let p = problems(
            &[person(
                "account = \"田中 太郎\"\nmail = \"t@example.co.jp\"",
            )],
            SERVER,
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("[[person]] #1 (田中 太郎): account: "),
            "{p:?}"
        );
    }

    #[test]
    fn only_an_empty_directory_is_warned_about() {
        assert_eq!(
            warnings(&[]),
            ["no [[person]]: every presence mail will be refused"]
        );
        assert_eq!(
            warnings(&[person("account = \"ito\"\nsip = \"sip:ito@example.co.jp\"")]),
            Vec::<String>::new()
        );
    }
}
