//! The phone's inbox side: reading colleagues' Notify mails from the inbox
//! (IMAP, one short `sync` or a long IDLE session), believing one only once
//! it is proven to come from the presence server, and keeping the presence
//! folder and the store small (Notify mails and locations past their TTL).

use std::time::Duration;

use chrono::Utc;
use tracing::{debug, info, warn};

use super::client::Terminal;
use super::config::TerminalConfig;
use super::events::Event;
use super::store::Colleague;
use crate::error::Error;
use mailpresence_protocol::mail::auth::{SenderTrust, check_sender};
use mailpresence_protocol::mail::{self, Limits, Outcome, PresenceMessage};
use mailpresence_protocol::transport::imap::{Fetched, MailSession, Timeouts};

/// What became of one mail of the inbox.
pub(super) enum Reading {
    /// A Notify from the presence server.
    Presence { changed: bool },
    /// Not one: a person's mail, or a forgery. Left for the user.
    NotFromServer,
}

/// Marks a mail that looks like a Notify but is not proven to be one, so it is
/// not read again; it stays unread for the user.
pub const NOT_OURS_KEYWORD: &str = "$PresenceNotOurs";

/// The keyword that marks a Notify mail as read by the app.
const DONE_KEYWORD: &str = "$PresenceDone";

impl Terminal {
    fn timeouts(&self) -> Timeouts {
        Timeouts::default()
    }

    /// Connects, makes sure the presence folder exists, selects the inbox.
    pub(super) async fn open_inbox(&self) -> Result<MailSession, Error> {
        let mut session = MailSession::open(&self.config.imap.endpoint(), self.timeouts()).await?;
        session.ensure_mailbox(&self.config.presence_folder).await?;
        session.select("INBOX").await?;
        Ok(session)
    }

    /// Reads the Notify mails that arrived (one short connection, for platforms
    /// that wake the app only briefly). Returns how many colleagues changed.
    pub async fn sync(&self) -> Result<usize, Error> {
        let mut session = self.open_inbox().await?;
        self.purge_presence_folder(&mut session).await?;
        let changed = self.read_notifies(&mut session).await?;
        session.logout().await;
        self.prune_store()?;
        Ok(changed)
    }

    pub(super) async fn read_notifies(&self, session: &mut MailSession) -> Result<usize, Error> {
        let query = format!(
            "UNDELETED UNKEYWORD {DONE_KEYWORD} UNKEYWORD {NOT_OURS_KEYWORD} SUBJECT \"Notify\" FROM \"{}\"",
            self.config.presence_server
        );
        // Read before a crash or a lost connection, but not yet moved.
        let leftovers = session.search(&format!("KEYWORD {DONE_KEYWORD}")).await?;
        session
            .move_to(&leftovers, &self.config.presence_folder)
            .await?;
        let uids = session.search(&query).await?;
        if uids.is_empty() {
            return Ok(0);
        }
        let fetched = session
            .fetch(&uids, Limits::default().max_mail_bytes)
            .await?;
        let mut changed = 0;
        let (mut read, mut not_ours) = (Vec::new(), Vec::new());
        for mail in &fetched {
            let reading = match mail {
                Fetched::Mail { raw, .. } => self.read_mail(raw)?,
                Fetched::TooLarge { size, .. } => {
                    warn!(
                        size,
                        "a mail titled Notify is too large to be one; left alone"
                    );
                    Reading::NotFromServer
                }
            };
            match reading {
                Reading::Presence { changed: c } => {
                    changed += usize::from(c);
                    read.push(mail.uid());
                }
                Reading::NotFromServer => not_ours.push(mail.uid()),
            }
        }
        // A mail that only looks like a Notify is the user's and stays unread,
        // marked only so it is not fetched again. A Notify read is marked
        // read and moved out of the inbox, into the presence folder.
        session
            .add_flags(&not_ours, &format!("({NOT_OURS_KEYWORD})"))
            .await?;
        session
            .add_flags(&read, &format!("(\\Seen {DONE_KEYWORD})"))
            .await?;
        session.move_to(&read, &self.config.presence_folder).await?;
        Ok(changed)
    }

    /// Deletes the Notify mails older than the location TTL from the
    /// presence folder, then selects the inbox again.
    pub(super) async fn purge_presence_folder(
        &self,
        session: &mut MailSession,
    ) -> Result<(), Error> {
        let ttl = Duration::from_secs(self.config.location_ttl_secs);
        session.select(&self.config.presence_folder).await?;
        let old = session.older_than(ttl).await?;
        session.delete(&old).await?;
        if !old.is_empty() {
            debug!(
                mails = old.len(),
                "Notify mails past the location TTL deleted"
            );
        }
        session.select("INBOX").await?;
        Ok(())
    }

    /// One mail from the inbox: a Notify proven to come from the presence
    /// server updates that colleague; anything else is left for the user.
    pub(super) fn read_mail(&self, raw: &[u8]) -> Result<Reading, Error> {
        let parsed = mail::parse(raw, Limits::default());
        let Outcome::Presence(PresenceMessage::Notify(mut n)) = parsed.outcome else {
            debug!(outcome = ?parsed.outcome, "not a Notify");
            return Ok(Reading::NotFromServer);
        };
        if let Err(why) = proven_from_presence_server(&self.config, &parsed.envelope) {
            warn!(from = ?parsed.envelope.from, "a Notify not proven to come from the presence server is left alone: {why}");
            return Ok(Reading::NotFromServer);
        }
        if let Some(id) = &parsed.envelope.message_id
            && self.store().seen(id)?
        {
            return Ok(Reading::Presence { changed: false });
        }
        let now = Utc::now();
        if n.presence.clamp_future_updated(now) {
            debug!(colleague = %n.notifier, "Updated lies in the future; taken as now");
        }
        let saved = self
            .store()
            .save_colleague(n.notifier.as_str(), &n.presence, now)?;
        if let Some(id) = &parsed.envelope.message_id {
            self.store().mark_seen(id, now)?;
        }
        if saved {
            info!(colleague = %n.notifier, "presence received");
            self.emit(Event::Colleague(Box::new(Colleague {
                account: n.notifier.to_string(),
                fields: n.presence,
                received_at: now,
            })));
        }
        Ok(Reading::Presence { changed: saved })
    }

    /// Drops what the store no longer needs (colleagues' old locations,
    /// old Message-IDs).
    pub(super) fn prune_store(&self) -> Result<(), Error> {
        let pruned = self.store().prune(Utc::now(), self.config.location_ttl())?;
        if pruned.seen > 0 {
            debug!(message_ids = pruned.seen, "old Message-IDs forgotten");
        }
        // The app shows these colleagues again, without where they were.
        for account in &pruned.locations {
            let colleague = self.store().colleague(account)?;
            if let Some(colleague) = colleague {
                debug!(colleague = %account, "location past its TTL forgotten");
                self.emit(Event::Colleague(Box::new(colleague)));
            }
        }
        Ok(())
    }
}

/// A Notify counts only from the presence server's exact address and, when
/// the account names the company's authserv-id, as its mail system proved.
fn proven_from_presence_server(
    config: &TerminalConfig,
    envelope: &mail::Envelope,
) -> Result<(), String> {
    let from = envelope.from.as_deref().unwrap_or_default();
    if !from.eq_ignore_ascii_case(config.presence_server.trim()) {
        return Err(format!("From {from:?} is not {}", config.presence_server));
    }
    if let Some(authserv_id) = &config.authserv_id {
        let trust = SenderTrust::AuthenticationResults {
            authserv_id: authserv_id.clone(),
        };
        check_sender(&trust, envelope).map_err(|e| e.to_string())?;
    }
    Ok(())
}
