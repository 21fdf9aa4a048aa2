//! `[metrics]`: where `/metrics` is served for IT's monitoring (Prometheus
//! text), apart from the board. Off when the section is absent.

use std::net::SocketAddr;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// The address to listen on, e.g. `127.0.0.1:9464` (Prometheus' usual
    /// port range); plain HTTP, so keep it on a monitoring network.
    pub listen: SocketAddr,
}

impl MetricsConfig {
    /// Allowed but probably not meant.
    pub(super) fn warnings(&self) -> Vec<String> {
        if self.listen.ip().is_unspecified() {
            vec![format!(
                "[metrics] listen {} answers every network: the counts show how busy the company is; prefer the monitoring network's address",
                self.listen
            )]
        } else {
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(text: &str) -> Result<MetricsConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn an_open_address_is_a_warning_and_a_wrong_one_an_error() {
        let local = section("listen = \"127.0.0.1:9464\"").unwrap();
        assert!(local.warnings().is_empty());
        let everyone = section("listen = \"0.0.0.0:9464\"").unwrap();
        assert_eq!(everyone.warnings().len(), 1);
        let wrong = section("listen = \"localhost\"").unwrap_err();
        assert!(
            wrong.to_string().contains("invalid socket address"),
            "{wrong}"
        );
    }
}
