//! Where the field worker is, in words: the phone's GPS fixes become a street
//! address from map data carried on the phone (`pack`, `geocoder`), read from
//! real recordings (`track`), and published only when the address truly
//! changes (`policy`).

pub mod geocoder;
mod grid;
pub mod pack;
pub mod policy;
pub mod track;

pub use geocoder::{Address, LocationError, OfflineGeocoder, ReverseGeocoder};
pub use pack::MapPack;
pub use policy::{ChangePolicy, Granularity, PolicyConfig};
pub use track::{Fix, read_track};

/// Great-circle distance in metres (haversine; plenty for hysteresis margins).
pub fn distance_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    const EARTH_RADIUS_M: f64 = 6_371_008.8;
    let (lat1, lon1) = (a.0.to_radians(), a.1.to_radians());
    let (lat2, lon2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((lat2 - lat1) / 2.0).sin().powi(2)
        + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokyo_station_to_kyoto_station_is_about_372_km() {
        let d = super::distance_m((35.6812, 139.7671), (34.9858, 135.7588));
        assert!((368_000.0..376_000.0).contains(&d), "{d}");
    }
}
