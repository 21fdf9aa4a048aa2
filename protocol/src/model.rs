//! The presence model shared by the phone and the server: one person's record
//! (the seed's five fields plus `updated` and optional coordinates) and the values
//! it is made of. Parsing of single values lives here too, so that the mail and
//! the PIDF side read a schedule line or an activity the same way.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, NaiveTime};
use serde::{Deserialize, Serialize};

/// Longest account name accepted (an id like `tanaka`, not a display name).
pub const MAX_ACCOUNT_LEN: usize = 64;

/// What went wrong reading one value; the caller adds which tag or element it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("empty value")]
    Empty,
    #[error("account name {0:?} is not 1–64 letters, digits, '.', '_' or '-'")]
    AccountName(String),
    #[error("{0:?} is not an RFC 3339 time such as 2026-11-26T13:05:00+09:00")]
    Timestamp(String),
    #[error("{0:?} is not `lat,lon` or `lat,lon;u=metres` with lat in ±90 and lon in ±180")]
    Coordinates(String),
    #[error("{0:?} is not a schedule time (HH:MM or RFC 3339)")]
    ScheduleTime(String),
    #[error("{0:?} is not `once` or `watch`")]
    Mode(String),
    #[error("{0:?} is not a whole number of seconds")]
    Seconds(String),
}

/// A person's stable id ("user information" in the seed), e.g. `tanaka`.
/// Letters of any script are allowed; no spaces or URI delimiters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccountName(String);

impl AccountName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for AccountName {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let ok_char = |c: char| c.is_alphanumeric() || matches!(c, '.' | '_' | '-');
        if s.is_empty() {
            return Err(ValueError::Empty);
        }
        if s.chars().count() > MAX_ACCOUNT_LEN || !s.chars().all(ok_char) {
            return Err(ValueError::AccountName(s.to_owned()));
        }
        Ok(Self(s.to_owned()))
    }
}

impl TryFrom<String> for AccountName {
    type Error = ValueError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<AccountName> for String {
    fn from(a: AccountName) -> Self {
        a.0
    }
}

impl fmt::Display for AccountName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The closed list of activities both media understand (mail-protocol.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
#[serde(rename_all = "kebab-case")]
pub enum ActivityToken {
    Available,
    Busy,
    Away,
    Meeting,
    OnThePhone,
    OnSite,
    Driving,
    Break,
    Vacation,
    Offline,
}

impl ActivityToken {
    pub const ALL: [ActivityToken; 10] = [
        Self::Available,
        Self::Busy,
        Self::Away,
        Self::Meeting,
        Self::OnThePhone,
        Self::OnSite,
        Self::Driving,
        Self::Break,
        Self::Vacation,
        Self::Offline,
    ];

    /// The wire spelling, e.g. `on-the-phone`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Available => "available",
            Self::Busy => "busy",
            Self::Away => "away",
            Self::Meeting => "meeting",
            Self::OnThePhone => "on-the-phone",
            Self::OnSite => "on-site",
            Self::Driving => "driving",
            Self::Break => "break",
            Self::Vacation => "vacation",
            Self::Offline => "offline",
        }
    }

    /// Reads a token leniently: case, `_` or space in place of `-` do not matter.
    pub fn from_loose(word: &str) -> Option<Self> {
        let norm: String = word
            .trim()
            .chars()
            .map(|c| match c {
                '_' | ' ' => '-',
                c => c.to_ascii_lowercase(),
            })
            .collect();
        Self::ALL.into_iter().find(|t| t.as_str() == norm)
    }

    /// Whether a person with this activity can be reached at all (PIDF `<basic>`).
    pub fn is_open(self) -> bool {
        !matches!(self, Self::Vacation | Self::Offline)
    }
}

impl fmt::Display for ActivityToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An activity: a token, free text, or both (`on-site — 設備点検中`).
/// Free text is always kept, never folded into the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    pub token: Option<ActivityToken>,
    pub text: Option<String>,
}

/// Characters that may stand between a token and its free text.
const ACTIVITY_SEPARATORS: &[char] = &['—', '–', '―', '-', ':', '：', '、', ','];

impl Activity {
    pub fn token(token: ActivityToken) -> Self {
        Self {
            token: Some(token),
            text: None,
        }
    }

    /// Parses the mail form: `token`, `token — text`, or free text alone.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(ValueError::Empty);
        }
        if let Some(token) = ActivityToken::from_loose(value) {
            return Ok(Self::token(token));
        }
        // The token is the first word; what follows a separator is the text.
        let split_at = value
            .char_indices()
            .find(|&(_, c)| c.is_whitespace() || ['—', '–', '―', ':', '：'].contains(&c))
            .map(|(i, _)| i);
        if let Some(i) = split_at
            && let Some(token) = ActivityToken::from_loose(&value[..i])
        {
            let rest = value[i..].trim_start_matches(|c: char| {
                c.is_whitespace() || ACTIVITY_SEPARATORS.contains(&c)
            });
            let text = (!rest.trim().is_empty()).then(|| rest.trim().to_owned());
            return Ok(Self {
                token: Some(token),
                text,
            });
        }
        Ok(Self {
            token: None,
            text: Some(value.to_owned()),
        })
    }

    /// The mail form that [`Activity::parse`] reads back to the same value.
    pub fn to_wire(&self) -> String {
        match (&self.token, &self.text) {
            (Some(t), Some(text)) => format!("{t} — {text}"),
            (Some(t), None) => t.to_string(),
            (None, Some(text)) => text.clone(),
            (None, None) => ActivityToken::Available.to_string(),
        }
    }
}

/// Where on Earth, as the phone measured it; only sent if the user chose to.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Coordinates {
    pub lat: f64,
    pub lon: f64,
    /// Radius of uncertainty in metres, when known.
    pub uncertainty_m: Option<f64>,
}

impl Coordinates {
    pub fn new(lat: f64, lon: f64, uncertainty_m: Option<f64>) -> Option<Self> {
        let lat_ok = lat.is_finite() && (-90.0..=90.0).contains(&lat);
        let lon_ok = lon.is_finite() && (-180.0..=180.0).contains(&lon);
        let u_ok = uncertainty_m.is_none_or(|u| u.is_finite() && u >= 0.0);
        (lat_ok && lon_ok && u_ok).then_some(Self {
            lat,
            lon,
            uncertainty_m,
        })
    }
}

impl FromStr for Coordinates {
    type Err = ValueError;
    /// `lat,lon[;u=metres]`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ValueError::Coordinates(s.to_owned());
        let (point, params) = match s.split_once(';') {
            Some((p, rest)) => (p, Some(rest)),
            None => (s, None),
        };
        let (lat, lon) = point.split_once(',').ok_or_else(bad)?;
        let lat: f64 = lat.trim().parse().map_err(|_| bad())?;
        let lon: f64 = lon.trim().parse().map_err(|_| bad())?;
        let uncertainty = match params {
            None => None,
            Some(p) => {
                let u = p.trim().strip_prefix("u=").ok_or_else(bad)?;
                Some(u.trim().parse::<f64>().map_err(|_| bad())?)
            }
        };
        Self::new(lat, lon, uncertainty).ok_or_else(bad)
    }
}

impl fmt::Display for Coordinates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.lat, self.lon)?;
        if let Some(u) = self.uncertainty_m {
            write!(f, ";u={u}")?;
        }
        Ok(())
    }
}

/// RFC 3339 instant with the writer's own offset kept (a phone in Japan says +09:00).
pub type Timestamp = DateTime<FixedOffset>;

pub fn parse_timestamp(s: &str) -> Result<Timestamp, ValueError> {
    DateTime::parse_from_rfc3339(s.trim()).map_err(|_| ValueError::Timestamp(s.to_owned()))
}

/// The time a plan starts or ends: a clock time ("15:00", today in the writer's
/// zone) or a full RFC 3339 instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ScheduleTime {
    Clock(NaiveTime),
    Instant(Timestamp),
}

impl FromStr for ScheduleTime {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Ok(t) = NaiveTime::parse_from_str(s, "%H:%M") {
            // Reject "9:5"-like forms that chrono accepts, so the text form is canonical.
            if s.len() == 5 {
                return Ok(Self::Clock(t));
            }
        }
        DateTime::parse_from_rfc3339(s)
            .map(Self::Instant)
            .map_err(|_| ValueError::ScheduleTime(s.to_owned()))
    }
}

impl fmt::Display for ScheduleTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Clock(t) => write!(f, "{}", t.format("%H:%M")),
            Self::Instant(t) => f.write_str(&t.to_rfc3339()),
        }
    }
}

impl TryFrom<String> for ScheduleTime {
    type Error = ValueError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<ScheduleTime> for String {
    fn from(t: ScheduleTime) -> Self {
        t.to_string()
    }
}

/// One plan: `15:00 帰社予定`, `13:00-14:00 会議`, or free text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleEntry {
    pub start: Option<ScheduleTime>,
    pub end: Option<ScheduleTime>,
    pub text: String,
}

/// Range separators people type between two times: ASCII hyphen, and the wave
/// dashes a Japanese keyboard gives (`13:00〜14:00`).
const RANGE_SEPARATORS: &[char] = &['-', '~', '〜', '～'];

impl ScheduleEntry {
    /// Reads `HH:MM[-HH:MM] text`, RFC 3339 times in the same places, or free text.
    /// Never fails: a line that does not start with a time is free text.
    pub fn parse(line: &str) -> Self {
        let line = line.trim();
        let (head, text) = match line.split_once(char::is_whitespace) {
            Some((h, t)) => (h, t.trim()),
            None => (line, ""),
        };
        if let Some((start, end)) = Self::parse_times(head) {
            return Self {
                start: Some(start),
                end,
                text: text.to_owned(),
            };
        }
        Self {
            start: None,
            end: None,
            text: line.to_owned(),
        }
    }

    fn parse_times(head: &str) -> Option<(ScheduleTime, Option<ScheduleTime>)> {
        if let Ok(t) = head.parse() {
            return Some((t, None));
        }
        // RFC 3339 times hold '-' themselves: try every separator position.
        head.char_indices()
            .filter(|(_, c)| RANGE_SEPARATORS.contains(c))
            .find_map(|(i, c)| {
                let start = head[..i].parse().ok()?;
                let end = head[i + c.len_utf8()..].parse().ok()?;
                Some((start, Some(end)))
            })
    }

    /// The plan as a person reads it: times of day only, in the writer's own
    /// zone (`13:00-15:00 部長会議`), even when the wire carries full instants.
    pub fn to_human(&self) -> String {
        let hm = |t: &ScheduleTime| match t {
            ScheduleTime::Clock(c) => c.format("%H:%M").to_string(),
            ScheduleTime::Instant(i) => i.format("%H:%M").to_string(),
        };
        let times = match (&self.start, &self.end) {
            (Some(s), Some(e)) => format!("{}-{}", hm(s), hm(e)),
            (Some(s), None) => hm(s),
            _ => return self.text.clone(),
        };
        if self.text.is_empty() {
            times
        } else {
            format!("{times} {}", self.text)
        }
    }

    /// The mail form that [`ScheduleEntry::parse`] reads back to the same entry.
    pub fn to_wire(&self) -> String {
        let times = match (&self.start, &self.end) {
            (Some(s), Some(e)) => format!("{s}-{e}"),
            (Some(s), None) => s.to_string(),
            _ => return self.text.clone(),
        };
        if self.text.is_empty() {
            times
        } else {
            format!("{times} {}", self.text)
        }
    }
}

/// A structured address, when the writer knew the parts (the phone's geocoder,
/// a PIDF civic address). Mail carries only the display string.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CivicAddress {
    /// ISO 3166 alpha-2, e.g. `JP`.
    pub country: Option<String>,
    /// Prefecture or state (civic A1).
    pub region: Option<String>,
    /// City or ward (A2).
    pub city: Option<String>,
    /// District (A3).
    pub district: Option<String>,
    /// Street (A6).
    pub street: Option<String>,
}

impl CivicAddress {
    pub fn is_empty(&self) -> bool {
        self.parts().iter().all(|p| p.is_none())
    }

    fn parts(&self) -> [&Option<String>; 5] {
        [
            &self.country,
            &self.region,
            &self.city,
            &self.district,
            &self.street,
        ]
    }

    /// The address as people write it: Japanese order and no spaces for Japan
    /// (`京都府京都市北区`), smallest part first with commas elsewhere.
    pub fn display(&self) -> String {
        let local = [&self.region, &self.city, &self.district, &self.street];
        let present = local.into_iter().flatten().map(String::as_str);
        if self.country.as_deref() == Some("JP") {
            present.collect()
        } else {
            let mut parts: Vec<&str> = present.collect();
            parts.reverse();
            parts.extend(self.country.as_deref());
            parts.join(", ")
        }
    }
}

/// How to reach a person (the seed's Contact): a mail address or a URI
/// (`sip:`, `tel:`). Held without `mailto:`, as the presence mail writes it;
/// PIDF writes a mail address back as a `mailto:` URI ([`Contact::to_uri`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Contact(String);

impl Contact {
    /// Any form people and phones write: `mailto:` (any case) and blanks
    /// around are dropped.
    pub fn parse(value: &str) -> Self {
        let v = value.trim();
        match v.get(..7) {
            Some(scheme) if scheme.eq_ignore_ascii_case("mailto:") => Self(v[7..].to_owned()),
            _ => Self(v.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// As a URI: a bare mail address becomes `mailto:…`; URIs stay as they are.
    pub fn to_uri(&self) -> String {
        let has_scheme = self.0.split_once(':').is_some_and(|(s, _)| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        });
        if self.0.contains('@') && !has_scheme {
            format!("mailto:{}", self.0)
        } else {
            self.0.clone()
        }
    }
}

impl fmt::Display for Contact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Contact {
    fn from(value: &str) -> Self {
        Self::parse(value)
    }
}

impl From<String> for Contact {
    fn from(value: String) -> Self {
        Self::parse(&value)
    }
}

impl PartialEq<str> for Contact {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Contact {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for Contact {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

/// The fields of one person's presence (seed: Contact, Activity, Location,
/// Schedule) plus `updated` and coordinates. A `None` is the seed's null field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PresenceFields {
    pub contact: Contact,
    pub activity: Activity,
    pub location: Option<String>,
    pub schedule: Vec<ScheduleEntry>,
    pub updated: Option<Timestamp>,
    pub coordinates: Option<Coordinates>,
    /// Address parts behind `location`, when known; mail cannot carry them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<CivicAddress>,
}

/// How far ahead of the receiver's clock an `Updated` may be before it is
/// taken as "now": phones' clocks drift, but a time far in the future would
/// make every later, honest update look older and freeze the presence.
pub const MAX_CLOCK_SKEW_SECS: i64 = 5 * 60;

impl PresenceFields {
    /// Takes an `updated` later than `now` plus [`MAX_CLOCK_SKEW_SECS`] as
    /// `now` (in the writer's offset). Returns true when it did.
    pub fn clamp_future_updated(&mut self, now: DateTime<chrono::Utc>) -> bool {
        let Some(updated) = self.updated else {
            return false;
        };
        if updated.signed_duration_since(now) <= chrono::Duration::seconds(MAX_CLOCK_SKEW_SECS) {
            return false;
        }
        self.updated = Some(now.with_timezone(updated.offset()));
        true
    }

    pub fn new(contact: impl Into<Contact>, activity: Activity) -> Self {
        Self {
            contact: contact.into(),
            activity,
            location: None,
            schedule: Vec::new(),
            updated: None,
            coordinates: None,
            address: None,
        }
    }

    /// The earliest plan that has a time, else the first plan: what a colleague
    /// wants to know first ("back at 15:00").
    pub fn next_plan(&self) -> Option<&ScheduleEntry> {
        self.schedule
            .iter()
            .find(|e| e.start.is_some())
            .or(self.schedule.first())
    }
}

/// One person's presence record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Presence {
    pub account: AccountName,
    #[serde(flatten)]
    pub fields: PresenceFields,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_updated_far_in_the_future_is_taken_as_now_in_the_writers_offset() {
        let now = parse_timestamp("2026-11-26T04:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let mut f = PresenceFields::new("a@example.co.jp", Activity::parse("busy").unwrap());
        f.updated = Some(parse_timestamp("2026-11-26T13:04:59+09:00").unwrap());
        assert!(
            !f.clamp_future_updated(now),
            "4 min 59 s ahead is clock drift"
        );
        f.updated = Some(parse_timestamp("2027-01-01T00:00:00+09:00").unwrap());
        assert!(f.clamp_future_updated(now));
        assert_eq!(
            f.updated,
            Some(parse_timestamp("2026-11-26T13:00:00+09:00").unwrap())
        );
        f.updated = None;
        assert!(!f.clamp_future_updated(now));
    }

    #[test]
    fn activity_forms() {
        let a = Activity::parse("on-site — 設備点検中").unwrap();
        assert_eq!(a.token, Some(ActivityToken::OnSite));
        assert_eq!(a.text.as_deref(), Some("設備点検中"));
        assert_eq!(
            Activity::parse("On_The_Phone").unwrap().token,
            Some(ActivityToken::OnThePhone)
        );
        let free = Activity::parse("会議中 (本社)").unwrap();
        assert_eq!(free.token, None);
        assert_eq!(free.text.as_deref(), Some("会議中 (本社)"));
        assert_eq!(
            Activity::parse("busy: 見積作成").unwrap().text.as_deref(),
            Some("見積作成")
        );
        assert_eq!(Activity::parse("  "), Err(ValueError::Empty));
        // A word that merely starts like a token is free text.
        assert_eq!(Activity::parse("busybody").unwrap().token, None);
    }

    #[test]
    fn schedule_forms() {
        let e = ScheduleEntry::parse("15:00 帰社予定");
        assert_eq!(
            e.start.as_ref().map(ToString::to_string).as_deref(),
            Some("15:00")
        );
        assert_eq!(e.text, "帰社予定");
        let r = ScheduleEntry::parse("13:00〜14:30 定例会議");
        assert_eq!(
            r.end.as_ref().map(ToString::to_string).as_deref(),
            Some("14:30")
        );
        assert_eq!(r.to_wire(), "13:00-14:30 定例会議");
        let rfc =
            ScheduleEntry::parse("2026-11-26T15:00:00+09:00-2026-11-26T16:00:00+09:00 打合せ");
        assert_eq!(rfc.to_human(), "15:00-16:00 打合せ");
        assert_eq!(e.to_human(), "15:00 帰社予定");
        assert!(matches!(rfc.start, Some(ScheduleTime::Instant(_))));
        assert!(matches!(rfc.end, Some(ScheduleTime::Instant(_))));
        assert_eq!(ScheduleEntry::parse(&rfc.to_wire()), rfc);
        let free = ScheduleEntry::parse("午後は客先");
        assert_eq!(free.start, None);
        assert_eq!(free.text, "午後は客先");
        // "9:5" is not a canonical clock time: kept as text.
        assert_eq!(ScheduleEntry::parse("9:5 x").start, None);
    }

    #[test]
    fn coordinates_forms() {
        let c: Coordinates = "35.6812,139.7671;u=25".parse().unwrap();
        assert_eq!(c.uncertainty_m, Some(25.0));
        assert_eq!(c.to_string().parse::<Coordinates>().unwrap(), c);
        assert!("91,0".parse::<Coordinates>().is_err());
        assert!("35,139;x=1".parse::<Coordinates>().is_err());
        assert!("NaN,1".parse::<Coordinates>().is_err());
    }

    #[test]
    fn account_names() {
        assert!("tanaka".parse::<AccountName>().is_ok());
        assert!("田中.太郎".parse::<AccountName>().is_ok());
        assert!("tanaka@example".parse::<AccountName>().is_err());
        assert!("a b".parse::<AccountName>().is_err());
    }

    #[test]
    fn address_display() {
        let jp = CivicAddress {
            country: Some("JP".into()),
            region: Some("京都府".into()),
            city: Some("京都市".into()),
            district: Some("北区".into()),
            street: None,
        };
        assert_eq!(jp.display(), "京都府京都市北区");
        let fr = CivicAddress {
            country: Some("FR".into()),
            region: Some("Île-de-France".into()),
            city: Some("Paris".into()),
            ..Default::default()
        };
        assert_eq!(fr.display(), "Paris, Île-de-France, FR");
    }
}
