//! `--check-config` on the `[sip]` connection bounds and SIP over TLS: the
//! certificate and key are read and matched before a phone ever connects.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn check(path: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mailpresence-server"))
        .arg("--check-config")
        .arg(path)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The documented example with `sip` as its `[sip]` section.
fn with_sip(dir: &Path, sip: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let example = std::fs::read_to_string(root.join("docs/server.example.toml")).unwrap();
    let path = dir.join("sip.toml");
    std::fs::write(&path, format!("{example}\n[sip]\n{sip}\n")).unwrap();
    path
}

/// A self-signed certificate and its key as PEM files in `dir`, named `name`.
fn certificate(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let made = rcgen::generate_simple_self_signed(vec!["presence.example.co.jp".into()]).unwrap();
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

fn tls(cert: &Path, key: &Path) -> String {
    format!(
        "tls_listen = \"0.0.0.0:5061\"\ntls_certificate = \"{}\"\ntls_key = \"{}\"",
        cert.display(),
        key.display()
    )
}

#[test]
fn tls_with_its_own_certificate_and_key_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), "server");
    let (ok, text) = check(&with_sip(dir.path(), &tls(&cert, &key)));
    assert!(ok, "{text}");
}

#[test]
fn a_key_that_is_not_the_certificates_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, _) = certificate(dir.path(), "server");
    let (_, other_key) = certificate(dir.path(), "other");
    let (ok, text) = check(&with_sip(dir.path(), &tls(&cert, &other_key)));
    assert!(!ok, "{text}");
    assert!(
        text.contains("other.key does not belong to tls_certificate"),
        "{text}"
    );
}

#[test]
fn unreadable_or_missing_tls_files_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), "server");
    let missing = dir.path().join("missing.crt");
    for (sip, says) in [
        (tls(&missing, &key), "tls_certificate"),
        (tls(&key, &key), "no PEM certificate in it"),
        (tls(&cert, &cert), "no PEM private key in it"),
        (
            "tls_listen = \"0.0.0.0:5061\"".into(),
            "tls_listen needs tls_certificate and tls_key",
        ),
        (
            format!("tls_certificate = \"{}\"", cert.display()),
            "only used with tls_listen",
        ),
        (
            format!("listen = \"0.0.0.0:5061\"\n{}", tls(&cert, &key)),
            "give TLS its own port",
        ),
    ] {
        let (ok, text) = check(&with_sip(dir.path(), &sip));
        assert!(
            !ok && text.contains(says),
            "{sip}: missing {says:?} in:\n{text}"
        );
    }
}

#[test]
fn connection_bounds_that_cannot_work_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    for (sip, says) in [
        ("max_connections = 0", "must be at least 1"),
        (
            "max_connections = 10\nmax_connections_per_ip = 20",
            "is more than max_connections",
        ),
        ("message_timeout_secs = 0", "must be at least 1"),
        (
            "connection_write_queue_bytes = 1000",
            "must hold at least one message",
        ),
    ] {
        let (ok, text) = check(&with_sip(dir.path(), sip));
        assert!(
            !ok && text.contains(says),
            "{sip}: missing {says:?} in:\n{text}"
        );
    }
    let (ok, text) = check(&with_sip(
        dir.path(),
        "max_connections = 4096\nmax_connections_per_ip = 64\nconnection_idle_timeout_secs = 120\nmessage_timeout_secs = 5\nconnection_write_queue_bytes = 1048576",
    ));
    assert!(ok, "{text}");
}
