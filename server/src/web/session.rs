//! Who is looking, and whether a change may be made: the session cookie a
//! sign-in link leaves (looked up in the store under the SHA-256 of its
//! secret, so a copy of the database signs nobody in), or, for sites with
//! single sign-on, the user a trusted reverse proxy names in a header
//! (believed only from that proxy's addresses). Every change also carries
//! the viewer's CSRF token and, when the browser sends one, an `Origin` that
//! is the board's own; [`Refused`] says why a request was turned away.
//! Answers that depend on the viewer are never cached ([`no_store`]).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, Utc};
use mailpresence_protocol::model::AccountName;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::state::Web;
use crate::hex::to_hex as hex;
use crate::store::{Store, StoreError, Time};

/// `__Host-`: the browser takes it only with `Secure`, `Path=/` and no
/// `Domain`, so a sibling subdomain cannot plant one (cookie tossing).
const SESSION_COOKIE: &str = "__Host-mp_session";
const SESSION_KIND: &str = "web-session";
/// The header a change carries its CSRF token in.
const CSRF_HEADER: &str = "x-csrf-token";

/// The person behind a request, and the token their changes must carry.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub account: AccountName,
    pub csrf: String,
    /// The session's key in the store (none for a proxy's user).
    session_key: Option<String>,
    /// A wall display's session (see `tv.rs`): it may look, never change.
    pub read_only: bool,
}

/// Why a request was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    NotSignedIn,
    /// No CSRF token, or not this session's.
    Csrf,
    /// `Origin` names another site.
    CrossOrigin,
    /// A wall display's session: it shows the board, it changes nothing.
    ReadOnly,
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
            Refused::ReadOnly => (StatusCode::FORBIDDEN, "a wall display changes nothing"),
        };
        (status, axum::Json(serde_json::json!({ "error": text }))).into_response()
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct SessionRecord {
    account: String,
    csrf: String,
    /// The name of a wall display's session ("1F 受付"), none for a person's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    display: Option<String>,
}

impl Viewer {
    /// The session's key in the store, for a viewer signed in by a link.
    pub fn session(&self) -> Option<&str> {
        self.session_key.as_deref()
    }
}

/// Stores a new session of `account` for `hours`, with its own CSRF token;
/// returns its secret, the cookie's value.
pub fn start_session(
    tx: &mut dyn Store,
    account: &str,
    now: Time,
    hours: i64,
) -> Result<String, StoreError> {
    start(tx, account, None, now, Duration::hours(hours))
}

/// Stores a wall display's read-only session, seeing what `account` (the
/// administrator who issued it) sees, for `days`; returns its secret.
pub fn start_display_session(
    tx: &mut dyn Store,
    account: &str,
    name: &str,
    now: Time,
    days: i64,
) -> Result<String, StoreError> {
    start(tx, account, Some(name), now, Duration::days(days))
}

fn start(
    tx: &mut dyn Store,
    account: &str,
    display: Option<&str>,
    now: Time,
    lasts: Duration,
) -> Result<String, StoreError> {
    let token = hex(&rand::random::<[u8; 32]>());
    let session = SessionRecord {
        account: account.to_owned(),
        csrf: hex(&rand::random::<[u8; 32]>()),
        display: display.map(str::to_owned),
    };
    let record = serde_json::to_string(&session).unwrap_or_default();
    tx.put_record(SESSION_KIND, &secret_key(&token), &record, now + lasts)?;
    Ok(token)
}

/// A wall display's session as the Phones page lists it.
#[derive(Debug, Serialize)]
pub struct DisplaySession {
    /// The session's key in the store (not its secret): what revoking names.
    pub id: String,
    pub name: String,
    /// Whose view it shows.
    pub account: String,
    pub expires: String,
}

/// The wall displays' live sessions.
pub fn display_sessions(tx: &dyn Store, now: Time) -> Result<Vec<DisplaySession>, StoreError> {
    Ok(tx
        .records(SESSION_KIND, now)?
        .into_iter()
        .filter_map(|(key, text, expires)| {
            let session: SessionRecord = serde_json::from_str(&text).ok()?;
            Some(DisplaySession {
                id: key,
                name: session.display?,
                account: session.account,
                expires: expires.to_rfc3339(),
            })
        })
        .collect())
}

/// Ends the wall display's session `id` and its open stream at once;
/// whether there was one. Blocks on the store.
pub fn end_display_session(web: &Web, id: &str) -> Result<bool, StoreError> {
    let now = Utc::now();
    let ended = web.hub.store().transaction(|tx| {
        let is_display = tx
            .live_record(SESSION_KIND, id, now)?
            .and_then(|text| serde_json::from_str::<SessionRecord>(&text).ok())
            .is_some_and(|s| s.display.is_some());
        if is_display {
            tx.delete_record(SESSION_KIND, id)?;
        }
        Ok::<_, StoreError>(is_display)
    })?;
    if ended {
        let _ = web.signed_out.send(id.to_owned());
    }
    Ok(ended)
}

/// The `Set-Cookie` value that hands the browser a session for `hours`.
pub fn session_cookie(token: &str, hours: i64) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={}",
        hours * 3600
    )
}

/// The `Set-Cookie` value that makes the browser forget its session.
pub fn cleared_cookie() -> String {
    format!("{SESSION_COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0")
}

/// Ends the viewer's session, if they have one (a proxy's user has none),
/// and with it the session's open streams. Blocks on the store.
pub fn end_session(web: &Web, viewer: &Viewer) -> Result<(), StoreError> {
    let Some(key) = &viewer.session_key else {
        return Ok(());
    };
    web.hub
        .store()
        .transaction(|tx| tx.delete_record(SESSION_KIND, key))?;
    // No stream open is no error.
    let _ = web.signed_out.send(key.clone());
    Ok(())
}

/// Whether the session stored under `key` is still live. Blocks on the store.
pub fn session_alive(web: &Web, key: &str) -> bool {
    let now = Utc::now();
    matches!(
        web.hub
            .store()
            .transaction(|tx| tx.live_record(SESSION_KIND, key, now)),
        Ok(Some(_))
    )
}

/// The signed-in person of a request, if any; a session is looked up off
/// the async workers.
pub async fn viewer(web: &Arc<Web>, headers: &HeaderMap, peer: SocketAddr) -> Option<Viewer> {
    if let Some(viewer) = proxy_user(web, headers, peer) {
        return Some(viewer);
    }
    let secret = cookie(headers, SESSION_COOKIE).filter(|s| is_token(s))?;
    let key = secret_key(secret);
    web.blocking(move |web| session_viewer(web, key))
        .await
        .flatten()
}

/// The person of the live session stored under `key`. Blocks on the store.
fn session_viewer(web: &Web, key: String) -> Option<Viewer> {
    let now = Utc::now();
    let text = web
        .hub
        .store()
        .transaction(|tx| tx.live_record(SESSION_KIND, &key, now))
        .ok()??;
    let session: SessionRecord = serde_json::from_str(&text).ok()?;
    let account: AccountName = session.account.parse().ok()?;
    // Someone taken out of the directory is signed out too.
    web.hub.directory().person(&account)?;
    Some(Viewer {
        account,
        csrf: session.csrf,
        session_key: Some(key),
        read_only: session.display.is_some(),
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
    let directory = web.hub.directory();
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
        read_only: false,
    })
}

/// Checks a change: signed in, the page's CSRF token, and no foreign `Origin`.
pub async fn check_change(
    web: &Arc<Web>,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> Result<Viewer, Refused> {
    check_origin(web, headers)?;
    let viewer = viewer(web, headers, peer)
        .await
        .ok_or(Refused::NotSignedIn)?;
    let sent = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if sent.is_empty() || !bool::from(sent.as_bytes().ct_eq(viewer.csrf.as_bytes())) {
        return Err(Refused::Csrf);
    }
    if viewer.read_only {
        return Err(Refused::ReadOnly);
    }
    Ok(viewer)
}

/// A form or change from another site is refused. Browsers send `Origin`
/// with every POST; a request without one (curl) is judged by its token.
pub fn check_origin(web: &Web, headers: &HeaderMap) -> Result<(), Refused> {
    match headers.get(header::ORIGIN).map(HeaderValue::to_str) {
        None => Ok(()),
        Some(Ok(origin)) if origin.eq_ignore_ascii_case(web.config.origin()) => Ok(()),
        Some(_) => Err(Refused::CrossOrigin),
    }
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

/// What the store keeps of a secret (a session's, a sign-in link's): its
/// SHA-256.
/// Whether `text` has the shape of a token we hand out (64 hex digits): a
/// made-up one is refused before it costs a store look-up.
pub fn is_token(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

pub fn secret_key(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Presence is never kept in a browser's or a proxy's cache.
pub fn no_store(response: &mut Response) {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}
