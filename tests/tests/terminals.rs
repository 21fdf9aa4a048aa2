//! Two phones, as `mailpresence` processes on the phone's core, with the real
//! presence server, Postfix and Dovecot between them: one replays a real GPS
//! track and sets a status, the other looks it up and watches it.
#![allow(clippy::unwrap_used)]

use std::process::Stdio;
use std::time::Duration;

use mailpresence_e2e::{World, binary, presence_messages, repo_root, wait_until};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn a_watcher_sees_every_change_a_field_worker_publishes() {
    let mut world = World::new(&["tanaka:field", "sato:desk"]);
    world.policy = "notify_interval_secs = 1".into();
    // Signed on its way out, so the Notify is proven to the phones.
    world.security = mailpresence_e2e::Security::Starttls;
    let server = world.start_server();
    let tanaka = world.terminal_config("tanaka");
    let sato = world.terminal_config("sato");
    let path = |p: &std::path::Path| p.to_str().unwrap().to_owned();

    // Sato watches before Tanaka has any presence.
    let watcher = tokio::process::Command::new(binary("mailpresence"))
        .args([
            "watch",
            "tanaka",
            "--count",
            "3",
            "--for",
            "60",
            "--config",
            &path(&sato),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || async {
            world.status()["open_watches"] == 1
        })
        .await,
        "{}",
        server.log_text()
    );

    let run = |args: Vec<String>| {
        let out = world.mailpresence(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let c = path(&tanaka);
    run(vec![
        "status".into(),
        "set".into(),
        "on-site — 設備点検中".into(),
        "--config".into(),
        c.clone(),
    ]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    run(vec![
        "schedule".into(),
        "add".into(),
        "15:00 帰社予定".into(),
        "--config".into(),
        c.clone(),
    ]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let track = repo_root().join("assets/tracks/gifu-itrek.nmea");
    let replayed = run(vec![
        "replay".into(),
        path(&track),
        "--config".into(),
        c.clone(),
    ]);
    assert!(
        replayed.contains("岐阜県安八町") && replayed.contains(r#""publishes":1"#),
        "{replayed}"
    );

    let out = tokio::time::timeout(Duration::from_secs(40), watcher.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.len(),
        3,
        "every change seen: {lines:?}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for l in &lines {
        assert_eq!(l["account"], "tanaka");
        assert_eq!(l["activity"]["token"], "on-site");
        assert_eq!(l["activity"]["text"], "設備点検中");
        assert_eq!(l["contact"], world.mail_of("tanaka"));
    }
    assert_eq!(lines[0]["schedule"], serde_json::json!([]));
    assert_eq!(lines[1]["schedule"][0]["text"], "帰社予定");
    assert_eq!(lines[1]["location"], Value::Null);
    assert_eq!(lines[2]["location"], "岐阜県安八町");
    assert_eq!(
        lines[2]["summary"],
        "現場作業中（設備点検中） · 岐阜県安八町 · 15:00 帰社予定"
    );

    // A lookup by Sato now answers at once with the same state.
    let looked = run(vec![
        "lookup".into(),
        "tanaka".into(),
        "--config".into(),
        path(&sato),
    ]);
    let answer: Value = serde_json::from_str(looked.lines().next().unwrap()).unwrap();
    assert_eq!(answer["location"], "岐阜県安八町");
    // When the watch stopped it was ended on the server too.
    assert!(
        wait_until(Duration::from_secs(15), || async {
            world.status()["open_watches"] == 0
        })
        .await
    );
    // Sato's phone moved every Notify it read out of the inbox, into its
    // Presence folder: nothing of where Tanaka was stays in Sato's inbox.
    let mut sato_box = world.mailbox(&world.mail_of("sato")).await;
    assert_eq!(sato_box.count().await, 0, "the inbox holds no Notify mail");
    let kept = sato_box.all_in("Presence").await;
    assert!(
        presence_messages(&kept).len() >= 4,
        "the Notify mails read are in the Presence folder: {}",
        kept.len()
    );
}
