//! Load and lookup times of the shipped map pack as the fastest of many
//! runs, for comparing two builds on a busy machine (the fastest run is the
//! one least disturbed; Criterion's mean moves with the neighbours' load):
//! `geocode_time [PACK]` prints the load, the lookups per second over
//! bench/points.csv with the town areas and with the town points alone.
#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use mailpresence_core::location::{MapPack, OfflineGeocoder};

const LOADS: usize = 20;
const PASSES: usize = 60;

fn main() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| format!("{root}/assets/mappack.bin"));
    let (Ok(bytes), Ok(points)) = (
        std::fs::read(&path),
        std::fs::read_to_string(format!("{root}/bench/points.csv")),
    ) else {
        eprintln!("cannot read {path} or bench/points.csv");
        return;
    };
    let points: Vec<(f64, f64)> = points
        .lines()
        .filter_map(|l| {
            let (a, b) = l.split_once(',')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .collect();
    let fastest = |n: usize, f: &mut dyn FnMut()| {
        (0..n)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .min()
            .unwrap_or(Duration::ZERO)
    };
    let load = fastest(LOADS, &mut || {
        black_box(OfflineGeocoder::from_bytes(black_box(&bytes)).is_ok());
    });
    let Ok(g) = OfflineGeocoder::from_bytes(&bytes) else {
        eprintln!("{path}: not a map pack");
        return;
    };
    let rate = |g: &OfflineGeocoder| {
        let pass = fastest(PASSES, &mut || {
            for &(lat, lon) in &points {
                black_box(g.address(lat, lon).is_ok());
            }
        });
        points.len() as f64 / pass.as_secs_f64() / 1e3
    };
    let with_areas = rate(&g);
    let Ok(mut points_only) = MapPack::from_bytes(&bytes) else {
        return;
    };
    points_only.town_areas.clear();
    points_only.town_rings.clear();
    let Ok(g) = OfflineGeocoder::new(points_only) else {
        return;
    };
    let without = rate(&g);
    println!(
        "load {:.1} ms, lookups {with_areas:.0} K/s, town points only {without:.0} K/s (fastest of {LOADS} loads, {PASSES} passes)",
        load.as_secs_f64() * 1e3
    );
}
