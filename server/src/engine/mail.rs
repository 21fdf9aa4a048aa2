//! A presence mail as the engine takes it: the checks every mail passes
//! (a proven sender, not the server itself, within the sender's hourly
//! limit, speaking only for its own account, signed by its device where
//! the person enrolled one), then each kind turned into the engine's
//! requests (a Publish, a Subscribe) or answered here (an Enrol, a
//! Directory). No I/O, like the rest of the engine.

use mailpresence_protocol::mail::auth::{Proof, TrustFailure};
use mailpresence_protocol::mail::{
    DirectoryQuery, Outcome, ParsedMail, PresenceMessage, Publish, Subscribe,
};
use mailpresence_protocol::model::AccountName;

use super::{Engine, Reply, RequestRefusal, Step, SubscribeRequest, Verdict};
use crate::device_keys;
use crate::directory::Person;
use crate::store::{Medium, Result, Store, Time};

impl Engine {
    /// A mail read from the presence mailbox, with what the transport could
    /// prove about its sender.
    pub fn on_mail(
        &self,
        store: &mut dyn Store,
        mail: &ParsedMail,
        sender: &std::result::Result<Proof, TrustFailure>,
        now: Time,
    ) -> Result<Step> {
        let message = match &mail.outcome {
            Outcome::Presence(m) => m,
            Outcome::NotPresence(why) => {
                return Ok(Step::verdict(Verdict::Ignored(format!(
                    "not a presence mail: {why}"
                ))));
            }
            Outcome::Refused(why) => {
                return Ok(Step::refused(RequestRefusal::Wire(why.to_string())));
            }
            Outcome::Malformed(why) => {
                return Ok(Step::refused(RequestRefusal::Malformed(why.to_string())));
            }
        };
        let Some(from) = mail.envelope.from.as_deref() else {
            return Ok(Step::refused(RequestRefusal::NoFrom));
        };
        if from.eq_ignore_ascii_case(&self.own_address) {
            return Ok(Step::refused(RequestRefusal::OwnAddress));
        }
        if let Err(why) = sender {
            return Ok(Step::refused(RequestRefusal::Unproven(why.clone())));
        }
        let limit = self.policy.sender_mails_per_hour;
        let count = store.count_sender_mail(&from.to_ascii_lowercase(), now)?;
        if count > limit {
            return Ok(Step::refused(RequestRefusal::RateLimited {
                sender: from.to_owned(),
                limit,
                first: count == limit.saturating_add(1),
            }));
        }
        match message {
            PresenceMessage::Publish(p) => self.on_publish_mail(store, p, from, mail, now),
            PresenceMessage::Subscribe(s) => self.on_subscribe_mail(store, s, from, mail, now),
            PresenceMessage::Enrol(e) => self.on_enrol_mail(store, e, from, mail, now),
            PresenceMessage::Directory(d) => self.on_directory_mail(store, d, from, mail, now),
            PresenceMessage::Notify(_)
            | PresenceMessage::Enrolled(_)
            | PresenceMessage::People(_)
            | PresenceMessage::Memo(_) => Ok(Step::refused(RequestRefusal::NotifyToServer)),
        }
    }

    /// The person's device signature (or none, as `[trust] unsigned` says).
    fn device_signed(
        &self,
        store: &mut dyn Store,
        account: &AccountName,
        mail: &ParsedMail,
        now: Time,
    ) -> Result<std::result::Result<(), RequestRefusal>> {
        Ok(
            device_keys::check_signed(store, account, mail, self.unsigned, now)?
                .map_err(RequestRefusal::Device),
        )
    }

    fn on_enrol_mail(
        &self,
        store: &mut dyn Store,
        e: &mailpresence_protocol::mail::Enrol,
        from: &str,
        mail: &ParsedMail,
        now: Time,
    ) -> Result<Step> {
        if let Err(refusal) = self.sent_by(&e.account, from) {
            return Ok(Step::refused(refusal));
        }
        match device_keys::enrol(store, mail, e, now)? {
            Ok(enrolled) => {
                let mut step = Step::verdict(Verdict::Applied(format!(
                    "{}'s phone enrolled (device {}, key {})",
                    enrolled.account, enrolled.device, enrolled.key
                )));
                step.reply = Some(Reply {
                    to: from.to_owned(),
                    message: PresenceMessage::Enrolled(enrolled),
                    reference: mail.envelope.message_id.clone(),
                    replaces: None,
                });
                Ok(step)
            }
            Err(why) => Ok(Step::refused(RequestRefusal::Device(why))),
        }
    }

    /// A phone asks whom its person may see: answered with one People
    /// mail to the proven sender alone, bounded to what one mail holds.
    fn on_directory_mail(
        &self,
        store: &mut dyn Store,
        d: &DirectoryQuery,
        from: &str,
        mail: &ParsedMail,
        now: Time,
    ) -> Result<Step> {
        if let Err(refusal) = self.sent_by(&d.watcher, from) {
            return Ok(Step::refused(refusal));
        }
        if let Err(refusal) = self.device_signed(store, &d.watcher, mail, now)? {
            return Ok(Step::refused(refusal));
        }
        let people =
            crate::directory::people::answer(&self.directory, &d.watcher, d.query.as_deref());
        let mut step = Step::verdict(Verdict::Applied(format!(
            "directory for {}: {} of {} colleague(s) listed",
            d.watcher,
            people.people.len(),
            people.total
        )));
        step.reply = Some(Reply {
            to: from.to_owned(),
            message: PresenceMessage::People(people),
            reference: mail.envelope.message_id.clone(),
            replaces: Some(format!("people\n{}", from.to_ascii_lowercase())),
        });
        Ok(step)
    }

    fn on_publish_mail(
        &self,
        store: &mut dyn Store,
        p: &Publish,
        from: &str,
        mail: &ParsedMail,
        now: Time,
    ) -> Result<Step> {
        if let Err(refusal) = self.sent_by(&p.publisher, from) {
            return Ok(Step::refused(refusal));
        }
        if let Err(refusal) = self.device_signed(store, &p.publisher, mail, now)? {
            return Ok(Step::refused(refusal));
        }
        self.publish(store, &p.publisher, p.presence.clone(), Medium::Mail, now)
    }

    fn on_subscribe_mail(
        &self,
        store: &mut dyn Store,
        s: &Subscribe,
        from: &str,
        mail: &ParsedMail,
        now: Time,
    ) -> Result<Step> {
        let message_id = mail.envelope.message_id.clone();
        let watcher = match self.sent_by(&s.watcher, from) {
            Ok(watcher) => watcher,
            Err(refusal) => return Ok(Step::refused(refusal)),
        };
        if !watcher.owns_address(&s.send_to) {
            return Ok(Step::refused(RequestRefusal::ForeignSendTo {
                watcher: s.watcher.clone(),
                send_to: s.send_to.clone(),
            }));
        }
        // A mail request's answer goes by mail: a SIP URI here is a mistake.
        if crate::directory::sip_user_host(&s.send_to).is_some() {
            return Ok(Step::refused(RequestRefusal::SipSendTo(s.send_to.clone())));
        }
        // Last of the checks: a device is marked seen only for a mail that
        // nothing else refuses.
        if let Err(refusal) = self.device_signed(store, &s.watcher, mail, now)? {
            return Ok(Step::refused(refusal));
        }
        self.subscribe(
            store,
            SubscribeRequest {
                watcher: s.watcher.clone(),
                notifiers: s.notifiers.clone(),
                medium: Medium::Mail,
                deliver_to: s.send_to.clone(),
                mode: s.mode,
                expires_secs: s.expires.map(u64::from),
                reference: message_id,
            },
            now,
        )
    }

    /// The person `account` names, if the proven `from` is their mail
    /// address: a mail speaks only for its own sender.
    fn sent_by(
        &self,
        account: &AccountName,
        from: &str,
    ) -> std::result::Result<&Person, RequestRefusal> {
        let person = self
            .directory
            .person(account)
            .ok_or_else(|| RequestRefusal::UnknownAccount(account.clone()))?;
        let own = person
            .mail
            .as_deref()
            .is_some_and(|m| m.eq_ignore_ascii_case(from));
        if !own {
            return Err(RequestRefusal::SpoofedFrom {
                account: account.clone(),
                from: from.to_owned(),
            });
        }
        Ok(person)
    }
}
