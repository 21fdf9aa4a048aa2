//! An SMTP transport (lettre, rustls) for an endpoint. A bearer token goes
//! as XOAUTH2 (lettre has no OAUTHBEARER; Microsoft 365, Gmail and Dovecot's
//! SASL all take XOAUTH2), read from its file when the transport is built.

use std::time::Duration;

use lettre::transport::smtp::authentication::{Credentials as SmtpCredentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, Tokio1Executor};

use super::sasl::{self, TokenFileError};
use super::{Credentials, Endpoint, TlsMode};

#[derive(Debug, thiserror::Error)]
pub enum SmtpSetupError {
    #[error("CA file {path}: {message}")]
    CaFile { path: String, message: String },
    #[error("TLS parameters: {0}")]
    Tls(String),
    #[error(transparent)]
    TokenFile(#[from] TokenFileError),
}

pub type SmtpTransport = AsyncSmtpTransport<Tokio1Executor>;

/// A transport to `endpoint`; the server may take `timeout` to answer each
/// command (lettre bounds every read and write with it).
pub fn transport(endpoint: &Endpoint, timeout: Duration) -> Result<SmtpTransport, SmtpSetupError> {
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
    match &endpoint.credentials {
        Some(Credentials::Password { user, password }) => {
            builder = builder.credentials(SmtpCredentials::new(
                user.clone(),
                password.expose().to_owned(),
            ));
        }
        Some(Credentials::Bearer {
            user, token_file, ..
        }) => {
            let token = sasl::read_token(token_file)?;
            builder = builder
                .credentials(SmtpCredentials::new(
                    user.clone(),
                    token.expose().to_owned(),
                ))
                .authentication(vec![Mechanism::Xoauth2]);
        }
        None => {}
    }
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::BearerMechanism;

    #[test]
    fn a_missing_token_file_is_named_when_the_transport_is_built() {
        let endpoint = Endpoint {
            host: "127.0.0.1".into(),
            port: 587,
            tls: TlsMode::None,
            credentials: Some(Credentials::Bearer {
                user: "u@example.test".into(),
                token_file: "/nonexistent/token".into(),
                mechanism: BearerMechanism::Oauthbearer,
            }),
            ca_file: None,
        };
        let err = transport(&endpoint, Duration::from_secs(1)).expect_err("no token");
        assert!(
            matches!(&err, SmtpSetupError::TokenFile(e) if e.path == "/nonexistent/token"),
            "{err}"
        );
    }
}
