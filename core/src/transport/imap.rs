//! IMAP login over plain TCP, STARTTLS or implicit TLS, with async-imap.

use std::fmt::Debug;
use std::time::Duration;

use async_imap::Session;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::tls::{self, TlsError};
use super::{Endpoint, TlsMode};

pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Debug> Stream for T {}

/// A logged-in IMAP session over any of the three transports.
pub type ImapSession = Session<Box<dyn Stream>>;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot reach {0}: {1}")]
    Unreachable(String, std::io::Error),
    #[error("TLS with {0}: {1}")]
    Tls(String, String),
    #[error(transparent)]
    TlsSetup(#[from] TlsError),
    #[error("login as {user} refused: {message}")]
    Login { user: String, message: String },
    #[error("no user and password for IMAP")]
    NoCredentials,
    #[error("IMAP: {0}")]
    Imap(#[from] async_imap::error::Error),
}

/// Connects and logs in.
pub async fn connect(endpoint: &Endpoint) -> Result<ImapSession, ConnectError> {
    let (user, password) = endpoint
        .credentials
        .clone()
        .ok_or(ConnectError::NoCredentials)?;
    let addr = format!("{}:{}", endpoint.host, endpoint.port);
    let tcp = tokio::time::timeout(Duration::from_secs(20), TcpStream::connect(&addr))
        .await
        .map_err(|_| ConnectError::Unreachable(addr.clone(), std::io::ErrorKind::TimedOut.into()))?
        .map_err(|e| ConnectError::Unreachable(addr.clone(), e))?;
    tcp.set_nodelay(true).ok();
    let stream: Box<dyn Stream> = match endpoint.tls {
        TlsMode::None => Box::new(tcp),
        TlsMode::Implicit => Box::new(wrap_tls(endpoint, tcp).await?),
        TlsMode::Starttls => {
            let mut client = async_imap::Client::new(tcp);
            client
                .read_response()
                .await
                .map_err(|e| ConnectError::Unreachable(addr.clone(), e))?;
            client.run_command_and_check_ok("STARTTLS", None).await?;
            Box::new(wrap_tls(endpoint, client.into_inner()).await?)
        }
    };
    let mut client = async_imap::Client::new(stream);
    if endpoint.tls != TlsMode::Starttls {
        client
            .read_response()
            .await
            .map_err(|e| ConnectError::Unreachable(addr.clone(), e))?;
    }
    client
        .login(&user, &password)
        .await
        .map_err(|(e, _)| ConnectError::Login {
            user: user.clone(),
            message: e.to_string(),
        })
}

async fn wrap_tls(
    endpoint: &Endpoint,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ConnectError> {
    let config = tls::client_config(endpoint.ca_file.as_deref())?;
    let name = rustls_pki_types::ServerName::try_from(endpoint.host.clone())
        .map_err(|e| ConnectError::Tls(endpoint.host.clone(), e.to_string()))?;
    tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| ConnectError::Tls(endpoint.host.clone(), e.to_string()))
}

/// Whether the server announced new mail while other commands ran (an
/// `EXISTS` or `RECENT` among the unsolicited responses, which are drained
/// here). Such a mail arrived after the last search and before IDLE: IDLE
/// would not announce it again, so the caller reads the mailbox once more
/// instead of waiting for the next change.
pub fn mail_announced(session: &ImapSession) -> bool {
    use async_imap::types::UnsolicitedResponse;
    let mut announced = false;
    while let Ok(response) = session.unsolicited_responses.try_recv() {
        announced |= matches!(
            response,
            UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_)
        );
    }
    announced
}
