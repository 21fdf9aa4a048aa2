//! What IT does with a running server: reads `/metrics`, takes a backup
//! while desk phones publish, restores it and starts on it — against the
//! real server process and its real database.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use mailpresence_e2e::{RawSip, World, binary, http_get, sample};

fn publish(raw: &RawSip, who: &str, domain: &str, note: &str) -> String {
    let body = format!(
        r#"<?xml version="1.0"?><presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" entity="sip:{who}@{domain}"><tuple id="a"><status><basic>open</basic></status></tuple><dm:person id="p"><dm:note>{note}</dm:note></dm:person></presence>"#
    );
    format!(
        "PUBLISH sip:{who}@{domain} SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKp{n};rport\nFrom: <sip:{who}@{domain}>;tag=p{n}\nTo: <sip:{who}@{domain}>\nCall-ID: pub{n}@test\nCSeq: 1 PUBLISH\nEvent: presence\nExpires: 600\nContent-Type: application/pidf+xml\nContent-Length: {len}\n\n{body}",
        port = raw.port(),
        n = mailpresence_e2e::tag(),
        len = body.len()
    )
}

fn server_cli(world: &World, args: &[&str]) -> std::process::Output {
    Command::new(binary("mailpresence-server"))
        .args(["--config", world.config_path().to_str().unwrap()])
        .args(args)
        .output()
        .unwrap()
}

fn note_in(status: &serde_json::Value) -> u64 {
    status["records"].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_taken_while_phones_publish_restores_and_the_server_starts_on_it() {
    let world = World::new(&["yamada", "sato", "suzuki"])
        .with_sip()
        .with_metrics();
    let domain = world.servers.domain.clone();
    let mut server = world.start_server();
    let raw = RawSip::new(world.sip_addr()).await;

    // Two people's presence, answered 200: what the backup must hold.
    for who in ["yamada", "sato"] {
        raw.send_text(&publish(&raw, who, &domain, "会議中")).await;
        assert_eq!(raw.status().await, Some(200), "{who}'s PUBLISH");
    }

    // Load: suzuki's phone publishes without pause while the backup runs.
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU32::new(0));
    let load = {
        let (stop, answered, domain) = (stop.clone(), answered.clone(), domain.clone());
        let addr = world.sip_addr();
        tokio::spawn(async move {
            let phone = RawSip::new(addr).await;
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                phone
                    .send_text(&publish(&phone, "suzuki", &domain, &format!("移動中 {n}")))
                    .await;
                if phone.status().await == Some(200) {
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let backup = world.dir.path().join("backups/presence-backup.db");
    std::fs::create_dir_all(backup.parent().unwrap()).unwrap();
    let taken = server_cli(&world, &["--backup", backup.to_str().unwrap()]);
    assert!(
        taken.status.success(),
        "{}",
        String::from_utf8_lossy(&taken.stderr)
    );
    assert!(String::from_utf8_lossy(&taken.stdout).starts_with("backed up: "));
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();
    assert!(answered.load(Ordering::Relaxed) > 10, "the load ran");

    // What IT's monitoring sees.
    let port = world.metrics_port.unwrap();
    let scrape = world.scrape().await;
    let publishes = sample(
        &scrape,
        r#"mailpresence_sip_answers_total{method="PUBLISH",code="200"}"#,
    )
    .unwrap_or_else(|| panic!("no PUBLISH count in\n{scrape}"));
    assert!(publishes >= f64::from(answered.load(Ordering::Relaxed)) + 2.0);
    assert_eq!(sample(&scrape, "mailpresence_presence_records"), Some(3.0));
    assert_eq!(
        sample(&scrape, r#"mailpresence_loop_running{name="sip"}"#),
        Some(1.0)
    );
    assert!(http_get(port, "/").await.0.contains("404"));

    // A restore under the running server is refused, and so is a second
    // server on the same database.
    let refused = server_cli(&world, &["--restore", backup.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("stop it first"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert_second_server_refused(&world);

    // Stopped, the database moves on without suzuki (as if lost), then the
    // backup comes back and the server starts on it.
    server.stop_gracefully();
    let restored = server_cli(&world, &["--restore", backup.to_str().unwrap()]);
    assert!(
        restored.status.success(),
        "{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    assert!(!Path::new(&format!("{}-wal", world.storage().display())).exists());
    server.restart_gracefully();
    let status = world.status();
    assert!(
        note_in(&status) >= 2,
        "yamada and sato (and suzuki's last, if the backup caught it): {status}"
    );
    let raw = RawSip::new(world.sip_addr()).await;
    raw.send_text(&publish(&raw, "yamada", &domain, "帰社"))
        .await;
    assert_eq!(raw.status().await, Some(200), "the restored server works");
}

fn assert_second_server_refused(world: &World) {
    let second = Command::new(binary("mailpresence-server"))
        .args(["--config", world.config_path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!second.status.success());
    let text = String::from_utf8_lossy(&second.stdout).to_string()
        + &String::from_utf8_lossy(&second.stderr);
    assert!(text.contains("is running on"), "{text}");
}

/// A directory change applies on SIGHUP (`systemctl reload`), for SIP at
/// once: a newcomer may publish, a leaver may not and is forgotten; a file
/// with a mistake changes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_reload_brings_in_a_newcomer_and_forgets_a_leaver() {
    let mut world = World::new(&["yamada", "sato"]).with_sip();
    let domain = world.servers.domain.clone();
    let server = world.start_server();
    let raw = RawSip::new(world.sip_addr()).await;
    raw.send_text(&publish(&raw, "sato", &domain, "外出中"))
        .await;
    assert_eq!(raw.status().await, Some(200));
    raw.send_text(&publish(&raw, "kato", &domain, "出社")).await;
    assert_eq!(
        raw.status().await,
        Some(404),
        "kato is not yet in the directory"
    );
    assert_eq!(world.status()["records"], 1);

    // kato joins, sato leaves.
    let mut kato = world.staff[0].clone();
    kato.account = "kato".into();
    kato.mail = kato.mail.replacen("yamada", "kato", 1);
    world.staff.retain(|s| s.account != "sato");
    world.staff.push(kato);
    world.write_config();
    let hup = |pid: u32| {
        Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap()
    };
    assert!(hup(server.pid()).success());
    assert!(
        server
            .wait_for_log("directory reloaded", Duration::from_secs(10))
            .await,
        "{}",
        server.log_text()
    );
    raw.send_text(&publish(&raw, "kato", &domain, "出社")).await;
    assert_eq!(raw.status().await, Some(200), "the newcomer publishes");
    raw.send_text(&publish(&raw, "sato", &domain, "帰社")).await;
    assert_eq!(raw.status().await, Some(404), "the leaver may not");
    assert_eq!(world.status()["records"], 1, "sato's presence is forgotten");

    // A broken file: nothing changes, and the log says why.
    std::fs::write(world.config_path(), "[server\n").unwrap();
    assert!(hup(server.pid()).success());
    assert!(
        server
            .wait_for_log("configuration not reloaded", Duration::from_secs(10))
            .await
    );
    raw.send_text(&publish(&raw, "kato", &domain, "会議中"))
        .await;
    assert_eq!(raw.status().await, Some(200), "the directory as it was");
}
