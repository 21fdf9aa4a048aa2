//! The presence board in the browser (在席確認 / 行き先掲示板) for desk staff:
//! one row per colleague with state, place, expected return, note and the
//! time of the last update, kept live over Server-Sent Events; desk staff set
//! their own state here, which is the same record a SIP PUBLISH writes. Who
//! is looking is proven by a one-time link mailed to the person's address,
//! or by the company's single sign-on proxy; the who-may-see-whom rules apply
//! to every row and every event, exactly as to mail and SIP.
//!
//! `auth` signs people in and checks every change (sessions, CSRF); `rows`
//! turns presence records into what one viewer may see and takes a desk
//! worker's own change; `events` streams the changes; `pages` serves the
//! HTML, script and style with strict headers; `map` draws the prefectures
//! and places towns; `listen` accepts HTTP or HTTPS connections.

mod auth;
mod events;
mod listen;
mod map;
mod pages;
mod rows;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use mailpresence_protocol::summary::Lang;
use tokio::sync::watch;

use crate::config::WebConfig;
use crate::hub::Hub;

pub use listen::{Listening, bind};

/// The supervisor's name for the board's loop.
pub const LOOP: &str = "web";

/// Requests carry a few fields at most: a sign-in address, a state.
const MAX_BODY_BYTES: usize = 16 * 1024;
/// Board streams one person may hold open (tabs, a phone, a wall screen).
const STREAMS_PER_ACCOUNT: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("cannot listen for the board on {0}: {1}")]
    Listen(std::net::SocketAddr, std::io::Error),
    #[error("board HTTPS: {0}")]
    Tls(#[from] crate::tls::TlsSetupError),
    #[error("board map: {0}")]
    Map(#[from] map::MapError),
}

/// What every handler shares.
#[derive(Debug)]
pub struct Web {
    hub: Arc<Hub>,
    config: WebConfig,
    /// The language of pages for a browser that states no preference.
    language: Lang,
    /// Board streams open now (bounded by `max_streams`), and per person.
    streams: AtomicUsize,
    streams_of: Mutex<HashMap<String, usize>>,
    /// Derives the CSRF token of people signed in by the proxy; new each run.
    secret: [u8; 32],
    map: Option<map::BoardMap>,
}

impl Web {
    /// Reads the map pack, if one is configured (a few hundred ms, once).
    pub fn new(hub: Arc<Hub>, config: WebConfig, language: Lang) -> Result<Arc<Self>, WebError> {
        let map = config
            .map_pack
            .as_deref()
            .map(map::BoardMap::load)
            .transpose()?;
        Ok(Arc::new(Self {
            hub,
            config,
            language,
            streams: AtomicUsize::new(0),
            streams_of: Mutex::new(HashMap::new()),
            secret: rand::random(),
            map,
        }))
    }

    /// A place for one more stream of `account`, or `None` when `max_streams`
    /// are open, or this person's [`STREAMS_PER_ACCOUNT`].
    fn stream_slot(self: &Arc<Self>, account: &str) -> Option<StreamSlot> {
        let mut per = self.streams_of.lock().unwrap_or_else(|p| p.into_inner());
        let mine = per.entry(account.to_owned()).or_insert(0);
        if *mine >= STREAMS_PER_ACCOUNT {
            return None;
        }
        let open = self.streams.fetch_add(1, Ordering::SeqCst);
        if open >= self.config.max_streams {
            self.streams.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        *mine += 1;
        Some(StreamSlot(self.clone(), account.to_owned()))
    }

    /// Board streams open now.
    pub fn open_streams(&self) -> usize {
        self.streams.load(Ordering::SeqCst)
    }
}

/// Frees its place among the open streams when the stream ends.
#[derive(Debug)]
struct StreamSlot(Arc<Web>, String);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.streams.fetch_sub(1, Ordering::SeqCst);
        let mut per = self.0.streams_of.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = per.get_mut(&self.1) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                per.remove(&self.1);
            }
        }
    }
}

/// Every route of the board.
pub fn router(web: Arc<Web>, shutdown: watch::Receiver<bool>) -> Router {
    Router::new()
        .route("/", get(pages::board))
        .route("/login", get(pages::sign_in_form).post(auth::request_link))
        .route(
            "/login/{token}",
            get(pages::confirm_link).post(auth::use_link),
        )
        .route("/logout", post(auth::sign_out))
        .route("/api/board", get(rows::board))
        .route("/api/me", post(rows::set_own))
        .route("/api/events", get(events::stream))
        .route("/api/map.svg", get(map::svg))
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
