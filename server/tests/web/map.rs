//! The map's town areas follow the rules: a viewer gets the areas of the
//! towns where the colleagues they may locate are on duty, and no other.

use super::*;

fn town_areas(board: &Board, cookie: &str) -> Vec<String> {
    let answer = request(board, "GET", "/api/map/towns", &[("Cookie", cookie)], "");
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.header("cache-control").as_deref(), Some("no-store"));
    let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    json["towns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            assert!(t["path"].as_str().unwrap().starts_with('M'), "{t}");
            assert_eq!(t["bounds"].as_array().unwrap().len(), 4, "{t}");
            format!(
                "{} {}",
                t["place"].as_str().unwrap(),
                t["label"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn a_viewer_gets_the_areas_of_the_towns_they_may_see_and_no_others() {
    let mut config = web_config(vec![]);
    config.map_pack =
        Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/mappack.bin"));
    let board = start_with(config);
    publish(
        &board,
        "tanaka",
        ActivityToken::OnSite,
        Some("東京都千代田区丸の内一丁目"),
    );
    publish(
        &board,
        "suzuki",
        ActivityToken::OnSite,
        Some("東京都武蔵野市吉祥寺南町一丁目"),
    );
    // kato is hidden from everyone; sato went home (off duty: no dot).
    publish(
        &board,
        "kato",
        ActivityToken::OnSite,
        Some("大阪府大阪市北区梅田一丁目"),
    );
    publish(
        &board,
        "sato",
        ActivityToken::Offline,
        Some("東京都中央区八重洲二丁目"),
    );

    let sato = sign_in(&board, "sato");
    assert_eq!(
        town_areas(&board, &sato),
        [
            "東京都千代田区丸の内一丁目 丸の内一丁目",
            "東京都武蔵野市吉祥寺南町一丁目 吉祥寺南町一丁目"
        ]
    );
    let ito = sign_in(&board, "ito");
    assert_eq!(
        town_areas(&board, &ito),
        Vec::<String>::new(),
        "ito may not locate anyone"
    );
    let none = request(&board, "GET", "/api/map/towns", &[], "");
    assert_eq!(none.status, 401, "{}", none.body);
}
