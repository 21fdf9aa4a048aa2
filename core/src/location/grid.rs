//! Which bordered area holds a point, in well under a microsecond: a grid over
//! the areas, built when the pack loads. A cell that no border crosses knows
//! its area outright (most of the land); a cell that borders cross keeps just
//! those border edges and whether its centre lies inside each area, so a point
//! is decided by the few edges between it and the centre. Testing whole
//! polygons (thousands of vertices for a country) one after another was what
//! made a lookup cost microseconds.

/// No area.
const EMPTY: u32 = u32::MAX;
/// A cell value with this bit is an area that fills the cell; without it, an
/// index into `parts`.
const FULL: u32 = 1 << 31;

pub(crate) use super::shape::Rings;

#[derive(Debug)]
pub(crate) struct AreaGrid {
    lon0: f64,
    lat0: f64,
    step: f64,
    cols: usize,
    rows: usize,
    /// Per cell: [`EMPTY`], `FULL | area`, or the index of its first part in
    /// `parts` (its parts run to the next mixed cell's first).
    cells: Vec<u32>,
    /// One area's border edges in one cell, cell by cell.
    parts: Vec<Part>,
    /// The edges of all parts, part by part: (x1, y1, x2, y2).
    edges: Vec<[f32; 4]>,
}

/// One area's border edges inside a cell. An area whose border does not
/// enter the cell but which holds it (the country around a small island)
/// comes as a part with no edges and its centre inside.
#[derive(Debug, Clone, Copy)]
struct Part {
    area: u32,
    centre_inside: bool,
    /// Its edges: `edges[first_edge..]` up to the next part's first.
    first_edge: u32,
    /// The last part of its cell.
    last: bool,
}

impl AreaGrid {
    /// A grid over `[lon0, lon1] × [lat0, lat1]` in cells of `step` degrees;
    /// area `i` is the i-th item of `areas`. Points outside the box are in no area.
    pub(crate) fn new<'a>(
        areas: impl IntoIterator<Item = &'a [Rings]> + Clone,
        (lon0, lat0, lon1, lat1): (f64, f64, f64, f64),
        step: f64,
    ) -> Self {
        let cols = ((lon1 - lon0) / step).ceil().max(1.0) as usize;
        let rows = ((lat1 - lat0) / step).ceil().max(1.0) as usize;
        // Clamped first, then cut to a whole cell: the same as `floor`
        // (the clamp keeps it from being negative) without a call to libm's
        // `floor` per edge, which baseline x86-64 has no instruction for.
        let col_of = |x: f64| ((x - lon0) / step).clamp(0.0, (cols - 1) as f64) as usize;
        let row_of = |y: f64| ((y - lat0) / step).clamp(0.0, (rows - 1) as f64) as usize;
        // The grid is built over single polygons ("shapes"), each with the
        // area that owns it: even-odd counting over all of an area's polygons
        // at once would take a point where two of them overlap for outside.
        let mut owner: Vec<u32> = Vec::new();
        for (area, polygons) in areas.clone().into_iter().enumerate() {
            owner.extend(polygons.iter().map(|_| area as u32));
        }
        let cells_of = |p: [f32; 2], q: [f32; 2]| {
            let (x1, x2) = (f64::from(p[0]), f64::from(q[0]));
            let (y1, y2) = (f64::from(p[1]), f64::from(q[1]));
            (
                (col_of(x1.min(x2)), col_of(x1.max(x2))),
                (row_of(y1.min(y2)), row_of(y1.max(y2))),
            )
        };
        // Two passes, counting then placing, so that a cell's edges lie
        // together (by area, as they come) without a sort or a map.
        let mut counts = vec![0u32; cols * rows + 1];
        let mut crossings: Vec<(u32, u32, f64)> = Vec::new(); // (row, area, x)
        each_edge(areas.clone(), cells_of, |area, e, (c1, c2), (r1, r2)| {
            let (x1, y1, x2, y2) = (
                f64::from(e[0]),
                f64::from(e[1]),
                f64::from(e[2]),
                f64::from(e[3]),
            );
            for r in r1..=r2 {
                for c in c1..=c2 {
                    counts[r * cols + c] += 1;
                }
                // Half-open in y, so that a vertex on the line counts once.
                let y = lat0 + (r as f64 + 0.5) * step;
                if (y1 > y) != (y2 > y) {
                    crossings.push((r as u32, area, x1 + (y - y1) / (y2 - y1) * (x2 - x1)));
                }
            }
        });
        let mut starts = Vec::with_capacity(counts.len());
        let mut total = 0u32;
        for n in &counts {
            starts.push(total);
            total += n;
        }
        // The edges in cell order, as lookups read them, with their areas
        // alongside until the parts are known.
        let mut fill = starts.clone();
        let mut edges: Vec<[f32; 4]> = vec![[0.0; 4]; total as usize];
        let mut edge_areas: Vec<u32> = vec![0; total as usize];
        each_edge(areas.clone(), cells_of, |area, e, (c1, c2), (r1, r2)| {
            for r in r1..=r2 {
                for c in c1..=c2 {
                    let at = &mut fill[r * cols + c];
                    edges[*at as usize] = e;
                    edge_areas[*at as usize] = area;
                    *at += 1;
                }
            }
        });
        drop(fill);
        drop(counts);
        // Which areas hold each cell's centre: along each row's centre line,
        // the stretches between an area's crossings (in, out, in, out …).
        crossings.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)).then(a.2.total_cmp(&b.2)));
        let mut centre_in: Vec<(usize, u32)> = Vec::new(); // (cell, area)
        for run in crossings.chunk_by(|a, b| a.0 == b.0 && a.1 == b.1) {
            let (row, area) = (run[0].0 as usize, run[0].1);
            for pair in run.chunks_exact(2) {
                let first = ((pair[0].2 - lon0) / step - 0.5).ceil().max(0.0) as usize;
                let last = ((pair[1].2 - lon0) / step - 0.5).floor();
                if last < 0.0 {
                    continue;
                }
                for col in first..=(last as usize).min(cols - 1) {
                    centre_in.push((row * cols + col, area));
                }
            }
        }
        drop(crossings);
        // By cell, counting: a cell's areas stay in the order they came
        // (ascending, run by run along its row), with no sort.
        let mut holders_at = vec![0u32; cols * rows + 1];
        for &(cell, _) in &centre_in {
            holders_at[cell + 1] += 1;
        }
        for i in 1..holders_at.len() {
            holders_at[i] += holders_at[i - 1];
        }
        let mut holders = vec![0u32; centre_in.len()];
        let mut fill = holders_at.clone();
        for &(cell, area) in &centre_in {
            holders[fill[cell] as usize] = area;
            fill[cell] += 1;
        }
        drop(fill);
        drop(centre_in);
        let mut cells = vec![EMPTY; cols * rows];
        let mut parts: Vec<Part> = Vec::new();
        for (cell, slot) in cells.iter_mut().enumerate() {
            let inside = &holders[holders_at[cell] as usize..holders_at[cell + 1] as usize];
            let (from, to) = (starts[cell] as usize, starts[cell + 1] as usize);
            if from == to {
                if let Some(&a) = inside.first() {
                    *slot = FULL | a;
                }
                continue;
            }
            *slot = parts.len() as u32;
            let first_part = parts.len();
            let mut at = from;
            for run in edge_areas[from..to].chunk_by(|a, b| a == b) {
                parts.push(Part {
                    area: run[0],
                    centre_inside: inside.contains(&run[0]),
                    first_edge: at as u32,
                    last: false,
                });
                at += run.len();
            }
            for &a in inside {
                if !parts[first_part..].iter().any(|p| p.area == a) {
                    // No edges: its range is empty, ending where the cell's do.
                    parts.push(Part {
                        area: a,
                        centre_inside: true,
                        first_edge: to as u32,
                        last: false,
                    });
                }
            }
            if let Some(p) = parts.last_mut() {
                p.last = true;
            }
        }
        let area_of = |shape: u32| owner.get(shape as usize).copied().unwrap_or(EMPTY);
        for cell in &mut cells {
            if *cell != EMPTY && *cell & FULL != 0 {
                *cell = FULL | area_of(*cell & !FULL);
            }
        }
        for part in &mut parts {
            part.area = area_of(part.area);
        }
        // A sentinel, so that every part's edges end at the next part's first.
        parts.push(Part {
            area: EMPTY,
            centre_inside: false,
            first_edge: edges.len() as u32,
            last: true,
        });
        Self {
            lon0,
            lat0,
            step,
            cols,
            rows,
            cells,
            parts,
            edges,
        }
    }

    /// The area that holds the point, if any.
    pub(crate) fn find(&self, lon: f64, lat: f64) -> Option<u32> {
        let (fx, fy) = ((lon - self.lon0) / self.step, (lat - self.lat0) / self.step);
        if !(fx >= 0.0 && fy >= 0.0) {
            return None;
        }
        let (col, row) = (fx as usize, fy as usize);
        if col >= self.cols || row >= self.rows {
            return None;
        }
        let cell = self.cells[row * self.cols + col];
        if cell == EMPTY {
            return None;
        }
        if cell & FULL != 0 {
            return Some(cell & !FULL);
        }
        let centre = (
            self.lon0 + (col as f64 + 0.5) * self.step,
            self.lat0 + (row as f64 + 0.5) * self.step,
        );
        let mut at = cell as usize;
        loop {
            let part = self.parts.get(at)?;
            let end = self.parts.get(at + 1)?.first_edge as usize;
            let edges = self.edges.get(part.first_edge as usize..end)?;
            // Each border crossed on the way to the centre flips inside and outside.
            let crossed = edges
                .iter()
                .filter(|e| crosses((lon, lat), centre, e))
                .count();
            if part.centre_inside != (crossed % 2 == 1) {
                return Some(part.area);
            }
            if part.last {
                return None;
            }
            at += 1;
        }
    }
}

/// Calls `f` with every edge of every polygon ("shape", numbered in order)
/// and the first and last column and row of the cells its bounding box
/// covers (`cells_of`). Generic, not `dyn`: a call per edge, millions at
/// load, is inlined.
fn each_edge<'a>(
    areas: impl IntoIterator<Item = &'a [Rings]>,
    cells_of: impl Fn([f32; 2], [f32; 2]) -> ((usize, usize), (usize, usize)),
    mut f: impl FnMut(u32, [f32; 4], (usize, usize), (usize, usize)),
) {
    let shapes = areas.into_iter().flat_map(|polygons| polygons.iter());
    for (shape, rings) in shapes.enumerate() {
        for ring in rings {
            let n = ring.len();
            for i in 0..n {
                // The next vertex, or the first after the last (no `%`: a
                // division per edge).
                let (p, q) = (ring[i], ring[if i + 1 == n { 0 } else { i + 1 }]);
                if p == q {
                    continue;
                }
                let (cols, rows) = cells_of(p, q);
                f(shape as u32, [p[0], p[1], q[0], q[1]], cols, rows);
            }
        }
    }
}

impl AreaGrid {
    /// The areas in the point's cell and the cells up to `reach` cells around it.
    pub(crate) fn areas_near(&self, lon: f64, lat: f64, reach: usize) -> Vec<u32> {
        let (fx, fy) = ((lon - self.lon0) / self.step, (lat - self.lat0) / self.step);
        let mut found = Vec::new();
        if !(fx.is_finite() && fy.is_finite()) {
            return found;
        }
        let reach = reach as f64;
        let cols =
            (fx - reach).max(0.0) as usize..=(fx + reach).min(self.cols as f64 - 1.0) as usize;
        let rows =
            (fy - reach).max(0.0) as usize..=(fy + reach).min(self.rows as f64 - 1.0) as usize;
        if fx + reach < 0.0 || fy + reach < 0.0 {
            return found;
        }
        for row in rows {
            for col in cols.clone() {
                let cell = self.cells[row * self.cols + col];
                if cell == EMPTY {
                    continue;
                }
                if cell & FULL != 0 {
                    found.push(cell & !FULL);
                    continue;
                }
                for part in self.parts.get(cell as usize..).unwrap_or_default() {
                    found.push(part.area);
                    if part.last {
                        break;
                    }
                }
            }
        }
        found.sort_unstable();
        found.dedup();
        found
    }
}

/// Whether segment a–b crosses edge e. Touching counts on one side only (the
/// sign test treats zero as negative), so that a path through a vertex
/// counts it consistently.
fn crosses(a: (f64, f64), b: (f64, f64), e: &[f32; 4]) -> bool {
    let (p, q) = (
        (f64::from(e[0]), f64::from(e[1])),
        (f64::from(e[2]), f64::from(e[3])),
    );
    let side = |o: (f64, f64), d: (f64, f64), r: (f64, f64)| {
        (d.0 - o.0) * (r.1 - o.1) - (d.1 - o.1) * (r.0 - o.0) > 0.0
    };
    side(p, q, a) != side(p, q, b) && side(a, b, p) != side(a, b, q)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(x0: f32, y0: f32, x1: f32, y1: f32) -> Vec<[f32; 2]> {
        vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    }

    #[test]
    fn points_near_and_far_from_borders_land_in_the_right_area() {
        // Area 0: a square with a hole; area 1: an island in the hole; area 2:
        // a diagonal triangle beside them.
        let a0 = vec![vec![square(0.0, 0.0, 4.0, 4.0), square(1.0, 1.0, 3.0, 3.0)]];
        let a1 = vec![vec![square(1.6, 1.6, 2.4, 2.4)]];
        let a2 = vec![vec![vec![[4.0, 0.0], [8.0, 0.0], [4.0, 4.0], [4.0, 0.0]]]];
        let areas = [a0, a1, a2];
        let grid = AreaGrid::new(areas.iter().map(Vec::as_slice), (-1.0, -1.0, 9.0, 5.0), 0.7);
        for (x, y, want) in [
            (0.5, 0.5, Some(0)),
            (3.9, 2.0, Some(0)),
            (1.2, 2.0, None),
            (2.0, 2.0, Some(1)),
            (1.55, 2.0, None),
            (4.1, 0.1, Some(2)),
            (4.1, 3.8, Some(2)),
            (6.1, 2.0, None),
            (5.9, 2.0, Some(2)),
            (-0.5, 2.0, None),
            (20.0, 2.0, None),
            (f64::NAN, 2.0, None),
        ] {
            assert_eq!(grid.find(x, y), want, "({x}, {y})");
        }
    }
}

/// The grid against plain point-in-polygon (geo) on the shipped pack's real
/// borders: the same area for points spread over the world and over Japan.
#[cfg(test)]
mod against_polygons {
    #![allow(clippy::unwrap_used)] // a test may stop at the first surprise

    use geo::{BoundingRect, Contains, MultiPolygon, Point};

    use super::AreaGrid;
    use crate::location::pack::MapPack;
    use crate::location::shape::multipolygon;

    /// A fixed sequence of points in a box (a small LCG: no randomness crate).
    fn points(n: usize, (x0, y0, x1, y1): (f64, f64, f64, f64)) -> Vec<(f64, f64)> {
        let mut s: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        (0..n)
            .map(|_| (x0 + next() * (x1 - x0), y0 + next() * (y1 - y0)))
            .collect()
    }

    fn agree(areas: &[&[super::Rings]], grid: &AreaGrid, pts: &[(f64, f64)]) {
        let shapes: Vec<MultiPolygon<f64>> = areas.iter().map(|a| multipolygon(a)).collect();
        let boxes: Vec<_> = shapes.iter().map(|s| s.bounding_rect()).collect();
        let mut differ = Vec::new();
        for &(x, y) in pts {
            let p = Point::new(x, y);
            let exact: Vec<u32> = (0..shapes.len())
                .filter(|&i| boxes[i].is_some_and(|b| b.contains(&p)) && shapes[i].contains(&p))
                .map(|i| i as u32)
                .collect();
            let found = grid.find(x, y);
            let ok = match found {
                Some(a) => exact.contains(&a),
                None => exact.is_empty(),
            };
            if !ok {
                differ.push((x, y, found, exact));
            }
        }
        assert!(
            differ.is_empty(),
            "{} of {}: {:?}",
            differ.len(),
            pts.len(),
            &differ[..differ.len().min(5)]
        );
    }

    #[test]
    fn the_grid_agrees_with_point_in_polygon_on_the_shipped_borders() {
        let bytes = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../assets/mappack.bin"
        ))
        .unwrap();
        let pack = MapPack::from_bytes(&bytes).unwrap();
        let countries: Vec<&[super::Rings]> = pack
            .countries
            .iter()
            .map(|a| a.polygons.as_slice())
            .collect();
        let grid = AreaGrid::new(countries.iter().copied(), (-180.0, -90.0, 180.0, 90.0), 0.5);
        agree(
            &countries,
            &grid,
            &points(3_000, (-180.0, -60.0, 180.0, 75.0)),
        );
        let municipal: Vec<&[super::Rings]> = pack
            .municipal_areas
            .iter()
            .map(|a| a.polygons.as_slice())
            .collect();
        let grid = AreaGrid::new(municipal.iter().copied(), (122.0, 20.0, 154.0, 46.0), 0.05);
        agree(
            &municipal,
            &grid,
            &points(3_000, (129.0, 31.0, 142.0, 43.0)),
        );
        // Densely around Tokyo Station, where four wards meet.
        agree(
            &municipal,
            &grid,
            &points(2_000, (139.74, 35.66, 139.80, 35.70)),
        );
    }
}
