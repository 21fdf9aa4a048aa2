//! PIDF as real desk phones write it (shapes seen from baresip and linphonec),
//! read leniently.

use std::path::Path;

use mailpresence_protocol::model::ActivityToken;
use mailpresence_protocol::pidf;

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/pidf")
            .join(name),
    )
    .expect("sample")
}

#[test]
fn baresip_empty_person_and_basic_only() {
    let p = pidf::decode(&sample("baresip.xml")).expect("decodes");
    assert_eq!(
        p.account().map(|a| a.to_string()).as_deref(),
        Some("yamada")
    );
    assert_eq!(p.fields.activity.token, Some(ActivityToken::Available));
    assert_eq!(p.fields.activity.text, None);
    assert_eq!(p.fields.contact, "sip:yamada@192.0.2.10:5060");
    assert_eq!(p.fields.location, None);
}

#[test]
fn linphone_vendor_elements_note_and_timestamp() {
    let p = pidf::decode(&sample("linphone.xml")).expect("decodes");
    assert_eq!(p.fields.activity.token, Some(ActivityToken::Meeting));
    assert_eq!(
        p.fields.activity.text.as_deref(),
        Some("15時まで会議 & 来客")
    );
    assert_eq!(
        p.fields.updated.map(|t| t.to_rfc3339()).as_deref(),
        Some("2026-11-26T04:10:00+00:00")
    );
}

#[test]
fn closed_basic_without_person_is_offline_and_tuple_note_is_text() {
    let xml = r#"<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:ito@x"><tuple id="a"><status><basic>closed</basic></status><note>帰宅しました</note></tuple></presence>"#;
    let p = pidf::decode(xml.as_bytes()).expect("decodes");
    assert_eq!(p.fields.activity.token, Some(ActivityToken::Offline));
    assert_eq!(p.fields.activity.text.as_deref(), Some("帰宅しました"));
}

#[test]
fn other_prefixes_and_default_namespaces_are_read_by_meaning() {
    let xml = r#"<p:presence xmlns:p="urn:ietf:params:xml:ns:pidf" entity="pres:ito@x">
      <p:tuple id="a"><p:status><p:basic>open</p:basic></p:status></p:tuple>
      <person xmlns="urn:ietf:params:xml:ns:pidf:data-model" id="x">
        <activities xmlns="urn:ietf:params:xml:ns:pidf:rpid"><on-the-phone/></activities>
      </person></p:presence>"#;
    let p = pidf::decode(xml.as_bytes()).expect("decodes");
    assert_eq!(p.fields.activity.token, Some(ActivityToken::OnThePhone));
    assert_eq!(p.account().map(|a| a.to_string()).as_deref(), Some("ito"));
}

#[test]
fn broken_and_hostile_documents_are_refused_with_a_reason() {
    for (xml, says) in [
        ("", "no root"),
        ("<presence><tuple>", "ends inside"),
        ("<html/>", "not a PIDF"),
        (r#"<!DOCTYPE x [<!ENTITY a "aaaa">]><presence/>"#, "DOCTYPE"),
        ("<presence>&bogus;</presence>", "entity"),
    ] {
        let err = pidf::decode(xml.as_bytes()).expect_err(xml).to_string();
        assert!(err.contains(says), "{xml}: {err}");
    }
    let deep = format!(
        "<presence>{}{}</presence>",
        "<a>".repeat(100),
        "</a>".repeat(100)
    );
    assert!(pidf::decode(deep.as_bytes()).is_err());
    let wide = format!("<presence>{}</presence>", "<a/>".repeat(10_000));
    assert!(pidf::decode(wide.as_bytes()).is_err());
}
