//! Golden mails: each `tests/golden/NAME.eml` is parsed and compared with the
//! hand-written `NAME.expect.json` beside it (made by `make_golden.py`).

use std::fs;
use std::path::{Path, PathBuf};

use mailpresence_protocol::mail::{self, Limits, Outcome};
use serde_json::Value;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn check(eml: &Path) -> Result<(), String> {
    let raw = fs::read(eml).map_err(|e| e.to_string())?;
    let expect_path = eml.with_extension("expect.json");
    let expect: Value = serde_json::from_slice(&fs::read(&expect_path).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let outcome = mail::parse(&raw, Limits::default()).outcome;
    let want = expect["outcome"].as_str().unwrap_or_default();
    let contains = |text: String| match expect["stderr_contains"].as_str() {
        Some(needle) if !text.contains(needle) => {
            Err(format!("{text:?} does not mention {needle:?}"))
        }
        _ => Ok(()),
    };
    match (want, outcome) {
        ("presence", Outcome::Presence(m)) => {
            let got = serde_json::to_value(&m).map_err(|e| e.to_string())?;
            if got == expect["message"] {
                Ok(())
            } else {
                Err(format!("got {got}\nwant {}", expect["message"]))
            }
        }
        ("not-presence", Outcome::NotPresence(why)) => contains(why.to_string()),
        ("refused", Outcome::Refused(why)) => contains(why.to_string()),
        ("malformed", Outcome::Malformed(m)) => match expect["part"].as_str() {
            Some(part) if part != m.part() => {
                Err(format!("fault in {}, want {part}: {m}", m.part()))
            }
            _ => Ok(()),
        },
        (want, got) => Err(format!("want {want}, got {got:?}")),
    }
}

#[test]
fn every_golden_mail_parses_as_expected() {
    let mut mails: Vec<PathBuf> = fs::read_dir(golden_dir())
        .expect("golden dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    mails.sort();
    assert!(mails.len() >= 25, "golden mails missing: {}", mails.len());
    let failures: Vec<String> = mails
        .iter()
        .filter_map(|m| check(m).err().map(|e| format!("{}: {e}", m.display())))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_charset_and_encoding_is_covered() {
    let names: Vec<String> = fs::read_dir(golden_dir())
        .expect("golden dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    for charset in ["utf8", "iso2022jp", "sjis", "eucjp"] {
        for cte in ["qp", "b64"] {
            let name = format!("publish-{charset}-{cte}.eml");
            assert!(names.contains(&name), "{name} missing");
        }
    }
}

#[test]
fn oversized_mail_and_body_are_refused() {
    let head = "From: a@example.co.jp\r\nSubject: Publish\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n";
    let body = format!(
        "Publisher: a\r\nContact: a@b\r\nActivity: busy\r\n{}",
        "x".repeat(70 * 1024)
    );
    let outcome = mail::parse(format!("{head}{body}").as_bytes(), Limits::default()).outcome;
    assert!(
        matches!(
            outcome,
            Outcome::Refused(mail::MailRefusal::Oversized {
                what: "text body",
                ..
            })
        ),
        "{outcome:?}"
    );
    let huge = vec![b'a'; 2 * 1024 * 1024];
    let outcome = mail::parse(&huge, Limits::default()).outcome;
    assert!(
        matches!(
            outcome,
            Outcome::Refused(mail::MailRefusal::Oversized { what: "mail", .. })
        ),
        "{outcome:?}"
    );
}

#[test]
fn envelope_carries_threading_headers() {
    let raw = fs::read(golden_dir().join("notify-from-server.eml")).expect("golden");
    let parsed = mail::parse(&raw, Limits::default());
    assert_eq!(
        parsed.envelope.in_reply_to.as_deref(),
        Some("<sub-1@example.co.jp>")
    );
    assert_eq!(
        parsed.envelope.from.as_deref(),
        Some("presence@example.co.jp")
    );
    assert!(
        parsed
            .envelope
            .message_id
            .is_some_and(|id| id.ends_with("@golden.example.co.jp>"))
    );
}

#[test]
fn garbage_is_classified_not_panicked_on() {
    for raw in [
        &b""[..],
        b"\0\0\0",
        b"Subject: Publish\r\n\r\n",
        b"Subject: Publish\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n",
    ] {
        let outcome = mail::parse(raw, Limits::default()).outcome;
        assert!(
            !matches!(outcome, Outcome::Presence(_)),
            "{raw:?} → {outcome:?}"
        );
    }
}
