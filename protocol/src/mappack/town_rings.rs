//! Town areas' rings: Web Mercator town units, and the rings of each area
//! as zigzag varint steps (see [`encode_area_rings`]).

use super::varint::{put_varint, take_varint, unzigzag, zigzag};

/// Town areas are drawn in Web Mercator (as the census tiles were cut), in
/// units of which the world is this many across: 2^22, 9.6 m at the equator,
/// 7.7 m in Tokyo — finer than the 40 m the boundaries are simplified by, and
/// most steps between neighbouring vertices fit a byte.
pub const TOWN_WORLD_UNITS: f64 = 4_194_304.0;

/// A point in town units: (x east, y south), as [`TOWN_WORLD_UNITS`] says.
pub fn town_units(lat: f64, lon: f64) -> (f64, f64) {
    let x = (lon + 180.0) / 360.0 * TOWN_WORLD_UNITS;
    let phi = lat.to_radians();
    let y =
        (1.0 - (phi.tan() + 1.0 / phi.cos()).ln() / std::f64::consts::PI) / 2.0 * TOWN_WORLD_UNITS;
    (x, y)
}

/// A point in town units back to (lat, lon) degrees.
pub fn town_degrees(x: f64, y: f64) -> (f64, f64) {
    let lon = x / TOWN_WORLD_UNITS * 360.0 - 180.0;
    let lat = (std::f64::consts::PI * (1.0 - 2.0 * y / TOWN_WORLD_UNITS))
        .sinh()
        .atan()
        .to_degrees();
    (lat, lon)
}

/// A ring: its vertices in town units, implicitly closed.
pub type TownRing = Vec<[i32; 2]>;

/// An area's rings as bytes, appended to `out`: the ring count, then per
/// ring its vertex count and each vertex as the step from the one before;
/// the area's very first vertex as the step from `prev_first`, the first
/// vertex of the area before (neighbours in KEY_CODE order are mostly
/// neighbours on the ground), which it then becomes. All zigzag LEB128
/// varints: the steps are tens of metres, most fit a byte.
pub fn encode_area_rings(rings: &[TownRing], prev_first: &mut [i32; 2], out: &mut Vec<u8>) {
    put_varint(out, rings.len() as u64);
    let mut prev = *prev_first;
    for (r, ring) in rings.iter().enumerate() {
        put_varint(out, ring.len() as u64);
        for (i, &p) in ring.iter().enumerate() {
            put_step(out, prev, p);
            prev = p;
            if r == 0 && i == 0 {
                *prev_first = p;
            }
        }
    }
}

/// Reads what [`encode_area_rings`] wrote, area by area.
#[derive(Debug)]
pub struct AreaRingReader<'a> {
    bytes: &'a [u8],
    at: usize,
    first: [i64; 2],
}

impl<'a> AreaRingReader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self::resume(bytes, [0, 0])
    }

    /// Reads from an area in the middle: `bytes` start at its first byte,
    /// and `prev_first` is the first vertex of the area before it (its first
    /// step is from there), as [`next_area_box`](Self::next_area_box) gave it.
    pub fn resume(bytes: &'a [u8], prev_first: [i64; 2]) -> Self {
        Self {
            bytes,
            at: 0,
            first: prev_first,
        }
    }

    /// The next area's first vertex and bounding box (west, north, east,
    /// south in town units), without keeping its rings; `None` at the end or
    /// on damaged bytes.
    pub fn next_area_box(&mut self) -> Option<([i64; 2], [i64; 4])> {
        let count = take_varint(self.bytes, &mut self.at)?;
        let mut p = self.first;
        let mut b = [i64::MAX, i64::MAX, i64::MIN, i64::MIN];
        let mut grow = |p: [i64; 2]| {
            b = [
                b[0].min(p[0]),
                b[1].min(p[1]),
                b[2].max(p[0]),
                b[3].max(p[1]),
            ];
        };
        for r in 0..count {
            let n = take_varint(self.bytes, &mut self.at)?;
            let mut i = 0;
            if r == 0 && n > 0 {
                let d = take_step(self.bytes, &mut self.at)?;
                p = [p[0] + d[0], p[1] + d[1]];
                self.first = p;
                grow(p);
                i = 1;
            }
            while i < n {
                // Every area is read when the pack loads: this is most of
                // that time.
                if n - i >= 4
                    && let Some(steps) = four_short_steps(self.bytes, self.at)
                {
                    for d in steps {
                        p = [p[0] + d[0], p[1] + d[1]];
                        grow(p);
                    }
                    self.at += 8;
                    i += 4;
                    continue;
                }
                let d = take_step(self.bytes, &mut self.at)?;
                p = [p[0] + d[0], p[1] + d[1]];
                grow(p);
                i += 1;
            }
        }
        (b[0] <= b[2]).then_some((self.first, b))
    }

    /// The next area's rings, or `None` at the end or on damaged bytes.
    pub fn next_area(&mut self) -> Option<Vec<Vec<[i64; 2]>>> {
        let count = take_varint(self.bytes, &mut self.at)?;
        let mut rings = Vec::new();
        let mut p = self.first;
        for r in 0..count {
            let n = take_varint(self.bytes, &mut self.at)?;
            let mut ring = Vec::new();
            for i in 0..n {
                p[0] += unzigzag(take_varint(self.bytes, &mut self.at)?);
                p[1] += unzigzag(take_varint(self.bytes, &mut self.at)?);
                if r == 0 && i == 0 {
                    self.first = p;
                }
                ring.push(p);
            }
            rings.push(ring);
        }
        Some(rings)
    }
}

/// Calls `edge` with each edge (x1, y1, x2, y2) of one area's rings, read
/// on their own from `bytes` (that area's bytes) with its first vertex given
/// (the bytes hold it as a step from the area before); closing edges
/// included. `None` on damaged bytes.
pub fn for_each_area_edge(
    bytes: &[u8],
    first: [i64; 2],
    mut edge: impl FnMut(i64, i64, i64, i64),
) -> Option<()> {
    let mut at = 0;
    let rings = take_varint(bytes, &mut at)?;
    let mut p = first;
    for r in 0..rings {
        let n = take_varint(bytes, &mut at)?;
        if n == 0 {
            continue;
        }
        // The area's very first vertex is `first`: its step is from the
        // area before, which this reader does not know.
        let d = take_step(bytes, &mut at)?;
        if r > 0 {
            p = [p[0] + d[0], p[1] + d[1]];
        }
        let start = p;
        let mut left = n - 1;
        while left > 0 {
            // A lookup reads the whole ring of the area it tests.
            if left >= 4
                && let Some(steps) = four_short_steps(bytes, at)
            {
                for d in steps {
                    let before = p;
                    p = [p[0] + d[0], p[1] + d[1]];
                    edge(before[0], before[1], p[0], p[1]);
                }
                at += 8;
                left -= 4;
                continue;
            }
            let d = take_step(bytes, &mut at)?;
            let before = p;
            p = [p[0] + d[0], p[1] + d[1]];
            edge(before[0], before[1], p[0], p[1]);
            left -= 1;
        }
        edge(p[0], p[1], start[0], start[1]);
    }
    Some(())
}

/// The steps of four vertices from the eight bytes at `at`, if each of them
/// is a whole varint (no high bit), as most are: one test for the eight,
/// where reading them one by one takes a branch each.
#[inline(always)]
fn four_short_steps(bytes: &[u8], at: usize) -> Option<[[i64; 2]; 4]> {
    let word = u64::from_le_bytes(bytes.get(at..at.checked_add(8)?)?.try_into().ok()?);
    if word & 0x8080_8080_8080_8080 != 0 {
        return None;
    }
    let step = |k: u32| unzigzag((word >> (8 * k)) & 0x7f);
    Some([
        [step(0), step(1)],
        [step(2), step(3)],
        [step(4), step(5)],
        [step(6), step(7)],
    ])
}

/// One vertex's step (x, y) from the vertex before.
#[inline(always)]
fn take_step(bytes: &[u8], at: &mut usize) -> Option<[i64; 2]> {
    let dx = unzigzag(take_varint(bytes, at)?);
    let dy = unzigzag(take_varint(bytes, at)?);
    Some([dx, dy])
}

fn put_step(out: &mut Vec<u8>, from: [i32; 2], to: [i32; 2]) {
    for axis in 0..2 {
        put_varint(out, zigzag(i64::from(to[axis]) - i64::from(from[axis])));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn town_rings_round_trip_and_damaged_ones_are_refused() {
        let areas: Vec<Vec<TownRing>> = vec![
            vec![vec![[100, 200], [300, 200], [300, 90_000]]],
            vec![
                vec![[-5, 201], [150, 250], [150, 201]],
                vec![[0, 210], [10, 220], [0, 220]],
            ],
        ];
        let mut bytes = Vec::new();
        let mut first = [0, 0];
        let mut ends = Vec::new();
        for a in &areas {
            encode_area_rings(a, &mut first, &mut bytes);
            ends.push(bytes.len());
        }
        let widen = |r: &TownRing| {
            r.iter()
                .map(|p| [i64::from(p[0]), i64::from(p[1])])
                .collect::<Vec<_>>()
        };
        let mut reader = AreaRingReader::new(&bytes);
        for a in &areas {
            let want: Vec<_> = a.iter().map(widen).collect();
            assert_eq!(reader.next_area(), Some(want));
        }
        assert_eq!(reader.next_area(), None, "the end");
        let mut reader = AreaRingReader::new(&bytes);
        assert_eq!(
            reader.next_area_box(),
            Some(([100, 200], [100, 200, 300, 90_000]))
        );
        assert_eq!(
            reader.next_area_box(),
            Some(([-5, 201], [-5, 201, 150, 250]))
        );
        assert_eq!(reader.next_area_box(), None);
        // The second area alone, from its own bytes and the first's first vertex.
        let mut second = AreaRingReader::resume(&bytes[ends[0]..], [100, 200]);
        assert_eq!(
            second.next_area(),
            Some(areas[1].iter().map(widen).collect())
        );
        let mut edges = Vec::new();
        for_each_area_edge(&bytes[ends[0]..], [-5, 201], |a, b, c, d| {
            edges.push([a, b, c, d])
        })
        .expect("reads");
        assert_eq!(edges.len(), 6, "both rings, closed");
        assert_eq!(edges[0], [-5, 201, 150, 250]);
        assert_eq!(edges[2], [150, 201, -5, 201]);
        assert_eq!(edges[3], [0, 210, 10, 220]);
        assert!(
            for_each_area_edge(&bytes[ends[0]..bytes.len() - 1], [0, 0], |_, _, _, _| {}).is_none()
        );
    }

    #[test]
    fn boxes_and_edges_read_four_vertices_at_once_agree_with_the_rings() {
        // Steps of a byte and of several, so that both readings take turns.
        let ring = |seed: i32| -> TownRing {
            (0..97)
                .map(|i| {
                    let big = if i % 11 == 0 { 5_000 } else { 0 };
                    [seed + i * 7 % 31 + big, seed - i * 13 % 29 - big]
                })
                .collect()
        };
        let areas: Vec<Vec<TownRing>> = vec![
            vec![ring(1_000_000), ring(1_000_100)],
            vec![ring(2_000_000), vec![[5, 5], [6, 5], [6, 6]]],
            vec![ring(900_000)],
        ];
        let mut bytes = Vec::new();
        let mut first = [0, 0];
        let mut starts = vec![0];
        for a in &areas {
            encode_area_rings(a, &mut first, &mut bytes);
            starts.push(bytes.len());
        }
        let mut boxes = AreaRingReader::new(&bytes);
        let mut rings = AreaRingReader::new(&bytes);
        for span in starts.windows(2) {
            let all = rings.next_area().expect("reads");
            let mut edges = Vec::new();
            for ring in &all {
                for (i, p) in ring.iter().enumerate() {
                    let q = ring[(i + 1) % ring.len()];
                    edges.push([p[0], p[1], q[0], q[1]]);
                }
            }
            let mut read = Vec::new();
            for_each_area_edge(&bytes[span[0]..span[1]], all[0][0], |a, b, c, d| {
                read.push([a, b, c, d])
            })
            .expect("reads");
            assert_eq!(read, edges);
            let points = || all.iter().flatten();
            let want = [
                points().map(|p| p[0]).min().expect("points"),
                points().map(|p| p[1]).min().expect("points"),
                points().map(|p| p[0]).max().expect("points"),
                points().map(|p| p[1]).max().expect("points"),
            ];
            let first = *all.iter().flatten().next().expect("points");
            assert_eq!(boxes.next_area_box(), Some((first, want)));
        }
    }

    #[test]
    fn town_units_are_web_mercator_and_come_back() {
        let (x, y) = town_units(35.6812, 139.7671);
        assert!((x - 3_725_556.7).abs() < 0.1, "{x}");
        let (lat, lon) = town_degrees(x, y);
        assert!((lat - 35.6812).abs() < 1e-9 && (lon - 139.7671).abs() < 1e-9);
    }
}
