//! The board's 伝言メモ requests: a desk worker leaves a memo for a colleague
//! who is out (POST /api/memos), and the colleague (or its taker) clears it
//! (POST /api/memos/clear). A memo left is stored, mailed to the colleague
//! as a signed `Memo` mail when they have a mail address (their phone shows
//! it), and shown on their row on every open board at once; a cleared one
//! leaves the rows the same way. `memos` keeps them and their bounds.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{Local, Utc};
use mailpresence_protocol::memo::Memo;
use mailpresence_protocol::model::AccountName;
use serde::Deserialize;

use super::session::{self, Refused};
use super::state::Web;
use crate::directory::Access;
use crate::hex::to_hex;
use crate::memos::{LeaveError, MemoBoard, StoredMemo};
use crate::store::{Database, PresenceRecord, Store, StoreError};

/// A memo as the board's form sends it.
#[derive(Debug, Deserialize)]
pub struct NewMemo {
    /// The colleague's account.
    #[serde(rename = "for")]
    recipient: String,
    caller: String,
    #[serde(default)]
    callback: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// Which memo to clear.
#[derive(Debug, Deserialize)]
pub struct ClearMemo {
    account: String,
    id: String,
}

fn refused(status: StatusCode, error: impl std::fmt::Display) -> Response {
    (
        status,
        Json(serde_json::json!({ "error": error.to_string() })),
    )
        .into_response()
}

/// POST /api/memos: leaves a memo (CSRF and origin checked).
pub async fn leave(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(new): Json<NewMemo>,
) -> Response {
    let viewer = match session::check_change(&web, &headers, peer).await {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let directory = web.hub.directory();
    let Some(taker) = directory.person(&viewer.account).cloned() else {
        return Refused::NotSignedIn.into_response();
    };
    // Someone the viewer cannot see is not on their board: no memo either,
    // and the same answer as for nobody at all.
    let recipient = new.recipient.parse::<AccountName>().ok().filter(|a| {
        *a != viewer.account && directory.access(&viewer.account, a) != Access::Nothing
    });
    let Some(person) = recipient.and_then(|a| directory.person(&a).cloned()) else {
        return refused(StatusCode::NOT_FOUND, "no such colleague on your board");
    };
    let memo = Memo {
        recipient: person.account.clone(),
        id: to_hex(&rand::random::<[u8; 8]>()),
        taken_by: if taker.name.trim().is_empty() {
            taker.account.to_string()
        } else {
            taker.name.clone()
        },
        taken_at: Local::now().fixed_offset(),
        caller: new.caller,
        callback: new.callback,
        message: new.message,
    };
    let memo = match memo.checked() {
        Ok(m) => m,
        Err(e) => return refused(StatusCode::UNPROCESSABLE_ENTITY, e),
    };
    let account = person.account.clone();
    let mail_to = person.mail.clone();
    let left = web
        .blocking(move |web| {
            let now = Utc::now();
            let hub = &web.hub;
            let mut store = hub.store();
            let done = announced(
                &mut store,
                &hub.instance,
                &memo.recipient,
                |tx| -> Result<_, LeaveError> {
                    let memos = MemoBoard::leave(tx, memo.clone(), &viewer.account, now)?;
                    let mailed = match &mail_to {
                        Some(to) => crate::mail::memo::queue_memo(
                            tx,
                            &memo,
                            to,
                            &hub.address,
                            hub.signing_key(),
                            now,
                        )?,
                        None => false,
                    };
                    Ok((memos, tx.presence(&memo.recipient)?, mailed))
                },
            );
            if let Ok((memos, record, _)) = &done {
                settle(web, &memo.recipient, memos.clone(), record.clone());
            }
            drop(store);
            if let Ok((_, _, true)) = &done {
                hub.outbox_wake.notify_one();
            }
            done.map(|(memos, _, mailed)| (memos.len(), mailed))
        })
        .await;
    match left {
        Some(Ok((waiting, mailed))) => {
            tracing::info!(%account, waiting, mailed, "board: memo left");
            Json(serde_json::json!({ "waiting": waiting, "mailed": mailed })).into_response()
        }
        Some(Err(e @ (LeaveError::Full(_) | LeaveError::TooMany(_)))) => {
            refused(StatusCode::TOO_MANY_REQUESTS, e)
        }
        Some(Err(LeaveError::Store(e))) => {
            tracing::error!(error = %e, "board: cannot store a memo");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
        None => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// POST /api/memos/clear: the colleague (or the taker) clears a memo.
pub async fn clear(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(which): Json<ClearMemo>,
) -> Response {
    let viewer = match session::check_change(&web, &headers, peer).await {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let Ok(person) = which.account.parse::<AccountName>() else {
        return refused(StatusCode::NOT_FOUND, "no such memo");
    };
    let cleared = web
        .blocking(move |web| {
            let now = Utc::now();
            let mut store = web.hub.store();
            let done = announced(&mut store, &web.hub.instance, &person, |tx| {
                let Some(memos) = MemoBoard::clear(tx, &viewer.account, &person, &which.id, now)?
                else {
                    return Ok(None);
                };
                Ok::<_, StoreError>(Some((memos, tx.presence(&person)?)))
            });
            if let Ok(Some((memos, record))) = &done {
                settle(web, &person, memos.clone(), record.clone());
            }
            done.map(|d| d.is_some())
        })
        .await;
    match cleared {
        Some(Ok(true)) => StatusCode::NO_CONTENT.into_response(),
        Some(Ok(false)) => refused(StatusCode::NOT_FOUND, "no such memo"),
        Some(Err(e)) => {
            tracing::error!(error = %e, "board: cannot clear a memo");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
        None => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// Runs `f` in one transaction which, on a store shared by instances, tells
/// the others that `person`'s row changed: they read its memos again.
fn announced<T, E: From<StoreError>>(
    store: &mut Database,
    instance: &str,
    person: &AccountName,
    f: impl FnOnce(&mut dyn Store) -> Result<T, E>,
) -> Result<T, E> {
    let mut batch = store.batch()?;
    let value = batch.step(f)?;
    batch.announce(instance, &[person.as_str()])?;
    batch.commit()?;
    Ok(value)
}

/// After the commit, under the store's lock (so rows change in commit
/// order): the memos in memory, and the row on every open board.
fn settle(web: &Web, person: &AccountName, memos: Vec<StoredMemo>, record: Option<PresenceRecord>) {
    web.hub.memos.settle(person, memos);
    web.hub.feed.push_person(person.clone(), record);
}
