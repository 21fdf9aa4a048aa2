//! Sending over SMTP (lettre, rustls) to an endpoint: [`Mailer`] hands one
//! mail over, logging in with a password or a bearer token. A token goes as
//! XOAUTH2 (lettre has no OAUTHBEARER; Microsoft 365, Gmail and Dovecot's
//! SASL all take XOAUTH2); the transport is rebuilt when the token changes,
//! and a refused token (535) is replaced once and the mail tried once more.

use std::time::Duration;

use lettre::AsyncTransport;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials as SmtpCredentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, Tokio1Executor};
use tokio::sync::Mutex;
use tracing::debug;

use super::oauth::{TokenError, TokenSource};
use super::outbox::SendFailure;
use super::{Credentials, Endpoint, TlsMode};
use crate::secret::Secret;

#[derive(Debug, thiserror::Error)]
pub enum SmtpSetupError {
    #[error("CA file {path}: {message}")]
    CaFile { path: String, message: String },
    #[error("TLS parameters: {0}")]
    Tls(String),
}

pub type SmtpTransport = AsyncSmtpTransport<Tokio1Executor>;

/// A transport to `endpoint` with a password login (or none); the server may
/// take `timeout` to answer each command (lettre bounds every read and
/// write with it). A bearer login goes through [`Mailer`].
pub fn transport(endpoint: &Endpoint, timeout: Duration) -> Result<SmtpTransport, SmtpSetupError> {
    let builder = builder(endpoint, timeout)?;
    Ok(match &endpoint.credentials {
        Some(Credentials::Password { user, password }) => builder
            .credentials(SmtpCredentials::new(
                user.clone(),
                password.expose().to_owned(),
            ))
            .build(),
        _ => builder.build(),
    })
}

type Builder = lettre::transport::smtp::AsyncSmtpTransportBuilder;

fn builder(endpoint: &Endpoint, timeout: Duration) -> Result<Builder, SmtpSetupError> {
    let mut builder = SmtpTransport::builder_dangerous(&endpoint.host)
        .port(endpoint.port)
        .timeout(Some(timeout));
    if endpoint.tls != TlsMode::None {
        let mut params = TlsParameters::builder(endpoint.host.clone());
        if let Some(ca) = &endpoint.ca_file {
            let err = |message: String| SmtpSetupError::CaFile {
                path: ca.display().to_string(),
                message,
            };
            let pem = std::fs::read(ca).map_err(|e| err(e.to_string()))?;
            params = params
                .add_root_certificate(Certificate::from_pem(&pem).map_err(|e| err(e.to_string()))?);
        }
        let params = params
            .build_rustls()
            .map_err(|e| SmtpSetupError::Tls(e.to_string()))?;
        builder = builder.tls(match endpoint.tls {
            TlsMode::Implicit => Tls::Wrapper(params),
            _ => Tls::Required(params),
        });
    }
    Ok(builder)
}

/// Hands mails to one SMTP endpoint. With a bearer login it keeps the
/// transport built for the current token and rebuilds it when the token
/// source gives another.
#[derive(Debug)]
pub struct Mailer {
    endpoint: Endpoint,
    timeout: Duration,
    /// The transport and the token it was built with (none for a password).
    built: Mutex<Option<(SmtpTransport, Option<Secret>)>>,
}

impl Mailer {
    /// Checks the TLS settings (the CA file) at once; a token is fetched at
    /// the first send.
    pub fn new(endpoint: Endpoint, timeout: Duration) -> Result<Self, SmtpSetupError> {
        builder(&endpoint, timeout)?;
        Ok(Self {
            endpoint,
            timeout,
            built: Mutex::new(None),
        })
    }

    /// Hands one mail over within `limit`. A refused token is replaced once.
    pub async fn send(
        &self,
        envelope: &Envelope,
        raw: &[u8],
        limit: Duration,
    ) -> Result<(), SendFailure> {
        let (transport, token) = self.current().await?;
        let failure = match send_within(&transport, envelope, raw, limit).await {
            Ok(()) => return Ok(()),
            Err(failure) => failure,
        };
        if !matches!(failure, SendFailure::Login(_)) {
            return Err(failure);
        }
        let (Some(token), Some(tokens)) = (token, self.tokens()) else {
            return Err(failure);
        };
        if !tokens.refused(&token).await {
            return Err(failure);
        }
        debug!("SMTP refused the token; trying once with a new one");
        let (transport, _) = self.current().await?;
        send_within(&transport, envelope, raw, limit).await
    }

    fn tokens(&self) -> Option<&TokenSource> {
        match &self.endpoint.credentials {
            Some(Credentials::Bearer { tokens, .. }) => Some(tokens),
            _ => None,
        }
    }

    /// The transport for the current token, built anew when it changed.
    async fn current(&self) -> Result<(SmtpTransport, Option<Secret>), SendFailure> {
        let token = match self.tokens() {
            Some(tokens) => Some(tokens.access_token().await.map_err(token_failure)?),
            None => None,
        };
        let mut built = self.built.lock().await;
        if let Some((transport, with)) = built.as_ref()
            && *with == token
        {
            return Ok((transport.clone(), token));
        }
        let transport = self.build(token.as_ref())?;
        *built = Some((transport.clone(), token.clone()));
        Ok((transport, token))
    }

    fn build(&self, token: Option<&Secret>) -> Result<SmtpTransport, SendFailure> {
        let setup = |e: SmtpSetupError| SendFailure::Tls(e.to_string());
        match (token, &self.endpoint.credentials) {
            (Some(token), Some(Credentials::Bearer { user, .. })) => {
                Ok(builder(&self.endpoint, self.timeout)
                    .map_err(setup)?
                    .credentials(SmtpCredentials::new(
                        user.clone(),
                        token.expose().to_owned(),
                    ))
                    .authentication(vec![Mechanism::Xoauth2])
                    .build())
            }
            _ => transport(&self.endpoint, self.timeout).map_err(setup),
        }
    }
}

/// No token, by why: a person has to sign in again, the provider refused the
/// application, or it could not be asked now.
fn token_failure(e: TokenError) -> SendFailure {
    match e {
        TokenError::SignInAgain(_) => SendFailure::SignInAgain(e.to_string()),
        TokenError::Unreachable(_) => SendFailure::Transient(e.to_string()),
        TokenError::Provider { .. } | TokenError::File(_) | TokenError::Config(_) => {
            SendFailure::Login(e.to_string())
        }
    }
}

async fn send_within(
    transport: &SmtpTransport,
    envelope: &Envelope,
    raw: &[u8],
    limit: Duration,
) -> Result<(), SendFailure> {
    match tokio::time::timeout(limit, transport.send_raw(envelope, raw)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(SendFailure::from_smtp(&e)),
        Err(_) => Err(SendFailure::Transient(format!(
            "the SMTP server did not take the mail within {} s",
            limit.as_secs()
        ))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::transport::BearerMechanism;

    fn endpoint(token_file: &str) -> Endpoint {
        Endpoint {
            host: "127.0.0.1".into(),
            port: 9,
            tls: TlsMode::None,
            credentials: Some(Credentials::token_file(
                "u@example.test",
                token_file,
                BearerMechanism::Oauthbearer,
            )),
            ca_file: None,
        }
    }

    #[tokio::test]
    async fn a_missing_token_file_is_named_when_a_mail_is_sent() {
        let mailer = Mailer::new(endpoint("/nonexistent/token"), Duration::from_secs(1)).unwrap();
        let envelope = Envelope::new(
            Some("a@example.test".parse().unwrap()),
            vec!["b@example.test".parse().unwrap()],
        )
        .unwrap();
        let err = mailer
            .send(
                &envelope,
                b"Subject: x\r\n\r\nx\r\n",
                Duration::from_secs(1),
            )
            .await
            .expect_err("no token");
        assert!(
            matches!(&err, SendFailure::Login(e) if e.contains("/nonexistent/token")),
            "{err}"
        );
    }

    #[test]
    fn a_missing_ca_file_is_named_when_the_mailer_is_made() {
        let mut endpoint = endpoint("/nonexistent/token");
        endpoint.tls = TlsMode::Implicit;
        endpoint.ca_file = Some("/nonexistent/ca.pem".into());
        let err = Mailer::new(endpoint, Duration::from_secs(1)).expect_err("no CA");
        assert!(matches!(err, SmtpSetupError::CaFile { .. }), "{err}");
    }

    /// An SMTP server offering XOAUTH2 that refuses the first `refusals`
    /// AUTH commands (535), calling `on_refusal` before answering, and takes
    /// the rest; returns its port and the AUTH lines it saw.
    async fn auth_server(
        refusals: usize,
        on_refusal: impl Fn() + Send + 'static,
    ) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 fake ESMTP\r\n").await;
                let mut in_data = false;
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    let reply: &str = if in_data {
                        if line != "." {
                            continue;
                        }
                        in_data = false;
                        "250 queued\r\n"
                    } else if upper.starts_with("EHLO") {
                        "250-fake\r\n250 AUTH XOAUTH2\r\n"
                    } else if upper.starts_with("AUTH") {
                        let tries = {
                            let mut log = log.lock().unwrap();
                            log.push(line.clone());
                            log.len()
                        };
                        if tries <= refusals {
                            on_refusal();
                            "535 5.7.8 token expired\r\n"
                        } else {
                            "235 2.7.0 ok\r\n"
                        }
                    } else if upper.starts_with("DATA") {
                        in_data = true;
                        "354 go on\r\n"
                    } else if upper.starts_with("QUIT") {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        break;
                    } else {
                        "250 ok\r\n"
                    };
                    if write.write_all(reply.as_bytes()).await.is_err() {
                        break;
                    }
                }
            }
        });
        (port, seen)
    }

    fn envelope() -> Envelope {
        Envelope::new(
            Some("u@example.test".parse().unwrap()),
            vec!["presence@example.test".parse().unwrap()],
        )
        .unwrap()
    }

    fn token_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("mp-smtp-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[tokio::test]
    async fn a_refused_token_is_replaced_once_and_the_mail_sent() {
        let dir = token_dir("renewed");
        let file = dir.join("token");
        std::fs::write(&file, "old-token").unwrap();
        // What keeps the file fresh rewrites it while the server refuses.
        let rewrite = file.clone();
        let (port, seen) = auth_server(1, move || {
            std::fs::write(&rewrite, "new-token").unwrap();
        })
        .await;
        let mut endpoint = endpoint(file.to_str().unwrap());
        endpoint.port = port;
        let mailer = Mailer::new(endpoint, Duration::from_secs(5)).unwrap();
        mailer
            .send(
                &envelope(),
                b"Subject: x\r\n\r\nx\r\n",
                Duration::from_secs(5),
            )
            .await
            .expect("sent with the new token");
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_ne!(seen[0], seen[1], "the second login carries another token");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[tokio::test]
    async fn a_token_refused_again_is_not_retried_in_a_loop() {
        let dir = token_dir("refused");
        let file = dir.join("token");
        std::fs::write(&file, "only-token").unwrap();
        let (port, seen) = auth_server(usize::MAX, || {}).await;
        let mut endpoint = endpoint(file.to_str().unwrap());
        endpoint.port = port;
        let mailer = Mailer::new(endpoint, Duration::from_secs(5)).unwrap();
        let err = mailer
            .send(
                &envelope(),
                b"Subject: x\r\n\r\nx\r\n",
                Duration::from_secs(5),
            )
            .await
            .expect_err("refused");
        assert!(
            matches!(&err, SendFailure::Login(e) if e.contains("535")),
            "{err}"
        );
        assert_eq!(seen.lock().unwrap().len(), 1, "no new token, no second try");
        std::fs::remove_dir_all(&dir).ok();
    }
}
