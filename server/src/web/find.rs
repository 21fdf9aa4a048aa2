//! Finding people on the board (GET /api/find?q=): the colleagues the viewer
//! sees whom a query finds by name, reading (ひらがな, カタカナ, romaji),
//! account, extension or department — the phone's directory search
//! (`mailpresence_protocol::people::Search`) over the same search texts the
//! server answers a phone's Directory mail with, so board and phone find
//! the same people.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use mailpresence_protocol::mail::MAX_QUERY_CHARS;
use mailpresence_protocol::people::Search;
use serde::Deserialize;

use super::session::{self, Refused, no_store};
use super::state::Web;
use crate::directory::{Access, people::search_texts};

#[derive(Debug, Deserialize)]
pub struct FindQuery {
    #[serde(default)]
    q: String,
}

/// GET /api/find?q=: `{ "accounts": [...] }`, in the directory's order.
pub async fn find(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<FindQuery>,
    headers: HeaderMap,
) -> Response {
    let Some(viewer) = session::viewer(&web, &headers, peer).await else {
        return Refused::NotSignedIn.into_response();
    };
    let q: String = query.q.chars().take(MAX_QUERY_CHARS).collect();
    let search = Search::new(&q);
    let directory = web.hub.directory();
    let accounts: Vec<&str> = directory
        .people()
        .iter()
        .zip(search_texts(&directory))
        .filter(|(_, text)| search.finds(text))
        .filter(|(p, _)| directory.access(&viewer.account, &p.account) != Access::Nothing)
        .map(|(p, _)| p.account.as_str())
        .collect();
    let mut response = Json(serde_json::json!({ "q": q, "accounts": accounts })).into_response();
    no_store(&mut response);
    response
}
