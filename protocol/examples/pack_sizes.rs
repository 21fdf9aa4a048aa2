//! Prints the size of each part of a map pack, raw and LZ4-compressed, each
//! part as plain postcard on its own (without the compact forms the pack
//! itself writes for coordinates and town areas): where the bytes are.
fn main() {
    let p = std::env::args().nth(1).expect("a pack");
    let pack =
        mailpresence_protocol::mappack::MapPack::from_bytes(&std::fs::read(p).expect("reads"))
            .expect("a pack");
    let show = |name: &str, v: Vec<u8>| {
        println!(
            "{name:16} {:>9} raw {:>9} lz4",
            v.len(),
            lz4_flex::compress(&v).len()
        )
    };
    show("names", pack.names.as_bytes().to_vec());
    show(
        "countries",
        postcard::to_allocvec(&pack.countries).expect("ok"),
    );
    show("places", postcard::to_allocvec(&pack.places).expect("ok"));
    show(
        "municipalities",
        postcard::to_allocvec(&pack.municipalities).expect("ok"),
    );
    show("towns", postcard::to_allocvec(&pack.towns).expect("ok"));
    show(
        "municipal_areas",
        postcard::to_allocvec(&pack.municipal_areas).expect("ok"),
    );
    show(
        "town_areas",
        postcard::to_allocvec(&pack.town_areas).expect("ok"),
    );
    show("town_rings", pack.town_rings.clone());
}
