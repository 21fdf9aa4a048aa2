//! Just enough TopoJSON to read Natural Earth borders: quantized,
//! delta-encoded arcs stitched into polygon rings (`~i` is arc i reversed).

use std::collections::HashMap;

use mailpresence_core::location::pack::Area;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Topology {
    arcs: Vec<Vec<Vec<f64>>>,
    transform: Option<Transform>,
    objects: HashMap<String, Collection>,
}

#[derive(Debug, Deserialize)]
struct Transform {
    scale: [f64; 2],
    translate: [f64; 2],
}

#[derive(Debug, Deserialize)]
struct Collection {
    geometries: Vec<Geometry>,
}

#[derive(Debug, Deserialize)]
struct Geometry {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    arcs: serde_json::Value,
    #[serde(default)]
    properties: Option<Properties>,
}

#[derive(Debug, Default, Deserialize)]
struct Properties {
    name: Option<String>,
}

/// The polygons of every geometry of `object`, with the geometry's name.
pub fn areas(json: &str, object: &str) -> Result<Vec<(Area, String)>, String> {
    let topo: Topology = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let arcs = decode_arcs(&topo);
    let collection = topo
        .objects
        .get(object)
        .ok_or_else(|| format!("no object {object:?}"))?;
    let mut out = Vec::new();
    for g in &collection.geometries {
        let polygons: Vec<Vec<Vec<i64>>> = match g.kind.as_deref() {
            Some("Polygon") => {
                vec![serde_json::from_value(g.arcs.clone()).map_err(|e| e.to_string())?]
            }
            Some("MultiPolygon") => {
                serde_json::from_value(g.arcs.clone()).map_err(|e| e.to_string())?
            }
            _ => continue,
        };
        let polygons = polygons
            .iter()
            .map(|rings| rings.iter().map(|ring| stitch(&arcs, ring)).collect())
            .collect();
        let name = g
            .properties
            .as_ref()
            .and_then(|p| p.name.clone())
            .unwrap_or_default();
        out.push((
            Area {
                country: String::new(),
                name: 0,
                polygons,
            },
            name,
        ));
    }
    Ok(out)
}

/// Arcs in degrees: deltas summed, then scaled and translated.
fn decode_arcs(topo: &Topology) -> Vec<Vec<[f32; 2]>> {
    topo.arcs
        .iter()
        .map(|arc| {
            let (mut x, mut y) = (0.0, 0.0);
            arc.iter()
                .filter(|p| p.len() >= 2)
                .map(|p| match &topo.transform {
                    Some(t) => {
                        x += p[0];
                        y += p[1];
                        [
                            (x * t.scale[0] + t.translate[0]) as f32,
                            (y * t.scale[1] + t.translate[1]) as f32,
                        ]
                    }
                    None => [p[0] as f32, p[1] as f32],
                })
                .collect()
        })
        .collect()
}

fn stitch(arcs: &[Vec<[f32; 2]>], indices: &[i64]) -> Vec<[f32; 2]> {
    let mut ring: Vec<[f32; 2]> = Vec::new();
    for &i in indices {
        let (index, reversed) = if i >= 0 {
            (i as usize, false)
        } else {
            ((!i) as usize, true)
        };
        let Some(arc) = arcs.get(index) else { continue };
        let points: Box<dyn Iterator<Item = &[f32; 2]>> = if reversed {
            Box::new(arc.iter().rev())
        } else {
            Box::new(arc.iter())
        };
        // Consecutive arcs share their meeting point.
        let skip = usize::from(!ring.is_empty());
        ring.extend(points.skip(skip));
    }
    ring
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_square_from_two_arcs_one_reversed() {
        let json = r#"{"type":"Topology","transform":{"scale":[1,1],"translate":[10,20]},
            "arcs":[[[0,0],[1,0],[0,1]],[[0,0],[0,1],[1,0]]],
            "objects":{"x":{"type":"GeometryCollection","geometries":[{"type":"Polygon","arcs":[[0,-2]],"properties":{"name":"Sq"}}]}}}"#;
        let got = areas(json, "x").unwrap();
        assert_eq!(got[0].1, "Sq");
        assert_eq!(
            got[0].0.polygons[0][0],
            vec![
                [10.0, 20.0],
                [11.0, 20.0],
                [11.0, 21.0],
                [10.0, 21.0],
                [10.0, 20.0]
            ]
        );
    }
}
