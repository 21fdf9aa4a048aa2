//! Connecting and logging in: TCP, STARTTLS or implicit TLS, the greeting,
//! then LOGIN with a password or AUTHENTICATE with a bearer token (XOAUTH2,
//! OAUTHBEARER). A token the server refuses is replaced once, on the same
//! connection, when its source can give another; a refusal is told apart
//! from a lost connection by the server's answer.

use std::fmt::Debug;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tracing::debug;

use super::{ConnectError, RawSession, Stream};
use crate::secret::Secret;
use crate::transport::oauth::TokenSource;
use crate::transport::sasl::{BearerExchange, BearerMechanism};
use crate::transport::tls;
use crate::transport::{Credentials, Endpoint, TlsMode};

/// Connects and logs in (no timeout of its own: [`MailSession::open`] bounds it).
pub(super) async fn connect(endpoint: &Endpoint) -> Result<RawSession, ConnectError> {
    let credentials = endpoint
        .credentials
        .as_ref()
        .ok_or(ConnectError::NoCredentials)?;
    let addr = format!("{}:{}", endpoint.host, endpoint.port);
    let tcp = TcpStream::connect(&addr)
        .await
        .map_err(|e| ConnectError::Unreachable(addr.clone(), e))?;
    tcp.set_nodelay(true).ok();
    let stream: Box<dyn Stream> = match endpoint.tls {
        TlsMode::None => Box::new(tcp),
        TlsMode::Implicit => Box::new(wrap_tls(endpoint, tcp).await?),
        TlsMode::Starttls => {
            let mut client = async_imap::Client::new(tcp);
            greeting(&mut client, &addr).await?;
            client.run_command_and_check_ok("STARTTLS", None).await?;
            Box::new(wrap_tls(endpoint, client.into_inner()).await?)
        }
    };
    let mut client = async_imap::Client::new(stream);
    if endpoint.tls != TlsMode::Starttls {
        greeting(&mut client, &addr).await?;
    }
    match credentials {
        Credentials::Password { user, password } => client
            .login(user, password.expose())
            .await
            .map_err(|(e, _)| login_refusal(e, user, &addr)),
        Credentials::Bearer {
            user,
            tokens,
            mechanism,
        } => bearer_login(client, endpoint, user, tokens, *mechanism, &addr).await,
    }
}

/// AUTHENTICATE with a token from `tokens`; when the server refuses it
/// (expired early, revoked) and another can be had, once more with that one
/// on the same connection (RFC 3501 allows a new AUTHENTICATE after `NO`).
async fn bearer_login(
    client: async_imap::Client<Box<dyn Stream>>,
    endpoint: &Endpoint,
    user: &str,
    tokens: &TokenSource,
    mechanism: BearerMechanism,
    addr: &str,
) -> Result<RawSession, ConnectError> {
    let token = tokens.access_token().await?;
    let client = match authenticate(client, endpoint, user, &token, mechanism, addr).await {
        Ok(session) => return Ok(session),
        Err((refused @ ConnectError::TokenRefused { .. }, client)) => {
            if !tokens.refused(&token).await {
                return Err(refused);
            }
            debug!(user, "token refused; trying once with a new one");
            client
        }
        Err((other, _)) => return Err(other),
    };
    let token = tokens.access_token().await?;
    authenticate(client, endpoint, user, &token, mechanism, addr)
        .await
        .map_err(|(e, _)| e)
}

/// One AUTHENTICATE exchange; on failure the client comes back for a retry.
async fn authenticate(
    client: async_imap::Client<Box<dyn Stream>>,
    endpoint: &Endpoint,
    user: &str,
    token: &Secret,
    mechanism: BearerMechanism,
    addr: &str,
) -> Result<RawSession, (ConnectError, async_imap::Client<Box<dyn Stream>>)> {
    let initial = mechanism.initial_response(user, token, &endpoint.host, endpoint.port);
    let mut exchange = BearerExchange::new(mechanism, initial);
    let result = client.authenticate(mechanism.name(), &mut exchange).await;
    result.map_err(|(e, client)| (token_refusal(e, user, mechanism, exchange, addr), client))
}

/// A failed AUTHENTICATE with a token: a `NO` means the token was refused
/// (sign in again), with the provider's error continuation when it sent one.
fn token_refusal(
    e: async_imap::error::Error,
    user: &str,
    mechanism: BearerMechanism,
    exchange: BearerExchange,
    addr: &str,
) -> ConnectError {
    match login_refusal(e, user, addr) {
        ConnectError::Login { user, message } => ConnectError::TokenRefused {
            user,
            mechanism: mechanism.name(),
            message,
            server_error: exchange.server_error,
        },
        other => other,
    }
}

/// A failed LOGIN by the server's answer: a tagged `NO` is a refusal of the
/// user or password (RFC 3501 §6.2.3); a lost connection is not.
fn login_refusal(e: async_imap::error::Error, user: &str, addr: &str) -> ConnectError {
    use async_imap::error::Error as E;
    match e {
        E::No(message) => ConnectError::Login {
            user: user.to_owned(),
            message,
        },
        E::Io(io) => ConnectError::Unreachable(addr.to_owned(), io),
        E::ConnectionLost => {
            ConnectError::Unreachable(addr.to_owned(), std::io::ErrorKind::UnexpectedEof.into())
        }
        other => ConnectError::Imap(other),
    }
}

/// Reads the server's greeting; a connection closed before it is an error.
async fn greeting<T: AsyncRead + AsyncWrite + Unpin + Debug + Send>(
    client: &mut async_imap::Client<T>,
    addr: &str,
) -> Result<(), ConnectError> {
    match client.read_response().await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(ConnectError::Unreachable(
            addr.to_owned(),
            std::io::ErrorKind::UnexpectedEof.into(),
        )),
        Err(e) => Err(ConnectError::Unreachable(addr.to_owned(), e)),
    }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use super::super::{ConnectError, ImapError, MailSession, Timeouts};
    use crate::transport::{BearerMechanism, Credentials, Endpoint, TlsMode};

    /// A server that takes `AUTHENTICATE XOAUTH2`, answers the token with
    /// Gmail's error continuation, and ends with `NO` only after the client's
    /// empty acknowledgement. Returns what the client sent.
    async fn refusing_server(listener: tokio::net::TcpListener) -> Vec<String> {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let (socket, _) = listener.accept().await.expect("accept");
        let (read, mut write) = socket.into_split();
        let mut lines = BufReader::new(read).lines();
        let mut seen = Vec::new();
        write.write_all(b"* OK ready\r\n").await.unwrap();
        let command = lines.next_line().await.unwrap().unwrap();
        let tag = command.split(' ').next().unwrap().to_owned();
        seen.push(command);
        write.write_all(b"+ \r\n").await.unwrap();
        seen.push(lines.next_line().await.unwrap().unwrap());
        write
            .write_all(b"+ eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIn0=\r\n")
            .await
            .unwrap();
        seen.push(lines.next_line().await.unwrap().unwrap());
        write
            .write_all(
                format!("{tag} NO [AUTHENTICATIONFAILED] Invalid credentials\r\n").as_bytes(),
            )
            .await
            .unwrap();
        seen
    }

    #[tokio::test]
    async fn a_refused_token_is_sign_in_again_with_the_providers_error() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = tokio::spawn(refusing_server(listener));
        let dir = std::env::temp_dir().join(format!("mp-imap-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let token_file = dir.join("token");
        std::fs::write(&token_file, "tok\n").unwrap();
        let endpoint = Endpoint {
            host: "127.0.0.1".into(),
            port,
            tls: TlsMode::None,
            credentials: Some(Credentials::token_file(
                "u@example.test",
                token_file,
                BearerMechanism::Xoauth2,
            )),
            ca_file: None,
        };
        let timeouts = Timeouts {
            connect: Duration::from_secs(5),
            ..Timeouts::default()
        };
        let err = MailSession::open(&endpoint, timeouts)
            .await
            .expect_err("refused");
        std::fs::remove_dir_all(&dir).ok();
        assert!(err.needs_sign_in(), "{err}");
        assert!(!err.is_connection_failure(), "{err}");
        let ImapError::Connect(ConnectError::TokenRefused { server_error, .. }) = &err else {
            panic!("{err:?}");
        };
        assert_eq!(
            server_error.as_deref(),
            Some(r#"{"status":"401","schemes":"bearer"}"#)
        );
        let text = err.to_string();
        assert!(
            text.contains("sign in again") && !text.contains("tok"),
            "{text}"
        );
        let seen = server.await.unwrap();
        assert!(seen[0].ends_with(" AUTHENTICATE XOAUTH2"), "{seen:?}");
        // base64 of "user=u@example.test^Aauth=Bearer tok^A^A", then the
        // empty acknowledgement of the error.
        assert_eq!(
            seen[1],
            "dXNlcj11QGV4YW1wbGUudGVzdAFhdXRoPUJlYXJlciB0b2sBAQ=="
        );
        assert_eq!(seen[2], "");
    }

    /// A server that refuses the first token (rewriting the token file, as
    /// whatever keeps it fresh would) and takes the second one on the same
    /// connection. Returns the token lines the client sent.
    async fn server_taking_the_second_token(
        listener: tokio::net::TcpListener,
        token_file: std::path::PathBuf,
    ) -> Vec<String> {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let (socket, _) = listener.accept().await.expect("accept");
        let (read, mut write) = socket.into_split();
        let mut lines = BufReader::new(read).lines();
        let mut tokens = Vec::new();
        write.write_all(b"* OK ready\r\n").await.unwrap();
        for attempt in 0..2 {
            let command = lines.next_line().await.unwrap().unwrap();
            let tag = command.split(' ').next().unwrap().to_owned();
            write.write_all(b"+ \r\n").await.unwrap();
            tokens.push(lines.next_line().await.unwrap().unwrap());
            if attempt == 0 {
                std::fs::write(&token_file, "fresh\n").unwrap();
                write
                    .write_all(b"+ eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIn0=\r\n")
                    .await
                    .unwrap();
                lines.next_line().await.unwrap();
                write
                    .write_all(format!("{tag} NO [AUTHENTICATIONFAILED] expired\r\n").as_bytes())
                    .await
                    .unwrap();
            } else {
                write
                    .write_all(format!("{tag} OK logged in\r\n").as_bytes())
                    .await
                    .unwrap();
            }
        }
        let command = lines.next_line().await.unwrap().unwrap();
        let tag = command.split(' ').next().unwrap().to_owned();
        write
            .write_all(format!("* CAPABILITY IMAP4rev1\r\n{tag} OK done\r\n").as_bytes())
            .await
            .unwrap();
        tokens
    }

    #[tokio::test]
    async fn a_refused_token_is_replaced_once_on_the_same_connection() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let dir = std::env::temp_dir().join(format!("mp-imap-renew-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let token_file = dir.join("token");
        std::fs::write(&token_file, "stale\n").unwrap();
        let server = tokio::spawn(server_taking_the_second_token(listener, token_file.clone()));
        let endpoint = Endpoint {
            host: "127.0.0.1".into(),
            port,
            tls: TlsMode::None,
            credentials: Some(Credentials::token_file(
                "u@example.test",
                token_file,
                BearerMechanism::Xoauth2,
            )),
            ca_file: None,
        };
        let timeouts = Timeouts {
            connect: Duration::from_secs(5),
            ..Timeouts::default()
        };
        let session = MailSession::open(&endpoint, timeouts).await;
        std::fs::remove_dir_all(&dir).ok();
        assert!(session.is_ok(), "{:?}", session.err());
        let tokens = server.await.unwrap();
        assert_eq!(tokens.len(), 2);
        assert_ne!(
            tokens[0], tokens[1],
            "the second login carries the new token"
        );
    }
}
