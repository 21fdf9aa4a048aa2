//! Who is looking, proven: a one-time sign-in link mailed to the person's
//! registered address, then a session cookie; or, for sites with single
//! sign-on, the user a trusted reverse proxy names in a header (believed only
//! from that proxy's addresses). Every change also carries the viewer's CSRF
//! token and, when the browser sends one, an `Origin` that is the board's own.
//!
//! Links and sessions live in the store under the SHA-256 of their secret,
//! so a copy of the database signs nobody in; a link works once, for
//! `link_minutes`. Asking for a link answers the same whether the address is
//! known or not, and is rate-limited per address and per source address.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Form;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, Utc};
use mailpresence_protocol::model::AccountName;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Web;
use super::pages::{self, PageLang};
use crate::directory::Person;
use crate::hex::to_hex as hex;

/// `__Host-`: the browser takes it only with `Secure`, `Path=/` and no
/// `Domain`, so a sibling subdomain cannot plant one (cookie tossing).
pub const SESSION_COOKIE: &str = "__Host-mp_session";
const LINK_KIND: &str = "web-link";
const SESSION_KIND: &str = "web-session";
/// The header a change carries its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The person behind a request, and the token their changes must carry.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub account: AccountName,
    pub csrf: String,
    /// The session's key in the store (none for a proxy's user).
    session_key: Option<String>,
}

/// Why a request was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    NotSignedIn,
    /// No CSRF token, or not this session's.
    Csrf,
    /// `Origin` names another site.
    CrossOrigin,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let (status, text) = match self {
            Refused::NotSignedIn => (StatusCode::UNAUTHORIZED, "not signed in"),
            Refused::Csrf => (
                StatusCode::FORBIDDEN,
                "the change lacks this page's CSRF token",
            ),
            Refused::CrossOrigin => (StatusCode::FORBIDDEN, "the change comes from another site"),
        };
        (status, axum::Json(serde_json::json!({ "error": text }))).into_response()
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct SessionRecord {
    account: String,
    csrf: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct LinkRecord {
    account: String,
}

impl Viewer {
    /// The session's key in the store, for a viewer signed in by a link.
    pub fn session(&self) -> Option<&str> {
        self.session_key.as_deref()
    }
}

/// Whether the session stored under `key` is still live.
pub fn session_alive(web: &Web, key: &str) -> bool {
    let now = Utc::now();
    matches!(
        web.hub
            .store()
            .transaction(|tx| tx.record(SESSION_KIND, key, now)),
        Ok(Some(_))
    )
}

/// The signed-in person of a request, if any.
pub fn viewer(web: &Web, headers: &HeaderMap, peer: SocketAddr) -> Option<Viewer> {
    if let Some(viewer) = proxy_user(web, headers, peer) {
        return Some(viewer);
    }
    let token = cookie(headers, SESSION_COOKIE)?;
    let key = secret_key(token);
    let now = Utc::now();
    let text = web
        .hub
        .store()
        .transaction(|tx| tx.record(SESSION_KIND, &key, now))
        .ok()??;
    let session: SessionRecord = serde_json::from_str(&text).ok()?;
    let account: AccountName = session.account.parse().ok()?;
    // Someone taken out of the directory is signed out too.
    web.hub.engine.directory().person(&account)?;
    Some(Viewer {
        account,
        csrf: session.csrf,
        session_key: Some(key),
    })
}

/// The user a trusted proxy names, by account or mail address.
fn proxy_user(web: &Web, headers: &HeaderMap, peer: SocketAddr) -> Option<Viewer> {
    if !web.config.trusts_proxy(peer.ip()) {
        return None;
    }
    // Exactly one: a proxy that appends its header instead of replacing it
    // would otherwise let the client's own copy win.
    let mut values = headers.get_all(web.config.user_header.as_deref()?).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return None;
    };
    let name = value.to_str().ok()?.trim();
    let directory = web.hub.engine.directory();
    let person = name
        .parse::<AccountName>()
        .ok()
        .and_then(|a| directory.person(&a))
        .or_else(|| directory.by_mail(name))?;
    let mut mac = Sha256::new();
    mac.update(web.secret);
    mac.update(person.account.as_str().as_bytes());
    Some(Viewer {
        account: person.account.clone(),
        csrf: hex(&mac.finalize()),
        session_key: None,
    })
}

/// Checks a change: signed in, the page's CSRF token, and no foreign `Origin`.
pub fn check_change(web: &Web, headers: &HeaderMap, peer: SocketAddr) -> Result<Viewer, Refused> {
    check_origin(web, headers)?;
    let viewer = viewer(web, headers, peer).ok_or(Refused::NotSignedIn)?;
    let sent = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if sent.is_empty() || !bool::from(sent.as_bytes().ct_eq(viewer.csrf.as_bytes())) {
        return Err(Refused::Csrf);
    }
    Ok(viewer)
}

/// A form or change from another site is refused. Browsers send `Origin`
/// with every POST; a request without one (curl) is judged by its token.
fn check_origin(web: &Web, headers: &HeaderMap) -> Result<(), Refused> {
    match headers.get(header::ORIGIN).map(HeaderValue::to_str) {
        None => Ok(()),
        Some(Ok(origin)) if origin.eq_ignore_ascii_case(web.config.origin()) => Ok(()),
        Some(_) => Err(Refused::CrossOrigin),
    }
}

#[derive(Debug, Deserialize)]
pub struct LinkRequest {
    #[serde(default)]
    address: String,
}

/// POST /login: mails a sign-in link when the address is a person's.
pub async fn request_link(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LinkRequest>,
) -> Response {
    let lang = PageLang::of(&web, &headers);
    if check_origin(&web, &headers).is_err() {
        return Refused::CrossOrigin.into_response();
    }
    if !web.config.mail_sign_in {
        return pages::notice(lang, StatusCode::NOT_FOUND, pages::Notice::NoMailSignIn);
    }
    let address = form.address.trim().to_ascii_lowercase();
    if address.len() > 254 {
        return pages::notice(lang, StatusCode::BAD_REQUEST, pages::Notice::LinkSent);
    }
    if let Err(e) = send_link(&web, &address, client_ip(&web, &headers, peer)) {
        tracing::error!(error = %e, "cannot queue a sign-in link");
    }
    // The same answer whatever happened: nobody learns who is registered.
    pages::notice(lang, StatusCode::OK, pages::Notice::LinkSent)
}

/// The address of the browser: the peer, or behind one of the proxies the
/// last address it appended to `X-Forwarded-For` (earlier ones are the
/// client's own word). A proxy that sends none leaves its own address.
fn client_ip(web: &Web, headers: &HeaderMap, peer: SocketAddr) -> IpAddr {
    if !web.config.is_proxy(peer.ip()) {
        return peer.ip().to_canonical();
    }
    let mut values = headers.get_all("x-forwarded-for").iter();
    let last = values.next_back().and_then(|v| v.to_str().ok());
    last.and_then(|v| v.rsplit(',').next())
        .and_then(|ip| ip.trim().parse::<IpAddr>().ok())
        .map_or(peer.ip().to_canonical(), |ip| ip.to_canonical())
}

fn send_link(web: &Web, address: &str, client: IpAddr) -> Result<(), crate::store::StoreError> {
    use crate::store::Store;
    let now = Utc::now();
    let person = web.hub.engine.directory().by_mail(address).cloned();
    let token = hex(&rand::random::<[u8; 32]>());
    let minutes = web.config.link_minutes;
    let queued = web.hub.store().transaction(|tx| -> Result<bool, crate::store::StoreError> {
        tx.expire_records(now)?;
        // The source first: past its limit, nothing more is counted or stored,
        // so one source cannot use up a colleague's links.
        let from_ip = tx.count_sender_mail(&format!("web-ip:{client}"), now)?;
        if from_ip > web.config.link_requests_per_ip_hour {
            tracing::warn!(ip = %client, "sign-in links: too many requests from this address this hour");
            return Ok(false);
        }
        // Counted for unknown addresses too: the cost of a request tells nothing.
        let to_address = tx.count_sender_mail(&format!("web-link:{address}"), now)?;
        let Some(person) = person.as_ref() else {
            tracing::info!("sign-in link asked for an address that is nobody's");
            return Ok(false);
        };
        if to_address > web.config.links_per_hour {
            tracing::warn!(account = %person.account, "sign-in links: too many for this address this hour");
            return Ok(false);
        }
        let record = serde_json::to_string(&LinkRecord {
            account: person.account.to_string(),
        })
        .unwrap_or_default();
        let expires = now + Duration::minutes(i64::from(minutes));
        tx.put_record(LINK_KIND, &secret_key(&token), &record, expires)?;
        match link_mail(web, person, &token) {
            Some(raw) => {
                tx.enqueue_mail(&web.hub.address, address, &raw, None, now)?;
                tracing::info!(account = %person.account, "sign-in link queued");
                Ok(true)
            }
            None => Ok(false),
        }
    })?;
    if queued {
        web.hub.outbox_wake.notify_one();
    }
    Ok(())
}

/// The sign-in mail, in both languages (the address does not say which the
/// person reads). It holds the link only: no presence, no trail.
fn link_mail(web: &Web, person: &Person, token: &str) -> Option<Vec<u8>> {
    use lettre::message::{Mailbox, header::ContentType};
    let to: Mailbox = person.mail.as_deref()?.parse().ok()?;
    let from = Mailbox::new(Some("MailPresence".into()), web.hub.address.parse().ok()?);
    let link = format!(
        "{}/login/{token}",
        web.config.public_url.trim_end_matches('/')
    );
    let minutes = web.config.link_minutes;
    let body = format!(
        "{name} 様\n\n在席ボードにサインインするには、次のリンクを開いてください（{minutes}分間、1回だけ有効です）。\n{link}\n\n\
         このメールに心当たりがない場合は、何もせずに削除してください。\n\n\
         To sign in to the presence board, open this link (valid once, for {minutes} minutes):\n{link}\n\n\
         If you did not ask for it, delete this mail; nothing happens.\n",
        name = if person.name.is_empty() {
            person.account.as_str()
        } else {
            &person.name
        },
    );
    let domain = web.hub.address.rsplit('@').next().unwrap_or("localhost");
    lettre::Message::builder()
        .from(from)
        .to(to)
        .subject("在席ボードへのサインイン / Sign in to the presence board")
        .message_id(Some(mailpresence_protocol::mail::compose::new_message_id(
            domain,
        )))
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .ok()
        .map(|m| m.formatted())
}

/// POST /login/{token}: the link's button. Signs in once; the link is gone after.
pub async fn use_link(
    State(web): State<Arc<Web>>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let lang = PageLang::of(&web, &headers);
    if check_origin(&web, &headers).is_err() {
        return Refused::CrossOrigin.into_response();
    }
    let now = Utc::now();
    let session_token = hex(&rand::random::<[u8; 32]>());
    let hours = i64::from(web.config.session_hours);
    let signed_in =
        web.hub
            .store()
            .transaction(|tx| -> Result<Option<String>, crate::store::StoreError> {
                let key = secret_key(&token);
                let Some(text) = tx.record(LINK_KIND, &key, now)? else {
                    return Ok(None);
                };
                // Used once: gone before the session exists, in one transaction.
                tx.delete_record(LINK_KIND, &key)?;
                let Ok(link) = serde_json::from_str::<LinkRecord>(&text) else {
                    return Ok(None);
                };
                let session = SessionRecord {
                    account: link.account.clone(),
                    csrf: hex(&rand::random::<[u8; 32]>()),
                };
                let record = serde_json::to_string(&session).unwrap_or_default();
                tx.put_record(
                    SESSION_KIND,
                    &secret_key(&session_token),
                    &record,
                    now + Duration::hours(hours),
                )?;
                Ok(Some(link.account))
            });
    match signed_in {
        Ok(Some(account)) => {
            tracing::info!(%account, "signed in to the board");
            let cookie = format!(
                "{SESSION_COOKIE}={session_token}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={}",
                hours * 3600
            );
            (
                StatusCode::SEE_OTHER,
                [
                    (header::LOCATION, "/".to_owned()),
                    (header::SET_COOKIE, cookie),
                ],
            )
                .into_response()
        }
        Ok(None) => pages::notice(lang, StatusCode::GONE, pages::Notice::LinkInvalid),
        Err(e) => {
            tracing::error!(error = %e, "cannot sign in");
            pages::notice(
                lang,
                StatusCode::SERVICE_UNAVAILABLE,
                pages::Notice::TryLater,
            )
        }
    }
}

/// POST /logout: ends the session (a change like any other: CSRF checked).
pub async fn sign_out(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let viewer = match check_change(&web, &headers, peer) {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    if let Some(key) = &viewer.session_key
        && let Err(e) = web
            .hub
            .store()
            .transaction(|tx| tx.delete_record(SESSION_KIND, key))
    {
        tracing::error!(error = %e, "cannot end a session");
    }
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0");
    (StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear)]).into_response()
}

/// A cookie's value from the `Cookie` headers.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// What the store keeps of a secret: its SHA-256.
fn secret_key(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}
