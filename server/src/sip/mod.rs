//! The SIP side of the server: desk phones publish their presence and watch
//! their colleagues' with SIP presence (PUBLISH, SUBSCRIBE/NOTIFY, PIDF).
//! `message` reads and writes SIP, `transport` carries it over UDP, TCP and TLS,
//! `agent` is the presence agent (publications, subscription dialogs, trust,
//! and the registrar when it is on), `held` keeps its output until the store
//! has committed, `digest` checks passwords.

pub mod agent;
pub mod digest;
pub mod held;
pub mod message;
pub mod transport;

use std::sync::Arc;

use mailpresence_protocol::summary::Lang;
use tokio::sync::{mpsc, watch};
use tracing::info;

use crate::config::SipConfig;
use crate::hub::Hub;

/// Binds the SIP transports and runs the agent until shutdown.
pub async fn start(
    hub: Arc<Hub>,
    config: SipConfig,
    server_address: &str,
    lang: Lang,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let settings = transport::Settings::from_config(&config).map_err(std::io::Error::other)?;
    let bound = transport::bind_with(config.listen, settings, shutdown.clone()).await?;
    let (out, inbound, local) = (bound.out, bound.inbound, bound.local);
    let domain = config.domain(server_address).to_owned();
    let advertise = config
        .advertise
        .clone()
        .unwrap_or_else(|| local.to_string());
    let (tx, deliveries) = mpsc::unbounded_channel();
    hub.connect_sip(tx);
    match bound.tls_local {
        Some(tls) => {
            info!(listen = %local, %tls, %domain, "SIP presence agent running (UDP, TCP and TLS)")
        }
        None => info!(listen = %local, %domain, "SIP presence agent running (UDP and TCP)"),
    }
    // TLS dialogs are reached on the TLS port: the advertised host with it.
    let advertise_tls = bound.tls_local.map(|tls| {
        let host = advertise
            .rsplit_once(':')
            .map_or(advertise.as_str(), |(host, _)| host);
        format!("{host}:{}", tls.port())
    });
    let agent =
        agent::Agent::new(hub, config, domain, advertise, lang, out).advertising_tls(advertise_tls);
    Ok(tokio::spawn(agent.run(inbound, deliveries, shutdown)))
}
