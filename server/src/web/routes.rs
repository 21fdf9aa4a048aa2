//! The board's route table: which handler answers which path, the body
//! limit, and the strict headers and request deadline on every answer.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tokio::sync::watch;

use super::state::Web;
use super::{events, find, memo, pages, phones, rows, sign_in, tv};

/// Requests carry a few fields at most: a sign-in address, a state.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// Every route of the board.
pub fn router(web: Arc<Web>, shutdown: watch::Receiver<bool>) -> Router {
    Router::new()
        .route("/", get(pages::board))
        .route(
            "/login",
            get(pages::sign_in_form).post(sign_in::request_link),
        )
        .route(
            "/login/{token}",
            get(pages::confirm_link).post(sign_in::use_link),
        )
        .route("/logout", post(sign_in::sign_out))
        .route("/api/board", get(rows::board))
        .route("/api/me", post(rows::set_own))
        .route("/api/events", get(events::stream))
        .route("/api/memos", post(memo::leave))
        .route("/api/memos/clear", post(memo::clear))
        .route("/api/find", get(find::find))
        .route("/api/map.svg", get(pages::map_svg))
        .route("/api/map/towns", get(rows::map_towns))
        .route("/phones", get(phones::page))
        .route("/api/phones", get(phones::list))
        .route("/api/phones/code", post(phones::make_code))
        .route("/api/phones/revoke", post(phones::revoke))
        .route("/tv", get(tv::page))
        .route("/tv/open/{token}", get(tv::confirm).post(tv::open))
        .route("/api/tv", get(tv::list).post(tv::issue))
        .route("/api/tv/revoke", post(tv::revoke))
        .route("/static/{file}", get(pages::asset))
        .fallback(pages::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            web.clone(),
            pages::security_headers,
        ))
        .layer(axum::Extension(events::Shutdown(shutdown)))
        .with_state(web)
}
