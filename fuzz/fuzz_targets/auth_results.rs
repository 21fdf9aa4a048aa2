//! Any text as an `Authentication-Results` header from the network: read or
//! refused, never a panic; and the sender check built on it never proves a
//! sender from a header it could not read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailpresence_protocol::mail::{AuthResultsHeader, Envelope};
use mailpresence_protocol::mail::auth::{
    SenderTrust, TrustFailure, authserv_id_of, check_sender, parse_authentication_results,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = parse_authentication_results(text);
    let id = authserv_id_of(text);
    if let Ok(header) = &parsed {
        assert_eq!(id.as_deref(), Some(header.authserv_id.as_str()));
    }
    let Some(id) = id else {
        return;
    };
    let envelope = Envelope {
        from: Some("tanaka@example.co.jp".into()),
        from_headers: 1,
        authentication_results: vec![AuthResultsHeader::delivered(text)],
        return_path: Some("tanaka@example.co.jp".into()),
        ..Envelope::default()
    };
    let trust = SenderTrust::authentication_results(id);
    match (check_sender(&trust, &envelope), parsed) {
        (Ok(_), Err(e)) => panic!("proved a sender from an unreadable header: {e}"),
        (Err(TrustFailure::Unreadable { .. }), Ok(_)) => panic!("a readable header was unreadable"),
        _ => {}
    }
});
