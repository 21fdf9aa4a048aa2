//! The phone's outbox side: composing the Publish that carries the own record
//! and the Subscribe that asks for colleagues, queueing them in the store in
//! the same transaction as the change, and telling the app how a send round
//! went. The queue itself, as the shared outbox policy sees it, is
//! `send_queue.rs`.

use chrono::Utc;
use tracing::warn;

use super::client::Terminal;
use super::clock::PLACE_PUBLISHED;
use super::engine::{publish_message, subscribe_message};
use super::events::{ConnectionStatus, Event, MailRefused};
use super::send_queue::envelope;
use crate::error::Error;
use mailpresence_protocol::mail::{self, PresenceMessage, SubscribeMode};
use mailpresence_protocol::model::{AccountName, PresenceFields, Timestamp};
use mailpresence_protocol::transport::outbox::Round;

impl Terminal {
    /// Saves the own record and queues its Publish in one transaction, so
    /// the server never misses a change the phone shows.
    pub(super) fn publish(&self, own: &PresenceFields, now: Timestamp) -> Result<(), Error> {
        let sharing = self.sharing()?;
        let message = publish_message(&self.account, own, &sharing, now);
        let raw = mail::compose(&message, &envelope(&self.config))
            .map_err(|e| Error::InvalidInput(e.to_string()))?;
        let raw = self.signed(raw)?;
        self.store()
            .save_own_and_queue(own, &self.config.presence_server, &raw, Utc::now())?;
        let location = match &message {
            PresenceMessage::Publish(p) => p.presence.location.clone(),
            _ => None,
        };
        // For the clock: a place the server has goes when sharing pauses.
        self.store()
            .set_pref(PLACE_PUBLISHED, &location.is_some())?;
        self.emit(Event::Published { location });
        self.queued()
    }

    /// Asks for colleagues' presence: answered once, or every change (`watch`)
    /// until `expires` seconds pass; a watch with `expires = Some(0)` ends one.
    pub fn subscribe(
        &self,
        names: &[String],
        mode: SubscribeMode,
        expires: Option<u32>,
    ) -> Result<(), Error> {
        let notifiers = names
            .iter()
            .map(|n| {
                n.parse::<AccountName>()
                    .map_err(|e| Error::InvalidInput(format!("{n}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if notifiers.is_empty() {
            return Err(Error::InvalidInput("name at least one colleague".into()));
        }
        let message = subscribe_message(&self.account, &self.config.mail, notifiers, mode, expires);
        let raw = mail::compose(&message, &envelope(&self.config))
            .map_err(|e| Error::InvalidInput(e.to_string()))?;
        let raw = self.signed(raw)?;
        self.store()
            .queue("Subscribe", &self.config.presence_server, &raw, Utc::now())?;
        self.queued()
    }

    pub(super) fn queued(&self) -> Result<(), Error> {
        let depth = self.store().outbox_depth()?;
        self.emit(Event::OutboxChanged { depth });
        self.outbox.wake();
        Ok(())
    }

    pub fn outbox_depth(&self) -> Result<u32, Error> {
        Ok(self.store().outbox_depth()?)
    }

    /// The mails waiting to be sent: kind and bytes, oldest first.
    pub fn queued_mails(&self) -> Result<Vec<(String, Vec<u8>)>, Error> {
        Ok(self.store().queued_mails()?)
    }

    /// Hands every due mail to SMTP. Returns how many went; an error when the
    /// server could not be used (the mails stay queued). A mail the server
    /// refused for good is dropped and reported as [`Event::Refused`].
    pub async fn flush(&self) -> Result<usize, Error> {
        let round = self.outbox.send_due().await?;
        self.report(&round)?;
        match &round.blocked {
            Some(why) => Err(Error::Send(why.clone())),
            None => Ok(round.sent),
        }
    }

    /// Tells the app what a round did: mails refused for good, a server that
    /// could not be used, the outbox's new depth.
    pub(super) fn report(&self, round: &Round) -> Result<(), Error> {
        for (_, recipient, error) in &round.undeliverable {
            warn!(to = %recipient, %error, "the mail server refused a mail for good");
            self.emit(Event::Refused(MailRefused {
                recipient: recipient.clone(),
                reason: error.clone(),
            }));
        }
        if let Some(why) = &round.blocked {
            self.emit(Event::Connection(ConnectionStatus::Failed {
                error: Error::Send(why.clone()).into(),
            }));
        }
        if round.sent > 0 || !round.undeliverable.is_empty() || round.blocked.is_some() {
            self.emit(Event::OutboxChanged {
                depth: self.store().outbox_depth()?,
            });
        }
        Ok(())
    }
}
