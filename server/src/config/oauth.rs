//! `[oauth]`: the presence mailbox signs in without a person: by the
//! client-credentials flow (Microsoft 365: an app registration with the
//! IMAP.AccessAsApp and SMTP.SendAsApp application permissions, granted by
//! an administrator, and the mailbox given to the app's service principal in
//! Exchange Online), or as a Google service account with domain-wide
//! delegation for `https://mail.google.com/` (RFC 7523; the mailbox is
//! `[imap] user`). The secret or key is read from the file this section
//! names, never written in the TOML. `[imap]` and `[smtp]` with a `user` and
//! neither password nor token file log in with it.
//!
//! ```toml
//! [oauth]
//! provider = "microsoft"            # microsoft | google | custom
//! tenant = "contoso.onmicrosoft.com"
//! client_id = "00000000-0000-0000-0000-000000000000"
//! client_secret_file = "/etc/mailpresence/oauth-client-secret"
//! # Google instead: provider = "google"
//! #                 service_account_file = "/etc/mailpresence/key.json"
//! # custom (or an override): token_url = "https://login.example/token"
//! # scopes = ["…"]                  # default: the provider's mail scopes
//! ```

use std::path::PathBuf;

use mailpresence_protocol::transport::oauth::{
    ProviderConfig, ProviderKind, ServiceAccount, Signer, TokenError, TokenSource,
};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    pub provider: ProviderKind,
    /// The application (client) id; with `client_secret_file`.
    pub client_id: Option<String>,
    /// Microsoft: the tenant (its domain or id); required for this flow.
    pub tenant: Option<String>,
    /// The scopes; the provider's application scope for mail when absent
    /// (`https://outlook.office365.com/.default`).
    pub scopes: Option<Vec<String>>,
    /// The token endpoint of a custom provider (or an override).
    pub token_url: Option<String>,
    /// A file holding the client secret (owner-readable only, like a key).
    pub client_secret_file: Option<PathBuf>,
    /// Instead: a Google service account's JSON key file.
    pub service_account_file: Option<PathBuf>,
}

impl OAuthConfig {
    pub fn provider(&self) -> ProviderConfig {
        ProviderConfig {
            provider: self.provider,
            client_id: self.client_id.clone().unwrap_or_default(),
            tenant: self.tenant.clone(),
            scopes: self.scopes.clone(),
            authorize_url: None,
            token_url: self.token_url.clone(),
            device_authorization_url: None,
            revocation_url: None,
        }
    }

    /// The token source of `mailbox` (the secret or key read now).
    pub fn token_source(&self, mailbox: &str) -> Result<TokenSource, TokenError> {
        match (&self.service_account_file, &self.client_secret_file) {
            (Some(key), _) => Ok(TokenSource::service_account(
                ServiceAccount::from_file(key)?,
                mailbox,
                self.provider().scopes_for(Signer::Application),
            )),
            (None, Some(file)) => Ok(TokenSource::client_credentials(
                self.provider(),
                TokenSource::read_client_secret(file)?,
            )),
            (None, None) => Err(TokenError::Config(
                "give client_secret_file or service_account_file".into(),
            )),
        }
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
                "the application may not sign in for the mailbox: an administrator has to grant it (Microsoft 365: the application permissions IMAP.AccessAsApp and SMTP.SendAsApp, with consent; Google Workspace: domain-wide delegation of https://mail.google.com/ to the service account's client id)"
            }
            _ => "see the provider's message",
        };
        format!("[oauth] the provider refused ({code}): {advice}. Its words: {detail}")
    }

    pub(super) fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        match (&self.client_secret_file, &self.service_account_file) {
            (Some(_), Some(_)) | (None, None) => p.push(
                "[oauth] give either client_secret_file (with client_id) or service_account_file"
                    .into(),
            ),
            (Some(file), None) => {
                if self
                    .client_id
                    .as_deref()
                    .is_none_or(|id| id.trim().is_empty())
                {
                    p.push("[oauth] client_id is needed with client_secret_file".into());
                }
                if let Err(e) = TokenSource::read_client_secret(file) {
                    p.push(format!("[oauth] client_secret_file: {e}"));
                }
            }
            (None, Some(key)) => {
                if let Err(e) = ServiceAccount::from_file(key) {
                    p.push(format!("[oauth] service_account_file: {e}"));
                }
                return p;
            }
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
        assert!(
            problems[0].starts_with("[oauth] client_secret_file: ")
                && problems[0].contains("/nonexistent/secret"),
            "{problems:?}"
        );
        assert!(problems[1].contains("tenant"), "{problems:?}");
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
            client_id: Some("server".into()),
            tenant: None,
            scopes: Some(vec!["mail".into()]),
            token_url: Some("http://127.0.0.1:9/token".into()),
            client_secret_file: Some(file),
            service_account_file: None,
        };
        assert_eq!(oauth.problems(), Vec::<String>::new());
        let source = oauth.token_source("presence@example.co.jp").unwrap();
        assert!(!format!("{source:?} {oauth:?}").contains("very-secret-value"));
    }
}
