//! The phone core's two errors. `Error` is what goes wrong inside, with its
//! cause kept for logs; `PresenceError` is the one enum the apps see, made
//! from it here and nowhere else (mozilla application-services' `ApiError`
//! pattern). Which kind a failure is comes from the protocols' own answers
//! (IMAP `NO`, SMTP reply codes, TLS), never from searching message text.

use mailpresence_protocol::transport::imap::{ConnectError, ImapError};
use mailpresence_protocol::transport::oauth::TokenError;
use mailpresence_protocol::transport::outbox::SendFailure;
use mailpresence_protocol::transport::smtp::SmtpSetupError;

use crate::location::LocationError;
use crate::settings::DiscoveryError;
use crate::terminal::store::StoreError;

/// Everything that can fail inside the phone core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Imap(#[from] ImapError),
    #[error("sending: {0}")]
    Send(#[from] SendFailure),
    #[error("SMTP settings: {0}")]
    SmtpSetup(#[from] SmtpSetupError),
    #[error(transparent)]
    SignIn(#[from] TokenError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Location(#[from] LocationError),
    #[error(transparent)]
    Settings(#[from] DiscoveryError),
    #[error("{0}")]
    InvalidInput(String),
    #[error("the client is closed")]
    Closed,
    #[error("cannot start the client's threads: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("a background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl From<ConnectError> for Error {
    fn from(e: ConnectError) -> Self {
        Self::Imap(e.into())
    }
}

/// Every failure the app can show, by what a person can do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum PresenceError {
    /// The sign-in with the company's provider (Microsoft 365, Google
    /// Workspace) ended: the refresh token was refused or revoked. Queued
    /// mail waits; it goes after the worker signs in again.
    #[error("sign in again: {detail}")]
    SignInAgain { detail: String },
    /// The mail server refused the user name or password.
    #[error("wrong user name or password: {detail}")]
    WrongPassword { detail: String },
    /// No link to the mail server now; queued mail goes when it is back.
    #[error("mail server unreachable: {detail}")]
    Unreachable { detail: String },
    /// The mail server's certificate is not trusted (or TLS failed).
    #[error("certificate not trusted: {detail}")]
    Certificate { detail: String },
    /// What the app passed in cannot be used.
    #[error("{detail}")]
    InvalidInput { detail: String },
    /// The phone's own storage failed.
    #[error("{detail}")]
    Storage { detail: String },
    /// The mail server answered something unexpected, or the client failed.
    #[error("{detail}")]
    Protocol { detail: String },
}

impl From<Error> for PresenceError {
    fn from(e: Error) -> Self {
        Self::from(&e)
    }
}

impl From<&Error> for PresenceError {
    fn from(e: &Error) -> Self {
        let detail = mailpresence_protocol::transport::error_chain(e);
        match e {
            Error::Imap(i) if i.needs_sign_in() => Self::SignInAgain { detail },
            Error::Send(SendFailure::SignInAgain(_)) => Self::SignInAgain { detail },
            Error::SignIn(TokenError::SignInAgain(_)) => Self::SignInAgain { detail },
            Error::SignIn(TokenError::Unreachable(_)) => Self::Unreachable { detail },
            Error::SignIn(TokenError::Config(_) | TokenError::File(_)) => {
                Self::InvalidInput { detail }
            }
            Error::SignIn(TokenError::Provider { .. }) => Self::Protocol { detail },
            Error::Imap(ImapError::Connect(
                ConnectError::Login { .. } | ConnectError::NoCredentials,
            ))
            | Error::Send(SendFailure::Login(_)) => Self::WrongPassword { detail },
            Error::Imap(ImapError::Connect(ConnectError::Tls(..) | ConnectError::TlsSetup(_)))
            | Error::Send(SendFailure::Tls(_))
            | Error::SmtpSetup(_) => Self::Certificate { detail },
            Error::Imap(i) if i.is_connection_failure() => Self::Unreachable { detail },
            Error::Send(SendFailure::Transient(_)) => Self::Unreachable { detail },
            Error::Imap(_) | Error::Send(SendFailure::Permanent(_)) => Self::Protocol { detail },
            Error::Store(_) => Self::Storage { detail },
            Error::Location(_) | Error::InvalidInput(_) => Self::InvalidInput { detail },
            Error::Settings(DiscoveryError::Unreachable { .. }) => Self::Unreachable { detail },
            // Not found is no error at the app's edge (the form is shown).
            Error::Settings(
                DiscoveryError::NotAnAddress(_)
                | DiscoveryError::NotFound { .. }
                | DiscoveryError::Resolver(_),
            ) => Self::InvalidInput { detail },
            Error::Closed | Error::Runtime(_) | Error::Task(_) => Self::Protocol { detail },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_and_lost_links_are_told_apart_by_the_protocols_answer() {
        let login = Error::from(ConnectError::Login {
            user: "tanaka".into(),
            message: "[AUTHENTICATIONFAILED] Authentication failed.".into(),
        });
        assert!(matches!(
            PresenceError::from(login),
            PresenceError::WrongPassword { .. }
        ));
        let lost = Error::from(ConnectError::Unreachable(
            "mail.example.test:993".into(),
            std::io::ErrorKind::ConnectionRefused.into(),
        ));
        assert!(matches!(
            PresenceError::from(lost),
            PresenceError::Unreachable { .. }
        ));
        let smtp_login = Error::from(SendFailure::from_reply(Some(535), "5.7.8 no".into()));
        assert!(matches!(
            PresenceError::from(smtp_login),
            PresenceError::WrongPassword { .. }
        ));
        let smtp_down = Error::from(SendFailure::from_reply(None, "connection refused".into()));
        assert!(matches!(
            PresenceError::from(smtp_down),
            PresenceError::Unreachable { .. }
        ));
        let revoked = Error::from(ConnectError::Token(TokenError::SignInAgain(
            "invalid_grant: the refresh token was revoked".into(),
        )));
        assert!(matches!(
            PresenceError::from(revoked),
            PresenceError::SignInAgain { .. }
        ));
        let smtp_revoked = Error::from(SendFailure::SignInAgain("invalid_grant".into()));
        assert!(matches!(
            PresenceError::from(smtp_revoked),
            PresenceError::SignInAgain { .. }
        ));
        let refused = Error::from(SendFailure::from_reply(Some(550), "5.1.1 unknown".into()));
        assert!(matches!(
            PresenceError::from(refused),
            PresenceError::Protocol { .. }
        ));
    }

    #[test]
    fn the_detail_keeps_the_cause() {
        let e = Error::from(ConnectError::Unreachable(
            "mail.example.test:993".into(),
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused by peer"),
        ));
        let PresenceError::Unreachable { detail } = PresenceError::from(e) else {
            panic!("not Unreachable");
        };
        assert!(detail.contains("mail.example.test:993"), "{detail}");
        assert!(detail.contains("refused by peer"), "{detail}");
    }
}
