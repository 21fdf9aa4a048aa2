//! The company directory as a phone gets it over mail (a Directory mail, the
//! server's People answer), with the real presence server, Postfix, OpenDKIM
//! and Dovecot: a worker learns of exactly the colleagues the rules let them
//! see and finds them by name; a Directory mail that names someone else, or
//! comes from a stranger, gets no answer at all.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use mailpresence_e2e::{Mailbox, World, wait_until};
use mailpresence_protocol::mail::{DirectoryQuery, PresenceMessage};
use serde_json::Value;

fn accounts(stdout: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["account"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_phone_learns_whom_it_may_see_and_nobody_else_can_ask_for_it() {
    let mut world = World::new(&["tanaka:field", "sato:field", "yamada:desk", "boss:board"]);
    world.rules =
        "[[rule]]\nwatchers = [\"group:field\"]\nmay_see = [\"group:field\", \"group:desk\"]\n"
            .into();
    // Signed on its way out, so the People mail is proven to the phone.
    world.security = mailpresence_e2e::Security::Starttls;
    let server = world.start_server();
    let tanaka = world.terminal_config("tanaka");
    let tanaka = tanaka.to_str().unwrap();

    // The whole directory: sato (same group) first, then yamada; never boss, never tanaka.
    let out = world.mailpresence(&["directory", "--config", tanaka]);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log_text()
    );
    assert_eq!(accounts(&out.stdout), ["sato", "yamada"]);
    let summary: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stderr).lines().last().unwrap()).unwrap();
    assert_eq!(summary["total"], 2);

    // Found again on the phone alone, without mail.
    let out = world.mailpresence(&["directory", "yama", "--kept", "--config", tanaka]);
    assert!(out.status.success());
    assert_eq!(accounts(&out.stdout), ["yamada"]);

    // Sato (proven by the company's DKIM) asks for tanaka's directory, and a
    // stranger asks for sato's: refused, and nothing is mailed to anyone.
    let mut sato_box = Mailbox::open(&world.servers, &world.mail_of("sato")).await;
    let mut tanaka_box = Mailbox::open(&world.servers, &world.mail_of("tanaka")).await;
    let people_before = tanaka_box.count_in("INBOX", "SUBJECT \"People\"").await
        + tanaka_box.count_in("Presence", "SUBJECT \"People\"").await;
    let refusals_before = server.log_text().matches("refused").count();
    let forged = PresenceMessage::Directory(DirectoryQuery {
        watcher: "tanaka".parse().unwrap(),
        query: None,
    });
    world
        .send_presence_signed(&world.mail_of("sato"), &forged)
        .await;
    let stranger = PresenceMessage::Directory(DirectoryQuery {
        watcher: "sato".parse().unwrap(),
        query: None,
    });
    world
        .send_presence_signed(&format!("mallory@{}", world.servers.domain), &stranger)
        .await;
    assert!(
        wait_until(Duration::from_secs(20), || async {
            server.log_text().matches("refused").count() >= refusals_before + 2
        })
        .await,
        "{}",
        server.log_text()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sato_box.count_in("INBOX", "SUBJECT \"People\"").await, 0);
    let people_after = tanaka_box.count_in("INBOX", "SUBJECT \"People\"").await
        + tanaka_box.count_in("Presence", "SUBJECT \"People\"").await;
    assert_eq!(people_after, people_before, "{}", server.log_text());
}
