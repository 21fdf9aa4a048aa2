//! What one viewer sees of everyone: a row per person the rules let them
//! see (状態, 行先, 戻り予定, 備考, 更新時刻), the place only where the rules
//! allow location (GET /api/board, and the rows `events` streams); and a
//! desk worker's own change from the board (POST /api/me), which is
//! published like a SIP PUBLISH: same record, same Notify mails and NOTIFYs;
//! one made on an older record than the stored one (its `version`) is
//! refused with 409 and the newer row, never put back over it.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{Local, Utc};
use mailpresence_protocol::model::{AccountName, Activity, ActivityToken, PresenceFields};
use mailpresence_protocol::summary::{Lang, activity_label};
use serde::{Deserialize, Serialize};

use super::back::{self, Back};
use super::office;
use super::session::{self, Refused, no_store};
use super::state::Web;
use crate::config::{PlaceKind, Preset};
use crate::directory::{Access, Person};
use crate::store::{Medium, PresenceRecord, Time};

/// The longest 備考 a desk worker may write.
const MAX_NOTE_CHARS: usize = 100;

/// One person as one viewer may see them.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub account: String,
    pub name: String,
    /// Departments (the directory's groups); the first one groups the board.
    pub groups: Vec<String>,
    /// The activity token (`on-site`), or none yet.
    pub state: Option<&'static str>,
    /// The office state (a `[web] presets` key, e.g. `out` for 外出), when
    /// the activity is one.
    pub office: Option<String>,
    /// When the state ends by itself (RFC 3339), if it has an end.
    pub until: Option<String>,
    /// 備考: the free text beside the state.
    pub note: Option<String>,
    /// 行先: the town-level place, only where the rules allow location.
    pub place: Option<String>,
    /// The place's representative point `[lon, lat]` for the map, only while
    /// on duty.
    pub point: Option<[f32; 2]>,
    /// 戻り予定 as written (`15:00`, `undecided`, `2026-12-08`, `2026-12-08
    /// 09:00`) and as the instant after which it is overdue.
    pub back: Option<String>,
    pub back_at: Option<String>,
    /// 更新時刻 (RFC 3339).
    pub updated: Option<String>,
    /// Which save of the record this is (when the server stored it, in ms):
    /// the board sends it back with a change so that a save based on an
    /// older record is refused rather than put back over a newer one.
    pub version: Option<String>,
    /// 内線, mobile and mail, with the links that call or write.
    pub contact: super::contact::ContactView,
    /// 伝言メモ waiting for the person, as far as the viewer may read them.
    pub memos: crate::memos::RowMemos,
}

/// The version of a stored record as [`Row::version`] shows it.
fn version_of(record: &PresenceRecord) -> String {
    record.received_at.timestamp_millis().to_string()
}

/// What `viewer` may see of `person`, or nothing at all.
pub fn row(
    web: &Web,
    viewer: &AccountName,
    person: &Person,
    record: Option<&PresenceRecord>,
    now: Time,
) -> Option<Row> {
    let access = web.hub.directory().access(viewer, &person.account);
    if access == Access::Nothing {
        return None;
    }
    let fields = record.map(|r| &r.fields);
    let state = fields.and_then(|f| f.activity.token);
    let location_live = record.is_some_and(|r| r.location_expires_at.is_none_or(|t| t > now));
    let place = fields
        .and_then(|f| f.location.clone())
        .filter(|_| access == Access::Full && location_live);
    let on_duty = state.is_some_and(ActivityToken::is_open);
    let point = place
        .as_deref()
        .filter(|_| on_duty)
        .and_then(|p| web.map.as_ref()?.point(p));
    let (back, back_at) = fields.and_then(back::shown).unzip();
    let presets = web.config.office_states();
    let office = fields.map(|f| office::read(presets, &f.activity));
    Some(Row {
        account: person.account.to_string(),
        name: if person.name.is_empty() {
            person.account.to_string()
        } else {
            person.name.clone()
        },
        groups: person.groups.clone(),
        state: state.map(ActivityToken::as_str),
        office: office
            .as_ref()
            .and_then(|o| o.preset)
            .map(|p| p.key.clone()),
        until: fields
            .and_then(|f| office::state_end(presets, f))
            .map(|t| t.with_timezone(&Local).to_rfc3339()),
        note: office.and_then(|o| o.note),
        place,
        point,
        back,
        back_at: back_at.flatten(),
        updated: fields
            .and_then(|f| f.updated)
            .map(|t| t.to_rfc3339())
            .or_else(|| record.map(|r| r.received_at.with_timezone(&Local).to_rfc3339())),
        version: record.map(version_of),
        contact: super::contact::of(person, &web.config.extension_uri),
        memos: web.hub.memos.row(viewer, &person.account, now),
    })
}

#[derive(Debug, Serialize)]
struct StateLabel {
    token: &'static str,
    ja: &'static str,
    en: &'static str,
    on_duty: bool,
}

#[derive(Debug, Serialize)]
struct Board<'a> {
    me: Option<Row>,
    account: String,
    csrf: String,
    /// The language the server speaks by default (`ja` or `en`).
    language: Lang,
    /// The board is as of this event id (for `?after=`, like `Last-Event-ID`).
    last_event: String,
    states: Vec<StateLabel>,
    /// The office states (外出, 会議 …) the form offers beside `states`.
    presets: &'a [Preset],
    people: Vec<Row>,
    map: bool,
    /// Display names of departments (`[web] departments`) for the headings.
    departments: std::collections::BTreeMap<String, String>,
    /// How soon the page's stream reconnects; rows older than that while it
    /// is away cannot be current.
    retry_ms: u64,
}

/// GET /api/board: everyone the viewer may see, and what the page needs.
pub async fn board(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let Some(viewer) = session::viewer(&web, &headers, peer).await else {
        return Refused::NotSignedIn.into_response();
    };
    // Read before the records: a change committed meanwhile comes again on
    // the stream (a row replaced twice), never goes missing.
    let last_event = web.hub.feed.event_id(web.hub.feed.last_id());
    let rows = match visible_rows(&web, &viewer.account).await {
        Ok(rows) => rows,
        Err(status) => return status.into_response(),
    };
    let me = rows
        .iter()
        .find(|r| r.account == viewer.account.as_str())
        .cloned();
    let board = Board {
        me,
        account: viewer.account.to_string(),
        csrf: viewer.csrf,
        language: web.language,
        last_event,
        states: ActivityToken::ALL
            .iter()
            .map(|&t| StateLabel {
                token: t.as_str(),
                ja: activity_label(t, Lang::Ja),
                en: activity_label(t, Lang::En),
                on_duty: t.is_open(),
            })
            .collect(),
        presets: web.config.office_states(),
        people: rows,
        map: web.map.is_some(),
        departments: web.config.departments.clone(),
        retry_ms: super::events::RETRY_MS,
    };
    let mut response = Json(board).into_response();
    no_store(&mut response);
    response
}

/// Everyone `viewer` may see, as they may see them, now.
async fn visible_rows(web: &Arc<Web>, viewer: &AccountName) -> Result<Vec<Row>, StatusCode> {
    let now = Utc::now();
    let directory = web.hub.directory();
    let people = directory.people();
    // The same directory for the rows as for the records read for them.
    let read_for = directory.clone();
    let records = web
        .blocking(move |web| {
            let people = read_for.people();
            web.hub.store().transaction(|tx| {
                people
                    .iter()
                    .map(|p| tx.presence(&p.account))
                    .collect::<Result<Vec<_>, _>>()
            })
        })
        .await;
    let records = match records {
        Some(Ok(r)) => r,
        Some(Err(e)) => {
            tracing::error!(error = %e, "board: cannot read presence");
            return Err(StatusCode::SERVICE_UNAVAILABLE);
        }
        None => return Err(StatusCode::SERVICE_UNAVAILABLE),
    };
    Ok(people
        .iter()
        .zip(&records)
        .filter_map(|(p, r)| row(web, viewer, p, r.as_ref(), now))
        .collect())
}

/// Town areas in one answer at most: a board of hundreds of people in the
/// field still names far fewer towns, and each outline is bounded.
const MAX_TOWN_AREAS: usize = 100;

/// One town area as the map draws it.
#[derive(Debug, Serialize)]
struct TownAreaJson {
    place: String,
    label: String,
    /// SVG path data in map units.
    path: String,
    /// West, north, east, south in map units.
    bounds: [f32; 4],
}

/// GET /api/map/towns: the areas of the towns where the viewer's visible
/// colleagues are, the same ones that get a dot (the rules allow their
/// place, and they are on duty); nobody else's town is in the answer.
pub async fn map_towns(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let Some(viewer) = session::viewer(&web, &headers, peer).await else {
        return Refused::NotSignedIn.into_response();
    };
    let Some(map) = web.map.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let rows = match visible_rows(&web, &viewer.account).await {
        Ok(rows) => rows,
        Err(status) => return status.into_response(),
    };
    let places: std::collections::BTreeSet<String> = rows
        .into_iter()
        .filter(|r| r.point.is_some())
        .filter_map(|r| r.place)
        .collect();
    let towns: Vec<TownAreaJson> = places
        .into_iter()
        .filter_map(|place| {
            let area = map.town_area(&place)?;
            Some(TownAreaJson {
                place,
                label: area.label,
                path: area.outline.path,
                bounds: area.outline.bounds,
            })
        })
        .take(MAX_TOWN_AREAS)
        .collect();
    let mut response = Json(serde_json::json!({ "towns": towns })).into_response();
    no_store(&mut response);
    response
}

/// A desk worker's own state, 戻り予定 and 備考, as the board sends them.
#[derive(Debug, Deserialize)]
pub struct OwnChange {
    /// An activity token (`busy`) or an office state's key (`out`).
    state: String,
    /// 戻り予定: `HH:MM`, `undecided`, `YYYY-MM-DD[THH:MM]` (see `back.rs`).
    #[serde(default)]
    back: Option<String>,
    #[serde(default)]
    note: Option<String>,
    /// 行先 or room, for an office state that takes one.
    #[serde(default)]
    place: Option<String>,
    /// The state ends by itself then: `HH:MM` today or RFC 3339.
    #[serde(default)]
    until: Option<String>,
    /// The [`Row::version`] the page's form was filled from ("" when the
    /// person had no record); without it (a script) the change is not checked.
    #[serde(default)]
    version: Option<String>,
}

impl OwnChange {
    /// Whether the change was made on the record that is stored now.
    fn made_on(&self, current: Option<&PresenceRecord>) -> bool {
        self.version
            .as_deref()
            .is_none_or(|v| v == current.map(version_of).unwrap_or_default())
    }
}

/// The longest 行先 or room a desk worker may write.
const MAX_PLACE_CHARS: usize = 60;

/// Why a change was not taken, in words for the page.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    #[error("unknown state {0:?}")]
    State(String),
    #[error(
        "戻り予定 must be HH:MM on the hour or half hour, undecided, or a day YYYY-MM-DD (with THH:MM), not {0:?}"
    )]
    Back(String),
    #[error("備考 is longer than {MAX_NOTE_CHARS} characters or holds control characters")]
    Note,
    #[error("行先 is longer than {MAX_PLACE_CHARS} characters or holds control characters")]
    Place,
    #[error("the end {0:?} is not a time later today (HH:MM) or a future RFC 3339 time")]
    Until(String),
}

/// `text` trimmed, or `None` when blank; `Err` when longer than `max` or
/// holding control characters.
fn short_text(text: Option<&str>, max: usize) -> Result<Option<&str>, ()> {
    let text = text.map(str::trim).filter(|t| !t.is_empty());
    if text.is_some_and(|t| t.chars().count() > max || t.chars().any(char::is_control)) {
        return Err(());
    }
    Ok(text)
}

impl OwnChange {
    /// The presence this change makes of the person's current one: the state
    /// and note replace the activity, the return time replaces an earlier
    /// 戻り予定 and the end an earlier end; an office state's 行先 or room is
    /// the place, and goes with the state; a phone's place and other plans
    /// stay.
    pub fn apply(
        &self,
        current: Option<&PresenceFields>,
        contact: &str,
        lang: Lang,
        presets: &[Preset],
    ) -> Result<PresenceFields, ChangeError> {
        let now = Utc::now();
        let preset = presets.iter().find(|p| p.key == self.state);
        let token = match preset {
            Some(p) => p.activity,
            None => ActivityToken::from_loose(&self.state)
                .ok_or_else(|| ChangeError::State(self.state.clone()))?,
        };
        let note =
            short_text(self.note.as_deref(), MAX_NOTE_CHARS).map_err(|()| ChangeError::Note)?;
        let place = short_text(self.place.as_deref(), MAX_PLACE_CHARS)
            .map_err(|()| ChangeError::Place)?
            .filter(|_| preset.is_some_and(|p| p.place != PlaceKind::None));
        let back = match self
            .back
            .as_deref()
            .map(str::trim)
            .filter(|b| !b.is_empty())
        {
            None => None,
            Some(b) => Some(Back::parse(b).ok_or_else(|| ChangeError::Back(b.to_owned()))?),
        };
        let until = match self
            .until
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
        {
            None => None,
            Some(u) => {
                Some(office::parse_until(u, now).ok_or_else(|| ChangeError::Until(u.to_owned()))?)
            }
        };
        let mut fields = current
            .cloned()
            .unwrap_or_else(|| PresenceFields::new(contact, Activity::token(token)));
        let before = fields.activity.clone();
        if let Some(place) = place {
            fields.location = Some(place.to_owned());
        } else if office::place_set_with_state(presets, &fields) {
            // The 行先 of the state before goes with it; a phone's stays.
            fields.location = None;
        }
        fields.activity = office::activity(preset, token, note, lang);
        fields
            .schedule
            .retain(|e| !back::is_back_plan(e) && !office::is_end_plan(presets, &before, e));
        if let Some(back) = back {
            fields.schedule.insert(0, back.plan(lang));
        }
        if let Some(until) = until {
            let end = office::end_plan(presets, &fields.activity, now, until, lang);
            fields.schedule.push(end);
        }
        fields.updated = Some(Local::now().fixed_offset());
        Ok(fields)
    }
}

/// POST /api/me: the signed-in person's own state (CSRF and origin checked).
pub async fn set_own(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(change): Json<OwnChange>,
) -> Response {
    let viewer = match session::check_change(&web, &headers, peer).await {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let Some(person) = web.hub.directory().person(&viewer.account).cloned() else {
        return Refused::NotSignedIn.into_response();
    };
    let contact = person
        .mail
        .clone()
        .or(person.sip.clone())
        .unwrap_or_default();
    let account = viewer.account.clone();
    let Some((stepped, refused, newer)) = web
        .blocking(move |web| {
            let mut refused = None;
            let mut newer = None;
            let stepped = web.hub.step(|engine, tx, now| {
                let current = tx.presence(&account)?;
                if !change.made_on(current.as_ref()) {
                    newer = Some(current);
                    return Ok(None);
                }
                let presets = web.config.office_states();
                let fields = current.as_ref().map(|r| &r.fields);
                match change.apply(fields, &contact, web.language, presets) {
                    Ok(fields) => engine
                        .publish(tx, &account, fields, Medium::Web, now)
                        .map(Some),
                    Err(e) => {
                        refused = Some(e);
                        Ok(None)
                    }
                }
            });
            (stepped, refused, newer)
        })
        .await
    else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    if let Some(current) = newer {
        // Changed elsewhere (a desk phone, another tab) since the form was
        // filled: the page shows the newer record and says so.
        let current =
            current.and_then(|r| row(&web, &viewer.account, &person, Some(&r), Utc::now()));
        return (
            StatusCode::CONFLICT,
            Json(serde_json::json!({ "error": "changed elsewhere since the form was filled", "current": current })),
        )
            .into_response();
    }
    if let Some(e) = refused {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(serde_json::json!({ "error": e.to_string() })),
        )
            .into_response();
    }
    match stepped {
        Ok(Some(committed)) => {
            tracing::info!(account = %viewer.account, verdict = %committed.step.verdict, "board: own state set");
            let now = Utc::now();
            let record = committed.step.published.as_ref();
            match row(&web, &viewer.account, &person, record, now) {
                Some(r) => Json(r).into_response(),
                None => StatusCode::NO_CONTENT.into_response(),
            }
        }
        Ok(None) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "board: cannot store a change");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::built_in_presets;
    use mailpresence_protocol::model::ScheduleEntry;

    fn change(state: &str, back: Option<&str>, note: Option<&str>) -> OwnChange {
        OwnChange {
            state: state.into(),
            back: back.map(Into::into),
            note: note.map(Into::into),
            place: None,
            until: None,
            version: None,
        }
    }

    #[test]
    fn a_desk_change_replaces_state_note_and_return_time_and_keeps_the_rest() {
        let mut current = PresenceFields::new(
            "sato@example.test",
            Activity::token(ActivityToken::Available),
        );
        current.location = Some("東京都千代田区丸の内一丁目".into());
        current.schedule = vec![
            ScheduleEntry::parse("12:00 戻り予定"),
            ScheduleEntry::parse("16:00 定例会議"),
        ];
        let fields = change("meeting", Some("15:30"), Some(" 部長会議 "))
            .apply(
                Some(&current),
                "sato@example.test",
                Lang::Ja,
                &built_in_presets(),
            )
            .unwrap();
        assert_eq!(fields.activity.token, Some(ActivityToken::Meeting));
        assert_eq!(fields.activity.text.as_deref(), Some("部長会議"));
        assert_eq!(
            fields.location.as_deref(),
            Some("東京都千代田区丸の内一丁目")
        );
        let plans: Vec<String> = fields
            .schedule
            .iter()
            .map(|e| {
                format!(
                    "{} {}",
                    e.start
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    e.text
                )
            })
            .collect();
        assert_eq!(plans, ["15:30 戻り予定", "16:00 定例会議"]);
        assert_eq!(back::shown(&fields).map(|b| b.0).as_deref(), Some("15:30"));
    }

    #[test]
    fn a_change_made_on_an_older_record_is_told_apart() {
        let record = |ms: i64| PresenceRecord {
            account: "sato".parse().unwrap(),
            fields: PresenceFields::new("sato@example.test", Activity::parse("busy").unwrap()),
            source: Medium::Web,
            received_at: chrono::DateTime::from_timestamp_millis(ms).unwrap(),
            location_expires_at: None,
        };
        let on = |version: Option<&str>| OwnChange {
            version: version.map(Into::into),
            ..change("busy", None, None)
        };
        let stored = record(1_780_000_000_123);
        assert!(on(Some("1780000000123")).made_on(Some(&stored)));
        assert!(!on(Some("1780000000122")).made_on(Some(&stored)));
        assert!(
            !on(Some("")).made_on(Some(&stored)),
            "filled before any record"
        );
        assert!(on(Some("")).made_on(None));
        assert!(!on(Some("1780000000123")).made_on(None));
        assert!(
            on(None).made_on(Some(&stored)),
            "a script's change is not checked"
        );
    }

    #[test]
    fn a_bad_change_is_named() {
        let apply = |c: OwnChange| {
            c.apply(None, "x@example.test", Lang::En, &built_in_presets())
                .unwrap_err()
        };
        assert_eq!(
            apply(change("sleeping", None, None)),
            ChangeError::State("sleeping".into())
        );
        assert_eq!(
            apply(change("busy", Some("15:10"), None)),
            ChangeError::Back("15:10".into())
        );
        assert_eq!(
            apply(change("busy", Some("25:00"), None)),
            ChangeError::Back("25:00".into())
        );
        assert_eq!(
            apply(change("busy", None, Some("a\u{7}b"))),
            ChangeError::Note
        );
        assert_eq!(
            apply(change("busy", None, Some(&"長".repeat(101)))),
            ChangeError::Note
        );
    }
    #[test]
    fn an_office_states_place_goes_with_it_and_a_phones_place_stays() {
        let presets = built_in_presets();
        let office = |state: &str, place: Option<&str>, until: Option<&str>| OwnChange {
            place: place.map(Into::into),
            until: until.map(Into::into),
            ..change(state, None, Some("見積"))
        };
        let out = office("out", Some(" A社 本社 "), None)
            .apply(None, "sato@example.test", Lang::Ja, &presets)
            .unwrap();
        assert_eq!(out.activity.to_wire(), "away — 外出 — 見積");
        assert_eq!(out.location.as_deref(), Some("A社 本社"));
        let back = office("available", Some("ignored"), None)
            .apply(Some(&out), "sato@example.test", Lang::Ja, &presets)
            .unwrap();
        assert_eq!(back.location, None, "the 行先 went with 外出");
        assert_eq!(back.activity.to_wire(), "available — 見積");

        // A field worker's measured place stays through a plain state and
        // an office state set without a place.
        let mut field =
            PresenceFields::new("tanaka@example.test", Activity::parse("on-site").unwrap());
        field.location = Some("東京都千代田区丸の内一丁目".into());
        let direct = office("direct-home", None, None)
            .apply(Some(&field), "tanaka@example.test", Lang::Ja, &presets)
            .unwrap();
        assert_eq!(direct.location, field.location);

        // A meeting with an end in a room; a later change drops the end.
        let until = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
        let meeting = office("meeting-room", Some("第1会議室"), Some(&until))
            .apply(None, "sato@example.test", Lang::Ja, &presets)
            .unwrap();
        assert!(office::state_end(&presets, &meeting).is_some());
        let busy = office("busy", None, None)
            .apply(Some(&meeting), "sato@example.test", Lang::Ja, &presets)
            .unwrap();
        assert_eq!(office::state_end(&presets, &busy), None);
        assert!(busy.schedule.is_empty(), "{:?}", busy.schedule);
        assert_eq!(busy.location, None);

        let past = office("meeting-room", None, Some("2020-01-01T10:00:00+09:00"))
            .apply(None, "sato@example.test", Lang::Ja, &presets)
            .unwrap_err();
        assert_eq!(past, ChangeError::Until("2020-01-01T10:00:00+09:00".into()));
        let long = "長".repeat(61);
        let too_long = office("out", Some(&long), None)
            .apply(None, "sato@example.test", Lang::Ja, &presets)
            .unwrap_err();
        assert_eq!(too_long, ChangeError::Place);
    }
}
