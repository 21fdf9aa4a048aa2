//! Where a bearer login's access token comes from, for the phone and the
//! server alike: a file something else keeps fresh, a refresh token (a
//! person signed in once; the phone and the CLI), or the application's own
//! client credentials (the server's presence mailbox). A token is kept
//! until shortly before it expires and fetched again by one caller while the
//! others wait; a token the mail server refused is dropped so that the next
//! login fetches a new one — once: the caller retries once, never in a loop.
//! A refused refresh (`invalid_grant`) is [`TokenError::SignInAgain`].
//!
//! `provider.rs` knows the providers and the HTTP client; `sign_in.rs` holds
//! the flows a person goes through (device code, authorization code + PKCE);
//! `store.rs` where a person's refresh token is kept.

mod provider;
mod service_account;
pub mod sign_in;
mod store;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use oauth2::{ClientSecret, RefreshToken, Scope, TokenResponse};
use tracing::{debug, info, warn};

pub use provider::{HTTP_TIMEOUT, ProviderConfig, ProviderKind, Signer};
pub use service_account::ServiceAccount;
pub use store::{FileTokenStore, RefreshTokenStore};

use super::sasl::{self, TokenFileError};
use crate::secret::Secret;

/// Why no access token could be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The provider refused the refresh token (expired, revoked, password
    /// changed), or none is stored: the person has to sign in again.
    #[error("sign in again: {0}")]
    SignInAgain(String),
    /// The provider refused the application itself (unknown client, wrong
    /// secret, a permission not granted): the administrator's to fix.
    /// `code` is the OAuth error code (RFC 6749 §5.2, e.g.
    /// `invalid_client`); `detail` the provider's own words with it (e.g.
    /// `AADSTS7000215: Invalid client secret provided…`).
    #[error("the sign-in provider refused: {code}{}", if detail.is_empty() { String::new() } else { format!(": {detail}") })]
    Provider { code: String, detail: String },
    /// No answer from the provider (network, timeout, an unreadable
    /// answer): worth trying again later.
    #[error("cannot reach the sign-in provider: {0}")]
    Unreachable(String),
    #[error(transparent)]
    File(#[from] TokenFileError),
    /// The settings cannot work (a missing URL, an unreadable secret file).
    #[error("OAuth settings: {0}")]
    Config(String),
}

impl TokenError {
    pub(crate) fn provider(code: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Provider {
            code: code.into(),
            detail: detail.into(),
        }
    }

    /// Whether a person has to sign in again.
    pub fn needs_sign_in(&self) -> bool {
        matches!(self, Self::SignInAgain(_))
    }
}

/// Where access tokens come from. Cheap to clone: clones share one cache.
#[derive(Clone)]
pub struct TokenSource(Arc<Inner>);

struct Inner {
    grant: Grant,
    /// Held across a fetch, so concurrent logins make one request.
    cache: tokio::sync::Mutex<Option<Cached>>,
}

enum Grant {
    /// Read at each login; whatever keeps it fresh rewrites it.
    File(PathBuf),
    /// A person's refresh token (RFC 6749 §6).
    Refresh {
        provider: ProviderConfig,
        store: Arc<dyn RefreshTokenStore>,
    },
    /// The application's own credentials (RFC 6749 §4.4).
    ClientCredentials {
        provider: ProviderConfig,
        secret: Secret,
    },
    /// A Google service account acting for `subject` (RFC 7523).
    ServiceAccount {
        account: ServiceAccount,
        subject: String,
        scopes: Vec<String>,
    },
}

struct Cached {
    token: Secret,
    /// When to fetch a new one (before the provider's expiry); never for a
    /// token without an `expires_in`, until the mail server refuses it.
    renew_at: Option<Instant>,
}

/// Renew this long before the provider's expiry…
const RENEW_MARGIN: Duration = Duration::from_secs(60);

/// …or at half the lifetime of a short-lived token.
fn renew_after(lifetime: Duration) -> Duration {
    lifetime.saturating_sub(RENEW_MARGIN.min(lifetime / 2))
}

impl TokenSource {
    /// A token file (the token is read at each login, never cached).
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self::from_grant(Grant::File(path.into()))
    }

    /// A person's sign-in: refresh tokens from (and rotated into) `store`.
    pub fn refresh(provider: ProviderConfig, store: Arc<dyn RefreshTokenStore>) -> Self {
        Self::from_grant(Grant::Refresh { provider, store })
    }

    /// The application's own sign-in with `secret`. Sources with the same
    /// provider, client and secret share one cache in the process (the
    /// server builds its endpoints per connection).
    pub fn client_credentials(provider: ProviderConfig, secret: Secret) -> Self {
        let key = format!(
            "{} {} {:?}",
            provider.token_endpoint().unwrap_or_default(),
            provider.client_id,
            provider.scopes_for(Signer::Application)
        );
        static SHARED: Mutex<Option<HashMap<String, Weak<Inner>>>> = Mutex::new(None);
        let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
        let shared = shared.get_or_insert_with(HashMap::new);
        if let Some(inner) = shared.get(&key).and_then(Weak::upgrade)
            && matches!(&inner.grant, Grant::ClientCredentials { secret: s, .. } if *s == secret)
        {
            return Self(inner);
        }
        let source = Self::from_grant(Grant::ClientCredentials { provider, secret });
        shared.retain(|_, weak| weak.strong_count() > 0);
        shared.insert(key, Arc::downgrade(&source.0));
        source
    }

    /// A Google service account with domain-wide delegation, signing in as
    /// the mailbox `subject`.
    pub fn service_account(
        account: ServiceAccount,
        subject: impl Into<String>,
        scopes: Vec<String>,
    ) -> Self {
        Self::from_grant(Grant::ServiceAccount {
            account,
            subject: subject.into(),
            scopes,
        })
    }

    /// The client secret from the file the configuration names.
    pub fn read_client_secret(path: &Path) -> Result<Secret, TokenError> {
        Ok(sasl::read_token(path)?)
    }

    fn from_grant(grant: Grant) -> Self {
        Self(Arc::new(Inner {
            grant,
            cache: tokio::sync::Mutex::new(None),
        }))
    }

    /// A token to log in with: the cached one while it is fresh, else a new
    /// one from the file or the provider.
    pub async fn access_token(&self) -> Result<Secret, TokenError> {
        let mut cache = self.0.cache.lock().await;
        if let Some(cached) = cache.as_ref()
            && cached.renew_at.is_none_or(|at| Instant::now() < at)
        {
            return Ok(cached.token.clone());
        }
        let fetched = self.fetch().await?;
        let token = fetched.token.clone();
        *cache = Some(fetched);
        Ok(token)
    }

    /// The mail server refused `token`: it is not used again. Returns
    /// whether another token may be had (a refresh, or a file rewritten
    /// meanwhile); the caller then retries its login once.
    pub async fn refused(&self, token: &Secret) -> bool {
        let mut cache = self.0.cache.lock().await;
        if cache.as_ref().is_some_and(|c| &c.token == token) {
            *cache = None;
        }
        match &self.0.grant {
            Grant::File(path) => sasl::read_token(path).is_ok_and(|t| &t != token),
            Grant::Refresh { .. }
            | Grant::ClientCredentials { .. }
            | Grant::ServiceAccount { .. } => true,
        }
    }

    async fn fetch(&self) -> Result<Cached, TokenError> {
        match &self.0.grant {
            Grant::File(path) => Ok(Cached {
                token: sasl::read_token(path)?,
                // Read again at the next login: the file is kept fresh elsewhere.
                renew_at: Some(Instant::now()),
            }),
            Grant::Refresh { provider, store } => refresh(provider, store.as_ref()).await,
            Grant::ClientCredentials { provider, secret } => {
                client_credentials(provider, secret).await
            }
            Grant::ServiceAccount {
                account,
                subject,
                scopes,
            } => {
                let asked = Instant::now();
                let (token, life) = service_account::exchange(account, subject, scopes).await?;
                debug!(account = %account.email(), %subject, "access token by service account");
                Ok(Cached {
                    token: Secret::new(token),
                    renew_at: life.map(|secs| asked + renew_after(Duration::from_secs(secs))),
                })
            }
        }
    }

    /// What the source is, for logs and `Debug` (never a token).
    fn describe(&self) -> String {
        match &self.0.grant {
            Grant::File(path) => format!("file {}", path.display()),
            Grant::Refresh { provider, .. } => format!(
                "refresh token for {} at {:?}",
                provider.client_id,
                provider.token_endpoint()
            ),
            Grant::ClientCredentials { provider, .. } => format!(
                "client credentials of {} at {:?}",
                provider.client_id,
                provider.token_endpoint()
            ),
            Grant::ServiceAccount {
                account, subject, ..
            } => format!("service account {} for {subject}", account.email()),
        }
    }
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TokenSource")
            .field(&self.describe())
            .finish()
    }
}

/// Two sources are the same when they share their cache, or read one file.
impl PartialEq for TokenSource {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
            || matches!((&self.0.grant, &other.0.grant),
                (Grant::File(a), Grant::File(b)) if a == b)
    }
}

impl Eq for TokenSource {}

async fn refresh(
    provider: &ProviderConfig,
    store: &dyn RefreshTokenStore,
) -> Result<Cached, TokenError> {
    let Some(refresh_token) = store.load() else {
        return Err(TokenError::SignInAgain("not signed in".into()));
    };
    let client = provider.client(None)?;
    let http = provider::http_client()?;
    let started = Instant::now();
    let token = RefreshToken::new(refresh_token.expose().to_owned());
    let answer = client
        .exchange_refresh_token(&token)
        .map_err(|e| TokenError::Config(e.to_string()))?
        .add_scopes(scopes(provider, Signer::Person))
        .request_async(&http)
        .await;
    let answer = match answer.map_err(provider::token_failure) {
        Err(e @ TokenError::SignInAgain(_)) => {
            // Never tried again: the next login says "sign in again" at once.
            warn!(error = %e, "the provider refused the refresh token");
            store.clear();
            return Err(e);
        }
        other => other?,
    };
    if let Some(rotated) = answer.refresh_token() {
        store.save(&Secret::new(rotated.secret().as_str()));
    }
    info!(client = %provider.client_id, "access token refreshed");
    Ok(cached(&answer, started))
}

async fn client_credentials(
    provider: &ProviderConfig,
    secret: &Secret,
) -> Result<Cached, TokenError> {
    let client = provider
        .client(None)?
        .set_client_secret(ClientSecret::new(secret.expose().to_owned()));
    let http = provider::http_client()?;
    let started = Instant::now();
    let answer = client
        .exchange_client_credentials()
        .map_err(|e| TokenError::Config(e.to_string()))?
        .add_scopes(scopes(provider, Signer::Application))
        .request_async(&http)
        .await
        .map_err(provider::token_failure)?;
    debug!(client = %provider.client_id, "access token by client credentials");
    Ok(cached(&answer, started))
}

fn scopes(provider: &ProviderConfig, signer: Signer) -> Vec<Scope> {
    provider
        .scopes_for(signer)
        .into_iter()
        .map(Scope::new)
        .collect()
}

/// The token of an answer, kept until shortly before its expiry (counted
/// from when it was asked for, so a slow answer errs on the early side).
fn cached(answer: &oauth2::basic::BasicTokenResponse, asked: Instant) -> Cached {
    Cached {
        token: Secret::new(answer.access_token().secret().as_str()),
        renew_at: answer.expires_in().map(|life| asked + renew_after(life)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn tokens_are_renewed_a_minute_early_or_at_half_a_short_life() {
        assert_eq!(
            renew_after(Duration::from_secs(3600)),
            Duration::from_secs(3540)
        );
        assert_eq!(renew_after(Duration::from_secs(10)), Duration::from_secs(5));
        assert_eq!(renew_after(Duration::ZERO), Duration::ZERO);
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mp-oauth-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[tokio::test]
    async fn a_file_token_is_read_at_each_login_and_retried_only_when_rewritten() {
        let dir = temp("file");
        let file = dir.join("token");
        std::fs::write(&file, "one\n").unwrap();
        let source = TokenSource::file(&file);
        let one = source.access_token().await.unwrap();
        assert_eq!(one.expose(), "one");
        assert!(
            !source.refused(&one).await,
            "the same token again: no retry"
        );
        std::fs::write(&file, "two\n").unwrap();
        assert!(source.refused(&one).await, "a rewritten file: one retry");
        assert_eq!(source.access_token().await.unwrap().expose(), "two");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[derive(Debug, Default)]
    struct Empty;
    impl RefreshTokenStore for Empty {
        fn load(&self) -> Option<Secret> {
            None
        }
        fn save(&self, _: &Secret) {}
        fn clear(&self) {}
    }

    #[tokio::test]
    async fn without_a_refresh_token_it_is_sign_in_again_without_asking_anyone() {
        // The URL is never contacted: nothing is stored to refresh with.
        let provider = ProviderConfig::custom("app", "http://127.0.0.1:9");
        let source = TokenSource::refresh(provider, Arc::new(Empty));
        let err = source.access_token().await.expect_err("not signed in");
        assert!(err.needs_sign_in(), "{err}");
        assert!(format!("{source:?}").contains("refresh token for app"));
    }

    /// A token endpoint on loopback that gives each request the next of
    /// `answers` (status, JSON); returns its base URL and the request bodies.
    async fn token_endpoint(
        answers: Vec<(u16, &'static str)>,
    ) -> (String, Arc<Mutex<Vec<String>>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            for (status, body) in answers {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                // Headers, then the form body by its Content-Length.
                loop {
                    let n = socket.read(&mut buf).await.unwrap();
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let length = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().to_owned())
                            })
                            .and_then(|v| v.parse::<usize>().ok())
                            .unwrap_or(0);
                        if body.len() >= length {
                            log.lock().unwrap().push(body.to_owned());
                            break;
                        }
                    }
                    if n == 0 {
                        break;
                    }
                }
                let answer = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                socket.write_all(answer.as_bytes()).await.unwrap();
            }
        });
        (base, seen)
    }

    #[derive(Debug, Default)]
    struct Memory(Mutex<Option<String>>);
    impl RefreshTokenStore for Memory {
        fn load(&self) -> Option<Secret> {
            self.0.lock().unwrap().clone().map(Secret::new)
        }
        fn save(&self, token: &Secret) {
            *self.0.lock().unwrap() = Some(token.expose().to_owned());
        }
        fn clear(&self) {
            *self.0.lock().unwrap() = None;
        }
    }

    #[tokio::test]
    async fn a_refreshed_token_is_kept_until_renewal_and_the_rotated_refresh_token_saved() {
        let (base, seen) = token_endpoint(vec![(
            200,
            r#"{"access_token":"at-1","token_type":"bearer","expires_in":3600,"refresh_token":"rt-2"}"#,
        )])
        .await;
        let store = Arc::new(Memory(Mutex::new(Some("rt-1".into()))));
        let source = TokenSource::refresh(ProviderConfig::custom("phone", &base), store.clone());
        assert_eq!(source.access_token().await.unwrap().expose(), "at-1");
        assert_eq!(source.access_token().await.unwrap().expose(), "at-1");
        assert_eq!(seen.lock().unwrap().len(), 1, "one request for both");
        let form = seen.lock().unwrap()[0].clone();
        assert!(
            form.contains("grant_type=refresh_token") && form.contains("refresh_token=rt-1"),
            "{form}"
        );
        assert_eq!(store.load().unwrap().expose(), "rt-2");
    }

    #[tokio::test]
    async fn a_refused_refresh_is_sign_in_again_once_and_never_asked_again() {
        let (base, seen) = token_endpoint(vec![(
            400,
            r#"{"error":"invalid_grant","error_description":"revoked"}"#,
        )])
        .await;
        let store = Arc::new(Memory(Mutex::new(Some("rt-1".into()))));
        let source = TokenSource::refresh(ProviderConfig::custom("phone", &base), store.clone());
        let err = source.access_token().await.expect_err("revoked");
        assert!(
            err.needs_sign_in() && err.to_string().contains("revoked"),
            "{err}"
        );
        assert!(store.load().is_none(), "the refused token is forgotten");
        let again = source.access_token().await.expect_err("still signed out");
        assert!(again.needs_sign_in(), "{again}");
        assert_eq!(seen.lock().unwrap().len(), 1, "no second request");
    }

    #[tokio::test]
    async fn a_refused_client_keeps_the_providers_code_and_words() {
        let (base, _) = token_endpoint(vec![(
            401,
            r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}"#,
        )])
        .await;
        let source = TokenSource::client_credentials(
            ProviderConfig::custom("refused-server", &base),
            Secret::new("wrong"),
        );
        let err = source.access_token().await.expect_err("refused");
        assert!(
            matches!(&err, TokenError::Provider { code, detail }
                if code == "invalid_client" && detail.starts_with("AADSTS7000215")),
            "{err:?}"
        );
        assert!(!err.needs_sign_in());
    }

    #[test]
    fn client_credential_sources_of_one_application_share_their_cache() {
        let provider = ProviderConfig::custom("server", "http://127.0.0.1:9");
        let a = TokenSource::client_credentials(provider.clone(), Secret::new("hush-hush"));
        let b = TokenSource::client_credentials(provider, Secret::new("hush-hush"));
        assert_eq!(a, b);
        assert!(!format!("{a:?}").contains("hush-hush"));
        let other = TokenSource::client_credentials(
            ProviderConfig::custom("other", "http://127.0.0.1:9"),
            Secret::new("hush-hush"),
        );
        assert_ne!(a, other);
    }
}
