//! How long loading the shipped map pack takes, step by step (bytes to
//! `MapPack`, then to `OfflineGeocoder`): `load_time [PACK]`.
#![allow(clippy::print_stdout)]

use std::time::Instant;

use mailpresence_core::location::{MapPack, OfflineGeocoder};

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/mappack.bin").into());
    let Ok(bytes) = std::fs::read(&path) else {
        eprintln!("cannot read {path}");
        return;
    };
    for _ in 0..3 {
        let t = Instant::now();
        let Ok(pack) = MapPack::from_bytes(&bytes) else {
            eprintln!("{path}: not a map pack");
            return;
        };
        let unpacked = t.elapsed();
        let Ok(g) = OfflineGeocoder::new(pack) else {
            eprintln!("{path}: no places");
            return;
        };
        println!(
            "unpack {:.1} ms, geocoder {:.1} ms (town areas: {})",
            unpacked.as_secs_f64() * 1e3,
            (t.elapsed() - unpacked).as_secs_f64() * 1e3,
            g.has_town_areas()
        );
    }
}
