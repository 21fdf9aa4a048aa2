//! How an office state of the board (外出 with its 行先, 会議 in a room until
//! 15:00 …) is written into the one presence record that every medium reads,
//! and read back out of it. The wire format stays as it is: the state is
//! published as its preset's activity token, with the preset's label as the
//! activity's text (`away — 外出`, a 備考 after ` — `), the 行先 or room as
//! the Location, and an end as a plan (`14:00-15:00 会議`). So a desk phone
//! shows `離席中（外出） · 〇〇商事 · 15:00 戻り予定` in its note and RPID
//! `away`, an older field phone reads `Activity: away — 外出`, and the board
//! shows 外出 again.

use chrono::{DateTime, Local, NaiveTime, TimeZone};
use mailpresence_protocol::model::{
    Activity, ActivityToken, PresenceFields, ScheduleEntry, ScheduleTime, Timestamp,
};
use mailpresence_protocol::summary::{Lang, activity_label};

use crate::config::{PlaceKind, Preset};
use crate::store::Time;

/// What stands between a preset's label and the 備考 in the activity text.
const NOTE_SEPARATOR: &str = " — ";

/// An office state as read from a record: its preset (none for the plain
/// states) and the 備考 beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficeState<'p> {
    pub preset: Option<&'p Preset>,
    pub note: Option<String>,
}

/// Which office state `activity` is: its text starts with a preset's label
/// (in either language) and the token is the preset's.
pub fn read<'p>(presets: &'p [Preset], activity: &Activity) -> OfficeState<'p> {
    let text = activity.text.as_deref().unwrap_or_default();
    for preset in presets
        .iter()
        .filter(|p| Some(p.activity) == activity.token)
    {
        for label in [&preset.ja, &preset.en] {
            let Some(rest) = text.strip_prefix(label.as_str()) else {
                continue;
            };
            if rest.is_empty() {
                return OfficeState {
                    preset: Some(preset),
                    note: None,
                };
            }
            if let Some(note) = rest.strip_prefix(NOTE_SEPARATOR) {
                let note = note.trim();
                return OfficeState {
                    preset: Some(preset),
                    note: (!note.is_empty()).then(|| note.to_owned()),
                };
            }
        }
    }
    OfficeState {
        preset: None,
        note: activity.text.clone(),
    }
}

/// The activity an office state is published as.
pub fn activity(
    preset: Option<&Preset>,
    token: ActivityToken,
    note: Option<&str>,
    lang: Lang,
) -> Activity {
    let text = match (preset, note) {
        (Some(p), Some(n)) => Some(format!("{}{NOTE_SEPARATOR}{n}", label(p, lang))),
        (Some(p), None) => Some(label(p, lang).to_owned()),
        (None, n) => n.map(str::to_owned),
    };
    Activity {
        token: Some(token),
        text,
    }
}

fn label(preset: &Preset, lang: Lang) -> &str {
    match lang {
        Lang::Ja => &preset.ja,
        Lang::En => &preset.en,
    }
}

/// The words a state's end plan carries: the preset's label, or the token's.
fn end_labels(presets: &[Preset], activity: &Activity) -> Vec<String> {
    match (read(presets, activity).preset, activity.token) {
        (Some(p), _) => vec![p.ja.clone(), p.en.clone()],
        (None, Some(t)) => vec![
            activity_label(t, Lang::Ja).to_owned(),
            activity_label(t, Lang::En).to_owned(),
        ],
        (None, None) => Vec::new(),
    }
}

/// The plan that ends the state `activity` at `until`: `14:00-15:00 会議`,
/// which a desk phone's note and a Notify mail show as they are.
pub fn end_plan(
    presets: &[Preset],
    activity: &Activity,
    now: Time,
    until: Timestamp,
    lang: Lang,
) -> ScheduleEntry {
    let labels = end_labels(presets, activity);
    let text = match lang {
        Lang::Ja => labels.first(),
        Lang::En => labels.get(1),
    };
    ScheduleEntry {
        start: Some(ScheduleTime::Instant(
            now.with_timezone(&Local).fixed_offset(),
        )),
        end: Some(ScheduleTime::Instant(until)),
        text: text.cloned().unwrap_or_default(),
    }
}

/// Whether `entry` is the end plan of the state `activity`.
pub fn is_end_plan(presets: &[Preset], activity: &Activity, entry: &ScheduleEntry) -> bool {
    entry.start.is_some()
        && entry.end.is_some()
        && end_labels(presets, activity).contains(&entry.text)
}

/// When the state of `fields` ends by itself, if it has an end.
pub fn state_end(presets: &[Preset], fields: &PresenceFields) -> Option<Time> {
    let entry = fields
        .schedule
        .iter()
        .find(|e| is_end_plan(presets, &fields.activity, e))?;
    match entry.end.as_ref()? {
        ScheduleTime::Instant(t) => Some(t.to_utc()),
        // A clock time (a hand-written mail) is on the day of the update.
        ScheduleTime::Clock(c) => on_day_of(fields.updated?, *c),
    }
}

fn on_day_of(day: Timestamp, clock: NaiveTime) -> Option<Time> {
    day.offset()
        .from_local_datetime(&day.date_naive().and_time(clock))
        .single()
        .map(|t| t.to_utc())
}

/// The presence once its state has ended: 在席 again, without the state's
/// 備考, its end plan, and the 行先 or room the board set with it; the 戻り予定
/// and other plans stay.
pub fn after_end(presets: &[Preset], fields: &PresenceFields, now: Time) -> PresenceFields {
    let mut after = fields.clone();
    let state = read(presets, &fields.activity);
    after
        .schedule
        .retain(|e| !is_end_plan(presets, &fields.activity, e));
    if state.preset.is_some_and(|p| p.place != PlaceKind::None) {
        after.location = None;
    }
    after.activity = Activity::token(ActivityToken::Available);
    after.updated = Some(now.with_timezone(&Local).fixed_offset());
    after
}

/// Whether the board set the place of `fields` with its state (a 行先 or a
/// room), rather than a phone measuring it.
pub fn place_set_with_state(presets: &[Preset], fields: &PresenceFields) -> bool {
    read(presets, &fields.activity)
        .preset
        .is_some_and(|p| p.place != PlaceKind::None)
}

/// A time until which a state lasts, as the page sends it: `HH:MM` today (a
/// time already past is refused) or an RFC 3339 instant in the future.
pub fn parse_until(text: &str, now: Time) -> Option<Timestamp> {
    let text = text.trim();
    let at: DateTime<chrono::FixedOffset> = match text.parse::<ScheduleTime>().ok()? {
        ScheduleTime::Clock(c) => Local
            .from_local_datetime(&now.with_timezone(&Local).date_naive().and_time(c))
            .single()?
            .fixed_offset(),
        ScheduleTime::Instant(t) => t,
    };
    (at.to_utc() > now).then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::built_in_presets;

    fn presets() -> Vec<Preset> {
        built_in_presets()
    }

    fn find<'p>(presets: &'p [Preset], ja: &str) -> &'p Preset {
        presets.iter().find(|p| p.ja == ja).unwrap()
    }

    #[test]
    fn each_office_state_is_published_on_an_existing_token_with_its_label() {
        let presets = presets();
        let wire = |ja: &str, note: Option<&str>| {
            let p = find(&presets, ja);
            activity(Some(p), p.activity, note, Lang::Ja).to_wire()
        };
        assert_eq!(wire("外出", None), "away — 外出");
        assert_eq!(wire("外出", Some("A社打合せ")), "away — 外出 — A社打合せ");
        assert_eq!(wire("直行", None), "on-site — 直行");
        assert_eq!(wire("直帰", None), "on-site — 直帰");
        assert_eq!(wire("出張", None), "away — 出張");
        assert_eq!(wire("会議", None), "meeting — 会議");
        assert_eq!(wire("本日戻らず", None), "offline — 本日戻らず");
        assert_eq!(wire("帰宅", None), "offline — 帰宅");
        assert_eq!(wire("休暇", None), "vacation — 休暇");
        // A desk phone's one-line note reads right too.
        let p = find(&presets, "外出");
        let mut fields = PresenceFields::new(
            "x@example.test",
            activity(Some(p), p.activity, None, Lang::Ja),
        );
        fields.location = Some("丸の内 A社".into());
        fields.schedule = vec![ScheduleEntry::parse("15:00 戻り予定")];
        assert_eq!(
            mailpresence_protocol::summary::summary_line(&fields, Lang::Ja),
            "離席中（外出） · 丸の内 A社 · 15:00 戻り予定"
        );
    }

    #[test]
    fn what_the_wire_carries_reads_back_as_the_same_office_state() {
        let presets = presets();
        for p in &presets {
            for lang in [Lang::Ja, Lang::En] {
                for note in [None, Some("部長と")] {
                    let wire = activity(Some(p), p.activity, note, lang).to_wire();
                    let back = Activity::parse(&wire).unwrap();
                    let read = read(&presets, &back);
                    assert_eq!(read.preset, Some(p), "{wire}");
                    assert_eq!(read.note.as_deref(), note, "{wire}");
                }
            }
        }
        // A plain state's note, and a label on another token, stay notes.
        let plain = Activity::parse("busy — 外出の準備").unwrap();
        assert_eq!(read(&presets, &plain).preset, None);
        assert_eq!(read(&presets, &plain).note.as_deref(), Some("外出の準備"));
        let other = Activity::parse("busy — 外出").unwrap();
        assert_eq!(read(&presets, &other).preset, None);
    }

    #[test]
    fn a_state_with_an_end_ends_by_itself_back_to_available() {
        let presets = presets();
        let room = find(&presets, "会議");
        let now = Local
            .with_ymd_and_hms(2026, 12, 7, 14, 0, 0)
            .unwrap()
            .to_utc();
        let until = parse_until("15:00", now).unwrap();
        assert_eq!(parse_until("13:30", now), None, "already past");
        let mut fields = PresenceFields::new(
            "x@example.test",
            activity(Some(room), room.activity, None, Lang::Ja),
        );
        fields.location = Some("第1会議室".into());
        fields.schedule = vec![
            ScheduleEntry::parse("16:00 戻り予定"),
            end_plan(&presets, &fields.activity, now, until, Lang::Ja),
        ];
        assert_eq!(fields.schedule[1].to_human(), "14:00-15:00 会議");
        assert_eq!(state_end(&presets, &fields), Some(until.to_utc()));
        let after = after_end(&presets, &fields, until.to_utc());
        assert_eq!(after.activity, Activity::token(ActivityToken::Available));
        assert_eq!(after.location, None, "the room goes with the meeting");
        assert_eq!(after.schedule, vec![ScheduleEntry::parse("16:00 戻り予定")]);
        assert_eq!(state_end(&presets, &after), None);
        // A plain state's end plan carries the token's label.
        let busy = Activity::token(ActivityToken::Busy);
        let plan = end_plan(&presets, &busy, now, until, Lang::En);
        assert_eq!(plan.text, "Busy");
        assert!(is_end_plan(&presets, &busy, &plan));
        // A field worker's own plan is never taken for an end.
        let mut field = PresenceFields::new("x@example.test", busy);
        field.schedule = vec![ScheduleEntry::parse("13:00-14:00 定例会議")];
        assert_eq!(state_end(&presets, &field), None);
    }
}
