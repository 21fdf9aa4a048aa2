//! An SMTP transport (lettre, rustls) for an endpoint.

use std::time::Duration;

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, Tokio1Executor};

use super::{Endpoint, TlsMode};

#[derive(Debug, thiserror::Error)]
pub enum SmtpSetupError {
    #[error("CA file {path}: {message}")]
    CaFile { path: String, message: String },
    #[error("TLS parameters: {0}")]
    Tls(String),
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
    if let Some((user, password)) = &endpoint.credentials {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    Ok(builder.build())
}
