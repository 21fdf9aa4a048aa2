//! The flows a person goes through to sign in once, after which the refresh
//! token in the [`RefreshTokenStore`] keeps the mail sessions going: the
//! device-code flow (RFC 8628) for the CLI — a URL and a code to type in any
//! browser — and the authorization-code flow with PKCE (RFC 7636, S256) for
//! the apps, whose browser session returns to a redirect URI the app owns.
//! Signing out revokes the refresh token where the provider allows it.

use std::fmt;

use oauth2::basic::BasicErrorResponseType;
use oauth2::{
    AuthorizationCode, CsrfToken, DeviceCodeErrorResponseType, PkceCodeChallenge, PkceCodeVerifier,
    RefreshToken, RequestTokenError, Scope, StandardDeviceAuthorizationResponse,
    StandardRevocableToken, TokenResponse,
};
use tracing::info;

use super::provider;
use super::{ProviderConfig, ProviderKind, RefreshTokenStore, Signer, TokenError};
use crate::secret::Secret;

/// A device-code sign-in under way: show [`Self::verification_uri`] and
/// [`Self::user_code`] to the person, then [`Self::finish`] waits for them.
pub struct DeviceSignIn {
    provider: ProviderConfig,
    details: StandardDeviceAuthorizationResponse,
}

impl DeviceSignIn {
    /// Asks the provider for a device code (RFC 8628 §3.1).
    pub async fn start(provider: &ProviderConfig) -> Result<Self, TokenError> {
        let client = provider.client(None)?;
        let http = provider::http_client()?;
        let details: StandardDeviceAuthorizationResponse = client
            .exchange_device_code()
            .map_err(|e| TokenError::Config(e.to_string()))?
            .add_scopes(scopes(provider))
            .request_async(&http)
            .await
            .map_err(provider::token_failure)?;
        Ok(Self {
            provider: provider.clone(),
            details,
        })
    }

    /// Where the person goes in a browser.
    pub fn verification_uri(&self) -> &str {
        self.details.verification_uri().as_str()
    }

    /// The same with the code filled in, when the provider offers it.
    pub fn verification_uri_complete(&self) -> Option<&str> {
        self.details
            .verification_uri_complete()
            .map(|u| u.secret().as_str())
    }

    /// What the person types there.
    pub fn user_code(&self) -> &str {
        self.details.user_code().secret()
    }

    /// Polls the token endpoint at the provider's interval (slower after a
    /// `slow_down`, RFC 8628 §3.5) until the person approved, refused, or the
    /// code expired; saves the refresh token in `store`.
    pub async fn finish(self, store: &dyn RefreshTokenStore) -> Result<(), TokenError> {
        let client = self.provider.client(None)?;
        let http = provider::http_client()?;
        let answer = client
            .exchange_device_access_token(&self.details)
            .map_err(|e| TokenError::Config(e.to_string()))?
            .request_async(&http, tokio::time::sleep, None)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(answer) => match answer.error() {
                    // The person refused, or took too long: this sign-in is over.
                    DeviceCodeErrorResponseType::AccessDenied
                    | DeviceCodeErrorResponseType::ExpiredToken
                    | DeviceCodeErrorResponseType::Basic(BasicErrorResponseType::InvalidGrant) => {
                        TokenError::SignInAgain(answer.to_string())
                    }
                    code => TokenError::provider(
                        code.to_string(),
                        answer.error_description().cloned().unwrap_or_default(),
                    ),
                },
                RequestTokenError::Request(e) => {
                    TokenError::Unreachable(crate::transport::error_chain(&e))
                }
                RequestTokenError::Parse(e, _) => {
                    TokenError::Unreachable(format!("unreadable answer: {e}"))
                }
                RequestTokenError::Other(e) => TokenError::Unreachable(e),
            })?;
        keep_refresh_token(&self.provider, answer.refresh_token(), store)
    }
}

impl fmt::Debug for DeviceSignIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceSignIn")
            .field("client_id", &self.provider.client_id)
            .field("verification_uri", &self.verification_uri())
            .finish_non_exhaustive()
    }
}

/// An authorization-code sign-in under way in the platform's browser
/// session: open [`Self::authorize_url`], then hand the URL the browser was
/// redirected to to [`Self::finish`].
pub struct BrowserSignIn {
    provider: ProviderConfig,
    redirect_uri: String,
    authorize_url: String,
    state: Secret,
    verifier: PkceCodeVerifier,
}

impl BrowserSignIn {
    /// A new sign-in with a fresh state and PKCE verifier (S256).
    pub fn begin(provider: &ProviderConfig, redirect_uri: &str) -> Result<Self, TokenError> {
        let client = provider.client(Some(redirect_uri))?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(CsrfToken::new_random)
            .map_err(|e| TokenError::Config(e.to_string()))?
            .add_scopes(scopes(provider))
            .set_pkce_challenge(challenge);
        if provider.provider == ProviderKind::Google {
            // Google gives a refresh token only for offline access, and
            // again only when the consent screen is shown.
            request = request
                .add_extra_param("access_type", "offline")
                .add_extra_param("prompt", "consent");
        }
        let (url, state) = request.url();
        Ok(Self {
            provider: provider.clone(),
            redirect_uri: redirect_uri.to_owned(),
            authorize_url: url.to_string(),
            state: Secret::new(state.secret().as_str()),
            verifier,
        })
    }

    pub fn authorize_url(&self) -> &str {
        &self.authorize_url
    }

    /// The state the redirect must carry back (for the app's own checks).
    pub fn state(&self) -> &Secret {
        &self.state
    }

    /// Checks the redirect (its state, or the provider's error), exchanges
    /// the code with the PKCE verifier and saves the refresh token.
    pub async fn finish(
        self,
        redirected_to: &str,
        store: &dyn RefreshTokenStore,
    ) -> Result<(), TokenError> {
        let code = code_from_redirect(redirected_to, &self.redirect_uri, &self.state)?;
        let client = self.provider.client(Some(&self.redirect_uri))?;
        let http = provider::http_client()?;
        let answer = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| TokenError::Config(e.to_string()))?
            .set_pkce_verifier(self.verifier)
            .request_async(&http)
            .await
            .map_err(provider::token_failure)?;
        keep_refresh_token(&self.provider, answer.refresh_token(), store)
    }
}

impl fmt::Debug for BrowserSignIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrowserSignIn")
            .field("client_id", &self.provider.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// The code of a redirect to `redirect_uri`, once its `state` is ours
/// (RFC 6749 §4.1.2, §10.12); the provider's `error` when it refused.
fn code_from_redirect(
    redirected_to: &str,
    redirect_uri: &str,
    state: &Secret,
) -> Result<String, TokenError> {
    let url = oauth2::url::Url::parse(redirected_to)
        .map_err(|e| TokenError::SignInAgain(format!("not a redirect URL: {e}")))?;
    let expected = oauth2::url::Url::parse(redirect_uri)
        .map_err(|e| TokenError::Config(format!("redirect URI: {e}")))?;
    if url.scheme() != expected.scheme()
        || url.host_str() != expected.host_str()
        || url.path() != expected.path()
    {
        return Err(TokenError::SignInAgain(
            "the browser came back to another address".into(),
        ));
    }
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    if param("state").as_deref() != Some(state.expose()) {
        return Err(TokenError::SignInAgain(
            "the redirect does not belong to this sign-in (state differs)".into(),
        ));
    }
    if let Some(error) = param("error") {
        let description = param("error_description").unwrap_or_default();
        return Err(TokenError::SignInAgain(format!("{error}: {description}")));
    }
    param("code").ok_or_else(|| TokenError::SignInAgain("the redirect has no code".into()))
}

/// Signs out: the provider forgets the refresh token where it can (RFC
/// 7009), and the store forgets it in any case.
pub async fn sign_out(
    provider: &ProviderConfig,
    store: &dyn RefreshTokenStore,
) -> Result<(), TokenError> {
    let Some(token) = store.load() else {
        return Ok(());
    };
    store.clear();
    let client = provider.client(None)?;
    let Ok(request) = client.revoke_token(StandardRevocableToken::RefreshToken(RefreshToken::new(
        token.expose().to_owned(),
    ))) else {
        // No revocation endpoint (Entra ID): forgetting it is all we can do.
        return Ok(());
    };
    let http = provider::http_client()?;
    request.request_async(&http).await.map_err(|e| match e {
        RequestTokenError::ServerResponse(answer) => TokenError::provider(
            answer.error().to_string(),
            answer.error_description().cloned().unwrap_or_default(),
        ),
        other => TokenError::Unreachable(crate::transport::error_chain(&other)),
    })
}

fn keep_refresh_token(
    provider: &ProviderConfig,
    token: Option<&RefreshToken>,
    store: &dyn RefreshTokenStore,
) -> Result<(), TokenError> {
    let token = token.ok_or_else(|| {
        TokenError::provider(
            "no_refresh_token",
            "the answer has no refresh token (is offline access allowed?)",
        )
    })?;
    store.save(&Secret::new(token.secret().as_str()));
    info!(client = %provider.client_id, "signed in");
    Ok(())
}

fn scopes(provider: &ProviderConfig) -> Vec<Scope> {
    provider
        .scopes_for(Signer::Person)
        .into_iter()
        .map(Scope::new)
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const REDIRECT: &str = "org.mailpresence.app:/oauth2redirect";

    #[test]
    fn the_authorize_url_carries_an_s256_challenge_state_and_the_redirect() {
        let provider = ProviderConfig::custom("phone-app", "https://login.example.test");
        let sign_in = BrowserSignIn::begin(&provider, REDIRECT).unwrap();
        let url = oauth2::url::Url::parse(sign_in.authorize_url()).unwrap();
        let param = |n: &str| {
            url.query_pairs()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.into_owned())
        };
        assert_eq!(url.path(), "/authorize");
        assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
        assert_eq!(param("code_challenge").map(|c| c.len()), Some(43));
        assert_eq!(param("redirect_uri").as_deref(), Some(REDIRECT));
        assert_eq!(param("response_type").as_deref(), Some("code"));
        assert_eq!(param("state").as_deref(), Some(sign_in.state().expose()));
        assert!(!format!("{sign_in:?}").contains(sign_in.state().expose()));
    }

    #[test]
    fn google_is_asked_for_offline_access() {
        let mut provider = ProviderConfig::custom("app", "https://x.test");
        provider.provider = ProviderKind::Google;
        provider.authorize_url = None;
        let sign_in = BrowserSignIn::begin(&provider, REDIRECT).unwrap();
        let url = sign_in.authorize_url();
        assert!(url.starts_with("https://accounts.google.com/"), "{url}");
        assert!(url.contains("access_type=offline"), "{url}");
        assert!(url.contains("mail.google.com"), "{url}");
    }

    #[test]
    fn a_redirect_is_taken_only_with_our_state_at_our_address() {
        let state = Secret::new("st8");
        let ok = code_from_redirect(&format!("{REDIRECT}?code=c0de&state=st8"), REDIRECT, &state);
        assert_eq!(ok.unwrap(), "c0de");
        for bad in [
            format!("{REDIRECT}?code=c0de&state=other"),
            format!("{REDIRECT}?code=c0de"),
            "https://evil.test/oauth2redirect?code=c0de&state=st8".to_owned(),
            format!("{REDIRECT}?error=access_denied&state=st8"),
        ] {
            let err = code_from_redirect(&bad, REDIRECT, &state).expect_err(&bad);
            assert!(err.needs_sign_in(), "{bad}: {err}");
        }
    }
}
