//! The two providers most companies' mail is on, known without asking
//! anyone: Microsoft 365 and Gmail / Google Workspace — by the address's own
//! domain (outlook.com, gmail.com, …) or by where the domain's mail goes
//! (its MX). Pure: the MX records come in, settings go out.

use mailpresence_protocol::enrolment::ServiceSettings;
use mailpresence_protocol::transport::TlsMode;
use mailpresence_protocol::transport::oauth::ProviderKind;

use super::{Address, FoundBy, MailSettings, SignInHint};

/// One MX record: lower `preference` is tried first (RFC 5321 §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxRecord {
    pub preference: u16,
    /// Lower case, without the root's trailing dot.
    pub exchange: String,
}

/// Microsoft's consumer domains (Outlook.com accounts). Their sign-in is the
/// `consumers` tenant: `organizations`, the default, refuses them.
const MICROSOFT_CONSUMER: [&str; 8] = [
    "outlook.com",
    "hotmail.com",
    "live.com",
    "msn.com",
    "outlook.jp",
    "hotmail.co.jp",
    "live.jp",
    "passport.com",
];
const GOOGLE_CONSUMER: [&str; 2] = ["gmail.com", "googlemail.com"];

/// Settings for an address on a domain a provider owns (or a tenant's
/// `*.onmicrosoft.com`), without any lookup.
pub fn by_domain(address: &Address) -> Option<MailSettings> {
    let domain = address.domain.as_str();
    if MICROSOFT_CONSUMER.contains(&domain) {
        return Some(microsoft(
            address,
            Some("consumers".into()),
            FoundBy::KnownProvider,
        ));
    }
    if is_under(domain, "onmicrosoft.com") {
        return Some(microsoft(
            address,
            Some(domain.into()),
            FoundBy::KnownProvider,
        ));
    }
    if GOOGLE_CONSUMER.contains(&domain) {
        return Some(google(address, FoundBy::KnownProvider));
    }
    None
}

/// Settings for a company domain whose mail Microsoft 365 or Google
/// Workspace receives, by its most preferred MX. This is how most Japanese
/// companies' domains are found: they publish no SRV records and no
/// autoconfig, but their MX names the provider (Thunderbird does the same,
/// looking the MX's domain up in its ISPDB).
pub fn by_mx(address: &Address, records: &[MxRecord]) -> Option<MailSettings> {
    let first = records.iter().min_by_key(|r| r.preference)?;
    let found_by = FoundBy::Mx {
        exchange: first.exchange.clone(),
    };
    match provider_of_mx(&first.exchange)? {
        // A verified domain names its Entra ID tenant as well as its id does.
        ProviderKind::Microsoft => Some(microsoft(address, Some(address.domain.clone()), found_by)),
        ProviderKind::Google => Some(google(address, found_by)),
        ProviderKind::Custom => None,
    }
}

/// Whose mail exchanger `exchange` is.
fn provider_of_mx(exchange: &str) -> Option<ProviderKind> {
    // Exchange Online: `contoso-com.mail.protection.outlook.com`, and since
    // 2024 `contoso-com.<xx>-v1.mx.microsoft` for domains with DNSSEC/DANE.
    if is_under(exchange, "mail.protection.outlook.com") || is_under(exchange, "mx.microsoft") {
        return Some(ProviderKind::Microsoft);
    }
    // Google: `smtp.google.com` (one MX, since 2023), `aspmx.l.google.com`
    // and its `alt*` spares, `aspmx2.googlemail.com`.
    if is_under(exchange, "google.com") || is_under(exchange, "googlemail.com") {
        return Some(ProviderKind::Google);
    }
    None
}

/// The provider whose sign-in a mail host needs, for settings found in SRV
/// records or autoconfig that point at Microsoft's or Google's servers.
pub fn provider_of_host(host: &str) -> Option<ProviderKind> {
    match host {
        "outlook.office365.com" | "smtp.office365.com" | "smtp-mail.outlook.com" => {
            Some(ProviderKind::Microsoft)
        }
        "imap.gmail.com" | "smtp.gmail.com" => Some(ProviderKind::Google),
        _ => None,
    }
}

/// `name` is `parent` or one of its subdomains (labels, not text: the
/// `evilgoogle.com` of an attacker is not `google.com`).
fn is_under(name: &str, parent: &str) -> bool {
    name == parent
        || name
            .strip_suffix(parent)
            .is_some_and(|head| head.ends_with('.'))
}

fn microsoft(address: &Address, tenant: Option<String>, found_by: FoundBy) -> MailSettings {
    MailSettings::for_address(
        address,
        service("outlook.office365.com", 993, TlsMode::Implicit),
        service("smtp.office365.com", 587, TlsMode::Starttls),
        Some(SignInHint {
            provider: ProviderKind::Microsoft,
            tenant,
        }),
        found_by,
    )
}

fn google(address: &Address, found_by: FoundBy) -> MailSettings {
    MailSettings::for_address(
        address,
        service("imap.gmail.com", 993, TlsMode::Implicit),
        service("smtp.gmail.com", 465, TlsMode::Implicit),
        Some(SignInHint {
            provider: ProviderKind::Google,
            tenant: None,
        }),
        found_by,
    )
}

fn service(host: &str, port: u16, tls: TlsMode) -> ServiceSettings {
    ServiceSettings {
        host: host.into(),
        port,
        tls,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test may stop at the first surprise

    use super::*;

    fn address(text: &str) -> Address {
        Address::parse(text).unwrap()
    }

    fn mx(preference: u16, exchange: &str) -> MxRecord {
        MxRecord {
            preference,
            exchange: exchange.into(),
        }
    }

    #[test]
    fn outlook_and_gmail_addresses_need_no_lookup() {
        let ms = by_domain(&address("Taro@Hotmail.co.jp")).unwrap();
        assert_eq!(ms.imap.host, "outlook.office365.com");
        assert_eq!((ms.imap.port, ms.imap.tls), (993, TlsMode::Implicit));
        assert_eq!(ms.smtp.host, "smtp.office365.com");
        assert_eq!((ms.smtp.port, ms.smtp.tls), (587, TlsMode::Starttls));
        assert_eq!(ms.imap.user.as_deref(), Some("Taro@hotmail.co.jp"));
        let hint = ms.sign_in.unwrap();
        assert_eq!(hint.provider, ProviderKind::Microsoft);
        assert_eq!(hint.tenant.as_deref(), Some("consumers"));
        assert_eq!(ms.found_by, FoundBy::KnownProvider);

        let g = by_domain(&address("hanako@gmail.com")).unwrap();
        assert_eq!((g.imap.host.as_str(), g.imap.port), ("imap.gmail.com", 993));
        assert_eq!(
            (g.smtp.host.as_str(), g.smtp.port, g.smtp.tls),
            ("smtp.gmail.com", 465, TlsMode::Implicit)
        );
        assert_eq!(g.sign_in.unwrap().provider, ProviderKind::Google);

        let tenant = by_domain(&address("it@contoso.onmicrosoft.com")).unwrap();
        assert_eq!(
            tenant.sign_in.unwrap().tenant.as_deref(),
            Some("contoso.onmicrosoft.com")
        );
        assert_eq!(by_domain(&address("tanaka@example.co.jp")), None);
    }

    #[test]
    fn a_company_domain_is_known_by_its_most_preferred_mx() {
        let company = address("tanaka@contoso.co.jp");
        let found = by_mx(
            &company,
            &[
                mx(20, "backup.example.net"),
                mx(0, "contoso-co-jp.mail.protection.outlook.com"),
            ],
        )
        .unwrap();
        assert_eq!(found.imap.host, "outlook.office365.com");
        let hint = found.sign_in.unwrap();
        assert_eq!(hint.provider, ProviderKind::Microsoft);
        assert_eq!(hint.tenant.as_deref(), Some("contoso.co.jp"));
        assert_eq!(
            found.found_by,
            FoundBy::Mx {
                exchange: "contoso-co-jp.mail.protection.outlook.com".into()
            }
        );

        let dane = by_mx(&company, &[mx(0, "contoso-co-jp.j-v1.mx.microsoft")]).unwrap();
        assert_eq!(dane.sign_in.unwrap().provider, ProviderKind::Microsoft);

        for exchange in [
            "aspmx.l.google.com",
            "alt1.aspmx.l.google.com",
            "smtp.google.com",
            "aspmx2.googlemail.com",
        ] {
            let g = by_mx(&company, &[mx(1, exchange)]).unwrap();
            assert_eq!(g.imap.host, "imap.gmail.com", "{exchange}");
            assert_eq!(g.sign_in.unwrap().provider, ProviderKind::Google);
        }
    }

    #[test]
    fn an_mx_only_resembling_a_provider_s_is_not_the_provider() {
        let company = address("tanaka@example.co.jp");
        for exchange in [
            "mail.example.co.jp",
            "evilgoogle.com",
            "google.com.attacker.example",
            "mail.protection.outlook.com.example",
            "xmail.protection.outlook.com",
        ] {
            assert_eq!(by_mx(&company, &[mx(0, exchange)]), None, "{exchange}");
        }
        assert_eq!(by_mx(&company, &[]), None);
        // Only the first choice counts: a backup on Google is not Workspace.
        assert_eq!(
            by_mx(
                &company,
                &[mx(10, "mx.example.co.jp"), mx(20, "aspmx.l.google.com")]
            ),
            None
        );
    }
}
