//! Compact forms of the pack's bulk, for serde: coordinates as varint steps
//! between whole hundred-thousandths of a degree instead of `f32` pairs
//! (postcard writes an `f32` as four bytes that LZ4 cannot shrink; a step
//! between neighbours takes one to three).

use serde::Serializer;
use serde::de::{Deserializer, Error, Visitor};

use super::varint::{put_varint, take_varint, unzigzag, zigzag};

/// Coordinates are kept in whole hundred-thousandths of a degree (1.1 m),
/// about what an `f32` holds at Japan's longitudes anyway.
const PER_DEGREE: f64 = 100_000.0;

fn quantize(v: f32) -> i64 {
    (f64::from(v) * PER_DEGREE).round() as i64
}

fn degrees(q: i64) -> f32 {
    (q as f64 / PER_DEGREE) as f32
}

/// Writes numbers and coordinate steps as varints.
#[derive(Default)]
struct Writer {
    out: Vec<u8>,
    /// The last coordinate written on each axis, for the next step.
    last: [i64; 2],
}

impl Writer {
    fn count(&mut self, n: usize) {
        put_varint(&mut self.out, n as u64);
    }
    fn number(&mut self, n: u32) {
        put_varint(&mut self.out, u64::from(n));
    }
    fn step(&mut self, d: i64) {
        put_varint(&mut self.out, zigzag(d));
    }
    fn point(&mut self, p: [f32; 2]) {
        for (axis, v) in p.into_iter().enumerate() {
            let q = quantize(v);
            put_varint(&mut self.out, zigzag(q - self.last[axis]));
            self.last[axis] = q;
        }
    }
}

/// Reads what [`Writer`] wrote; `None` on damaged bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    last: [i64; 2],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            at: 0,
            last: [0, 0],
        }
    }
    fn count(&mut self) -> Option<usize> {
        let n = usize::try_from(take_varint(self.bytes, &mut self.at)?).ok()?;
        // Each item takes a byte at least: a count beyond the bytes left is damage.
        (n <= self.bytes.len() - self.at).then_some(n)
    }
    fn number(&mut self) -> Option<u32> {
        u32::try_from(take_varint(self.bytes, &mut self.at)?).ok()
    }
    fn step(&mut self) -> Option<i64> {
        Some(unzigzag(take_varint(self.bytes, &mut self.at)?))
    }
    fn point(&mut self) -> Option<[f32; 2]> {
        let mut p = [0.0; 2];
        for (axis, v) in p.iter_mut().enumerate() {
            self.last[axis] += unzigzag(take_varint(self.bytes, &mut self.at)?);
            *v = degrees(self.last[axis]);
        }
        Some(p)
    }
    fn done(&self) -> bool {
        self.at == self.bytes.len()
    }
}

/// One byte string (postcard: its length, then the bytes) read by `read`
/// where it lies in the pack, not copied first; the whole of it, or it is
/// damaged.
fn decoded<'de, D: Deserializer<'de>, T>(
    d: D,
    read: impl FnOnce(&mut Reader) -> Option<T>,
) -> Result<T, D::Error> {
    struct Decode<F>(F);
    impl<T, F: FnOnce(&mut Reader) -> Option<T>> Visitor<'_> for Decode<F> {
        type Value = T;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("bytes")
        }
        fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<T, E> {
            let mut reader = Reader::new(v);
            (self.0)(&mut reader)
                .filter(|_| reader.done())
                .ok_or_else(|| E::custom("damaged coordinates"))
        }
        fn visit_byte_buf<E: Error>(self, v: Vec<u8>) -> Result<T, E> {
            self.visit_bytes(&v)
        }
    }
    d.deserialize_bytes(Decode(read))
}

/// A count, then that many items read by `item`, into a vector made that
/// large at once (collecting `Option`s cannot know the length and grows the
/// vector as it goes). The count is at most the bytes left, so damage
/// cannot ask for much.
fn read_n<T>(r: &mut Reader, mut item: impl FnMut(&mut Reader) -> Option<T>) -> Option<Vec<T>> {
    let n = r.count()?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(item(r)?);
    }
    Some(out)
}

/// Polygons (outer ring, then holes, (lon, lat) degrees) as coordinate steps:
/// a third of the size of `f32` pairs.
pub(super) mod polygons {
    use super::*;

    /// Polygons, each its rings, each its (lon, lat) points.
    type Polygons = Vec<Vec<Vec<[f32; 2]>>>;

    pub fn serialize<S: Serializer>(
        polygons: &[Vec<Vec<[f32; 2]>>],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut w = Writer::default();
        w.count(polygons.len());
        for rings in polygons {
            w.count(rings.len());
            for ring in rings {
                w.count(ring.len());
                for &p in ring {
                    w.point(p);
                }
            }
        }
        s.serialize_bytes(&w.out)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Polygons, D::Error> {
        decoded(d, |r| {
            read_n(r, |r| read_n(r, |r| read_n(r, |r| r.point())))
        })
    }
}

/// Town points as coordinate steps (they come sorted by longitude within
/// their municipality, so the steps are small) and name offsets.
pub(super) mod towns {
    use super::*;
    use crate::mappack::Town;

    pub fn serialize<S: Serializer>(towns: &[Town], s: S) -> Result<S::Ok, S::Error> {
        let mut w = Writer::default();
        w.count(towns.len());
        for t in towns {
            w.point([t.lat, t.lon]);
            w.number(t.name);
        }
        s.serialize_bytes(&w.out)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Town>, D::Error> {
        decoded(d, |r| {
            read_n(r, |r| {
                let [lat, lon] = r.point()?;
                Some(Town {
                    lat,
                    lon,
                    name: r.number()?,
                })
            })
        })
    }
}

/// GeoNames places as coordinate steps (sorted by cell, then longitude) and
/// their numbers.
pub(super) mod places {
    use super::*;
    use crate::mappack::Place;

    pub fn serialize<S: Serializer>(places: &[Place], s: S) -> Result<S::Ok, S::Error> {
        let mut w = Writer::default();
        w.count(places.len());
        for p in places {
            w.point([p.lat, p.lon]);
            w.number(p.name);
            w.number(p.admin1);
            w.number(u32::from(p.country));
            w.number(p.country_code);
        }
        s.serialize_bytes(&w.out)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Place>, D::Error> {
        decoded(d, |r| {
            read_n(r, |r| {
                let [lat, lon] = r.point()?;
                Some(Place {
                    lat,
                    lon,
                    name: r.number()?,
                    admin1: r.number()?,
                    country: u16::try_from(r.number()?).ok()?,
                    country_code: r.number()?,
                })
            })
        })
    }
}

/// Town areas as steps from the area before: the municipality mostly stays
/// the same (a byte) and the name is mostly a neighbour's in the name text
/// (two bytes instead of three).
pub(super) mod town_areas {
    use super::*;
    use crate::mappack::TownArea;

    pub fn serialize<S: Serializer>(areas: &[TownArea], s: S) -> Result<S::Ok, S::Error> {
        let mut w = Writer::default();
        w.count(areas.len());
        let mut last = TownArea::default();
        for a in areas {
            w.step(i64::from(a.municipality) - i64::from(last.municipality));
            w.step(i64::from(a.name) - i64::from(last.name));
            w.number(a.ring_bytes);
            last = *a;
        }
        s.serialize_bytes(&w.out)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<TownArea>, D::Error> {
        decoded(d, |r| {
            let mut last = TownArea::default();
            read_n(r, |r| {
                let municipality = i64::from(last.municipality) + r.step()?;
                let name = i64::from(last.name) + r.step()?;
                last = TownArea {
                    municipality: u16::try_from(municipality).ok()?,
                    name: u32::try_from(name).ok()?,
                    ring_bytes: r.number()?,
                };
                Some(last)
            })
        })
    }
}
