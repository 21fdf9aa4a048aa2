//! Where the field worker is, in words: the phone's GPS fixes become a street
//! address from map data carried on the phone (`pack`, `geocoder`), read from
//! real recordings (`track`), and published only when the address truly
//! changes (`policy`).

pub mod geocoder;
mod grid;
/// The map pack's format lives in the protocol crate: the server's web board
/// reads the same file for its map.
pub use mailpresence_protocol::mappack as pack;
pub mod policy;
pub mod shape;
mod towns;
pub mod track;

pub use geocoder::{Address, LocationError, OfflineGeocoder, ReverseGeocoder};
pub use pack::MapPack;
pub use policy::{ChangePolicy, Granularity, PolicyConfig};
pub use track::{Fix, read_track};
