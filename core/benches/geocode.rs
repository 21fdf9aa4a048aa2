//! Reverse geocoding on the shipped map pack: loading it, and one lookup, over
//! the 10,000 points of bench/points.csv (with the town areas, and with the
//! town points alone). Compared with Python's
//! reverse_geocoder by bench/geocode.sh; figures in BENCHMARKS.md.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mailpresence_core::location::{MapPack, OfflineGeocoder};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn points() -> Vec<(f64, f64)> {
    std::fs::read_to_string(root().join("bench/points.csv"))
        .expect("bench/points.csv")
        .lines()
        .filter_map(|l| {
            let (a, b) = l.split_once(',')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .collect()
}

fn geocode(c: &mut Criterion) {
    let pack = std::fs::read(root().join("assets/mappack.bin")).expect("map pack");
    let mut group = c.benchmark_group("geocode");
    group.sample_size(20);
    group.bench_function("load_pack", |b| {
        b.iter(|| black_box(OfflineGeocoder::from_bytes(black_box(&pack)).expect("loads")))
    });
    let g = OfflineGeocoder::from_bytes(&pack).expect("loads");
    let pts = points();
    group.throughput(Throughput::Elements(pts.len() as u64));
    group.bench_function("reverse_10k_points", |b| {
        b.iter(|| {
            for &(lat, lon) in &pts {
                black_box(g.address(lat, lon).expect("valid"));
            }
        })
    });
    // The same points with the town areas left out: the town points alone,
    // as before the areas, for comparison in the same run.
    let mut points_only = MapPack::from_bytes(&pack).expect("loads");
    points_only.town_areas.clear();
    points_only.town_rings.clear();
    let g = OfflineGeocoder::new(points_only).expect("loads");
    group.bench_function("reverse_10k_points_town_points_only", |b| {
        b.iter(|| {
            for &(lat, lon) in &pts {
                black_box(g.address(lat, lon).expect("valid"));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, geocode);
criterion_main!(benches);
