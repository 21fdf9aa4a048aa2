//! The phone's location code on real data: the shipped map pack and real
#![allow(clippy::unwrap_used)] // a test may stop at the first surprise
//! recorded tracks (assets/README.md says where they come from).

use std::path::Path;

use mailpresence_core::location::{
    ChangePolicy, Fix, Granularity, OfflineGeocoder, PolicyConfig, read_track,
};
use mailpresence_protocol::mappack::MapPack;
use mailpresence_protocol::summary::Lang;

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
fn japanese_addresses_go_down_to_the_town() {
    let g = geocoder(Lang::Ja);
    // Tokyo Station: in 千代田区 by a few hundred metres (the nearest
    // municipality centre would say 中央区).
    let tokyo = g.address(35.6812, 139.7671).unwrap().unwrap();
    assert_eq!(
        (
            tokyo.country.as_deref(),
            tokyo.region.as_deref(),
            tokyo.city.as_deref(),
            tokyo.district.as_deref()
        ),
        (
            Some("JP"),
            Some("東京都"),
            Some("千代田区"),
            Some("丸の内一丁目")
        )
    );
    assert_eq!(tokyo.display, "東京都千代田区丸の内一丁目");
    assert_eq!(tokyo.down_to(2).display, "東京都千代田区");
    // Across the ward boundary, 600 m east: 中央区.
    let nihonbashi = g.address(35.6800, 139.7720).unwrap().unwrap();
    assert_eq!(nihonbashi.city.as_deref(), Some("中央区"), "{nihonbashi:?}");
    // Designated cities come with their ward.
    let kinkakuji = g.address(35.0394, 135.7292).unwrap().unwrap();
    assert_eq!(kinkakuji.city.as_deref(), Some("京都市北区"));
    assert!(
        kinkakuji.display.starts_with("京都府京都市北区"),
        "{}",
        kinkakuji.display
    );
    assert_eq!(kinkakuji.down_to(2).display, "京都府京都市北区");
    for (lat, lon, want) in [
        (35.0270, 135.7982, "京都府京都市左京区銀閣寺町"), // 銀閣寺
        (34.6863, 135.5260, "大阪府大阪市中央区大阪城"),   // 大阪城: 大阪市 is one JMA area
        (35.5075, 139.6176, "神奈川県横浜市港北区新横浜二丁目"), // 新横浜駅: inside 横浜市北部
        (43.0687, 141.3508, "北海道札幌市北区北六条西三丁目"), // 札幌駅
        (26.2124, 127.6792, "沖縄県那覇市泉崎一丁目"),
    ] {
        assert_eq!(display(&g, lat, lon).as_deref(), Some(want), "{lat},{lon}");
    }
    // A quay outside the simplified municipal border still gets its town.
    let quay = g.address(35.4500, 139.6450).unwrap().unwrap();
    assert_eq!(quay.city.as_deref(), Some("横浜市中区"), "{quay:?}");
}

/// Real points on both sides of real town boundaries: each e-Stat small
/// area's own representative point (its X_CODE, Y_CODE, well inside it),
/// for neighbours that the nearest MLIT town point confuses.
#[test]
fn a_point_gets_the_town_whose_area_holds_it() {
    let g = geocoder(Lang::Ja);
    assert!(g.has_town_areas());
    assert!(
        g.attributions().iter().any(|a| a
            .contains("政府統計の総合窓口(e-Stat) 国勢調査 小地域境界データ(2020)を加工して作成")),
        "e-Stat is credited: {:?}",
        g.attributions()
    );
    for (lat, lon, want) in [
        // 吉祥寺: south of the railway 南町, north of it 本町 (the nearest
        // town point alone said 本町 for the station, which is in 南町).
        (35.700762, 139.580214, "東京都武蔵野市吉祥寺南町一丁目"),
        (35.702109, 139.584177, "東京都武蔵野市吉祥寺南町二丁目"),
        (35.704690, 139.581381, "東京都武蔵野市吉祥寺本町一丁目"),
        (35.705559, 139.576425, "東京都武蔵野市吉祥寺本町二丁目"),
        (35.707059, 139.584155, "東京都武蔵野市吉祥寺東町一丁目"),
        // Around Tokyo Station: 丸の内 and 大手町 (千代田区), 八重洲 (中央区).
        (35.682153, 139.765963, "東京都千代田区丸の内一丁目"),
        (35.679774, 139.763287, "東京都千代田区丸の内二丁目"),
        (35.686013, 139.768291, "東京都千代田区大手町二丁目"),
        (35.682309, 139.770939, "東京都中央区八重洲一丁目"),
        (35.677905, 139.768147, "東京都中央区八重洲二丁目"),
        (35.673963, 139.762841, "東京都千代田区有楽町二丁目"),
    ] {
        assert_eq!(display(&g, lat, lon).as_deref(), Some(want), "{lat},{lon}");
    }
}

/// Real buildings near town boundaries, from a source independent of the
/// pack: GSI's designated shelters (国土地理院 指定避難所, the set of
/// bench/shelter_accuracy.py), each with its postal address and the point its
/// municipality gave. The town areas name the address's town; the nearest
/// town point alone named the neighbour across the boundary (asserted too, so
/// these points show what the areas are for), at times in another ward.
#[test]
fn buildings_near_a_boundary_get_their_own_town_not_the_neighbours() {
    let areas = geocoder(Lang::Ja);
    let mut pack = MapPack::from_bytes(&asset("mappack.bin")).expect("pack reads");
    pack.town_areas.clear();
    pack.town_rings.clear();
    let points_only = OfflineGeocoder::new(pack).expect("pack loads");
    for (lat, lon, address, want, neighbour) in [
        // 八重洲2-2-1 (中央区), beside Tokyo Station's 丸の内一丁目 (千代田区).
        (
            35.67916,
            139.76908,
            "東京都中央区八重洲2-2-1",
            "東京都中央区八重洲二丁目",
            "東京都千代田区丸の内一丁目",
        ),
        (
            35.67244,
            139.76183,
            "東京都中央区銀座5-1-13",
            "東京都中央区銀座五丁目",
            "東京都千代田区有楽町二丁目",
        ),
        (
            35.69455,
            139.78100,
            "東京都千代田区東神田1-12-13",
            "東京都千代田区東神田一丁目",
            "東京都中央区日本橋馬喰町一丁目",
        ),
        (
            35.68868,
            139.68439,
            "東京都新宿区西新宿4-8-35",
            "東京都新宿区西新宿四丁目",
            "東京都渋谷区本町三丁目",
        ),
        (
            35.70483,
            139.59076,
            "東京都武蔵野市吉祥寺東町4-1-9",
            "東京都武蔵野市吉祥寺東町四丁目",
            "東京都武蔵野市吉祥寺東町三丁目",
        ),
        (
            34.69702,
            135.49418,
            "大阪府大阪市北区堂島2-2-26",
            "大阪府大阪市北区堂島二丁目",
            "大阪府大阪市北区曾根崎新地二丁目",
        ),
        (
            35.16179,
            136.91894,
            "愛知県名古屋市中区新栄1-48-16",
            "愛知県名古屋市中区新栄一丁目",
            "愛知県名古屋市中区千代田五丁目",
        ),
        (
            33.55975,
            130.38982,
            "福岡県福岡市中央区小笹1-22-47",
            "福岡県福岡市中央区小笹一丁目",
            "福岡県福岡市南区長丘四丁目",
        ),
    ] {
        assert_eq!(
            display(&areas, lat, lon).as_deref(),
            Some(want),
            "{address}"
        );
        assert_eq!(
            display(&points_only, lat, lon).as_deref(),
            Some(neighbour),
            "{address}"
        );
    }
}

#[test]
fn english_and_other_countries_use_geonames_names() {
    let g = geocoder(Lang::En);
    let kyoto = display(&g, 35.0394, 135.7292).unwrap();
    assert!(kyoto.ends_with(", Kyoto, Japan"), "{kyoto}");
    let paris = display(&g, 48.8530, 2.3499).unwrap(); // Notre-Dame
    assert_eq!(paris, "Paris, Île-de-France, France");
    // The city is the commune, not the département above it.
    let annecy = g.address(45.8992, 6.1294).unwrap().unwrap();
    assert_eq!(annecy.city.as_deref(), Some("Annecy"));
    assert!(!annecy.display.contains("Haute-Savoie"), "{annecy:?}");
    let villeurbanne = g.address(45.7719, 4.8902).unwrap().unwrap();
    assert_eq!(
        villeurbanne.down_to(2).display,
        "Villeurbanne, Auvergne-Rhône-Alpes, France"
    );
    let ja = geocoder(Lang::Ja);
    assert_eq!(
        display(&ja, 48.8530, 2.3499),
        Some(paris),
        "outside Japan the language does not matter"
    );
    assert_eq!(display(&ja, 0.0, -30.0), None, "open sea");
    assert!(ja.address(91.0, 0.0).is_err());
    for source in [
        "GeoNames",
        "Natural Earth",
        "「位置参照情報」(国土交通省) を加工して作成",
        "気象庁",
    ] {
        assert!(
            ja.attributions().iter().any(|a| a.contains(source)),
            "{source}: {:?}",
            ja.attributions()
        );
    }
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
    // At town level too: the receiver wanders a few metres around a point
    // between towns, and the policy holds one town.
    let (_, published) = replay("gifu-itrek.nmea", Granularity::District);
    assert_eq!(published.len(), 1, "{published:?}");
    assert!(published[0].1.starts_with("岐阜県安八町"), "{published:?}");
}

#[test]
fn real_tracks_publish_far_fewer_mails_than_fixes_without_flapping() {
    for (track, granularity) in [
        ("korita-zbevnica.gpx", Granularity::City),
        ("korita-zbevnica.gpx", Granularity::District),
        ("around-visnjan-with-car.gpx", Granularity::District),
        ("Mojstrovka.gpx", Granularity::District),
        // A route between real places (assets/README.md), through Tokyo's 丁目.
        ("tokyo-shimbashi-ueno-route.gpx", Granularity::District),
        ("tokyo-shimbashi-ueno-route.gpx", Granularity::City),
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
    // On the hike along the line where Lanišće and Lupoglav are equally near
    // a naive phone sends a mail for a five-fix excursion towards Lupoglav and
    // for the walk back; the policy sends neither. (The later twelve-fix pass
    // on Lanišće's side covers more than 200 m: that one is real.)
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
            "Lanišće, Istria, Croatia",
            "Lupoglav, Istria, Croatia",
            "Lanišće, Istria, Croatia",
            "Buzet, Istria, Croatia"
        ],
        "{runs:?}"
    );
}

#[test]
fn a_walk_through_tokyo_publishes_each_town_once_in_order() {
    let (fixes, published) = replay("tokyo-shimbashi-ueno-route.gpx", Granularity::District);
    let runs = naive_runs(&fixes, Granularity::District);
    let sequence: Vec<&str> = published.iter().map(|(_, a)| a.as_str()).collect();
    // Every town the walk passes, once each: noise on a 丁目 boundary sends
    // no mail back and forth.
    let mut distinct = sequence.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), sequence.len(), "{sequence:?}");
    assert!(
        runs.len() > sequence.len(),
        "the noise crosses boundaries back and forth: naive {runs:?}"
    );
    // Town areas name the stations' own towns: 神田駅 is at 鍛冶町二丁目
    // 13-1, 上野駅 at 上野七丁目 1-1 (the nearest town points said
    // 神田鍛冶町三丁目 and 東上野四丁目).
    for town in [
        "東京都千代田区有楽町二丁目",
        "東京都千代田区丸の内一丁目",
        "東京都千代田区鍛冶町二丁目",
    ] {
        assert!(sequence.contains(&town), "{town}: {sequence:?}");
    }
    assert_eq!(sequence.last().copied(), Some("東京都台東区上野七丁目"));
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
        Some("京都府京都市北区")
    );
}
