//! The board's pages and files: the board itself (a static page whose
//! script reads `/api/board` and the stream), the sign-in pages and their
//! notices in the browser's language, the script, style and map, and strict
//! headers on every answer — a Content-Security-Policy that allows only this
//! server's own script and style, no framing, a referrer only to this server
//! (a sign-in link in a Referer elsewhere would be a key in someone's log;
//! `no-referrer` would also make browsers send `Origin: null` with our own
//! forms), HSTS over HTTPS — and a deadline on every request.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use mailpresence_protocol::summary::Lang;

use super::html::escape;
use super::session::{self, no_store};
use super::state::Web;

const BOARD_HTML: &str = include_str!("../../web/board.html");
const BOARD_JS: &str = include_str!("../../web/board.js");
const MAP_JS: &str = include_str!("../../web/map.js");
const OWN_JS: &str = include_str!("../../web/own.js");
const OFFICE_JS: &str = include_str!("../../web/office.js");
const TV_JS: &str = include_str!("../../web/tv.js");
const DISPLAYS_JS: &str = include_str!("../../web/displays.js");
const BOARD_CSS: &str = include_str!("../../web/board.css");
const MEMO_JS: &str = include_str!("../../web/memo.js");
const FIND_JS: &str = include_str!("../../web/find.js");
const BACK_JS: &str = include_str!("../../web/back.js");
const MEMO_CSS: &str = include_str!("../../web/memo.css");
const PAGE_HTML: &str = include_str!("../../web/page.html");
const PHONES_JS: &str = include_str!("../../web/phones.js");

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The language of a page: the browser's first choice of Japanese or
/// English, else the server's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLang(pub Lang);

impl PageLang {
    pub fn of(web: &Web, headers: &HeaderMap) -> Self {
        let first = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(|v| v.trim().to_ascii_lowercase());
        match first.as_deref() {
            Some(l) if l.starts_with("ja") => Self(Lang::Ja),
            Some(l) if l.starts_with("en") => Self(Lang::En),
            _ => Self(web.language),
        }
    }

    pub(super) fn pick(self, ja: &'static str, en: &'static str) -> &'static str {
        match self.0 {
            Lang::Ja => ja,
            Lang::En => en,
        }
    }

    pub fn code(self) -> &'static str {
        self.pick("ja", "en")
    }
}

/// The sentences of the sign-in pages.
#[derive(Debug, Clone, Copy)]
pub enum Notice {
    LinkSent,
    LinkInvalid,
    NoMailSignIn,
    TryLater,
    NotFound,
}

impl Notice {
    fn text(self, lang: PageLang) -> (&'static str, &'static str) {
        match self {
            Notice::LinkSent => (
                lang.pick("メールを確認してください", "Check your mail"),
                lang.pick(
                    "登録されているアドレスであれば、サインイン用のリンクを送信しました。リンクは一度だけ、短い時間のみ有効です。",
                    "If the address is registered, a sign-in link is on its way. It works once, for a short time.",
                ),
            ),
            Notice::LinkInvalid => (
                lang.pick("リンクが無効です", "This link no longer works"),
                lang.pick(
                    "このリンクは期限切れか、すでに使われています。サインインのページから新しいリンクを送ってください。",
                    "The link has expired or was used already. Ask for a new one on the sign-in page.",
                ),
            ),
            Notice::NoMailSignIn => (
                lang.pick("メールでのサインインは使えません", "Sign-in by mail is off"),
                lang.pick("社内のシングルサインオンからアクセスしてください。", "Open the board through your company's single sign-on."),
            ),
            Notice::TryLater => (
                lang.pick("しばらくしてから再度お試しください", "Please try again shortly"),
                lang.pick("サーバーが一時的に応答できません。", "The server cannot answer right now."),
            ),
            Notice::NotFound => (lang.pick("ページがありません", "No such page"), ""),
        }
    }
}

/// A small page of the sign-in flow: a heading, a sentence, and perhaps a form.
pub(super) fn page(lang: PageLang, title: &str, text: &str, form: &str) -> String {
    PAGE_HTML
        .replace("{lang}", lang.code())
        .replace("{title}", &escape(title))
        .replace("{text}", &escape(text))
        .replace("{form}", form)
        .replace(
            "{back}",
            lang.pick("サインインのページへ", "To the sign-in page"),
        )
}

pub fn notice(lang: PageLang, status: StatusCode, notice: Notice) -> Response {
    let (title, text) = notice.text(lang);
    (status, Html(page(lang, title, text, ""))).into_response()
}

/// GET /: the board for someone signed in, else the sign-in page.
pub async fn board(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if session::viewer(&web, &headers, peer).await.is_none() {
        return Redirect::to("/login").into_response();
    }
    let lang = PageLang::of(&web, &headers);
    let mut response = Html(BOARD_HTML.replace("{lang}", lang.code())).into_response();
    no_store(&mut response);
    response
}

/// GET /login: the address form.
pub async fn sign_in_form(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    let lang = PageLang::of(&web, &headers);
    if !web.config.mail_sign_in {
        return notice(lang, StatusCode::NOT_FOUND, Notice::NoMailSignIn);
    }
    let form = format!(
        r#"<form method="post" action="/login"><label for="address">{}</label><input id="address" name="address" type="email" autocomplete="email" required autofocus><button type="submit">{}</button></form>"#,
        lang.pick("メールアドレス", "Mail address"),
        lang.pick("サインイン用リンクを送る", "Mail me a sign-in link"),
    );
    let title = lang.pick("在席ボードにサインイン", "Sign in to the presence board");
    let text = lang.pick(
        "会社に登録されているメールアドレスを入力してください。サインイン用のリンクをお送りします。",
        "Enter the mail address your company registered; a sign-in link will be mailed to it.",
    );
    Html(page(lang, title, text, &form)).into_response()
}

/// GET /login/{token}: a button, not a sign-in: mail scanners open links,
/// and opening must not use the link up.
pub async fn confirm_link(
    State(web): State<Arc<Web>>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let lang = PageLang::of(&web, &headers);
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return notice(lang, StatusCode::GONE, Notice::LinkInvalid);
    }
    let form = format!(
        r#"<form method="post" action="/login/{token}"><button type="submit" autofocus>{}</button></form>"#,
        lang.pick("サインインする", "Sign in"),
    );
    let title = lang.pick("在席ボードにサインイン", "Sign in to the presence board");
    let mut response = Html(page(lang, title, "", &form)).into_response();
    no_store(&mut response);
    response
}

/// GET /static/{file}: the board's scripts and style.
pub async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "board.js" => (BOARD_JS, "text/javascript; charset=utf-8"),
        "own.js" => (OWN_JS, "text/javascript; charset=utf-8"),
        "office.js" => (OFFICE_JS, "text/javascript; charset=utf-8"),
        "tv.js" => (TV_JS, "text/javascript; charset=utf-8"),
        "displays.js" => (DISPLAYS_JS, "text/javascript; charset=utf-8"),
        "map.js" => (MAP_JS, "text/javascript; charset=utf-8"),
        "phones.js" => (PHONES_JS, "text/javascript; charset=utf-8"),
        "board.css" => (BOARD_CSS, "text/css; charset=utf-8"),
        "memo.js" => (MEMO_JS, "text/javascript; charset=utf-8"),
        "find.js" => (FIND_JS, "text/javascript; charset=utf-8"),
        "back.js" => (BACK_JS, "text/javascript; charset=utf-8"),
        "memo.css" => (MEMO_CSS, "text/css; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// GET /api/map.svg: the prefectures (public map data, cached a day).
pub async fn map_svg(State(web): State<Arc<Web>>) -> Response {
    match &web.map {
        Some(map) => (
            [
                (header::CONTENT_TYPE, "image/svg+xml; charset=utf-8"),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            map.svg().to_string(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

pub async fn not_found(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    notice(
        PageLang::of(&web, &headers),
        StatusCode::NOT_FOUND,
        Notice::NotFound,
    )
}

/// A request (its body included) must be read and answered within this; a
/// stream's answer is its head, so streams are not cut by it.
const REQUEST_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// Strict headers on every answer, and the request's deadline: a client that
/// announces a body and never sends it holds a connection only this long.
pub async fn security_headers(
    State(web): State<Arc<Web>>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = match tokio::time::timeout(REQUEST_DEADLINE, next.run(request)).await {
        Ok(response) => response,
        Err(_) => StatusCode::REQUEST_TIMEOUT.into_response(),
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if web.config.is_https() {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    response
}
