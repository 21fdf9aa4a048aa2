//! When a new position is worth a Publish (seed S330–S333): the address at the
//! user's chosen granularity must really have changed. Fixes with poor
//! accuracy are ignored; a new address must hold for several fixes while the
//! worker gets clearly across the border — `margin_m` past the last point that
//! still had the old address — or hold for long (someone standing just across
//! a border); so a worker walking along a boundary does not flap. Publishes
//! keep a minimum interval.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use geo::{Distance, Haversine, Point};

use super::geocoder::{Address, LocationError, ReverseGeocoder};
use super::track::Fix;

/// How precisely the location is shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, uniffi::Enum)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    /// Never shared.
    Off,
    /// Prefecture or state and city: in Japan the 市区町村 with the ward of a
    /// designated city (`京都府京都市左京区`), elsewhere the city or commune.
    #[default]
    City,
    /// Down to the district, where the data has one: in Japan the 大字・町丁目
    /// (`東京都千代田区丸の内一丁目`); elsewhere the same as `City`.
    District,
    /// The finest the map pack knows: the same as `District` (the data has no
    /// block numbers or streets).
    Street,
}

impl Granularity {
    fn level(self) -> Option<u8> {
        match self {
            Self::Off => None,
            Self::City => Some(2),
            Self::District | Self::Street => Some(3),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    pub granularity: Granularity,
    /// Fixes whose error is larger than this are ignored.
    pub max_error_m: f64,
    /// A new address counts once this many fixes in a row agree …
    pub confirm_fixes: u32,
    /// … and a fix lies this far past the last point with the old address;
    pub margin_m: f64,
    /// or once this many fixes in a row agree, however near the border.
    pub stable_fixes: u32,
    /// At least this long between two publishes.
    pub min_interval_secs: i64,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            granularity: Granularity::City,
            max_error_m: 100.0,
            confirm_fixes: 3,
            margin_m: 200.0,
            stable_fixes: 30,
            min_interval_secs: 120,
        }
    }
}

#[derive(Debug, Clone)]
struct Published {
    address: Address,
    time: Option<DateTime<Utc>>,
    /// The last fix that still had this address: where its border was crossed.
    last_seen: Point,
}

#[derive(Debug, Clone)]
struct Candidate {
    address: Address,
    fixes: u32,
}

/// The decision state for one phone.
#[derive(Debug, Clone)]
pub struct ChangePolicy {
    config: PolicyConfig,
    published: Option<Published>,
    candidate: Option<Candidate>,
}

impl ChangePolicy {
    pub fn new(config: PolicyConfig) -> Self {
        Self {
            config,
            published: None,
            candidate: None,
        }
    }

    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    /// Feeds one fix; returns the address to publish when one is due.
    pub fn on_fix(
        &mut self,
        fix: &Fix,
        geocoder: &dyn ReverseGeocoder,
    ) -> Result<Option<Address>, LocationError> {
        let Some(level) = self.config.granularity.level() else {
            return Ok(None);
        };
        if fix.accuracy_m.is_some_and(|e| e > self.config.max_error_m) {
            return Ok(None);
        }
        let Some(address) = geocoder.reverse(&fix.point())?.map(|a| a.down_to(level)) else {
            return Ok(None);
        };
        Ok(self.consider(address, fix))
    }

    fn consider(&mut self, address: Address, fix: &Fix) -> Option<Address> {
        let here = fix.point();
        let Some(last) = &mut self.published else {
            return Some(self.publish(address, here, fix.time));
        };
        if last.address.display == address.display {
            last.last_seen = here;
            self.candidate = None;
            return None;
        }
        let fixes = match &self.candidate {
            Some(c) if c.address.display == address.display => c.fixes + 1,
            _ => 1,
        };
        self.candidate = Some(Candidate {
            address: address.clone(),
            fixes,
        });
        // Great-circle metres: plenty for a margin of tens of metres.
        let across = Haversine.distance(last.last_seen, here) >= self.config.margin_m;
        let settled =
            (fixes >= self.config.confirm_fixes && across) || fixes >= self.config.stable_fixes;
        let rested = match (last.time, fix.time) {
            (Some(then), Some(now)) => {
                now - then >= Duration::seconds(self.config.min_interval_secs)
            }
            _ => true,
        };
        (settled && rested).then(|| self.publish(address, here, fix.time))
    }

    fn publish(&mut self, address: Address, at: Point, time: Option<DateTime<Utc>>) -> Address {
        self.candidate = None;
        self.published = Some(Published {
            address: address.clone(),
            time,
            last_seen: at,
        });
        address
    }
}
