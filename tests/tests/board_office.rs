//! The board as an office's 行き先掲示板, in Chromium against the real server,
//! Dovecot and Postfix, and SIPp as a desk phone: 外出 with a 行先 set on the
//! board reaches a desk phone as RPID `away` with the note it shows and a
//! field phone's Notify mail as `away — 外出` with the 行先 as Location;
//! 戻り予定 明日 and 未定 are shown; a state with an end ends by itself; the
//! first sign-in of the day sets 在席; the wall display follows many changes,
//! greys out with its age when the server is gone, and stops at once when
//! revoked; the day's board prints as a plain list, without its controls.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use mailpresence_e2e::browser::{Browser, cell as row};
use mailpresence_e2e::{World, sipp_passed, wait_until};
use mailpresence_protocol::mail::{PresenceMessage, Publish, Subscribe, SubscribeMode};
use mailpresence_protocol::model::{Activity, PresenceFields};

const HOP: Duration = Duration::from_secs(30);

/// Everyone sees everyone, with places.
fn rules() -> String {
    "[[rule]]\nwatchers = [\"*\"]\nmay_see = [\"*\"]\nlocation = true\n".into()
}

/// Chooses `value` in the select `id` as a person does.
async fn choose(browser: &Browser, id: &str, value: &str) {
    browser
        .click(&format!("#{id} option[value=\"{value}\"]"))
        .await;
}

/// Saves the own-state form and waits for its answer.
async fn save(browser: &Browser) {
    browser.click("#own button[type=submit]").await;
    assert!(
        browser
            .wait_for_text("#own-result", "保存しました", HOP)
            .await,
        "{}",
        browser.text("#own-result").await
    );
}

/// The body of the newest Notify mail among `mails`.
fn newest_notify(mails: &[Vec<u8>]) -> String {
    mails
        .iter()
        .rev()
        .filter_map(|m| mail_parser::MessageParser::default().parse(m))
        .find(|m| m.subject() == Some("Notify"))
        .and_then(|m| m.body_text(0).map(|t| t.into_owned()))
        .expect("a Notify mail")
}

#[tokio::test(flavor = "multi_thread")]
async fn out_with_a_place_set_on_the_board_reaches_the_desk_phone_and_the_field_phone() {
    let mut world = World::new(&["tanaka:営業部", "sato:総務部", "ito:総務部"])
        .with_web()
        .with_sip();
    world.rules = rules();
    let server = world.start_server();

    // tanaka's phone watches sato by mail; ito's desk phone (SIPp) by SIP.
    let subscribe = PresenceMessage::Subscribe(Subscribe {
        watcher: "tanaka".parse().unwrap(),
        notifiers: vec!["sato".parse().unwrap()],
        send_to: world.mail_of("tanaka"),
        mode: SubscribeMode::Watch,
        expires: None,
    });
    world
        .send_presence(&world.mail_of("tanaka"), &subscribe)
        .await;
    assert!(
        wait_until(HOP, || async {
            world.status()["mails_handled"].as_u64().unwrap_or(0) >= 1
        })
        .await,
        "{}",
        server.log_text()
    );
    let mut tanaka = world.mailbox(&world.mail_of("tanaka")).await;
    let before = tanaka.count().await;
    let desk_phone = world.sipp("watch_board_office.xml", "sato", "ito", &[]);
    tokio::time::sleep(Duration::from_secs(1)).await;

    let browser = Browser::start("ja").await;
    browser.sign_in(&world, "sato", "総務部").await;
    // 外出 asks for a 行先; 在席 does not.
    assert_eq!(
        browser
            .run("return document.getElementById('own-place-label').hidden")
            .await,
        true
    );
    choose(&browser, "own-state", "out").await;
    assert_eq!(
        browser
            .run("return document.getElementById('own-place-label').hidden")
            .await,
        false,
        "外出 shows no 行先 field"
    );
    assert_eq!(browser.text("#own-place-name").await, "行先");
    browser
        .client
        .find(fantoccini::Locator::Css("#own-place"))
        .await
        .unwrap()
        .send_keys("A社 丸の内")
        .await
        .unwrap();
    let tomorrow = (chrono::Local::now().date_naive() + chrono::Days::new(1))
        .format("%Y-%m-%d")
        .to_string();
    choose(&browser, "own-back-day", &tomorrow).await;
    save(&browser).await;

    // The board: 外出, the 行先, back 明日.
    assert!(
        browser
            .wait_for_text(&row("sato", "state"), "外出", HOP)
            .await,
        "{}",
        browser.text("#board").await
    );
    assert_eq!(browser.text(&row("sato", "place")).await, "A社 丸の内");
    assert_eq!(browser.text(&row("sato", "back")).await, "明日");

    // The desk phone: RPID away, and the note it shows.
    let (ok, err) = sipp_passed(desk_phone).await;
    assert!(
        ok,
        "the desk phone's NOTIFY: {err}\n{}\n{}",
        world.sipp_errors(),
        server.log_text()
    );
    // The field phone: a Notify mail an older phone reads right too.
    let mails = tanaka.wait_for(before + 1, HOP).await;
    let text = newest_notify(&mails);
    assert!(text.contains("Activity: away — 外出"), "{text}");
    assert!(text.contains("Location: A社 丸の内"), "{text}");
    assert!(text.contains("Schedule: 戻り予定 "), "{text}");

    // 未定, and back in the office: the 行先 goes with 外出.
    choose(&browser, "own-back-day", "undecided").await;
    save(&browser).await;
    assert!(
        browser
            .wait_for_text(&row("sato", "back"), "未定", HOP)
            .await
    );
    choose(&browser, "own-state", "available").await;
    save(&browser).await;
    assert!(
        browser
            .wait_for_text(&row("sato", "state"), "在席", HOP)
            .await
    );
    assert_eq!(browser.text(&row("sato", "place")).await, "");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_timed_state_ends_by_itself_and_the_first_sign_in_of_the_day_sets_available() {
    let mut world = World::new(&["sato:総務部", "ito:総務部"]).with_web();
    world.rules = rules();
    world.web_extra = "present_at_first_sign_in = true\n".into();
    let server = world.start_server();

    // sato went home yesterday (本日戻らず, set by mail).
    let mut yesterday = PresenceFields::new(
        world.mail_of("sato"),
        Activity::parse("offline — 本日戻らず").unwrap(),
    );
    yesterday.updated = Some((chrono::Utc::now() - chrono::Duration::days(1)).fixed_offset());
    let publish = PresenceMessage::Publish(Publish {
        publisher: "sato".parse().unwrap(),
        presence: yesterday,
    });
    world.send_presence(&world.mail_of("sato"), &publish).await;
    assert!(
        wait_until(HOP, || async {
            world.status()["mails_handled"].as_u64().unwrap_or(0) >= 1
        })
        .await,
        "{}",
        server.log_text()
    );

    // ito's board shows it as the office state, then sato's first sign-in.
    let ito = Browser::start("ja").await;
    ito.sign_in(&world, "ito", "総務部").await;
    assert!(
        ito.wait_for_text(&row("sato", "state"), "本日戻らず", HOP)
            .await,
        "{}",
        ito.text("#board").await
    );
    let sato = Browser::start("ja").await;
    sato.sign_in(&world, "sato", "総務部").await;
    assert!(
        ito.wait_for_text(&row("sato", "state"), "在席", HOP).await,
        "the first sign-in did not set 在席: {}\n{}",
        ito.text("#board").await,
        server.log_text()
    );
    // 会議 in 第2会議室 until a few seconds from now: it ends by itself, for
    // every viewer, with its room.
    let until = (chrono::Local::now() + chrono::Duration::seconds(4)).to_rfc3339();
    let status = sato
        .run(&format!(
            "return fetch('/api/me', {{ method: 'POST', headers: {{ 'Content-Type': 'application/json', \
             'X-CSRF-Token': state.board.csrf }}, body: JSON.stringify({{ state: 'meeting-room', \
             place: '第2会議室', until: '{until}', version: own.version }}) }}).then(r => r.status)"
        ))
        .await;
    assert_eq!(status, 200);
    assert!(
        ito.wait_for_text(&row("sato", "state"), "会議", HOP).await,
        "{}",
        ito.text("#board").await
    );
    assert!(ito.text(&row("sato", "state")).await.contains("まで"));
    assert_eq!(ito.text(&row("sato", "place")).await, "第2会議室");
    assert!(
        ito.wait_for_text(&row("sato", "state"), "在席", HOP).await,
        "the meeting did not end: {}\n{}",
        ito.text("#board").await,
        server.log_text()
    );
    assert_eq!(ito.text(&row("sato", "place")).await, "");
    // sato's own form follows.
    assert!(
        wait_until(HOP, || async {
            sato.value("own-state").await == "available"
        })
        .await
    );
    sato.close().await;
    ito.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_wall_display_follows_every_change_and_stops_when_revoked() {
    let mut world = World::new(&["tanaka:営業部", "sato:総務部", "ito:総務部"]).with_web();
    world.rules = rules();
    world.web_extra = "admins = [\"group:総務部\"]\n".into();
    let server = world.start_server();

    // sato (IT) issues a display link on the Phones page.
    let admin = Browser::start("ja").await;
    admin.sign_in(&world, "sato", "総務部").await;
    admin
        .client
        .goto(&format!("{}/phones", world.web_url()))
        .await
        .unwrap();
    assert!(admin.wait_for_text("#people", "営業部", HOP).await);
    admin
        .client
        .find(fantoccini::Locator::Css("#display-name"))
        .await
        .unwrap()
        .send_keys("1F 受付")
        .await
        .unwrap();
    admin.click("#display-form button").await;
    assert!(admin.wait_for_text("#display-link", "/tv/open/", HOP).await);
    let link = admin
        .run("return document.getElementById('display-link').dataset.link")
        .await
        .as_str()
        .unwrap()
        .to_owned();

    // The screen opens it once.
    let tv = Browser::start("ja").await;
    tv.client.goto(&link).await.unwrap();
    tv.click("form button").await;
    assert!(
        tv.wait_for_text("#tv-board", "営業部", HOP).await,
        "{}\n{}",
        tv.text("body").await,
        server.log_text()
    );
    assert_eq!(
        tv.run("return document.querySelectorAll('button, input, select, form').length")
            .await,
        0,
        "the display has controls"
    );
    // It can change nothing, not even sign itself out.
    let csrf = tv
        .run("return fetch('/api/board').then(r => r.json()).then(b => b.csrf)")
        .await;
    let refused = tv
        .run(&format!(
            "return fetch('/api/me', {{ method: 'POST', headers: {{ 'Content-Type': 'application/json', \
             'X-CSRF-Token': {csrf} }}, body: JSON.stringify({{ state: 'vacation' }}) }}).then(r => r.status)"
        ))
        .await;
    assert_eq!(refused, 403);
    let link_again = tv
        .run(&format!(
            "return fetch('{}', {{ method: 'POST' }}).then(r => r.status)",
            link.trim_start_matches(&world.web_url())
        ))
        .await;
    assert_eq!(link_again, 410, "the display link works once");
    // The display is listed on the Phones page, with a long-lived session
    // (a year, not a person's session_hours).
    admin.client.refresh().await.unwrap();
    assert!(admin.wait_for_text("#display-list", "1F 受付", HOP).await);
    let expires = admin
        .run("return fetch('/api/tv').then(r => r.json()).then(d => d.displays[0].expires)")
        .await;
    let expires = chrono::DateTime::parse_from_rfc3339(expires.as_str().unwrap()).unwrap();
    assert!(
        expires > chrono::Utc::now() + chrono::Duration::days(300),
        "the display's session ends {expires}"
    );

    // ito's day on the board, in 60 changes: the display follows each one
    // and stays live (not greyed out).
    let ito = Browser::start("ja").await;
    ito.sign_in(&world, "ito", "総務部").await;
    let states = [
        "out",
        "available",
        "meeting-room",
        "busy",
        "direct",
        "on-the-phone",
    ];
    for minute in 0..60 {
        let state = states[minute % states.len()];
        let note = format!("{minute}分の変更");
        let status = ito
            .run(&format!(
                "return fetch('/api/me', {{ method: 'POST', headers: {{ 'Content-Type': 'application/json', \
                 'X-CSRF-Token': state.board.csrf }}, body: JSON.stringify({{ state: '{state}', note: '{note}' }}) }}).then(r => r.status)"
            ))
            .await;
        assert_eq!(status, 200, "change {minute}");
        assert!(
            tv.wait_for_text(&row("ito", "note"), &note, HOP).await,
            "the display missed change {minute}: {}",
            tv.text(&row("ito", "note")).await
        );
    }
    assert_eq!(tv.text("#live").await, "リアルタイム更新中");
    assert_eq!(
        tv.run("return document.getElementById('tv-board').classList.contains('stale')")
            .await,
        false
    );
    tv.screenshot("board-tv.png").await;

    // Revoked on the Phones page: the screen stops at once and says so.
    admin.click("#display-list button.revoke-display").await;
    assert!(
        tv.wait_for_text("#tv-notice", "表示は終了しました", Duration::from_secs(10))
            .await,
        "{}",
        tv.text("body").await
    );
    assert_eq!(
        tv.run("return document.querySelectorAll('#tv-board tr').length")
            .await,
        0,
        "old rows stay on a revoked display"
    );
    assert_eq!(
        tv.run("return fetch('/api/board').then(r => r.status)")
            .await,
        401
    );
    tv.close().await;
    ito.close().await;
    admin.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_wall_display_is_never_silently_stale() {
    let mut world = World::new(&["sato:総務部", "ito:総務部"]).with_web();
    world.rules = rules();
    world.web_extra = "admins = [\"group:総務部\"]\n".into();
    let mut server = world.start_server();
    let admin = Browser::start("ja").await;
    admin.sign_in(&world, "sato", "総務部").await;
    let link = admin
        .run(
            "return fetch('/api/tv', { method: 'POST', headers: { 'Content-Type': 'application/json', \
             'X-CSRF-Token': state.board.csrf }, body: JSON.stringify({ name: '2F 島' }) }) \
             .then(r => r.json()).then(a => a.link)",
        )
        .await;
    let tv = Browser::start("ja").await;
    tv.client.goto(link.as_str().unwrap()).await.unwrap();
    tv.click("form button").await;
    assert!(tv.wait_for_text("#live", "リアルタイム更新中", HOP).await);
    assert!(tv.text("#tv-clock").await.ends_with("現在"));

    // The server goes away: within the retry time the rows are grey and
    // the header says since when.
    server.stop_gracefully();
    let stopped = std::time::Instant::now();
    let grey = wait_until(Duration::from_secs(10), || async {
        tv.run("return document.getElementById('tv-board').classList.contains('stale')")
            .await
            == true
    })
    .await;
    assert!(grey, "rows not greyed out: {}", tv.text("#live").await);
    assert!(stopped.elapsed() < Duration::from_secs(5));
    let live = tv.text("#live").await;
    assert!(
        live.contains("接続が切れています") && live.contains("時点"),
        "{live}"
    );
    // Back (the same store): the display's session holds, live again.
    server = world.start_server();
    assert!(
        tv.wait_for_text("#live", "リアルタイム更新中", HOP).await,
        "{}\n{}",
        tv.text("#live").await,
        server.log_text()
    );
    assert_eq!(
        tv.run("return document.getElementById('tv-board').classList.contains('stale')")
            .await,
        false
    );
    assert!(
        tv.text("#tv-board").await.contains("sato"),
        "{}",
        tv.text("body").await
    );
    tv.close().await;
    admin.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_days_board_prints_as_a_list_without_its_controls() {
    let mut world = World::new(&["sato:総務部", "ito:総務部"]).with_web();
    world.rules = rules();
    let server = world.start_server();
    let out = PresenceFields::new(
        world.mail_of("sato"),
        Activity::parse("away — 外出").unwrap(),
    );
    let publish = PresenceMessage::Publish(Publish {
        publisher: "sato".parse().unwrap(),
        presence: out,
    });
    world.send_presence(&world.mail_of("sato"), &publish).await;

    let ito = Browser::start("ja").await;
    ito.sign_in(&world, "ito", "総務部").await;
    assert!(
        ito.wait_for_text(&row("sato", "state"), "外出", HOP).await,
        "{}\n{}",
        ito.text("#board").await,
        server.log_text()
    );
    // What is on paper: each element's display as print lays it out.
    let shown = r#"return Object.fromEntries(['#mine', 'nav', '#sign-out', '#lang-switch', '#legend', '#board']
        .map(css => [css, getComputedStyle(document.querySelector(css)).display]))"#;
    let on_screen = ito.run(shown).await;
    assert_ne!(on_screen["#mine"], "none", "{on_screen}");
    ito.emulate_media("print").await;
    let on_paper = ito.run(shown).await;
    for control in ["#mine", "nav", "#sign-out", "#lang-switch", "#legend"] {
        assert_eq!(on_paper[control], "none", "{control} printed: {on_paper}");
    }
    assert_ne!(on_paper["#board"], "none", "{on_paper}");
    assert!(ito.text(&row("sato", "state")).await.contains("外出"));
    ito.emulate_media("screen").await;
    assert_ne!(ito.run(shown).await["#mine"], "none");
    ito.close().await;
}
