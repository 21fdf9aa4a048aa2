//! `--check-config` as an administrator uses it.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

fn check(path: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mailpresence-server"))
        .arg("--check-config")
        .arg(path)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_documented_example_is_valid() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/server.example.toml");
    let (ok, text) = check(&example);
    assert!(ok, "{text}");
    assert!(text.contains("valid (4 people, 3 rules)"), "{text}");
}

#[test]
fn the_readme_shows_the_same_example() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let example = std::fs::read_to_string(root.join("docs/server.example.toml")).unwrap();
    let block = readme
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a toml block in the README");
    assert_eq!(block, example, "README and docs/server.example.toml differ");
}

#[test]
fn every_mistake_is_explained_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        r#"
[server]
address = "presence"
storage = "/tmp/x.db"
[imap]
host = ""
port = 993
user = "p"
password = "p"
ca_file = "/nonexistent/ca.pem"
idle_timeout_secs = 3600
[smtp]
host = "mail"
port = 587
user = "p"
[[person]]
account = "田中 太郎"
mail = "tanaka@example.co.jp"
[[person]]
account = "sato"
mail = "TANAKA@example.co.jp"
[[person]]
account = "ito"
[[rule]]
watchers = ["group:nobody"]
may_see = ["sato"]
"#,
    )
    .unwrap();
    let (ok, text) = check(&path);
    assert!(!ok);
    for says in [
        "address \"presence\" is not a mail address",
        "[imap] host is empty",
        "ca_file /nonexistent/ca.pem does not exist",
        "idle_timeout_secs 3600",
        "user and password go together",
        "account: account name \"田中 太郎\"",
        "belongs to someone else too",
        "needs a mail address or a SIP URI",
        "\"group:nobody\" is no account",
        "[trust] is missing",
    ] {
        assert!(text.contains(says), "missing {says:?} in:\n{text}");
    }
}

/// A configuration that differs from the example in its `[trust]` section.
fn with_trust(dir: &Path, trust: &str) -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let example = std::fs::read_to_string(root.join("docs/server.example.toml")).unwrap();
    let start = example.find("[trust]").unwrap();
    let end = start + example[start..].find("\n\n").unwrap();
    let text = format!("{}{trust}{}", &example[..start], &example[end..]);
    let path = dir.join("trust.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_example_warns_about_nothing() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/server.example.toml");
    let (ok, text) = check(&example);
    assert!(ok && !text.contains("warning"), "{text}");
}

/// The example with a `[sip]` section appended.
fn with_sip(dir: &Path, sip: &str) -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let example = std::fs::read_to_string(root.join("docs/server.example.toml")).unwrap();
    let path = dir.join("sip.toml");
    std::fs::write(&path, format!("{example}\n[sip]\n{sip}\n")).unwrap();
    path
}

#[test]
fn a_sip_section_open_to_anyone_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, text) = check(&with_sip(dir.path(), "trusted_networks = [\"0.0.0.0/0\"]"));
    assert!(ok, "{text}");
    assert!(
        text.contains("warning: [sip] trusted_networks has 0.0.0.0/0: anyone who reaches the SIP port can publish as any desk user"),
        "{text}"
    );
    // No trusted network, and the example's desk staff have no sip_password.
    let (ok, text) = check(&with_sip(dir.path(), ""));
    assert!(ok, "{text}");
    assert!(
        text.contains(
            "sato, yamada have a SIP URI but no sip_password: their phones will be refused (403)"
        ),
        "{text}"
    );
    let (ok, text) = check(&with_sip(
        dir.path(),
        "trusted_networks = [\"10.1.0.0/16\"]",
    ));
    assert!(
        ok && !text.contains("warning"),
        "a closed LAN is fine: {text}"
    );
    let (ok, text) = check(&with_sip(
        dir.path(),
        "trusted_networks = [\"10.1.0.0/33\"]",
    ));
    assert!(!ok, "{text}");
}

#[test]
fn trusting_the_from_header_is_warned_about_in_plain_words() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, text) = check(&with_trust(dir.path(), "[trust]\nmode = \"from-header\""));
    assert!(ok, "{text}");
    assert!(
        text.contains("warning: [trust] mode = \"from-header\": the server believes the From header, which anyone can write"),
        "{text}"
    );
}

#[test]
fn trust_mistakes_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    for (trust, says) in [
        (
            "[trust]\nmode = \"authentication-results\"",
            "needs authserv_id",
        ),
        (
            "[trust]\nmode = \"authentication-results\"\nauthserv_id = \"a b\"",
            "must be one word",
        ),
        (
            "[trust]\nmode = \"dkim\"\n[[trust.dkim_key]]\nname = \"mail._domainkey.example.co.jp\"\nrecord = \"v=DKIM1; p=notbase64!\"",
            "is not a DKIM key",
        ),
        (
            "[trust]\nmode = \"dkim\"\n[[trust.dkim_key]]\nname = \"example.co.jp\"\nrecord = \"v=DKIM1; p=\"",
            "must be selector._domainkey.domain",
        ),
        ("[trust]\nmode = \"maybe\"", "unknown variant"),
    ] {
        let (ok, text) = check(&with_trust(dir.path(), trust));
        assert!(
            !ok && text.contains(says),
            "{trust}: missing {says:?} in:\n{text}"
        );
    }
}

#[test]
fn syntax_errors_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.toml");
    std::fs::write(&path, "[server]\naddress = \"p@x.jp\"\nstorage = \n").unwrap();
    let (ok, text) = check(&path);
    assert!(!ok);
    assert!(text.contains("line 3"), "{text}");
    let (ok, text) = check(Path::new("/nonexistent.toml"));
    assert!(!ok && text.contains("cannot read"), "{text}");
}
