//! Reverse geocoding on the phone, from the map pack.
//!
//! In Japan (with Japanese as the language) the address goes down to the town,
//! the way desk staff read it. The town area (an e-Stat census small area
//! under its MLIT name) that holds the fix gives the municipality — with the
//! ward of a designated city — and the 大字・町丁目 (`東京都千代田区丸の内一丁目`).
//! Outside every town area (water, the sea, a sliver between simplified
//! neighbours) the JMA municipal border that holds the fix gives the
//! municipality, and the nearest MLIT town point inside it the town; where
//! no border holds the fix either (a quay, a breakwater), the nearest town
//! point anywhere decides.
//!
//! Elsewhere, and in English, the country border, then the nearest GeoNames
//! place inside it: the city is that place (a city or commune), never the
//! county or département above it.
//!
//! Limits of the data: the town areas are simplified to about 40 m, so within
//! that of a boundary the neighbour may answer; there are no block numbers
//! (番地), so `street` is the town too. The change policy's hysteresis keeps a
//! worker on a boundary from flapping.

use std::borrow::Cow;

use geo::{Distance, Haversine, Point};
use serde::{Deserialize, Serialize};

use super::grid::AreaGrid;
use super::pack::{MapPack, NONE, PLACE_CELL_ROWS, PLACE_CELLS_PER_ROW, PackError, place_cell};
use super::towns::TownIndex;
use mailpresence_protocol::model::CivicAddress;
use mailpresence_protocol::summary::Lang;

#[derive(Debug, thiserror::Error)]
pub enum LocationError {
    #[error(transparent)]
    Pack(#[from] PackError),
    #[error("{lat},{lon} is not a point on Earth")]
    BadPoint { lat: f64, lon: f64 },
    #[error("the map pack holds no places")]
    EmptyPack,
    #[error("online geocoder: {0}")]
    Online(String),
}

/// An address as a person reads it, with its parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// ISO 3166 alpha-2.
    pub country: Option<String>,
    /// Prefecture or state.
    pub region: Option<String>,
    /// City, ward (Tokyo) or municipality.
    pub city: Option<String>,
    /// Finer than the city, where the data has it.
    pub district: Option<String>,
    /// The whole address in the reader's order (`京都府京都市`, `Višnjan, Istria, Croatia`).
    pub display: String,
    /// The country's name for the display, when known.
    #[serde(skip)]
    country_name: Option<String>,
}

impl Address {
    fn new(
        country: Option<String>,
        country_name: Option<String>,
        region: Option<String>,
        city: Option<String>,
        district: Option<String>,
    ) -> Self {
        // Japanese order and script only when the names are Japanese.
        let japanese = [&region, &city]
            .iter()
            .any(|p| p.as_deref().is_some_and(is_japanese));
        // The parts move into the civic address and back out: a lookup per
        // GPS fix should not copy every name twice.
        let mut civic = CivicAddress {
            country,
            region,
            city,
            district,
            street: None,
        };
        let display = if japanese {
            civic.display()
        } else {
            let code = civic.country.take();
            civic.country = country_name.clone().or_else(|| code.clone());
            let display = civic.display();
            civic.country = code;
            display
        };
        Self {
            display,
            country_name,
            country: civic.country,
            region: civic.region,
            city: civic.city,
            district: civic.district,
        }
    }

    /// The parts as a PIDF civic address.
    pub fn civic(&self) -> CivicAddress {
        CivicAddress {
            country: self.country.clone(),
            region: self.region.clone(),
            city: self.city.clone(),
            district: self.district.clone(),
            street: None,
        }
    }

    /// An address known only as text (an online provider's answer).
    pub fn from_display(display: impl Into<String>) -> Self {
        Self {
            country: None,
            region: None,
            city: None,
            district: None,
            display: display.into(),
            country_name: None,
        }
    }

    /// Only the parts down to `level` (1 region, 2 city, 3 district), display
    /// redone. An address known only as text stays as it is.
    pub fn down_to(&self, level: u8) -> Self {
        if [&self.country, &self.region, &self.city, &self.district]
            .iter()
            .all(|p| p.is_none())
        {
            return self.clone();
        }
        Self::new(
            self.country.clone(),
            self.country_name.clone(),
            self.region.clone().filter(|_| level >= 1),
            self.city.clone().filter(|_| level >= 2),
            self.district.clone().filter(|_| level >= 3),
        )
    }
}

fn is_japanese(s: &str) -> bool {
    s.chars()
        .any(|c| matches!(c, '\u{3040}'..='\u{30ff}' | '\u{4e00}'..='\u{9fff}'))
}

/// Outside every border, a place farther than this is no answer (open sea).
const MAX_OFFSHORE_M: f64 = 50_000.0;

/// Point → address, shaped like the `geocoding` crate's `Reverse` so that an
/// online provider can stand in for the offline pack.
pub trait ReverseGeocoder {
    fn reverse(&self, point: &Point<f64>) -> Result<Option<Address>, LocationError>;
}

/// The nearest of some points sorted by longitude, to `best` if nearer
/// than what it holds: walk out both ways from the fix's longitude until the
/// east–west gap alone exceeds the best distance. No tree to build when the
/// pack loads, and no memory beyond the points. Distances are squared, in
/// degrees of latitude (`kx` shrinks longitude to match).
fn sweep<T>(
    points: &[T],
    at: impl Fn(&T) -> (f32, f32),
    wanted: impl Fn(&T) -> bool,
    (lat, lon, kx): (f64, f64, f64),
    offset: usize,
    best: &mut Option<(usize, f64)>,
) {
    let split = points.partition_point(|p| f64::from(at(p).1) < lon);
    let consider = |i: usize, best: &mut Option<(usize, f64)>| -> bool {
        let p = &points[i];
        let (plat, plon) = at(p);
        let gap = ((f64::from(plon) - lon) * kx).powi(2);
        if best.is_some_and(|(_, d)| gap >= d) {
            return false;
        }
        if wanted(p) {
            let d = gap + (f64::from(plat) - lat).powi(2);
            if best.is_none_or(|(_, b)| d < b) {
                *best = Some((offset + i, d));
            }
        }
        true
    };
    for i in split..points.len() {
        if !consider(i, best) {
            break;
        }
    }
    for i in (0..split).rev() {
        if !consider(i, best) {
            break;
        }
    }
}

/// Country grid: the world in half-degree cells.
const COUNTRY_STEP_DEG: f64 = 0.5;
/// Municipal grid: Japan in cells of about 5 km.
const MUNICIPAL_STEP_DEG: f64 = 0.05;
/// Off every country border, the countries whose borders run this many
/// cells around (about 100 km) offer their places.
const OFFSHORE_REACH_CELLS: usize = 2;
/// Off every municipal border in Japan, the municipalities whose borders run
/// this many cells around (about 50 km) offer their towns.
const COAST_REACH_CELLS: usize = 10;
/// The nearest place is looked for up to this many degrees around.
const MAX_PLACE_RINGS: i64 = 20;

/// The offline geocoder over a loaded map pack.
#[derive(Debug)]
pub struct OfflineGeocoder {
    /// The pack without its polygons (they live on in the grids).
    pack: MapPack,
    countries: AreaGrid,
    municipal: AreaGrid,
    towns: TownIndex,
    /// Where each one-degree cell's places start in `pack.places`; one more
    /// at the end.
    place_cells: Vec<u32>,
    lang: Lang,
}

/// The nearest town: (municipality, town, squared distance in degrees of latitude).
type TownHit = (usize, usize, f64);

impl OfflineGeocoder {
    /// Loads a map pack (the bytes of `assets/mappack.bin`).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, LocationError> {
        Self::new(MapPack::from_bytes(bytes)?)
    }

    /// Loads a map pack built into the program: its town rings are read
    /// where they lie, not copied (8 MB less memory).
    pub fn from_static(bytes: &'static [u8]) -> Result<Self, LocationError> {
        let (pack, rings) = MapPack::from_bytes_but_rings(bytes)?;
        Self::with_rings(pack, Cow::Borrowed(rings))
    }

    pub fn new(mut pack: MapPack) -> Result<Self, LocationError> {
        let rings = std::mem::take(&mut pack.town_rings);
        Self::with_rings(pack, Cow::Owned(rings))
    }

    fn with_rings(mut pack: MapPack, rings: Cow<'static, [u8]>) -> Result<Self, LocationError> {
        let countries = AreaGrid::new(
            pack.countries.iter().map(|a| a.polygons.as_slice()),
            (-180.0, -90.0, 180.0, 90.0),
            COUNTRY_STEP_DEG,
        );
        for a in &mut pack.countries {
            a.polygons = Vec::new();
        }
        let japan = bounds(
            pack.municipal_areas
                .iter()
                .flat_map(|a| a.polygons.iter().flatten().flatten()),
        );
        let municipal = AreaGrid::new(
            pack.municipal_areas.iter().map(|a| a.polygons.as_slice()),
            japan,
            MUNICIPAL_STEP_DEG,
        );
        // The grids hold what lookups need of the borders.
        for a in &mut pack.municipal_areas {
            a.polygons = Vec::new();
        }
        let towns = TownIndex::new(std::mem::take(&mut pack.town_areas), rings)
            .ok_or_else(|| PackError::Format("town areas damaged".into()))?;
        if pack.places.is_empty() {
            return Err(LocationError::EmptyPack);
        }
        let mut place_cells = vec![0u32; PLACE_CELLS_PER_ROW * PLACE_CELL_ROWS + 1];
        for p in &pack.places {
            place_cells[place_cell(f64::from(p.lat), f64::from(p.lon)) + 1] += 1;
        }
        for i in 1..place_cells.len() {
            place_cells[i] += place_cells[i - 1];
        }
        Ok(Self {
            place_cells,
            countries,
            municipal,
            towns,
            pack,
            lang: Lang::Ja,
        })
    }

    /// The language of the names (Japanese by default).
    pub fn with_language(mut self, lang: Lang) -> Self {
        self.lang = lang;
        self
    }

    pub fn attributions(&self) -> &[String] {
        &self.pack.attributions
    }

    fn name(&self, offset: u32) -> Option<&str> {
        self.pack.name(offset).filter(|s| !s.is_empty())
    }

    /// The address of a point in this geocoder's language.
    pub fn address(&self, lat: f64, lon: f64) -> Result<Option<Address>, LocationError> {
        if !(lat.is_finite()
            && lon.is_finite()
            && (-90.0..=90.0).contains(&lat)
            && (-180.0..=180.0).contains(&lon))
        {
            return Err(LocationError::BadPoint { lat, lon });
        }
        if self.lang == Lang::Ja
            && let Some(town) = self.towns.find(lat, lon)
        {
            return Ok(self.japanese_address(usize::from(town.municipality), town.name));
        }
        if self.lang == Lang::Ja
            && let Some(area) = self.municipal.find(lon, lat)
        {
            let members = self
                .pack
                .municipal_areas
                .get(area as usize)
                .map(|a| a.municipalities.as_slice())
                .unwrap_or_default();
            let hit = self
                .nearest_town_of(members.iter().map(|&m| usize::from(m)), lat, lon)
                .or_else(|| self.nearest_town(lat, lon));
            return Ok(hit.and_then(|h| self.nearest_town_address(h)));
        }
        let country = self.countries.find(lon, lat).map(|c| c as u16);
        let place = match country {
            Some(c) => self.nearest_place(lat, lon, |p| p == c),
            None => {
                let near = self.countries.areas_near(lon, lat, OFFSHORE_REACH_CELLS);
                self.nearest_place(lat, lon, |p| {
                    p == NONE || near.binary_search(&u32::from(p)).is_ok()
                })
            }
        }
        .and_then(|i| self.pack.places.get(i));
        let Some(place) = place else {
            return Ok(None);
        };
        let place_at = Point::new(f64::from(place.lon), f64::from(place.lat));
        if country.is_none() && Haversine.distance(Point::new(lon, lat), place_at) > MAX_OFFSHORE_M
        {
            return Ok(None);
        }
        let border = country.and_then(|c| self.pack.countries.get(usize::from(c)));
        let code = match border {
            Some(area) => Some(area.country.clone()),
            None => self.name(place.country_code).map(str::to_owned),
        };
        // Japan outside every municipal border (a quay, a breakwater): the nearest town.
        if code.as_deref() == Some("JP")
            && self.lang == Lang::Ja
            && let Some(address) = self
                .nearest_town(lat, lon)
                .and_then(|h| self.nearest_town_address(h))
        {
            return Ok(Some(address));
        }
        let country_name = border.and_then(|a| self.name(a.name)).map(str::to_owned);
        let name = |i: u32| self.name(i).map(str::to_owned);
        // The place is the city or commune; GeoNames' second level above it
        // is a county or département, which no one gives as a town.
        Ok(Some(Address::new(
            code,
            country_name,
            name(place.admin1),
            name(place.name),
            None,
        )))
    }

    /// The nearest place whose country border passes `wanted`: cell rings
    /// outward from the fix's cell, until the next ring cannot be nearer.
    fn nearest_place(&self, lat: f64, lon: f64, wanted: impl Fn(u16) -> bool) -> Option<usize> {
        let kx = lat.to_radians().cos().max(0.01);
        let (fy, fx) = (lat + 90.0, lon + 180.0);
        let (row0, col0) = (fy.floor() as i64, fx.floor() as i64);
        let mut best: Option<(usize, f64)> = None;
        for ring in 0..=MAX_PLACE_RINGS {
            if ring > 0 {
                // The rings inside this one cover a block around the fix;
                // anything in this ring lies beyond the block's edge.
                let inner = (ring - 1) as f64;
                let to_edge = ((fx - (col0 as f64 - inner)).min(col0 as f64 + inner + 1.0 - fx)
                    * kx)
                    .min((fy - (row0 as f64 - inner)).min(row0 as f64 + inner + 1.0 - fy));
                if best.is_some_and(|(_, d)| d <= to_edge * to_edge) {
                    break;
                }
            }
            for row in row0 - ring..=row0 + ring {
                if !(0..PLACE_CELL_ROWS as i64).contains(&row) {
                    continue;
                }
                let edge = row == row0 - ring || row == row0 + ring;
                let step = if edge { 1 } else { (2 * ring).max(1) };
                let mut col = col0 - ring;
                while col <= col0 + ring {
                    // Columns wrap around the 180° meridian, and so does the
                    // fix's longitude for the cells across it.
                    let cells = PLACE_CELLS_PER_ROW as i64;
                    let c = col.rem_euclid(cells);
                    let qlon = lon + 360.0 * ((c - col) / cells) as f64;
                    let cell = row as usize * PLACE_CELLS_PER_ROW + c as usize;
                    let (from, to) = (
                        self.place_cells[cell] as usize,
                        self.place_cells[cell + 1] as usize,
                    );
                    sweep(
                        &self.pack.places[from..to],
                        |p| (p.lat, p.lon),
                        |p| wanted(p.country),
                        (lat, qlon, kx),
                        from,
                        &mut best,
                    );
                    col += step;
                }
            }
        }
        best.map(|(i, _)| i)
    }

    /// The nearest town among some municipalities.
    fn nearest_town_of(
        &self,
        municipalities: impl Iterator<Item = usize>,
        lat: f64,
        lon: f64,
    ) -> Option<TownHit> {
        municipalities
            .filter_map(|m| self.nearest_town_in(m, lat, lon))
            .min_by(|a, b| a.2.total_cmp(&b.2))
    }

    /// The nearest town of municipality `m`.
    fn nearest_town_in(&self, m: usize, lat: f64, lon: f64) -> Option<TownHit> {
        let muni = self.pack.municipalities.get(m)?;
        let first = muni.first_town as usize;
        let towns = self
            .pack
            .towns
            .get(first..first + muni.town_count as usize)?;
        let mut best = None;
        let kx = lat.to_radians().cos();
        sweep(
            towns,
            |t| (t.lat, t.lon),
            |_| true,
            (lat, lon, kx),
            first,
            &mut best,
        );
        best.map(|(t, d)| (m, t, d))
    }

    /// The nearest town to a fix outside every municipal border: among the
    /// municipalities whose borders run nearby (within about 50 km).
    fn nearest_town(&self, lat: f64, lon: f64) -> Option<TownHit> {
        // Near first: most such fixes are a few metres off a simplified coast.
        [1, 3, COAST_REACH_CELLS].into_iter().find_map(|reach| {
            let near: Vec<usize> = self
                .municipal
                .areas_near(lon, lat, reach)
                .into_iter()
                .filter_map(|a| self.pack.municipal_areas.get(a as usize))
                .flat_map(|a| a.municipalities.iter().map(|&m| usize::from(m)))
                .collect();
            self.nearest_town_of(near.into_iter(), lat, lon)
        })
    }

    /// The address of the nearest town point.
    fn nearest_town_address(&self, (m, t, _): TownHit) -> Option<Address> {
        let town = self.pack.towns.get(t)?;
        self.japanese_address(m, town.name)
    }

    /// 都道府県, 市区町村 (with the ward of a designated city) and 大字・町丁目
    /// (the town's name at offset `town` in the pack's names).
    fn japanese_address(&self, m: usize, town: u32) -> Option<Address> {
        let muni = self.pack.municipalities.get(m)?;
        let name = |i: u32| self.name(i).map(str::to_owned);
        Some(Address::new(
            Some("JP".into()),
            None,
            name(muni.prefecture),
            name(muni.name),
            name(town),
        ))
    }

    /// Whether the pack carries town areas (a pack built without them
    /// geocodes Japan by town points alone).
    pub fn has_town_areas(&self) -> bool {
        !self.towns.is_empty()
    }
}

/// The (lon0, lat0, lon1, lat1) box around some points, a cell's width wider.
fn bounds<'a>(points: impl Iterator<Item = &'a [f32; 2]>) -> (f64, f64, f64, f64) {
    let b = points.fold(
        (f64::MAX, f64::MAX, f64::MIN, f64::MIN),
        |(x0, y0, x1, y1), p| {
            let (x, y) = (f64::from(p[0]), f64::from(p[1]));
            (x0.min(x), y0.min(y), x1.max(x), y1.max(y))
        },
    );
    if b.0 > b.2 {
        return (0.0, 0.0, 0.0, 0.0);
    }
    let pad = MUNICIPAL_STEP_DEG;
    (b.0 - pad, b.1 - pad, b.2 + pad, b.3 + pad)
}

impl ReverseGeocoder for OfflineGeocoder {
    fn reverse(&self, point: &Point<f64>) -> Result<Option<Address>, LocationError> {
        self.address(point.y(), point.x())
    }
}

/// An online provider of the `geocoding` crate (OpenCage, Nominatim, …) in
/// place of the map pack. Behind the `online` feature: it needs the network
/// and pulls an HTTP client the phone does not otherwise carry.
#[cfg(feature = "online")]
#[derive(Debug)]
pub struct OnlineGeocoder<R>(pub R);

#[cfg(feature = "online")]
impl<R: geocoding::Reverse<f64>> ReverseGeocoder for OnlineGeocoder<R> {
    fn reverse(&self, point: &Point<f64>) -> Result<Option<Address>, LocationError> {
        let found = self
            .0
            .reverse(point)
            .map_err(|e| LocationError::Online(e.to_string()))?;
        Ok(found.map(Address::from_display))
    }
}
