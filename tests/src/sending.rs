//! Mail into the test mail servers as a world's people send it: plain SMTP
//! from outside, submission as a phone, DKIM-signed relays, and presence
//! mails composed with the core.

use std::time::Duration;

use lettre::address::Envelope;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use mailpresence_protocol::mail::{self, ComposeEnvelope, PresenceMessage};
use mailpresence_protocol::transport::{Endpoint, TlsMode};

use crate::{World, tag};

impl World {
    /// Sends `raw` over plain SMTP (Postfix's inbound port, no login), as a
    /// stranger on the internet would: the mail is verified there, not signed.
    pub async fn send(&self, from: &str, to: &str, raw: &[u8]) {
        self.try_send(from, to, raw)
            .await
            .expect("Postfix takes the mail");
    }

    /// As [`send`](Self::send), saying whether Postfix took the mail: the
    /// inbound port refuses the company's own addresses as envelope senders
    /// from anyone not logged in as them.
    pub async fn try_send(&self, from: &str, to: &str, raw: &[u8]) -> Result<(), String> {
        let smtp = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(self.servers.smtp_port)
            .build();
        let env = Envelope::new(Some(from.parse().unwrap()), vec![to.parse().unwrap()]).unwrap();
        smtp.send_raw(&env, raw)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    /// Sends `raw` as a phone does: logged in as `from` on the submission
    /// port (STARTTLS), where the company's mail system signs it.
    pub async fn submit(&self, from: &str, to: &str, raw: &[u8]) {
        let endpoint = Endpoint {
            host: "127.0.0.1".into(),
            port: self.servers.submission_port,
            tls: TlsMode::Starttls,
            credentials: Some(mailpresence_protocol::transport::Credentials::password(
                from, "secret",
            )),
            ca_file: Some(self.servers.ca.clone()),
        };
        let smtp =
            mailpresence_protocol::transport::smtp::transport(&endpoint, Duration::from_secs(30))
                .expect("SMTP setup");
        let env = Envelope::new(Some(from.parse().unwrap()), vec![to.parse().unwrap()]).unwrap();
        smtp.send_raw(&env, raw)
            .await
            .expect("Postfix takes the mail on submission");
    }

    /// `raw` with a DKIM signature by `domain`'s test key, as that domain's
    /// submission server would sign it.
    pub fn sign_as(&self, domain: &str, raw: &[u8]) -> Vec<u8> {
        use mail_auth::common::crypto::{RsaKey, Sha256};
        use mail_auth::common::headers::HeaderWriter;
        let pem = std::fs::read_to_string(self.servers.dkim_dir.join(domain).join("mail.private"))
            .expect("DKIM key of the test mail servers");
        #[allow(deprecated)] // the PEM helper is deprecated in favour of DER plumbing
        let key = RsaKey::<Sha256>::from_pkcs8_pem(&pem).expect("PKCS#8 key");
        let signature = mail_auth::dkim::DkimSigner::from_key(key)
            .domain(domain)
            .selector("mail")
            .headers(["From", "To", "Subject", "Message-ID"])
            .sign(raw)
            .expect("signs");
        let mut signed = signature.to_header().into_bytes();
        signed.extend_from_slice(raw);
        signed
    }

    /// A presence mail signed with the company's key and handed to the
    /// internal relay port, as mail from the company's submission server
    /// relayed to the verifier: it needs no login, so it goes through while
    /// Dovecot (the login backend) is down.
    pub async fn send_presence_signed(&self, from: &str, message: &PresenceMessage) -> String {
        let (id, raw) = self.compose_presence(from, message);
        let signed = self.sign_as(&self.servers.domain, &raw);
        let relay = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(self.servers.relay_port)
            .build();
        let env = Envelope::new(
            Some(from.parse().unwrap()),
            vec![self.presence.parse().unwrap()],
        )
        .unwrap();
        relay
            .send_raw(&env, &signed)
            .await
            .expect("Postfix takes the mail on the relay port");
        id
    }

    /// A presence mail from `from` to the presence mailbox, with a fresh
    /// Message-ID (returned with it).
    fn compose_presence(&self, from: &str, message: &PresenceMessage) -> (String, Vec<u8>) {
        let id = format!("<{}.{}@{}>", tag(), self.tag, self.servers.domain);
        let env = ComposeEnvelope {
            from: from.into(),
            to: self.presence.clone(),
            message_id: Some(id.clone()),
            in_reply_to: None,
        };
        (id, mail::compose(message, &env).expect("composes"))
    }

    /// Composes a presence mail with the core and submits it to the presence
    /// mailbox as the phone of `from` would.
    pub async fn send_presence(&self, from: &str, message: &PresenceMessage) -> String {
        let (id, raw) = self.compose_presence(from, message);
        self.submit(from, &self.presence, &raw).await;
        id
    }
}
