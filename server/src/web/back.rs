//! 戻り予定 (the expected return): the forms the board's form sends — a time
//! today (any hour, on the half hour), 未定, a day (明日, a day of next week)
//! with or without a time — how each is written as a plan every medium reads
//! (`15:00 戻り予定`, `戻り予定 未定`, `09:00 戻り予定 12/8(火)`), and how a row
//! shows it again.

use chrono::{DateTime, Datelike, Local, NaiveDate, NaiveTime, TimeZone, Timelike};
use mailpresence_protocol::model::{PresenceFields, ScheduleEntry, ScheduleTime};
use mailpresence_protocol::summary::Lang;

/// Words that mark a plan as the expected return (戻り予定).
const BACK_WORDS: [&str; 6] = ["戻り", "帰社", "帰着", "帰宅", "back", "return"];
/// What the page sends for 未定, and what a row says for it.
pub const UNDECIDED: &str = "undecided";
const UNDECIDED_WORDS: [&str; 2] = ["未定", "undecided"];

/// A 戻り予定 as the page chose it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Back {
    Undecided,
    /// A time today.
    Today(NaiveTime),
    /// Another day, at a time or (none) some time that day.
    Day(NaiveDate, Option<NaiveTime>),
}

/// `HH:MM` on a 30-minute step.
fn half_hour(text: &str) -> Option<NaiveTime> {
    let t = NaiveTime::parse_from_str(text, "%H:%M").ok()?;
    (text.len() == 5 && t.minute() % 30 == 0).then_some(t)
}

impl Back {
    /// `undecided`, `HH:MM`, `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM`; `None` when
    /// it is none of them.
    pub fn parse(text: &str) -> Option<Self> {
        if text == UNDECIDED {
            return Some(Self::Undecided);
        }
        if let Some(t) = half_hour(text) {
            return Some(Self::Today(t));
        }
        let (day, time) = match text.split_once('T') {
            Some((d, t)) => (d, Some(half_hour(t)?)),
            None => (text, None),
        };
        let day = NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?;
        Some(Self::Day(day, time))
    }

    /// The plan it is written as, in `lang`.
    pub fn plan(&self, lang: Lang) -> ScheduleEntry {
        let word = match lang {
            Lang::Ja => "戻り予定",
            Lang::En => "back",
        };
        match self {
            Self::Undecided => ScheduleEntry {
                start: None,
                end: None,
                text: format!("{word} {}", UNDECIDED_WORDS[usize::from(lang == Lang::En)]),
            },
            Self::Today(t) => ScheduleEntry {
                start: Some(ScheduleTime::Clock(*t)),
                end: None,
                text: word.into(),
            },
            Self::Day(day, time) => ScheduleEntry {
                // A time on another day is a full instant, so no reader takes
                // it for today's.
                start: time
                    .and_then(|t| Local.from_local_datetime(&day.and_time(t)).single())
                    .map(|t| ScheduleTime::Instant(t.fixed_offset())),
                end: None,
                text: format!("{word} {}", day_text(*day, lang)),
            },
        }
    }
}

/// `12/8(火)`, `12/8 (Tue)`.
fn day_text(day: NaiveDate, lang: Lang) -> String {
    let i = day.weekday().num_days_from_monday() as usize;
    match lang {
        Lang::Ja => format!(
            "{}/{}({})",
            day.month(),
            day.day(),
            ["月", "火", "水", "木", "金", "土", "日"][i]
        ),
        Lang::En => format!(
            "{}/{} ({})",
            day.month(),
            day.day(),
            ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][i]
        ),
    }
}

/// The `M/D` a plan's text names, in the year that puts it on or after `from`.
fn day_in_text(text: &str, from: NaiveDate) -> Option<NaiveDate> {
    let word = text.split_whitespace().find(|w| w.contains('/'))?;
    let (month, rest) = word.split_once('/')?;
    let month: u32 = month.parse().ok()?;
    let day: u32 = rest
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()?;
    let this_year = NaiveDate::from_ymd_opt(from.year(), month, day)?;
    if this_year >= from {
        Some(this_year)
    } else {
        NaiveDate::from_ymd_opt(from.year() + 1, month, day)
    }
}

/// Whether `entry` is a 戻り予定.
pub fn is_back_plan(entry: &ScheduleEntry) -> bool {
    let text = entry.text.to_lowercase();
    let says_back = BACK_WORDS.iter().any(|w| text.contains(w));
    says_back
        && (entry.start.is_some()
            || UNDECIDED_WORDS.iter().any(|w| text.contains(w))
            || text.contains('/'))
}

/// 戻り予定 as a row shows it: `15:00`, [`UNDECIDED`], `2026-12-08` or
/// `2026-12-08 09:00` (the page words the day); and the instant after which
/// it is overdue (the end of the day for a day without a time).
pub fn shown(fields: &PresenceFields) -> Option<(String, Option<String>)> {
    let entry = fields.schedule.iter().find(|e| is_back_plan(e))?;
    let updated = fields.updated;
    let today = Local::now().date_naive();
    let text = entry.text.to_lowercase();
    match &entry.start {
        Some(ScheduleTime::Clock(clock)) => {
            let at = updated.and_then(|u| {
                u.date_naive()
                    .and_time(*clock)
                    .and_local_timezone(*u.offset())
                    .single()
                    .map(|t| t.to_rfc3339())
            });
            Some((clock.format("%H:%M").to_string(), at))
        }
        Some(ScheduleTime::Instant(t)) => {
            let local = t.with_timezone(&Local);
            let shown = if local.date_naive() == today {
                local.format("%H:%M").to_string()
            } else {
                local.format("%Y-%m-%d %H:%M").to_string()
            };
            Some((shown, Some(t.to_rfc3339())))
        }
        None if UNDECIDED_WORDS.iter().any(|w| text.contains(w)) => {
            Some((UNDECIDED.to_owned(), None))
        }
        None => {
            let from = updated.map_or(today, |u| u.with_timezone(&Local).date_naive());
            let day = day_in_text(&entry.text, from)?;
            let end = day
                .succ_opt()
                .and_then(|d| {
                    Local
                        .from_local_datetime(&d.and_time(NaiveTime::MIN))
                        .single()
                })
                .map(|t: DateTime<Local>| t.to_rfc3339());
            Some((day.format("%Y-%m-%d").to_string(), end))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(plan: ScheduleEntry) -> PresenceFields {
        let mut f = PresenceFields::new(
            "x@example.test",
            mailpresence_protocol::model::Activity::parse("away").unwrap(),
        );
        f.updated = Some(Local::now().fixed_offset());
        f.schedule = vec![ScheduleEntry::parse("16:00 定例会議"), plan];
        f
    }

    #[test]
    fn each_form_of_the_page_is_read_or_refused() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 8).unwrap();
        let t = |s| NaiveTime::parse_from_str(s, "%H:%M").unwrap();
        assert_eq!(Back::parse("undecided"), Some(Back::Undecided));
        assert_eq!(Back::parse("06:30"), Some(Back::Today(t("06:30"))));
        assert_eq!(Back::parse("23:00"), Some(Back::Today(t("23:00"))));
        assert_eq!(Back::parse("2026-12-08"), Some(Back::Day(day, None)));
        assert_eq!(
            Back::parse("2026-12-08T09:00"),
            Some(Back::Day(day, Some(t("09:00"))))
        );
        for bad in [
            "15:10",
            "25:00",
            "2026-13-01",
            "2026-12-08T09:10",
            "明日",
            "",
        ] {
            assert_eq!(Back::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn each_form_is_a_plan_people_read_and_the_row_shows_it_again() {
        let undecided = Back::Undecided.plan(Lang::Ja);
        assert_eq!(undecided.to_wire(), "戻り予定 未定");
        assert_eq!(
            shown(&fields(undecided)),
            Some((UNDECIDED.to_owned(), None))
        );
        assert_eq!(Back::Undecided.plan(Lang::En).to_wire(), "back undecided");

        let late = Back::Today(NaiveTime::from_hms_opt(23, 0, 0).unwrap()).plan(Lang::Ja);
        assert_eq!(late.to_wire(), "23:00 戻り予定");
        assert_eq!(shown(&fields(late)).unwrap().0, "23:00");

        let tomorrow = Local::now().date_naive().succ_opt().unwrap();
        let whole_day = Back::Day(tomorrow, None).plan(Lang::Ja);
        assert!(whole_day.text.starts_with("戻り予定 "), "{whole_day:?}");
        assert!(whole_day.text.ends_with(')'), "{whole_day:?}");
        let (day, overdue_at) = shown(&fields(whole_day)).unwrap();
        assert_eq!(day, tomorrow.format("%Y-%m-%d").to_string());
        // Overdue only once that whole day has passed.
        let overdue_at = DateTime::parse_from_rfc3339(&overdue_at.unwrap()).unwrap();
        assert_eq!(
            overdue_at.with_timezone(&Local).date_naive(),
            tomorrow.succ_opt().unwrap()
        );

        let at_nine = Back::Day(tomorrow, NaiveTime::from_hms_opt(9, 0, 0)).plan(Lang::Ja);
        assert!(
            at_nine.to_human().starts_with("09:00 戻り予定 "),
            "{at_nine:?}"
        );
        assert_eq!(
            shown(&fields(at_nine)).unwrap().0,
            format!("{} 09:00", tomorrow.format("%Y-%m-%d"))
        );
        assert_eq!(
            day_text(NaiveDate::from_ymd_opt(2026, 12, 8).unwrap(), Lang::Ja),
            "12/8(火)"
        );
    }

    #[test]
    fn a_day_in_january_written_in_december_is_next_year() {
        let december = NaiveDate::from_ymd_opt(2026, 12, 28).unwrap();
        assert_eq!(
            day_in_text("戻り予定 1/5(火)", december),
            NaiveDate::from_ymd_opt(2027, 1, 5)
        );
    }
}
