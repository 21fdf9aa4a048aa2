//! The map pack's polygons (outer ring, then holes, in (lon, lat) degrees)
//! as `geo` shapes, for point-in-polygon checks outside the hot path: the
//! map tool assigning places to borders, and tests holding the border grid
//! against plain geometry.

use geo::{Coord, LineString, MultiPolygon, Polygon};

/// A polygon as the pack stores it: outer ring, then holes.
pub type Rings = Vec<Vec<[f32; 2]>>;

/// The pack's polygons as one `geo` multipolygon (a polygon with no rings is left out).
pub fn multipolygon(polygons: &[Rings]) -> MultiPolygon<f64> {
    let ring = |r: &Vec<[f32; 2]>| {
        LineString::from(
            r.iter()
                .map(|p| Coord {
                    x: f64::from(p[0]),
                    y: f64::from(p[1]),
                })
                .collect::<Vec<_>>(),
        )
    };
    MultiPolygon::new(
        polygons
            .iter()
            .filter_map(|rings| {
                let (outer, holes) = rings.split_first()?;
                Some(Polygon::new(ring(outer), holes.iter().map(ring).collect()))
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use geo::{Contains, Point};

    use super::*;

    #[test]
    fn holes_stay_holes_and_empty_polygons_are_left_out() {
        let square = |a: f32, b: f32| vec![[a, a], [b, a], [b, b], [a, b], [a, a]];
        let shape = multipolygon(&[vec![square(0.0, 4.0), square(1.0, 3.0)], vec![]]);
        assert_eq!(shape.0.len(), 1);
        assert!(shape.contains(&Point::new(0.5, 0.5)));
        assert!(!shape.contains(&Point::new(2.0, 2.0)));
    }
}
