//! Any bytes as a SIP datagram or TCP stream: parsed or refused, never a
//! panic; what parses is written out again and parses again.
#![no_main]

use libfuzzer_sys::fuzz_target;

static INIT: std::sync::Once = std::sync::Once::new();
use mailpresence_server::sip::message::{Message, frame_len, param, uri_of};

fuzz_target!(|data: &[u8]| {
    // libfuzzer-sys aborts on any panic, even a contained one; the default hook
    // lets contained panics pass while an escaping one still aborts the run.
    INIT.call_once(|| drop(std::panic::take_hook()));
    let _ = frame_len(data);
    for stream in [false, true] {
        if let Ok(m) = Message::parse(data, stream) {
            let _ = m.cseq();
            let _ = m.expires();
            for (_, v) in &m.headers {
                let _ = (param(v, "tag"), uri_of(v));
            }
            let again = Message::parse(&m.to_bytes(), true);
            assert!(again.is_ok(), "own output does not parse: {again:?}");
        }
    }
});
