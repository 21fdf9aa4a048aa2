//! People from the company directory: a real OpenLDAP (slapd, started by the
//! test command with `scripts/ldap-server.sh`) holding an AD-shaped tree —
//! sAMAccountName, a phonetic name, ipPhone, memberOf with nested groups —
//! read by the server; a change in the directory reaches SIP and the board
//! within one refresh, and a directory that cannot be read keeps the last
//! good copy.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;

use ldap3::{LdapConnAsync, Mod};
use mailpresence_e2e::{RawSip, World, wait_until};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ADMIN: &str = "cn=admin,dc=example,dc=test";

fn ldap_url() -> String {
    std::env::var("MAILPRESENCE_LDAP_URL").expect(
        "MAILPRESENCE_LDAP_URL: start slapd with scripts/ldap-server.sh (scripts/test.sh does)",
    )
}

async fn admin() -> ldap3::Ldap {
    let (conn, mut ldap) = LdapConnAsync::new(&ldap_url()).await.unwrap();
    ldap3::drive!(conn);
    ldap.simple_bind(ADMIN, "secret")
        .await
        .unwrap()
        .success()
        .unwrap();
    ldap
}

fn attrs(pairs: &[(&str, &[&str])]) -> Vec<(String, HashSet<String>)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
        .collect()
}

/// One test's own subtree: `ou=<tag>,dc=example,dc=test`.
struct Tree {
    base: String,
}

impl Tree {
    async fn new(world: &World) -> Self {
        let base = format!("ou={},dc=example,dc=test", world.tag);
        let mut ldap = admin().await;
        ldap.add(
            &base,
            attrs(&[
                ("objectClass", &["organizationalUnit"]),
                ("ou", &[&world.tag]),
            ]),
        )
        .await
        .unwrap()
        .success()
        .unwrap();
        Self { base }
    }

    fn dn(&self, cn: &str) -> String {
        format!("cn={cn},{}", self.base)
    }

    async fn add_person(&self, world: &World, account: &str, name: &str, reading: &str) {
        let mail = world.mail_of(account);
        let sip = format!("sip:{account}@{}", world.servers.domain);
        let mut ldap = admin().await;
        ldap.add(
            &self.dn(account),
            attrs(&[
                ("objectClass", &["user"]),
                ("cn", &[account]),
                ("sn", &[name]),
                ("sAMAccountName", &[account]),
                ("displayName", &[name]),
                ("msDS-PhoneticDisplayName", &[reading]),
                ("mail", &[&mail]),
                ("ipPhone", &["1234"]),
                ("msRTCSIP-PrimaryUserAddress", &[&sip]),
            ]),
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    }

    async fn add_group(&self, cn: &str, members: &[String]) {
        let members: Vec<&str> = members.iter().map(String::as_str).collect();
        let mut ldap = admin().await;
        ldap.add(
            &self.dn(cn),
            attrs(&[
                ("objectClass", &["groupOfNames"]),
                ("cn", &[cn]),
                ("member", &members),
            ]),
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    }

    async fn add_member(&self, group: &str, member: &str) {
        let mut ldap = admin().await;
        let value: HashSet<String> = [self.dn(member)].into();
        ldap.modify(&self.dn(group), vec![Mod::Add("member".to_string(), value)])
            .await
            .unwrap()
            .success()
            .unwrap();
    }

    async fn remove(&self, cn: &str) {
        let mut ldap = admin().await;
        ldap.delete(&self.dn(cn)).await.unwrap().success().unwrap();
    }
}

/// A world whose people come from `tree` (AD-shaped), refreshed every 10 s;
/// the board signs people in by a trusted proxy's header.
fn directory_world(world: &mut World, tree: &Tree) {
    let password = world.dir.path().join("ldap-password");
    std::fs::write(&password, "reader-secret\n").unwrap();
    world.directory = format!(
        "[directory]\nurl = \"{}\"\nbind_dn = \"cn=presence-reader,dc=example,dc=test\"\nbind_password_file = \"{}\"\nbase_dn = \"{}\"\nkind = \"active-directory\"\npeople_filter = \"(objectClass=user)\"\ngroups_filter = \"(objectClass=groupOfNames)\"\nrefresh_secs = 10\ntimeout_secs = 5",
        ldap_url(),
        password.display(),
        tree.base
    );
    world.web_extra = "trusted_proxies = [\"127.0.0.1\"]\nuser_header = \"X-Remote-User\"\nmail_sign_in = false\n".into();
    world.rules = "[[rule]]\nwatchers = [\"group:desk\"]\nmay_see = [\"group:field\", \"group:desk\"]\nlocation = true\n".into();
}

fn publish(raw: &RawSip, who: &str, domain: &str, note: &str) -> String {
    let body = format!(
        r#"<?xml version="1.0"?><presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" entity="sip:{who}@{domain}"><tuple id="a"><status><basic>open</basic></status></tuple><dm:person id="p"><dm:note>{note}</dm:note></dm:person></presence>"#
    );
    format!(
        "PUBLISH sip:{who}@{domain} SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKd{n};rport\nFrom: <sip:{who}@{domain}>;tag=d{n}\nTo: <sip:{who}@{domain}>\nCall-ID: dir{n}@test\nCSeq: 1 PUBLISH\nEvent: presence\nExpires: 600\nContent-Type: application/pidf+xml\nContent-Length: {len}\n\n{body}",
        port = raw.port(),
        n = mailpresence_e2e::tag(),
        len = body.len()
    )
}

/// The board's rows as `viewer` sees them (signed in by the proxy's header).
async fn board_of(world: &World, viewer: &str) -> serde_json::Value {
    let port = world.web_port.unwrap();
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    tcp.write_all(
        format!("GET /api/board HTTP/1.1\r\nHost: x\r\nX-Remote-User: {viewer}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_string(&mut text))
        .await
        .unwrap()
        .unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    // Chunked or not: the JSON object is from the first { to the last }.
    let json = &body[body.find('{').unwrap_or(0)..=body.rfind('}').unwrap_or(0)];
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn names_on(board: &serde_json::Value) -> Vec<String> {
    let mut names: Vec<String> = board["people"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter_map(|r| r["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn people_and_nested_groups_come_from_the_directory_and_follow_its_changes() {
    let mut world = World::new(&[]).with_sip().with_web();
    let tree = Tree::new(&world).await;
    tree.add_person(&world, "tanaka", "田中 太郎", "たなか たろう")
        .await;
    tree.add_person(&world, "sato", "佐藤 次郎", "さとう じろう")
        .await;
    // tanaka is in field only through field-tokyo (a nested group).
    tree.add_group("field-tokyo", &[tree.dn("tanaka")]).await;
    tree.add_group("field", &[tree.dn("field-tokyo")]).await;
    tree.add_group("desk", &[tree.dn("sato")]).await;
    directory_world(&mut world, &tree);
    let domain = world.servers.domain.clone();
    let server = world.start_server();
    assert_eq!(
        world.status()["directory"]["people"],
        2,
        "{}",
        world.status()
    );

    // IT can enrol the phone of someone known only from the directory.
    let code = Command::new(mailpresence_e2e::binary("mailpresence-server"))
        .args(["--config", world.config_path().to_str().unwrap()])
        .args(["enroll", "tanaka", "--link-only"])
        .output()
        .unwrap();
    assert!(
        code.status.success(),
        "{}",
        String::from_utf8_lossy(&code.stderr)
    );
    assert!(String::from_utf8_lossy(&code.stdout).starts_with("mailpresence:enrol/1/"));

    let raw = RawSip::new(world.sip_addr()).await;
    raw.send_text(&publish(&raw, "tanaka", &domain, "現場"))
        .await;
    assert_eq!(
        raw.status().await,
        Some(200),
        "a directory person publishes"
    );
    raw.send_text(&publish(&raw, "kato", &domain, "出社")).await;
    assert_eq!(
        raw.status().await,
        Some(404),
        "kato is not in the directory yet"
    );
    // sato (desk) sees tanaka (field, through the nested group) by name.
    assert_eq!(
        names_on(&board_of(&world, "sato").await),
        ["佐藤 次郎", "田中 太郎"]
    );

    // The directory changes: kato joins desk, sato leaves.
    tree.add_person(&world, "kato", "加藤 三郎", "かとう さぶろう")
        .await;
    tree.add_member("desk", "kato").await;
    tree.remove("sato").await;
    // Within one refresh (10 s), without anyone touching the server.
    let joined = wait_until(Duration::from_secs(25), || async {
        raw.send_text(&publish(&raw, "kato", &domain, "出社")).await;
        raw.status().await == Some(200)
    })
    .await;
    assert!(
        joined,
        "kato could not publish after a refresh:\n{}",
        server.log_text()
    );
    raw.send_text(&publish(&raw, "sato", &domain, "帰社")).await;
    assert_eq!(raw.status().await, Some(404), "a leaver may not publish");
    assert_eq!(
        names_on(&board_of(&world, "kato").await),
        ["加藤 三郎", "田中 太郎"]
    );
    assert!(
        board_of(&world, "sato").await["people"].is_null(),
        "a leaver's board ends"
    );

    // The directory goes away: the last good copy stays, and status says so.
    let ldap_dir = std::env::var("MAILPRESENCE_LDAP_DIR").unwrap();
    let pid = std::fs::read_to_string(format!("{ldap_dir}/slapd.pid")).unwrap();
    Command::new("kill")
        .args(["-STOP", pid.trim()])
        .status()
        .unwrap();
    let failing = wait_until(Duration::from_secs(40), || async {
        world.status()["directory"]["error"].is_string()
    })
    .await;
    Command::new("kill")
        .args(["-CONT", pid.trim()])
        .status()
        .unwrap();
    assert!(
        failing,
        "the failed read is not in the status: {}",
        world.status()
    );
    raw.send_text(&publish(&raw, "kato", &domain, "外出")).await;
    assert_eq!(raw.status().await, Some(200), "kato is still known");
}

/// The plain OpenLDAP shape: inetOrgPerson people named by `uid`, groups of
/// names, the display name in `cn`: the defaults of `kind = "openldap"`.
#[tokio::test(flavor = "multi_thread")]
async fn a_plain_openldap_tree_gives_people_their_names_and_groups() {
    let mut world = World::new(&[]).with_sip().with_web();
    let tree = Tree::new(&world).await;
    let mut ldap = admin().await;
    for (uid, cn, reading) in [
        ("ito", "伊藤 一郎", "いとう いちろう"),
        ("mori", "森 花子", "もり はなこ"),
    ] {
        let mail = world.mail_of(uid);
        let sip = format!("sip:{uid}@{}", world.servers.domain);
        ldap.add(
            &format!("uid={uid},{}", tree.base),
            attrs(&[
                ("objectClass", &["inetOrgPerson"]),
                ("uid", &[uid]),
                ("cn", &[cn]),
                ("sn", &[cn]),
                ("displayName", &[reading]),
                ("mail", &[&mail]),
                ("labeledURI", &[&sip]),
            ]),
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    }
    tree.add_group("field", &[format!("uid=ito,{}", tree.base)])
        .await;
    tree.add_group("desk", &[format!("uid=mori,{}", tree.base)])
        .await;
    directory_world(&mut world, &tree);
    world.directory = world.directory.replace(
        "kind = \"active-directory\"\npeople_filter = \"(objectClass=user)\"\n",
        "kind = \"openldap\"\n",
    );
    let domain = world.servers.domain.clone();
    let _server = world.start_server();
    assert_eq!(
        world.status()["directory"]["people"],
        2,
        "{}",
        world.status()
    );
    let raw = RawSip::new(world.sip_addr()).await;
    raw.send_text(&publish(&raw, "ito", &domain, "現場")).await;
    assert_eq!(raw.status().await, Some(200));
    // mori (desk) sees ito (field) by the name in cn.
    assert_eq!(
        names_on(&board_of(&world, "mori").await),
        ["伊藤 一郎", "森 花子"]
    );
}
