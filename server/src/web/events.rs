//! The board's live stream (Server-Sent Events): each committed change of a
//! person the viewer may see, as that viewer's row, within the moment it is
//! committed; nothing about anyone the rules hide. The page opens the stream
//! with `?after=` the board it read; a browser that reconnects sends
//! `Last-Event-ID`; either way it gets what it missed, or a `reset` (the
//! server restarted, or it was away too long) and reloads the board.
//!
//! A stream lasts no longer than what let it in, whatever the board's
//! traffic: signing out ends the session's streams at once, and every
//! `session_recheck` (30 s) a stream checks that its session is still live
//! (not expired). A proxy user's stream ends after ten checks, and the
//! browser comes back through the proxy, which checks its sign-on again.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use futures::Stream;
use mailpresence_protocol::model::AccountName;
use tokio::sync::{broadcast, watch};
use tokio::time::{Instant, Interval, MissedTickBehavior};

use super::rows::row;
use super::session::{self, Refused, no_store};
use super::state::{StreamSlot, Web};
use crate::feed::{Change, Missed};

/// A comment line this often keeps proxies and NAT from dropping a quiet stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// A proxy user's stream lasts this many session checks.
const PROXY_USER_CHECKS: u32 = 10;
/// How soon a browser reconnects after the stream drops; the page greys
/// its rows out when this passes without a stream.
pub(super) const RETRY_MS: u64 = 2000;

/// The server's shutdown, so that streams end with it.
#[derive(Debug, Clone)]
pub struct Shutdown(pub watch::Receiver<bool>);

#[derive(Debug, serde::Deserialize)]
pub struct After {
    /// The `last_event` of the board the page read.
    after: Option<String>,
}

/// GET /api/events[?after=RUN-ID].
pub async fn stream(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(Shutdown(shutdown)): Extension<Shutdown>,
    Query(query): Query<After>,
    headers: HeaderMap,
) -> Response {
    let Some(viewer) = session::viewer(&web, &headers, peer).await else {
        return Refused::NotSignedIn.into_response();
    };
    let Some(slot) = web.stream_slot(viewer.account.as_str()) else {
        tracing::warn!(
            open = web.open_streams(),
            "board: too many open streams; one refused"
        );
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let sent = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .or(query.after.as_deref());
    let after = sent.map(|id| web.hub.feed.change_number(id));
    let (receiver, missed) = web.hub.feed.subscribe(after.unwrap_or(None));
    let missed = match (after, missed) {
        // Another run's id, or too far back: the browser reloads the board.
        (Some(None), _) | (_, Missed::TooOld) => None,
        (_, Missed::Changes(c)) => Some(c),
    };
    let every = web.session_recheck;
    // Streams opened together (after a restart) check at scattered times,
    // so their store reads and reconnects do not come in one burst.
    let first = Instant::now() + every + every.mul_f64(rand::random::<f64>());
    let mut recheck = tokio::time::interval_at(first, every);
    recheck.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let session = viewer.session().map(str::to_owned);
    let state = Viewing {
        web: web.clone(),
        proxy_user_until: session
            .is_none()
            .then(|| first + every * (PROXY_USER_CHECKS - 1)),
        session,
        recheck,
        signed_out: web.signed_out.subscribe(),
        viewer: viewer.account,
        pending: missed.map(|c| c.into_iter().collect()),
        receiver,
        shutdown,
        last_sent: after.flatten().unwrap_or(0),
        _slot: slot,
    };
    let mut response = Sse::new(events(state))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    no_store(&mut response);
    // Tell nginx and similar proxies not to buffer the stream.
    response.headers_mut().insert(
        "x-accel-buffering",
        axum::http::HeaderValue::from_static("no"),
    );
    response
}

struct Viewing {
    web: Arc<Web>,
    /// The session behind the stream (none for a proxy's user): a stream
    /// ends when its session does (signed out, expired).
    session: Option<String>,
    /// When a proxy user's stream ends, so that the proxy checks them again.
    proxy_user_until: Option<Instant>,
    recheck: Interval,
    /// Sessions signed out just now.
    signed_out: broadcast::Receiver<String>,
    viewer: AccountName,
    /// Changes to send first: missed ones, or `None` to send a reset first.
    pending: Option<std::collections::VecDeque<Change>>,
    receiver: broadcast::Receiver<Change>,
    shutdown: watch::Receiver<bool>,
    /// Changes up to this id were sent (or were in the board the page read).
    last_sent: u64,
    _slot: StreamSlot,
}

fn events(state: Viewing) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold(state, |mut s| async move {
        let event = s.next_event().await?;
        Some((Ok(event), s))
    })
}

/// What woke a waiting stream.
enum Woken {
    Change(Change),
    /// Send a reset: the stream fell behind.
    Reset,
    /// Check that the viewer is still signed in.
    Recheck,
    /// The session, the server or the feed ended.
    End,
}

impl Viewing {
    /// The next event for this viewer; `None` ends the stream.
    async fn next_event(&mut self) -> Option<Event> {
        loop {
            let change = match self.pending.as_mut() {
                None => {
                    self.pending = Some(Default::default());
                    return Some(reset());
                }
                Some(p) => p.pop_front(),
            };
            let change = match change {
                Some(c) => c,
                None => match self.wait().await {
                    Woken::Change(c) => c,
                    Woken::Reset => return Some(reset()),
                    Woken::Recheck if self.still_signed_in().await => continue,
                    Woken::Recheck | Woken::End => return None,
                },
            };
            if change.id <= self.last_sent {
                continue;
            }
            self.last_sent = change.id;
            if let Some(event) = self.person_event(&change) {
                return Some(event);
            }
        }
    }

    /// Waits for a change, a sign-out, the time to check the session, or
    /// the server's shutdown.
    async fn wait(&mut self) -> Woken {
        loop {
            if *self.shutdown.borrow() {
                return Woken::End;
            }
            tokio::select! {
                received = self.receiver.recv() => return match received {
                    Ok(c) => Woken::Change(c),
                    // Too slow to keep up: start afresh rather than skip silently.
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        self.receiver = self.receiver.resubscribe();
                        Woken::Reset
                    }
                    Err(broadcast::error::RecvError::Closed) => Woken::End,
                },
                ended = self.signed_out.recv() => match ended {
                    Ok(key) if self.session.as_ref() == Some(&key) => return Woken::End,
                    // Someone else's session.
                    Ok(_) => {}
                    // Missed some sign-outs: ask the store.
                    Err(broadcast::error::RecvError::Lagged(_)) => return Woken::Recheck,
                    Err(broadcast::error::RecvError::Closed) => return Woken::End,
                },
                _ = self.recheck.tick() => return Woken::Recheck,
                _ = self.shutdown.changed() => return Woken::End,
            }
        }
    }

    /// Whether the stream's viewer is still signed in: their session is
    /// live in the store, or a proxy user's time is not up.
    async fn still_signed_in(&self) -> bool {
        if let Some(until) = self.proxy_user_until {
            return Instant::now() < until;
        }
        let Some(key) = self.session.clone() else {
            return false;
        };
        self.web
            .blocking(move |web| session::session_alive(web, &key))
            .await
            .unwrap_or(false)
    }

    /// The change as this viewer's row, or nothing when the rules hide the
    /// person: no event, no id, no name.
    fn person_event(&self, change: &Change) -> Option<Event> {
        let directory = self.web.hub.directory();
        let person = directory.person(&change.account)?;
        let row = row(
            &self.web,
            &self.viewer,
            person,
            change.record.as_deref(),
            Utc::now(),
        )?;
        let data = serde_json::to_string(&row).ok()?;
        Some(
            Event::default()
                .event("person")
                .id(self.web.hub.feed.event_id(change.id))
                .retry(Duration::from_millis(RETRY_MS))
                .data(data),
        )
    }
}

fn reset() -> Event {
    Event::default()
        .event("reset")
        .retry(Duration::from_millis(RETRY_MS))
        .data("{}")
}
