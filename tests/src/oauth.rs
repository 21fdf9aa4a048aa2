//! The tests' OAuth 2.0 provider (`scripts/oauth-endpoint.py`, issuing the
//! JWTs the test Dovecot validates) as a process on a free loopback port,
//! stopped by its pid when dropped; what a person does in the browser
//! (approve a device code, come back from the authorize page); and the
//! account and server files that sign in with it instead of a password.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{World, repo_root};

/// The client id the phones' account files name.
pub const PHONE_CLIENT: &str = "mailpresence-phone";
/// The presence server's application at the provider, and its secret.
pub const SERVER_CLIENT: &str = "mailpresence-server";
const SERVER_SECRET: &str = "server-client-secret-7f3a";
/// The presence server's Google service account.
const SERVICE_ACCOUNT: &str = "presence@mailpresence-test.iam.gserviceaccount.com";

/// The running token endpoint.
#[derive(Debug)]
pub struct TokenEndpoint {
    child: Child,
    pub port: u16,
}

impl TokenEndpoint {
    /// Starts the endpoint for `world`'s mail servers: access tokens live
    /// `lifetime` seconds, device codes are polled every second, and the
    /// presence mailbox's application may use client credentials.
    pub fn start(world: &World, lifetime: u64) -> Self {
        Self::spawn(world, lifetime, &[])
    }

    /// The same, and the presence mailbox may also sign in as a Google
    /// service account whose key file is [`World::service_account_key`]
    /// (made here with openssl, as Google would hand it out).
    pub fn start_with_service_account(world: &World, lifetime: u64) -> Self {
        let dir = world.dir.path();
        let private = dir.join("service-account.pem");
        let public = dir.join("service-account.pub.pem");
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl").args(args).output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        openssl(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            private.to_str().unwrap(),
        ]);
        openssl(&[
            "pkey",
            "-in",
            private.to_str().unwrap(),
            "-pubout",
            "-out",
            public.to_str().unwrap(),
        ]);
        let endpoint = Self::spawn(
            world,
            lifetime,
            &[
                "--service-account".into(),
                format!("{SERVICE_ACCOUNT}:{}", public.display()),
            ],
        );
        let key = serde_json::json!({
            "type": "service_account",
            "client_email": SERVICE_ACCOUNT,
            "private_key_id": "test-key",
            "private_key": std::fs::read_to_string(&private).unwrap(),
            "token_uri": format!("{}/token", endpoint.base_url()),
        });
        std::fs::write(world.service_account_key(), key.to_string()).unwrap();
        endpoint
    }

    fn spawn(world: &World, lifetime: u64, extra: &[String]) -> Self {
        let mut child = Command::new(repo_root().join("scripts/oauth-endpoint.py"))
            .args(["--dir", world.servers.dir.to_str().unwrap()])
            .args(["--lifetime", &lifetime.to_string(), "--interval", "1"])
            .arg("--client")
            .arg(format!(
                "{SERVER_CLIENT}:{SERVER_SECRET}:{}",
                world.presence
            ))
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(world.dir.path().join("oauth-endpoint.log")).unwrap())
            .spawn()
            .expect("scripts/oauth-endpoint.py starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the endpoint did not start: {line:?}"));
        Self { child, port }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The `[oauth]` lines of an account file (a custom provider at this
    /// endpoint).
    pub fn provider_toml(&self, client_id: &str) -> String {
        let b = self.base_url();
        format!(
            "[oauth]\nprovider = \"custom\"\nclient_id = \"{client_id}\"\nscopes = [\"mail\"]\n\
             authorize_url = \"{b}/authorize\"\ntoken_url = \"{b}/token\"\n\
             device_authorization_url = \"{b}/device\"\nrevocation_url = \"{b}/revoke\"\n"
        )
    }

    /// What the person does in the browser: approves `user_code` as `user`.
    pub fn approve(&self, user_code: &str, user: &str) {
        let (status, _, body) = self.request(
            "POST",
            "/verify",
            &format!("user_code={user_code}&user={}", user.replace('@', "%40")),
        );
        assert_eq!(status, 200, "{body}");
    }

    /// Revokes a refresh token (as an administrator or the person would).
    pub fn revoke(&self, refresh_token: &str) {
        let (status, _, body) = self.request("POST", "/revoke", &format!("token={refresh_token}"));
        assert_eq!(status, 200, "{body}");
    }

    /// The browser at the authorize URL, signed in as `user`: where the
    /// provider sends it back to (the app's redirect with code and state).
    pub fn authorize(&self, authorize_url: &str, user: &str) -> String {
        let path = authorize_url
            .strip_prefix(&self.base_url())
            .expect("the authorize URL is this endpoint's");
        let (status, location, body) = self.request(
            "GET",
            &format!("{path}&user={}", user.replace('@', "%40")),
            "",
        );
        assert_eq!(status, 302, "{body}");
        location.expect("a redirect")
    }

    /// One HTTP/1.1 request: (status, Location, body).
    fn request(&self, method: &str, path: &str, form: &str) -> (u16, Option<String>, String) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
            self.port,
            form.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let location = head
            .lines()
            .find_map(|l| l.strip_prefix("Location: "))
            .map(str::to_owned);
        (status, location, body.to_owned())
    }
}

impl Drop for TokenEndpoint {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl World {
    /// A phone's account file without passwords: IMAP and SMTP log in with
    /// the worker's sign-in at `endpoint` (`mailpresence sign-in`).
    pub fn terminal_config_signed_in(&self, account: &str, endpoint: &TokenEndpoint) -> PathBuf {
        let path = self.terminal_config(account);
        let text = std::fs::read_to_string(&path).unwrap();
        let without = text.replace("password = \"secret\"\n", "");
        assert_eq!(without.matches("user = ").count(), 2, "{text}");
        std::fs::write(
            &path,
            format!("{without}\n{}", endpoint.provider_toml(PHONE_CLIENT)),
        )
        .unwrap();
        path
    }

    /// Where `sign-in` keeps `account`'s refresh token (beside its state).
    pub fn refresh_token_file(&self, account: &str) -> PathBuf {
        self.dir.path().join(format!("{account}.refresh-token"))
    }

    /// The server's configuration with its mailbox signed in by client
    /// credentials at `endpoint` (the secret in a file), no password left.
    pub fn write_config_signed_in(&self, endpoint: &TokenEndpoint) -> PathBuf {
        let config = self.write_config();
        let secret = self.dir.path().join("oauth-client-secret");
        std::fs::write(&secret, format!("{SERVER_SECRET}\n")).unwrap();
        let text = std::fs::read_to_string(&config).unwrap();
        let without = text.replace("password = \"secret\"\n", "");
        assert_eq!(text.matches("password = ").count(), 2, "{text}");
        std::fs::write(
            &config,
            format!(
                "{without}\n[oauth]\nprovider = \"custom\"\nclient_id = \"{SERVER_CLIENT}\"\n\
                 token_url = \"{}/token\"\nscopes = [\"mail\"]\nclient_secret_file = {:?}\n",
                endpoint.base_url(),
                secret.display().to_string()
            ),
        )
        .unwrap();
        config
    }

    /// The service account's JSON key file.
    pub fn service_account_key(&self) -> PathBuf {
        self.dir.path().join("service-account.json")
    }

    /// The server's configuration with its mailbox signed in as the Google
    /// service account (domain-wide delegation), no password left.
    pub fn write_config_as_service_account(&self) -> PathBuf {
        let config = self.write_config();
        let text = std::fs::read_to_string(&config).unwrap();
        let without = text.replace("password = \"secret\"\n", "");
        std::fs::write(
            &config,
            format!(
                "{without}\n[oauth]\nprovider = \"google\"\nservice_account_file = {:?}\n",
                self.service_account_key().display().to_string()
            ),
        )
        .unwrap();
        config
    }

    /// `mailpresence sign-in` for `config`, approved in the "browser" as
    /// the account's owner; returns the command's output.
    pub fn sign_in(&self, config: &Path, account: &str, endpoint: &TokenEndpoint) -> String {
        let mut child = Command::new(crate::binary("mailpresence"))
            .args(["sign-in", "--config", config.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("mailpresence sign-in runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let shown: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("sign-in printed {line:?}: {e}"));
        let code = shown["user_code"].as_str().expect("a user code");
        assert!(
            shown["verification_uri"]
                .as_str()
                .is_some_and(|u| u.starts_with(&endpoint.base_url())),
            "{shown}"
        );
        endpoint.approve(code, &self.mail_of(account));
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "sign-in failed: {stderr}");
        stderr
    }
}
