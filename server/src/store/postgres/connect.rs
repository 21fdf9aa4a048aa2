//! Connections to PostgreSQL: the settings (`[store] url`, the company CA for
//! TLS, bounded waits), and the small runtime that drives each connection's
//! socket. The store itself is synchronous (the hub runs short transactions
//! under its lock, as with SQLite); it waits for each answer with
//! `futures::executor::block_on`, which may be used on a tokio worker thread
//! where the `postgres` crate's own `block_on` would panic. The socket is
//! driven here, on a runtime of its own, so that those waits never depend on
//! the caller's runtime.

use std::future::Future;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::config::SslMode;
use tokio_postgres::{AsyncMessage, Client, Config, Notification};

use crate::store::{Result, StoreError};

/// How to reach the database.
#[derive(Clone)]
pub struct PostgresSettings {
    /// `postgres://user[:password]@host[:port]/database[?sslmode=…]`.
    pub url: String,
    /// The company CA the database's certificate is checked against (TLS is
    /// used when the server offers it, or required by `sslmode=require`).
    pub ca_file: Option<PathBuf>,
    /// The schema the tables live in (made when missing); `public` when unset.
    pub schema: Option<String>,
    /// How long a connection attempt may take.
    pub connect_timeout: Duration,
    /// How long one statement may run before PostgreSQL cancels it.
    pub statement_timeout: Duration,
}

impl std::fmt::Debug for PostgresSettings {
    // The URL may carry a password: only where it points is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSettings")
            .field("at", &self.location())
            .field("ca_file", &self.ca_file)
            .field("schema", &self.schema)
            .field("connect_timeout", &self.connect_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .finish()
    }
}

impl PostgresSettings {
    /// Settings with the default waits: 5 s to connect, 10 s per statement.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ca_file: None,
            schema: None,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(10),
        }
    }

    /// Where the database is (host, port, database), without a password.
    pub fn location(&self) -> String {
        match self.url.parse::<Config>() {
            Ok(c) => {
                let host = c
                    .get_hosts()
                    .first()
                    .map(|h| match h {
                        tokio_postgres::config::Host::Tcp(name) => name.clone(),
                        tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
                    })
                    .unwrap_or_else(|| "localhost".into());
                let port = c.get_ports().first().copied().unwrap_or(5432);
                format!("{host}:{port}/{}", c.get_dbname().unwrap_or(""))
            }
            Err(_) => "(unreadable URL)".into(),
        }
    }

    /// Whether the URL and schema can be used (checked before any connection).
    pub fn check(&self) -> Result<()> {
        self.config().map(|_| ())
    }

    /// The client's configuration: the URL's, with bounded waits added.
    pub(super) fn config(&self) -> Result<Config> {
        let mut config: Config = self
            .url
            .parse()
            .map_err(|e| StoreError::PostgresSettings(format!("url: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(self.connect_timeout);
        }
        // A database that vanishes without closing the socket (a cable, a
        // failed-over address) is noticed in seconds, not after the kernel's
        // fifteen minutes of retransmissions.
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(10));
        config.tcp_user_timeout(self.statement_timeout + Duration::from_secs(5));
        config.application_name("mailpresence-server");
        if let Some(schema) = &self.schema
            && !is_plain_name(schema)
        {
            return Err(StoreError::PostgresSettings(format!(
                "schema {schema:?}: only letters, digits and _ (starting with a letter)"
            )));
        }
        Ok(config)
    }

    fn unreachable(&self, reason: impl std::fmt::Display) -> StoreError {
        StoreError::PostgresUnreachable {
            at: self.location(),
            reason: reason.to_string(),
        }
    }
}

/// A schema name that needs no quoting.
pub(super) fn is_plain_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 63
}

/// The runtime every connection's socket is driven on; made once, never
/// dropped (dropping a runtime from inside another one panics).
fn driver() -> Result<&'static tokio::runtime::Runtime> {
    static DRIVER: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();
    DRIVER
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("postgres-io")
                .enable_all()
                .build()
                .ok()
        })
        .as_ref()
        .ok_or_else(|| StoreError::PostgresSettings("cannot start the connection runtime".into()))
}

/// Waits for `future` on the calling thread (see the module's comment).
pub(super) fn wait<F: Future>(future: F) -> F::Output {
    futures::executor::block_on(future)
}

/// Opens one connection, waiting on this thread (see the module's comment).
pub(super) fn connect(settings: &PostgresSettings) -> Result<Client> {
    wait(connect_async(settings, None)).map(|(client, _closed)| client)
}

/// Opens one connection: TLS when the URL and the server agree on it (the
/// company CA trusted beside the web roots), the session's statement
/// timeout set. Notifications (LISTEN) arrive on `notifications` when given;
/// the receiver resolves when the connection has closed. May be awaited on
/// any runtime, or none.
pub(super) async fn connect_async(
    settings: &PostgresSettings,
    notifications: Option<mpsc::UnboundedSender<Notification>>,
) -> Result<(Client, oneshot::Receiver<()>)> {
    let config = settings.config()?;
    let (closed_tx, closed) = oneshot::channel();
    let tls = match config.get_ssl_mode() {
        SslMode::Disable => None,
        _ => Some(
            mailpresence_protocol::transport::tls::client_config(settings.ca_file.as_deref())
                .map_err(|e| StoreError::PostgresSettings(e.to_string()))?,
        ),
    };
    let rt = driver()?;
    let started = rt.spawn(async move {
        match tls {
            Some(tls) => {
                let tls = tokio_postgres_rustls::MakeRustlsConnect::new((*tls).clone());
                let (client, connection) = config.connect(tls).await?;
                tokio::spawn(drive(connection, notifications, closed_tx));
                Ok::<_, tokio_postgres::Error>(client)
            }
            None => {
                let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
                tokio::spawn(drive(connection, notifications, closed_tx));
                Ok(client)
            }
        }
    });
    let client = started
        .await
        .map_err(|e| settings.unreachable(e))?
        .map_err(|e| settings.unreachable(error_text(&e)))?;
    let timeouts = format!(
        "SET statement_timeout = {}; SET lock_timeout = {}; SET idle_in_transaction_session_timeout = 60000",
        settings.statement_timeout.as_millis(),
        settings.statement_timeout.as_millis(),
    );
    client
        .batch_execute(&timeouts)
        .await
        .map_err(|e| settings.unreachable(error_text(&e)))?;
    if let Some(schema) = &settings.schema {
        // Checked by `config` to be a plain name: no quoting needed. Made,
        // when missing, by the migration (under its lock).
        client
            .batch_execute(&format!("SET search_path TO {schema}"))
            .await?;
    }
    Ok((client, closed))
}

/// Drives one connection's socket until it closes, handing notifications
/// on; `closed` is dropped (its receiver resolves) when it ends.
async fn drive<S, T>(
    mut connection: tokio_postgres::Connection<S, T>,
    notifications: Option<mpsc::UnboundedSender<Notification>>,
    closed: oneshot::Sender<()>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
    while let Some(message) = messages.next().await {
        match message {
            Ok(AsyncMessage::Notification(n)) => {
                if let Some(to) = &notifications {
                    let _ = to.send(n);
                }
            }
            Ok(AsyncMessage::Notice(notice)) => {
                tracing::debug!(notice = %notice.message(), "PostgreSQL notice");
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %error_text(&e), "PostgreSQL connection lost");
                break;
            }
        }
    }
    drop(closed);
}

/// The error with its causes (tokio-postgres puts the server's message and
/// the I/O error in the source).
pub(crate) fn error_text(e: &tokio_postgres::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
