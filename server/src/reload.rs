//! Applying a changed configuration without a restart (SIGHUP, `systemctl
//! reload`): the people and the rules take effect at once — for the mail
//! intake, SIP and the board alike — and a person who left is forgotten
//! (presence and requests). Other sections (mail servers, listeners, trust)
//! are only read at start: a change there is named, and waits for a restart.
//! A file with mistakes changes nothing.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use mailpresence_protocol::model::AccountName;

use crate::config::{Config, ConfigError};
use crate::directory::Directory;
use crate::hub::Hub;
use crate::mail::trust::SenderVerifier;
use crate::store::{Store, StoreError};

/// The sections that hold the directory (the rest need a restart).
const DIRECTORY_SECTIONS: [&str; 2] = ["person", "rule"];

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("forgetting who left: {0}")]
    Store(#[from] StoreError),
}

/// What a reload changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reloaded {
    pub added: Vec<AccountName>,
    pub removed: Vec<AccountName>,
    /// Sections changed in the file that apply only after a restart.
    pub need_restart: Vec<String>,
}

/// Reads the configuration again when asked.
#[derive(Debug)]
pub struct Reloader {
    path: PathBuf,
    /// The file's text as last applied, to tell which sections changed.
    applied: Mutex<String>,
    hub: Arc<Hub>,
    verifier: Arc<SenderVerifier>,
}

impl Reloader {
    /// `text`: the file as the server started with it.
    pub fn new(path: PathBuf, text: String, hub: Arc<Hub>, verifier: Arc<SenderVerifier>) -> Self {
        Self {
            path,
            applied: Mutex::new(text),
            hub,
            verifier,
        }
    }

    /// Reads the file and applies its people and rules. Blocking (file and
    /// store): run it off the async workers.
    pub fn reload(&self) -> Result<Reloaded, ReloadError> {
        let text = std::fs::read_to_string(&self.path).map_err(|source| ConfigError::Read {
            path: self.path.clone(),
            source,
        })?;
        let config = Config::load(&self.path)?;
        let mut applied = self.applied.lock().unwrap_or_else(|p| p.into_inner());
        let need_restart = changed_sections(&applied, &text);
        let before: BTreeSet<AccountName> = accounts(&self.hub.directory());
        let directory = Directory::from_config(&config.people, &config.rules);
        let after: BTreeSet<AccountName> = accounts(&directory);
        let removed: Vec<AccountName> = before.difference(&after).cloned().collect();
        self.verifier
            .replace_senders(directory.people().iter().filter_map(|p| p.mail.clone()));
        self.hub.replace_directory(directory);
        if !removed.is_empty() {
            self.hub
                .store()
                .transaction(|tx| -> Result<(), StoreError> {
                    for account in &removed {
                        tx.forget_person(account)?;
                    }
                    Ok(())
                })?;
        }
        *applied = text;
        Ok(Reloaded {
            added: after.difference(&before).cloned().collect(),
            removed,
            need_restart,
        })
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sections_outside_the_directory_wait_for_a_restart() {
        let before = "[server]\naddress = \"a@x.jp\"\n[[person]]\naccount = \"tanaka\"\n";
        let people_only = "[server]\naddress = \"a@x.jp\"\n[[person]]\naccount = \"sato\"\n";
        assert!(changed_sections(before, people_only).is_empty());
        let with_web = "[server]\naddress = \"b@x.jp\"\n[web]\nlisten = \"127.0.0.1:1\"\n";
        assert_eq!(changed_sections(before, with_web), ["[server]", "[web]"]);
    }
}
