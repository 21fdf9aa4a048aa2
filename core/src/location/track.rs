//! Recorded GPS: GPX track points or NMEA 0183 sentences (RMC for position and
//! time, GGA for the dilution of precision) as a list of fixes.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use geo::Point;
use quick_xml::events::Event;
use quick_xml::reader::Reader;

/// Metres of horizontal error per unit of HDOP (a typical receiver's UERE).
const METRES_PER_HDOP: f64 = 5.0;

/// One position from the receiver.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fix {
    pub time: Option<DateTime<Utc>>,
    pub lat: f64,
    pub lon: f64,
    /// Estimated horizontal error in metres, when the receiver says.
    pub accuracy_m: Option<f64>,
}

impl Fix {
    /// Where, as geo's point (x = longitude, y = latitude).
    pub fn point(&self) -> Point {
        Point::new(self.lon, self.lat)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrackError {
    #[error("GPX: {0}")]
    Gpx(String),
    #[error("neither GPX nor NMEA")]
    Unknown,
}

/// Reads a GPX file or an NMEA log, told apart by their first character.
pub fn read_track(bytes: &[u8]) -> Result<Vec<Fix>, TrackError> {
    let text = String::from_utf8_lossy(bytes);
    let body = text.trim_start_matches('\u{feff}').trim_start();
    if body.starts_with('<') {
        read_gpx(body)
    } else if body.lines().any(|l| l.starts_with('$')) {
        Ok(read_nmea(body))
    } else {
        Err(TrackError::Unknown)
    }
}

fn read_gpx(text: &str) -> Result<Vec<Fix>, TrackError> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut fixes = Vec::new();
    let mut current: Option<Fix> = None;
    let mut field: Option<Vec<u8>> = None;
    loop {
        match reader
            .read_event()
            .map_err(|e| TrackError::Gpx(e.to_string()))?
        {
            Event::Start(e) | Event::Empty(e)
                if matches!(e.local_name().as_ref(), b"trkpt" | b"rtept") =>
            {
                // A self-closing point has no End event: it is complete now.
                fixes.extend(current.take());
                let mut lat = None;
                let mut lon = None;
                for a in e.attributes().flatten() {
                    let value = a
                        .unescape_value()
                        .ok()
                        .and_then(|v| v.trim().parse::<f64>().ok());
                    match a.key.local_name().as_ref() {
                        b"lat" => lat = value,
                        b"lon" => lon = value,
                        _ => {}
                    }
                }
                if let (Some(lat), Some(lon)) = (lat, lon) {
                    current = Some(Fix {
                        time: None,
                        lat,
                        lon,
                        accuracy_m: None,
                    });
                }
            }
            Event::Start(e) => field = Some(e.local_name().as_ref().to_vec()),
            Event::Text(t) => {
                if let (Some(fix), Some(name)) = (current.as_mut(), field.as_deref()) {
                    let value = t.xml_content().unwrap_or_default();
                    match name {
                        b"time" => {
                            fix.time = DateTime::parse_from_rfc3339(value.trim())
                                .ok()
                                .map(|t| t.with_timezone(&Utc))
                        }
                        b"hdop" => {
                            fix.accuracy_m = value
                                .trim()
                                .parse::<f64>()
                                .ok()
                                .map(|h| h * METRES_PER_HDOP)
                        }
                        _ => {}
                    }
                }
            }
            Event::End(e) => {
                if matches!(e.local_name().as_ref(), b"trkpt" | b"rtept") {
                    fixes.extend(current.take());
                }
                field = None;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    fixes.extend(current.take());
    Ok(fixes.into_iter().filter(|f| valid(f.lat, f.lon)).collect())
}

fn valid(lat: f64, lon: f64) -> bool {
    lat.is_finite()
        && lon.is_finite()
        && (-90.0..=90.0).contains(&lat)
        && (-180.0..=180.0).contains(&lon)
}

/// RMC sentences with a valid fix become fixes; the latest GGA's HDOP gives
/// their accuracy. Sentences with a wrong checksum are skipped.
fn read_nmea(text: &str) -> Vec<Fix> {
    let mut fixes = Vec::new();
    let mut hdop: Option<f64> = None;
    for line in text.lines().map(str::trim).filter(|l| l.starts_with('$')) {
        let Some(body) = checked(line) else { continue };
        let f: Vec<&str> = body.split(',').collect();
        let kind = f
            .first()
            .map(|k| k.get(2..).unwrap_or_default())
            .unwrap_or_default();
        match kind {
            "GGA" if f.len() > 8 => {
                let quality = f[6].parse::<u8>().unwrap_or(0);
                hdop = (quality > 0).then(|| f[8].parse().ok()).flatten();
            }
            "RMC" if f.len() > 9 && f[2] == "A" => {
                let (Some(lat), Some(lon)) = (degrees(f[3], f[4]), degrees(f[5], f[6])) else {
                    continue;
                };
                if valid(lat, lon) {
                    fixes.push(Fix {
                        time: rmc_time(f[1], f[9]),
                        lat,
                        lon,
                        accuracy_m: hdop.map(|h| h * METRES_PER_HDOP),
                    });
                }
            }
            _ => {}
        }
    }
    fixes
}

/// The sentence between `$` and `*` when its checksum matches.
fn checked(line: &str) -> Option<&str> {
    let (body, sum) = line.strip_prefix('$')?.split_once('*')?;
    let want = u8::from_str_radix(sum.get(..2)?, 16).ok()?;
    (body.bytes().fold(0u8, |a, b| a ^ b) == want).then_some(body)
}

/// `ddmm.mmmm` (or `dddmm.mmmm`) and a hemisphere → signed degrees.
fn degrees(value: &str, hemisphere: &str) -> Option<f64> {
    let dot = value.find('.').unwrap_or(value.len());
    let deg_len = dot.checked_sub(2)?;
    let deg: f64 = value.get(..deg_len)?.parse().ok()?;
    let min: f64 = value.get(deg_len..)?.parse().ok()?;
    let v = deg + min / 60.0;
    match hemisphere {
        "N" | "E" => Some(v),
        "S" | "W" => Some(-v),
        _ => None,
    }
}

fn rmc_time(hhmmss: &str, ddmmyy: &str) -> Option<DateTime<Utc>> {
    let time = NaiveTime::parse_from_str(hhmmss.get(..6)?, "%H%M%S").ok()?;
    let day: u32 = ddmmyy.get(0..2)?.parse().ok()?;
    let month: u32 = ddmmyy.get(2..4)?.parse().ok()?;
    let year: i32 = ddmmyy.get(4..6)?.parse::<i32>().ok()? + 2000;
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    Utc.from_local_datetime(&date.and_time(time)).single()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nmea_rmc_with_checksum_and_gga_accuracy() {
        let log = "$GPGGA,045849.000,3519.9048,N,13640.2631,E,1,05,1.8,33.3,M,36.4,M,,0000*6B\n\
                   $GPRMC,045849.000,A,3519.9048,N,13640.2631,E,0.10,92.17,270705,,*31\n\
                   $GPRMC,045850.000,A,3519.9048,N,13640.2631,E,0.10,92.17,270705,,*00\n";
        let fixes = read_nmea(log);
        assert_eq!(fixes.len(), 1, "the second RMC has a wrong checksum");
        assert!(
            (fixes[0].lat - 35.33175).abs() < 1e-5 && (fixes[0].lon - 136.671052).abs() < 1e-5,
            "{:?}",
            fixes[0]
        );
        assert_eq!(
            fixes[0].time.map(|t| t.to_rfc3339()).as_deref(),
            Some("2005-07-27T04:58:49+00:00")
        );
        assert_eq!(fixes[0].accuracy_m, Some(9.0));
    }

    #[test]
    fn gpx_points_with_time() {
        let gpx = r#"<?xml version="1.0"?><gpx><trk><trkseg><trkpt lat="45.27" lon="13.71"><time>2020-12-18T06:15:50Z</time><hdop>2</hdop></trkpt><trkpt lat="45.28" lon="13.72"/></trkseg></trk></gpx>"#;
        let fixes = read_track(gpx.as_bytes()).unwrap();
        assert_eq!(fixes.len(), 2);
        assert_eq!(fixes[0].accuracy_m, Some(10.0));
        assert!(fixes[0].time.is_some() && fixes[1].time.is_none());
        assert!(read_track(b"hello").is_err());
    }
}
