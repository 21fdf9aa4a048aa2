//! The presence board in a real browser (Debian's headless Chromium), against
//! the real server, Dovecot and Postfix, and SIPp as a desk phone: a desk
//! worker signs in with the link mailed to them; a field worker's Publish
//! mail appears on the open board without a reload, on the list and on the
//! map, which opens on the field workers' town areas, labelled, and zooms and
//! pans by keyboard, wheel, drag and pinch; a colleague whom the rules deny location sees the row without
//! the place, and no dot or town on the map; a change made on the board
//! reaches a SIP watcher and a mail watcher.
//! With MAILPRESENCE_SCREENSHOTS=DIR it leaves board.png and board-map.png there
//! (the README's pictures).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use fantoccini::Locator;
use mailpresence_e2e::browser::{Browser, cell as row};
use mailpresence_e2e::{World, sipp_passed, wait_until};
use mailpresence_protocol::mail::{PresenceMessage, Publish, Subscribe, SubscribeMode};
use mailpresence_protocol::model::{Activity, PresenceFields, ScheduleEntry};

const HOP: Duration = Duration::from_secs(30);

/// sato sees everyone with location; ito everyone without; tanaka (in the
/// field) sees the desk staff.
fn rules() -> String {
    "[[rule]]\nwatchers = [\"sato\"]\nmay_see = [\"*\"]\nlocation = true\n\n\
     [[rule]]\nwatchers = [\"ito\"]\nmay_see = [\"*\"]\n\n\
     [[rule]]\nwatchers = [\"tanaka\"]\nmay_see = [\"group:総務部\"]\n"
        .into()
}

async fn sign_in(browser: &Browser, world: &World, account: &str) {
    browser.sign_in(world, account, "総務部").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn desk_staff_follow_the_field_on_the_board_and_set_their_own_state() {
    let mut world = World::new(&[
        "tanaka:営業部",
        "suzuki:営業部",
        "sato:総務部",
        "ito:総務部",
    ])
    .with_web()
    .with_sip();
    world.rules = rules();
    let server = world.start_server();
    let browser = Browser::start("ja").await;
    sign_in(&browser, &world, "sato").await;
    // A mark on this page: still there after the update means no reload.
    browser.run("window.__samePage = 'yes'").await;

    let mut field = PresenceFields::new(
        world.mail_of("tanaka"),
        Activity::parse("on-site — 設備点検中").unwrap(),
    );
    field.location = Some("東京都千代田区丸の内一丁目".into());
    field.schedule = vec![ScheduleEntry::parse("15:00 帰社予定")];
    field.updated = Some(chrono::Utc::now().fixed_offset());
    let publish = PresenceMessage::Publish(Publish {
        publisher: "tanaka".parse().unwrap(),
        presence: field,
    });
    world
        .send_presence(&world.mail_of("tanaka"), &publish)
        .await;
    assert!(
        browser
            .wait_for_text(&row("tanaka", "place"), "丸の内一丁目", HOP)
            .await,
        "the Publish never reached the open board: {}\n{}",
        browser.text("#board").await,
        server.log_text()
    );
    assert_eq!(
        browser.run("return window.__samePage").await,
        "yes",
        "the page was reloaded"
    );
    assert!(
        browser
            .text(&row("tanaka", "state"))
            .await
            .contains("現場作業中")
    );
    assert_eq!(browser.text(&row("tanaka", "note")).await, "設備点検中");
    // 15:00 is marked overdue once it has passed (the test may run at any hour).
    let overdue = chrono::Local::now().time() >= chrono::NaiveTime::from_hms_opt(15, 0, 0).unwrap();
    assert_eq!(
        browser.text(&row("tanaka", "back")).await,
        if overdue { "15:00超過" } else { "15:00" }
    );
    // suzuki across Tokyo Station, in 中央区's 八重洲二丁目.
    let mut field = PresenceFields::new(
        world.mail_of("suzuki"),
        Activity::parse("on-site — 現地調査").unwrap(),
    );
    field.location = Some("東京都中央区八重洲二丁目".into());
    field.updated = Some(chrono::Utc::now().fixed_offset());
    let publish = PresenceMessage::Publish(Publish {
        publisher: "suzuki".parse().unwrap(),
        presence: field,
    });
    world
        .send_presence(&world.mail_of("suzuki"), &publish)
        .await;
    assert!(
        browser
            .wait_for_text(&row("suzuki", "place"), "八重洲二丁目", HOP)
            .await,
        "{}",
        server.log_text()
    );
    browser.screenshot("board.png").await;

    // To the map view by keyboard: the list tab is the tab stop, and the
    // right arrow moves to the map tab (WAI-ARIA tabs).
    browser
        .client
        .find(Locator::Css("#tab-list"))
        .await
        .unwrap()
        .send_keys(&fantoccini::key::Key::Right.to_string())
        .await
        .unwrap();
    assert_eq!(
        browser
            .run("return document.activeElement.id + ' ' + document.activeElement.tabIndex")
            .await,
        "tab-map 0",
        "the arrow key did not move to the map tab"
    );
    // The map opens on the two colleagues' towns, not on all of Japan, and
    // shows both town areas with their names.
    let towns = "g.town[data-place=\"東京都千代田区丸の内一丁目\"] text, \
                 g.town[data-place=\"東京都中央区八重洲二丁目\"] text";
    let placed = wait_until(HOP, || async {
        browser
            .client
            .find(Locator::Css("circle.dot[data-account=\"suzuki\"]"))
            .await
            .is_ok()
            && browser
                .client
                .find_all(Locator::Css(towns))
                .await
                .is_ok_and(|t| t.len() == 2)
    })
    .await;
    assert!(
        placed,
        "no dots or town areas: {}",
        browser
            .run("return document.querySelector('#map').innerHTML.slice(-2000)")
            .await
    );
    let shown = |what: &'static str| {
        let browser = &browser;
        async move {
            browser
                .run(&format!(
                    "const svg = document.querySelector('#map svg'); \
                     const box = svg.viewBox.baseVal; \
                     const labels = [...svg.querySelectorAll('.towns text')] \
                       .filter((t) => getComputedStyle(t).display !== 'none' \
                         && t.getBoundingClientRect().width > 0).map((t) => t.textContent).sort(); \
                     return JSON.stringify({{ width: box.width, labels, what: '{what}' }})"
                ))
                .await
        }
    };
    let fitted: serde_json::Value =
        serde_json::from_str(shown("fitted").await.as_str().unwrap()).unwrap();
    let width = fitted["width"].as_f64().unwrap();
    // All of Japan is about 414 map units wide; two towns by Tokyo Station
    // with their margin a few (a map unit is about 3 km east-west there).
    assert!(
        width < 5.0,
        "the map did not open on the colleagues: {fitted}"
    );
    assert_eq!(
        fitted["labels"],
        serde_json::json!(["丸の内一丁目", "八重洲二丁目"]),
        "{fitted}"
    );
    browser.screenshot("board-map.png").await;
    // The keyboard zooms out (the town areas hide when far) and 0 fits again.
    let map = browser.client.find(Locator::Css("#map")).await.unwrap();
    for _ in 0..8 {
        map.send_keys("-").await.unwrap();
    }
    let far: serde_json::Value =
        serde_json::from_str(shown("far").await.as_str().unwrap()).unwrap();
    assert!(far["width"].as_f64().unwrap() > 10.0 * width, "{far}");
    assert_eq!(far["labels"], serde_json::json!([]), "{far}");
    map.send_keys("0").await.unwrap();
    let again: serde_json::Value =
        serde_json::from_str(shown("again").await.as_str().unwrap()).unwrap();
    assert_eq!(again["width"], fitted["width"], "{again}");
    // The wheel zooms in, one finger drags, two pinch (the events a mouse
    // and a touch screen send).
    let moved = browser
        .run(
            "const svg = document.querySelector('#map svg'); \
             const r = svg.getBoundingClientRect(); \
             const [cx, cy] = [r.left + r.width / 2, r.top + r.height / 2]; \
             const box = () => { const b = svg.viewBox.baseVal; return [b.x, b.width]; }; \
             const p = (type, id, x) => svg.dispatchEvent(new PointerEvent(type, \
               { pointerId: id, clientX: x, clientY: cy, bubbles: true, isPrimary: id === 1, pointerType: 'touch' })); \
             const before = box(); \
             svg.dispatchEvent(new WheelEvent('wheel', \
               { deltaY: -100, clientX: cx, clientY: cy, bubbles: true, cancelable: true })); \
             const wheeled = box(); \
             p('pointerdown', 1, cx); p('pointermove', 1, cx + 100); p('pointerup', 1, cx + 100); \
             const dragged = box(); \
             p('pointerdown', 1, cx - 50); p('pointerdown', 2, cx + 50); \
             p('pointermove', 2, cx + 50); p('pointermove', 2, cx + 150); \
             p('pointerup', 1, cx - 50); p('pointerup', 2, cx + 150); \
             return JSON.stringify({ before, wheeled, dragged, pinched: box() });",
        )
        .await;
    let moved: serde_json::Value = serde_json::from_str(moved.as_str().unwrap()).unwrap();
    let at = |step: &str, i: usize| moved[step][i].as_f64().unwrap();
    assert!(
        at("wheeled", 1) < 0.9 * at("before", 1),
        "the wheel: {moved}"
    );
    assert!(
        at("dragged", 0) < at("wheeled", 0),
        "a drag to the right: {moved}"
    );
    assert_eq!(at("dragged", 1), at("wheeled", 1), "{moved}");
    let pinch = at("pinched", 1) / at("dragged", 1);
    assert!(
        (pinch - 0.5).abs() < 0.01,
        "two fingers twice as far apart: {moved}"
    );

    // ito may see tanaka's state, never his place.
    browser
        .client
        .find(Locator::Css("#sign-out"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    sign_in(&browser, &world, "ito").await;
    assert!(
        browser
            .text(&row("tanaka", "state"))
            .await
            .contains("現場作業中")
    );
    assert_eq!(
        browser.text(&row("tanaka", "place")).await,
        "",
        "ito sees tanaka's place"
    );
    assert!(!browser.text("body").await.contains("丸の内"));
    // Nor on the map: no dot and no town area.
    browser
        .client
        .find(Locator::Css("#tab-map"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        browser
            .run("return document.querySelectorAll('#map .dot, #map .town').length")
            .await,
        0,
        "{}",
        browser
            .run("return document.querySelector('#map').innerHTML.slice(-2000)")
            .await
    );
    browser
        .client
        .find(Locator::Css("#tab-list"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    // tanaka's phone watches ito by mail; sato's desk phone (SIPp) by SIP.
    let subscribe = PresenceMessage::Subscribe(Subscribe {
        watcher: "tanaka".parse().unwrap(),
        notifiers: vec!["ito".parse().unwrap()],
        send_to: world.mail_of("tanaka"),
        mode: SubscribeMode::Watch,
        expires: None,
    });
    world
        .send_presence(&world.mail_of("tanaka"), &subscribe)
        .await;
    assert!(
        wait_until(HOP, || async {
            world.status()["mails_handled"].as_u64().unwrap_or(0) >= 3
        })
        .await,
        "{}",
        server.log_text()
    );
    let mut tanaka = world.mailbox(&world.mail_of("tanaka")).await;
    let before = tanaka.count().await;
    let desk_phone = world.sipp("watch_board_change.xml", "ito", "sato", &[]);
    tokio::time::sleep(Duration::from_secs(1)).await;

    // ito: 会議中, 部長会議, back at 15:30, from the board.
    let client = &browser.client;
    client
        .find(Locator::Css("#own-state option[value=\"meeting\"]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .find(Locator::Css("#own-back option[value=\"15:30\"]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .find(Locator::Css("#own-note"))
        .await
        .unwrap()
        .send_keys("部長会議")
        .await
        .unwrap();
    client
        .find(Locator::Css("#own button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(
        browser
            .wait_for_text("#own-result", "保存しました", HOP)
            .await,
        "{}",
        browser.text("#own-result").await
    );
    assert!(
        browser
            .wait_for_text(&row("ito", "note"), "部長会議", HOP)
            .await
    );

    let (ok, err) = sipp_passed(desk_phone).await;
    assert!(
        ok,
        "the desk phone's NOTIFY: {err}\n{}\n{}",
        world.sipp_errors(),
        server.log_text()
    );
    let mails = tanaka.wait_for(before + 1, HOP).await;
    let notify = mails
        .iter()
        .rev()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .find(|m| m.contains("Subject: Notify"));
    let notify = notify.expect("a Notify mail to tanaka's phone");
    let parsed = mail_parser::MessageParser::default()
        .parse(notify.as_bytes())
        .unwrap();
    let text = parsed.body_text(0).unwrap();
    assert!(
        text.contains("meeting") && text.contains("部長会議"),
        "{text}"
    );
    browser.close().await;
}

/// IT's Phones page: an administrator (`[web] admins`) makes a person's
/// enrolment code; the page shows it as a QR code and as the link, and the
/// `mailpresence` command reads that same link back; a person who is not an
/// administrator is turned away.
#[tokio::test(flavor = "multi_thread")]
async fn it_makes_an_enrolment_code_on_the_phones_page() {
    let mut world = World::new(&["tanaka:営業部", "sato:総務部", "ito:総務部"]).with_web();
    world.web_extra = "admins = [\"group:総務部\"]\n".into();
    world.rules = rules();
    let _server = world.start_server();
    let browser = Browser::start("ja").await;
    sign_in(&browser, &world, "sato").await;
    let client = &browser.client;
    client
        .goto(&format!("{}/phones", world.web_url()))
        .await
        .unwrap();
    assert!(
        browser.wait_for_text("#people", "営業部", HOP).await,
        "{}",
        browser.text("body").await
    );
    client
        .find(Locator::Css("tr[data-account=\"tanaka\"] button.make-code"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(
        browser
            .wait_for_text("#link", "mailpresence:enrol/1/", HOP)
            .await,
        "{}",
        browser.text("body").await
    );
    let link = browser.text("#link").await.trim().to_owned();
    // The QR code is drawn: an SVG image the browser decoded.
    let drawn = browser
        .run(
            "const i = document.getElementById('qr'); return [i.src.slice(0, 26), i.naturalWidth];",
        )
        .await;
    assert_eq!(drawn[0], "data:image/svg+xml;base64,", "{drawn}");
    assert!(drawn[1].as_u64().unwrap_or(0) >= 200, "{drawn}");
    browser.screenshot("phones.png").await;

    // The phone's side reads the very link the page shows.
    let ca = world.servers.ca.display().to_string();
    let read = world.mailpresence(&["enroll", &link, "--ca-file", &ca]);
    let shown = String::from_utf8_lossy(&read.stdout).to_string();
    assert!(
        read.status.success(),
        "{shown}{}",
        String::from_utf8_lossy(&read.stderr)
    );
    assert!(shown.contains(&world.mail_of("tanaka")), "{shown}");

    // Someone not named in [web] admins: the page and its API turn them away.
    let status = browser
        .run("return fetch('/api/phones').then(r => r.status)")
        .await;
    assert_eq!(status, 200, "sato is an administrator");
    browser.close().await;
    let browser = Browser::start("ja").await;
    sign_in(&browser, &world, "tanaka").await;
    let status = browser
        .run("return fetch('/api/phones').then(r => r.status)")
        .await;
    assert_eq!(status, 403, "tanaka is not an administrator");
    browser.close().await;
}
