//! `mailpresence settings ADDRESS`: the mail settings the phone would find
//! from the address alone (the core's `settings`, as the apps use it) — the
//! IMAP and SMTP hosts, ports and TLS, the sign-in the mailbox needs, and
//! where they came from — as text for a person, JSON for scripts, or the
//! account file's sections to paste.

use std::process::ExitCode;

use mailpresence_core::settings::{self, DiscoveryError, FoundBy, Lookups, MailSettings};
use mailpresence_core::terminal::MailServer;
use mailpresence_protocol::transport::TlsMode;
use mailpresence_protocol::transport::oauth::ProviderKind;

use crate::CliError;
use crate::terminal::runtime;

/// Exit status when nothing is published for the domain (the form, then).
pub const EXIT_NOT_FOUND: u8 = 1;
/// Exit status when DNS did not answer (nothing could be decided).
pub const EXIT_UNREACHABLE: u8 = 2;

/// Find the mail settings for an address: a provider's own domain, the
/// domain's MX (Microsoft 365, Google Workspace), its SRV records (RFC
/// 6186), its autoconfig document — in that order. Exit status 1: nothing
/// published (type the settings in); 2: DNS did not answer.
#[derive(Debug, clap::Args)]
pub struct SettingsArgs {
    /// The worker's mail address.
    pub address: String,
    /// DNS servers to ask instead of the system's (IP or IP:PORT; repeat or
    /// separate with commas).
    #[arg(
        long = "dns",
        value_name = "IP[:PORT]",
        env = "MAILPRESENCE_DNS",
        value_delimiter = ','
    )]
    pub dns: Vec<String>,
    /// Print JSON (one object) instead of text.
    #[arg(long, conflicts_with = "toml")]
    pub json: bool,
    /// Print the account file's [imap] and [smtp] sections (and [oauth]'s
    /// provider and tenant) to paste into it.
    #[arg(long)]
    pub toml: bool,
}

pub fn run(args: SettingsArgs) -> Result<ExitCode, CliError> {
    let lookups = Lookups {
        dns: settings::parse_dns_servers(&args.dns).map_err(|e| CliError::Input(e.to_string()))?,
        autoconfig_base: None,
    };
    let found = runtime()?.block_on(settings::find(&args.address, &lookups));
    let settings = match found {
        Ok(settings) => settings,
        Err(e @ DiscoveryError::NotFound { .. }) => {
            eprintln!("mailpresence: {e}");
            return Ok(ExitCode::from(EXIT_NOT_FOUND));
        }
        Err(e @ DiscoveryError::Unreachable { .. }) => {
            eprintln!("mailpresence: {e}");
            return Ok(ExitCode::from(EXIT_UNREACHABLE));
        }
        Err(e) => return Err(CliError::Input(e.to_string())),
    };
    if args.json {
        println!("{}", json(&settings));
    } else if args.toml {
        print!("{}", toml_sections(&settings));
    } else {
        print!("{}", text(&settings));
    }
    Ok(ExitCode::SUCCESS)
}

/// For a person: one line per fact.
fn text(s: &MailSettings) -> String {
    let service = |m: &MailServer| {
        format!(
            "{}:{} ({}), user {}",
            m.host,
            m.port,
            tls_text(m.tls),
            m.user.as_deref().unwrap_or("-")
        )
    };
    let sign_in = match &s.sign_in {
        Some(hint) => format!(
            "{}{}",
            provider_name(hint.provider),
            hint.tenant
                .as_deref()
                .map(|t| format!(" (tenant {t})"))
                .unwrap_or_default()
        ),
        None => "password".into(),
    };
    format!(
        "found by: {}\nIMAP:     {}\nSMTP:     {}\nsign-in:  {sign_in}\n",
        found_by_text(&s.found_by),
        service(&s.imap),
        service(&s.smtp)
    )
}

fn found_by_text(found_by: &FoundBy) -> String {
    match found_by {
        FoundBy::KnownProvider => "the provider's own domain".into(),
        FoundBy::Mx { exchange } => format!("MX {exchange}"),
        FoundBy::Srv => "SRV records (RFC 6186)".into(),
        FoundBy::Autoconfig { url } => format!("autoconfig {url}"),
    }
}

fn tls_text(tls: TlsMode) -> &'static str {
    match tls {
        TlsMode::Implicit => "implicit TLS",
        TlsMode::Starttls => "STARTTLS",
        TlsMode::None => "plain text",
    }
}

fn provider_name(provider: ProviderKind) -> &'static str {
    match provider {
        ProviderKind::Microsoft => "Microsoft 365",
        ProviderKind::Google => "Google",
        ProviderKind::Custom => "custom",
    }
}

/// For scripts and tests: one JSON object.
fn json(s: &MailSettings) -> serde_json::Value {
    let service = |m: &MailServer| serde_json::json!({ "host": m.host, "port": m.port, "tls": m.tls, "user": m.user });
    let (found_by, from) = match &s.found_by {
        FoundBy::KnownProvider => ("known", None),
        FoundBy::Mx { exchange } => ("mx", Some(exchange.as_str())),
        FoundBy::Srv => ("srv", None),
        FoundBy::Autoconfig { url } => ("autoconfig", Some(url.as_str())),
    };
    serde_json::json!({
        "found_by": found_by,
        "from": from,
        "imap": service(&s.imap),
        "smtp": service(&s.smtp),
        "sign_in": s.sign_in.as_ref().map(|h| serde_json::json!({
            "provider": h.provider,
            "tenant": h.tenant,
        })),
    })
}

/// The account file's sections (the phone commands' `--config`), without a
/// password; with a sign-in, `[oauth]` still needs the app's client id.
fn toml_sections(s: &MailSettings) -> String {
    let quote = |v: &str| toml::Value::String(v.to_owned()).to_string();
    let section = |name: &str, m: &MailServer| {
        format!(
            "[{name}]\nhost = {}\nport = {}\ntls = {}\nuser = {}\n",
            quote(&m.host),
            m.port,
            quote(&format!("{:?}", m.tls).to_lowercase()),
            quote(m.user.as_deref().unwrap_or_default())
        )
    };
    let mut t = format!(
        "# Found by {}.\n{}\n{}",
        found_by_text(&s.found_by),
        section("imap", &s.imap),
        section("smtp", &s.smtp)
    );
    if let Some(hint) = &s.sign_in {
        t.push_str(&format!(
            "\n[oauth]\nprovider = {}\nclient_id = \"\" # the application the administrator registered\n",
            quote(&format!("{:?}", hint.provider).to_lowercase())
        ));
        if let Some(tenant) = &hint.tenant {
            t.push_str(&format!("tenant = {}\n", quote(tenant)));
        }
    }
    t
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test may stop at the first surprise

    use mailpresence_core::settings::SignInHint;

    use super::*;

    fn server(host: &str, port: u16, tls: TlsMode) -> MailServer {
        MailServer {
            host: host.into(),
            port,
            tls,
            user: Some("tanaka@contoso.co.jp".into()),
            password: None,
            oauth_token_file: None,
            oauth_mechanism: None,
            ca_file: None,
        }
    }

    fn microsoft() -> MailSettings {
        MailSettings {
            imap: server("outlook.office365.com", 993, TlsMode::Implicit),
            smtp: server("smtp.office365.com", 587, TlsMode::Starttls),
            sign_in: Some(SignInHint {
                provider: ProviderKind::Microsoft,
                tenant: Some("contoso.co.jp".into()),
            }),
            found_by: FoundBy::Mx {
                exchange: "contoso-co-jp.mail.protection.outlook.com".into(),
            },
        }
    }

    #[test]
    fn the_account_file_sections_read_back_as_the_phone_s_settings() {
        let text = toml_sections(&microsoft()).replace("client_id = \"\"", "client_id = \"app\"");
        let file = format!(
            "account = \"tanaka\"\nmail = \"tanaka@contoso.co.jp\"\npresence_server = \"presence@contoso.co.jp\"\n{text}"
        );
        let config: mailpresence_core::terminal::config::TerminalConfig =
            toml::from_str(&file).unwrap();
        assert_eq!(config.imap.host, "outlook.office365.com");
        assert_eq!(config.imap.tls, TlsMode::Implicit);
        assert_eq!(config.smtp.tls, TlsMode::Starttls);
        assert_eq!(config.smtp.user.as_deref(), Some("tanaka@contoso.co.jp"));
        let oauth = config.oauth.unwrap();
        assert_eq!(oauth.provider, ProviderKind::Microsoft);
        assert_eq!(oauth.tenant.as_deref(), Some("contoso.co.jp"));
    }

    #[test]
    fn text_and_json_say_where_the_settings_came_from() {
        let s = microsoft();
        let t = text(&s);
        assert!(
            t.contains("MX contoso-co-jp.mail.protection.outlook.com"),
            "{t}"
        );
        assert!(
            t.contains("outlook.office365.com:993 (implicit TLS)"),
            "{t}"
        );
        assert!(t.contains("Microsoft 365 (tenant contoso.co.jp)"), "{t}");
        let j = json(&s);
        assert_eq!(j["found_by"], "mx");
        assert_eq!(j["imap"]["tls"], "implicit");
        assert_eq!(j["smtp"]["port"], 587);
        assert_eq!(j["sign_in"]["provider"], "microsoft");
    }
}
