//! The town areas of the board's map: a town's outline (its census small
//! areas, as the map pack carries them) found by municipality and town name,
//! drawn as SVG path data in the map's units. The pack's ring bytes are kept
//! as they are (about 9 MB) and an outline is read from them when asked for;
//! each outline is bounded in vertices, so an answer's size is too.

use std::collections::HashMap;
use std::fmt::Write as _;

use mailpresence_protocol::mappack::{AreaRingReader, MapPack, town_degrees};

/// Vertices of one town's outline at most; a longer one keeps every n-th
/// vertex (a town of a thousand vertices is already finer than the screen).
const MAX_VERTICES: usize = 1_000;

/// One town's outline: SVG path data, and its box (west, north, east, south)
/// in map units.
#[derive(Debug, Clone, PartialEq)]
pub struct Outline {
    pub path: String,
    pub bounds: [f32; 4],
}

#[derive(Debug, Default)]
pub struct TownAreas {
    rings: Vec<u8>,
    /// Per area: where its bytes start in `rings`, and the first vertex of
    /// the area before it (its own first vertex is a step from that).
    starts: Vec<(usize, [i64; 2])>,
    /// (municipality index, town name) → the town's areas.
    by_town: HashMap<(u16, String), Vec<u32>>,
}

impl TownAreas {
    /// Indexes the pack's town areas, taking their ring bytes out of it.
    /// Areas after damaged bytes are left out (a pack that loads has none).
    pub fn new(pack: &mut MapPack) -> Self {
        let rings = std::mem::take(&mut pack.town_rings);
        let mut reader = AreaRingReader::new(&rings);
        let mut starts = Vec::with_capacity(pack.town_areas.len());
        let mut by_town: HashMap<(u16, String), Vec<u32>> = HashMap::new();
        let (mut at, mut prev) = (0usize, [0i64, 0]);
        for (i, area) in pack.town_areas.iter().enumerate() {
            let Some((first, _)) = reader.next_area_box() else {
                break;
            };
            starts.push((at, prev));
            let name = pack.name(area.name).unwrap_or_default().to_owned();
            by_town
                .entry((area.municipality, name))
                .or_default()
                .push(i as u32);
            at += area.ring_bytes as usize;
            prev = first;
        }
        Self {
            rings,
            starts,
            by_town,
        }
    }

    /// The outline of `town` in the municipality at `municipality` (its index
    /// in the pack), projected by `project` (`[lon, lat]` → map units); `None`
    /// for a town without an area.
    pub fn outline(
        &self,
        municipality: u16,
        town: &str,
        project: impl Fn([f32; 2]) -> [f32; 2],
    ) -> Option<Outline> {
        let areas = self.by_town.get(&(municipality, town.to_owned()))?;
        let rings: Vec<Vec<[f32; 2]>> = areas
            .iter()
            .filter_map(|&i| {
                let &(at, prev) = self.starts.get(i as usize)?;
                AreaRingReader::resume(self.rings.get(at..)?, prev).next_area()
            })
            .flatten()
            .map(|ring| {
                ring.iter()
                    .map(|&[x, y]| {
                        let (lat, lon) = town_degrees(x as f64, y as f64);
                        project([lon as f32, lat as f32])
                    })
                    .collect()
            })
            .collect();
        let vertices: usize = rings.iter().map(Vec::len).sum();
        let every = vertices.div_ceil(MAX_VERTICES).max(1);
        let mut path = String::new();
        let mut bounds = [f32::MAX, f32::MAX, f32::MIN, f32::MIN];
        for ring in &rings {
            let kept: Vec<[f32; 2]> = ring.iter().step_by(every).copied().collect();
            if kept.len() < 3 {
                continue;
            }
            for (i, [x, y]) in kept.iter().enumerate() {
                let _ = write!(path, "{}{x:.3} {y:.3}", if i == 0 { "M" } else { "L" });
                bounds = [
                    bounds[0].min(*x),
                    bounds[1].min(*y),
                    bounds[2].max(*x),
                    bounds[3].max(*y),
                ];
            }
            path.push('Z');
        }
        (!path.is_empty()).then_some(Outline { path, bounds })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailpresence_protocol::mappack::{TownArea, TownRing, encode_area_rings, town_units};

    /// A pack of three areas: 甲町 a square, 乙町 a circle of 5,000 vertices
    /// in two census areas, all near (35°N, 139°E).
    fn pack() -> MapPack {
        let unit = |lat: f64, lon: f64| {
            let (x, y) = town_units(lat, lon);
            [x as i32, y as i32]
        };
        let square: Vec<TownRing> = vec![vec![
            unit(35.0, 139.0),
            unit(35.0, 139.01),
            unit(35.01, 139.01),
            unit(35.01, 139.0),
        ]];
        let circle = |lat: f64| -> Vec<TownRing> {
            vec![
                (0..5_000)
                    .map(|i| {
                        let a = i as f64 / 5_000.0 * std::f64::consts::TAU;
                        unit(lat + 0.01 * a.sin(), 139.1 + 0.01 * a.cos())
                    })
                    .collect(),
            ]
        };
        let mut rings = Vec::new();
        let mut first = [0, 0];
        let mut town_areas = Vec::new();
        for (name, area) in [(0, square), (7, circle(35.0)), (7, circle(35.05))] {
            let before = rings.len();
            encode_area_rings(&area, &mut first, &mut rings);
            town_areas.push(TownArea {
                municipality: 0,
                name,
                ring_bytes: (rings.len() - before) as u32,
            });
        }
        MapPack {
            names: "甲町\n乙町\n".into(),
            town_areas,
            town_rings: rings,
            ..Default::default()
        }
    }

    #[test]
    fn an_outline_is_read_from_the_packed_rings_and_bounded() {
        let towns = TownAreas::new(&mut pack());
        let degrees = |p: [f32; 2]| p;
        let square = towns.outline(0, "甲町", degrees).expect("甲町");
        assert_eq!(square.path.matches('L').count(), 3, "{}", square.path);
        assert_eq!(square.path.matches('Z').count(), 1);
        let [w, s, e, n] = square.bounds;
        assert!(
            (w - 139.0).abs() < 2e-4 && (e - 139.01).abs() < 2e-4,
            "{:?}",
            square.bounds
        );
        assert!(
            (s - 35.0).abs() < 2e-4 && (n - 35.01).abs() < 2e-4,
            "{:?}",
            square.bounds
        );
        // Both census areas of 乙町, 10,000 vertices, kept to the bound.
        let circles = towns.outline(0, "乙町", degrees).expect("乙町");
        assert_eq!(circles.path.matches('Z').count(), 2);
        let vertices = circles.path.matches(['M', 'L']).count();
        assert!(
            vertices <= MAX_VERTICES && vertices > MAX_VERTICES / 2,
            "{vertices}"
        );
        assert_eq!(towns.outline(0, "丙町", degrees), None);
        assert_eq!(
            towns.outline(1, "甲町", degrees),
            None,
            "another municipality"
        );
    }
}
