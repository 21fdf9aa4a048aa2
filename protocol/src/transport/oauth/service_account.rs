//! Google Workspace's way for a server to sign in without a person: a
//! service account with domain-wide delegation. The server signs a JWT with
//! the account's private key (RS256) naming the mailbox it acts for (`sub`)
//! and trades it for an access token (the JWT bearer grant, RFC 7523 §2.1).
//! The key comes from the JSON key file Google hands out, named in the
//! configuration, never in the TOML.

use std::fmt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject;
use serde::Deserialize;

use super::TokenError;
use super::provider;

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// How long a signed assertion is good for (Google's maximum).
const ASSERTION_LIFE_SECS: u64 = 3600;

/// The parts of Google's service-account key file this uses.
#[derive(Deserialize)]
struct KeyFile {
    client_email: String,
    private_key: String,
    #[serde(default)]
    private_key_id: Option<String>,
    token_uri: String,
}

/// A service account's signing key and where it trades assertions.
pub struct ServiceAccount {
    email: String,
    key_id: Option<String>,
    token_uri: String,
    key: RsaKeyPair,
}

impl fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("email", &self.email)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

impl ServiceAccount {
    /// Reads Google's JSON key file.
    pub fn from_file(path: &Path) -> Result<Self, TokenError> {
        let bad = |e: String| TokenError::Config(format!("{}: {e}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        Self::from_json(&text).map_err(|e| match e {
            TokenError::Config(e) => bad(e),
            other => other,
        })
    }

    pub fn from_json(text: &str) -> Result<Self, TokenError> {
        let file: KeyFile = serde_json::from_str(text)
            .map_err(|e| TokenError::Config(format!("not a service-account key file: {e}")))?;
        let der = PrivatePkcs8KeyDer::from_pem_slice(file.private_key.as_bytes())
            .map_err(|e| TokenError::Config(format!("private_key: {e}")))?;
        let key = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
            .map_err(|e| TokenError::Config(format!("private_key: {e}")))?;
        Ok(Self {
            email: file.client_email,
            key_id: file.private_key_id,
            token_uri: file.token_uri,
            key,
        })
    }

    pub fn email(&self) -> &str {
        &self.email
    }

    pub fn token_uri(&self) -> &str {
        &self.token_uri
    }

    /// The signed JWT asking for `scopes` on behalf of `subject` (RFC 7523
    /// §3: iss, sub, aud, exp, iat; Google's `scope`).
    pub fn assertion(&self, subject: &str, scopes: &[String]) -> Result<String, TokenError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = &self.key_id {
            header["kid"] = kid.as_str().into();
        }
        let claims = serde_json::json!({
            "iss": self.email,
            "sub": subject,
            "scope": scopes.join(" "),
            "aud": self.token_uri,
            "iat": now,
            "exp": now + ASSERTION_LIFE_SECS,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| TokenError::Config("cannot sign with the service account's key".into()))?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

/// A token answer (RFC 6749 §5.1), or its error (§5.2).
#[derive(Deserialize)]
struct Answer {
    access_token: Option<String>,
    expires_in: Option<u64>,
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// Trades a signed assertion for an access token: the token and its life.
pub(super) async fn exchange(
    account: &ServiceAccount,
    subject: &str,
    scopes: &[String],
) -> Result<(String, Option<u64>), TokenError> {
    let assertion = account.assertion(subject, scopes)?;
    let http = provider::http_client()?;
    let response = http
        .post(&account.token_uri)
        .form(&[("grant_type", JWT_BEARER), ("assertion", &assertion)])
        .send()
        .await
        .map_err(|e| TokenError::Unreachable(crate::transport::error_chain(&e)))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| TokenError::Unreachable(crate::transport::error_chain(&e)))?;
    let answer: Answer = serde_json::from_slice(&body)
        .map_err(|e| TokenError::Unreachable(format!("unreadable answer ({status}): {e}")))?;
    match (answer.access_token, answer.error) {
        (Some(token), None) if status.is_success() => Ok((token, answer.expires_in)),
        (_, Some(code)) => Err(TokenError::provider(
            code,
            answer.error_description.unwrap_or_default(),
        )),
        _ => Err(TokenError::Unreachable(format!(
            "the token endpoint answered {status} without a token"
        ))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use ring::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};

    /// A key file with a fresh RSA key (openssl, as the test mail servers'
    /// certificates are made).
    fn key_file() -> String {
        let out = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ])
            .output()
            .expect("openssl runs");
        assert!(out.status.success());
        serde_json::json!({
            "type": "service_account",
            "client_email": "presence@project.iam.gserviceaccount.com",
            "private_key_id": "k1",
            "private_key": String::from_utf8(out.stdout).unwrap(),
            "token_uri": "https://oauth2.googleapis.com/token",
        })
        .to_string()
    }

    #[test]
    fn the_assertion_names_the_mailbox_and_is_signed_with_the_key() {
        let account = ServiceAccount::from_json(&key_file()).unwrap();
        let jwt = account
            .assertion(
                "presence@example.co.jp",
                &["https://mail.google.com/".into()],
            )
            .unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["iss"], "presence@project.iam.gserviceaccount.com");
        assert_eq!(claims["sub"], "presence@example.co.jp");
        assert_eq!(claims["aud"], "https://oauth2.googleapis.com/token");
        assert_eq!(claims["scope"], "https://mail.google.com/");
        assert_eq!(
            claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
            3600
        );
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["kid"], "k1");
        let public = UnparsedPublicKey::new(
            &RSA_PKCS1_2048_8192_SHA256,
            account.key.public().as_ref().to_vec(),
        );
        public
            .verify(
                format!("{}.{}", parts[0], parts[1]).as_bytes(),
                &URL_SAFE_NO_PAD.decode(parts[2]).unwrap(),
            )
            .expect("a valid RS256 signature");
        assert!(!format!("{account:?}").contains("PRIVATE"));
    }

    #[test]
    fn a_file_that_is_not_a_key_is_named() {
        let err = ServiceAccount::from_json(r#"{"client_email":"x"}"#).expect_err("no key");
        assert!(matches!(err, TokenError::Config(_)), "{err}");
    }
}
