//! Which town area holds a point: the pack's town areas (e-Stat census
//! small areas under MLIT names) behind a coarse grid of their bounding
//! boxes. The rings stay in the pack's delta-coded bytes (a byte or two a
//! vertex, the densest form the phone can keep in memory) and are decoded
//! only for the one or two areas whose box holds the fix.

use std::borrow::Cow;

use super::pack::{AreaRingReader, TOWN_WORLD_UNITS, TownArea, for_each_area_edge, town_units};

/// Grid cells of 256 town units (about 2 km in Tokyo): a cell in central
/// Tokyo meets a few dozen town boxes, a rural 大字 a handful of cells.
const CELL_UNITS: i32 = 256;

#[derive(Debug, Default)]
pub(crate) struct TownIndex {
    areas: Vec<TownArea>,
    /// West, north, east, south of each area, in town units (y grows south).
    boxes: Vec<[i32; 4]>,
    /// The pack's ring bytes, where each area's start in them (one more at
    /// the end), and each area's first vertex (the bytes give it as a step
    /// from the area before).
    rings: Cow<'static, [u8]>,
    ring_starts: Vec<u32>,
    firsts: Vec<[i32; 2]>,
    /// The grid's occupied cells, sorted (`row << 16 | column`), with where
    /// their areas start in `members`; one more start at the end.
    cells: Vec<u32>,
    cell_starts: Vec<u32>,
    members: Vec<u32>,
    /// The grid's corner, in cells.
    origin: (i32, i32),
    /// West, north, east, south around all the areas, in town units: most
    /// fixes abroad are turned away on these before any trigonometry.
    bounds: [f64; 4],
}

impl TownIndex {
    /// The index over the pack's town areas; `None` if the bytes are damaged.
    pub(crate) fn new(areas: Vec<TownArea>, rings: Cow<'static, [u8]>) -> Option<Self> {
        let mut ring_starts = Vec::with_capacity(areas.len() + 1);
        let mut firsts = Vec::with_capacity(areas.len());
        let mut boxes = Vec::with_capacity(areas.len());
        let mut reader = AreaRingReader::new(&rings);
        let mut at = 0u32;
        let narrow = |v: i64| i32::try_from(v).ok();
        for a in &areas {
            ring_starts.push(at);
            at = at.checked_add(a.ring_bytes)?;
            let (first, b) = reader.next_area_box()?;
            firsts.push([narrow(first[0])?, narrow(first[1])?]);
            boxes.push([narrow(b[0])?, narrow(b[1])?, narrow(b[2])?, narrow(b[3])?]);
        }
        ring_starts.push(at);
        if at as usize != rings.len() {
            return None;
        }
        let mut index = Self {
            areas,
            boxes,
            rings,
            ring_starts,
            firsts,
            ..Self::default()
        };
        index.build_grid();
        Some(index)
    }

    fn build_grid(&mut self) {
        let b = self
            .boxes
            .iter()
            .fold([i32::MAX, i32::MAX, i32::MIN, i32::MIN], |a, b| {
                [
                    a[0].min(b[0]),
                    a[1].min(b[1]),
                    a[2].max(b[2]),
                    a[3].max(b[3]),
                ]
            });
        self.bounds = b.map(f64::from);
        self.origin = self.boxes.iter().fold((i32::MAX, i32::MAX), |o, b| {
            (
                o.0.min(b[0].div_euclid(CELL_UNITS)),
                o.1.min(b[1].div_euclid(CELL_UNITS)),
            )
        });
        // (cell << 32 | area): one integer sort, cheaper than sorting pairs.
        let mut pairs: Vec<u64> = Vec::new();
        for (i, b) in self.boxes.iter().enumerate() {
            let (c0, r0) = cell_of(self.origin, b[0], b[1]);
            let (c1, r1) = cell_of(self.origin, b[2], b[3]);
            for r in r0..=r1 {
                for c in c0..=c1 {
                    pairs.push(u64::from(key(c, r)) << 32 | i as u64);
                }
            }
        }
        pairs.sort_unstable();
        for (n, &pair) in pairs.iter().enumerate() {
            let k = (pair >> 32) as u32;
            if self.cells.last() != Some(&k) {
                self.cells.push(k);
                self.cell_starts.push(n as u32);
            }
        }
        self.cell_starts.push(pairs.len() as u32);
        self.members = pairs.into_iter().map(|p| p as u32).collect();
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.areas.is_empty()
    }

    /// The town area that holds the point, if any (the first, should two).
    pub(crate) fn find(&self, lat: f64, lon: f64) -> Option<&TownArea> {
        if self.areas.is_empty() || !(lat.abs() < 85.0 && lon.abs() <= 180.0) {
            return None;
        }
        let b = self.bounds;
        let x = (lon + 180.0) / 360.0 * TOWN_WORLD_UNITS;
        if !(x >= b[0] && x <= b[2]) {
            return None;
        }
        let (_, y) = town_units(lat, lon);
        if !(y >= b[1] && y <= b[3]) {
            return None;
        }
        let (c, r) = cell_of(self.origin, x.floor() as i32, y.floor() as i32);
        let at = self.cells.binary_search(&key(c, r)).ok()?;
        let from = *self.cell_starts.get(at)? as usize;
        let to = *self.cell_starts.get(at + 1)? as usize;
        let i = self.members.get(from..to)?.iter().find(|&&i| {
            self.boxes.get(i as usize).is_some_and(|b| {
                x >= f64::from(b[0])
                    && x <= f64::from(b[2])
                    && y >= f64::from(b[1])
                    && y <= f64::from(b[3])
            }) && self.holds(i as usize, x, y)
        })?;
        self.areas.get(*i as usize)
    }

    /// Even-odd over all the area's rings (its parts meet only along tile
    /// edges, its holes lie inside).
    fn holds(&self, i: usize, x: f64, y: f64) -> bool {
        let (Some(&from), Some(&to), Some(first)) = (
            self.ring_starts.get(i),
            self.ring_starts.get(i + 1),
            self.firsts.get(i),
        ) else {
            return false;
        };
        let Some(bytes) = self.rings.get(from as usize..to as usize) else {
            return false;
        };
        let mut odd = false;
        let first = [i64::from(first[0]), i64::from(first[1])];
        let read = for_each_area_edge(bytes, first, |x1, y1, x2, y2| {
            let (x1, y1, x2, y2) = (x1 as f64, y1 as f64, x2 as f64, y2 as f64);
            if (y1 > y) != (y2 > y) && x < x1 + (y - y1) / (y2 - y1) * (x2 - x1) {
                odd = !odd;
            }
        });
        read.is_some() && odd
    }
}

fn cell_of(origin: (i32, i32), x: i32, y: i32) -> (u32, u32) {
    let c = (x.div_euclid(CELL_UNITS) - origin.0).clamp(0, 0xffff) as u32;
    let r = (y.div_euclid(CELL_UNITS) - origin.1).clamp(0, 0xffff) as u32;
    (c, r)
}

fn key(c: u32, r: u32) -> u32 {
    r << 16 | c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::location::pack::{TownRing, encode_area_rings, town_degrees};

    fn index(areas: &[Vec<TownRing>]) -> TownIndex {
        let mut bytes = Vec::new();
        let mut first = [0, 0];
        let mut list = Vec::new();
        for (n, rings) in areas.iter().enumerate() {
            let before = bytes.len();
            encode_area_rings(rings, &mut first, &mut bytes);
            list.push(TownArea {
                municipality: 0,
                name: n as u32,
                ring_bytes: (bytes.len() - before) as u32,
            });
        }
        TownIndex::new(list, Cow::Owned(bytes)).expect("reads")
    }

    #[test]
    fn a_point_finds_the_area_around_it_on_either_side_of_a_shared_edge() {
        let (x, y) = town_units(35.68, 139.76);
        let (x0, y0) = (x as i32, y as i32);
        let rect = |a: i32, b: i32| {
            vec![
                [x0 + a, y0],
                [x0 + b, y0],
                [x0 + b, y0 + 100],
                [x0 + a, y0 + 100],
            ]
        };
        // Town 1 has a hole with town 2 in it.
        let towns = index(&[
            vec![rect(0, 100)],
            vec![rect(100, 900), rect(400, 500)],
            vec![rect(400, 500)],
        ]);
        let at = |dx: f64, dy: f64| {
            let (lat, lon) = town_degrees(f64::from(x0) + dx, f64::from(y0) + dy);
            towns.find(lat, lon).map(|a| a.name)
        };
        assert_eq!(at(99.0, 50.0), Some(0));
        assert_eq!(at(101.0, 50.0), Some(1));
        assert_eq!(at(450.0, 50.0), Some(2), "in the hole");
        assert_eq!(at(850.0, 50.0), Some(1));
        assert_eq!(at(950.0, 50.0), None);
        assert_eq!(at(50.0, -1.0), None);
        assert_eq!(towns.find(f64::NAN, 139.0).map(|a| a.name), None);
        assert!(TownIndex::default().find(35.68, 139.76).is_none());
    }

    #[test]
    fn damaged_bytes_are_refused() {
        let mut bytes = Vec::new();
        encode_area_rings(&[vec![[1, 2], [3, 4], [5, 2]]], &mut [0, 0], &mut bytes);
        let area = |ring_bytes: usize| TownArea {
            municipality: 0,
            name: 0,
            ring_bytes: ring_bytes as u32,
        };
        let n = bytes.len();
        let owned = |b: &[u8]| Cow::Owned(b.to_vec());
        assert!(TownIndex::new(vec![area(n)], owned(&bytes)).is_some());
        assert!(TownIndex::new(vec![area(n - 1)], owned(&bytes[..n - 1])).is_none());
        assert!(
            TownIndex::new(vec![area(n - 1)], owned(&bytes)).is_none(),
            "lengths disagree"
        );
        assert!(
            TownIndex::new(vec![area(n), area(0)], owned(&bytes)).is_none(),
            "an area missing"
        );
    }
}
