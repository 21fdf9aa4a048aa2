//! Reading people and groups from the company's LDAP directory (Active
//! Directory or OpenLDAP): one bind as a read-only account, one paged search
//! for people and one for groups, every wait under the configured timeout.
//!
//! Groups are named by their `cn`. A person belongs to the groups their entry
//! lists in `memberOf` and, as in AD, to every group those groups are in
//! (nested groups, followed through the groups' own `memberOf`, each once,
//! so a cycle ends). Entries are read from the raw BER here, without
//! ldap3's `SearchEntry::construct`, which panics on a malformed entry.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::asn1::{PL, StructureTag};
use ldap3::{LdapConnAsync, LdapConnSettings, Scope};

use crate::config::{self, AttributeNames, DirectoryConfig};

/// Entries asked for per page (AD answers at most 1,000 per search).
const PAGE: i32 = 500;
/// More people than this is not a company this server is built for: the
/// search stops rather than fill memory.
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum LdapReadError {
    #[error("cannot read the bind password from {path}: {source}")]
    Password {
        path: String,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(#[from] mailpresence_protocol::transport::tls::TlsError),
    #[error("LDAP: {0}")]
    Ldap(#[from] ldap3::LdapError),
    #[error("the directory did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the directory has more than {MAX_ENTRIES} entries under the base")]
    TooMany,
    #[error("the directory gave no people: kept the last good copy")]
    Empty,
}

/// One entry: its DN and its text attributes (names lower-cased).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    pub dn: String,
    pub attrs: HashMap<String, Vec<String>>,
}

impl Entry {
    fn first(&self, name: &str) -> Option<String> {
        self.attrs
            .get(&name.to_ascii_lowercase())
            .and_then(|v| v.first())
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    }

    fn all(&self, name: &str) -> &[String] {
        self.attrs
            .get(&name.to_ascii_lowercase())
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

/// Everyone in the directory, as `[[person]]` entries would say it.
pub async fn read_people(config: &DirectoryConfig) -> Result<Vec<config::Person>, LdapReadError> {
    let timeout = Duration::from_secs(config.timeout_secs);
    let work = async {
        // A small local file: read on a blocking thread all the same.
        let file = config.bind_password_file.clone();
        let password = tokio::task::spawn_blocking(move || std::fs::read_to_string(&file))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|read| read)
            .map_err(|source| LdapReadError::Password {
                path: config.bind_password_file.display().to_string(),
                source,
            })?;
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(timeout)
            .set_starttls(config.starttls);
        if config.url.starts_with("ldaps://") || config.starttls {
            let tls =
                mailpresence_protocol::transport::tls::client_config(config.ca_file.as_deref())?;
            settings = settings.set_config(tls);
        }
        let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &config.url).await?;
        ldap3::drive!(conn);
        ldap.with_timeout(timeout)
            .simple_bind(&config.bind_dn, password.trim_end_matches(['\r', '\n']))
            .await?
            .success()?;
        let names = config.attribute_names();
        let wanted = vec![
            names.account.clone(),
            names.name.clone(),
            names.reading.clone(),
            names.mail.clone(),
            names.sip.clone(),
            names.extension.clone(),
            names.mobile.clone(),
            names.department.clone(),
            "memberOf".to_owned(),
        ];
        let people = search(&mut ldap, config, &config.people_filter(), wanted, timeout).await?;
        let groups = search(
            &mut ldap,
            config,
            &config.groups_filter(),
            vec!["cn".to_owned(), "memberOf".to_owned()],
            timeout,
        )
        .await?;
        let _ = ldap.unbind().await;
        Ok::<_, LdapReadError>(people_of(&people, &groups, &names))
    };
    let people = tokio::time::timeout(timeout * 4, work)
        .await
        .map_err(|_| LdapReadError::Timeout(timeout * 4))??;
    if people.is_empty() {
        return Err(LdapReadError::Empty);
    }
    Ok(people)
}

async fn search(
    ldap: &mut ldap3::Ldap,
    config: &DirectoryConfig,
    filter: &str,
    attrs: Vec<String>,
    timeout: Duration,
) -> Result<Vec<Entry>, LdapReadError> {
    let adapters: Vec<Box<dyn Adapter<String, Vec<String>>>> = vec![
        Box::new(EntriesOnly::new()),
        Box::new(PagedResults::new(PAGE)),
    ];
    let mut stream = ldap
        .with_timeout(timeout)
        .streaming_search_with(adapters, &config.base_dn, Scope::Subtree, filter, attrs)
        .await?;
    let mut entries = Vec::new();
    while let Some(raw) = stream.next().await? {
        if entries.len() >= MAX_ENTRIES {
            return Err(LdapReadError::TooMany);
        }
        match entry_of(raw.0) {
            Some(entry) => entries.push(entry),
            None => tracing::warn!("directory: a malformed entry was skipped"),
        }
    }
    stream.finish().await.success()?;
    Ok(entries)
}

/// An entry from its BER form (SearchResultEntry, application tag 4), or
/// `None` when it is not shaped as one. Binary values are left out.
fn entry_of(tag: StructureTag) -> Option<Entry> {
    let mut parts = tag.match_id(4)?.expect_constructed()?.into_iter();
    let dn = String::from_utf8(parts.next()?.expect_primitive()?).ok()?;
    let mut attrs = HashMap::new();
    for attribute in parts.next()?.expect_constructed()? {
        let mut pair = attribute.expect_constructed()?.into_iter();
        let name = String::from_utf8(pair.next()?.expect_primitive()?).ok()?;
        let values = match pair.next()?.payload {
            PL::C(values) => values,
            PL::P(_) => return None,
        };
        let text: Vec<String> = values
            .into_iter()
            .filter_map(|v| v.expect_primitive())
            .filter_map(|v| String::from_utf8(v).ok())
            .collect();
        attrs.insert(name.to_ascii_lowercase(), text);
    }
    Some(Entry { dn, attrs })
}

/// People with their groups (nested ones included), from the two searches.
pub fn people_of(
    people: &[Entry],
    groups: &[Entry],
    names: &AttributeNames,
) -> Vec<config::Person> {
    let group_of_dn: HashMap<String, &Entry> = groups
        .iter()
        .map(|g| (g.dn.to_ascii_lowercase(), g))
        .collect();
    people
        .iter()
        .filter_map(|entry| {
            let account = entry.first(&names.account)?.to_lowercase();
            let mail = entry.first(&names.mail);
            let sip = entry.first(&names.sip).map(|s| sip_uri(&s));
            if mail.is_none() && sip.is_none() {
                return None;
            }
            Some(config::Person {
                name: entry.first(&names.name).unwrap_or_else(|| account.clone()),
                reading: entry.first(&names.reading),
                extension: entry.first(&names.extension),
                mobile: entry.first(&names.mobile),
                department: entry.first(&names.department),
                groups: groups_of(entry, &group_of_dn).into_iter().collect(),
                account,
                mail,
                sip,
                sip_password: None,
            })
        })
        .collect()
}

/// The `cn` of every group the entry is in, directly or through groups.
fn groups_of(entry: &Entry, group_of_dn: &HashMap<String, &Entry>) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut todo: Vec<String> = entry.all("memberOf").to_vec();
    while let Some(dn) = todo.pop() {
        let key = dn.to_ascii_lowercase();
        if !seen.insert(key.clone()) {
            continue;
        }
        if let Some(group) = group_of_dn.get(&key) {
            if let Some(cn) = group.first("cn") {
                names.insert(cn);
            }
            todo.extend(group.all("memberOf").iter().cloned());
        }
    }
    names
}

/// AD keeps `sip:user@domain`; a bare `user@domain` gets its scheme.
fn sip_uri(value: &str) -> String {
    let lower = value.to_ascii_lowercase();
    if lower.starts_with("sip:") || lower.starts_with("sips:") {
        value.to_owned()
    } else {
        format!("sip:{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DirectoryKind;

    fn entry(dn: &str, attrs: &[(&str, &[&str])]) -> Entry {
        Entry {
            dn: dn.into(),
            attrs: attrs
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_ascii_lowercase(),
                        v.iter().map(|s| s.to_string()).collect(),
                    )
                })
                .collect(),
        }
    }

    fn ad_names() -> AttributeNames {
        let config: DirectoryConfig = toml::from_str(
            "url = \"ldaps://x\"\nbind_dn = \"x\"\nbind_password_file = \"/x\"\nbase_dn = \"x\"",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.kind, DirectoryKind::ActiveDirectory);
        config.attribute_names()
    }

    #[test]
    fn nested_groups_are_followed_once_even_in_a_cycle() {
        let groups = [
            entry(
                "CN=Tokyo,OU=G",
                &[("cn", &["tokyo"]), ("memberOf", &["CN=Field,OU=G"])],
            ),
            entry(
                "CN=Field,OU=G",
                &[("cn", &["field"]), ("memberOf", &["CN=All,OU=G"])],
            ),
            entry(
                "CN=All,OU=G",
                &[("cn", &["all"]), ("memberOf", &["cn=tokyo,ou=g"])],
            ),
        ];
        let people = [entry(
            "CN=Tanaka,OU=P",
            &[
                ("sAMAccountName", &["Tanaka"]),
                ("displayName", &["田中 太郎"]),
                ("msDS-PhoneticDisplayName", &["たなか たろう"]),
                ("mail", &["tanaka@example.co.jp"]),
                ("msRTCSIP-PrimaryUserAddress", &["tanaka@example.co.jp"]),
                ("mobile", &["090-1234-5678"]),
                ("memberOf", &["CN=Tokyo,OU=G"]),
            ],
        )];
        let found = people_of(&people, &groups, &ad_names());
        assert_eq!(found.len(), 1);
        let tanaka = &found[0];
        assert_eq!(tanaka.account, "tanaka");
        assert_eq!(tanaka.reading.as_deref(), Some("たなか たろう"));
        assert_eq!(tanaka.mobile.as_deref(), Some("090-1234-5678"));
        assert_eq!(tanaka.sip.as_deref(), Some("sip:tanaka@example.co.jp"));
        assert_eq!(tanaka.groups, ["all", "field", "tokyo"]);
    }

    #[test]
    fn someone_without_mail_or_sip_or_account_is_left_out() {
        let people = [
            entry("CN=A", &[("sAMAccountName", &["printer"])]),
            entry("CN=B", &[("mail", &["b@example.co.jp"])]),
        ];
        assert!(people_of(&people, &[], &ad_names()).is_empty());
    }

    #[test]
    fn a_malformed_entry_is_none_not_a_panic() {
        let not_an_entry = StructureTag {
            class: ldap3::asn1::TagClass::Application,
            id: 4,
            payload: PL::P(b"garbage".to_vec()),
        };
        assert_eq!(entry_of(not_an_entry), None);
        let empty = StructureTag {
            class: ldap3::asn1::TagClass::Application,
            id: 4,
            payload: PL::C(vec![]),
        };
        assert_eq!(entry_of(empty), None);
    }
}
