//! Town boundaries from e-Stat's 2020 census small areas (国勢調査 小地域,
//! 町丁・字等) as Mapbox Vector Tiles: each tile's features decoded with the
//! `mvt-reader` crate, water (HCODE 8154) dropped, each polygon clipped to
//! its own tile (tiles overlap by a buffer) and simplified (40 m), and the parts of
//! one small area (its KEY_CODE) gathered across tiles. The parts of an area
//! meet only along tile edges, so even-odd counting over all its rings at
//! once still tells inside from outside.
//!
//! Each side of a boundary is kept and simplified on its own: the tiles'
//! neighbours do not share their vertices (tippecanoe simplified each
//! feature alone), so cutting the rings into shared arcs left 1.8 million
//! short arcs and a larger pack, not a smaller one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use geo::{Coord, LineString, Simplify};
use mailpresence_core::location::pack::{TOWN_WORLD_UNITS, TownRing, town_degrees, town_units};
use mvt_reader::Reader;
use mvt_reader::feature::Value;

use crate::{BuildError, input_error};

/// HCODE of a water area (湖沼, 河川 drawn as their own small areas).
const WATER: i64 = 8154;
/// Simplification tolerance, unless `--simplify-m` says otherwise. Measured
/// (BENCHMARKS.md): 40 m names 0.3 points fewer station towns than 30 m and
/// brings the pack under 15 MB (30 m: 16.2 MB; 50 m: 0.7 points fewer).
pub const SIMPLIFY_M: f64 = 40.0;
/// Earth's circumference at the equator in Web Mercator metres.
const EQUATOR_M: f64 = 40_075_016.686;

/// One census small area: its names and its rings in town units.
#[derive(Debug, Default)]
pub struct CensusArea {
    /// The first five digits of the KEY_CODE: the JIS municipality code.
    pub municipality: u32,
    /// S_NAME as the census writes it (may be empty for a municipality with
    /// no smaller areas).
    pub name: String,
    /// Outer rings and holes of all its parts, each implicitly closed.
    pub rings: Vec<TownRing>,
    /// e-Stat's representative point (Y_CODE, X_CODE): inside the area.
    pub inside: Option<(f64, f64)>,
}

impl CensusArea {
    /// Whether the area holds the point: even-odd over its rings.
    pub fn contains(&self, lat: f64, lon: f64) -> bool {
        let (x, y) = town_units(lat, lon);
        let mut odd = false;
        for ring in &self.rings {
            let n = ring.len();
            for i in 0..n {
                let (p, q) = (ring[i], ring[(i + 1) % n]);
                let (x1, y1) = (f64::from(p[0]), f64::from(p[1]));
                let (x2, y2) = (f64::from(q[0]), f64::from(q[1]));
                if (y1 > y) != (y2 > y) && x < x1 + (y - y1) / (y2 - y1) * (x2 - x1) {
                    odd = !odd;
                }
            }
        }
        odd
    }
}

/// The tiles' pixels: the world is this many across at zoom 11 with 4096
/// units a tile; tiles of other sizes are scaled to it.
const PIXEL_WORLD: f64 = 8_388_608.0;

/// The census areas of every tile under `dir` (`{z}/{x}/{y}.pbf`), by KEY_CODE.
pub fn read_tiles(dir: &Path, simplify_m: f64) -> Result<BTreeMap<String, CensusArea>, BuildError> {
    let mut files = Vec::new();
    collect_tiles(dir, &mut files)?;
    if files.is_empty() {
        return Err(input_error(
            dir,
            "no {z}/{x}/{y}.pbf tiles below this folder",
        ));
    }
    // Sorted, so that every build gathers the parts in the same order.
    files.sort();
    let mut areas = BTreeMap::new();
    for (path, tile) in &files {
        let bytes = std::fs::read(path).map_err(|e| input_error(path, e))?;
        read_tile(bytes, *tile, simplify_m, &mut areas).map_err(|e| input_error(path, e))?;
    }
    areas.retain(|_, a: &mut CensusArea| !a.rings.is_empty());
    eprintln!(
        "mappack: {} e-Stat tiles, {} small areas on land, {} rings, {} vertices",
        files.len(),
        areas.len(),
        areas.values().map(|a| a.rings.len()).sum::<usize>(),
        areas
            .values()
            .flat_map(|a| &a.rings)
            .map(Vec::len)
            .sum::<usize>()
    );
    Ok(areas)
}

/// A tile's address: zoom, column, row.
type TileId = (u32, u32, u32);

fn collect_tiles(dir: &Path, out: &mut Vec<(PathBuf, TileId)>) -> Result<(), BuildError> {
    let entries = std::fs::read_dir(dir).map_err(|e| input_error(dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| input_error(dir, e))?.path();
        if path.is_dir() {
            collect_tiles(&path, out)?;
        } else if let Some(id) = tile_id(&path) {
            out.push((path, id));
        }
    }
    Ok(())
}

/// `…/11/1819/806.pbf` → (11, 1819, 806).
fn tile_id(path: &Path) -> Option<TileId> {
    if path.extension()? != "pbf" {
        return None;
    }
    let y = path.file_stem()?.to_str()?.parse().ok()?;
    let x_dir = path.parent()?;
    let x = x_dir.file_name()?.to_str()?.parse().ok()?;
    let z = x_dir.parent()?.file_name()?.to_str()?.parse().ok()?;
    Some((z, x, y))
}

fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Int(i) | Value::SInt(i)) => i.to_string(),
        Some(Value::UInt(u)) => u.to_string(),
        Some(Value::Double(d)) => format!("{d}"),
        Some(Value::Float(f)) => format!("{f}"),
        _ => String::new(),
    }
}

fn read_tile(
    bytes: Vec<u8>,
    (z, tx, ty): TileId,
    simplify_m: f64,
    areas: &mut BTreeMap<String, CensusArea>,
) -> Result<(), String> {
    let reader = Reader::new(bytes).map_err(|e| e.to_string())?;
    let layers = reader.get_layer_metadata().map_err(|e| e.to_string())?;
    for layer in layers {
        let extent = f64::from(layer.extent);
        // Tile units to pixels of the zoom-11, 4096-unit world.
        let scale = PIXEL_WORLD / (f64::from(1u32 << z.min(30)) * extent);
        let features = reader
            .get_features_as::<i32>(layer.layer_index)
            .map_err(|e| e.to_string())?;
        for f in features {
            let props = f.properties.unwrap_or_default();
            if text(props.get("HCODE")) == WATER.to_string() {
                continue;
            }
            let key = text(props.get("KEY_CODE"));
            let Some(municipality) = key.get(..5).and_then(|c| c.parse().ok()) else {
                continue;
            };
            let number = |k: &str| match props.get(k) {
                Some(Value::Double(d)) => Some(*d),
                Some(Value::Float(f)) => Some(f64::from(*f)),
                _ => None,
            };
            let area = areas.entry(key).or_insert_with(|| CensusArea {
                municipality,
                name: text(props.get("S_NAME")),
                rings: Vec::new(),
                inside: number("Y_CODE").zip(number("X_CODE")),
            });
            for ring in polygon_rings(&f.geometry) {
                let pixels: Vec<[f64; 2]> = clip_to_square(&ring, extent)
                    .into_iter()
                    .map(|p| {
                        [
                            (f64::from(tx) * extent + p[0]) * scale,
                            (f64::from(ty) * extent + p[1]) * scale,
                        ]
                    })
                    .collect();
                let ring = to_town_units(&simplify_ring(&pixels, simplify_m));
                if ring.len() >= 3 {
                    area.rings.push(ring);
                }
            }
        }
    }
    Ok(())
}

/// Ramer–Douglas–Peucker (geo's) on a closed ring in pixels, to about
/// `metres` on the ground at the ring's latitude.
fn simplify_ring(ring: &[[f64; 2]], metres: f64) -> Vec<[f64; 2]> {
    let Some(first) = ring.first() else {
        return Vec::new();
    };
    let (lat, _) = town_degrees(0.0, first[1] * TOWN_WORLD_UNITS / PIXEL_WORLD);
    let metres_per_pixel = EQUATOR_M / PIXEL_WORLD * lat.to_radians().cos();
    let closed: LineString<f64> = ring
        .iter()
        .chain(std::iter::once(first))
        .map(|p| Coord { x: p[0], y: p[1] })
        .collect();
    closed
        .simplify(metres / metres_per_pixel)
        .coords()
        .map(|c| [c.x, c.y])
        .collect()
}

/// Pixels to town units, repeated vertices (and the closing one) dropped.
fn to_town_units(ring: &[[f64; 2]]) -> TownRing {
    let shrink = TOWN_WORLD_UNITS / PIXEL_WORLD;
    let mut out: TownRing = Vec::with_capacity(ring.len());
    for p in ring {
        let q = [
            (p[0] * shrink).round() as i32,
            (p[1] * shrink).round() as i32,
        ];
        if out.last() != Some(&q) {
            out.push(q);
        }
    }
    while out.len() > 1 && out.first() == out.last() {
        out.pop();
    }
    out
}

/// Every ring of a (multi)polygon in tile units, open (no repeated first point).
fn polygon_rings(g: &geo::Geometry<i32>) -> Vec<Vec<[f64; 2]>> {
    let ring = |l: &LineString<i32>| -> Vec<[f64; 2]> {
        let mut r: Vec<[f64; 2]> = l
            .coords()
            .map(|c| [f64::from(c.x), f64::from(c.y)])
            .collect();
        if r.len() > 1 && r.first() == r.last() {
            r.pop();
        }
        r
    };
    let of_polygon = |p: &geo::Polygon<i32>| {
        std::iter::once(p.exterior())
            .chain(p.interiors())
            .map(ring)
            .collect::<Vec<_>>()
    };
    match g {
        geo::Geometry::Polygon(p) => of_polygon(p),
        geo::Geometry::MultiPolygon(m) => m.iter().flat_map(of_polygon).collect(),
        _ => Vec::new(),
    }
}

/// Sutherland–Hodgman against the tile's own square: the buffer beyond it
/// is the neighbour tile's, which holds the same ground.
fn clip_to_square(ring: &[[f64; 2]], extent: f64) -> Vec<[f64; 2]> {
    // Each edge of the square as (axis, bound, keep the side below it).
    let edges = [
        (0, 0.0, false),
        (0, extent, true),
        (1, 0.0, false),
        (1, extent, true),
    ];
    let mut out = ring.to_vec();
    for (axis, bound, below) in edges {
        if out.is_empty() {
            break;
        }
        let inside = |p: &[f64; 2]| {
            if below {
                p[axis] <= bound
            } else {
                p[axis] >= bound
            }
        };
        let input = std::mem::take(&mut out);
        let mut prev = input[input.len() - 1];
        for &cur in &input {
            let (pin, cin) = (inside(&prev), inside(&cur));
            if pin != cin {
                let t = (bound - prev[axis]) / (cur[axis] - prev[axis]);
                let mut cut = [
                    prev[0] + t * (cur[0] - prev[0]),
                    prev[1] + t * (cur[1] - prev[1]),
                ];
                cut[axis] = bound;
                out.push(cut);
            }
            if cin {
                out.push(cur);
            }
            prev = cur;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_is_clipped_to_its_tile() {
        let ring = [[-10.0, -10.0], [50.0, -10.0], [50.0, 50.0], [-10.0, 50.0]];
        let clipped = clip_to_square(&ring, 40.0);
        assert!(
            clipped
                .iter()
                .all(|p| (0.0..=40.0).contains(&p[0]) && (0.0..=40.0).contains(&p[1]))
        );
        assert_eq!(clipped.len(), 4);
        assert!(clip_to_square(&[[50.0, 50.0], [60.0, 50.0], [60.0, 60.0]], 40.0).is_empty());
    }

    #[test]
    fn a_simplified_ring_keeps_its_corners_and_drops_a_small_wiggle() {
        // A 1 km square near Tokyo in pixels (about 3.2 m each), with a
        // wiggle of 2 pixels on one side.
        let (x, y) = (7_451_000.0, 3_303_000.0);
        let ring = [
            [x, y],
            [x + 150.0, y + 2.0],
            [x + 300.0, y],
            [x + 300.0, y + 300.0],
            [x, y + 300.0],
        ];
        let simple = simplify_ring(&ring, SIMPLIFY_M);
        assert_eq!(
            simple.len(),
            5,
            "four corners and the closing one: {simple:?}"
        );
        let units = to_town_units(&simple);
        assert_eq!(units.len(), 4);
        assert_eq!(units[0], [3_725_500, 1_651_500]);
        let area = CensusArea {
            rings: vec![units],
            ..CensusArea::default()
        };
        let (lat, lon) = town_degrees(3_725_575.0, 1_651_575.0);
        assert!(area.contains(lat, lon));
        let (lat, lon) = town_degrees(3_725_675.0, 1_651_575.0);
        assert!(!area.contains(lat, lon));
    }

    #[test]
    fn tiles_are_named_by_their_folders() {
        assert_eq!(
            tile_id(Path::new("a/11/1819/806.pbf")),
            Some((11, 1819, 806))
        );
        assert_eq!(tile_id(Path::new("a/11/1819/806.json")), None);
    }
}
