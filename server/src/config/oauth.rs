//! `[oauth]`: the presence mailbox signs in without a person, by the
//! client-credentials flow of the company's provider (Microsoft 365: an app
//! registration with the IMAP.AccessAsApp and SMTP.SendAsApp application
//! permissions, granted by an administrator, and the mailbox given to the
//! app's service principal in Exchange Online). The client secret is read
//! from the file this section names, never written in the TOML. `[imap]`
//! and `[smtp]` with a `user` and neither password nor token file log in
//! with it.
//!
//! ```toml
//! [oauth]
//! provider = "microsoft"            # microsoft | google | custom
//! tenant = "contoso.onmicrosoft.com"
//! client_id = "00000000-0000-0000-0000-000000000000"
//! client_secret_file = "/etc/mailpresence/oauth-client-secret"
//! # custom (or an override): token_url = "https://login.example/token"
//! # scopes = ["…"]                  # default: the provider's mail scopes
//! ```

use std::path::PathBuf;

use mailpresence_protocol::transport::oauth::{
    ProviderConfig, ProviderKind, TokenError, TokenSource,
};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    pub provider: ProviderKind,
    pub client_id: String,
    /// Microsoft: the tenant (its domain or id); required for this flow.
    pub tenant: Option<String>,
    /// The scopes; the provider's application scope for mail when absent
    /// (`https://outlook.office365.com/.default`).
    pub scopes: Option<Vec<String>>,
    /// The token endpoint of a custom provider (or an override).
    pub token_url: Option<String>,
    /// A file holding the client secret (owner-readable only, like a key).
    pub client_secret_file: PathBuf,
}

impl OAuthConfig {
    pub fn provider(&self) -> ProviderConfig {
        ProviderConfig {
            provider: self.provider,
            client_id: self.client_id.clone(),
            tenant: self.tenant.clone(),
            scopes: self.scopes.clone(),
            authorize_url: None,
            token_url: self.token_url.clone(),
            device_authorization_url: None,
            revocation_url: None,
        }
    }

    /// The mailbox's token source (the secret read now).
    pub fn token_source(&self) -> Result<TokenSource, TokenError> {
        let secret = TokenSource::read_client_secret(&self.client_secret_file)?;
        Ok(TokenSource::client_credentials(self.provider(), secret))
    }

    /// What `--check-config` says after asking the provider for a token:
    /// that it works, or what the refusal means and what to do, from the
    /// provider's own error code (and Entra ID's AADSTS number).
    pub fn explain(result: &Result<(), TokenError>) -> String {
        let (code, detail) = match result {
            Ok(()) => return "[oauth] the provider issued a token for the mailbox".into(),
            Err(TokenError::Provider { code, detail }) => (code.as_str(), detail.as_str()),
            Err(other) => return format!("[oauth] no token: {other}"),
        };
        let aadsts = detail
            .split(|c: char| !c.is_ascii_alphanumeric())
            .find(|w| w.starts_with("AADSTS"));
        let advice = match (aadsts, code) {
            (Some("AADSTS7000215" | "AADSTS7000222"), _) => {
                "the client secret is wrong or expired: make a new one in the app registration and put it in client_secret_file"
            }
            (Some("AADSTS700016"), _) => {
                "no application with this client_id in the tenant: check client_id and tenant"
            }
            (Some("AADSTS90002" | "AADSTS900023"), _) => {
                "no such tenant: check tenant (the company's domain or tenant id)"
            }
            (Some("AADSTS1002012" | "AADSTS70011"), _) | (_, "invalid_scope") => {
                "the scope is refused: for Microsoft 365 leave scopes unset (https://outlook.office365.com/.default)"
            }
            (_, "invalid_client") => "the provider does not know this client_id or secret",
            (_, "unauthorized_client") => {
                "the application may not use the client-credentials flow: an administrator has to grant it the application permissions (IMAP.AccessAsApp, SMTP.SendAsApp) and consent"
            }
            _ => "see the provider's message",
        };
        format!("[oauth] the provider refused ({code}): {advice}. Its words: {detail}")
    }

    pub(super) fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.client_id.trim().is_empty() {
            p.push("[oauth] client_id is empty".into());
        }
        match self.provider {
            ProviderKind::Microsoft if self.tenant.as_deref().is_none_or(str::is_empty) => p.push(
                "[oauth] tenant is needed for Microsoft's client-credentials flow (the company's domain or tenant id)"
                    .into(),
            ),
            ProviderKind::Custom if self.token_url.is_none() => {
                p.push("[oauth] a custom provider needs token_url".into());
            }
            _ => {}
        }
        if let Err(e) = TokenSource::read_client_secret(&self.client_secret_file) {
            p.push(format!("[oauth] client_secret_file: {e}"));
        }
        p
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_microsoft_section_needs_its_tenant_and_a_readable_secret() {
        let oauth: OAuthConfig = toml::from_str(
            "provider = \"microsoft\"\nclient_id = \"app\"\nclient_secret_file = \"/nonexistent/secret\"",
        )
        .unwrap();
        let problems = oauth.problems();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("tenant"), "{problems:?}");
        assert!(
            problems[1].starts_with("[oauth] client_secret_file: ")
                && problems[1].contains("/nonexistent/secret"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_refusal_is_explained_from_the_providers_code() {
        let refused = |code: &str, detail: &str| {
            OAuthConfig::explain(&Err(TokenError::Provider {
                code: code.into(),
                detail: detail.into(),
            }))
        };
        let secret = refused(
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided. Trace ID: 1",
        );
        assert!(
            secret.contains("client secret is wrong or expired"),
            "{secret}"
        );
        assert!(secret.contains("AADSTS7000215"), "{secret}");
        let consent = refused("unauthorized_client", "");
        assert!(consent.contains("IMAP.AccessAsApp"), "{consent}");
        assert!(OAuthConfig::explain(&Ok(())).contains("issued a token"));
    }

    #[test]
    fn the_secret_is_read_from_its_file_and_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, "very-secret-value\n").unwrap();
        let oauth = OAuthConfig {
            provider: ProviderKind::Custom,
            client_id: "server".into(),
            tenant: None,
            scopes: Some(vec!["mail".into()]),
            token_url: Some("http://127.0.0.1:9/token".into()),
            client_secret_file: file,
        };
        assert_eq!(oauth.problems(), Vec::<String>::new());
        let source = oauth.token_source().unwrap();
        assert!(!format!("{source:?} {oauth:?}").contains("very-secret-value"));
    }
}
