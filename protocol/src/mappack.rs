//! The map pack shipped with the app (and read by the server's web board for
//! its map): country borders and GeoNames places for
//! the world; for Japan, municipal borders (JMA), municipalities with their
//! JIS codes and the representative points of their towns (MLIT 位置参照情報,
//! 大字・町丁目) and the areas of their towns (e-Stat census small areas,
//! each boundary between two towns once, see [`TownArea`]), in one compact file (postcard, then LZ4: LZ4 inflates the
//! 12 MB of this pack in a few milliseconds where deflate took 45 ms, for
//! a pack a quarter larger). Built by `tools/mappack` from packages in the
//! registries; read here.

use serde::{Deserialize, Serialize};

/// Bumped when the layout changes; a pack of another version is refused.
pub const PACK_VERSION: u32 = 3;
/// A decompressed pack larger than this is refused (a damaged or hostile file).
const MAX_UNPACKED_BYTES: usize = 64 * 1024 * 1024;

/// Town areas are drawn in Web Mercator (as the census tiles were cut), in
/// units of which the world is this many across: 2^22, 9.6 m at the equator,
/// 7.7 m in Tokyo — finer than the 30 m the boundaries are simplified by, and
/// most steps between neighbouring vertices fit a byte.
pub const TOWN_WORLD_UNITS: f64 = 4_194_304.0;

/// A point in town units: (x east, y south), as [`TOWN_WORLD_UNITS`] says.
pub fn town_units(lat: f64, lon: f64) -> (f64, f64) {
    let x = (lon + 180.0) / 360.0 * TOWN_WORLD_UNITS;
    let phi = lat.to_radians();
    let y =
        (1.0 - (phi.tan() + 1.0 / phi.cos()).ln() / std::f64::consts::PI) / 2.0 * TOWN_WORLD_UNITS;
    (x, y)
}

/// A point in town units back to (lat, lon) degrees.
pub fn town_degrees(x: f64, y: f64) -> (f64, f64) {
    let lon = x / TOWN_WORLD_UNITS * 360.0 - 180.0;
    let lat = (std::f64::consts::PI * (1.0 - 2.0 * y / TOWN_WORLD_UNITS))
        .sinh()
        .atan()
        .to_degrees();
    (lat, lon)
}

/// No index: the place lies in no border of the pack.
pub const NONE: u16 = u16::MAX;

/// Separates the names in [`MapPack::names`].
pub const NAME_SEPARATOR: char = '\n';

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MapPack {
    pub version: u32,
    /// Where the data comes from, with licences, for the README and the app's About screen.
    pub attributions: Vec<String>,
    /// Names, interned, one text, each name followed by [`NAME_SEPARATOR`]:
    /// one allocation instead of hundreds of thousands (memory and load time
    /// on the phone). Everything else refers to a name by the byte offset
    /// where it starts.
    pub names: String,
    /// Country borders (Natural Earth).
    pub countries: Vec<Area>,
    /// GeoNames places with their first-level division names, sorted by
    /// [`place_cell`], then by longitude.
    pub places: Vec<Place>,
    /// Japan's municipalities, designated-city wards each on their own.
    pub municipalities: Vec<Municipality>,
    /// Japan's towns (大字・町丁目), grouped by municipality, each group sorted
    /// by longitude (the nearest-town search walks out from the fix's longitude).
    pub towns: Vec<Town>,
    /// Japan's municipal borders (JMA), each with the municipalities it holds.
    pub municipal_areas: Vec<MunicipalArea>,
    /// Japan's town areas (e-Stat census small areas under MLIT town names),
    /// by municipality.
    pub town_areas: Vec<TownArea>,
    /// The rings of every town area, area after area: see [`encode_area_rings`].
    #[serde(with = "raw_bytes")]
    pub town_rings: Vec<u8>,
}

/// A bordered area: one or more polygons, each an outer ring and its holes,
/// in (lon, lat) degrees.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Area {
    /// ISO 3166 alpha-2 of the country.
    pub country: String,
    /// Offset of the name in `names`.
    pub name: u32,
    pub polygons: Vec<Vec<Vec<[f32; 2]>>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Place {
    pub lat: f32,
    pub lon: f32,
    pub name: u32,
    /// State or prefecture name (GeoNames admin1, English).
    pub admin1: u32,
    /// The country border it lies in, or [`NONE`].
    pub country: u16,
    /// Offset of its ISO code in `names`.
    pub country_code: u32,
}

/// A 市区町村, or a ward (区) of a designated city.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Municipality {
    /// Five-digit JIS X 0402 code (13101 千代田区, 26103 京都市左京区).
    pub code: u32,
    /// 都道府県, offset in `names`.
    pub prefecture: u32,
    /// As written after the prefecture (`千代田区`, `京都市左京区`; towns and
    /// villages without their county: `安八町`), offset in `names`.
    pub name: u32,
    /// Its towns: `towns[first_town..first_town + town_count]`.
    pub first_town: u32,
    pub town_count: u32,
}

/// The representative point of a 大字・町丁目.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Town {
    pub lat: f32,
    pub lon: f32,
    /// Offset in `names` (`丸の内一丁目`).
    pub name: u32,
}

/// One of the JMA's municipal areas: a municipality, a part of one (横浜市北部)
/// or a designated city whose wards it does not split (大阪市).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MunicipalArea {
    /// Indices in `municipalities` of those the area covers (a designated
    /// city: its wards).
    pub municipalities: Vec<u16>,
    /// Outer ring and holes of each polygon, (lon, lat) degrees.
    pub polygons: Vec<Vec<Vec<[f32; 2]>>>,
}

/// The area of a town (a census small area; a town the census splits has
/// several): its rings are the next `ring_bytes` bytes of
/// [`MapPack::town_rings`] after those of the areas before it. Outer rings
/// and holes alike, and the parts of an area cut by tile edges: inside or
/// outside is even-odd over all of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TownArea {
    /// Index in `municipalities`.
    pub municipality: u16,
    /// The town's name as addresses write it (MLIT's), offset in `names`.
    pub name: u32,
    pub ring_bytes: u32,
}

/// A ring: its vertices in town units, implicitly closed.
pub type TownRing = Vec<[i32; 2]>;

/// An area's rings as bytes, appended to `out`: the ring count, then per
/// ring its vertex count and each vertex as the step from the one before;
/// the area's very first vertex as the step from `prev_first`, the first
/// vertex of the area before (neighbours in KEY_CODE order are mostly
/// neighbours on the ground), which it then becomes. All zigzag LEB128
/// varints: the steps are tens of metres, most fit a byte.
pub fn encode_area_rings(rings: &[TownRing], prev_first: &mut [i32; 2], out: &mut Vec<u8>) {
    put_varint(out, rings.len() as u64);
    let mut prev = *prev_first;
    for (r, ring) in rings.iter().enumerate() {
        put_varint(out, ring.len() as u64);
        for (i, &p) in ring.iter().enumerate() {
            put_step(out, prev, p);
            prev = p;
            if r == 0 && i == 0 {
                *prev_first = p;
            }
        }
    }
}

/// Reads what [`encode_area_rings`] wrote, area by area.
#[derive(Debug)]
pub struct AreaRingReader<'a> {
    bytes: &'a [u8],
    at: usize,
    first: [i64; 2],
}

impl<'a> AreaRingReader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            at: 0,
            first: [0, 0],
        }
    }

    /// The next area's rings, or `None` at the end or on damaged bytes.
    pub fn next_area(&mut self) -> Option<Vec<Vec<[i64; 2]>>> {
        let count = take_varint(self.bytes, &mut self.at)?;
        let mut rings = Vec::new();
        let mut p = self.first;
        for r in 0..count {
            let n = take_varint(self.bytes, &mut self.at)?;
            let mut ring = Vec::new();
            for i in 0..n {
                p[0] += unzigzag(take_varint(self.bytes, &mut self.at)?);
                p[1] += unzigzag(take_varint(self.bytes, &mut self.at)?);
                if r == 0 && i == 0 {
                    self.first = p;
                }
                ring.push(p);
            }
            rings.push(ring);
        }
        Some(rings)
    }
}

/// Calls `edge` with each edge (x1, y1, x2, y2) of one area's rings, read
/// on their own from `bytes` (that area's bytes) with its first vertex given
/// (the bytes hold it as a step from the area before); closing edges
/// included. `None` on damaged bytes.
pub fn for_each_area_edge(
    bytes: &[u8],
    first: [i64; 2],
    mut edge: impl FnMut(i64, i64, i64, i64),
) -> Option<()> {
    let mut at = 0;
    let rings = take_varint(bytes, &mut at)?;
    let mut p = first;
    for r in 0..rings {
        let n = take_varint(bytes, &mut at)?;
        let mut start = None;
        for i in 0..n {
            let dx = unzigzag(take_varint(bytes, &mut at)?);
            let dy = unzigzag(take_varint(bytes, &mut at)?);
            let before = p;
            if !(r == 0 && i == 0) {
                p = [p[0] + dx, p[1] + dy];
            }
            match start {
                None => start = Some(p),
                Some(_) => edge(before[0], before[1], p[0], p[1]),
            }
        }
        if let Some(s) = start {
            edge(p[0], p[1], s[0], s[1]);
        }
    }
    Some(())
}

fn put_step(out: &mut Vec<u8>, from: [i32; 2], to: [i32; 2]) {
    for axis in 0..2 {
        put_varint(out, zigzag(i64::from(to[axis]) - i64::from(from[axis])));
    }
}

fn zigzag(d: i64) -> u64 {
    ((d << 1) ^ (d >> 63)) as u64
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn take_varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*at)?;
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// A byte vector as one byte string (postcard: its length, then the bytes)
/// rather than a sequence read element by element: the town rings are
/// megabytes, and the pack should load in milliseconds.
mod raw_bytes {
    use serde::Serializer;
    use serde::de::{Deserializer, Error, Visitor};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct Bytes;
        impl Visitor<'_> for Bytes {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
        }
        d.deserialize_byte_buf(Bytes)
    }
}

/// Places are kept in one-degree cells: `PLACE_CELLS_PER_ROW` a row, rows
/// from the South Pole up.
pub const PLACE_CELLS_PER_ROW: usize = 360;
pub const PLACE_CELL_ROWS: usize = 180;

/// The one-degree cell of a point, for the order of [`MapPack::places`].
pub fn place_cell(lat: f64, lon: f64) -> usize {
    let row = (lat + 90.0)
        .floor()
        .clamp(0.0, (PLACE_CELL_ROWS - 1) as f64) as usize;
    let col = (lon + 180.0)
        .floor()
        .clamp(0.0, (PLACE_CELLS_PER_ROW - 1) as f64) as usize;
    row * PLACE_CELLS_PER_ROW + col
}

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("map pack is not an LZ4 block: {0}")]
    Compression(String),
    #[error("map pack is damaged: {0}")]
    Format(String),
    #[error("map pack version {found}, this program reads version {PACK_VERSION}")]
    Version { found: u32 },
}

impl MapPack {
    pub fn to_bytes(&self) -> Result<Vec<u8>, PackError> {
        let raw = postcard::to_allocvec(self).map_err(|e| PackError::Format(e.to_string()))?;
        Ok(lz4_flex::compress_prepend_size(&raw))
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PackError> {
        let size = bytes
            .get(..4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or_else(|| PackError::Compression("shorter than its header".into()))?;
        if size > MAX_UNPACKED_BYTES {
            return Err(PackError::Compression(format!(
                "unpacks to {size} bytes, more than {MAX_UNPACKED_BYTES}"
            )));
        }
        let raw = lz4_flex::decompress_size_prepended(bytes)
            .map_err(|e| PackError::Compression(e.to_string()))?;
        // The version leads the layout: read it alone, so that an old pack is
        // refused by version rather than as damaged.
        let (version, _) =
            postcard::take_from_bytes::<u32>(&raw).map_err(|e| PackError::Format(e.to_string()))?;
        if version != PACK_VERSION {
            return Err(PackError::Version { found: version });
        }
        postcard::from_bytes(&raw).map_err(|e| PackError::Format(e.to_string()))
    }

    /// The name that starts at byte `offset` of [`MapPack::names`].
    pub fn name(&self, offset: u32) -> Option<&str> {
        let rest = self.names.get(offset as usize..)?;
        rest.split(NAME_SEPARATOR).next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> MapPack {
        MapPack {
            version: PACK_VERSION,
            attributions: vec!["test".into()],
            names: "JP\n東京都\n".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_pack_round_trips_and_names_are_found_by_offset() {
        let pack = MapPack::from_bytes(&tiny().to_bytes().expect("packs")).expect("unpacks");
        assert_eq!(pack, tiny());
        assert_eq!(pack.name(0), Some("JP"));
        assert_eq!(pack.name(3), Some("東京都"));
        assert_eq!(pack.name(4), None, "not at a character boundary");
        assert_eq!(pack.name(99), None);
    }

    #[test]
    fn town_rings_round_trip_and_damaged_ones_are_refused() {
        let areas: Vec<Vec<TownRing>> = vec![
            vec![vec![[100, 200], [300, 200], [300, 90_000]]],
            vec![
                vec![[-5, 201], [150, 250], [150, 201]],
                vec![[0, 210], [10, 220], [0, 220]],
            ],
        ];
        let mut bytes = Vec::new();
        let mut first = [0, 0];
        let mut ends = Vec::new();
        for a in &areas {
            encode_area_rings(a, &mut first, &mut bytes);
            ends.push(bytes.len());
        }
        let widen = |r: &TownRing| {
            r.iter()
                .map(|p| [i64::from(p[0]), i64::from(p[1])])
                .collect::<Vec<_>>()
        };
        let mut reader = AreaRingReader::new(&bytes);
        for a in &areas {
            let want: Vec<_> = a.iter().map(widen).collect();
            assert_eq!(reader.next_area(), Some(want));
        }
        assert_eq!(reader.next_area(), None, "the end");
        let mut edges = Vec::new();
        for_each_area_edge(&bytes[ends[0]..], [-5, 201], |a, b, c, d| {
            edges.push([a, b, c, d])
        })
        .expect("reads");
        assert_eq!(edges.len(), 6, "both rings, closed");
        assert_eq!(edges[0], [-5, 201, 150, 250]);
        assert_eq!(edges[2], [150, 201, -5, 201]);
        assert_eq!(edges[3], [0, 210, 10, 220]);
        assert!(
            for_each_area_edge(&bytes[ends[0]..bytes.len() - 1], [0, 0], |_, _, _, _| {}).is_none()
        );
        let pack = MapPack {
            town_rings: bytes.clone(),
            ..tiny()
        };
        let back = MapPack::from_bytes(&pack.to_bytes().expect("packs")).expect("unpacks");
        assert_eq!(back.town_rings, bytes);
    }

    #[test]
    fn town_units_are_web_mercator_and_come_back() {
        let (x, y) = town_units(35.6812, 139.7671);
        assert!((x - 3_725_556.7).abs() < 0.1, "{x}");
        let (lat, lon) = town_degrees(x, y);
        assert!((lat - 35.6812).abs() < 1e-9 && (lon - 139.7671).abs() < 1e-9);
    }

    #[test]
    fn old_damaged_and_oversized_packs_are_refused() {
        let old = MapPack {
            version: 1,
            ..tiny()
        };
        assert!(matches!(
            MapPack::from_bytes(&old.to_bytes().expect("packs")),
            Err(PackError::Version { found: 1 })
        ));
        let mut bytes = tiny().to_bytes().expect("packs");
        bytes.truncate(bytes.len() / 2);
        assert!(MapPack::from_bytes(&bytes).is_err());
        assert!(matches!(
            MapPack::from_bytes(&[0xff, 0xff, 0xff, 0x7f, 0]),
            Err(PackError::Compression(_))
        ));
        assert!(MapPack::from_bytes(&[1, 2]).is_err());
    }
}
