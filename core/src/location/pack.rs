//! The map pack shipped with the app: country borders, Japan's prefecture
//! borders, GeoNames places and Japanese municipality names, in one compact
//! file (postcard, then deflate). Built by `tools/mappack` from packages in
//! the registries; read here.

use serde::{Deserialize, Serialize};

/// Bumped when the layout changes; a pack of another version is refused.
pub const PACK_VERSION: u32 = 1;
/// A decompressed pack larger than this is refused (a damaged or hostile file).
const MAX_UNPACKED_BYTES: usize = 64 * 1024 * 1024;

/// No index: the place lies in no border of the pack.
pub const NONE: u16 = u16::MAX;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MapPack {
    pub version: u32,
    /// Where the data comes from, with licences, for the README and the app's About screen.
    pub attributions: Vec<String>,
    /// Names, interned; everything else refers to them by index.
    pub strings: Vec<String>,
    /// Country borders (Natural Earth).
    pub countries: Vec<Area>,
    /// State or prefecture borders (Natural Earth, Japan).
    pub regions: Vec<Area>,
    /// GeoNames places with their first- and second-level division names.
    pub places: Vec<Place>,
    /// Local-language municipalities (Japan: 市区町村 with Japanese names).
    pub localities: Vec<Locality>,
}

/// A bordered area: one or more polygons, each an outer ring and its holes,
/// in (lon, lat) degrees.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Area {
    /// ISO 3166 alpha-2 of the country (for regions too).
    pub country: String,
    /// Index of the name in `strings` (regions: the local name, e.g. 京都府).
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
    /// County or district (GeoNames admin2), `u32::MAX` when none.
    pub admin2: u32,
    /// The country border it lies in, or [`NONE`].
    pub country: u16,
    /// Index of its ISO code in `strings`.
    pub country_code: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Locality {
    pub lat: f32,
    pub lon: f32,
    /// The region (prefecture) border it belongs to.
    pub region: u16,
    pub name: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("map pack is not a deflate stream: {0}")]
    Compression(String),
    #[error("map pack is damaged: {0}")]
    Format(String),
    #[error("map pack version {found}, this app reads version {PACK_VERSION}")]
    Version { found: u32 },
}

impl MapPack {
    pub fn to_bytes(&self) -> Result<Vec<u8>, PackError> {
        let raw = postcard::to_allocvec(self).map_err(|e| PackError::Format(e.to_string()))?;
        Ok(miniz_oxide::deflate::compress_to_vec(&raw, 9))
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PackError> {
        let raw = miniz_oxide::inflate::decompress_to_vec_with_limit(bytes, MAX_UNPACKED_BYTES)
            .map_err(|e| PackError::Compression(format!("{e:?}")))?;
        let pack: MapPack =
            postcard::from_bytes(&raw).map_err(|e| PackError::Format(e.to_string()))?;
        if pack.version != PACK_VERSION {
            return Err(PackError::Version {
                found: pack.version,
            });
        }
        Ok(pack)
    }

    pub fn string(&self, index: u32) -> Option<&str> {
        self.strings.get(index as usize).map(String::as_str)
    }
}
