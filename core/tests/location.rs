//! The phone's location code on real data: the shipped map pack and real
#![allow(clippy::unwrap_used)] // a test may stop at the first surprise
//! recorded tracks (assets/README.md says where they come from).

use std::path::Path;

use mailpresence_core::location::{
    ChangePolicy, Fix, Granularity, OfflineGeocoder, PolicyConfig, read_track,
};
use mailpresence_core::summary::Lang;

fn asset(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../assets")
            .join(name),
    )
    .expect("asset")
}

fn geocoder(lang: Lang) -> OfflineGeocoder {
    OfflineGeocoder::from_bytes(&asset("mappack.bin"))
        .expect("pack loads")
        .with_language(lang)
}

fn display(g: &OfflineGeocoder, lat: f64, lon: f64) -> Option<String> {
    g.address(lat, lon).expect("valid point").map(|a| a.display)
}

#[test]
fn japanese_addresses_in_japanese_order_and_script() {
    let g = geocoder(Lang::Ja);
    let kyoto = g.address(35.0394, 135.7292).unwrap().unwrap(); // 金閣寺
    assert_eq!(
        (
            kyoto.country.as_deref(),
            kyoto.region.as_deref(),
            kyoto.city.as_deref()
        ),
        (Some("JP"), Some("京都府"), Some("京都市"))
    );
    assert_eq!(kyoto.display, "京都府京都市");
    assert_eq!(
        display(&g, 43.0687, 141.3508).as_deref(),
        Some("北海道札幌市")
    ); // 札幌駅
    assert_eq!(
        display(&g, 26.2124, 127.6792).as_deref(),
        Some("沖縄県那覇市")
    );
    assert_eq!(
        display(&g, 35.6586, 139.7454).as_deref(),
        Some("東京都港区")
    ); // 東京タワー
    assert_eq!(
        display(&g, 34.6863, 135.5260).as_deref(),
        Some("大阪府大阪市")
    ); // 大阪城
}

#[test]
fn english_and_other_countries_use_geonames_names() {
    let g = geocoder(Lang::En);
    let kyoto = display(&g, 35.0394, 135.7292).unwrap();
    assert!(kyoto.ends_with(", Kyoto, Japan"), "{kyoto}");
    let paris = display(&g, 48.8530, 2.3499).unwrap(); // Notre-Dame
    assert!(
        paris.contains("Paris") && paris.ends_with("France"),
        "{paris}"
    );
    let ja = geocoder(Lang::Ja);
    assert_eq!(
        display(&ja, 48.8530, 2.3499),
        Some(paris),
        "outside Japan the language does not matter"
    );
    assert_eq!(display(&ja, 0.0, -30.0), None, "open sea");
    assert!(ja.address(91.0, 0.0).is_err());
    assert!(
        !ja.attributions().is_empty() && ja.attributions().iter().any(|a| a.contains("GeoNames"))
    );
}

fn replay(track: &str, granularity: Granularity) -> (Vec<Fix>, Vec<(Option<String>, String)>) {
    let fixes = read_track(&asset(&format!("tracks/{track}"))).expect("track reads");
    let g = geocoder(Lang::Ja);
    let mut policy = ChangePolicy::new(PolicyConfig {
        granularity,
        ..Default::default()
    });
    let published = fixes
        .iter()
        .filter_map(|f| {
            policy
                .on_fix(f, &g)
                .unwrap()
                .map(|a| (f.time.map(|t| t.to_rfc3339()), a.display))
        })
        .collect();
    (fixes, published)
}

/// The address runs along a track, without hysteresis: (address, fixes it
/// held). Every run is a mail a naive phone would send.
fn naive_runs(fixes: &[Fix], granularity: Granularity) -> Vec<(String, usize)> {
    let g = geocoder(Lang::Ja);
    let level = if granularity == Granularity::City {
        2
    } else {
        3
    };
    let mut runs: Vec<(String, usize)> = Vec::new();
    for f in fixes {
        if let Some(a) = g.address(f.lat, f.lon).unwrap() {
            let d = a.down_to(level).display;
            match runs.last_mut() {
                Some((last, n)) if *last == d => *n += 1,
                _ => runs.push((d, 1)),
            }
        }
    }
    runs
}

#[test]
fn a_stationary_receiver_in_gifu_publishes_once() {
    let (fixes, published) = replay("gifu-itrek.nmea", Granularity::City);
    assert!(fixes.len() >= 30, "{}", fixes.len());
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].1, "岐阜県安八町");
}

#[test]
fn real_tracks_publish_far_fewer_mails_than_fixes_without_flapping() {
    for (track, granularity) in [
        ("korita-zbevnica.gpx", Granularity::City),
        ("korita-zbevnica.gpx", Granularity::District),
        ("around-visnjan-with-car.gpx", Granularity::District),
        ("Mojstrovka.gpx", Granularity::District),
    ] {
        let (fixes, published) = replay(track, granularity);
        let runs = naive_runs(&fixes, granularity);
        assert!(!published.is_empty(), "{track}: the first fix is published");
        assert!(
            published.len() * 20 <= fixes.len(),
            "{track}: {} publishes for {} fixes",
            published.len(),
            fixes.len()
        );
        assert!(
            published.len() <= runs.len(),
            "{track}: hysteresis never adds mails"
        );
        for pair in published.windows(2) {
            assert_ne!(
                pair[0].1, pair[1].1,
                "{track}: a publish always carries a new address"
            );
        }
        // A brief excursion across a boundary (a run of fewer than 3 fixes) is never published.
        let brief: Vec<&String> = runs
            .iter()
            .filter(|(_, n)| *n < 3)
            .map(|(a, _)| a)
            .collect();
        for (_, address) in published.iter().skip(1) {
            let runs_of_it = runs.iter().filter(|(a, _)| a == address);
            assert!(
                runs_of_it.clone().any(|(_, n)| *n >= 3),
                "{track}: {address} was only passed by: {brief:?}"
            );
        }
    }
    // On the hike along the Lanišće/Lupoglav boundary a naive phone sends a
    // mail for a five-fix excursion into Lupoglav and for the walk back; the
    // policy sends neither. (The later twelve-fix pass through Lanišće's corner
    // covers more than 200 m: that one is real.)
    let (fixes, published) = replay("korita-zbevnica.gpx", Granularity::City);
    let runs = naive_runs(&fixes, Granularity::City);
    assert!(
        runs.len() > published.len(),
        "naive {} vs {}: {published:?}",
        runs.len(),
        published.len()
    );
    let sequence: Vec<&str> = published.iter().map(|(_, a)| a.as_str()).collect();
    assert_eq!(runs.len(), 6, "{runs:?}");
    assert_eq!(
        sequence,
        [
            "Općina Lanišće, Istria, Croatia",
            "Općina Lupoglav, Istria, Croatia",
            "Općina Lanišće, Istria, Croatia",
            "Grad Buzet, Istria, Croatia"
        ],
        "{runs:?}"
    );
}

#[test]
fn off_publishes_no_location_and_poor_fixes_are_ignored() {
    let (_, published) = replay("korita-zbevnica.gpx", Granularity::Off);
    assert!(published.is_empty());
    let g = geocoder(Lang::Ja);
    let mut policy = ChangePolicy::new(PolicyConfig::default());
    let poor = Fix {
        time: None,
        lat: 35.0394,
        lon: 135.7292,
        accuracy_m: Some(500.0),
    };
    assert!(policy.on_fix(&poor, &g).unwrap().is_none());
    let good = Fix {
        accuracy_m: Some(8.0),
        ..poor
    };
    assert_eq!(
        policy
            .on_fix(&good, &g)
            .unwrap()
            .map(|a| a.display)
            .as_deref(),
        Some("京都府京都市")
    );
}
