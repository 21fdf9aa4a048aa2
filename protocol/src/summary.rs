//! The one-line human summary of a presence — activity · place · next plan —
//! in Japanese or English. Desk phones that show only PIDF `<note>` show this,
//! so a colleague at a desk still sees where a field worker is and when they
//! are back.

use serde::{Deserialize, Serialize};

use crate::model::{ActivityToken, PresenceFields, ScheduleEntry};

/// The language of user-facing text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    Ja,
    En,
}

/// What separates the parts of a summary line.
pub const SEPARATOR: &str = " · ";

/// The label a person reads for an activity token.
pub fn activity_label(token: ActivityToken, lang: Lang) -> &'static str {
    use ActivityToken::*;
    match lang {
        Lang::Ja => match token {
            Available => "在席",
            Busy => "取込み中",
            Away => "離席中",
            Meeting => "会議中",
            OnThePhone => "電話中",
            OnSite => "現場作業中",
            Driving => "運転中",
            Break => "休憩中",
            Vacation => "休暇中",
            Offline => "オフライン",
        },
        Lang::En => match token {
            Available => "Available",
            Busy => "Busy",
            Away => "Away",
            Meeting => "In a meeting",
            OnThePhone => "On the phone",
            OnSite => "On site",
            Driving => "Driving",
            Break => "On a break",
            Vacation => "On vacation",
            Offline => "Offline",
        },
    }
}

/// The activity as a person reads it: `現場作業中（設備点検中）`, `On site (inspection)`.
pub fn activity_line(fields: &PresenceFields, lang: Lang) -> String {
    let activity = &fields.activity;
    match (activity.token, activity.text.as_deref()) {
        (Some(t), Some(text)) => match lang {
            Lang::Ja => format!("{}（{text}）", activity_label(t, lang)),
            Lang::En => format!("{} ({text})", activity_label(t, lang)),
        },
        (Some(t), None) => activity_label(t, lang).to_owned(),
        (None, Some(text)) => text.to_owned(),
        (None, None) => activity_label(ActivityToken::Available, lang).to_owned(),
    }
}

/// `現場作業中（設備点検中） · 東京都千代田区丸の内一丁目 · 15:00 帰社予定`
pub fn summary_line(fields: &PresenceFields, lang: Lang) -> String {
    let mut parts = vec![activity_line(fields, lang)];
    parts.extend(fields.location.clone());
    parts.extend(fields.next_plan().map(ScheduleEntry::to_human));
    parts.join(SEPARATOR)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Activity;

    #[test]
    fn summary_in_both_languages() {
        let mut f = PresenceFields::new(
            "tanaka@example.co.jp",
            Activity::parse("on-site — 設備点検中").unwrap(),
        );
        f.location = Some("東京都千代田区丸の内一丁目".into());
        f.schedule = vec![
            ScheduleEntry::parse("午後は客先"),
            ScheduleEntry::parse("15:00 帰社予定"),
        ];
        assert_eq!(
            summary_line(&f, Lang::Ja),
            "現場作業中（設備点検中） · 東京都千代田区丸の内一丁目 · 15:00 帰社予定"
        );
        f.activity = Activity::token(ActivityToken::Meeting);
        f.location = None;
        assert_eq!(summary_line(&f, Lang::En), "In a meeting · 15:00 帰社予定");
    }
}
