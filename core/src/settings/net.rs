//! The network side of finding mail settings, kept thin: MX and SRV queries
//! (hickory, the system's resolver unless DNS servers are given) and the
//! autoconfig document over HTTPS (reqwest on rustls, as the sign-in uses).
//! Every wait is bounded and every answer size-bounded; what comes back is
//! turned into plain records for the pure choosers, and nothing from the
//! network can panic here.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use tracing::debug;

use super::known::MxRecord;
use super::srv::SrvRecord;

/// How long one DNS query may take.
pub const DNS_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one autoconfig request may take, connect included.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// The most of an autoconfig document that is read (real ones are ~2 KiB).
pub const MAX_AUTOCONFIG_BYTES: usize = 64 * 1024;

/// What one DNS query gave: records (none when the name has none or does
/// not exist), or why there was no answer.
pub type Answer<T> = Result<Vec<T>, String>;

/// The resolver for one discovery.
#[derive(Debug)]
pub struct Dns(TokioResolver);

impl Dns {
    /// Asks `servers` when given, else the system's resolver (not on
    /// Android, where the app passes the network's servers).
    pub fn new(servers: &[SocketAddr]) -> Result<Self, String> {
        let mut builder = if servers.is_empty() {
            system_resolver()?
        } else {
            let config = ResolverConfig::from_name_servers(
                servers.iter().map(|s| name_server(*s)).collect(),
            );
            TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
        };
        *builder.options_mut() = options(builder.options_mut().clone());
        builder.build().map(Self).map_err(|e| e.to_string())
    }

    /// The domain's MX records.
    pub async fn mx(&self, domain: &str) -> Answer<MxRecord> {
        let name = fully_qualified(domain);
        let lookup = self.bounded(self.0.mx_lookup(name.as_str())).await?;
        Ok(lookup
            .into_iter()
            .filter_map(|data| match data {
                RData::MX(mx) => Some(MxRecord {
                    preference: mx.preference,
                    exchange: host_text(&mx.exchange.to_ascii()),
                }),
                _ => None,
            })
            .collect())
    }

    /// The SRV records of `service` (`_imaps._tcp`) at `domain`.
    pub async fn srv(&self, service: &str, domain: &str) -> Answer<SrvRecord> {
        let name = fully_qualified(&format!("{service}.{domain}"));
        let lookup = self.bounded(self.0.srv_lookup(name.as_str())).await?;
        Ok(lookup
            .into_iter()
            .filter_map(|data| match data {
                RData::SRV(srv) => Some(SrvRecord {
                    priority: srv.priority,
                    weight: srv.weight,
                    port: srv.port,
                    target: host_text(&srv.target.to_ascii()),
                }),
                _ => None,
            })
            .collect())
    }

    /// One query's answer as RDATA, with "no such records" as none.
    async fn bounded(
        &self,
        query: impl Future<
            Output = Result<hickory_resolver::lookup::Lookup, hickory_resolver::net::NetError>,
        >,
    ) -> Result<Vec<RData>, String> {
        match tokio::time::timeout(DNS_TIMEOUT, query).await {
            Ok(Ok(lookup)) => Ok(lookup.answers().iter().map(|r| r.data.clone()).collect()),
            Ok(Err(e)) if e.is_no_records_found() => Ok(Vec::new()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {} s", DNS_TIMEOUT.as_secs())),
        }
    }
}

#[cfg(not(target_os = "android"))]
fn system_resolver() -> Result<hickory_resolver::ResolverBuilder<TokioRuntimeProvider>, String> {
    TokioResolver::builder_tokio().map_err(|e| format!("the system's DNS settings: {e}"))
}

#[cfg(target_os = "android")]
fn system_resolver() -> Result<hickory_resolver::ResolverBuilder<TokioRuntimeProvider>, String> {
    Err(
        "no DNS servers given (the app passes the network's, LinkProperties.getDnsServers())"
            .into(),
    )
}

/// A DNS server at any port, over UDP and TCP (TCP for long answers).
fn name_server(at: SocketAddr) -> NameServerConfig {
    let mut udp = ConnectionConfig::udp();
    udp.port = at.port();
    let mut tcp = ConnectionConfig::tcp();
    tcp.port = at.port();
    NameServerConfig::new(at.ip(), true, vec![udp, tcp])
}

/// One try per server within [`DNS_TIMEOUT`] (the whole discovery has its
/// own bound), and no cache worth keeping: a discovery asks each name once.
fn options(mut opts: ResolverOpts) -> ResolverOpts {
    opts.timeout = DNS_TIMEOUT;
    opts.attempts = 1;
    opts.cache_size = 32;
    opts
}

/// A name with the root's dot, so that no search domain is appended.
fn fully_qualified(name: &str) -> String {
    if name.ends_with('.') {
        name.to_owned()
    } else {
        format!("{name}.")
    }
}

/// A host name from DNS as the choosers compare it: lower case, no final
/// dot (the root alone stays `.`, "not offered" in an SRV record).
fn host_text(name: &str) -> String {
    if name == "." {
        return ".".into();
    }
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Why an autoconfig document could not be had.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("HTTP client: {0}")]
    Client(String),
    #[error("{url}: {detail}")]
    Request { url: String, detail: String },
    #[error("{url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: longer than {MAX_AUTOCONFIG_BYTES} bytes")]
    TooLong { url: String },
    #[error("{url}: not UTF-8")]
    NotText { url: String },
}

/// The HTTP client for autoconfig: bounded waits, and at most three
/// redirects, never from HTTPS down to plain HTTP.
pub fn http_client() -> Result<reqwest::Client, FetchError> {
    let redirects = reqwest::redirect::Policy::custom(|attempt| {
        let downgrade = attempt.url().scheme() != "https"
            && attempt.previous().iter().any(|u| u.scheme() == "https");
        if downgrade || attempt.previous().len() >= 3 {
            attempt.stop()
        } else {
            attempt.follow()
        }
    });
    reqwest::Client::builder()
        .redirect(redirects)
        .connect_timeout(HTTP_TIMEOUT)
        .timeout(HTTP_TIMEOUT)
        .user_agent(concat!("MailPresence/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| FetchError::Client(e.to_string()))
}

/// The document at `url`, read up to [`MAX_AUTOCONFIG_BYTES`].
pub async fn fetch_text(client: &reqwest::Client, url: &str) -> Result<String, FetchError> {
    let failed = |e: reqwest::Error| FetchError::Request {
        url: url.to_owned(),
        detail: mailpresence_protocol::transport::error_chain(&e),
    };
    let mut response = client.get(url).send().await.map_err(failed)?;
    let status = response.status();
    if !status.is_success() {
        return Err(FetchError::Status {
            url: url.to_owned(),
            status: status.as_u16(),
        });
    }
    let too_long = || FetchError::TooLong {
        url: url.to_owned(),
    };
    if response
        .content_length()
        .is_some_and(|n| n > MAX_AUTOCONFIG_BYTES as u64)
    {
        return Err(too_long());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(failed)? {
        if body.len() + chunk.len() > MAX_AUTOCONFIG_BYTES {
            return Err(too_long());
        }
        body.extend_from_slice(&chunk);
    }
    debug!(url, bytes = body.len(), "autoconfig fetched");
    String::from_utf8(body).map_err(|_| FetchError::NotText {
        url: url.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test may stop at the first surprise

    use std::io::{Read, Write};
    use std::net::TcpListener;

    use super::*;

    #[test]
    fn names_from_dns_are_compared_lower_case_without_the_root() {
        assert_eq!(host_text("IMAP.Example.JP."), "imap.example.jp");
        assert_eq!(host_text("."), ".");
        assert_eq!(fully_qualified("example.jp"), "example.jp.");
        assert_eq!(fully_qualified("example.jp."), "example.jp.");
    }

    /// A one-shot HTTP server on loopback answering `response` to the first
    /// request (then closing).
    fn serve_once(response: Vec<u8>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/mail/config-v1.1.xml",
            listener.local_addr().unwrap()
        );
        std::thread::spawn(move || {
            if let Ok((mut stream, _)) = listener.accept() {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request);
                let _ = stream.write_all(&response);
            }
        });
        url
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn an_answer_over_the_limit_is_refused_with_or_without_a_length() {
        let rt = runtime();
        let client = http_client().unwrap();
        let big = vec![b'x'; MAX_AUTOCONFIG_BYTES + 1];
        let mut declared =
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", big.len()).into_bytes();
        declared.extend_from_slice(&big);
        let err = rt
            .block_on(fetch_text(&client, &serve_once(declared)))
            .unwrap_err();
        assert!(matches!(err, FetchError::TooLong { .. }), "{err}");

        // No length said: the body is counted as it comes.
        let mut undeclared = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
        undeclared.extend_from_slice(&big);
        let err = rt
            .block_on(fetch_text(&client, &serve_once(undeclared)))
            .unwrap_err();
        assert!(matches!(err, FetchError::TooLong { .. }), "{err}");

        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n<a/>\n".to_vec();
        assert_eq!(
            rt.block_on(fetch_text(&client, &serve_once(ok))).unwrap(),
            "<a/>\n"
        );
    }

    #[test]
    fn a_missing_document_and_a_silent_server_are_errors_not_waits() {
        let rt = runtime();
        let client = http_client().unwrap();
        let missing = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec();
        let err = rt
            .block_on(fetch_text(&client, &serve_once(missing)))
            .unwrap_err();
        assert!(
            matches!(err, FetchError::Status { status: 404, .. }),
            "{err}"
        );

        // Accepts and never answers: the request's own bound ends it.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/x", listener.local_addr().unwrap());
        let started = std::time::Instant::now();
        let err = rt.block_on(fetch_text(&client, &url)).unwrap_err();
        assert!(matches!(err, FetchError::Request { .. }), "{err}");
        assert!(started.elapsed() < HTTP_TIMEOUT + Duration::from_secs(2));
        drop(listener);
    }
}
