//! `[directory]`: people and groups from the company's LDAP directory
//! (Active Directory or OpenLDAP) instead of — or besides — `[[person]]`:
//! where it is, how the server binds (the password from a file, never in
//! the TOML), where people are and which attribute holds what, with AD's and
//! OpenLDAP's usual names as defaults, and how often it is read again.

use std::path::PathBuf;

use serde::Deserialize;

/// The two directory shapes whose attribute names are the defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DirectoryKind {
    /// Microsoft Active Directory (and Samba AD).
    #[default]
    ActiveDirectory,
    /// OpenLDAP with inetOrgPerson and the memberof overlay.
    Openldap,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryConfig {
    /// `ldaps://dc1.example.co.jp` (TLS from the first byte) or
    /// `ldap://…:389` (with `starttls = true` on anything but loopback).
    pub url: String,
    #[serde(default)]
    pub starttls: bool,
    /// The company CA (PEM) that signed the directory's certificate.
    pub ca_file: Option<PathBuf>,
    /// The read-only account the server binds as.
    pub bind_dn: String,
    /// A file holding its password (one line; kept root:mailpresence 0640).
    pub bind_password_file: PathBuf,
    /// Where people and groups are searched (subtree).
    pub base_dn: String,
    #[serde(default)]
    pub kind: DirectoryKind,
    /// Which entries are people; default by `kind`.
    pub people_filter: Option<String>,
    /// Which entries are groups; default by `kind`.
    pub groups_filter: Option<String>,
    /// Attribute names, each defaulting by `kind`.
    #[serde(default)]
    pub attributes: Attributes,
    /// How often the directory is read again (default 15 minutes).
    #[serde(default = "default_refresh")]
    pub refresh_secs: u64,
    /// A connect, bind or search that takes longer fails (default 30 s).
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_refresh() -> u64 {
    900
}

fn default_timeout() -> u64 {
    30
}

/// Which attribute holds what; `None`: the kind's default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attributes {
    pub account: Option<String>,
    pub name: Option<String>,
    /// The reading (kana) of the name, where the directory has one.
    pub reading: Option<String>,
    pub mail: Option<String>,
    /// A SIP URI (AD: Skype for Business / Teams' `msRTCSIP-PrimaryUserAddress`).
    pub sip: Option<String>,
    /// A desk phone extension.
    pub extension: Option<String>,
    /// A mobile phone number (LDAP's `mobile`, in both kinds).
    pub mobile: Option<String>,
    pub department: Option<String>,
}

/// The attribute names in force, defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeNames {
    pub account: String,
    pub name: String,
    pub reading: String,
    pub mail: String,
    pub sip: String,
    pub extension: String,
    pub mobile: String,
    pub department: String,
}

impl DirectoryConfig {
    pub fn attribute_names(&self) -> AttributeNames {
        let (account, name, reading, sip, extension) = match self.kind {
            DirectoryKind::ActiveDirectory => (
                "sAMAccountName",
                "displayName",
                "msDS-PhoneticDisplayName",
                "msRTCSIP-PrimaryUserAddress",
                "ipPhone",
            ),
            DirectoryKind::Openldap => {
                ("uid", "cn", "displayName", "labeledURI", "telephoneNumber")
            }
        };
        let a = &self.attributes;
        let pick = |given: &Option<String>, default: &str| given.clone().unwrap_or(default.into());
        AttributeNames {
            account: pick(&a.account, account),
            name: pick(&a.name, name),
            reading: pick(&a.reading, reading),
            mail: pick(&a.mail, "mail"),
            sip: pick(&a.sip, sip),
            extension: pick(&a.extension, extension),
            mobile: pick(&a.mobile, "mobile"),
            department: pick(&a.department, "department"),
        }
    }

    /// People: AD's enabled user accounts with a mail address; OpenLDAP's
    /// inetOrgPerson entries.
    pub fn people_filter(&self) -> String {
        self.people_filter.clone().unwrap_or_else(|| {
            match self.kind {
                // The bit 2 of userAccountControl is "disabled".
                DirectoryKind::ActiveDirectory => "(&(objectCategory=person)(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))",
                DirectoryKind::Openldap => "(objectClass=inetOrgPerson)",
            }
            .into()
        })
    }

    pub fn groups_filter(&self) -> String {
        self.groups_filter.clone().unwrap_or_else(|| {
            match self.kind {
                DirectoryKind::ActiveDirectory => "(objectClass=group)",
                DirectoryKind::Openldap => "(objectClass=groupOfNames)",
            }
            .into()
        })
    }

    /// What is wrong with `[directory]`.
    pub(super) fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let plain = self.url.starts_with("ldap://");
        if !plain && !self.url.starts_with("ldaps://") {
            p.push(format!(
                "[directory] url {:?} must start with ldap:// or ldaps://",
                self.url
            ));
        }
        if plain && !self.starttls && !is_loopback_url(&self.url) {
            p.push(format!(
                "[directory] url {} is plain LDAP: the bind password would cross the network in clear; use ldaps:// or starttls = true",
                self.url
            ));
        }
        if !self.bind_password_file.exists() {
            p.push(format!(
                "[directory] bind_password_file {} does not exist",
                self.bind_password_file.display()
            ));
        }
        if let Some(ca) = &self.ca_file
            && !ca.exists()
        {
            p.push(format!(
                "[directory] ca_file {} does not exist",
                ca.display()
            ));
        }
        if self.refresh_secs < 10 {
            p.push("[directory] refresh_secs must be at least 10".into());
        }
        if self.timeout_secs == 0 {
            p.push("[directory] timeout_secs must be above 0".into());
        }
        p
    }
}

fn is_loopback_url(url: &str) -> bool {
    let host = url
        .trim_start_matches("ldap://")
        .split(['/', ':'])
        .next()
        .unwrap_or_default();
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(extra: &str) -> DirectoryConfig {
        toml::from_str(&format!(
            "url = \"ldaps://dc1.example.co.jp\"\nbind_dn = \"CN=presence,DC=example\"\nbind_password_file = \"/etc/hostname\"\nbase_dn = \"DC=example\"\n{extra}"
        ))
        .unwrap()
    }

    #[test]
    fn active_directory_names_are_the_default_and_each_can_be_changed() {
        let ad = section("");
        let names = ad.attribute_names();
        assert_eq!(names.account, "sAMAccountName");
        assert_eq!(names.reading, "msDS-PhoneticDisplayName");
        assert!(ad.people_filter().contains("userAccountControl"));
        let custom = section("kind = \"openldap\"\n[attributes]\nreading = \"description\"");
        let names = custom.attribute_names();
        assert_eq!(
            (names.account.as_str(), names.reading.as_str()),
            ("uid", "description")
        );
        assert_eq!(custom.groups_filter(), "(objectClass=groupOfNames)");
    }

    #[test]
    fn a_clear_text_bind_across_the_network_is_refused() {
        let mut plain = section("");
        plain.url = "ldap://dc1.example.co.jp".into();
        assert!(
            plain.problems()[0].contains("in clear"),
            "{:?}",
            plain.problems()
        );
        plain.starttls = true;
        assert!(plain.problems().is_empty(), "{:?}", plain.problems());
        plain.url = "ldap://127.0.0.1:3890".into();
        plain.starttls = false;
        assert!(plain.problems().is_empty(), "loopback is fine");
        plain.url = "http://x".into();
        plain.bind_password_file = "/nonexistent".into();
        assert_eq!(plain.problems().len(), 2);
    }
}
