//! How a mail session proves who it is: a password, or an OAuth 2.0 bearer
//! token (Microsoft 365 and Google Workspace take no passwords). For a token
//! this file builds the SASL messages of XOAUTH2 (Google's and Microsoft's
//! format) and OAUTHBEARER (RFC 7628), and the IMAP `AUTHENTICATE` exchange
//! including the providers' error continuation. Where the token comes from
//! (a file, a refresh, client credentials) is `oauth.rs`'s; it is never
//! printed.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::oauth::TokenSource;
use crate::secret::Secret;

/// Who logs in, and with what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    Password {
        user: String,
        password: Secret,
    },
    /// An OAuth 2.0 access token from `tokens` (a file, a refresh token or
    /// the application's client credentials).
    Bearer {
        user: String,
        tokens: TokenSource,
        mechanism: BearerMechanism,
    },
}

impl Credentials {
    pub fn password(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self::Password {
            user: user.into(),
            password: Secret::new(password),
        }
    }

    /// A token read from `token_file` at each login.
    pub fn token_file(
        user: impl Into<String>,
        token_file: impl Into<PathBuf>,
        mechanism: BearerMechanism,
    ) -> Self {
        Self::Bearer {
            user: user.into(),
            tokens: TokenSource::file(token_file),
            mechanism,
        }
    }

    pub fn user(&self) -> &str {
        match self {
            Self::Password { user, .. } | Self::Bearer { user, .. } => user,
        }
    }
}

/// The SASL mechanism that carries a bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
#[serde(rename_all = "lowercase")]
pub enum BearerMechanism {
    /// Google's and Microsoft's own mechanism; what both document first.
    #[default]
    Xoauth2,
    /// The standard one (RFC 7628).
    Oauthbearer,
}

impl BearerMechanism {
    pub fn name(self) -> &'static str {
        match self {
            Self::Xoauth2 => "XOAUTH2",
            Self::Oauthbearer => "OAUTHBEARER",
        }
    }

    /// The client's first message (before base64).
    pub fn initial_response(self, user: &str, token: &Secret, host: &str, port: u16) -> Vec<u8> {
        let token = token.expose();
        match self {
            // https://developers.google.com/gmail/imap/xoauth2-protocol
            Self::Xoauth2 => format!("user={user}\x01auth=Bearer {token}\x01\x01"),
            // RFC 7628 §3.1: a GS2 header naming the user, then key=value
            // pairs each ended by ^A, then a final ^A.
            Self::Oauthbearer => format!(
                "n,a={},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01",
                gs2_escape(user)
            ),
        }
        .into_bytes()
    }

    /// What the client answers to the server's error continuation so that
    /// the server can finish with `NO`: an empty line for XOAUTH2 (Google's
    /// document), a single ^A for OAUTHBEARER (RFC 7628 §3.2.3).
    pub fn error_acknowledgement(self) -> &'static [u8] {
        match self {
            Self::Xoauth2 => b"",
            Self::Oauthbearer => b"\x01",
        }
    }
}

/// RFC 5801 §4: `,` and `=` in the authorization identity become `=2C`, `=3D`.
fn gs2_escape(user: &str) -> String {
    user.replace('=', "=3D").replace(',', "=2C")
}

/// Reads the access token from its file (surrounding whitespace dropped).
pub fn read_token(path: &Path) -> Result<Secret, TokenFileError> {
    let err = |message: String| TokenFileError {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(err("empty".into()));
    }
    Ok(Secret::new(token))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("access token file {path}: {message}")]
pub struct TokenFileError {
    pub path: String,
    pub message: String,
}

/// One IMAP `AUTHENTICATE` exchange with a bearer token. async-imap sends no
/// initial response with the command, so the server's first (empty)
/// continuation gets it; any further continuation is the provider's error
/// (base64 JSON such as `{"status":"401","schemes":"bearer"}`), kept for the
/// error and acknowledged so the server ends the exchange with `NO`.
#[derive(Debug)]
pub struct BearerExchange {
    mechanism: BearerMechanism,
    initial: Option<Vec<u8>>,
    /// The server's error continuation, decoded, if it sent one.
    pub server_error: Option<String>,
}

impl BearerExchange {
    pub fn new(mechanism: BearerMechanism, initial: Vec<u8>) -> Self {
        Self {
            mechanism,
            initial: Some(initial),
            server_error: None,
        }
    }
}

impl async_imap::Authenticator for &mut BearerExchange {
    type Response = Vec<u8>;

    fn process(&mut self, challenge: &[u8]) -> Vec<u8> {
        match self.initial.take() {
            Some(initial) => initial,
            None => {
                self.server_error = Some(String::from_utf8_lossy(challenge).into_owned());
                self.mechanism.error_acknowledgement().to_vec()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use async_imap::Authenticator;

    use super::*;

    fn token() -> Secret {
        Secret::new("vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==")
    }

    #[test]
    fn xoauth2_initial_response_is_googles_format() {
        let r = BearerMechanism::Xoauth2.initial_response(
            "someuser@example.com",
            &Secret::new("ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"),
            "imap.gmail.com",
            993,
        );
        assert_eq!(
            r,
            b"user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01"
        );
    }

    #[test]
    fn oauthbearer_initial_response_is_rfc7628_section_3_1() {
        // RFC 7628 §4.1's example, with its host and port.
        let r = BearerMechanism::Oauthbearer.initial_response(
            "user@example.com",
            &token(),
            "server.example.com",
            143,
        );
        assert_eq!(
            r,
            b"n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
        );
    }

    #[test]
    fn oauthbearer_escapes_comma_and_equals_in_the_user() {
        let r = BearerMechanism::Oauthbearer.initial_response("a,b=c", &token(), "h", 1);
        assert!(r.starts_with(b"n,a=a=2Cb=3Dc,\x01"), "{r:?}");
    }

    #[test]
    fn the_exchange_answers_the_first_continuation_with_the_token() {
        let mut ex = BearerExchange::new(BearerMechanism::Xoauth2, b"first".to_vec());
        assert_eq!((&mut ex).process(b""), b"first");
        assert_eq!(ex.server_error, None);
    }

    #[test]
    fn an_error_continuation_is_kept_and_acknowledged_per_mechanism() {
        let json = br#"{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}"#;
        for (mechanism, ack) in [
            (BearerMechanism::Xoauth2, &b""[..]),
            (BearerMechanism::Oauthbearer, &b"\x01"[..]),
        ] {
            let mut ex = BearerExchange::new(mechanism, b"first".to_vec());
            (&mut ex).process(b"");
            assert_eq!((&mut ex).process(json), ack, "{mechanism:?}");
            assert_eq!(
                ex.server_error.as_deref(),
                Some(std::str::from_utf8(json).unwrap())
            );
        }
    }

    #[test]
    fn credentials_never_print_the_password() {
        let c = Credentials::password("tanaka", "s3cret");
        assert!(!format!("{c:?}").contains("s3cret"));
        assert_eq!(c.user(), "tanaka");
    }

    #[test]
    fn the_token_file_is_read_trimmed_and_an_empty_one_refused() {
        let dir = std::env::temp_dir().join(format!("mp-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "abc.def.ghi\n").unwrap();
        assert_eq!(read_token(&file).unwrap().expose(), "abc.def.ghi");
        std::fs::write(&file, "  \n").unwrap();
        assert!(read_token(&file).is_err());
        assert!(read_token(&dir.join("missing")).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
