//! Writing PIDF for desk phones: `<basic>` and the summary `<note>` that every
//! phone shows, plus RPID, PIDF-LO and timed status for those that read more.

use chrono::{NaiveTime, TimeZone};
use quick_xml::escape::escape;

use super::ns;
use crate::model::{ActivityToken, PresenceFields, ScheduleEntry, ScheduleTime, Timestamp};
use crate::summary::{Lang, summary_line};

/// The PIDF document for `entity` (a `sip:` URI) with these fields; the note
/// is written in `lang`.
pub fn encode(entity: &str, fields: &PresenceFields, lang: Lang) -> String {
    let mut x = Xml::default();
    x.raw(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    x.raw(&format!(
        r#"<presence xmlns="{}" xmlns:dm="{}" xmlns:rpid="{}" xmlns:gp="{}" xmlns:ca="{}" xmlns:gml="{}" xmlns:gs="{}" xmlns:tp="{}" xmlns:mp="{}" entity="{}">"#,
        ns::PIDF, ns::DM, ns::RPID, ns::GP, ns::CA, ns::GML, ns::GS, ns::TP, ns::MP,
        escape(clean(entity).as_str())
    ));
    tuple(&mut x, fields, lang);
    person(&mut x, fields);
    x.raw("</presence>");
    x.0
}

fn tuple(x: &mut Xml, f: &PresenceFields, lang: Lang) {
    let open = f.activity.token.is_none_or(ActivityToken::is_open);
    x.raw(r#"<tuple id="t1"><status>"#);
    x.text_element("basic", if open { "open" } else { "closed" });
    geopriv(x, f);
    x.raw("</status>");
    if !f.contact.is_empty() {
        x.text_element("contact", &f.contact.to_uri());
    }
    let lang_tag = match lang {
        Lang::Ja => "ja",
        Lang::En => "en",
    };
    x.raw(&format!(r#"<note xml:lang="{lang_tag}">"#));
    x.text(&summary_line(f, lang));
    x.raw("</note>");
    if let Some(t) = &f.updated {
        x.text_element("timestamp", &t.to_rfc3339());
    }
    x.raw("</tuple>");
}

fn geopriv(x: &mut Xml, f: &PresenceFields) {
    if f.location.is_none() && f.coordinates.is_none() {
        return;
    }
    x.raw("<gp:geopriv><gp:location-info>");
    if let Some(display) = &f.location {
        let address = f.address.clone().unwrap_or_default();
        x.raw("<ca:civicAddress>");
        for (tag, part) in [
            ("country", &address.country),
            ("A1", &address.region),
            ("A2", &address.city),
            ("A3", &address.district),
            ("A6", &address.street),
        ] {
            if let Some(p) = part {
                x.text_element(&format!("ca:{tag}"), p);
            }
        }
        // The display string goes in LOC unless the parts already spell it.
        if address.is_empty() || address.display() != *display {
            x.text_element("ca:LOC", display);
        }
        x.raw("</ca:civicAddress>");
    }
    if let Some(c) = &f.coordinates {
        let pos = format!("{} {}", c.lat, c.lon);
        match c.uncertainty_m {
            Some(r) => {
                x.raw(r#"<gs:Circle srsName="urn:ogc:def:crs:EPSG::4326">"#);
                x.text_element("gml:pos", &pos);
                x.raw(r#"<gs:radius uom="urn:ogc:def:uom:EPSG::9001">"#);
                x.text(&r.to_string());
                x.raw("</gs:radius></gs:Circle>");
            }
            None => {
                x.raw(r#"<gml:Point srsName="urn:ogc:def:crs:EPSG::4326">"#);
                x.text_element("gml:pos", &pos);
                x.raw("</gml:Point>");
            }
        }
    }
    x.raw("</gp:location-info><gp:usage-rules/></gp:geopriv>");
}

fn person(x: &mut Xml, f: &PresenceFields) {
    x.raw(r#"<dm:person id="p1">"#);
    // Free text alone is an activity RPID does not name: `<rpid:unknown/>`.
    let activity = match f.activity.token {
        Some(token) => rpid_activity(token),
        None => Some(Rpid::Empty("unknown")),
    };
    if let Some(activity) = activity {
        x.raw("<rpid:activities>");
        match activity {
            Rpid::Empty(name) => x.raw(&format!("<rpid:{name}/>")),
            Rpid::Other(text) => x.text_element("rpid:other", text),
        }
        x.raw("</rpid:activities>");
    }
    if let Some(text) = &f.activity.text {
        x.text_element("dm:note", text);
    }
    for entry in &f.schedule {
        timed_status(x, entry, f.updated.as_ref());
    }
    if !f.schedule.is_empty() {
        x.raw("<mp:schedule>");
        for entry in &f.schedule {
            x.text_element("mp:entry", &entry.to_wire());
        }
        x.raw("</mp:schedule>");
    }
    x.raw("</dm:person>");
}

/// RFC 4481 needs full instants; a clock time is taken on the day, and in the
/// zone, of `updated`. Without it the plan is left to the note and `mp:schedule`.
fn timed_status(x: &mut Xml, entry: &ScheduleEntry, updated: Option<&Timestamp>) {
    let instant = |t: &ScheduleTime| match t {
        ScheduleTime::Instant(i) => Some(*i),
        ScheduleTime::Clock(c) => on_day_of(updated?, *c),
    };
    let Some(from) = entry.start.as_ref().and_then(instant) else {
        return;
    };
    let mut open = format!(r#"<tp:timed-status from="{}""#, from.to_rfc3339());
    if let Some(until) = entry.end.as_ref().and_then(instant) {
        open.push_str(&format!(r#" until="{}""#, until.to_rfc3339()));
    }
    x.raw(&open);
    x.raw(">");
    if !entry.text.is_empty() {
        x.text_element("note", &entry.text);
    }
    x.raw("</tp:timed-status>");
}

fn on_day_of(day: &Timestamp, time: NaiveTime) -> Option<Timestamp> {
    day.timezone()
        .from_local_datetime(&day.date_naive().and_time(time))
        .single()
}

enum Rpid {
    Empty(&'static str),
    Other(&'static str),
}

/// sip-mapping.md: token → RPID activity (none for available and offline).
fn rpid_activity(token: ActivityToken) -> Option<Rpid> {
    use ActivityToken::*;
    Some(match token {
        Available | Offline => return None,
        Busy => Rpid::Empty("busy"),
        Away => Rpid::Empty("away"),
        Meeting => Rpid::Empty("meeting"),
        OnThePhone => Rpid::Empty("on-the-phone"),
        OnSite => Rpid::Other("on-site"),
        Driving => Rpid::Empty("travel"),
        Break => Rpid::Empty("meal"),
        Vacation => Rpid::Empty("vacation"),
    })
}

/// Characters XML 1.0 cannot carry at all are dropped.
fn clean(s: &str) -> String {
    s.chars()
        .filter(|&c| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..))
        .collect()
}

#[derive(Default)]
struct Xml(String);

impl Xml {
    fn raw(&mut self, s: &str) {
        self.0.push_str(s);
    }

    fn text(&mut self, s: &str) {
        self.0.push_str(&escape(clean(s).as_str()));
    }

    fn text_element(&mut self, name: &str, text: &str) {
        self.0.push('<');
        self.0.push_str(name);
        self.0.push('>');
        self.text(text);
        self.0.push_str("</");
        self.0.push_str(name);
        self.0.push('>');
    }
}
