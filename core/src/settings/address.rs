//! The mail address a discovery starts from, and the checks on the names
//! DNS and autoconfig hand back before anything connects to them.

use super::DiscoveryError;

/// A mail address split for looking up: the domain in lower case, the
/// local part as written (it may be the user name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub local: String,
    pub domain: String,
}

impl Address {
    pub fn parse(text: &str) -> Result<Self, DiscoveryError> {
        let bad = || DiscoveryError::NotAnAddress(text.to_owned());
        let (local, domain) = text.trim().rsplit_once('@').ok_or_else(bad)?;
        let domain = domain.trim_end_matches('.').to_lowercase();
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.chars().any(|c| c.is_whitespace() || c.is_control());
        if !local_ok || !valid_domain(&domain) {
            return Err(bad());
        }
        Ok(Self {
            local: local.to_owned(),
            domain,
        })
    }

    pub fn text(&self) -> String {
        format!("{}@{}", self.local, self.domain)
    }
}

/// A mail domain: at least two labels of letters (any script: IDN), digits
/// and hyphens.
fn valid_domain(domain: &str) -> bool {
    domain.len() <= 253
        && domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
}

/// A host name from DNS or XML that may be connected to: ASCII (IDN in its
/// `xn--` form), letters, digits, hyphens, underscores, at least one dot.
pub(super) fn valid_host(host: &str) -> bool {
    host.len() <= 253
        && host.contains('.')
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test may stop at the first surprise

    use super::*;

    #[test]
    fn addresses_are_split_at_the_last_at_and_the_domain_lowered() {
        let a = Address::parse(" \"a@b\"@Example.CO.JP. ").unwrap();
        assert_eq!(a.local, "\"a@b\"");
        assert_eq!(a.domain, "example.co.jp");
        assert_eq!(Address::parse("山田@例え.jp").unwrap().domain, "例え.jp");
        for bad in [
            "",
            "tanaka",
            "@example.jp",
            "tanaka@",
            "tanaka@localhost",
            "tanaka@exa mple.jp",
            "tanaka@example..jp",
            "tanaka@example.jp/x",
            "ta naka@example.jp",
        ] {
            assert!(
                matches!(Address::parse(bad), Err(DiscoveryError::NotAnAddress(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn only_plain_host_names_are_connected_to() {
        assert!(valid_host("imap.example.co.jp"));
        assert!(valid_host("xn--r8jz45g.jp"));
        for bad in [
            "",
            "localhost",
            "imap example.jp",
            "a..jp",
            "imap.例え.jp",
            "x.jp/y",
            "a".repeat(254).as_str(),
        ] {
            assert!(!valid_host(bad), "{bad:?}");
        }
    }
}
