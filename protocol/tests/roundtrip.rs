//! Property tests: random Unicode values survive compose → parse (mail) and
//! model → PIDF → model, so both sides of the system read what the other wrote.

use chrono::{DateTime, FixedOffset, NaiveTime, TimeZone};
use mailpresence_protocol::mail::{
    self, ComposeEnvelope, DirectoryQuery, Limits, Notify, Outcome, People, PresenceMessage,
    Publish, Subscribe, SubscribeMode,
};
use mailpresence_protocol::model::{
    AccountName, Activity, ActivityToken, CivicAddress, Coordinates, PresenceFields, ScheduleEntry,
    ScheduleTime,
};
use mailpresence_protocol::people::DirectoryEntry;
use mailpresence_protocol::pidf;
use mailpresence_protocol::summary::Lang;
use proptest::prelude::*;

/// Free text: any printable Unicode (no controls, format characters or line
/// separators), trimmed, as a person would type it.
fn text() -> impl Strategy<Value = String> {
    "[^\\p{C}\\p{Zl}\\p{Zp}]{1,40}"
        .prop_map(|s| s.trim().to_owned())
        .prop_filter("non-empty", |s| !s.is_empty())
}

fn account() -> impl Strategy<Value = AccountName> {
    "[\\p{L}\\p{N}._-]{1,24}".prop_map(|s| s.parse().expect("valid by construction"))
}

fn token() -> impl Strategy<Value = ActivityToken> {
    proptest::sample::select(ActivityToken::ALL.to_vec())
}

/// The first word of a free-text-only activity must not be a token: the wire
/// form `busy day` reads as token `busy` with text `day`, by design.
fn starts_with_token(s: &str) -> bool {
    let first = s
        .split(|c: char| c.is_whitespace() || "—–―:：".contains(c))
        .next()
        .unwrap_or_default();
    ActivityToken::from_loose(first).is_some()
}

fn activity() -> impl Strategy<Value = Activity> {
    prop_oneof![
        token().prop_map(Activity::token),
        (
            token(),
            text().prop_filter("no leading separator", |t| !t
                .starts_with(['—', '–', '―', '-', ':', '：', '、', ',']))
        )
            .prop_map(|(t, x)| Activity {
                token: Some(t),
                text: Some(x)
            }),
        text()
            .prop_filter("not a token", |t| !starts_with_token(t))
            .prop_map(|x| Activity {
                token: None,
                text: Some(x)
            }),
    ]
}

fn instant() -> impl Strategy<Value = DateTime<FixedOffset>> {
    (0i64..4_000_000_000, -12i32 * 4..=14 * 4).prop_map(|(secs, quarter_hours)| {
        let offset = FixedOffset::east_opt(quarter_hours * 15 * 60).expect("in range");
        offset.timestamp_opt(secs, 0).single().expect("valid")
    })
}

fn schedule_time() -> impl Strategy<Value = ScheduleTime> {
    prop_oneof![
        (0u32..24, 0u32..60).prop_map(|(h, m)| ScheduleTime::Clock(
            NaiveTime::from_hms_opt(h, m, 0).expect("valid")
        )),
        instant().prop_map(ScheduleTime::Instant),
    ]
}

fn schedule_entry() -> impl Strategy<Value = ScheduleEntry> {
    prop_oneof![
        (
            schedule_time(),
            proptest::option::of(schedule_time()),
            proptest::option::of(text())
        )
            .prop_map(|(s, e, t)| ScheduleEntry {
                start: Some(s),
                end: e,
                text: t.unwrap_or_default()
            }),
        // Free text that does not itself start with a time.
        text()
            .prop_filter("not time-like", |t| ScheduleEntry::parse(t).start.is_none())
            .prop_map(|t| ScheduleEntry {
                start: None,
                end: None,
                text: t
            }),
    ]
}

fn coordinates() -> impl Strategy<Value = Coordinates> {
    (
        -90.0f64..=90.0,
        -180.0f64..=180.0,
        proptest::option::of(0.0f64..10_000.0),
    )
        .prop_map(|(lat, lon, u)| Coordinates::new(lat, lon, u).expect("in range"))
}

fn contact() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9._-]{1,16}@[a-z0-9-]{1,12}\\.co\\.jp",
        "sip:[a-z0-9]{1,10}@pbx\\.example\\.jp",
        "tel:\\+81-[0-9]{2}-[0-9]{4}-[0-9]{4}",
        text().prop_filter("no mailto", |t| !t
            .to_ascii_lowercase()
            .starts_with("mailto:")),
    ]
}

fn fields() -> impl Strategy<Value = PresenceFields> {
    (
        contact(),
        activity(),
        proptest::option::of(text()),
        proptest::collection::vec(schedule_entry(), 0..4),
        proptest::option::of(instant()),
        proptest::option::of(coordinates()),
    )
        .prop_map(
            |(contact, activity, location, schedule, updated, coordinates)| PresenceFields {
                contact: contact.into(),
                activity,
                location,
                schedule,
                updated,
                coordinates,
                address: None,
            },
        )
}

fn civic() -> impl Strategy<Value = CivicAddress> {
    (
        proptest::option::of("[A-Z]{2}"),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(text()),
    )
        .prop_map(|(country, region, city, district, street)| CivicAddress {
            country,
            region,
            city,
            district,
            street,
        })
        .prop_filter("some part", |a| !a.is_empty())
}

/// A directory entry as the server lists it: fields without `|` (the line
/// writer turns one into `｜`; `people.rs` tests that).
fn entry() -> impl Strategy<Value = DirectoryEntry> {
    let field = || proptest::option::of(text().prop_filter("no bar", |t| !t.contains('|')));
    (account(), field(), field(), field(), field(), field()).prop_map(
        |(account, name, reading, department, extension, mail)| DirectoryEntry {
            name: name.unwrap_or_else(|| account.to_string()),
            account: account.to_string(),
            reading,
            department,
            extension,
            mail,
        },
    )
}

fn envelope() -> ComposeEnvelope {
    ComposeEnvelope {
        from: "田中 <tanaka@example.co.jp>".into(),
        to: "presence@example.co.jp".into(),
        ..Default::default()
    }
}

fn compose_then_parse(message: &PresenceMessage) -> Outcome {
    let raw = mail::compose(message, &envelope()).expect("composes");
    mail::parse(&raw, Limits::default()).outcome
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn publish_survives_compose_then_parse(publisher in account(), presence in fields()) {
        let message = PresenceMessage::Publish(Publish { publisher, presence });
        prop_assert_eq!(compose_then_parse(&message), Outcome::Presence(message));
    }

    #[test]
    fn notify_survives_compose_then_parse(notifier in account(), presence in fields()) {
        let message = PresenceMessage::Notify(Notify { notifier, presence });
        prop_assert_eq!(compose_then_parse(&message), Outcome::Presence(message));
    }

    #[test]
    fn subscribe_survives_compose_then_parse(
        watcher in account(),
        notifiers in proptest::collection::vec(account(), 1..5),
        send_to in "[a-z0-9._-]{1,16}@[a-z0-9-]{1,12}\\.jp",
        watch in any::<bool>(),
        expires in proptest::option::of(any::<u32>()),
    ) {
        let mode = if watch { SubscribeMode::Watch } else { SubscribeMode::Once };
        let message = PresenceMessage::Subscribe(Subscribe { watcher: watcher.clone(), notifiers: notifiers.clone(), send_to: send_to.clone(), mode, expires });
        // A name asked for twice is asked for once (the parser drops repeats,
        // so that one mail cannot cause a Notify per repetition).
        let mut once = Vec::new();
        for n in notifiers {
            if !once.contains(&n) {
                once.push(n);
            }
        }
        let expected = PresenceMessage::Subscribe(Subscribe { watcher, notifiers: once, send_to, mode, expires });
        prop_assert_eq!(compose_then_parse(&message), Outcome::Presence(expected));
    }

    #[test]
    fn a_directory_search_always_returns(entry in entry(), reading in "[\\u{ff61}-\\u{ff9f}ぁ-んァ-ヶa-z゛゜ー ]{0,16}", query in "[\\u{ff61}-\\u{ff9f}ぁ-んァ-ヶa-zA-Z゛゜ー ]{0,16}", other in "\\PC{0,24}") {
        // Any text a worker types or a directory holds: half-width kana and
        // lone voiced marks among it (wana_kana 5.0 loops on a lone ﾞ).
        let entry = DirectoryEntry { reading: Some(reading), ..entry };
        let _ = entry.matches(&query);
        let _ = entry.matches(&other);
    }

    #[test]
    fn directory_survives_compose_then_parse(watcher in account(), query in proptest::option::of(text())) {
        let message = PresenceMessage::Directory(DirectoryQuery { watcher, query });
        prop_assert_eq!(compose_then_parse(&message), Outcome::Presence(message));
    }

    #[test]
    fn people_survive_compose_then_parse(
        watcher in account(),
        people in proptest::collection::vec(entry(), 0..20),
        more in 0u32..1000,
    ) {
        let total = u32::try_from(people.len()).expect("small") + more;
        let message = PresenceMessage::People(People { watcher, query: None, people, total });
        prop_assert_eq!(compose_then_parse(&message), Outcome::Presence(message));
    }

    #[test]
    fn a_memo_survives_compose_then_parse(
        recipient in account(),
        id in "[a-f0-9]{8,32}",
        taken_by in text(),
        taken_at in instant(),
        caller in text(),
        callback in proptest::option::of("\\+?[0-9]{2,4}-[0-9]{2,4}-[0-9]{3,4}"),
        message in proptest::option::of(text()),
    ) {
        let memo = mailpresence_protocol::memo::Memo { recipient, id, taken_by, taken_at, caller, callback, message };
        let message = PresenceMessage::Memo(memo);
        prop_assert_eq!(compose_then_parse(&message), Outcome::Presence(message));
    }

    #[test]
    fn presence_survives_pidf(account in account(), mut presence in fields(), address in proptest::option::of(civic()), en in any::<bool>()) {
        if presence.location.is_some() {
            presence.address = address;
        }
        let lang = if en { Lang::En } else { Lang::Ja };
        let xml = pidf::encode(&pidf::entity_for(&account, "example.co.jp"), &presence, lang);
        let decoded = pidf::decode(xml.as_bytes()).expect("own PIDF decodes");
        prop_assert_eq!(decoded.account(), Some(account));
        prop_assert_eq!(decoded.fields, presence);
    }

    #[test]
    fn mail_parse_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = mail::parse(&raw, Limits::default());
    }

    #[test]
    fn pidf_decode_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = pidf::decode(&raw);
    }
}
