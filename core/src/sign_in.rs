//! The worker's sign-in with the company's provider, for the apps ("Sign in
//! with Microsoft" / "Sign in with Google"): [`SignIn`] begins the
//! authorization-code flow with PKCE (the app opens the URL in Custom Tabs or
//! ASWebAuthenticationSession) and finishes it with the URL the browser was
//! redirected to. The refresh token is never kept by the core: it goes to the
//! app's [`TokenStorage`] (Keystore, Keychain), which the client reads when
//! it opens (`PresenceClient::with_sign_in`). Thin over the protocol crate's
//! `oauth::sign_in`.

use std::fmt;
use std::sync::{Arc, Mutex};

use mailpresence_protocol::secret::Secret;
use mailpresence_protocol::transport::oauth::sign_in::{BrowserSignIn, sign_out};
use mailpresence_protocol::transport::oauth::{
    ProviderConfig, RefreshTokenStore, TokenError, TokenSource,
};

use crate::error::{Error, PresenceError};

/// Implemented by the app: where the refresh token lives (Android Keystore-
/// backed storage, the iOS Keychain). Called from a background thread.
#[uniffi::export(with_foreign)]
pub trait TokenStorage: Send + Sync {
    fn load(&self) -> Option<String>;
    fn save(&self, token: String);
    fn clear(&self);
}

/// The app's storage as the protocol crate's refresh-token store.
pub(crate) struct AppTokens(pub(crate) Arc<dyn TokenStorage>);

impl fmt::Debug for AppTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AppTokens")
    }
}

impl RefreshTokenStore for AppTokens {
    fn load(&self) -> Option<Secret> {
        self.0
            .load()
            .filter(|t| !t.trim().is_empty())
            .map(Secret::new)
    }
    fn save(&self, token: &Secret) {
        self.0.save(token.expose().to_owned());
    }
    fn clear(&self) {
        self.0.clear();
    }
}

/// One provider's sign-in for the app: begin, finish with the redirect,
/// sign out.
#[derive(uniffi::Object)]
pub struct SignIn {
    provider: ProviderConfig,
    redirect_uri: String,
    tokens: AppTokens,
    started: Mutex<Option<BrowserSignIn>>,
    /// Token requests run here, whatever executor polls the caller; taken
    /// on drop (a runtime cannot be dropped from async code).
    runtime: Option<tokio::runtime::Runtime>,
}

impl fmt::Debug for SignIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignIn")
            .field("client_id", &self.provider.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

#[uniffi::export]
impl SignIn {
    /// `redirect_uri` is the app's own (a custom scheme or a claimed https
    /// link) as registered with the provider.
    #[uniffi::constructor]
    pub fn new(
        provider: ProviderConfig,
        redirect_uri: String,
        storage: Arc<dyn TokenStorage>,
    ) -> Result<Arc<Self>, PresenceError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("mailpresence-sign-in")
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        Ok(Arc::new(Self {
            provider,
            redirect_uri,
            tokens: AppTokens(storage),
            started: Mutex::new(None),
            runtime: Some(runtime),
        }))
    }

    /// Whether a refresh token is stored.
    pub fn is_signed_in(&self) -> bool {
        self.tokens.load().is_some()
    }

    /// Starts a sign-in: the URL to open in the browser session (with a new
    /// state and PKCE S256 challenge; an earlier unfinished one is dropped).
    pub fn begin(&self) -> Result<String, PresenceError> {
        let flow = BrowserSignIn::begin(&self.provider, &self.redirect_uri).map_err(Error::from)?;
        let url = flow.authorize_url().to_owned();
        *self.started.lock().unwrap_or_else(|p| p.into_inner()) = Some(flow);
        Ok(url)
    }

    /// Finishes with the URL the browser came back to: its state checked,
    /// the code exchanged, the refresh token handed to the storage.
    pub async fn finish(&self, redirect_url: String) -> Result<(), PresenceError> {
        let flow = self
            .started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| PresenceError::SignInAgain {
                detail: "no sign-in was begun".into(),
            })?;
        let storage = AppTokens(self.tokens.0.clone());
        self.on_runtime(async move { flow.finish(&redirect_url, &storage).await })
            .await
    }

    /// Exchanges the stored refresh token now, as the app does when it
    /// opens or comes back to the front: whether the sign-in still holds,
    /// before a mail waits on it. A provider that rotates refresh tokens
    /// gives a new one, which goes to the storage. `SignInAgain` when the
    /// provider refused it (revoked, expired, password changed): the
    /// storage is cleared then, so the app shows the sign-in at once.
    pub async fn refresh(&self) -> Result<(), PresenceError> {
        let store: Arc<dyn RefreshTokenStore> = Arc::new(AppTokens(self.tokens.0.clone()));
        let source = TokenSource::refresh(self.provider.clone(), store);
        self.on_runtime(async move { source.access_token().await.map(drop) })
            .await
    }

    /// Signs out: the provider revokes the refresh token where it can; the
    /// storage forgets it in any case.
    pub async fn sign_out(&self) -> Result<(), PresenceError> {
        let provider = self.provider.clone();
        let storage = AppTokens(self.tokens.0.clone());
        self.on_runtime(async move { sign_out(&provider, &storage).await })
            .await
    }
}

impl SignIn {
    async fn on_runtime(
        &self,
        work: impl Future<Output = Result<(), TokenError>> + Send + 'static,
    ) -> Result<(), PresenceError> {
        let runtime = self.runtime.as_ref().ok_or(Error::Closed)?;
        let done = runtime.spawn(work).await.map_err(Error::from)?;
        Ok(done.map_err(Error::from)?)
    }
}

impl Drop for SignIn {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
