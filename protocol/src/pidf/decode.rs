//! Reading PIDF leniently: take what is there, wherever a phone put it, and never
//! reject a well-formed document for a missing optional element.

use super::dom::{self, Element};
use super::{MAX_PIDF_BYTES, PidfError, PidfPresence, ns};
use crate::mail::tags::MAX_VALUE_CHARS;
use crate::model::{
    Activity, ActivityToken, CivicAddress, Contact, Coordinates, PresenceFields, ScheduleEntry,
    ScheduleTime, parse_timestamp,
};
use crate::summary::{Lang, summary_line};

/// Plans kept from one PIDF document; a day has a handful.
const MAX_SCHEDULE_ENTRIES: usize = 16;

/// Decodes a PIDF document (UTF-8, as SIP and our mails carry it).
pub fn decode(xml: &[u8]) -> Result<PidfPresence, PidfError> {
    if xml.len() > MAX_PIDF_BYTES {
        return Err(PidfError::TooLarge(xml.len()));
    }
    let text = std::str::from_utf8(xml).map_err(|e| PidfError::Xml(format!("not UTF-8: {e}")))?;
    let root = dom::parse(text)?;
    if root.name != "presence" {
        return Err(PidfError::NotPidf(root.name));
    }
    let entity = root.attr("entity").unwrap_or_default().to_owned();
    let tuples: Vec<&Element> = root.children.iter().filter(|c| c.name == "tuple").collect();
    let person = root.children.iter().find(|c| c.name == "person");

    let basic = tuples
        .iter()
        .filter_map(|t| t.child_local("status").and_then(|s| s.child_local("basic")))
        .map(|b| b.text.eq_ignore_ascii_case("open"))
        .next();
    let contact = tuples
        .iter()
        .find_map(|t| t.child_local("contact").and_then(Element::text_opt))
        .map(|c| Contact::parse(&c))
        .unwrap_or_default();
    let updated = tuples
        .iter()
        .find_map(|t| t.child_local("timestamp"))
        .and_then(|t| parse_timestamp(&t.text).ok());

    let (location, address) = civic_location(&root);
    let mut fields = PresenceFields {
        contact,
        activity: activity(person, basic),
        location,
        schedule: schedule(&root, person),
        updated,
        coordinates: coordinates(&root),
        address,
    };
    if fields.activity.text.is_none() {
        fields.activity.text = tuple_note_as_text(&tuples, &fields);
    }
    cap_texts(&mut fields);
    Ok(PidfPresence { entity, fields })
}

/// Free texts cut to what a presence mail may carry: a desk phone's note
/// is a line, and a 60 KB one would be sent again in every NOTIFY to every
/// watcher.
fn cap_texts(fields: &mut PresenceFields) {
    let cap = |t: &mut String| {
        if let Some((at, _)) = t.char_indices().nth(MAX_VALUE_CHARS) {
            t.truncate(at);
        }
    };
    fields.activity.text.iter_mut().for_each(cap);
    fields.location.iter_mut().for_each(cap);
    fields.schedule.truncate(MAX_SCHEDULE_ENTRIES);
    fields.schedule.iter_mut().for_each(|e| cap(&mut e.text));
}

fn activity(person: Option<&Element>, basic: Option<bool>) -> Activity {
    let activities = person.and_then(|p| p.find_local(&["activities"]));
    let rpid = activities.and_then(|a| a.children.iter().find_map(activity_of_rpid));
    let unknown = activities.is_some_and(|a| a.children.iter().any(|c| c.name == "unknown"));
    let token = match (rpid, unknown, basic) {
        (Some(t), _, _) => Some(t),
        (None, true, _) => None,
        (None, false, Some(false)) => Some(ActivityToken::Offline),
        (None, false, _) => Some(ActivityToken::Available),
    };
    let text = person
        .and_then(|p| p.child_local("note"))
        .and_then(Element::text_opt);
    Activity { token, text }
}

/// RPID activity element → token (sip-mapping.md, read both ways).
fn activity_of_rpid(e: &Element) -> Option<ActivityToken> {
    use ActivityToken::*;
    Some(match e.name.as_str() {
        "busy" | "working" | "performance" | "presentation" => Busy,
        "away" => Away,
        "meeting" | "appointment" => Meeting,
        "on-the-phone" => OnThePhone,
        "travel" | "steering" => Driving,
        "meal" | "breakfast" | "dinner" => Break,
        "vacation" | "holiday" => Vacation,
        "other" if e.text.eq_ignore_ascii_case("on-site") => OnSite,
        "other" => ActivityToken::from_loose(&e.text)?,
        _ => return None,
    })
}

/// Desk phones put their free text in the tuple note. Ours there is only the
/// summary line, which is not free text.
fn tuple_note_as_text(tuples: &[&Element], fields: &PresenceFields) -> Option<String> {
    let note = tuples
        .iter()
        .find_map(|t| t.child_local("note").and_then(Element::text_opt))?;
    let ours = [Lang::Ja, Lang::En]
        .iter()
        .any(|&l| summary_line(fields, l) == note);
    (!ours).then_some(note)
}

fn civic_location(root: &Element) -> (Option<String>, Option<CivicAddress>) {
    let Some(civic) = root.find_local(&["civicAddress"]) else {
        return (None, None);
    };
    let part = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| civic.child_local(n).and_then(Element::text_opt))
    };
    let address = CivicAddress {
        country: part(&["country"]),
        region: part(&["A1"]),
        city: part(&["A2"]),
        district: part(&["A3"]),
        street: part(&["A6", "RD"]),
    };
    let loc = part(&["LOC"]);
    let display = loc.or_else(|| (!address.is_empty()).then(|| address.display()));
    let address = (!address.is_empty()).then_some(address);
    (display, address)
}

fn coordinates(root: &Element) -> Option<Coordinates> {
    let shape = root.find_local(&["Point", "Circle"])?;
    let pos = shape.child_local("pos")?;
    let mut it = pos.text.split_whitespace().map(str::parse::<f64>);
    let (lat, lon) = (it.next()?.ok()?, it.next()?.ok()?);
    let radius = shape
        .child_local("radius")
        .and_then(|r| r.text.parse::<f64>().ok());
    Coordinates::new(lat, lon, radius)
}

/// Our exact schedule lines when present, else the timed-status elements.
fn schedule(root: &Element, person: Option<&Element>) -> Vec<ScheduleEntry> {
    let mut ours = Vec::new();
    root.find_all(ns::MP, "entry", &mut ours);
    if !ours.is_empty() {
        return ours.iter().map(|e| ScheduleEntry::parse(&e.text)).collect();
    }
    let mut timed = Vec::new();
    if let Some(p) = person {
        p.find_all(ns::TP, "timed-status", &mut timed);
    }
    for t in root.children.iter().filter(|c| c.name == "tuple") {
        t.find_all(ns::TP, "timed-status", &mut timed);
    }
    timed
        .into_iter()
        .filter_map(|t| {
            let start = parse_timestamp(t.attr("from")?).ok()?;
            let end = t.attr("until").and_then(|u| parse_timestamp(u).ok());
            let text = t
                .find_local(&["note"])
                .map(|n| n.text.clone())
                .unwrap_or_default();
            Some(ScheduleEntry {
                start: Some(ScheduleTime::Instant(start)),
                end: end.map(ScheduleTime::Instant),
                text,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_huge_note_is_cut_to_a_line() {
        let note = "あ".repeat(30_000);
        let xml = format!(
            r#"<?xml version="1.0"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@example.test"><tuple id="t"><status><basic>open</basic></status><note>{note}</note></tuple></presence>"#
        );
        let p = decode(xml.as_bytes()).unwrap();
        let text = p.fields.activity.text.unwrap();
        assert_eq!(text.chars().count(), MAX_VALUE_CHARS);
    }
}
