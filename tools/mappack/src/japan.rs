//! Japan below the prefecture, from two crates.io packages read out of the
//! cargo registry cache:
//! - `japan-reverse-geocoder` 0.1.0, `data/isj.bin`: MLIT 位置参照情報 19.0b,
//!   one representative point per 大字・町丁目 with its municipality's JIS code
//!   (layout in that crate's `src/store.rs`: raw DEFLATE, then "JRGD" v1,
//!   little-endian tables);
//! - `reversejp` 0.2.1, `data/landslides_{0..9}.json.zip`: the JMA's municipal
//!   areas as GeoJSON, codes whose first five digits are the JIS code.

use std::collections::HashMap;
use std::path::Path;

use mailpresence_core::location::pack::{MunicipalArea, Municipality, Town};
use serde::Deserialize;

use crate::{BuildError, Strings, input_error};

/// A municipality as the ISJ data has it, with its towns.
pub struct IsjMunicipality {
    pub code: u32,
    pub prefecture: String,
    pub name: String,
    /// (name, lat, lon)
    pub towns: Vec<(String, f64, f64)>,
}

/// Little-endian reader over the inflated ISJ payload.
struct Cursor<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], String> {
        let out = self
            .buf
            .get(self.at..self.at + n)
            .ok_or_else(|| format!("truncated at byte {}", self.at))?;
        self.at += n;
        Ok(out)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut a = [0; N];
        a.copy_from_slice(self.bytes(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn i32(&mut self) -> Result<i32, String> {
        Ok(i32::from_le_bytes(self.array()?))
    }
    fn text(&mut self, len: usize) -> Result<String, String> {
        String::from_utf8(self.bytes(len)?.to_vec()).map_err(|e| e.to_string())
    }
}

/// The municipalities and towns of `isj.bin`.
pub fn read_isj(path: &Path) -> Result<(String, Vec<IsjMunicipality>), BuildError> {
    let packed = std::fs::read(path).map_err(|e| input_error(path, e))?;
    let raw = miniz_oxide::inflate::decompress_to_vec(&packed)
        .map_err(|e| input_error(path, format!("{e:?}")))?;
    parse_isj(&raw).map_err(|e| input_error(path, e))
}

fn parse_isj(raw: &[u8]) -> Result<(String, Vec<IsjMunicipality>), String> {
    let mut c = Cursor { buf: raw, at: 0 };
    if c.bytes(4)? != b"JRGD" {
        return Err("not a JRGD file".into());
    }
    let format = c.u16()?;
    if format != 1 {
        return Err(format!("JRGD format {format}, this tool reads 1"));
    }
    let len = usize::from(c.u8()?);
    let data_version = c.text(len)?;
    let mut prefectures = Vec::new();
    for _ in 0..c.u8()? {
        let _code = c.u8()?;
        let len = usize::from(c.u16()?);
        prefectures.push(c.text(len)?);
    }
    let mut municipalities = Vec::new();
    for _ in 0..c.u16()? {
        let code = c.u32()?;
        let pref = usize::from(c.u8()?);
        let len = usize::from(c.u16()?);
        let name = c.text(len)?;
        let prefecture = prefectures
            .get(pref)
            .ok_or_else(|| format!("prefecture {pref} out of range"))?
            .clone();
        municipalities.push(IsjMunicipality {
            code,
            prefecture,
            name,
            towns: Vec::new(),
        });
    }
    let mut names = Vec::new();
    for _ in 0..c.u32()? {
        let len = usize::from(c.u16()?);
        names.push(c.text(len)?);
    }
    for _ in 0..c.u32()? {
        let city = usize::from(c.u16()?);
        let name = c.u32()? as usize;
        let _town_code = c.bytes(8)?;
        let lat = f64::from(c.i32()?) / 1e6;
        let lon = f64::from(c.i32()?) / 1e6;
        let name = names
            .get(name)
            .ok_or_else(|| format!("town name {name} out of range"))?
            .clone();
        municipalities
            .get_mut(city)
            .ok_or_else(|| format!("municipality {city} out of range"))?
            .towns
            .push((name, lat, lon));
    }
    Ok((data_version, municipalities))
}

#[derive(Debug, Deserialize)]
struct FeatureCollection {
    features: Vec<Feature>,
}

#[derive(Debug, Deserialize)]
struct Feature {
    properties: JmaProperties,
    geometry: Geometry,
}

#[derive(Debug, Deserialize)]
struct JmaProperties {
    code: String,
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", content = "coordinates")]
enum Geometry {
    Polygon(Vec<Vec<[f64; 2]>>),
    MultiPolygon(Vec<Vec<Vec<[f64; 2]>>>),
}

/// A JMA municipal area: its name, JIS code and polygons.
pub struct JmaArea {
    pub code: u32,
    pub name: String,
    pub polygons: Vec<Vec<Vec<[f32; 2]>>>,
}

pub fn read_jma(dir: &Path) -> Result<Vec<JmaArea>, BuildError> {
    let mut areas = Vec::new();
    for i in 0..10 {
        let path = dir.join(format!("landslides_{i}.json.zip"));
        let zip = std::fs::read(&path).map_err(|e| input_error(&path, e))?;
        let json = crate::zip::only_file(&zip).map_err(|e| input_error(&path, e))?;
        let fc: FeatureCollection =
            serde_json::from_slice(&json).map_err(|e| input_error(&path, e))?;
        for f in fc.features {
            // The Northern Territories come as one area coded "hoppo": no JIS
            // code, so no municipality (the nearest town answers there).
            let code = f
                .properties
                .code
                .get(..5)
                .and_then(|c| c.parse::<u32>().ok())
                .unwrap_or(0);
            let polygons = match f.geometry {
                Geometry::Polygon(p) => vec![p],
                Geometry::MultiPolygon(m) => m,
            };
            let polygons = polygons
                .into_iter()
                .map(|rings| {
                    rings
                        .into_iter()
                        .map(|r| r.into_iter().map(|[x, y]| [x as f32, y as f32]).collect())
                        .collect()
                })
                .collect();
            areas.push(JmaArea {
                code,
                name: f.properties.name,
                polygons,
            });
        }
    }
    Ok(areas)
}

/// A town or village without its county (`安八郡安八町` → `安八町`): the
/// county is no level of government, and the app has always named towns so
/// (`岐阜県安八町`). Cities keep their names (`郡山市`, `大和郡山市`).
pub fn without_county(name: &str) -> &str {
    match name.split_once('郡') {
        Some((county, town))
            if !county.is_empty() && (town.ends_with('町') || town.ends_with('村')) =>
        {
            town
        }
        _ => name,
    }
}

/// Municipalities, towns and municipal areas for the pack. An area takes the
/// municipality of its JIS code; a designated city that the JMA does not split
/// into wards (大阪市, or 横浜市北部 as a part) takes the wards: the
/// municipalities coded just above the city's code whose name begins with the
/// city's.
pub fn pack(
    isj: &[IsjMunicipality],
    jma: Vec<JmaArea>,
    strings: &mut Strings,
) -> (Vec<Municipality>, Vec<Town>, Vec<MunicipalArea>) {
    let mut municipalities = Vec::with_capacity(isj.len());
    let mut towns = Vec::new();
    let mut index_of: HashMap<u32, u16> = HashMap::new();
    for (i, m) in isj.iter().enumerate() {
        let mut own: Vec<&(String, f64, f64)> = m.towns.iter().collect();
        own.sort_by(|a, b| a.2.total_cmp(&b.2));
        let first_town = towns.len() as u32;
        towns.extend(own.into_iter().map(|(name, lat, lon)| Town {
            lat: *lat as f32,
            lon: *lon as f32,
            name: strings.add(name),
        }));
        municipalities.push(Municipality {
            code: m.code,
            prefecture: strings.add(&m.prefecture),
            name: strings.add(without_county(&m.name)),
            first_town,
            town_count: towns.len() as u32 - first_town,
        });
        index_of.insert(m.code, i as u16);
    }
    let mut areas = Vec::with_capacity(jma.len());
    let mut unmatched = Vec::new();
    for a in jma {
        let members: Vec<u16> = match index_of.get(&a.code) {
            Some(&i) => vec![i],
            None => {
                let city = a
                    .name
                    .find('市')
                    .map_or(a.name.as_str(), |at| &a.name[..at + '市'.len_utf8()]);
                isj.iter()
                    .enumerate()
                    .filter(|(_, m)| m.code > a.code && m.code < a.code + 30)
                    .filter(|(_, m)| m.name.starts_with(city) && m.name.len() > city.len())
                    .map(|(i, _)| i as u16)
                    .collect()
            }
        };
        if members.is_empty() {
            unmatched.push(format!("{} {}", a.code, a.name));
        }
        areas.push(MunicipalArea {
            municipalities: members,
            polygons: a.polygons,
        });
    }
    eprintln!(
        "mappack: {} municipal areas, {} with no ISJ municipality (nearest town used there): {unmatched:?}",
        areas.len(),
        unmatched.len()
    );
    (municipalities, towns, areas)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn towns_and_villages_lose_their_county_cities_keep_their_names() {
        assert_eq!(without_county("安八郡安八町"), "安八町");
        assert_eq!(without_county("西多摩郡檜原村"), "檜原村");
        assert_eq!(without_county("郡山市"), "郡山市");
        assert_eq!(without_county("大和郡山市"), "大和郡山市");
        assert_eq!(without_county("京都市左京区"), "京都市左京区");
    }

    #[test]
    fn an_isj_file_is_read_and_a_wrong_one_refused() {
        let mut raw = b"JRGD".to_vec();
        raw.extend(1u16.to_le_bytes());
        raw.extend([5]);
        raw.extend(b"19.0b");
        raw.extend([1, 13]); // one prefecture, code 13
        raw.extend(9u16.to_le_bytes());
        raw.extend("東京都".as_bytes());
        raw.extend(1u16.to_le_bytes()); // one municipality
        raw.extend(13101u32.to_le_bytes());
        raw.extend([0]);
        raw.extend(12u16.to_le_bytes());
        raw.extend("千代田区".as_bytes());
        raw.extend(1u32.to_le_bytes()); // one town name
        raw.extend(18u16.to_le_bytes());
        raw.extend("丸の内一丁目".as_bytes());
        raw.extend(1u32.to_le_bytes()); // one record
        raw.extend(0u16.to_le_bytes());
        raw.extend(0u32.to_le_bytes());
        raw.extend(0u64.to_le_bytes());
        raw.extend(35_681_000i32.to_le_bytes());
        raw.extend(139_766_000i32.to_le_bytes());
        let (version, munis) = parse_isj(&raw).expect("reads");
        assert_eq!(version, "19.0b");
        assert_eq!(munis.len(), 1);
        assert_eq!(
            (munis[0].code, munis[0].prefecture.as_str()),
            (13101, "東京都")
        );
        assert_eq!(
            munis[0].towns,
            vec![("丸の内一丁目".to_string(), 35.681, 139.766)]
        );
        assert!(parse_isj(&raw[..raw.len() - 3]).is_err(), "truncated");
        assert!(parse_isj(b"JRGX").is_err());
    }
}
