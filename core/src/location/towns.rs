//! Which town area holds a point: the pack's town areas (e-Stat census
//! small areas under MLIT names) behind a coarse grid of their bounding
//! boxes. The rings stay in the pack's delta-coded bytes (a byte or two a
//! vertex, the densest form the phone can keep in memory) and are decoded
//! only for the one or two areas whose box holds the fix.

use std::borrow::Cow;

use super::pack::{AreaRingReader, TOWN_WORLD_UNITS, TownArea, for_each_area_edge, town_units};

/// Grid cells of 256 town units (about 2 km in Tokyo): a cell in central
/// Tokyo meets a few dozen town boxes, a rural 大字 a handful of cells. A
/// box clipped to its cell fits a byte a side.
const CELL_UNITS: i32 = 256;

#[derive(Debug, Default)]
pub(crate) struct TownIndex {
    /// The areas, and one more at the end where the last one's rings end.
    areas: Vec<AreaRecord>,
    /// The pack's ring bytes.
    rings: Cow<'static, [u8]>,
    /// The grid's occupied cells, row by row: where each row's cells start
    /// in `columns` (one more at the end), each cell's column (sorted within
    /// its row), and where its areas start in `members` (one more at the
    /// end). A lookup searches one row's few hundred columns, not all cells.
    row_starts: Vec<u32>,
    columns: Vec<u16>,
    cell_starts: Vec<u32>,
    members: Vec<Member>,
    /// The grid's corner, in cells.
    origin: (i32, i32),
    /// West, north, east, south around all the areas, in town units: most
    /// fixes abroad are turned away on these before any trigonometry.
    bounds: [f64; 4],
}

/// What a lookup needs of an area, side by side (one cache miss where
/// three arrays took three): where its rings start in the ring bytes (they
/// end where the next area's start), its first vertex (the bytes give it as
/// a step from the area before), its municipality and name.
#[derive(Debug, Clone, Copy)]
struct AreaRecord {
    ring_start: u32,
    first: [i32; 2],
    name: u32,
    municipality: u16,
}

/// An area in a grid cell, with its bounding box clipped to the cell (west,
/// north, east, south in units from the cell's corner): a lookup reads a
/// cell's boxes one after another instead of one cache miss per area.
#[derive(Debug, Clone, Copy)]
struct Member {
    area: u32,
    clip: [u8; 4],
}

impl TownIndex {
    /// The index over the pack's town areas; `None` if the bytes are damaged.
    pub(crate) fn new(areas: Vec<TownArea>, rings: Cow<'static, [u8]>) -> Option<Self> {
        let mut records = Vec::with_capacity(areas.len() + 1);
        let mut boxes = Vec::with_capacity(areas.len());
        let mut reader = AreaRingReader::new(&rings);
        let mut at = 0u32;
        let narrow = |v: i64| i32::try_from(v).ok();
        for a in &areas {
            let (first, b) = reader.next_area_box()?;
            records.push(AreaRecord {
                ring_start: at,
                first: [narrow(first[0])?, narrow(first[1])?],
                name: a.name,
                municipality: a.municipality,
            });
            at = at.checked_add(a.ring_bytes)?;
            boxes.push([narrow(b[0])?, narrow(b[1])?, narrow(b[2])?, narrow(b[3])?]);
        }
        records.push(AreaRecord {
            ring_start: at,
            first: [0, 0],
            name: 0,
            municipality: 0,
        });
        if at as usize != rings.len() {
            return None;
        }
        let mut index = Self {
            areas: records,
            rings,
            ..Self::default()
        };
        index.build_grid(&boxes);
        Some(index)
    }

    /// The grid over the areas' boxes (west, north, east, south in town
    /// units, y growing south).
    fn build_grid(&mut self, boxes: &[[i32; 4]]) {
        let b = boxes
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
        self.origin = boxes.iter().fold((i32::MAX, i32::MAX), |o, b| {
            (
                o.0.min(b[0].div_euclid(CELL_UNITS)),
                o.1.min(b[1].div_euclid(CELL_UNITS)),
            )
        });
        let origin = self.origin;
        let spans = || {
            boxes.iter().enumerate().map(move |(i, b)| {
                let (c0, r0) = cell_of(origin, b[0], b[1]);
                let (c1, r1) = cell_of(origin, b[2], b[3]);
                (i as u32, c0..=c1, r0..=r1)
            })
        };
        let rows = spans()
            .map(|(_, _, r)| *r.end() as usize + 1)
            .max()
            .unwrap_or(0);
        let columns = spans()
            .map(|(_, c, _)| *c.end() as usize + 1)
            .max()
            .unwrap_or(0);
        // The areas of each row, rows one after another (counted, then
        // placed in area order), and where each row's cells' areas start in
        // `members`.
        let mut row_at = vec![0u32; rows + 1];
        let mut members_at = vec![0u32; rows + 1];
        for (_, c, r) in spans() {
            let width = c.end() - c.start() + 1;
            for row in r {
                row_at[row as usize + 1] += 1;
                members_at[row as usize + 1] += width;
            }
        }
        for i in 1..=rows {
            row_at[i] += row_at[i - 1];
            members_at[i] += members_at[i - 1];
        }
        let mut row_areas = vec![0u32; row_at[rows] as usize];
        let mut fill = row_at.clone();
        for (i, _, r) in spans() {
            for row in r {
                row_areas[fill[row as usize] as usize] = i;
                fill[row as usize] += 1;
            }
        }
        drop(fill);
        // Then each row's cells, counting by column, so that a cell's areas
        // stay in area order (one sort of all the (cell, area) pairs took a
        // third of the load).
        let unset = Member {
            area: 0,
            clip: [0; 4],
        };
        self.members = vec![unset; members_at[rows] as usize];
        let mut starts = vec![0u32; columns + 1];
        let columns_of = |area: u32| {
            let b = boxes[area as usize];
            cell_of(origin, b[0], b[1]).0 as usize..=cell_of(origin, b[2], b[3]).0 as usize
        };
        let local = |v: i32, corner: i32| (v - corner).clamp(0, CELL_UNITS - 1) as u8;
        for row in 0..rows {
            let base = members_at[row] as usize;
            let in_row = &row_areas[row_at[row] as usize..row_at[row + 1] as usize];
            starts.fill(0);
            for &area in in_row {
                for column in columns_of(area) {
                    starts[column + 1] += 1;
                }
            }
            self.row_starts.push(self.columns.len() as u32);
            for column in 0..columns {
                if starts[column + 1] > 0 {
                    self.columns.push(column as u16);
                    self.cell_starts.push((base as u32) + starts[column]);
                }
                starts[column + 1] += starts[column];
            }
            let corner_y = (origin.1 + row as i32) * CELL_UNITS;
            for &area in in_row {
                let b = boxes[area as usize];
                for column in columns_of(area) {
                    let corner_x = (origin.0 + column as i32) * CELL_UNITS;
                    self.members[base + starts[column] as usize] = Member {
                        area,
                        clip: [
                            local(b[0], corner_x),
                            local(b[1], corner_y),
                            local(b[2], corner_x),
                            local(b[3], corner_y),
                        ],
                    };
                    starts[column] += 1;
                }
            }
        }
        self.row_starts.push(self.columns.len() as u32);
        self.cell_starts.push(self.members.len() as u32);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.areas.len() <= 1
    }

    /// The town area that holds the point, if any (the first, should two).
    pub(crate) fn find(&self, lat: f64, lon: f64) -> Option<TownArea> {
        if self.is_empty() || !(lat.abs() < 85.0 && lon.abs() <= 180.0) {
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
        let (ux, uy) = (x.floor() as i32, y.floor() as i32);
        let (c, r) = cell_of(self.origin, ux, uy);
        let row = self.row_starts.get(r as usize..r as usize + 2)?;
        let (first, end) = (row[0] as usize, row[1] as usize);
        let at = first
            + self
                .columns
                .get(first..end)?
                .binary_search(&(c as u16))
                .ok()?;
        let from = *self.cell_starts.get(at)? as usize;
        let to = *self.cell_starts.get(at + 1)? as usize;
        // The point in units from its cell's corner. A box side is a whole
        // unit, so a point within its box has its unit within the clipped
        // box; the ring test decides the rest (a point outside an area's
        // box is never inside its rings).
        let lx = ux.rem_euclid(CELL_UNITS) as u8;
        let ly = uy.rem_euclid(CELL_UNITS) as u8;
        let m = self.members.get(from..to)?.iter().find(|m| {
            let [w, n, e, s] = m.clip;
            lx >= w && lx <= e && ly >= n && ly <= s && self.holds(m.area as usize, x, y)
        })?;
        let i = m.area as usize;
        let (a, end) = (self.areas.get(i)?, self.areas.get(i + 1)?);
        Some(TownArea {
            municipality: a.municipality,
            name: a.name,
            ring_bytes: end.ring_start - a.ring_start,
        })
    }

    /// Even-odd over all the area's rings (its parts meet only along tile
    /// edges, its holes lie inside).
    fn holds(&self, i: usize, x: f64, y: f64) -> bool {
        let (Some(a), Some(end)) = (self.areas.get(i), self.areas.get(i + 1)) else {
            return false;
        };
        let (first, from, to) = (a.first, a.ring_start, end.ring_start);
        let Some(bytes) = self.rings.get(from as usize..to as usize) else {
            return false;
        };
        let mut odd = false;
        let first = [i64::from(first[0]), i64::from(first[1])];
        // Vertices are whole units, so `y1 > y` is `y1 > floor(y)`: the
        // test that picks the few edges across the point's row stays in
        // integers, and only those few are converted.
        let row = y.floor() as i64;
        let read = for_each_area_edge(bytes, first, |x1, y1, x2, y2| {
            if (y1 > row) != (y2 > row) {
                let (x1, y1, x2, y2) = (x1 as f64, y1 as f64, x2 as f64, y2 as f64);
                if x < x1 + (y - y1) / (y2 - y1) * (x2 - x1) {
                    odd = !odd;
                }
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
