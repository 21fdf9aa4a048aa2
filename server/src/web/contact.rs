//! How to reach a colleague from their row: the desk phone's extension
//! (called as the company's `[web] extension_uri` says: `tel:{ext}` or
//! `sip:{ext}@pbx…`), the mobile number (`tel:`) and the mail address
//! (`mailto:`), from the company directory or the configuration.

use mailpresence_protocol::memo::tel_uri;
use serde::Serialize;

use crate::directory::Person;

/// A row's ways to call or write.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ContactView {
    /// 内線番号 as the directory writes it.
    pub extension: Option<String>,
    pub extension_uri: Option<String>,
    pub mobile: Option<String>,
    pub mobile_uri: Option<String>,
    pub mail: Option<String>,
    pub mail_uri: Option<String>,
}

/// `person`'s contact; `extension_uri` is the company's pattern with `{ext}`.
pub fn of(person: &Person, extension_uri: &str) -> ContactView {
    let extension = person
        .extension
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty());
    // Only what can stand in a URI unescaped: digits, and * # + for PBX codes.
    let dialable = |e: &&str| {
        e.chars()
            .all(|c| c.is_ascii_alphanumeric() || "*#+".contains(c))
    };
    let mobile = person
        .mobile
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty());
    let mail = person
        .mail
        .as_deref()
        .filter(|m| mailpresence_protocol::mail::is_plain_address(m));
    ContactView {
        extension: extension.map(str::to_owned),
        extension_uri: extension
            .filter(dialable)
            .filter(|_| extension_uri.contains("{ext}"))
            .map(|e| extension_uri.replace("{ext}", e)),
        mobile: mobile.map(str::to_owned),
        mobile_uri: mobile.and_then(tel_uri),
        mail: mail.map(str::to_owned),
        mail_uri: mail.map(|m| format!("mailto:{m}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(extension: Option<&str>, mobile: Option<&str>) -> Person {
        Person {
            account: "tanaka".parse().unwrap(),
            name: "田中 太郎".into(),
            reading: None,
            extension: extension.map(Into::into),
            mobile: mobile.map(Into::into),
            department: None,
            mail: Some("tanaka@example.co.jp".into()),
            sip: None,
            sip_password: None,
            groups: Vec::new(),
        }
    }

    #[test]
    fn extension_mobile_and_mail_become_links_as_the_company_calls() {
        let c = of(
            &person(Some("2301"), Some("090-1234-5678")),
            "sip:{ext}@pbx.example.co.jp",
        );
        assert_eq!(
            c.extension_uri.as_deref(),
            Some("sip:2301@pbx.example.co.jp")
        );
        assert_eq!(c.mobile_uri.as_deref(), Some("tel:09012345678"));
        assert_eq!(c.mail_uri.as_deref(), Some("mailto:tanaka@example.co.jp"));
        let tel = of(&person(Some("2301"), None), "tel:{ext}");
        assert_eq!(tel.extension_uri.as_deref(), Some("tel:2301"));
        assert_eq!(tel.mobile_uri, None);
    }

    #[test]
    fn what_cannot_stand_in_a_uri_is_shown_but_not_linked() {
        let c = of(&person(Some("23 01\"><x"), None), "tel:{ext}");
        assert_eq!(c.extension.as_deref(), Some("23 01\"><x"));
        assert_eq!(c.extension_uri, None);
    }
}
