//! Reverse geocoding on the phone, from the map pack: borders first (which
//! country, which prefecture), then the nearest place inside them. Nearest
//! place alone flips between neighbouring towns across a border on a real
//! drive; the border decides first.
//!
//! Names: in Japan, with Japanese as the language, prefecture and municipality
//! come in Japanese (`京都府京都市`); the pack has no Japanese names below the
//! municipality, so the district is left out there. Elsewhere, and in English,
//! GeoNames' names are used.
//!
//! Limits of the data: there are no municipal borders, so the municipality is
//! the one whose centre is nearest — near a ward boundary it can be the
//! neighbour (Tokyo Station, in 千代田区 by a few hundred metres, comes out as
//! 中央区). The change policy's hysteresis keeps such a point from flapping.

use std::collections::HashMap;

use geo::{BoundingRect, Contains, Coord, LineString, MultiPolygon, Point, Polygon, Rect};
use kiddo::{ImmutableKdTree, SquaredEuclidean};
use serde::{Deserialize, Serialize};

use super::pack::{Area, MapPack, NONE, PackError};
use crate::model::CivicAddress;
use crate::summary::Lang;

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
        let civic = CivicAddress {
            country: country.clone(),
            region: region.clone(),
            city: city.clone(),
            district: district.clone(),
            street: None,
        };
        // Japanese order and script only when the names are Japanese.
        let japanese = [&region, &city]
            .iter()
            .any(|p| p.as_deref().is_some_and(is_japanese));
        let display = if japanese {
            civic.display()
        } else {
            CivicAddress {
                country: country_name.clone().or(country.clone()),
                ..civic
            }
            .display()
        };
        Self {
            display,
            country_name,
            country,
            region,
            city,
            district,
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

/// A bordered area, ready for point-in-polygon tests.
#[derive(Debug)]
struct Bordered {
    shape: MultiPolygon<f64>,
    bbox: Option<Rect<f64>>,
}

impl Bordered {
    fn new(area: &Area) -> Self {
        let polygons = area
            .polygons
            .iter()
            .filter_map(|rings| {
                let mut rings = rings.iter().map(|ring| {
                    LineString::from(
                        ring.iter()
                            .map(|p| Coord {
                                x: f64::from(p[0]),
                                y: f64::from(p[1]),
                            })
                            .collect::<Vec<_>>(),
                    )
                });
                let exterior = rings.next()?;
                Some(Polygon::new(exterior, rings.collect()))
            })
            .collect::<Vec<_>>();
        let shape = MultiPolygon::new(polygons);
        let bbox = shape.bounding_rect();
        Self { shape, bbox }
    }

    fn contains(&self, p: &Point<f64>) -> bool {
        self.bbox.is_some_and(|b| b.contains(p)) && self.shape.contains(p)
    }
}

/// Nearest-neighbour search over a subset of points, on the unit sphere (so
/// that the date line and the poles need no special case).
#[derive(Debug)]
struct Nearest {
    tree: ImmutableKdTree<f64, 3>,
    /// Tree item → index in the pack's list.
    members: Vec<u32>,
}

impl Nearest {
    fn new(points: Vec<([f64; 3], u32)>) -> Option<Self> {
        if points.is_empty() {
            return None;
        }
        let coords: Vec<[f64; 3]> = points.iter().map(|(c, _)| *c).collect();
        let tree = ImmutableKdTree::new_from_slice(&coords).ok()?;
        Some(Self {
            tree,
            members: points.into_iter().map(|(_, i)| i).collect(),
        })
    }

    fn nearest(&self, q: &[f64; 3]) -> Option<u32> {
        let hit = self
            .tree
            .query(q)
            .nearest_one::<SquaredEuclidean<f64>>()
            .execute();
        self.members.get(usize::try_from(hit.item).ok()?).copied()
    }
}

fn unit(lat: f64, lon: f64) -> [f64; 3] {
    let (la, lo) = (lat.to_radians(), lon.to_radians());
    [la.cos() * lo.cos(), la.cos() * lo.sin(), la.sin()]
}

/// The offline geocoder over a loaded map pack.
#[derive(Debug)]
pub struct OfflineGeocoder {
    pack: MapPack,
    countries: Vec<Bordered>,
    regions: Vec<Bordered>,
    places_in_country: HashMap<u16, Nearest>,
    all_places: Nearest,
    localities_in_region: HashMap<u16, Nearest>,
    lang: Lang,
}

impl OfflineGeocoder {
    /// Loads a map pack (the bytes of `assets/mappack.bin`).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, LocationError> {
        Self::new(MapPack::from_bytes(bytes)?)
    }

    pub fn new(pack: MapPack) -> Result<Self, LocationError> {
        let countries = pack.countries.iter().map(Bordered::new).collect();
        let regions = pack.regions.iter().map(Bordered::new).collect();
        let mut by_country: HashMap<u16, Vec<([f64; 3], u32)>> = HashMap::new();
        let mut all = Vec::with_capacity(pack.places.len());
        for (i, p) in pack.places.iter().enumerate() {
            let entry = (unit(f64::from(p.lat), f64::from(p.lon)), i as u32);
            if p.country != NONE {
                by_country.entry(p.country).or_default().push(entry);
            }
            all.push(entry);
        }
        let mut by_region: HashMap<u16, Vec<([f64; 3], u32)>> = HashMap::new();
        for (i, l) in pack.localities.iter().enumerate() {
            by_region
                .entry(l.region)
                .or_default()
                .push((unit(f64::from(l.lat), f64::from(l.lon)), i as u32));
        }
        let collect = |m: HashMap<u16, Vec<([f64; 3], u32)>>| -> HashMap<u16, Nearest> {
            m.into_iter()
                .filter_map(|(k, v)| Nearest::new(v).map(|n| (k, n)))
                .collect()
        };
        Ok(Self {
            places_in_country: collect(by_country),
            all_places: Nearest::new(all).ok_or(LocationError::EmptyPack)?,
            localities_in_region: collect(by_region),
            countries,
            regions,
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

    /// The address of a point in this geocoder's language.
    pub fn address(&self, lat: f64, lon: f64) -> Result<Option<Address>, LocationError> {
        if !(lat.is_finite()
            && lon.is_finite()
            && (-90.0..=90.0).contains(&lat)
            && (-180.0..=180.0).contains(&lon))
        {
            return Err(LocationError::BadPoint { lat, lon });
        }
        let point = Point::new(lon, lat);
        let q = unit(lat, lon);
        let country = self.countries.iter().position(|c| c.contains(&point));
        let place = country
            .and_then(|c| self.places_in_country.get(&(c as u16)))
            .unwrap_or(&self.all_places)
            .nearest(&q)
            .and_then(|i| self.pack.places.get(i as usize));
        let Some(place) = place else {
            return Ok(None);
        };
        let place_at = (f64::from(place.lat), f64::from(place.lon));
        if country.is_none() && super::distance_m((lat, lon), place_at) > MAX_OFFSHORE_M {
            return Ok(None);
        }
        let border = country.and_then(|c| self.pack.countries.get(c));
        let code = match border {
            Some(area) => Some(area.country.clone()),
            None => self.pack.string(place.country_code).map(str::to_owned),
        };
        let country_name = border
            .and_then(|a| self.pack.string(a.name))
            .map(str::to_owned);
        if code.as_deref() == Some("JP")
            && self.lang == Lang::Ja
            && let Some(address) = self.japanese_address(&point, &q)
        {
            return Ok(Some(address));
        }
        let name = |i: u32| {
            self.pack
                .string(i)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let (region, county, town) = (name(place.admin1), name(place.admin2), name(place.name));
        // A county holds its towns: the county is the city level when known.
        let (city, district) = match county {
            Some(c) if town.as_ref() != Some(&c) => (Some(c), town),
            _ => (town, None),
        };
        Ok(Some(Address::new(
            code,
            country_name,
            region,
            city,
            district,
        )))
    }

    /// 都道府県 from the prefecture borders, 市区町村 as the nearest municipality
    /// of that prefecture.
    fn japanese_address(&self, point: &Point<f64>, q: &[f64; 3]) -> Option<Address> {
        let region = self.regions.iter().position(|r| r.contains(point))?;
        let area = self.pack.regions.get(region)?;
        let city = self
            .localities_in_region
            .get(&(region as u16))
            .and_then(|n| n.nearest(q))
            .and_then(|i| self.pack.localities.get(i as usize))
            .and_then(|l| self.pack.string(l.name))
            .map(str::to_owned);
        let region_name = self.pack.string(area.name).map(str::to_owned);
        Some(Address::new(
            Some("JP".into()),
            None,
            region_name,
            city,
            None,
        ))
    }
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
