//! The map pack shipped with the app (and read by the server's web board for
//! its map): country borders and GeoNames places for
//! the world; for Japan, municipal borders (JMA), municipalities with their
//! JIS codes and the representative points of their towns (MLIT 位置参照情報,
//! 大字・町丁目) and the areas of their towns (e-Stat census small areas,
//! see [`TownArea`]), in one compact file (postcard, then LZ4: LZ4 inflates the
//! 12 MB of this pack in a few milliseconds where deflate took 45 ms, for
//! a pack a quarter larger). Built by `tools/mappack` from packages in the
//! registries; read here.

use serde::{Deserialize, Serialize};

mod compact;
mod town_rings;
mod varint;

pub use town_rings::{
    AreaRingReader, TOWN_WORLD_UNITS, TownRing, encode_area_rings, for_each_area_edge,
    town_degrees, town_units,
};

/// Bumped when the layout changes; a pack of another version is refused.
pub const PACK_VERSION: u32 = 3;
/// A decompressed pack larger than this is refused (a damaged or hostile file).
const MAX_UNPACKED_BYTES: usize = 64 * 1024 * 1024;

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
    #[serde(with = "compact::places")]
    pub places: Vec<Place>,
    /// Japan's municipalities, designated-city wards each on their own.
    pub municipalities: Vec<Municipality>,
    /// Japan's towns (大字・町丁目), grouped by municipality, each group sorted
    /// by longitude (the nearest-town search walks out from the fix's longitude).
    #[serde(with = "compact::towns")]
    pub towns: Vec<Town>,
    /// Japan's municipal borders (JMA), each with the municipalities it holds.
    pub municipal_areas: Vec<MunicipalArea>,
    /// Japan's town areas (e-Stat census small areas under MLIT town names),
    /// by municipality.
    #[serde(with = "compact::town_areas")]
    pub town_areas: Vec<TownArea>,
    /// The rings of every town area, area after area: see [`encode_area_rings`].
    /// Stored after the compressed body, as they are (LZ4 cannot shrink
    /// varint steps, and unpacking them apart keeps them from being in
    /// memory twice while the pack loads).
    #[serde(skip)]
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
    #[serde(with = "compact::polygons")]
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
    #[serde(with = "compact::polygons")]
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
    /// The pack as a file: the body's unpacked size and packed length (u32
    /// LE each), the body (postcard, LZ4 block), then the town rings.
    pub fn to_bytes(&self) -> Result<Vec<u8>, PackError> {
        let raw = postcard::to_allocvec(self).map_err(|e| PackError::Format(e.to_string()))?;
        let body = lz4_flex::compress(&raw);
        let length = |n: usize| {
            u32::try_from(n)
                .map(u32::to_le_bytes)
                .map_err(|_| PackError::Format(format!("{n} bytes is too large")))
        };
        let mut out = Vec::with_capacity(8 + body.len() + self.town_rings.len());
        out.extend(length(raw.len())?);
        out.extend(length(body.len())?);
        out.extend(&body);
        out.extend(&self.town_rings);
        Ok(out)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PackError> {
        let (mut pack, rings) = Self::from_bytes_but_rings(bytes)?;
        pack.town_rings = rings.to_vec();
        Ok(pack)
    }

    /// The pack without its town rings, and the rings as they lie in
    /// `bytes`: a reader that keeps the bytes (a pack built into the
    /// program) need not copy its largest part.
    pub fn from_bytes_but_rings(bytes: &[u8]) -> Result<(Self, &[u8]), PackError> {
        let word = |at: usize| {
            bytes
                .get(at..at + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
                .ok_or_else(|| PackError::Compression("shorter than its header".into()))
        };
        let size = word(0)?;
        if size > MAX_UNPACKED_BYTES {
            return Err(PackError::Compression(format!(
                "unpacks to {size} bytes, more than {MAX_UNPACKED_BYTES}"
            )));
        }
        let body_end = word(4)?.saturating_add(8);
        let body = bytes
            .get(8..body_end)
            .ok_or_else(|| PackError::Compression("shorter than its body".into()))?;
        let raw =
            lz4_flex::decompress(body, size).map_err(|e| PackError::Compression(e.to_string()))?;
        // The version leads the layout: read it alone, so that an old pack is
        // refused by version rather than as damaged.
        let (version, _) =
            postcard::take_from_bytes::<u32>(&raw).map_err(|e| PackError::Format(e.to_string()))?;
        if version != PACK_VERSION {
            return Err(PackError::Version { found: version });
        }
        let pack: Self =
            postcard::from_bytes(&raw).map_err(|e| PackError::Format(e.to_string()))?;
        Ok((pack, bytes.get(body_end..).unwrap_or_default()))
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
    fn coordinates_and_town_rings_round_trip_in_their_compact_forms() {
        let square = |x: f32, y: f32| vec![[x, y], [x + 0.5, y], [x + 0.5, y + 0.5], [x, y]];
        let pack = MapPack {
            countries: vec![Area {
                country: "JP".into(),
                name: 0,
                polygons: vec![vec![square(139.5, 35.25), square(139.625, 35.375)], vec![]],
            }],
            places: vec![Place {
                lat: -33.875,
                lon: 151.25,
                name: 3,
                admin1: 0,
                country: NONE,
                country_code: 0,
            }],
            towns: vec![
                Town {
                    lat: 35.68125,
                    lon: 139.76625,
                    name: 3,
                },
                Town {
                    lat: 35.5,
                    lon: 139.875,
                    name: 0,
                },
            ],
            municipal_areas: vec![MunicipalArea {
                municipalities: vec![0],
                polygons: vec![vec![square(-0.25, 45.5)]],
            }],
            town_areas: vec![
                TownArea {
                    municipality: 7,
                    name: 300,
                    ring_bytes: 2,
                },
                TownArea {
                    municipality: 7,
                    name: 12,
                    ring_bytes: 1,
                },
                TownArea {
                    municipality: 0,
                    name: 90_000,
                    ring_bytes: 0,
                },
            ],
            town_rings: vec![1, 2, 3],
            ..tiny()
        };
        let back = MapPack::from_bytes(&pack.to_bytes().expect("packs")).expect("unpacks");
        assert_eq!(
            back, pack,
            "values on the 1e-5° grid come back as they were"
        );
        let near = MapPack {
            towns: vec![Town {
                lat: 35.681_234,
                lon: 139.766_71,
                name: 0,
            }],
            ..tiny()
        };
        let back = MapPack::from_bytes(&near.to_bytes().expect("packs")).expect("unpacks");
        assert!(
            (back.towns[0].lat - 35.681_23).abs() < 2e-6,
            "{:?}",
            back.towns
        );
        assert!(
            (back.towns[0].lon - 139.766_71).abs() < 2e-5,
            "{:?}",
            back.towns
        );
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
