//! Who issues the tokens: Microsoft (Entra ID, per tenant), Google, or a
//! provider named by its URLs ("custom", what the tests use), with the
//! scopes IMAP and SMTP need there. Turns those settings into an `oauth2`
//! client and one HTTP client whose every wait is bounded, and maps the
//! provider's answers to [`TokenError`] by the OAuth error code (RFC 6749
//! §5.2), never by message text.

use std::time::Duration;

use oauth2::basic::{BasicClient, BasicErrorResponse, BasicErrorResponseType};
use oauth2::{
    AuthUrl, ClientId, DeviceAuthorizationUrl, EndpointMaybeSet, EndpointNotSet, HttpClientError,
    RedirectUrl, RequestTokenError, RevocationUrl, TokenUrl,
};
use serde::{Deserialize, Serialize};

use super::TokenError;

/// How long one request to the provider may take, connect included.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(20);

/// The `oauth2` client with every endpoint optional, so that one type serves
/// all providers (a missing endpoint is a [`TokenError::Config`]).
pub(crate) type OAuthClient = BasicClient<
    EndpointMaybeSet,
    EndpointMaybeSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The identity provider of the company's mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Microsoft 365 (Entra ID): `login.microsoftonline.com/{tenant}`.
    Microsoft,
    /// Google Workspace and Gmail.
    Google,
    /// Any other provider, by its URLs.
    Custom,
}

/// One registered application at a provider: the `[oauth]` section of the
/// server's and the CLI's configuration, and what the apps pass in. Holds no
/// secret (a client secret is read from the file the server names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// `microsoft`, `google` or `custom`.
    pub provider: ProviderKind,
    /// The application (client) id the administrator registered.
    pub client_id: String,
    /// Microsoft: the tenant (domain or id); `organizations` when absent
    /// (any work account; client credentials need the real tenant).
    #[serde(default)]
    pub tenant: Option<String>,
    /// The scopes asked for; the provider's IMAP+SMTP scopes when absent.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Custom provider (or an override): the authorization endpoint.
    #[serde(default)]
    pub authorize_url: Option<String>,
    /// Custom provider (or an override): the token endpoint.
    #[serde(default)]
    pub token_url: Option<String>,
    /// Custom provider (or an override): RFC 8628's device endpoint.
    #[serde(default)]
    pub device_authorization_url: Option<String>,
    /// Custom provider (or an override): RFC 7009's revocation endpoint.
    #[serde(default)]
    pub revocation_url: Option<String>,
}

/// Who signs in: a person (delegated scopes, a refresh token) or the
/// server's own application (client credentials, application scopes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signer {
    Person,
    Application,
}

const MICROSOFT: &str = "https://login.microsoftonline.com";
/// Exchange Online's delegated permissions for IMAP and SMTP AUTH, and a
/// refresh token.
const MICROSOFT_PERSON_SCOPES: [&str; 3] = [
    "https://outlook.office.com/IMAP.AccessAsUser.All",
    "https://outlook.office.com/SMTP.Send",
    "offline_access",
];
/// The application permissions the administrator granted (IMAP.AccessAsApp,
/// SMTP.SendAsApp) come as `.default` in the client-credentials flow.
const MICROSOFT_APPLICATION_SCOPES: [&str; 1] = ["https://outlook.office365.com/.default"];
const GOOGLE_SCOPES: [&str; 1] = ["https://mail.google.com/"];

impl ProviderConfig {
    /// A custom provider at `base` with the test token endpoint's paths.
    pub fn custom(client_id: impl Into<String>, base: &str) -> Self {
        Self {
            provider: ProviderKind::Custom,
            client_id: client_id.into(),
            tenant: None,
            scopes: None,
            authorize_url: Some(format!("{base}/authorize")),
            token_url: Some(format!("{base}/token")),
            device_authorization_url: Some(format!("{base}/device")),
            revocation_url: Some(format!("{base}/revoke")),
        }
    }

    /// The scopes to ask for as `signer`.
    pub fn scopes_for(&self, signer: Signer) -> Vec<String> {
        if let Some(scopes) = &self.scopes {
            return scopes.clone();
        }
        let defaults: &[&str] = match (self.provider, signer) {
            (ProviderKind::Microsoft, Signer::Person) => &MICROSOFT_PERSON_SCOPES,
            (ProviderKind::Microsoft, Signer::Application) => &MICROSOFT_APPLICATION_SCOPES,
            (ProviderKind::Google, _) => &GOOGLE_SCOPES,
            (ProviderKind::Custom, _) => &[],
        };
        defaults.iter().map(|s| (*s).to_owned()).collect()
    }

    /// The token endpoint (what identifies the provider in a cache key).
    pub fn token_endpoint(&self) -> Option<String> {
        self.urls().token
    }

    /// The provider's endpoints: its own, unless the settings name others.
    fn urls(&self) -> Urls {
        let known = match self.provider {
            ProviderKind::Microsoft => {
                let tenant = self.tenant.as_deref().unwrap_or("organizations");
                let base = format!("{MICROSOFT}/{tenant}/oauth2/v2.0");
                Urls {
                    authorize: Some(format!("{base}/authorize")),
                    token: Some(format!("{base}/token")),
                    device: Some(format!("{base}/devicecode")),
                    // Entra ID has no RFC 7009 endpoint; an administrator
                    // revokes sessions in the portal.
                    revocation: None,
                }
            }
            ProviderKind::Google => Urls {
                authorize: Some("https://accounts.google.com/o/oauth2/v2/auth".into()),
                token: Some("https://oauth2.googleapis.com/token".into()),
                device: Some("https://oauth2.googleapis.com/device/code".into()),
                revocation: Some("https://oauth2.googleapis.com/revoke".into()),
            },
            ProviderKind::Custom => Urls::default(),
        };
        Urls {
            authorize: self.authorize_url.clone().or(known.authorize),
            token: self.token_url.clone().or(known.token),
            device: self.device_authorization_url.clone().or(known.device),
            revocation: self.revocation_url.clone().or(known.revocation),
        }
    }

    /// The `oauth2` client for these settings (`redirect`: the app's own
    /// redirect URI, for the authorization-code flow).
    pub(crate) fn client(&self, redirect: Option<&str>) -> Result<OAuthClient, TokenError> {
        let urls = self.urls();
        let bad = |what: &str, e: oauth2::url::ParseError| {
            TokenError::Config(format!("{what} URL is not a URL: {e}"))
        };
        let token = urls
            .token
            .ok_or_else(|| TokenError::Config("no token_url for this provider".into()))?;
        let client = BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_token_uri_option(Some(TokenUrl::new(token).map_err(|e| bad("token", e))?))
            .set_auth_uri_option(
                urls.authorize
                    .map(AuthUrl::new)
                    .transpose()
                    .map_err(|e| bad("authorize", e))?,
            )
            .set_device_authorization_url_option(
                urls.device
                    .map(DeviceAuthorizationUrl::new)
                    .transpose()
                    .map_err(|e| bad("device authorization", e))?,
            )
            .set_revocation_url_option(
                urls.revocation
                    .map(RevocationUrl::new)
                    .transpose()
                    .map_err(|e| bad("revocation", e))?,
            );
        Ok(match redirect {
            Some(uri) => client.set_redirect_uri(
                RedirectUrl::new(uri.to_owned()).map_err(|e| bad("redirect", e))?,
            ),
            None => client,
        })
    }
}

#[derive(Debug, Default)]
struct Urls {
    authorize: Option<String>,
    token: Option<String>,
    device: Option<String>,
    revocation: Option<String>,
}

/// The HTTP client for the provider: every request bounded, and no
/// redirects followed (the `oauth2` crate's advice against SSRF: a token
/// endpoint answers, it does not send the client elsewhere).
pub(crate) fn http_client() -> Result<oauth2::reqwest::Client, TokenError> {
    oauth2::reqwest::Client::builder()
        .redirect(oauth2::reqwest::redirect::Policy::none())
        .connect_timeout(HTTP_TIMEOUT)
        .timeout(HTTP_TIMEOUT)
        .build()
        .map_err(|e| TokenError::Config(format!("HTTP client: {e}")))
}

/// A failed token request, by the provider's OAuth error code: a refused
/// grant is "sign in again"; a refused client or scope is the
/// administrator's to fix (with the provider's own words, e.g. an AADSTS
/// code); anything without an answer is worth retrying later.
pub(crate) fn token_failure(
    e: RequestTokenError<HttpClientError<oauth2::reqwest::Error>, BasicErrorResponse>,
) -> TokenError {
    match e {
        RequestTokenError::ServerResponse(answer) => match answer.error() {
            BasicErrorResponseType::InvalidGrant => TokenError::SignInAgain(answer.to_string()),
            code => TokenError::provider(
                code.to_string(),
                answer.error_description().cloned().unwrap_or_default(),
            ),
        },
        RequestTokenError::Request(e) => TokenError::Unreachable(crate::transport::error_chain(&e)),
        RequestTokenError::Parse(e, _) => {
            TokenError::Unreachable(format!("unreadable answer: {e}"))
        }
        RequestTokenError::Other(e) => TokenError::Unreachable(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(provider: ProviderKind) -> ProviderConfig {
        ProviderConfig {
            provider,
            client_id: "app".into(),
            tenant: Some("contoso.onmicrosoft.com".into()),
            scopes: None,
            authorize_url: None,
            token_url: None,
            device_authorization_url: None,
            revocation_url: None,
        }
    }

    #[test]
    fn microsoft_endpoints_are_per_tenant() {
        let urls = config(ProviderKind::Microsoft).urls();
        assert_eq!(
            urls.token.as_deref(),
            Some("https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token")
        );
        assert_eq!(
            urls.device.as_deref(),
            Some(
                "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/devicecode"
            )
        );
        assert_eq!(urls.revocation, None);
    }

    #[test]
    fn each_provider_has_its_mail_scopes_for_people_and_applications() {
        let ms = config(ProviderKind::Microsoft);
        assert_eq!(
            ms.scopes_for(Signer::Person),
            [
                "https://outlook.office.com/IMAP.AccessAsUser.All",
                "https://outlook.office.com/SMTP.Send",
                "offline_access"
            ]
        );
        assert_eq!(
            ms.scopes_for(Signer::Application),
            ["https://outlook.office365.com/.default"]
        );
        assert_eq!(
            config(ProviderKind::Google).scopes_for(Signer::Person),
            ["https://mail.google.com/"]
        );
    }

    #[test]
    fn a_custom_provider_without_a_token_url_is_a_configuration_error() {
        let err = config(ProviderKind::Custom)
            .client(None)
            .expect_err("no token URL");
        assert!(matches!(err, TokenError::Config(_)), "{err}");
        assert!(
            ProviderConfig::custom("app", "http://127.0.0.1:1")
                .client(Some("org.mailpresence:/oauth"))
                .is_ok()
        );
    }
}
