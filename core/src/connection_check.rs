//! "Test connection" on the Account screen: the account as the form holds
//! it, before it is saved, logs in to its IMAP server and to its SMTP server
//! (no mail is sent, nothing is stored). A failure is the one public error,
//! decided by what the server answered (`error.rs`): a refused login, no
//! link, a certificate that is not trusted.

use std::sync::Arc;
use std::time::Duration;

use mailpresence_protocol::transport::imap::{MailSession, Timeouts};
use mailpresence_protocol::transport::oauth::{RefreshTokenStore, TokenSource};
use mailpresence_protocol::transport::outbox::SendFailure;
use mailpresence_protocol::transport::{Credentials, Endpoint, smtp};

use crate::api::AccountConfig;
use crate::error::{Error, PresenceError};
use crate::sign_in::{AppTokens, TokenStorage};

/// How long each server may take to connect and log in: a person waits.
const CHECK_TIMEOUT: Duration = Duration::from_secs(20);

/// Logs in to the IMAP and then the SMTP server of `config` as it is (the
/// form being edited, not the saved account). With the company's sign-in
/// (`config.oauth`) the refresh token comes from `tokens`; the SMTP login
/// with a sign-in is then left to the first mail (the IMAP login already
/// proved the token).
#[uniffi::export(default(tokens = None))]
pub async fn test_connection(
    config: AccountConfig,
    tokens: Option<Arc<dyn TokenStorage>>,
) -> Result<(), PresenceError> {
    // The mail sessions need Tokio; the app's executor polls this.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("mailpresence-check")
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    let checked = runtime
        .spawn(async move { check(&config, tokens).await })
        .await;
    // Never blocks, so it is safe wherever this future is polled.
    runtime.shutdown_background();
    Ok(checked.map_err(Error::from)??)
}

async fn check(config: &AccountConfig, tokens: Option<Arc<dyn TokenStorage>>) -> Result<(), Error> {
    let signed_in = config.oauth.clone().zip(tokens).map(|(provider, tokens)| {
        TokenSource::refresh(
            provider,
            Arc::new(AppTokens(tokens)) as Arc<dyn RefreshTokenStore>,
        )
    });
    let imap = config.imap.endpoint_signed_in(signed_in.as_ref());
    let timeouts = Timeouts {
        connect: CHECK_TIMEOUT,
        command: CHECK_TIMEOUT,
        ..Timeouts::default()
    };
    MailSession::open(&imap, timeouts).await?.logout().await;
    check_smtp(&config.smtp.endpoint_signed_in(signed_in.as_ref())).await
}

/// Connects, says EHLO, starts TLS as set and logs in; then QUIT.
async fn check_smtp(endpoint: &Endpoint) -> Result<(), Error> {
    if matches!(endpoint.credentials, Some(Credentials::Bearer { .. })) {
        return Ok(());
    }
    let transport = smtp::transport(endpoint, CHECK_TIMEOUT)?;
    match tokio::time::timeout(CHECK_TIMEOUT, transport.test_connection()).await {
        Ok(Ok(true)) => Ok(()),
        Ok(Ok(false)) => Err(SendFailure::Transient(format!(
            "{}:{} closed the connection",
            endpoint.host, endpoint.port
        ))
        .into()),
        Ok(Err(e)) => Err(SendFailure::from_smtp(&e).into()),
        Err(_) => Err(SendFailure::Transient(format!(
            "{}:{} did not answer within {} s",
            endpoint.host,
            endpoint.port,
            CHECK_TIMEOUT.as_secs()
        ))
        .into()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test may stop at the first surprise

    use super::*;
    use crate::location::Granularity;
    use crate::terminal::MailServer;
    use mailpresence_protocol::transport::TlsMode;

    fn account(port: u16, tls: TlsMode, ca_file: Option<String>) -> AccountConfig {
        let server = MailServer {
            host: "127.0.0.1".into(),
            port,
            tls,
            user: Some("tanaka@example.test".into()),
            password: Some("pw".into()),
            oauth_token_file: None,
            oauth_mechanism: None,
            ca_file,
        };
        AccountConfig {
            account: "tanaka".into(),
            mail: "tanaka@example.test".into(),
            presence_server: "presence@example.test".into(),
            language: "ja".into(),
            imap: server.clone(),
            smtp: server,
            granularity: Granularity::City,
            authserv_id: None,
            delivery_hops: None,
            oauth: None,
            server_key: None,
        }
    }

    #[tokio::test]
    async fn a_server_that_is_not_there_is_unreachable() {
        let checked = test_connection(account(1, TlsMode::None, None), None).await;
        assert!(
            matches!(checked, Err(PresenceError::Unreachable { .. })),
            "{checked:?}"
        );
    }

    #[tokio::test]
    async fn a_company_ca_file_that_holds_no_certificate_is_a_certificate_problem() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("company-ca.pem");
        std::fs::write(&ca, "not a certificate").unwrap();
        // A server that takes the connection: the CA is read for its TLS.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                open.push(socket);
            }
        });
        let checked = test_connection(
            account(port, TlsMode::Implicit, Some(ca.display().to_string())),
            None,
        )
        .await;
        held.abort();
        assert!(
            matches!(checked, Err(PresenceError::Certificate { .. })),
            "{checked:?}"
        );
    }
}
