//! `[phones]`: how the field phones reach the company's mail, when it is
//! not the way the server does (the server may read its mailbox on the
//! internal port while phones on the road use submission with STARTTLS).
//! What the enrolment codes carry; absent, the server's own `[imap]` and
//! `[smtp]` host, port and TLS. `sign_in`: the phones' app registration
//! when the company's mail is Microsoft 365 or Google Workspace (phones
//! then sign in instead of typing a password).

use mailpresence_protocol::enrolment::ServiceSettings;
use mailpresence_protocol::transport::oauth::ProviderConfig;
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhonesConfig {
    /// e.g. `{ host = "mail.example.co.jp", port = 993, tls = "implicit" }`
    pub imap: Option<ServiceSettings>,
    pub smtp: Option<ServiceSettings>,
    /// e.g. `{ provider = "microsoft", tenant = "example.co.jp", client_id = "…" }`:
    /// the public app registration the phones sign in with (not the
    /// server's own `[oauth]` application, whose secret stays here).
    pub sign_in: Option<ProviderConfig>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailpresence_protocol::transport::TlsMode;

    #[test]
    fn a_phone_service_is_host_port_and_tls() {
        let phones: PhonesConfig = toml::from_str(
            "smtp = { host = \"mail.example.co.jp\", port = 587, tls = \"starttls\" }",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let smtp = phones.smtp.unwrap_or_else(|| panic!("smtp"));
        assert_eq!((smtp.port, smtp.tls), (587, TlsMode::Starttls));
        assert!(phones.imap.is_none());
        assert!(phones.sign_in.is_none());
    }

    #[test]
    fn the_phones_sign_in_is_a_provider_without_secret() {
        let phones: PhonesConfig = toml::from_str(
            "sign_in = { provider = \"microsoft\", tenant = \"example.co.jp\", client_id = \"9b1c\" }",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let sign_in = phones.sign_in.unwrap_or_else(|| panic!("sign_in"));
        assert_eq!(sign_in.tenant.as_deref(), Some("example.co.jp"));
        // A secret has no place in it: the section refuses unknown keys.
        assert!(
            toml::from_str::<PhonesConfig>(
                "sign_in = { provider = \"microsoft\", client_id = \"9b1c\", client_secret = \"x\" }"
            )
            .is_err()
        );
    }
}
