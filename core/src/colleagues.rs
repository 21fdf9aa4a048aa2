//! The apps' edge for finding and following colleagues: the company
//! directory the server sent (searched on the phone by name, kana or romaji),
//! asking the server for it, and the colleagues the worker follows with
//! their last presence — what the start screen shows at once after a
//! restart, before any mail arrives. Thin over `terminal::directory`.

use mailpresence_protocol::people::DirectoryEntry;

use crate::api::{ColleaguePresence, PresenceClient};
use crate::error::PresenceError;

/// One followed colleague: who they are (when the directory knows them)
/// and their last presence (when one arrived).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct FollowedColleague {
    pub account: String,
    pub entry: Option<DirectoryEntry>,
    pub presence: Option<ColleaguePresence>,
}

/// The directory as the phone keeps it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct DirectoryState {
    /// Colleagues kept on the phone.
    pub listed: u32,
    /// Colleagues the server has for this worker (more than `listed` when one
    /// mail could not hold them all).
    pub total: u32,
    /// When it arrived, seconds since 1970; `None` before the first answer.
    pub received_unix: Option<i64>,
}

#[uniffi::export]
impl PresenceClient {
    /// Asks the server for the colleagues this worker may see (all, or those
    /// `query` finds); the answer arrives as `on_directory`.
    pub async fn request_directory(&self, query: Option<String>) -> Result<(), PresenceError> {
        self.terminal().request_directory(query)?;
        self.flush().await
    }

    pub fn directory_state(&self) -> Result<DirectoryState, PresenceError> {
        let copy = self.terminal().directory()?;
        Ok(DirectoryState {
            listed: u32::try_from(copy.people.len()).unwrap_or(u32::MAX),
            total: copy.total,
            received_unix: copy.received_at.map(|t| t.timestamp()),
        })
    }

    /// Colleagues of the kept directory that `query` finds (name, reading in
    /// kana or romaji, account, extension, department); an empty query lists
    /// everyone, own department first. At most 50.
    pub fn search_directory(&self, query: String) -> Result<Vec<DirectoryEntry>, PresenceError> {
        Ok(self.terminal().search_directory(&query)?)
    }

    /// Follows colleagues: kept on the phone and watched until unfollowed.
    pub async fn follow(&self, accounts: Vec<String>) -> Result<(), PresenceError> {
        self.terminal().follow(&accounts)?;
        self.flush().await
    }

    pub async fn unfollow(&self, accounts: Vec<String>) -> Result<(), PresenceError> {
        self.terminal().unfollow(&accounts)?;
        self.flush().await
    }

    /// The followed colleagues in the order they were followed, with what the
    /// phone knows of each.
    pub fn followed(&self) -> Result<Vec<FollowedColleague>, PresenceError> {
        let terminal = self.terminal();
        let directory = terminal.directory()?.people;
        let presences = self.colleagues()?;
        Ok(terminal
            .following()?
            .into_iter()
            .map(|account| FollowedColleague {
                entry: directory.iter().find(|e| e.account == account).cloned(),
                presence: presences
                    .iter()
                    .find(|p| p.presence.account == account)
                    .cloned(),
                account,
            })
            .collect())
    }
}
