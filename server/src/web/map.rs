//! The board's map: Japan drawn from the phone's map pack (municipal borders,
//! coloured by prefecture, so the prefectures stand out and no online tiles
//! are needed); each town's representative point, where a colleague's dot
//! goes; and a town's area (`town_areas`), drawn around the dots when the
//! browser is close enough. Coarse on purpose: a dot marks the town the person
//! published, never a position. `pages` serves the drawing, `rows` the towns.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use mailpresence_protocol::mappack::{MapPack, PackError};

use super::html::escape;
use super::town_areas::{Outline, TownAreas};

/// Points closer than this (degrees, about 200 m) are one point: fine
/// enough for municipal borders beside town areas when the map is close,
/// and the drawing of all Japan stays about 2 MB (written to 0.01 map unit,
/// about 50 m), fetched once a day.
const GRID_DEGREES: f32 = 0.002;
/// Map units per degree of latitude.
const SCALE: f32 = 20.0;
/// Longitudes are shortened by the cosine of Japan's middle latitude (36°),
/// so shapes keep their proportions (an equirectangular projection).
const LON_FACTOR: f32 = 0.809;
/// The map's corner: west and north of every Japanese island.
const WEST: f32 = 122.0;
const NORTH: f32 = 46.0;
/// Fills that tell neighbouring prefectures apart.
const FILLS: [&str; 4] = ["#b9c8d3", "#d3c6ad", "#b7cdb2", "#cdb9d4"];

#[derive(Debug, thiserror::Error)]
pub enum MapError {
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    #[error("{0}: {1}")]
    Pack(String, PackError),
}

/// The drawn map and the towns' places.
#[derive(Debug)]
pub struct BoardMap {
    svg: Arc<str>,
    /// Municipality (`都道府県` + `市区町村`) → its towns' names and points,
    /// and its own point (the mean of its towns').
    municipalities: HashMap<String, Municipality>,
    /// The longest municipality key in bytes: no longer prefix is looked up
    /// (a place of any length costs a bounded number of lookups).
    longest: usize,
    towns: TownAreas,
}

#[derive(Debug)]
struct Municipality {
    /// Its index in the pack.
    index: u16,
    point: [f32; 2],
    towns: Vec<(String, [f32; 2])>,
}

/// A published place's town area on the map.
#[derive(Debug, Clone, PartialEq)]
pub struct TownArea {
    /// The town's name (丸の内一丁目), without its municipality.
    pub label: String,
    pub outline: Outline,
}

impl BoardMap {
    pub fn load(path: &Path) -> Result<Self, MapError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| MapError::Read(shown.clone(), e))?;
        let mut pack = MapPack::from_bytes(&bytes).map_err(|e| MapError::Pack(shown, e))?;
        let municipalities = municipalities(&pack);
        Ok(Self {
            svg: draw(&pack).into(),
            longest: municipalities.keys().map(String::len).max().unwrap_or(0),
            municipalities,
            towns: TownAreas::new(&mut pack),
        })
    }

    /// The drawn prefectures, as an SVG document.
    pub fn svg(&self) -> &str {
        &self.svg
    }

    /// Where a published place goes on the map, in map units: the town's
    /// representative point, or the municipality's for a place given only
    /// to the city or ward. `None` for a place outside Japan's towns.
    pub fn point(&self, place: &str) -> Option<[f32; 2]> {
        let (municipality, town) = self.locate(place)?;
        let exact = municipality.towns.iter().find(|(name, _)| name == town);
        // A place given to the 大字 only (丸の内 for 丸の内一丁目): its first town.
        let within = || {
            (!town.is_empty())
                .then(|| {
                    municipality
                        .towns
                        .iter()
                        .find(|(name, _)| name.starts_with(town))
                })
                .flatten()
        };
        let point = exact
            .or_else(within)
            .map_or(municipality.point, |(_, p)| *p);
        Some(project(point))
    }

    /// The area of the town a published place names, in map units; `None`
    /// for a place given only to its municipality, or a town without one.
    pub fn town_area(&self, place: &str) -> Option<TownArea> {
        let (municipality, town) = self.locate(place)?;
        if town.is_empty() {
            return None;
        }
        let outline = self.towns.outline(municipality.index, town, project)?;
        Some(TownArea {
            label: town.to_owned(),
            outline,
        })
    }

    /// The municipality a place starts with (the longest name: a ward of a
    /// designated city before the city) and the town after it.
    fn locate<'p>(&self, place: &'p str) -> Option<(&Municipality, &'p str)> {
        let (at, municipality) = place
            .char_indices()
            .map(|(i, c)| i + c.len_utf8())
            .take_while(|&end| end <= self.longest)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .find_map(|end| self.municipalities.get(&place[..end]).map(|m| (end, m)))?;
        Some((municipality, place[at..].trim()))
    }
}

/// `[lon, lat]` → map units.
fn project([lon, lat]: [f32; 2]) -> [f32; 2] {
    [(lon - WEST) * LON_FACTOR * SCALE, (NORTH - lat) * SCALE]
}

fn municipalities(pack: &MapPack) -> HashMap<String, Municipality> {
    let name = |offset| pack.name(offset).unwrap_or_default();
    let mut out = HashMap::new();
    for (index, m) in pack.municipalities.iter().enumerate() {
        let first = m.first_town as usize;
        let towns: Vec<(String, [f32; 2])> = pack
            .towns
            .get(first..first + m.town_count as usize)
            .unwrap_or_default()
            .iter()
            .map(|t| (name(t.name).to_owned(), [t.lon, t.lat]))
            .collect();
        if towns.is_empty() {
            continue;
        }
        let n = towns.len() as f32;
        let point = [
            towns.iter().map(|t| t.1[0]).sum::<f32>() / n,
            towns.iter().map(|t| t.1[1]).sum::<f32>() / n,
        ];
        out.insert(
            format!("{}{}", name(m.prefecture), name(m.name)),
            Municipality {
                index: index as u16,
                point,
                towns,
            },
        );
    }
    out
}

/// One `<path>` per prefecture (its municipalities' borders, snapped to the
/// grid), filled in its colour and stroked with a thin line that stays thin
/// at any zoom, so that municipal borders show inside and prefectures by
/// their colour; each carries its name as a tooltip.
fn draw(pack: &MapPack) -> String {
    let mut by_prefecture: Vec<(String, String)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for area in &pack.municipal_areas {
        let Some(m) = area
            .municipalities
            .first()
            .and_then(|&i| pack.municipalities.get(usize::from(i)))
        else {
            continue;
        };
        let prefecture = pack.name(m.prefecture).unwrap_or_default().to_owned();
        let slot = *index.entry(prefecture.clone()).or_insert_with(|| {
            by_prefecture.push((prefecture, String::new()));
            by_prefecture.len() - 1
        });
        for polygon in &area.polygons {
            for ring in polygon {
                path_ring(&mut by_prefecture[slot].1, ring);
            }
        }
    }
    let width = (154.0 - WEST) * LON_FACTOR * SCALE;
    let height = (NORTH - 20.0) * SCALE;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0} {height:.0}" role="img" aria-label="日本地図 / Map of Japan"><g class="prefectures">"#
    );
    for (i, (name, d)) in by_prefecture.iter().enumerate() {
        let fill = FILLS[i % FILLS.len()];
        let _ = write!(
            svg,
            r##"<path fill="{fill}" stroke="#f8fafc" stroke-width="0.75" vector-effect="non-scaling-stroke" fill-rule="evenodd" d="{d}"><title>{}</title></path>"##,
            escape(name)
        );
    }
    svg.push_str(r#"</g><g class="towns"></g><g class="dots"></g></svg>"#);
    svg
}

/// Appends one ring as `M x y L … Z`, dropping points that fall in the same
/// grid cell as the one before; a ring smaller than three cells is dropped.
fn path_ring(out: &mut String, ring: &[[f32; 2]]) {
    let mut cells: Vec<(i32, i32)> = Vec::new();
    for &[lon, lat] in ring {
        let cell = (
            (lon / GRID_DEGREES).round() as i32,
            (lat / GRID_DEGREES).round() as i32,
        );
        if cells.last() != Some(&cell) {
            cells.push(cell);
        }
    }
    if cells.len() < 3 {
        return;
    }
    for (i, (x, y)) in cells.iter().enumerate() {
        let [px, py] = project([*x as f32 * GRID_DEGREES, *y as f32 * GRID_DEGREES]);
        let _ = write!(out, "{}{px:.2} {py:.2}", if i == 0 { "M" } else { "L" });
    }
    out.push('Z');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    /// The real map pack (assets/mappack.bin), read once for these tests.
    fn map() -> &'static BoardMap {
        static MAP: OnceLock<BoardMap> = OnceLock::new();
        MAP.get_or_init(|| {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/mappack.bin");
            BoardMap::load(&path).expect("the map pack loads")
        })
    }

    #[test]
    fn a_town_goes_to_its_own_point_and_a_ward_to_its_towns_middle() {
        let map = map();
        let marunouchi = map
            .point("東京都千代田区丸の内一丁目")
            .expect("a town of Chiyoda");
        let chiyoda = map.point("東京都千代田区").expect("the ward");
        let kita = map
            .point("京都府京都市北区")
            .expect("a ward of a designated city");
        // Marunouchi lies within a few km of the ward's middle; Kyoto far west.
        let dist =
            |a: [f32; 2], b: [f32; 2]| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
        assert!(
            dist(marunouchi, chiyoda) < 0.1 * SCALE,
            "{marunouchi:?} {chiyoda:?}"
        );
        assert!(
            kita[0] < chiyoda[0] - 3.0 * SCALE * LON_FACTOR,
            "{kita:?} {chiyoda:?}"
        );
        assert_eq!(map.point("丸の内"), None);
        assert_eq!(map.point("Zagreb, Croatia"), None);
    }

    #[test]
    fn a_published_town_has_its_area_around_its_dot_and_a_ward_none() {
        let map = map();
        let place = "東京都千代田区丸の内一丁目";
        let area = map.town_area(place).expect("丸の内一丁目 has an area");
        assert_eq!(area.label, "丸の内一丁目");
        let [west, north, east, south] = area.outline.bounds;
        let [x, y] = map.point(place).expect("its dot");
        assert!(
            west < x && x < east && north < y && y < south,
            "{:?} {x} {y}",
            area.outline.bounds
        );
        // About 700 m across: a hundredth of a degree is 0.2 map units.
        assert!(
            east - west < 0.3 && south - north < 0.3,
            "{:?}",
            area.outline.bounds
        );
        assert!(area.outline.path.starts_with('M') && area.outline.path.ends_with('Z'));
        assert!(
            area.outline.path.len() < 40_000,
            "{}",
            area.outline.path.len()
        );
        let honcho = map
            .town_area("東京都武蔵野市吉祥寺本町一丁目")
            .expect("吉祥寺本町一丁目");
        let minami = map
            .town_area("東京都武蔵野市吉祥寺南町一丁目")
            .expect("吉祥寺南町一丁目");
        assert!(
            honcho.outline.bounds[1] < minami.outline.bounds[1],
            "本町 lies north of 南町: {:?} {:?}",
            honcho.outline.bounds,
            minami.outline.bounds
        );
        assert_eq!(map.town_area("東京都千代田区"), None, "a ward only");
        assert_eq!(map.town_area("東京都千代田区どこでもない町"), None);
        assert_eq!(map.town_area("Zagreb, Croatia"), None);
    }

    #[test]
    fn the_map_draws_all_47_prefectures_small_enough_for_a_browser() {
        let svg = &map().svg;
        assert_eq!(svg.matches("<path ").count(), 47, "one path per prefecture");
        assert!(svg.contains("<title>北海道</title>") && svg.contains("<title>沖縄県</title>"));
        assert!(svg.len() < 3_000_000, "{} bytes", svg.len());
    }
}
