//! Signing in to the board and out again: POST /login mails a one-time
//! sign-in link to the person's registered address, the link's button turns
//! it into a session (see `session`), POST /logout ends the session.
//!
//! Links live in the store under the SHA-256 of their secret, so a copy of
//! the database signs nobody in; a link works once, for `link_minutes`.
//! Asking for a link answers the same whether the address is known or not,
//! and whether a mail went out; `limits` bounds requests per source and
//! mails per person before any store work. Store work runs off the async
//! workers, and signing out ends the session's open streams at once.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use axum::Form;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};

use super::pages::{self, PageLang};
use super::session::{self, Refused, check_change, check_origin, is_token, secret_key};
use super::state::Web;
use crate::admission::LogThrottle;
use crate::directory::Person;
use crate::hex::to_hex as hex;
use crate::store::StoreError;

const LINK_KIND: &str = "web-link";

#[derive(Debug, Serialize, Deserialize)]
struct LinkRecord {
    account: String,
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
    if address.len() <= 254 {
        ask_for_link(&web, &address, client_ip(&web, &headers, peer));
    }
    // The same answer whatever happened: nobody learns who is registered,
    // nor whether a mail went out.
    pages::notice(lang, StatusCode::OK, pages::Notice::LinkSent)
}

/// Mails `address` a link when the limits allow. The limits are looked at
/// in memory first, so a refused request, or one for an address that is
/// nobody's, costs no store work and leaves nothing stored. The store work
/// is not waited for: every answer comes as fast, so its time does not
/// tell a registered address from another.
fn ask_for_link(web: &Arc<Web>, address: &str, client: IpAddr) {
    let now = Instant::now();
    if !web.sign_in.admit_source(client, now) {
        if let Some(held) = REFUSALS.ready() {
            tracing::warn!(ip = %client, held_back = held, "sign-in links: too many requests from this source this hour");
        }
        return;
    }
    let Some(person) = web.hub.directory().by_mail(address).cloned() else {
        tracing::debug!("sign-in link asked for an address that is nobody's");
        return;
    };
    // One mail per gap: the link already sent (still live) is the one to use.
    if !web.sign_in.claim_mail(&person.account, now) {
        tracing::debug!(account = %person.account, "sign-in link: one was mailed a moment ago");
        return;
    }
    let web = web.clone();
    // At most one such task per person per gap.
    tokio::task::spawn_blocking(move || {
        let queued = queue_link(&web, &person).unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot queue a sign-in link");
            false
        });
        if !queued {
            web.sign_in.release_mail(&person.account, now);
        }
    });
}

/// Log lines about refused sources: one in a while, however many come.
static REFUSALS: LazyLock<LogThrottle> =
    LazyLock::new(|| LogThrottle::new(std::time::Duration::from_secs(10)));

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

/// Stores a new link for `person` and queues its mail, in one transaction;
/// `false` when the person has no address a mail can go to.
fn queue_link(web: &Web, person: &Person) -> Result<bool, StoreError> {
    let Some(address) = person.mail.as_deref() else {
        return Ok(false);
    };
    let token = hex(&rand::random::<[u8; 32]>());
    let Some(raw) = link_mail(web, person, &token) else {
        return Ok(false);
    };
    let now = Utc::now();
    let record = serde_json::to_string(&LinkRecord {
        account: person.account.to_string(),
    })
    .unwrap_or_default();
    let expires = now + Duration::minutes(i64::from(web.config.link_minutes));
    web.hub
        .store()
        .transaction(|tx| -> Result<(), StoreError> {
            tx.expire_records(now)?;
            // Counts an older version kept in the store; forgotten within the hour.
            tx.forget_sign_in_counts(now - Duration::hours(1))?;
            tx.put_record(LINK_KIND, &secret_key(&token), &record, expires)?;
            tx.enqueue_mail(&web.hub.address, address, &raw, None, now)?;
            Ok(())
        })?;
    tracing::info!(account = %person.account, "sign-in link queued");
    web.hub.outbox_wake.notify_one();
    Ok(true)
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
    let hours = i64::from(web.config.session_hours);
    let looked_up = if is_token(&token) {
        web.blocking(move |web| sign_in_once(web, &token, hours))
            .await
    } else {
        None
    };
    let signed_in = match looked_up {
        Some(signed_in) => signed_in,
        None => {
            return pages::notice(
                lang,
                StatusCode::SERVICE_UNAVAILABLE,
                pages::Notice::TryLater,
            );
        }
    };
    match signed_in {
        Ok(Some((account, session_token))) => {
            tracing::info!(%account, "signed in to the board");
            super::office_clock::at_sign_in(&web, &account).await;
            (
                StatusCode::SEE_OTHER,
                [
                    (header::LOCATION, "/".to_owned()),
                    (
                        header::SET_COOKIE,
                        session::session_cookie(&session_token, hours),
                    ),
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

/// Turns the link `token` into a session, in one transaction: the account
/// and the session's secret, or `None` when the link is unknown or used.
fn sign_in_once(
    web: &Web,
    token: &str,
    hours: i64,
) -> Result<Option<(String, String)>, StoreError> {
    let now = Utc::now();
    web.hub.store().transaction(|tx| {
        let key = secret_key(token);
        let Some(text) = tx.live_record(LINK_KIND, &key, now)? else {
            return Ok(None);
        };
        // Used once: gone before the session exists, in one transaction.
        tx.delete_record(LINK_KIND, &key)?;
        let Ok(link) = serde_json::from_str::<LinkRecord>(&text) else {
            return Ok(None);
        };
        let session_token = session::start_session(tx, &link.account, now, hours)?;
        Ok(Some((link.account, session_token)))
    })
}

/// POST /logout: ends the session (a change like any other: CSRF checked).
pub async fn sign_out(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let viewer = match check_change(&web, &headers, peer).await {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    if let Some(Err(e)) = web
        .blocking(move |web| session::end_session(web, &viewer))
        .await
    {
        tracing::error!(error = %e, "cannot end a session");
    }
    (
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, session::cleared_cookie())],
    )
        .into_response()
}
