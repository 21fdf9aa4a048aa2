//! Trust: whether a request may act for a person. A request from a trusted
//! network (`[sip] trusted_networks`: the company's proxy that authenticated
//! its phones, a closed LAN) is believed; from anywhere else it must carry
//! the person's digest credentials (RFC 8760, see `sip::digest`), or it is
//! challenged (401) or, when the person has no SIP password, refused (403).
//! PUBLISH, SUBSCRIBE and REGISTER all pass here before they touch any state.
//! This owns the nonces handed out in challenges and the realm they name.

use tracing::{debug, warn};

use super::reply::Reply;
use crate::directory::{Person, sip_user_host};
use crate::sip::digest::{Algorithm, Check, Nonces};
use crate::sip::message::Message;
use crate::sip::transport::Peer;

/// The digest side of trust: the realm (our SIP domain) and the nonces.
#[derive(Debug)]
pub(super) struct Trust {
    realm: String,
    nonces: Nonces,
}

impl Trust {
    pub(super) fn new(realm: String, algorithms: &[Algorithm]) -> Self {
        Self {
            realm,
            nonces: Nonces::offering(algorithms),
        }
    }

    /// Whether `req` may act for `person`: it comes from a trusted network
    /// (`trusted_network`, the router's reading of the source), or carries
    /// `person`'s digest credentials. Otherwise the answer: 401 with a
    /// challenge, or 403 when `person` has no password to prove.
    pub(super) fn authorize(
        &mut self,
        req: &Message,
        peer: &Peer,
        person: &Person,
        trusted_network: bool,
    ) -> Result<(), Reply> {
        if trusted_network {
            return Ok(());
        }
        let Some(password) = &person.sip_password else {
            warn!(account = %person.account, peer = %peer.addr(), "SIP request refused: no sip_password and not from a trusted network");
            return Err(Reply::new(403, "Forbidden")
                .because("not from a trusted network and no password set"));
        };
        let user = sip_user_host(person.sip.as_deref().unwrap_or_default())
            .map(|(u, _)| u)
            .unwrap_or_else(|| person.account.to_string());
        let source = peer.addr().ip();
        let check = self
            .nonces
            .check_from(req, &self.realm, &user, password.expose(), source);
        if check == Check::Valid {
            return Ok(());
        }
        debug!(account = %person.account, peer = %peer.addr(), ?check, "digest credentials not accepted");
        let challenges = self
            .nonces
            .challenges_for(&self.realm, check == Check::Stale, source);
        Err(challenges
            .into_iter()
            .fold(Reply::new(401, "Unauthorized"), |r, c| {
                r.with("WWW-Authenticate", c)
            }))
    }
}
