//! `mailpresence enroll LINK`: the phone's side of an enrolment code, from a
//! terminal. Reads the code with the same parser the apps use (the protocol
//! crate's), shows what it is about to trust — the presence server, its
//! key's fingerprint, the company CA's pin — and, given where to write it,
//! the account file the phone commands use, with only the mail password
//! typed (from a file: never on the command line) — or, where the company's
//! mail is Microsoft 365 / Google Workspace and the code names its sign-in,
//! no password at all: `mailpresence sign-in` follows.
//!
//! Then the phone enrols: it makes its Ed25519 device key (a file beside the
//! account, owner-only), sends the Enrol mail with the code's one-time token
//! signed with that key, and waits for the server's signed Enrolled answer.
//! From then on its Publish and Subscribe mails are signed, and a Notify
//! counts only with the server's signature (its key pinned from the code).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use mailpresence_protocol::enrolment::{Enrolment, ServiceSettings};
use sha2::{Digest, Sha256};

use crate::CliError;

#[derive(Debug, Args)]
pub struct EnrollArgs {
    /// The enrolment code (`mailpresence:enrol/1/…`), as the QR code or the
    /// link says it.
    pub code: String,
    /// Write the phone's account file here (TOML, for `--config` of the
    /// phone commands). Without it, only what the code says is shown.
    #[arg(long, value_name = "FILE")]
    pub write: Option<PathBuf>,
    /// A file holding the mail password (one line); not for a code that
    /// names a sign-in (Microsoft 365, Google Workspace).
    #[arg(long, value_name = "FILE", requires = "write")]
    pub password_file: Option<PathBuf>,
    /// The company CA certificate (PEM); must match the code's pin.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Enrol with an account file written before (after `mailpresence
    /// sign-in`, for a company that signs in instead of passwords).
    #[arg(long, value_name = "FILE", conflicts_with = "write")]
    pub config: Option<PathBuf>,
    /// The name IT sees for this device (`devices ACCOUNT`).
    #[arg(long, default_value = "mailpresence command")]
    pub device_name: String,
    /// How long to wait for the server's answer, in seconds.
    #[arg(long, default_value_t = 120)]
    pub wait: u64,
}

pub fn run(args: EnrollArgs) -> Result<ExitCode, CliError> {
    let now = chrono::Utc::now().timestamp();
    let code = Enrolment::decode(&args.code, now).map_err(|e| CliError::Input(e.to_string()))?;
    print!("{}", trusted(&code));
    if let Some(existing) = &args.config {
        // The CA was checked against the pin when that file was written.
        return redeem(&code, existing, &args);
    }
    if let Some(pin) = &code.ca_sha256 {
        let Some(ca) = &args.ca_file else {
            return Err(CliError::Input(format!(
                "the mail servers use the company CA (SHA-256 {pin}); give its certificate with --ca-file"
            )));
        };
        check_pin(ca, pin)?;
    }
    let Some(out) = &args.write else {
        return Ok(ExitCode::SUCCESS);
    };
    if code.oauth.is_some() && args.password_file.is_some() {
        return Err(CliError::Input(
            "this company's mail takes no password: the code names its sign-in; leave out --password-file and run `mailpresence sign-in` after".into(),
        ));
    }
    let password = match &args.password_file {
        Some(file) => Some(read_password(file)?),
        None => None,
    };
    let key_file = out.with_extension("device-key");
    let text = account_file(
        &code,
        password.as_deref(),
        args.ca_file.as_deref(),
        Some(&key_file),
    )?;
    if !key_file.exists() {
        mailpresence_core::terminal::device::new_key_file(&key_file)
            .map_err(|e| CliError::Input(e.to_string()))?;
    }
    write_owner_only(out, &text).map_err(|source| CliError::Read {
        path: out.display().to_string(),
        source,
    })?;
    println!("account file written: {}", out.display());
    if code.oauth.is_some() {
        println!(
            "next: mailpresence sign-in --config {0}  (sign in with the company account), \
             then: mailpresence enroll CODE --config {0}",
            out.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    redeem(&code, out, &args)
}

/// Sends the Enrol mail from the account in `file` and waits for the
/// server's signed answer.
fn redeem(code: &Enrolment, file: &Path, args: &EnrollArgs) -> Result<ExitCode, CliError> {
    let account = crate::terminal::Account::new(file.to_path_buf(), None);
    let terminal = crate::terminal::open(&account)?;
    if terminal.config().account != code.account {
        return Err(CliError::Input(format!(
            "{} is {}'s account; the code is for {}",
            file.display(),
            terminal.config().account,
            code.account
        )));
    }
    let rt = crate::terminal::runtime()?;
    terminal
        .enrol(&code.token, &args.device_name)
        .map_err(|e| CliError::Input(e.to_string()))?;
    crate::terminal::flush(&terminal, &rt)?;
    println!(
        "enrolment mail sent; waiting for the presence server (up to {} s)",
        args.wait
    );
    let answer = rt
        .block_on(terminal.await_enrolled(std::time::Duration::from_secs(args.wait)))
        .map_err(|e| CliError::Input(e.to_string()))?;
    match answer {
        Some(done) => {
            println!("enrolled: device {} (key {})", done.device, done.key);
            Ok(ExitCode::SUCCESS)
        }
        None => Err(CliError::Input(format!(
            "no signed answer from the presence server within {} s; \
             wait and run: mailpresence enroll CODE --config {}",
            args.wait,
            file.display()
        ))),
    }
}

/// What the code asks the phone to trust, for a person to read first.
fn trusted(code: &Enrolment) -> String {
    let service = |s: &ServiceSettings| format!("{}:{} ({:?})", s.host, s.port, s.tls);
    let expires = chrono::DateTime::from_timestamp(code.expires, 0)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    format!(
        "account:          {} <{}>\npresence server:  {}\nIMAP:             {}\nSMTP:             {}\nsign-in:          {}\nmail system:      {}\nserver key:       {}\ncompany CA:       {}\ncode valid until: {expires}\n",
        code.account,
        code.mail,
        code.presence,
        service(&code.imap),
        service(&code.smtp),
        code.oauth
            .as_ref()
            .map_or("(a mail password)".to_owned(), |p| format!(
                "{:?}{}, app {}",
                p.provider,
                p.tenant
                    .as_ref()
                    .map(|t| format!(" ({t})"))
                    .unwrap_or_default(),
                p.client_id
            )),
        code.authserv_id
            .as_deref()
            .unwrap_or("(none: Notify mails cannot be proven)"),
        code.key_fingerprint(),
        code.ca_sha256.as_deref().unwrap_or("(public certificates)"),
    )
}

/// The CA file's first certificate must be the one the code pins.
fn check_pin(ca: &Path, pin: &str) -> Result<(), CliError> {
    let certs = mailpresence_protocol::transport::tls::read_ca_file(ca)
        .map_err(|e| CliError::Input(e.to_string()))?;
    let found: String = certs
        .first()
        .map(|c| {
            Sha256::digest(c.as_ref())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        })
        .unwrap_or_default();
    if found.eq_ignore_ascii_case(pin) {
        Ok(())
    } else {
        Err(CliError::Input(format!(
            "{} is not the company CA the code names (SHA-256 {found}, the code says {pin}): nothing was written",
            ca.display()
        )))
    }
}

/// The account file holds the mail password: readable by its owner only.
fn write_owner_only(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    file.write_all(text.as_bytes())
}

fn read_password(file: &Path) -> Result<String, CliError> {
    let text = std::fs::read_to_string(file).map_err(|source| CliError::Read {
        path: file.display().to_string(),
        source,
    })?;
    Ok(text.trim_end_matches(['\r', '\n']).to_owned())
}

/// The phone's account file (TOML) for this code.
fn account_file(
    code: &Enrolment,
    password: Option<&str>,
    ca_file: Option<&Path>,
    device_key_file: Option<&Path>,
) -> Result<String, CliError> {
    let quote = |s: &str| toml::Value::String(s.to_owned()).to_string();
    let server = |name: &str, s: &ServiceSettings| {
        let mut t = format!(
            "[{name}]\nhost = {}\nport = {}\ntls = {}\nuser = {}\n",
            quote(&s.host),
            s.port,
            quote(&format!("{:?}", s.tls).to_lowercase()),
            quote(&code.mail)
        );
        if let Some(p) = password {
            t.push_str(&format!("password = {}\n", quote(p)));
        }
        if let Some(ca) = ca_file {
            t.push_str(&format!("ca_file = {}\n", quote(&ca.display().to_string())));
        }
        t
    };
    let mut t = format!(
        "# Written by `mailpresence enroll` from the code of {}.\naccount = {}\nmail = {}\npresence_server = {}\n",
        code.presence,
        quote(&code.account),
        quote(&code.mail),
        quote(&code.presence)
    );
    if let Some(id) = &code.authserv_id {
        t.push_str(&format!("authserv_id = {}\n", quote(id)));
    }
    // This phone's signing key, and the presence server's, pinned from the code.
    if let Some(file) = device_key_file {
        t.push_str(&format!(
            "device_key_file = {}\n",
            quote(&file.display().to_string())
        ));
    }
    t.push_str(&format!("server_key = {}\n", quote(&code.server_key)));
    t.push('\n');
    t.push_str(&server("imap", &code.imap));
    t.push('\n');
    t.push_str(&server("smtp", &code.smtp));
    if let Some(provider) = &code.oauth {
        let section = toml::to_string(provider)
            .map_err(|e| CliError::Input(format!("the code's sign-in: {e}")))?;
        t.push_str(&format!("\n[oauth]\n{section}"));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test may stop at the first surprise

    use ed25519_dalek::SigningKey;
    use mailpresence_protocol::enrolment::public_key_text;
    use mailpresence_protocol::transport::TlsMode;
    use mailpresence_protocol::transport::oauth::ProviderConfig;

    use super::*;

    #[test]
    fn the_account_file_reads_back_as_the_phone_s_configuration() {
        let key = SigningKey::from_bytes(&[3u8; 32]);
        let service = |port| ServiceSettings {
            host: "mail.example.co.jp".into(),
            port,
            tls: TlsMode::Starttls,
        };
        let code = Enrolment {
            account: "tanaka".into(),
            mail: "tanaka@example.co.jp".into(),
            presence: "presence@example.co.jp".into(),
            imap: service(143),
            smtp: service(587),
            authserv_id: Some("mx.example.co.jp".into()),
            ca_sha256: None,
            server_key: public_key_text(&key.verifying_key()),
            token: "t".into(),
            expires: 0,
            oauth: None,
        };
        let text = account_file(&code, Some("pa\"ss"), None, None).unwrap();
        let config: mailpresence_core::terminal::config::TerminalConfig =
            toml::from_str(&text).unwrap();
        assert_eq!(config.account, "tanaka");
        assert_eq!(config.smtp.port, 587);
        assert_eq!(config.imap.password.as_deref(), Some("pa\"ss"));
        assert_eq!(config.authserv_id.as_deref(), Some("mx.example.co.jp"));
        assert!(config.oauth.is_none());

        // A Microsoft 365 company: no password, the sign-in's provider instead.
        let microsoft = ProviderConfig {
            tenant: Some("example.co.jp".into()),
            ..ProviderConfig::custom("9b1c", "https://login.example.test")
        };
        let signed = Enrolment {
            oauth: Some(microsoft.clone()),
            ..code
        };
        let text = account_file(
            &signed,
            None,
            None,
            Some(Path::new("/home/t/phone.device-key")),
        )
        .unwrap();
        let config: mailpresence_core::terminal::config::TerminalConfig =
            toml::from_str(&text).unwrap();
        assert_eq!(config.oauth, Some(microsoft));
        assert_eq!(
            config.device_key_file.as_deref(),
            Some("/home/t/phone.device-key")
        );
        assert_eq!(config.server_key, Some(signed.server_key.clone()));
        assert!(config.imap.password.is_none() && config.smtp.password.is_none());
    }
}
