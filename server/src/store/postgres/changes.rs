//! The change feed between instances on one database: a commit that saved
//! presence names the accounts on a channel (`NOTIFY` inside the
//! transaction: sent at commit, never for a rolled-back one, and delivered
//! in commit order); every instance listens on a connection of its own.

use tokio::sync::{mpsc, oneshot};
use tokio_postgres::{Client, Notification};

use super::connect::{connect_async, wait};
use super::{PgBatch, PostgresSettings};
use crate::store::{Result, StoreError};

/// The channel of one schema (each test has its own).
fn channel(settings: &PostgresSettings) -> String {
    format!(
        "mailpresence_presence_{}",
        settings.schema.as_deref().unwrap_or("public")
    )
}

/// One account's presence was committed by `instance`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announced {
    pub instance: String,
    pub account: String,
}

impl PgBatch<'_> {
    /// Announces, at commit, that `instance` saved these accounts' presence.
    pub fn announce(&mut self, instance: &str, accounts: &[&str]) -> Result<()> {
        let channel = channel(&self.store.settings);
        let Some(conn) = self.store.conn.as_ref() else {
            return Err(StoreError::Corrupt("the batch lost its connection".into()));
        };
        for account in accounts {
            let payload = format!("{instance} {account}");
            wait(
                conn.client
                    .execute("SELECT pg_notify($1, $2)", &[&channel, &payload]),
            )?;
        }
        Ok(())
    }
}

/// A connection listening to the other instances' commits.
#[derive(Debug)]
pub struct ChangeListener {
    /// Kept: the session listens while it lives.
    _client: Client,
    notifications: mpsc::UnboundedReceiver<Notification>,
    closed: oneshot::Receiver<()>,
}

impl ChangeListener {
    pub async fn listen(settings: &PostgresSettings) -> Result<Self> {
        let (tx, notifications) = mpsc::unbounded_channel();
        let (client, closed) = connect_async(settings, Some(tx)).await?;
        // The channel is a plain name (the schema is checked to be one).
        client
            .batch_execute(&format!("LISTEN {}", channel(settings)))
            .await?;
        Ok(Self {
            _client: client,
            notifications,
            closed,
        })
    }

    /// The next commit announced, in commit order; None once the
    /// connection is gone (changes may have been missed: listen anew).
    pub async fn next(&mut self) -> Option<Announced> {
        loop {
            let note = tokio::select! {
                biased;
                note = self.notifications.recv() => note?,
                _ = &mut self.closed => return None,
            };
            if let Some((instance, account)) = note.payload().split_once(' ') {
                return Some(Announced {
                    instance: instance.to_owned(),
                    account: account.to_owned(),
                });
            }
        }
    }
}
