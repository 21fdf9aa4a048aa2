//! The wall display (TV mode): a read-only board in large type on a screen
//! by the door. An administrator (`[web] admins`) issues a display link on
//! the Phones page; opening it on the screen and pressing its one button
//! turns it into a long-lived, read-only session that sees what the issuing
//! administrator sees; revoking it there deletes the session and ends the
//! screen's live stream at once (the screen then says so, never showing old
//! rows as current). The screen reads the same /api/board and /api/events as
//! the board; its session can change nothing (`Refused::ReadOnly`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::pages::{self, PageLang};
use super::phones::{admin_change, forbidden, is_admin};
use super::session::{self, is_token, no_store, secret_key};
use super::state::Web;
use crate::store::StoreError;

const TV_HTML: &str = include_str!("../../web/tv.html");
/// A display link works once, within this many hours.
const LINK_HOURS: i64 = 24;
/// A display's session lasts this long unless revoked.
const DISPLAY_DAYS: i64 = 366;
const LINK_KIND: &str = "web-display-link";
/// The longest display name ("1F 受付", "営業部 島").
const MAX_NAME_CHARS: usize = 40;

#[derive(Debug, Serialize, Deserialize)]
struct LinkRecord {
    account: String,
    name: String,
}

#[derive(Debug, Deserialize)]
pub struct Issue {
    name: String,
}

/// POST /api/tv: a new display link (administrators only).
pub async fn issue(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(request): Json<Issue>,
) -> Response {
    let viewer = match admin_change(&web, &headers, peer).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let name = request.name.trim().to_owned();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(serde_json::json!({ "error": format!("a display needs a name of 1–{MAX_NAME_CHARS} characters") })),
        )
            .into_response();
    }
    let token = crate::hex::to_hex(&rand::random::<[u8; 32]>());
    let record = serde_json::to_string(&LinkRecord {
        account: viewer.account.to_string(),
        name: name.clone(),
    })
    .unwrap_or_default();
    let key = secret_key(&token);
    let expires = Utc::now() + chrono::Duration::hours(LINK_HOURS);
    let stored = web
        .blocking(move |web| {
            web.hub
                .store()
                .transaction(|tx| tx.put_record(LINK_KIND, &key, &record, expires))
        })
        .await;
    if !matches!(stored, Some(Ok(()))) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    tracing::info!(admin = %viewer.account, display = %name, "board: display link issued");
    let link = format!(
        "{}/tv/open/{token}",
        web.config.public_url.trim_end_matches('/')
    );
    let mut response =
        Json(serde_json::json!({ "link": link, "expires": expires.to_rfc3339() })).into_response();
    no_store(&mut response);
    response
}

/// GET /tv/open/{token}: one button that makes this screen the display
/// (opening alone must not use the link: link previews open links).
pub async fn confirm(
    State(web): State<Arc<Web>>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let lang = PageLang::of(&web, &headers);
    if !is_token(&token) {
        return pages::notice(lang, StatusCode::GONE, pages::Notice::LinkInvalid);
    }
    let form = format!(
        r#"<form method="post" action="/tv/open/{token}"><button type="submit" autofocus>{}</button></form>"#,
        lang.pick(
            "この画面を在席表示にする",
            "Make this screen the wall display"
        ),
    );
    let title = lang.pick("壁掛け表示", "Wall display");
    let mut response = Html(pages::page(lang, title, "", &form)).into_response();
    no_store(&mut response);
    response
}

/// POST /tv/open/{token}: the link becomes the screen's read-only session.
pub async fn open(
    State(web): State<Arc<Web>>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let lang = PageLang::of(&web, &headers);
    if session::check_origin(&web, &headers).is_err() {
        return session::Refused::CrossOrigin.into_response();
    }
    if !is_token(&token) {
        return pages::notice(lang, StatusCode::GONE, pages::Notice::LinkInvalid);
    }
    let opened = web
        .blocking(move |web| -> Result<Option<String>, StoreError> {
            let now = Utc::now();
            web.hub.store().transaction(|tx| {
                let key = secret_key(&token);
                let Some(text) = tx.live_record(LINK_KIND, &key, now)? else {
                    return Ok(None);
                };
                tx.delete_record(LINK_KIND, &key)?;
                let Ok(link) = serde_json::from_str::<LinkRecord>(&text) else {
                    return Ok(None);
                };
                session::start_display_session(tx, &link.account, &link.name, now, DISPLAY_DAYS)
                    .map(Some)
            })
        })
        .await;
    match opened {
        Some(Ok(Some(secret))) => (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, "/tv".to_owned()),
                (
                    header::SET_COOKIE,
                    session::session_cookie(&secret, DISPLAY_DAYS * 24),
                ),
            ],
        )
            .into_response(),
        Some(Ok(None)) => pages::notice(lang, StatusCode::GONE, pages::Notice::LinkInvalid),
        _ => pages::notice(
            lang,
            StatusCode::SERVICE_UNAVAILABLE,
            pages::Notice::TryLater,
        ),
    }
}

/// GET /tv: the display page (it says so itself when it has no session).
pub async fn page(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    let lang = PageLang::of(&web, &headers);
    let mut response = Html(TV_HTML.replace("{lang}", lang.code())).into_response();
    no_store(&mut response);
    response
}

/// GET /api/tv: the displays' sessions (administrators only).
pub async fn list(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let Some(viewer) = session::viewer(&web, &headers, peer).await else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    if !is_admin(&web, &viewer) {
        return forbidden();
    }
    let listed = web
        .blocking(|web| {
            web.hub
                .store()
                .transaction(|tx| session::display_sessions(tx, Utc::now()))
        })
        .await;
    match listed {
        Some(Ok(displays)) => {
            let mut response = Json(serde_json::json!({ "displays": displays })).into_response();
            no_store(&mut response);
            response
        }
        _ => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub struct Revoke {
    id: String,
}

/// POST /api/tv/revoke: a display's session ended, its stream at once.
pub async fn revoke(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(request): Json<Revoke>,
) -> Response {
    let viewer = match admin_change(&web, &headers, peer).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let id = request.id.clone();
    let done = web
        .blocking(move |web| session::end_display_session(web, &id))
        .await;
    match done {
        Some(Ok(revoked)) => {
            tracing::info!(admin = %viewer.account, revoked, "board: display revoked");
            Json(serde_json::json!({ "revoked": revoked })).into_response()
        }
        _ => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}
