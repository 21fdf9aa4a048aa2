//! Town areas for the pack: each e-Stat census small area under the name
//! addresses use (MLIT's), with its rings delta-coded.
//!
//! Census names are not always address names: a 大字 split into 字
//! (`大字X字Y`), a school-district prefix, old kanji, ケ/ヶ, a 大字 without the
//! town it kept in its name when the town merged (census `安積`, address
//! `一宮町安積`). So a census area takes, in this order, the MLIT town of its
//! municipality whose name equals its own after folding; else the longest
//! MLIT name its own begins or ends with; else the MLIT name that is a former
//! town (`…町`, `…村`) before its own name or the longest start of it; else
//! the MLIT town whose representative point lies inside it; else its census
//! name.

use std::collections::HashMap;

use std::collections::BTreeMap;

use mailpresence_core::location::pack::{Municipality, TownArea, encode_area_rings};

use crate::Strings;
use crate::estat::CensusArea;
use crate::japan::{IsjMunicipality, without_county};

/// How each census area got its name, for the build's report.
#[derive(Debug, Default)]
pub struct NamingReport {
    pub exact: usize,
    pub prefix_or_suffix: usize,
    pub former_town: usize,
    pub point_inside: usize,
    pub census_name: usize,
    /// Areas of municipalities the MLIT data does not have, or with no name
    /// at all: left out (the nearest town point answers there).
    pub dropped: usize,
}

/// Spellings that differ between the census and MLIT for the same name.
fn fold(name: &str) -> String {
    let stripped = name
        .strip_prefix("大字")
        .or_else(|| name.strip_prefix('字'))
        .unwrap_or(name);
    stripped
        .chars()
        .filter(|c| !matches!(c, ' ' | '\u{3000}' | '・'))
        .map(|c| match c {
            'ヶ' | 'ヵ' | 'ｹ' | 'が' => 'ケ',
            '澤' => '沢',
            '邊' | '邉' => '辺',
            '﨑' | '嵜' => '崎',
            '髙' => '高',
            '瀧' => '滝',
            '檜' => '桧',
            '龍' => '竜',
            '國' => '国',
            '濱' => '浜',
            '廣' => '広',
            '冨' => '富',
            '槇' => '槙',
            '條' => '条',
            '舘' => '館',
            '齋' | '齊' => '斎',
            c => c,
        })
        .collect()
}

/// One municipality's MLIT towns, for naming its census areas.
struct MlitTowns<'a> {
    by_folded: HashMap<String, &'a str>,
    /// A name after a former town (`一宮町安積` → `安積`), folded → the MLIT
    /// names it ends, in name order.
    after_former_town: HashMap<String, Vec<&'a str>>,
    /// (name, lon, lat), sorted by name so that the first inside is always the same.
    points: Vec<(&'a str, f64, f64)>,
}

impl<'a> MlitTowns<'a> {
    fn of(m: &'a IsjMunicipality) -> Self {
        let mut points: Vec<(&str, f64, f64)> = m
            .towns
            .iter()
            .map(|(name, lat, lon)| (name.as_str(), *lon, *lat))
            .collect();
        points.sort_by(|a, b| a.0.cmp(b.0));
        let mut by_folded = HashMap::new();
        let mut after_former_town: HashMap<String, Vec<&str>> = HashMap::new();
        for &(name, _, _) in &points {
            by_folded.entry(fold(name)).or_insert(name);
            if let Some(rest) = after_former_town_name(name) {
                after_former_town.entry(fold(rest)).or_default().push(name);
            }
        }
        Self {
            by_folded,
            after_former_town,
            points,
        }
    }

    /// The MLIT name for a census area, and how it was found.
    fn name_for(&self, area: &CensusArea, report: &mut NamingReport) -> Option<&'a str> {
        let folded = fold(&area.name);
        if let Some(&name) = self.by_folded.get(&folded) {
            report.exact += 1;
            return Some(name);
        }
        if let Some(name) = self.longest_prefix_or_suffix(&folded) {
            report.prefix_or_suffix += 1;
            return Some(name);
        }
        if let Some(name) = self.after_former_town(&folded, area) {
            report.former_town += 1;
            return Some(name);
        }
        if let Some(&(name, _, _)) = self
            .points
            .iter()
            .find(|(_, lon, lat)| area.contains(*lat, *lon))
        {
            report.point_inside += 1;
            return Some(name);
        }
        None
    }

    /// The MLIT name that is a former town and then the census name, or the
    /// longest start of it of two characters or more (census `直鳥字下直鳥`,
    /// MLIT `千代田町直鳥`), whose point lies within [`FORMER_TOWN_KM`] of
    /// e-Stat's point inside the area; of several (`迫町新田`, `南方町新田`),
    /// the nearest.
    fn after_former_town(&self, folded: &str, area: &CensusArea) -> Option<&'a str> {
        let (lat, lon) = area.inside?;
        let ends: Vec<usize> = folded
            .char_indices()
            .map(|(i, _)| i)
            .skip(2)
            .chain([folded.len()])
            .collect();
        let names = ends
            .iter()
            .rev()
            .find_map(|&end| self.after_former_town.get(&folded[..end]))?;
        let cos = lat.to_radians().cos();
        let km = |(t_lon, t_lat): (f64, f64)| {
            ((t_lat - lat).powi(2) + ((t_lon - lon) * cos).powi(2)).sqrt() * 111.2
        };
        self.points
            .iter()
            .filter(|(n, _, _)| names.contains(n))
            .map(|&(n, t_lon, t_lat)| (km((t_lon, t_lat)), n))
            .filter(|&(d, _)| d <= FORMER_TOWN_KM)
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)))
            .map(|(_, n)| n)
    }

    /// The longest MLIT name (two characters or more) that the census name
    /// begins or ends with.
    fn longest_prefix_or_suffix(&self, folded: &str) -> Option<&'a str> {
        let cuts: Vec<usize> = folded.char_indices().map(|(i, _)| i).skip(2).collect();
        let prefixes = cuts.iter().map(|&i| &folded[..i]);
        let suffixes = folded
            .char_indices()
            .map(|(i, _)| &folded[i..])
            .filter(|s| s.chars().count() >= 2 && s.len() < folded.len());
        prefixes
            .chain(suffixes)
            .filter_map(|part| self.by_folded.get(part).map(|&n| (part.len(), n)))
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(a.1)))
            .map(|(_, n)| n)
    }
}

/// How far a former town's 大字 may lie from the census area named after
/// it: a merged municipality can have the same 大字 name in two former towns.
const FORMER_TOWN_KM: f64 = 5.0;

/// What follows a former town's name at the start of an MLIT name, of two
/// characters or more (`一宮町安積` → `安積`; `大字` or `字` after it dropped):
/// the town is one to four characters and a 町 or 村.
fn after_former_town_name(name: &str) -> Option<&str> {
    let (at, c) = name
        .char_indices()
        .take(5)
        .skip(1)
        .find(|&(_, c)| c == '町' || c == '村')?;
    let rest = &name[at + c.len_utf8()..];
    let rest = rest
        .strip_prefix("大字")
        .or_else(|| rest.strip_prefix('字'))
        .unwrap_or(rest);
    (rest.chars().count() >= 2).then_some(rest)
}

/// The town areas, in KEY_CODE order, with their rings as the pack stores them.
pub struct TownAreas {
    pub areas: Vec<TownArea>,
    pub rings: Vec<u8>,
    pub report: NamingReport,
    /// Per area e-Stat's point inside it and the address we give the area:
    /// (lat, lon, KEY_CODE, census name, address), for the benchmarks.
    pub samples: Vec<(f64, f64, String, String, String)>,
}

pub fn pack(
    census: &BTreeMap<String, CensusArea>,
    isj: &[IsjMunicipality],
    municipalities: &[Municipality],
    strings: &mut Strings,
) -> TownAreas {
    let index_of: HashMap<u32, usize> = municipalities
        .iter()
        .enumerate()
        .map(|(i, m)| (m.code, i))
        .collect();
    let mut mlit: HashMap<usize, MlitTowns> = HashMap::new();
    let mut report = NamingReport::default();
    let mut areas = Vec::new();
    let mut rings = Vec::new();
    let mut first = [0, 0];
    let mut samples = Vec::new();
    for (key, area) in census {
        let Some(&m) = index_of.get(&area.municipality) else {
            report.dropped += 1;
            continue;
        };
        let towns = mlit.entry(m).or_insert_with(|| MlitTowns::of(&isj[m]));
        let name = match towns.name_for(area, &mut report) {
            Some(name) => name,
            None if !area.name.is_empty() => {
                report.census_name += 1;
                area.name.as_str()
            }
            None => {
                report.dropped += 1;
                continue;
            }
        };
        if let Some((lat, lon)) = area.inside {
            let muni = &isj[m];
            let address = format!("{}{}{name}", muni.prefecture, without_county(&muni.name));
            samples.push((lat, lon, key.clone(), area.name.clone(), address));
        }
        let before = rings.len();
        encode_area_rings(&area.rings, &mut first, &mut rings);
        areas.push(TownArea {
            municipality: m as u16,
            name: strings.add(name),
            ring_bytes: (rings.len() - before) as u32,
        });
    }
    TownAreas {
        areas,
        rings,
        report,
        samples,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn municipality(towns: &[(&str, f64, f64)]) -> IsjMunicipality {
        IsjMunicipality {
            code: 13203,
            prefecture: "東京都".into(),
            name: "武蔵野市".into(),
            towns: towns
                .iter()
                .map(|(n, lat, lon)| ((*n).to_owned(), *lat, *lon))
                .collect(),
        }
    }

    /// One area: a square of 0.01° at (lon, lat).
    fn area(name: &str, (lon, lat): (f64, f64)) -> CensusArea {
        let unit = |lat: f64, lon: f64| {
            let (x, y) = mailpresence_core::location::pack::town_units(lat, lon);
            [x as i32, y as i32]
        };
        CensusArea {
            municipality: 13203,
            name: name.into(),
            inside: Some((lat + 0.005, lon + 0.005)),
            rings: vec![vec![
                unit(lat, lon),
                unit(lat, lon + 0.01),
                unit(lat + 0.01, lon + 0.01),
                unit(lat + 0.01, lon),
            ]],
        }
    }

    #[test]
    fn census_names_become_address_names() {
        let m = municipality(&[
            ("吉祥寺南町一丁目", 35.70, 139.58),
            ("自由ケ丘", 35.0, 139.0),
            ("本郷", 35.0, 139.0),
            ("本郷新田", 35.0, 139.0),
            ("桜堤", 35.105, 139.205),
            ("一宮町安積", 35.0, 139.0),
            ("千代田町直鳥", 35.0, 139.0),
            ("神埼町直鳥", 35.2, 139.0),
            ("町田", 35.0, 139.0),
        ]);
        let towns = MlitTowns::of(&m);
        let mut report = NamingReport::default();
        let mut name = |census: &str, at| towns.name_for(&area(census, at), &mut report);
        assert_eq!(
            name("吉祥寺南町一丁目", (0.0, 0.0)),
            Some("吉祥寺南町一丁目")
        );
        assert_eq!(name("自由ヶ丘", (0.0, 0.0)), Some("自由ケ丘"), "ヶ folded");
        assert_eq!(
            name("大字本郷新田字東", (0.0, 0.0)),
            Some("本郷新田"),
            "longest prefix"
        );
        assert_eq!(name("第一学区本郷", (0.0, 0.0)), Some("本郷"), "suffix");
        assert_eq!(
            name("どこか", (139.2, 35.1)),
            Some("桜堤"),
            "the point inside"
        );
        assert_eq!(name("どこか", (140.0, 36.0)), None);
        assert_eq!(
            name("安積", (139.0, 35.0)),
            Some("一宮町安積"),
            "a former town before it"
        );
        assert_eq!(
            name("大字直鳥字下直鳥", (139.0, 35.0)),
            Some("千代田町直鳥"),
            "a former town before its start, the nearest"
        );
        assert_eq!(
            name("大字直鳥字下直鳥", (139.0, 35.18)),
            Some("神埼町直鳥"),
            "a former town before its start, the nearest"
        );
        assert_eq!(
            (
                report.exact,
                report.prefix_or_suffix,
                report.former_town,
                report.point_inside
            ),
            (2, 2, 3, 1)
        );
    }
}
