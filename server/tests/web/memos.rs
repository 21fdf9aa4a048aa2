//! 伝言メモ and search over real HTTP: a memo needs the page's CSRF token,
//! goes only to a colleague on the viewer's board, becomes one Memo mail
//! and a count on the row, is read and cleared only by its colleague and
//! its taker, and a colleague holds a bounded number; the search finds only
//! colleagues the viewer sees.

use mailpresence_protocol::mail::{self, Limits, Outcome, PresenceMessage};

use super::*;

fn memo_mails_to(board: &Board, to: &str) -> Vec<mailpresence_protocol::memo::Memo> {
    outbox(board)
        .iter()
        .filter(|m| m.recipient == to)
        .filter_map(|m| match mail::parse(&m.raw, Limits::default()).outcome {
            Outcome::Presence(PresenceMessage::Memo(memo)) => Some(memo),
            _ => None,
        })
        .collect()
}

fn tanaka_row(board: &Board, cookie: &str) -> serde_json::Value {
    let json = board_json(board, cookie);
    json["people"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["account"] == "tanaka")
        .cloned()
        .unwrap()
}

#[test]
fn a_memo_reaches_only_a_colleague_on_the_board_once_and_is_bounded() {
    let board = start(vec![]);
    let sato = sign_in(&board, "sato");
    let csrf = board_json(&board, &sato)["csrf"]
        .as_str()
        .unwrap()
        .to_owned();
    let leave = |cookie: &str, csrf: &str, body: &str| {
        request(
            &board,
            "POST",
            "/api/memos",
            &[
                ("Cookie", cookie),
                ("Content-Type", "application/json"),
                ("X-CSRF-Token", csrf),
            ],
            body,
        )
    };
    let memo = r#"{"for":"tanaka","caller":"山田商事 山田様","callback":"03-1234-5678","message":"見積の件"}"#;
    assert_eq!(leave(&sato, "00", memo).status, 403);
    let hidden = leave(&sato, &csrf, r#"{"for":"kato","caller":"x"}"#);
    assert_eq!(hidden.status, 404, "nobody may see kato: {}", hidden.body);
    let bad = leave(
        &sato,
        &csrf,
        r#"{"for":"tanaka","caller":"x","callback":"call me"}"#,
    );
    assert_eq!(bad.status, 422, "{}", bad.body);
    let left = leave(&sato, &csrf, memo);
    assert_eq!(left.status, 200, "{}", left.body);

    let mails = memo_mails_to(&board, "tanaka@example.test");
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].caller, "山田商事 山田様");
    assert_eq!(mails[0].taken_by, "佐藤 一郎");
    let row = tanaka_row(&board, &sato);
    assert_eq!(row["memos"]["count"], 1);
    assert_eq!(row["memos"]["items"][0]["callback_uri"], "tel:0312345678");

    // ito sees that a memo waits, not what it says, and may not clear it.
    let ito = sign_in(&board, "ito");
    let ito_csrf = board_json(&board, &ito)["csrf"]
        .as_str()
        .unwrap()
        .to_owned();
    let row = tanaka_row(&board, &ito);
    assert_eq!(row["memos"]["count"], 1);
    assert_eq!(row["memos"]["items"], serde_json::json!([]));
    let id = mails[0].id.clone();
    let clear = |cookie: &str, csrf: &str| {
        request(
            &board,
            "POST",
            "/api/memos/clear",
            &[
                ("Cookie", cookie),
                ("Content-Type", "application/json"),
                ("X-CSRF-Token", csrf),
            ],
            &format!(r#"{{"account":"tanaka","id":"{id}"}}"#),
        )
    };
    assert_eq!(clear(&ito, &ito_csrf).status, 404);

    // Five wait at most; the sixth is refused and mails nothing.
    for _ in 0..4 {
        assert_eq!(leave(&ito, &ito_csrf, memo).status, 200);
    }
    let full = leave(&ito, &ito_csrf, memo);
    assert_eq!(full.status, 429, "{}", full.body);
    assert_eq!(memo_mails_to(&board, "tanaka@example.test").len(), 5);

    // tanaka reads all five on their own row and clears sato's.
    let tanaka = sign_in(&board, "tanaka");
    let tanaka_csrf = board_json(&board, &tanaka)["csrf"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        tanaka_row(&board, &tanaka)["memos"]["items"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    assert_eq!(clear(&tanaka, &tanaka_csrf).status, 204);
    assert_eq!(tanaka_row(&board, &sato)["memos"]["count"], 4);
    assert_eq!(clear(&tanaka, &tanaka_csrf).status, 404, "cleared once");
}

#[test]
fn the_search_finds_only_colleagues_the_viewer_sees() {
    let board = start(vec![]);
    let sato = sign_in(&board, "sato");
    let find = |cookie: &str, q: &str| {
        let answer = request(
            &board,
            "GET",
            &format!("/api/find?q={}", urlencode(q)),
            &[("Cookie", cookie)],
            "",
        );
        assert_eq!(answer.status, 200, "{}", answer.body);
        let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
        json["accounts"].clone()
    };
    assert_eq!(find(&sato, "田中"), serde_json::json!(["tanaka"]));
    assert_eq!(
        find(&sato, "営業"),
        serde_json::json!([]),
        "groups are not departments"
    );
    assert_eq!(
        find(&sato, "加藤"),
        serde_json::json!([]),
        "nobody may see kato"
    );
    let all = find(&sato, "");
    assert!(
        !all.as_array().unwrap().iter().any(|a| a == "kato"),
        "{all}"
    );
    let signed_out = request(&board, "GET", "/api/find?q=x", &[], "");
    assert_eq!(signed_out.status, 401);
}

fn urlencode(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}
