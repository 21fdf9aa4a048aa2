//! The Phones page for IT (`[web] admins`): each person's enrolled phones,
//! a new enrolment code shown as a QR code and as its link, and revoking a
//! lost phone in one click. The same codes and device records as
//! `mailpresence-server enroll` and `devices`; every change is a POST with
//! the viewer's CSRF token.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::Engine as _;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::pages::PageLang;
use super::session::{self, Viewer, no_store};
use super::state::Web;
use crate::directory::Person;

const PHONES_HTML: &str = include_str!("../../web/phones.html");
/// How long a code made on the page is valid.
const CODE_HOURS: i64 = 24;

/// Whether `viewer` may use the Phones page.
pub(super) fn is_admin(web: &Web, viewer: &Viewer) -> bool {
    if viewer.read_only {
        return false;
    }
    let directory = web.hub.directory();
    let Some(person) = directory.person(&viewer.account) else {
        return false;
    };
    web.config
        .admins
        .iter()
        .any(|entry| match entry.strip_prefix("group:") {
            Some(group) => person.groups.iter().any(|g| g == group),
            None => entry == person.account.as_str(),
        })
}

pub(super) fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        Json(serde_json::json!({ "error": "the Phones page is for the administrators [web] admins names" })),
    )
        .into_response()
}

/// A change on the Phones page: a signed-in viewer with the page's CSRF
/// token (as every board change) who is one of `[web] admins`.
pub(super) async fn admin_change(
    web: &Arc<Web>,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> Result<Viewer, Response> {
    let viewer = session::check_change(web, headers, peer)
        .await
        .map_err(IntoResponse::into_response)?;
    if is_admin(web, &viewer) {
        Ok(viewer)
    } else {
        Err(forbidden())
    }
}

/// GET /phones: the page (its data comes from /api/phones).
pub async fn page(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let Some(viewer) = session::viewer(&web, &headers, peer).await else {
        return Redirect::to("/login").into_response();
    };
    if !is_admin(&web, &viewer) {
        return forbidden();
    }
    let lang = PageLang::of(&web, &headers);
    let mut response = Html(PHONES_HTML.replace("{lang}", lang.code())).into_response();
    no_store(&mut response);
    response
}

#[derive(Debug, Serialize)]
struct PhoneRow {
    id: i64,
    name: String,
    enrolled: String,
    last_seen: Option<String>,
    revoked: Option<String>,
}

#[derive(Debug, Serialize)]
struct PersonRow {
    account: String,
    name: String,
    department: Option<String>,
    phones: Vec<PhoneRow>,
}

/// GET /api/phones: everyone in the directory with their phones, and the
/// viewer's CSRF token.
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
    let people: Vec<Person> = web.hub.directory().people().to_vec();
    let rows = web
        .blocking(move |web| {
            web.hub.store().transaction(|tx| {
                people
                    .iter()
                    .map(|p| {
                        let phones = tx
                            .devices_of(p.account.as_str())?
                            .into_iter()
                            .map(|d| PhoneRow {
                                id: d.id,
                                name: d.name,
                                enrolled: d.enrolled_at.to_rfc3339(),
                                last_seen: d.last_seen_at.map(|t| t.to_rfc3339()),
                                revoked: d.revoked_at.map(|t| t.to_rfc3339()),
                            })
                            .collect();
                        Ok(PersonRow {
                            account: p.account.to_string(),
                            name: if p.name.trim().is_empty() {
                                p.account.to_string()
                            } else {
                                p.name.clone()
                            },
                            // The directory's department, else the groups.
                            department: p
                                .department
                                .clone()
                                .or_else(|| (!p.groups.is_empty()).then(|| p.groups.join("・"))),
                            phones,
                        })
                    })
                    .collect::<Result<Vec<_>, crate::store::StoreError>>()
            })
        })
        .await;
    match rows {
        Some(Ok(people)) => {
            let mut response =
                Json(serde_json::json!({ "csrf": viewer.csrf, "people": people })).into_response();
            no_store(&mut response);
            response
        }
        _ => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub struct ForAccount {
    account: String,
}

/// POST /api/phones/code: a new enrolment code for one person: the link and
/// its QR code (an SVG image).
pub async fn make_code(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(request): Json<ForAccount>,
) -> Response {
    let viewer = match admin_change(&web, &headers, peer).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (Some(config), Some(key)) = (web.enrolment.get().cloned(), web.hub.signing_key().cloned())
    else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "enrolment is not set up on this server",
        )
            .into_response();
    };
    let found = request
        .account
        .trim()
        .parse::<mailpresence_protocol::model::AccountName>()
        .ok()
        .and_then(|a| {
            let mail = web.hub.directory().person(&a)?.mail.clone()?;
            Some((a.to_string(), mail))
        });
    let Some((account, mail)) = found else {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(serde_json::json!({ "error": format!("{} is not in the directory with a mail address", request.account) })),
        )
            .into_response();
    };
    let made = web
        .blocking(move |web| {
            crate::enrolment::make_code(
                &config,
                &key,
                &mut web.hub.store(),
                &account,
                mail,
                chrono::Duration::hours(CODE_HOURS),
            )
        })
        .await;
    match made {
        Some(Ok(code)) => {
            tracing::info!(admin = %viewer.account, account = %request.account, "board: enrolment code made");
            let svg = qrcode::QrCode::new(code.as_bytes())
                .map(|q| {
                    q.render::<qrcode::render::svg::Color<'_>>()
                        .min_dimensions(240, 240)
                        .build()
                })
                .unwrap_or_default();
            let image = format!(
                "data:image/svg+xml;base64,{}",
                base64::engine::general_purpose::STANDARD.encode(svg)
            );
            let expires = (Utc::now() + chrono::Duration::hours(CODE_HOURS)).to_rfc3339();
            let mut response =
                Json(serde_json::json!({ "link": code, "qr": image, "expires": expires }))
                    .into_response();
            no_store(&mut response);
            response
        }
        Some(Err(e)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(serde_json::json!({ "error": e.to_string() })),
        )
            .into_response(),
        None => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub struct Revoke {
    account: String,
    id: i64,
}

/// POST /api/phones/revoke: one phone of one person revoked; its next mail
/// is refused.
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
    let (account, id) = (request.account.clone(), request.id);
    let done = web
        .blocking(move |web| {
            web.hub
                .store()
                .transaction(|tx| tx.revoke_device(&account, id, Utc::now()))
        })
        .await;
    match done {
        Some(Ok(revoked)) => {
            tracing::info!(admin = %viewer.account, account = %request.account, device = request.id, revoked, "board: phone revoked");
            Json(serde_json::json!({ "revoked": revoked })).into_response()
        }
        _ => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}
