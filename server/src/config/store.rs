//! `[store]`: where the server keeps its data. Absent, or without `url`, it
//! is the SQLite file `[server] storage` names (the embedded default, no
//! database server needed). With `url = "postgres://…"` it is a PostgreSQL
//! database, which two or more instances of the server share.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::store::{PostgresSettings, StorePlace};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `postgres://user[:password]@host[:port]/database[?sslmode=require]`.
    pub url: Option<String>,
    /// The company CA that signed the database server's certificate (TLS is
    /// used when the server offers it; `sslmode=require` insists on it).
    pub ca_file: Option<PathBuf>,
    /// The schema the tables live in (made when missing); `public` by default.
    pub schema: Option<String>,
    /// How long connecting may take, in seconds (default 5).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_seconds: u64,
    /// How long one statement may run, in seconds (default 10): PostgreSQL
    /// cancels it then, and the step is tried again like after a mail
    /// server's outage.
    #[serde(default = "default_statement_timeout")]
    pub statement_timeout_seconds: u64,
}

fn default_connect_timeout() -> u64 {
    5
}

fn default_statement_timeout() -> u64 {
    10
}

impl StoreConfig {
    /// What is wrong with `[store]`.
    pub(super) fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if let Some(url) = &self.url {
            let settings = self.postgres(url);
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                p.push(format!(
                    "[store] url must start with postgres:// (PostgreSQL), not {:?}",
                    url.split(':').next().unwrap_or("")
                ));
            } else if let Err(e) = settings.check() {
                p.push(format!("[store] {e}"));
            }
        } else if self.ca_file.is_some() || self.schema.is_some() {
            p.push("[store] ca_file and schema need a PostgreSQL url".into());
        }
        if let Some(ca) = &self.ca_file
            && let Err(e) = mailpresence_protocol::transport::tls::read_ca_file(ca)
        {
            p.push(format!("[store] {e}"));
        }
        if self.connect_timeout_seconds == 0 || self.statement_timeout_seconds == 0 {
            p.push("[store] timeouts must be at least 1 second".into());
        }
        p
    }

    fn postgres(&self, url: &str) -> PostgresSettings {
        let mut s = PostgresSettings::new(url);
        s.ca_file = self.ca_file.clone();
        s.schema = self.schema.clone();
        s.connect_timeout = Duration::from_secs(self.connect_timeout_seconds);
        s.statement_timeout = Duration::from_secs(self.statement_timeout_seconds);
        s
    }
}

/// Where the store of a configuration is.
pub(super) fn place(store: Option<&StoreConfig>, storage: &std::path::Path) -> StorePlace {
    match store.and_then(|s| s.url.as_deref().map(|url| s.postgres(url))) {
        Some(settings) => StorePlace::Postgres(settings),
        None => StorePlace::Sqlite(storage.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test may stop at the first surprise

    use super::*;

    fn section(text: &str) -> StoreConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn without_a_url_the_store_is_the_sqlite_file() {
        let place = place(Some(&section("")), std::path::Path::new("/var/lib/p.db"));
        assert!(
            matches!(place, StorePlace::Sqlite(p) if p == std::path::Path::new("/var/lib/p.db"))
        );
        assert!(section("").problems().is_empty());
    }

    #[test]
    fn a_postgres_url_with_its_waits_makes_the_store_shared() {
        let s = section(
            "url = \"postgres://presence:pw@db.example.test/presence\"\nstatement_timeout_seconds = 3",
        );
        assert!(s.problems().is_empty(), "{:?}", s.problems());
        let StorePlace::Postgres(settings) = place(Some(&s), std::path::Path::new("/x")) else {
            panic!("not PostgreSQL");
        };
        assert_eq!(settings.statement_timeout, Duration::from_secs(3));
        assert_eq!(settings.connect_timeout, Duration::from_secs(5));
        // Where it points is shown; the password never is.
        assert_eq!(settings.location(), "db.example.test:5432/presence");
        assert!(!format!("{settings:?}").contains("pw"));
    }

    #[test]
    fn mistakes_in_store_are_named() {
        let problems = section("url = \"mysql://db/presence\"").problems();
        assert!(problems[0].contains("postgres://"), "{problems:?}");
        let problems = section("url = \"postgres://db/p\"\nschema = \"Drop Table\"").problems();
        assert!(problems[0].contains("schema"), "{problems:?}");
        let problems =
            section("url = \"postgres://db/p\"\nca_file = \"/nonexistent/ca.pem\"").problems();
        assert!(problems[0].contains("/nonexistent/ca.pem"), "{problems:?}");
        let problems = section("schema = \"presence\"").problems();
        assert!(
            problems[0].contains("need a PostgreSQL url"),
            "{problems:?}"
        );
    }
}
