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
    ] {
        assert!(text.contains(says), "missing {says:?} in:\n{text}");
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
