//! `mailpresence geocode` on a map pack read from a file, for comparing
//! packs (bench/town_accuracy.py): `geocode_pack PACK [--points-only]`
//! reads `LAT,LON` lines and prints one JSON address a line. With
//! `--points-only` the pack's town areas are left out, as before them.
#![allow(clippy::print_stdout)]

use std::io::{BufRead, Write};
use std::process::ExitCode;

use mailpresence_core::location::{MapPack, OfflineGeocoder};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: geocode_pack PACK [--points-only] < points");
        return ExitCode::from(2);
    };
    let pack = match std::fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|b| MapPack::from_bytes(&b).map_err(|e| e.to_string()))
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::from(2);
        }
    };
    let mut pack = pack;
    if args.iter().any(|a| a == "--points-only") {
        pack.town_areas.clear();
        pack.town_rings.clear();
    }
    let geocoder = match OfflineGeocoder::new(pack) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::from(2);
        }
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in std::io::stdin().lock().lines().map_while(Result::ok) {
        let point = line.split_once(',').and_then(|(a, b)| {
            Some((a.trim().parse::<f64>().ok()?, b.trim().parse::<f64>().ok()?))
        });
        let address = point.and_then(|(lat, lon)| geocoder.address(lat, lon).ok().flatten());
        let json = match address {
            Some(a) => serde_json::json!({
                "country": a.country, "region": a.region, "city": a.city,
                "district": a.district, "display": a.display,
            }),
            None => serde_json::json!({"display": null}),
        };
        if writeln!(out, "{json}").is_err() {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
