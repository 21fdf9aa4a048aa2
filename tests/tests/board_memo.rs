//! The board as an office's 行き先掲示板, in a real browser (Debian's headless
//! Chromium) against the real server, Dovecot and Postfix: a desk worker
//! leaves a 伝言メモ for a field worker, who finds it in their mailbox as a
//! Memo mail and on their row, and clears it there; the row's extension,
//! mobile and mail are links that call and write; people are found by their
//! reading in ひらがな, カタカナ and romaji and by extension, with the
//! viewer's own department first; "tell me when back" tells once when a
//! field worker's Publish mail makes them 在席.
//! With MAILPRESENCE_SCREENSHOTS=DIR it leaves board-memo.png there.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use fantoccini::Locator;
use mailpresence_e2e::browser::Browser;
use mailpresence_e2e::{World, wait_until};
use mailpresence_protocol::mail::{self, Limits, Outcome, PresenceMessage, Publish};
use mailpresence_protocol::model::{Activity, PresenceFields};

const HOP: Duration = Duration::from_secs(30);

fn row(account: &str, css: &str) -> String {
    format!("tr[data-account=\"{account}\"] {css}")
}

/// The accounts of the rows the board shows, top to bottom.
async fn shown(browser: &Browser) -> Vec<String> {
    let value = browser
        .run("return [...document.querySelectorAll('#board tbody tr[data-account]')].map((r) => r.dataset.account)")
        .await;
    serde_json::from_value(value).unwrap_or_default()
}

/// Waits until the page has an element matching `css`.
async fn has(browser: &Browser, css: &str) -> bool {
    wait_until(HOP, || async {
        browser.client.find(Locator::Css(css)).await.is_ok()
    })
    .await
}

async fn publish(world: &World, account: &str, activity: &str) {
    let mut fields =
        PresenceFields::new(world.mail_of(account), Activity::parse(activity).unwrap());
    fields.updated = Some(chrono::Utc::now().fixed_offset());
    let publish = PresenceMessage::Publish(Publish {
        publisher: account.parse().unwrap(),
        presence: fields,
    });
    world.send_presence(&world.mail_of(account), &publish).await;
}

async fn type_into(browser: &Browser, css: &str, text: &str) {
    let field = browser.client.find(Locator::Css(css)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_phone_message_left_on_the_board_reaches_the_field_worker_and_is_cleared_by_them() {
    let mut world = World::new(&["tanaka:営業部", "sato:総務部"])
        .describe(
            "tanaka",
            "name = \"田中 太郎\"\nreading = \"たなか たろう\"\nextension = \"2301\"\nmobile = \"090-1234-5678\"",
        )
        .describe("sato", "name = \"佐藤 一郎\"\nreading = \"さとう いちろう\"")
        .with_web();
    world.web_extra = "extension_uri = \"sip:{ext}@pbx.example.test\"".into();
    let server = world.start_server();
    let desk = Browser::start("ja").await;
    desk.sign_in(&world, "sato", "総務部").await;
    let field = Browser::start("ja").await;
    field.sign_in(&world, "tanaka", "営業部").await;

    // The contact links on tanaka's row, as the company calls them.
    let href = |css: String| {
        let desk = &desk;
        async move {
            desk.run(&format!(
                "const a = document.querySelector('{}'); return a ? a.getAttribute('href') : null",
                css.replace('\'', "\\'")
            ))
            .await
        }
    };
    assert_eq!(
        href(row("tanaka", "a.call-ext")).await,
        "sip:2301@pbx.example.test"
    );
    assert_eq!(
        href(row("tanaka", "a.call-mobile")).await,
        "tel:09012345678"
    );
    assert_eq!(
        href(row("tanaka", "a.mail")).await,
        format!("mailto:{}", world.mail_of("tanaka"))
    );
    assert!(
        desk.text(&row("tanaka", ".contact"))
            .await
            .contains("内線 2301")
    );

    // 電話がありました: sato leaves a memo for tanaka.
    desk.click(&row("tanaka", ".memo-leave")).await;
    type_into(&desk, "#memo-caller", "山田商事 山田様").await;
    type_into(&desk, "#memo-callback", "03-1234-5678").await;
    type_into(&desk, "#memo-message", "見積の件で折り返しお願いします").await;
    desk.click("#memo-send").await;
    assert!(
        desk.wait_for_text("#memo-said", "伝言を残し", HOP).await,
        "{}\n{}",
        desk.text("#memo-result").await,
        server.log_text()
    );
    assert!(
        desk.wait_for_text(&row("tanaka", ".memo-count"), "伝言 1件", HOP)
            .await
    );
    desk.screenshot("board-memo.png").await;
    // The taker reads what they took.
    assert!(
        desk.text(&row("tanaka", ".memo-caller"))
            .await
            .contains("山田商事")
    );

    // On tanaka's own board, live: the memo, with the number to call back.
    assert!(
        field
            .wait_for_text(
                &row("tanaka", ".memo-message"),
                "見積の件で折り返しお願いします",
                HOP
            )
            .await,
        "{}",
        field.text("#board").await
    );
    assert!(
        field
            .text(&row("tanaka", ".memo-taker"))
            .await
            .contains("佐藤 一郎")
    );
    assert_eq!(
        field
            .run(&format!(
                "return document.querySelector('{}').getAttribute('href')",
                row("tanaka", "a.memo-callback").replace('"', "\\\"")
            ))
            .await,
        "tel:0312345678"
    );

    // In tanaka's mailbox: one Memo mail (beside the sign-in link), read as the phone reads it.
    let mut mailbox = world.mailbox(&world.mail_of("tanaka")).await;
    let deadline = std::time::Instant::now() + HOP;
    while memos(&mailbox.all().await).is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let memos = memos(&mailbox.all().await);
    assert_eq!(memos.len(), 1, "one memo, one mail: {}", server.log_text());
    let memo = &memos[0];
    assert_eq!(memo.recipient.as_str(), "tanaka");
    assert_eq!(memo.caller, "山田商事 山田様");
    assert_eq!(memo.callback.as_deref(), Some("03-1234-5678"));
    assert_eq!(
        memo.message.as_deref(),
        Some("見積の件で折り返しお願いします")
    );
    assert_eq!(memo.taken_by, "佐藤 一郎");

    // tanaka clears it on the board; it leaves both boards.
    field.click(&row("tanaka", ".memo-clear")).await;
    assert!(
        no_memo_shown(&field).await,
        "{}",
        field.text("#board").await
    );
    assert!(no_memo_shown(&desk).await, "{}", desk.text("#board").await);
    desk.close().await;
    field.close().await;
}

/// Waits until tanaka's row shows no memo.
async fn no_memo_shown(browser: &Browser) -> bool {
    wait_until(HOP, || async {
        browser.text(&row("tanaka", ".memo-count")).await.is_empty()
            && browser.text(&row("tanaka", ".memo")).await.is_empty()
    })
    .await
}

/// The Memo mails among `raw` mails.
fn memos(raw: &[Vec<u8>]) -> Vec<mailpresence_protocol::memo::Memo> {
    raw.iter()
        .filter_map(|r| match mail::parse(r, Limits::default()).outcome {
            Outcome::Presence(PresenceMessage::Memo(m)) => Some(m),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn people_are_found_by_reading_and_extension_with_their_own_department_first() {
    let world = World::new(&[
        "yamada:営業部",
        "yamashita:営業部",
        "sato:総務部",
        "ito:総務部",
    ])
    .describe(
        "yamada",
        "name = \"山田 花子\"\nreading = \"やまだ はなこ\"\nextension = \"2301\"",
    )
    .describe(
        "yamashita",
        "name = \"山下 次郎\"\nreading = \"やました じろう\"\nextension = \"2302\"",
    )
    .describe(
        "sato",
        "name = \"佐藤 一郎\"\nreading = \"さとう いちろう\"",
    )
    .describe("ito", "name = \"伊藤 三郎\"\nreading = \"いとう さぶろう\"")
    .with_web();
    let _server = world.start_server();
    let browser = Browser::start("ja").await;
    browser.sign_in(&world, "sato", "総務部").await;
    // 総務部 (sato's own) before 営業部, which sorts first by name.
    let heads = browser
        .run(
            "return [...document.querySelectorAll('#board tr.group th')].map((t) => t.textContent)",
        )
        .await;
    assert_eq!(
        heads[0].as_str().unwrap_or_default(),
        "総務部 (2)",
        "{heads}"
    );
    assert_eq!(
        heads[1].as_str().unwrap_or_default(),
        "営業部 (2)",
        "{heads}"
    );

    for (query, wanted) in [
        ("やまだ", vec!["yamada"]),
        ("yamada", vec!["yamada"]),
        ("ヤマシタ", vec!["yamashita"]),
        ("2302", vec!["yamashita"]),
        ("はなこ", vec!["yamada"]),
        ("いとう", vec!["ito"]),
    ] {
        type_into(&browser, "#search", query).await;
        let found = wait_until(HOP, || async { shown(&browser).await == wanted }).await;
        assert!(found, "{query}: {:?}", shown(&browser).await);
    }
    type_into(&browser, "#search", "yama").await;
    let both = wait_until(HOP, || async {
        let mut rows = shown(&browser).await;
        rows.sort();
        rows == ["yamada", "yamashita"]
    })
    .await;
    assert!(both, "{:?}", shown(&browser).await);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tell_me_when_back_tells_once_when_a_field_worker_is_available() {
    let world = World::new(&["tanaka:営業部", "suzuki:営業部", "sato:総務部"])
        .describe("tanaka", "name = \"田中 太郎\"")
        .describe("suzuki", "name = \"鈴木 次郎\"")
        .with_web();
    let server = world.start_server();
    publish(&world, "tanaka", "on-site — 設備点検中").await;
    publish(&world, "suzuki", "driving").await;
    let browser = Browser::start("ja").await;
    browser.sign_in(&world, "sato", "総務部").await;
    assert!(
        has(&browser, &row("suzuki", "td.st-driving")).await,
        "{}",
        server.log_text()
    );
    assert!(has(&browser, &row("tanaka", "td.st-on-site")).await);
    // The page may not show notifications (as headless Chromium): a banner.
    browser
        .run(
            "window.__shown = []; window.Notification = class { constructor(text) { window.__shown.push(text); } \
             static get permission() { return window.__permission; } \
             static requestPermission() { return Promise.resolve(window.__permission); } }; \
             window.__permission = 'denied';",
        )
        .await;
    browser.click(&row("tanaka", ".back-watch")).await;
    assert_eq!(
        browser
            .run(&format!(
                "return document.querySelector('{}').getAttribute('aria-pressed')",
                row("tanaka", ".back-watch").replace('"', "\\\"")
            ))
            .await,
        "true"
    );
    publish(&world, "tanaka", "available").await;
    assert!(
        browser
            .wait_for_text(".back-banner", "田中 太郎 さんが在席になりました", HOP)
            .await,
        "{}",
        server.log_text()
    );
    // Once: away and back again tells nothing more, and the bell is gone.
    publish(&world, "tanaka", "busy").await;
    assert!(has(&browser, &row("tanaka", "td.st-busy")).await);
    publish(&world, "tanaka", "available").await;
    assert!(has(&browser, &row("tanaka", "td.st-available")).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let banners = browser
        .run("return document.querySelectorAll('.back-banner').length")
        .await;
    assert_eq!(banners, 1);
    assert_eq!(browser.run("return window.__shown.length").await, 0);

    // Where the page may notify, the browser's notification says it instead.
    browser.run("window.__permission = 'granted'").await;
    browser.click(&row("suzuki", ".back-watch")).await;
    publish(&world, "suzuki", "available").await;
    let told = wait_until(HOP, || async {
        browser.run("return window.__shown.join('|')").await == "鈴木 次郎 さんが在席になりました"
    })
    .await;
    assert!(
        told,
        "{}",
        browser.run("return window.__shown.join('|')").await
    );
    assert_eq!(
        browser
            .run("return document.querySelectorAll('.back-banner').length")
            .await,
        1
    );
    browser.close().await;
}
