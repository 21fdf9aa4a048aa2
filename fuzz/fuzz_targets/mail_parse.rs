//! Any bytes as a received mail: classified, never a panic; and whatever is
//! read as a presence mail composes again.
#![no_main]

use libfuzzer_sys::fuzz_target;

static INIT: std::sync::Once = std::sync::Once::new();
use mailpresence_protocol::mail::{self, ComposeEnvelope, Limits, Outcome};

fuzz_target!(|data: &[u8]| {
    // libfuzzer-sys aborts on any panic, even a contained one; the default hook
    // lets contained panics pass while an escaping one still aborts the run.
    INIT.call_once(|| drop(std::panic::take_hook()));
    let parsed = mail::parse(data, Limits::default());
    if let Outcome::Presence(message) = parsed.outcome {
        let envelope = ComposeEnvelope {
            from: "fuzz@example.co.jp".into(),
            to: "presence@example.co.jp".into(),
            ..Default::default()
        };
        let _ = mail::compose(&message, &envelope);
    }
});
