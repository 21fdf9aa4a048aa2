//! The phone's inbox side: reading colleagues' Notify mails (and the
//! server's People mail, its directory, and Memo mails, the 伝言メモ left
//! for this worker on the board) from the inbox
//! (IMAP, one short `sync` or a long IDLE session), believing one only once
//! the company's mail system proved it came from the presence server (no
//! authserv-id set: no proof, so none is believed), and keeping the presence
//! folder and the store small (Notify mails and locations past their TTL).

use std::time::Duration;

use chrono::Utc;
use tracing::{debug, info, warn};

use super::client::Terminal;
use super::config::TerminalConfig;
use super::events::Event;
use super::store::Colleague;
use crate::error::Error;
use mailpresence_protocol::mail::auth::{
    Alignment, EnvelopeRule, Proof, SenderTrust, TrustFailure, check_sender,
};
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
/// Notify mails fetched at once: each at most 1 MiB, so a flood of large
/// look-alikes holds at most this many MiB in memory.
const NOTIFY_CHUNK: usize = 16;

const DONE_KEYWORD: &str = "$PresenceDone";

impl Terminal {
    fn timeouts(&self) -> Timeouts {
        Timeouts::default()
    }

    /// Connects, makes sure the presence folder exists, selects the inbox.
    pub(super) async fn open_inbox(&self) -> Result<MailSession, Error> {
        let mut session = MailSession::open(&self.imap, self.timeouts()).await?;
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
            "UNDELETED UNKEYWORD {DONE_KEYWORD} UNKEYWORD {NOT_OURS_KEYWORD} OR SUBJECT \"Notify\" OR SUBJECT \"People\" SUBJECT \"Memo\" FROM \"{}\"",
            self.config.presence_server
        );
        // Read before a crash or a lost connection, but not yet moved.
        let leftovers = session.search(&format!("KEYWORD {DONE_KEYWORD}")).await?;
        session
            .move_to(&leftovers, &self.config.presence_folder)
            .await?;
        let uids = session.search(&query).await?;
        let mut changed = 0;
        // A chunk at a time, each marked before the next is fetched: a
        // flood of large look-alikes costs a chunk of memory, and a crash
        // midway does not make the phone fetch the same flood again.
        for chunk in uids.chunks(NOTIFY_CHUNK) {
            changed += self.read_chunk(session, chunk).await?;
        }
        Ok(changed)
    }

    async fn read_chunk(&self, session: &mut MailSession, uids: &[u32]) -> Result<usize, Error> {
        let fetched = session
            .fetch(uids, Limits::default().max_mail_bytes)
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

    /// One mail from the inbox: a Notify (or a People) proven to come from
    /// the presence server updates that colleague (or the directory);
    /// anything else is left for the user.
    pub(super) fn read_mail(&self, raw: &[u8]) -> Result<Reading, Error> {
        let parsed = mail::parse(raw, Limits::default());
        let (n, people, memo) = match &parsed.outcome {
            Outcome::Presence(PresenceMessage::Notify(n)) => (Some(n), None, None),
            Outcome::Presence(PresenceMessage::People(p)) if p.watcher == self.account => {
                (None, Some(p), None)
            }
            Outcome::Presence(PresenceMessage::Memo(m)) if m.recipient == self.account => {
                (None, None, Some(m))
            }
            other => {
                debug!(outcome = ?other, "not a Notify or People mail for this phone");
                return Ok(Reading::NotFromServer);
            }
        };
        if !self.sent_by_presence_server(&parsed) {
            return Ok(Reading::NotFromServer);
        }
        if let Some(id) = &parsed.envelope.message_id
            && self.store().seen(id)?
        {
            return Ok(Reading::Presence { changed: false });
        }
        let now = Utc::now();
        let changed = match (n, people) {
            (Some(n), _) => self.take_notify(n.clone(), now)?,
            (None, None) if memo.is_some() => {
                // A 伝言メモ from the board: the app shows it; the board keeps it until cleared.
                if let Some(m) = memo {
                    info!(memo = %m.id, "a phone message (伝言メモ) arrived");
                    self.emit(Event::Memo(Box::new(m.clone())));
                }
                false
            }
            (None, Some(people)) => {
                let sent_at = parsed
                    .envelope
                    .date
                    .as_deref()
                    .and_then(|d| chrono::DateTime::parse_from_rfc2822(d.trim()).ok())
                    .map(|d| d.with_timezone(&Utc));
                self.take_people(people.clone(), sent_at, now)?;
                false
            }
            (None, None) => false,
        };
        if let Some(id) = &parsed.envelope.message_id {
            self.store().mark_seen(id, now)?;
        }
        Ok(Reading::Presence { changed })
    }

    /// Whether the presence server sent this mail: a phone that pinned the
    /// server's key at enrolment believes its signature alone; one without,
    /// the company mail system's proof.
    fn sent_by_presence_server(&self, parsed: &mail::ParsedMail) -> bool {
        match self.server_signed(parsed) {
            Some(true) => {
                debug!("signed by the pinned server key");
                true
            }
            Some(false) => {
                warn!(from = ?parsed.envelope.from, "a mail without the presence server's valid signature is left unread and not shown");
                false
            }
            None => match proven_sent_by_presence_server(&self.config, &parsed.envelope) {
                Ok(proof) => {
                    debug!(%proof, "proven to come from the presence server");
                    true
                }
                Err(why) => {
                    warn!(from = ?parsed.envelope.from, "a mail not proven to come from the presence server is left unread and not shown: {why}");
                    false
                }
            },
        }
    }

    /// A colleague's proven presence, kept unless what is stored is newer.
    fn take_notify(&self, mut n: mail::Notify, now: chrono::DateTime<Utc>) -> Result<bool, Error> {
        if n.presence.clamp_future_updated(now) {
            debug!(colleague = %n.notifier, "Updated lies in the future; taken as now");
        }
        let saved = self
            .store()
            .save_colleague(n.notifier.as_str(), &n.presence, now)?;
        if saved {
            info!(colleague = %n.notifier, "presence received");
            self.emit(Event::Colleague(Box::new(Colleague {
                account: n.notifier.to_string(),
                fields: n.presence,
                received_at: now,
            })));
        }
        Ok(saved)
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

/// Why a mail that reads as a Notify is not believed.
#[derive(Debug, thiserror::Error)]
pub enum NotifyRefusal {
    #[error("From {from:?} is not the presence server ({presence_server})")]
    NotTheServer {
        from: String,
        presence_server: String,
    },
    /// Nothing can be proven without the mail system's authserv-id.
    #[error(
        "no authserv_id is set, so nothing can prove a Notify came from the presence server; \
         set the company mail system's authserv-id in the account"
    )]
    NoAuthservId,
    #[error("not proven by the company's mail system: {0}")]
    NotProven(#[from] TrustFailure),
}

/// A Notify counts only from the presence server's exact address, as the
/// company's mail system (named by the account's authserv-id) proved it:
/// the shared [`check_sender`], the same rule the server applies to mail it
/// takes in. Without an authserv-id nothing is proven, so nothing counts.
fn proven_sent_by_presence_server(
    config: &TerminalConfig,
    envelope: &mail::Envelope,
) -> Result<Proof, NotifyRefusal> {
    let from = envelope.from.as_deref().unwrap_or_default();
    if !from.eq_ignore_ascii_case(config.presence_server.trim()) {
        return Err(NotifyRefusal::NotTheServer {
            from: from.to_owned(),
            presence_server: config.presence_server.clone(),
        });
    }
    let authserv_id = config
        .authserv_id
        .as_deref()
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .ok_or(NotifyRefusal::NoAuthservId)?;
    let trust = SenderTrust::AuthenticationResults {
        authserv_id: authserv_id.to_owned(),
        alignment: Alignment::Strict,
        envelope: EnvelopeRule::Require,
        delivery_hops: config.delivery_hops as usize,
    };
    Ok(check_sender(&trust, envelope)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::terminal::testing::{AUTHSERV_ID, PRESENCE_SERVER, offline_config, open};

    /// The golden Notify (from presence@example.co.jp, Return-Path the same)
    /// as the mailbox server delivers it: its Return-Path and Received on top,
    /// with `stamp` as the Authentication-Results the mail system added below
    /// them.
    fn notify(stamp: Option<&str>) -> Vec<u8> {
        let golden = include_bytes!("../../../protocol/tests/golden/notify-from-server.eml");
        let mut raw = format!(
            "Return-Path: <{PRESENCE_SERVER}>\r\nReceived: from mx.example.co.jp by mailbox.example.co.jp with LMTP\r\n"
        )
        .into_bytes();
        if let Some(s) = stamp {
            raw.extend_from_slice(format!("Authentication-Results: {s}\r\n").as_bytes());
        }
        raw.extend_from_slice(golden);
        raw
    }

    fn proven_stamp() -> String {
        format!("{AUTHSERV_ID}; dkim=pass header.d=example.co.jp header.s=mail")
    }

    fn read(config: TerminalConfig, raw: &[u8]) -> (Reading, usize) {
        let dir = tempfile::tempdir().expect("tempdir");
        let terminal = open(config, dir.path());
        let reading = terminal.read_mail(raw).expect("read");
        (reading, terminal.colleagues().expect("colleagues").len())
    }

    #[test]
    fn a_notify_the_mail_system_proved_is_shown() {
        let (reading, shown) = read(offline_config(), &notify(Some(&proven_stamp())));
        assert!(matches!(reading, Reading::Presence { changed: true }));
        assert_eq!(shown, 1);
    }

    #[test]
    fn a_notify_whose_envelope_sender_is_not_the_server_is_left_alone() {
        // Signed by the company (a colleague logged in as himself typed the
        // presence address in From), but his login-bound envelope shows.
        let raw = String::from_utf8(notify(Some(&proven_stamp())))
            .unwrap()
            .replacen(
                &format!("Return-Path: <{PRESENCE_SERVER}>"),
                "Return-Path: <sato@example.co.jp>",
                1,
            );
        let (reading, shown) = read(offline_config(), raw.as_bytes());
        assert!(matches!(reading, Reading::NotFromServer));
        assert_eq!(shown, 0);
    }

    #[test]
    fn an_unproven_notify_is_left_alone() {
        let forged_stamp = "mx.elsewhere.example; dkim=pass header.d=example.co.jp";
        let failed = format!("{AUTHSERV_ID}; dkim=fail header.d=example.co.jp");
        for raw in [
            notify(None),
            notify(Some(forged_stamp)),
            notify(Some(&failed)),
        ] {
            let (reading, shown) = read(offline_config(), &raw);
            assert!(matches!(reading, Reading::NotFromServer));
            assert_eq!(shown, 0);
        }
    }

    #[test]
    fn without_an_authserv_id_no_notify_is_believed() {
        let mut config = offline_config();
        config.authserv_id = None;
        let (reading, shown) = read(config.clone(), &notify(Some(&proven_stamp())));
        assert!(matches!(reading, Reading::NotFromServer));
        assert_eq!(shown, 0);
        let envelope = mail::parse(&notify(Some(&proven_stamp())), Limits::default()).envelope;
        let refusal = proven_sent_by_presence_server(&config, &envelope);
        assert!(
            matches!(refusal, Err(NotifyRefusal::NoAuthservId)),
            "{refusal:?}"
        );
        config.authserv_id = Some("  ".into());
        assert!(matches!(
            proven_sent_by_presence_server(&config, &envelope),
            Err(NotifyRefusal::NoAuthservId)
        ));
    }

    #[test]
    fn a_notify_from_another_address_is_not_the_servers() {
        let mut config = offline_config();
        config.presence_server = format!("other-{PRESENCE_SERVER}");
        let envelope = mail::parse(&notify(Some(&proven_stamp())), Limits::default()).envelope;
        let refusal = proven_sent_by_presence_server(&config, &envelope);
        assert!(
            matches!(refusal, Err(NotifyRefusal::NotTheServer { .. })),
            "{refusal:?}"
        );
    }

    /// A phone that pinned the server's key at enrolment: the key decides,
    /// not the mail system's stamp.
    #[test]
    fn with_a_pinned_server_key_only_its_signature_counts() {
        use ed25519_dalek::SigningKey;
        use mailpresence_protocol::enrolment::public_key_text;
        use mailpresence_protocol::mail::device_signature::sign_mail;
        let server = SigningKey::from_bytes(&[7u8; 32]);
        let stranger = SigningKey::from_bytes(&[8u8; 32]);
        let mut config = offline_config();
        config.server_key = Some(public_key_text(&server.verifying_key()));
        let now = Utc::now().timestamp();
        // Proven by the mail system, but unsigned: not shown.
        let (reading, shown) = read(config.clone(), &notify(Some(&proven_stamp())));
        assert!(matches!(reading, Reading::NotFromServer));
        assert_eq!(shown, 0);
        // Signed by another key: not shown.
        let forged = sign_mail(&notify(Some(&proven_stamp())), &stranger, now).expect("signs");
        assert_eq!(read(config.clone(), &forged).1, 0);
        // Signed by the pinned key but addressed to someone else (the golden
        // Notify is To the presence address): passed on, not shown.
        let elsewhere = sign_mail(&notify(None), &server, now).expect("signs");
        assert_eq!(read(config.clone(), &elsewhere).1, 0);
        // Signed by the pinned key, to this phone: shown, even with no stamp at all.
        let mine = String::from_utf8_lossy(&notify(None))
            .replacen("To: presence@example.co.jp", "To: tanaka@example.co.jp", 1)
            .into_bytes();
        let signed = sign_mail(&mine, &server, now).expect("signs");
        let (reading, shown) = read(config, &signed);
        assert!(matches!(reading, Reading::Presence { changed: true }));
        assert_eq!(shown, 1);
    }

    /// A 伝言メモ signed by the pinned server key, for this worker: the app
    /// hears it; one for someone else, or unsigned, it does not.
    #[test]
    fn a_phone_message_from_the_board_reaches_the_app_once_and_only_its_own() {
        use ed25519_dalek::SigningKey;
        use mailpresence_protocol::enrolment::public_key_text;
        use mailpresence_protocol::mail::device_signature::sign_mail;
        use mailpresence_protocol::mail::{ComposeEnvelope, compose};
        use mailpresence_protocol::memo::Memo;
        let server = SigningKey::from_bytes(&[7u8; 32]);
        let mut config = offline_config();
        config.server_key = Some(public_key_text(&server.verifying_key()));
        let memo = |to: &str| Memo {
            recipient: to.parse().unwrap(),
            id: format!("m-{to}"),
            taken_by: "佐藤 一郎".into(),
            taken_at: Utc::now().fixed_offset(),
            caller: "山田商事 山田様".into(),
            callback: Some("03-1234-5678".into()),
            message: Some("見積の件で折り返しください".into()),
        };
        let mail = |m: Memo, sign: bool| {
            let envelope = ComposeEnvelope {
                from: PRESENCE_SERVER.into(),
                to: "tanaka@example.co.jp".into(),
                ..Default::default()
            };
            let raw = compose(&PresenceMessage::Memo(m), &envelope).unwrap();
            if sign {
                sign_mail(&raw, &server, Utc::now().timestamp()).unwrap()
            } else {
                raw
            }
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let terminal = open(config, dir.path());
        let mut events = terminal.events();
        let heard = |events: &mut tokio::sync::broadcast::Receiver<Event>| {
            std::iter::from_fn(|| events.try_recv().ok())
                .filter_map(|e| match e {
                    Event::Memo(m) => Some(m.caller.clone()),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        let signed = mail(memo("tanaka"), true);
        assert!(matches!(
            terminal.read_mail(&signed).unwrap(),
            Reading::Presence { .. }
        ));
        assert_eq!(heard(&mut events), ["山田商事 山田様"]);
        // The same mail again (a second sync) is not a second message.
        terminal.read_mail(&signed).unwrap();
        assert!(heard(&mut events).is_empty());
        for (raw, why) in [
            (mail(memo("sato"), true), "another worker's"),
            (mail(memo("tanaka"), false), "unsigned"),
        ] {
            assert!(
                matches!(terminal.read_mail(&raw).unwrap(), Reading::NotFromServer),
                "{why}"
            );
            assert!(heard(&mut events).is_empty(), "{why}");
        }
    }
}
