//! What the terminal's unit tests share: an account whose mail servers are
//! not there (127.0.0.1 port 1, refused at once), so a test sees what the
//! client does on its own, and a client opened over a temporary folder.

use std::sync::Arc;

use mailpresence_protocol::transport::TlsMode;

use super::client::Terminal;
use super::config::{
    DEFAULT_LOCATION_TTL_SECS, DEFAULT_PRESENCE_FOLDER, MailServer, TerminalConfig,
};

pub(crate) const PRESENCE_SERVER: &str = "presence@example.co.jp";
pub(crate) const AUTHSERV_ID: &str = "mx.example.co.jp";

/// Tanaka's account, its mail servers unreachable; the company's mail system
/// stamps `AUTHSERV_ID`.
pub(crate) fn offline_config() -> TerminalConfig {
    let server = MailServer {
        host: "127.0.0.1".into(),
        port: 1,
        tls: TlsMode::None,
        user: Some("tanaka@example.co.jp".into()),
        password: Some("pw".into()),
        oauth_token_file: None,
        oauth_mechanism: None,
        ca_file: None,
    };
    TerminalConfig {
        account: "tanaka".into(),
        mail: "tanaka@example.co.jp".into(),
        presence_server: PRESENCE_SERVER.into(),
        language: Default::default(),
        imap: server.clone(),
        smtp: server,
        location: Default::default(),
        authserv_id: Some(AUTHSERV_ID.into()),
        delivery_hops: 1,
        presence_folder: DEFAULT_PRESENCE_FOLDER.into(),
        location_ttl_secs: DEFAULT_LOCATION_TTL_SECS,
        oauth: None,
        device_key_file: None,
        server_key: None,
    }
}

/// A client over `dir` with `config`, without a map pack.
pub(crate) fn open(config: TerminalConfig, dir: &std::path::Path) -> Arc<Terminal> {
    Terminal::open(config, dir, None).expect("the client opens")
}
