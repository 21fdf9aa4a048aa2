//! The `mailpresence` binary as a user runs it: JSON out, exit codes, round trips.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailpresence"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("writes");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("finishes")
}

fn stdout_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

#[test]
fn parse_prints_the_contract_json_for_the_spec_example() {
    let out = run(
        &[
            "parse",
            root()
                .join("docs/examples/publish.eml")
                .to_str()
                .expect("utf-8 path"),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        r#"{"kind":"publish","publisher":"tanaka","contact":"tanaka@example.co.jp","activity":{"token":"on-site","text":"設備点検中"},"location":"東京都千代田区丸の内一丁目","schedule":[{"start":"15:00","end":null,"text":"帰社予定"}],"updated":"2026-11-26T13:05:00+09:00","coordinates":null}"#
    );
}

#[test]
fn parse_reads_an_iso_2022_jp_publish_from_stdin() {
    let raw =
        std::fs::read(root().join("protocol/tests/golden/publish-feature-phone-iso2022jp.eml"))
            .expect("golden");
    assert!(
        raw.windows(3).any(|w| w == b"\x1b$B"),
        "the file really is ISO-2022-JP"
    );
    let v = stdout_json(&run(&["parse"], Some(&raw)));
    assert_eq!(v["publisher"], "suzuki");
    assert_eq!(v["activity"]["text"], "運転中 客先へ移動");
    assert_eq!(v["location"], "岐阜県岐阜市");
    assert_eq!(
        v["schedule"],
        json!([{"start": "16:30", "end": null, "text": "戻り"}])
    );
}

#[test]
fn exit_codes_say_what_kind_of_mail_it_was() {
    let golden = |n: &str| {
        root()
            .join("protocol/tests/golden")
            .join(n)
            .to_string_lossy()
            .into_owned()
    };
    for (file, code, says) in [
        ("re-publish.eml", 1, "not a presence mail"),
        ("bounce-of-notify.eml", 1, "refused"),
        ("autoreply-echoing-subject.eml", 1, "refused"),
        ("malformed-missing-contact.eml", 2, "Contact"),
        ("malformed-repeated-publisher.eml", 2, "Publisher"),
    ] {
        let out = run(&["parse", &golden(file)], None);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{file}: {err}");
        assert!(out.stdout.is_empty(), "{file}: nothing on stdout");
        assert_eq!(err.lines().count(), 1, "{file}: one line on stderr: {err}");
        assert!(err.contains(says), "{file}: {err}");
    }
    let out = run(&["parse", "/nonexistent/mail.eml"], None);
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn compose_then_parse_gives_back_every_field() {
    let mail = run(
        &[
            "compose",
            "publish",
            "--from",
            "田中 太郎 <tanaka@example.co.jp>",
            "--to",
            "presence@example.co.jp",
            "--publisher",
            "tanaka",
            "--activity",
            "on-site — 設備点検中",
            "--location",
            "東京都千代田区丸の内一丁目",
            "--schedule",
            "15:00 帰社予定",
            "--schedule",
            "13:00-14:00 打合せ",
            "--updated",
            "2026-11-26T13:05:00+09:00",
            "--coordinates",
            "35.681236,139.767125;u=12",
        ],
        None,
    );
    assert!(
        mail.status.success(),
        "{}",
        String::from_utf8_lossy(&mail.stderr)
    );
    let v = stdout_json(&run(&["parse"], Some(&mail.stdout)));
    assert_eq!(
        v,
        json!({"kind": "publish", "publisher": "tanaka", "contact": "tanaka@example.co.jp",
               "activity": {"token": "on-site", "text": "設備点検中"}, "location": "東京都千代田区丸の内一丁目",
               "schedule": [{"start": "15:00", "end": null, "text": "帰社予定"},
                            {"start": "13:00", "end": "14:00", "text": "打合せ"}],
               "updated": "2026-11-26T13:05:00+09:00",
               "coordinates": {"lat": 35.681236, "lon": 139.767125, "uncertainty_m": 12.0}})
    );

    let sub = run(
        &[
            "compose",
            "subscribe",
            "--from",
            "sato@example.co.jp",
            "--to",
            "presence@example.co.jp",
            "--watcher",
            "sato",
            "--notifier",
            "tanaka",
            "--notifier",
            "suzuki",
            "--mode",
            "watch",
            "--expires",
            "600",
        ],
        None,
    );
    let v = stdout_json(&run(&["parse"], Some(&sub.stdout)));
    assert_eq!(
        v,
        json!({"kind": "subscribe", "watcher": "sato", "notifiers": ["tanaka", "suzuki"],
                         "send_to": "sato@example.co.jp", "mode": "watch", "expires": 600})
    );

    let notify = run(
        &[
            "compose",
            "notify",
            "--from",
            "presence@example.co.jp",
            "--to",
            "sato@example.co.jp",
            "--notifier",
            "tanaka",
            "--contact",
            "tanaka@example.co.jp",
            "--activity",
            "driving",
            "--in-reply-to",
            "<s1@example.co.jp>",
            "--no-updated",
        ],
        None,
    );
    let text = String::from_utf8_lossy(&notify.stdout);
    assert!(text.contains("Auto-Submitted: auto-replied"), "{text}");
    assert!(text.contains("In-Reply-To: <s1@example.co.jp>"), "{text}");
    let v = stdout_json(&run(&["parse"], Some(&notify.stdout)));
    assert_eq!(v["kind"], "notify");
    assert_eq!(v["notifier"], "tanaka");
    assert_eq!(v["activity"], json!({"token": "driving", "text": null}));
    assert_eq!(v["updated"], Value::Null);
}

#[test]
fn compose_rejects_bad_input_with_a_clear_error() {
    let out = run(
        &[
            "compose",
            "publish",
            "--from",
            "not an address",
            "--to",
            "p@x.jp",
            "--publisher",
            "a",
            "--activity",
            "busy",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("From"));
    let out = run(
        &[
            "compose",
            "publish",
            "--from",
            "a@x.jp",
            "--to",
            "p@x.jp",
            "--publisher",
            "a b",
            "--activity",
            "busy",
        ],
        None,
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--publisher"));
}

#[test]
fn pidf_encode_and_decode_round_trip_through_the_cli() {
    let json = run(
        &[
            "parse",
            root()
                .join("docs/examples/publish.eml")
                .to_str()
                .expect("utf-8 path"),
        ],
        None,
    );
    let xml = run(
        &["pidf", "encode", "--domain", "example.co.jp"],
        Some(&json.stdout),
    );
    let text = String::from_utf8_lossy(&xml.stdout);
    assert!(text.contains("<note xml:lang=\"ja\">現場作業中（設備点検中） · 東京都千代田区丸の内一丁目 · 15:00 帰社予定</note>"), "{text}");
    let back = stdout_json(&run(&["pidf", "decode"], Some(&xml.stdout)));
    let original: Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(back["account"], "tanaka");
    for field in [
        "contact",
        "activity",
        "location",
        "schedule",
        "updated",
        "coordinates",
    ] {
        assert_eq!(back[field], original[field], "{field}");
    }
    let bad = run(&["pidf", "decode"], Some(b"<presence><tuple>"));
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn every_command_has_help() {
    for args in [
        &["--help"][..],
        &["parse", "--help"],
        &["compose", "publish", "--help"],
        &["compose", "subscribe", "--help"],
        &["compose", "notify", "--help"],
        &["pidf", "encode", "--help"],
        &["pidf", "decode", "--help"],
    ] {
        let out = run(args, None);
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage"),
            "{args:?}"
        );
    }
}

#[test]
fn geocode_prints_one_json_object_per_point() {
    let out = run(
        &[
            "geocode",
            "35.6812,139.7671",
            "35.0394,135.7292",
            "35.3317,136.6710",
        ],
        None,
    );
    assert!(out.status.success());
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(
        lines[0],
        json!({"country": "JP", "region": "東京都", "city": "千代田区", "district": "丸の内一丁目", "display": "東京都千代田区丸の内一丁目"})
    );
    assert_eq!(lines[1]["city"], "京都市北区");
    assert!(
        lines[1]["display"]
            .as_str()
            .is_some_and(|d| d.starts_with("京都府京都市北区")),
        "{}",
        lines[1]
    );
    assert!(
        lines[2]["display"]
            .as_str()
            .is_some_and(|d| d.starts_with("岐阜県安八町")),
        "{}",
        lines[2]
    );
    // Points on standard input, English names, the sea, and a bad line.
    let out = run(
        &["geocode", "--lang", "en"],
        Some(b"35.0394,135.7292\n0,-30\nnowhere\n"),
    );
    assert_eq!(out.status.code(), Some(2), "a bad point is reported");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["region"], "Kyoto");
    assert_eq!(
        lines[1],
        json!({"country": null, "region": null, "city": null, "district": null, "display": null})
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("point 3"));
}

#[test]
fn replay_dry_run_lists_the_publishes_and_counts() {
    let track = root().join("assets/tracks/gifu-itrek.nmea");
    let out = run(
        &["replay", track.to_str().expect("path"), "--dry-run"],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[0],
        json!({"time": "2005-07-27T04:58:49+00:00", "location": "岐阜県安八町"})
    );
    assert_eq!(lines[1], json!({"fixes": 35, "publishes": 1}));
    let out = run(&["replay", track.to_str().expect("path")], None);
    assert_eq!(
        out.status.code(),
        Some(3),
        "without --dry-run it says what it needs"
    );
}
