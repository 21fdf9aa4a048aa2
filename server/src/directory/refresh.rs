//! Keeping the directory current while the server runs: the people and
//! rules of the configuration file (read again on SIGHUP) together with the
//! people of the company's LDAP directory (read again every `refresh_secs`,
//! and once at start). Each change is swapped in whole — mail, SIP and the
//! board see it from their next step — and whoever left is forgotten
//! (presence, their requests, requests about them).
//!
//! A directory that cannot be read keeps its last good copy, in memory and
//! in the store (so a restart while it is down still knows everyone), and
//! says so in the status and the metrics: never an empty company.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use mailpresence_protocol::model::AccountName;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::Directory;
use super::ldap::{self, LdapReadError};
use crate::config::{self, Config, ConfigError, DirectoryConfig, Rule};
use crate::hub::Hub;
use crate::mail::trust::SenderVerifier;
use crate::store::StoreError;
use crate::supervisor::Loops;

/// The store's meta key holding the last good copy of the LDAP people.
pub const SNAPSHOT_KEY: &str = "directory_snapshot";
/// The store's meta key holding the state of the last LDAP read.
pub const STATE_KEY: &str = "directory_state";
/// The supervisor's name for the refresh loop.
pub const LOOP: &str = "directory";

/// The sections that hold the file's directory (the rest need a restart).
const DIRECTORY_SECTIONS: [&str; 2] = ["person", "rule"];

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Ldap(#[from] LdapReadError),
}

/// What a change did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changed {
    pub added: Vec<AccountName>,
    pub removed: Vec<AccountName>,
    /// Sections changed in the file that apply only after a restart.
    pub need_restart: Vec<String>,
}

/// How the last read of the LDAP directory went (status and metrics).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LdapState {
    /// When the people in use were read (RFC 3339).
    pub read_at: Option<String>,
    pub people: usize,
    /// Why the last attempt failed, while the last good copy is in use.
    pub error: Option<String>,
}

#[derive(Debug)]
struct Sources {
    /// The configuration file's text as last applied.
    file_text: String,
    file_people: Vec<config::Person>,
    rules: Vec<Rule>,
    /// The last good copy of the LDAP people (`None`: no `[directory]`,
    /// or never read yet).
    ldap_people: Option<Vec<config::Person>>,
}

/// The directory's sources, and the one way a new directory comes in.
#[derive(Debug)]
pub struct DirectoryKeeper {
    path: PathBuf,
    ldap: Option<DirectoryConfig>,
    sources: Mutex<Sources>,
    hub: Arc<Hub>,
    verifier: Arc<SenderVerifier>,
}

impl DirectoryKeeper {
    /// From the configuration the server started with (`text`: its file),
    /// and the last good LDAP copy in the store, if any.
    pub fn new(
        path: PathBuf,
        text: String,
        config: &Config,
        hub: Arc<Hub>,
        verifier: Arc<SenderVerifier>,
    ) -> Self {
        let ldap_people = match &config.directory {
            Some(_) => hub
                .store()
                .transaction(|tx| tx.meta(SNAPSHOT_KEY))
                .ok()
                .flatten()
                .and_then(|json| serde_json::from_str(&json).ok()),
            None => None,
        };
        Self {
            path,
            ldap: config.directory.clone(),
            sources: Mutex::new(Sources {
                file_text: text,
                file_people: config.people.clone(),
                rules: config.rules.clone(),
                ldap_people,
            }),
            hub,
            verifier,
        }
    }

    /// The directory of the sources as they are (at start: the file's
    /// people and the stored LDAP copy).
    pub fn apply_current(&self) -> Result<Changed, RefreshError> {
        let sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        self.apply(&sources)
    }

    /// Reads the configuration file again (SIGHUP). Blocking: file and store.
    pub fn reload_file(&self) -> Result<Changed, RefreshError> {
        let text = std::fs::read_to_string(&self.path).map_err(|source| ConfigError::Read {
            path: self.path.clone(),
            source,
        })?;
        let config = Config::load(&self.path)?;
        let mut sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        let need_restart = changed_sections(&sources.file_text, &text);
        sources.file_text = text;
        sources.file_people = config.people;
        sources.rules = config.rules;
        let mut changed = self.apply(&sources)?;
        changed.need_restart = need_restart;
        Ok(changed)
    }

    /// Reads the LDAP directory and applies it; on failure the last good
    /// copy stays and the state says why. The store work runs with
    /// `block_in_place`: no async worker is held up by its fsync.
    pub async fn refresh_ldap(&self) -> Result<Changed, RefreshError> {
        let Some(config) = &self.ldap else {
            return Ok(Changed::default());
        };
        let read = ldap::read_people(config).await;
        tokio::task::block_in_place(|| self.take(read))
    }

    /// Applies what a read gave, and records how it went.
    fn take(
        &self,
        read: Result<Vec<config::Person>, LdapReadError>,
    ) -> Result<Changed, RefreshError> {
        match read {
            Ok(people) => {
                let snapshot = serde_json::to_string(&people).unwrap_or_default();
                let state = LdapState {
                    read_at: Some(Utc::now().to_rfc3339()),
                    people: people.len(),
                    error: None,
                };
                let changed = {
                    let mut sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
                    sources.ldap_people = Some(people);
                    self.apply(&sources)?
                };
                self.save(Some(&snapshot), &state)?;
                Ok(changed)
            }
            Err(e) => {
                let mut state = self.state();
                state.error = Some(e.to_string());
                self.save(None, &state)?;
                Err(e.into())
            }
        }
    }

    /// How the LDAP side stands now.
    pub fn state(&self) -> LdapState {
        self.hub
            .store()
            .transaction(|tx| tx.meta(STATE_KEY))
            .ok()
            .flatten()
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default()
    }

    fn save(&self, snapshot: Option<&str>, state: &LdapState) -> Result<(), StoreError> {
        let state = serde_json::to_string(state).unwrap_or_default();
        self.hub.store().transaction(|tx| {
            if let Some(snapshot) = snapshot {
                tx.set_meta(SNAPSHOT_KEY, snapshot)?;
            }
            tx.set_meta(STATE_KEY, &state)
        })
    }

    /// Builds the directory from the sources, swaps it in, forgets who left.
    fn apply(&self, sources: &Sources) -> Result<Changed, RefreshError> {
        let people = merged(
            sources.ldap_people.as_deref().unwrap_or_default(),
            &sources.file_people,
        );
        let directory = Directory::from_config(&people, &sources.rules);
        let before = accounts(&self.hub.directory());
        let after = accounts(&directory);
        let removed: Vec<AccountName> = before.difference(&after).cloned().collect();
        self.verifier
            .replace_senders(directory.people().iter().filter_map(|p| p.mail.clone()));
        self.hub.replace_directory(directory);
        if !removed.is_empty() {
            let now = Utc::now();
            self.hub
                .store()
                .transaction(|tx| -> Result<(), StoreError> {
                    for account in &removed {
                        tx.forget_person(account, now)?;
                    }
                    Ok(())
                })?;
        }
        Ok(Changed {
            added: after.difference(&before).cloned().collect(),
            removed,
            need_restart: Vec::new(),
        })
    }
}

/// Everyone the server knows from `config` and `store`: the last good copy
/// of the LDAP people (with `[directory]`) and the file's. For the commands
/// IT runs beside the server, which do not read LDAP themselves.
pub fn known_people(
    config: &Config,
    store: &mut crate::store::Database,
) -> Result<Vec<config::Person>, StoreError> {
    let ldap: Vec<config::Person> = match &config.directory {
        Some(_) => store
            .transaction(|tx| tx.meta(SNAPSHOT_KEY))?
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default(),
        None => Vec::new(),
    };
    Ok(merged(&ldap, &config.people))
}

/// The directory's people, then the file's: a `[[person]]` with the same
/// account as a directory entry replaces it (a local correction).
fn merged(ldap: &[config::Person], file: &[config::Person]) -> Vec<config::Person> {
    let mut by_account: HashMap<String, usize> = HashMap::new();
    let mut people: Vec<config::Person> = Vec::with_capacity(ldap.len() + file.len());
    for person in ldap.iter().chain(file) {
        match by_account.get(&person.account) {
            Some(&i) => people[i] = person.clone(),
            None => {
                by_account.insert(person.account.clone(), people.len());
                people.push(person.clone());
            }
        }
    }
    people
}

fn accounts(directory: &Directory) -> BTreeSet<AccountName> {
    directory
        .people()
        .iter()
        .map(|p| p.account.clone())
        .collect()
}

/// The top-level sections other than the directory's whose values differ.
fn changed_sections(before: &str, after: &str) -> Vec<String> {
    let (Ok(before), Ok(after)) = (before.parse::<toml::Table>(), after.parse::<toml::Table>())
    else {
        return Vec::new();
    };
    let names: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    names
        .into_iter()
        .filter(|name| !DIRECTORY_SECTIONS.contains(&name.as_str()))
        .filter(|name| before.get(*name) != after.get(*name))
        .map(|name| format!("[{name}]"))
        .collect()
}

/// Reads the LDAP directory every `refresh_secs`, until shutdown (the first
/// read is the server's start's, see `first_read`).
pub async fn run(
    keeper: Arc<DirectoryKeeper>,
    loops: Arc<Loops>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), std::convert::Infallible> {
    let Some(every) = keeper
        .ldap
        .as_ref()
        .map(|c| Duration::from_secs(c.refresh_secs))
    else {
        return Ok(());
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
        }
        read_once(&keeper, &loops).await;
    }
}

/// One read of the LDAP directory, its outcome in the loop's state and the log.
pub async fn read_once(keeper: &DirectoryKeeper, loops: &Loops) {
    if keeper.ldap.is_none() {
        return;
    }
    match keeper.refresh_ldap().await {
        Ok(changed) => {
            loops.running(LOOP, None);
            log_changed("directory read", &changed);
        }
        Err(e) => {
            loops.waiting(LOOP, format!("keeping the last good copy: {e}"));
            tracing::warn!("directory not read, the last good copy stays: {e}");
        }
    }
}

/// One log line for a change, naming who came and who left.
pub fn log_changed(what: &str, changed: &Changed) {
    let names = |v: &[AccountName]| v.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ");
    tracing::info!(added = %names(&changed.added), removed = %names(&changed.removed), "{what}");
    if !changed.need_restart.is_empty() {
        tracing::warn!(
            sections = %changed.need_restart.join(" "),
            "changed in the configuration but applied only at a restart"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(account: &str, name: &str) -> config::Person {
        toml::from_str(&format!(
            "account = \"{account}\"\nname = \"{name}\"\nmail = \"{account}@example.co.jp\""
        ))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_file_corrects_the_directory_and_adds_to_it() {
        let ldap = [person("tanaka", "田中"), person("sato", "佐藤")];
        let file = [person("sato", "佐藤 次郎（本社）"), person("guest", "来客")];
        let people = merged(&ldap, &file);
        let names: Vec<(&str, &str)> = people
            .iter()
            .map(|p| (p.account.as_str(), p.name.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("tanaka", "田中"),
                ("sato", "佐藤 次郎（本社）"),
                ("guest", "来客")
            ]
        );
    }

    #[test]
    fn only_sections_outside_the_directory_wait_for_a_restart() {
        let before = "[server]\naddress = \"a@x.jp\"\n[[person]]\naccount = \"tanaka\"\n";
        let people_only = "[server]\naddress = \"a@x.jp\"\n[[person]]\naccount = \"sato\"\n";
        assert!(changed_sections(before, people_only).is_empty());
        let with_web = "[server]\naddress = \"b@x.jp\"\n[web]\nlisten = \"127.0.0.1:1\"\n";
        assert_eq!(changed_sections(before, with_web), ["[server]", "[web]"]);
    }
}
