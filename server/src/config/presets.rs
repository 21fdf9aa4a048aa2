//! `[web] presets`: the office states a company's board offers (外出, 直行,
//! 直帰, 出張, 本日戻らず, 休暇, 会議 …), each with its Japanese and English
//! label, the activity token it is published as (so a desk phone and a field
//! phone read it right) and whether it takes a place (行先) or a room. Without
//! the setting the board offers the built-in list below; with it, the
//! company's list replaces that one. The ten plain states (在席, 取込み中 …)
//! are always offered beside them.
//!
//! ```toml
//! [[web.presets]]
//! key = "out"          # what the page sends; letters, digits and '-'
//! ja = "外出"
//! en = "Out"
//! activity = "away"    # one of the mail protocol's activity tokens
//! place = "place"      # "place" (行先), "room" (会議室) or "none"
//! ```

use mailpresence_protocol::model::ActivityToken;
use serde::{Deserialize, Serialize};

/// Longest label a preset may have: it stands in a narrow column and in a
/// desk phone's one-line note.
const MAX_LABEL_CHARS: usize = 16;

/// What a preset asks for beside the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlaceKind {
    #[default]
    None,
    /// 行先: where the person went (a client, a town).
    Place,
    /// The meeting room.
    Room,
}

/// One office state of the board.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    pub key: String,
    pub ja: String,
    pub en: String,
    /// The token it is published as; its label is the activity's text.
    pub activity: ActivityToken,
    #[serde(default)]
    pub place: PlaceKind,
}

impl Preset {
    fn new(key: &str, ja: &str, en: &str, activity: ActivityToken, place: PlaceKind) -> Self {
        Self {
            key: key.into(),
            ja: ja.into(),
            en: en.into(),
            activity,
            place,
        }
    }
}

/// The office states every Japanese office board knows, each on the token a
/// desk phone shows closest to it: out of the office but working (外出, 出張)
/// is `away` (open), at a client's site (直行, 直帰) `on-site`, gone for the
/// day (本日戻らず, 帰宅) `offline` (closed), a day off `vacation`.
pub fn built_in() -> Vec<Preset> {
    use ActivityToken::*;
    use PlaceKind::{None as Nothing, Place, Room};
    vec![
        Preset::new("out", "外出", "Out", Away, Place),
        Preset::new("direct", "直行", "Going direct", OnSite, Place),
        Preset::new("direct-home", "直帰", "Home from site", OnSite, Place),
        Preset::new("trip", "出張", "Business trip", Away, Place),
        Preset::new("meeting-room", "会議", "Meeting", Meeting, Room),
        Preset::new("not-back", "本日戻らず", "Not back today", Offline, Nothing),
        Preset::new("gone-home", "帰宅", "Gone home", Offline, Nothing),
        Preset::new("leave", "休暇", "Day off", Vacation, Nothing),
    ]
}

/// What is wrong with a company's presets, in words an administrator can act on.
pub fn problems(presets: &[Preset]) -> Vec<String> {
    let mut p = Vec::new();
    if presets.is_empty() {
        p.push(
            "[web] presets is empty: leave it out for the built-in office states, or list at least one"
                .into(),
        );
    }
    let mut keys = std::collections::BTreeSet::new();
    let mut labels = std::collections::BTreeSet::new();
    for preset in presets {
        let key = preset.key.as_str();
        let key_ok = !key.is_empty()
            && key.len() <= 32
            && key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !key_ok {
            p.push(format!(
                "[web] presets: key {key:?} must be 1–32 lower-case letters, digits or '-'"
            ));
        }
        if ActivityToken::from_loose(key).is_some() {
            p.push(format!(
                "[web] presets: key {key:?} is an activity token's name; choose another (e.g. \"office-{key}\")"
            ));
        }
        if !keys.insert(key) {
            p.push(format!("[web] presets: key {key:?} is given twice"));
        }
        for (lang, label) in [("ja", &preset.ja), ("en", &preset.en)] {
            let label = label.trim();
            if label.is_empty()
                || label.chars().count() > MAX_LABEL_CHARS
                || label.contains(['—', '\n', '\r'])
            {
                p.push(format!(
                    "[web] presets: {key:?} needs a {lang} label of 1–{MAX_LABEL_CHARS} characters without '—', not {label:?}"
                ));
            } else if !labels.insert(label.to_owned()) {
                p.push(format!(
                    "[web] presets: the label {label:?} ({key:?}, {lang}) is used twice; a label must tell its state apart"
                ));
            }
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Web {
        presets: Vec<Preset>,
    }

    fn parse(toml_text: &str) -> Result<Vec<Preset>, String> {
        toml::from_str::<Web>(toml_text)
            .map(|w| w.presets)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_built_in_office_states_are_valid() {
        assert_eq!(problems(&built_in()), Vec::<String>::new());
        let keys: Vec<_> = built_in().iter().map(|p| p.ja.clone()).collect();
        assert_eq!(
            keys,
            [
                "外出",
                "直行",
                "直帰",
                "出張",
                "会議",
                "本日戻らず",
                "帰宅",
                "休暇"
            ]
        );
    }

    #[test]
    fn a_company_list_reads_both_table_forms() {
        let presets = parse(
            "[[presets]]\nkey = \"out\"\nja = \"外出\"\nen = \"Out\"\nactivity = \"away\"\nplace = \"place\"\n\n\
             [[presets]]\nkey = \"clinic\"\nja = \"通院\"\nen = \"Doctor\"\nactivity = \"vacation\"\n",
        )
        .unwrap();
        assert_eq!(presets[0].activity, ActivityToken::Away);
        assert_eq!(presets[0].place, PlaceKind::Place);
        assert_eq!(presets[1].place, PlaceKind::None);
        let inline = parse(
            "presets = [{ key = \"room\", ja = \"会議\", en = \"Meeting\", activity = \"meeting\", place = \"room\" }]",
        )
        .unwrap();
        assert_eq!(inline[0].place, PlaceKind::Room);
        assert_eq!(problems(&presets), Vec::<String>::new());
    }

    #[test]
    fn an_unknown_activity_or_field_is_named() {
        let e = parse(
            "[[presets]]\nkey = \"out\"\nja = \"外出\"\nen = \"Out\"\nactivity = \"outside\"\n",
        )
        .unwrap_err();
        assert!(
            e.contains("unknown variant `outside`") && e.contains("on-site"),
            "{e}"
        );
        let e = parse(
            "[[presets]]\nkey = \"out\"\nja = \"外出\"\nen = \"Out\"\nactivity = \"away\"\nlabel = \"x\"\n",
        )
        .unwrap_err();
        assert!(e.contains("unknown field `label`"), "{e}");
        let e = parse("[[presets]]\nkey = \"out\"\nja = \"外出\"\nen = \"Out\"\nactivity = \"away\"\nplace = \"town\"\n")
            .unwrap_err();
        assert!(e.contains("unknown variant `town`"), "{e}");
    }

    #[test]
    fn bad_keys_and_labels_are_named() {
        let preset = |key: &str, ja: &str, en: &str| {
            Preset::new(key, ja, en, ActivityToken::Away, PlaceKind::None)
        };
        assert_eq!(
            problems(&[
                preset("Out", "外出", "Out"),
                preset("away", "離席", "Away for now"),
                preset("trip", "出張", ""),
                preset("trip", "外出", "Trip"),
            ]),
            [
                "[web] presets: key \"Out\" must be 1–32 lower-case letters, digits or '-'",
                "[web] presets: key \"away\" is an activity token's name; choose another (e.g. \"office-away\")",
                "[web] presets: \"trip\" needs a en label of 1–16 characters without '—', not \"\"",
                "[web] presets: key \"trip\" is given twice",
                "[web] presets: the label \"外出\" (\"trip\", ja) is used twice; a label must tell its state apart",
            ]
        );
        assert_eq!(
            problems(&[]),
            [
                "[web] presets is empty: leave it out for the built-in office states, or list at least one"
            ]
        );
    }
}
