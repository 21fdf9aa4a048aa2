//! `[[rule]]`: who may see whom — watchers, the people they may see, and
//! whether their location too — and the checks that every entry names a
//! known account, a known group or everyone.

use std::collections::HashSet;

use serde::Deserialize;

use super::Person;

/// An authorization rule: these watchers may see these people — their
/// activity and schedule always, their location only with `location = true`.
/// Entries are account names, `group:NAME`, or `*` for everyone.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub watchers: Vec<String>,
    pub may_see: Vec<String>,
    #[serde(default)]
    pub location: bool,
}

/// What is wrong with the `[[rule]]` entries, whose names must be among
/// `people`'s accounts and groups.
pub(super) fn problems(rules: &[Rule], people: &[Person]) -> Vec<String> {
    let mut p = Vec::new();
    let accounts: HashSet<&str> = people.iter().map(|x| x.account.as_str()).collect();
    let groups: HashSet<&str> = people
        .iter()
        .flat_map(|x| x.groups.iter().map(String::as_str))
        .collect();
    for (i, rule) in rules.iter().enumerate() {
        for entry in rule.watchers.iter().chain(&rule.may_see) {
            let known = match entry.strip_prefix("group:") {
                _ if entry == "*" => true,
                Some(g) => groups.contains(g),
                None => accounts.contains(entry.as_str()),
            };
            if !known {
                p.push(format!(
                    "[[rule]] #{}: {entry:?} is no account, group:NAME of a known group, or *",
                    i + 1
                ));
            }
        }
        if rule.watchers.is_empty() || rule.may_see.is_empty() {
            p.push(format!(
                "[[rule]] #{}: watchers and may_see must each name someone",
                i + 1
            ));
        }
    }
    p
}

/// What having no rule at all means.
pub(super) fn warnings(rules: &[Rule]) -> Vec<String> {
    if rules.is_empty() {
        vec!["no [[rule]]: nobody may see anybody's presence".into()]
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(text: &str) -> Rule {
        toml::from_str(text).unwrap()
    }

    fn people() -> Vec<Person> {
        vec![
            toml::from_str(
                "account = \"sato\"\nmail = \"sato@example.co.jp\"\ngroups = [\"desk\"]",
            )
            .unwrap(),
        ]
    }

    #[test]
    fn accounts_groups_and_everyone_are_known() {
        let rules = [rule(
            "watchers = [\"group:desk\"]\nmay_see = [\"sato\", \"*\"]",
        )];
        assert_eq!(problems(&rules, &people()), Vec::<String>::new());
    }

    #[test]
    fn unknown_names_and_empty_sides_are_named_by_rule_number() {
        let rules = [
            rule("watchers = [\"sato\"]\nmay_see = [\"*\"]"),
            rule("watchers = [\"group:field\", \"ito\"]\nmay_see = []"),
        ];
        assert_eq!(
            problems(&rules, &people()),
            [
                "[[rule]] #2: \"group:field\" is no account, group:NAME of a known group, or *",
                "[[rule]] #2: \"ito\" is no account, group:NAME of a known group, or *",
                "[[rule]] #2: watchers and may_see must each name someone",
            ]
        );
    }

    #[test]
    fn only_no_rule_at_all_is_warned_about() {
        assert_eq!(
            warnings(&[]),
            ["no [[rule]]: nobody may see anybody's presence"]
        );
        assert_eq!(
            warnings(&[rule("watchers = [\"*\"]\nmay_see = [\"*\"]")]),
            Vec::<String>::new()
        );
    }
}
