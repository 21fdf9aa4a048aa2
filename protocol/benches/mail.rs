//! Parse and compose speed of presence mails, on the golden mails (every
//! charset and mailer shape), and the cost of the sender check. Compared with Python's `email` package on the
//! same files by `bench/mail_parse_python.py`; figures in BENCHMARKS.md.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mailpresence_protocol::mail::{self, ComposeEnvelope, Limits, Outcome, PresenceMessage};

fn golden_mails() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("golden dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| std::fs::read(f).expect("read"))
        .collect()
}

fn parse(c: &mut Criterion) {
    let mails = golden_mails();
    let mut group = c.benchmark_group("mail");
    group.throughput(Throughput::Elements(mails.len() as u64));
    group.bench_function("parse_golden_set", |b| {
        b.iter(|| {
            for m in &mails {
                black_box(mail::parse(black_box(m), Limits::default()));
            }
        })
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse_one_publish", |b| {
        let spec = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/golden/publish-spec-example-utf8-8bit.eml"),
        )
        .expect("read");
        b.iter(|| black_box(mail::parse(black_box(&spec), Limits::default())))
    });
    group.finish();
}

fn compose(c: &mut Criterion) {
    let messages: Vec<PresenceMessage> = golden_mails()
        .iter()
        .filter_map(|m| match mail::parse(m, Limits::default()).outcome {
            Outcome::Presence(p) => Some(p),
            _ => None,
        })
        .collect();
    let envelope = ComposeEnvelope {
        from: "田中 <tanaka@example.co.jp>".into(),
        to: "presence@example.co.jp".into(),
        message_id: Some("<bench@example.co.jp>".into()),
        in_reply_to: None,
    };
    let mut group = c.benchmark_group("mail");
    group.throughput(Throughput::Elements(messages.len() as u64));
    group.bench_function("compose_golden_set", |b| {
        b.iter(|| {
            for m in &messages {
                black_box(mail::compose(black_box(m), &envelope).expect("composes"));
            }
        })
    });
    group.finish();
}

/// What the `authentication-results` trust mode adds to each presence mail:
/// finding the MTA's header among several and reading it.
fn sender_check(c: &mut Criterion) {
    use mailpresence_protocol::mail::auth::{SenderTrust, check_sender};
    use mailpresence_protocol::mail::{AuthResultsHeader, Envelope};
    let envelope = Envelope {
        from: Some("tanaka@example.co.jp".into()),
        from_headers: 1,
        authentication_results: vec![
            AuthResultsHeader::delivered(
                "mx.example.co.jp; dkim=pass (2048-bit key; unprotected) header.d=example.co.jp header.i=@example.co.jp header.a=rsa-sha256 header.s=mail header.b=ZnCjikGj; dkim-atps=neutral",
            ),
            AuthResultsHeader::delivered(
                "relay.example.net; spf=pass smtp.mailfrom=tanaka@example.co.jp",
            ),
        ],
        return_path: Some("tanaka@example.co.jp".into()),
        ..Envelope::default()
    };
    let trust = SenderTrust::authentication_results("mx.example.co.jp");
    let mut group = c.benchmark_group("mail");
    group.throughput(Throughput::Elements(1));
    group.bench_function("check_sender_authentication_results", |b| {
        b.iter(|| black_box(check_sender(&trust, black_box(&envelope)).expect("proven")))
    });
    group.finish();
}

/// What a phone's signature costs: signing a composed Publish (the mail read
/// back, then signed) and checking one as the server does (among a person's
/// three device keys), beside parsing the same mail alone.
fn device_signature(c: &mut Criterion) {
    use mail::device_signature::{sign_mail, verify_mail};
    let raw = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden/publish-spec-example-utf8-8bit.eml"),
    )
    .expect("golden Publish");
    let key = ed25519_dalek::SigningKey::from_bytes(&[1u8; 32]);
    let keys = [2u8, 3, 1].map(|b| ed25519_dalek::SigningKey::from_bytes(&[b; 32]).verifying_key());
    let now = 1_796_000_000;
    let signed = sign_mail(&raw, &key, now).expect("signs");
    println!(
        "device_signature: the Publish is {} bytes, {} signed (+{})",
        raw.len(),
        signed.len(),
        signed.len() - raw.len()
    );
    let mut group = c.benchmark_group("device_signature");
    group.throughput(Throughput::Elements(1));
    group.bench_function("sign_publish", |b| {
        b.iter(|| black_box(sign_mail(black_box(&raw), &key, now).expect("signs")))
    });
    group.bench_function("parse_and_verify_publish", |b| {
        b.iter(|| {
            let parsed = mail::parse(black_box(&signed), Limits::default());
            black_box(verify_mail(&parsed, &keys, now).expect("verifies"))
        })
    });
    group.bench_function("parse_publish_unsigned", |b| {
        b.iter(|| black_box(mail::parse(black_box(&raw), Limits::default())))
    });
    group.finish();
}

criterion_group!(benches, parse, compose, sender_check, device_signature);
criterion_main!(benches);
