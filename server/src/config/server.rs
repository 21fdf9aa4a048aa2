//! `[server]`: the presence server's own mail address, its database file,
//! the language of its summaries and the format of its logs, and the check of
//! the address.

use std::path::PathBuf;

use mailpresence_protocol::summary::Lang;
use serde::Deserialize;

use super::looks_like_address;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// The presence server's own mail address (terminals write to it).
    pub address: String,
    /// The SQLite database file; created with its folder when missing.
    pub storage: PathBuf,
    /// Language of the human summary in Notify and PIDF notes.
    #[serde(default)]
    pub language: Lang,
    /// How log lines are written to standard error (the journal under
    /// systemd): `text` for people, `json` (one object per line) for the
    /// company's log collector.
    #[serde(default)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl ServerSection {
    /// What is wrong with `[server]`.
    pub(super) fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if !looks_like_address(&self.address) {
            p.push(format!(
                "[server] address {:?} is not a mail address",
                self.address
            ));
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(address: &str) -> ServerSection {
        toml::from_str(&format!("address = {address:?}\nstorage = \"/tmp/p.db\"")).unwrap()
    }

    #[test]
    fn logs_are_text_unless_json_is_asked_for() {
        assert_eq!(
            section("presence@example.co.jp").log_format,
            LogFormat::Text
        );
        let json: ServerSection = toml::from_str(
            "address = \"p@example.co.jp\"\nstorage = \"/tmp/p.db\"\nlog_format = \"json\"",
        )
        .unwrap();
        assert_eq!(json.log_format, LogFormat::Json);
        let wrong = toml::from_str::<ServerSection>(
            "address = \"p@example.co.jp\"\nstorage = \"/tmp/p.db\"\nlog_format = \"xml\"",
        )
        .unwrap_err();
        assert!(wrong.to_string().contains("unknown variant"), "{wrong}");
    }

    #[test]
    fn an_address_without_a_domain_is_named() {
        assert_eq!(
            section("presence@example.co.jp").problems(),
            Vec::<String>::new()
        );
        assert_eq!(
            section("presence").problems(),
            ["[server] address \"presence\" is not a mail address"]
        );
    }
}
