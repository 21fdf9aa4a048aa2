//! `[phones]`: how the field phones reach the company's mail, when it is
//! not the way the server does (the server may read its mailbox on the
//! internal port while phones on the road use submission with STARTTLS).
//! What the enrolment codes carry; absent, the server's own `[imap]` and
//! `[smtp]` host, port and TLS.

use mailpresence_protocol::enrolment::ServiceSettings;
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhonesConfig {
    /// e.g. `{ host = "mail.example.co.jp", port = 993, tls = "implicit" }`
    pub imap: Option<ServiceSettings>,
    pub smtp: Option<ServiceSettings>,
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
    }
}
