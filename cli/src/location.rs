//! `mailpresence geocode` and `mailpresence replay`: the phone's location code
//! from a terminal, on the map pack built into this binary.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use mailpresence_core::location::{
    Address, ChangePolicy, Granularity, OfflineGeocoder, PolicyConfig, read_track,
};
use mailpresence_protocol::summary::Lang;
use serde::Serialize;

use crate::{CliError, MAP_PACK, read_input};

fn geocoder(lang: &str) -> Result<OfflineGeocoder, CliError> {
    let lang = if lang == "en" { Lang::En } else { Lang::Ja };
    OfflineGeocoder::from_static(MAP_PACK)
        .map(|g| g.with_language(lang))
        .map_err(|e| CliError::Input(e.to_string()))
}

/// Print the address of each point as one JSON object per line:
/// `{"country":"JP","region":"京都府","city":"京都市","district":null,"display":"京都府京都市"}`.
/// Fields are null where unknown (all of them at sea). Exit 2 if a point was unreadable.
#[derive(Debug, clap::Args)]
pub struct GeocodeArgs {
    /// Points as `LAT,LON`; read one per line from standard input when none are given.
    points: Vec<String>,
    /// Language of the names: `ja` (Japanese names in Japan) or `en`.
    #[arg(long, default_value = "ja", value_parser = ["ja", "en"])]
    lang: String,
}

#[derive(Debug, Serialize)]
struct GeocodeLine {
    country: Option<String>,
    region: Option<String>,
    city: Option<String>,
    district: Option<String>,
    display: Option<String>,
}

impl From<Option<Address>> for GeocodeLine {
    fn from(a: Option<Address>) -> Self {
        match a {
            Some(a) => Self {
                country: a.country,
                region: a.region,
                city: a.city,
                district: a.district,
                display: Some(a.display),
            },
            None => Self {
                country: None,
                region: None,
                city: None,
                district: None,
                display: None,
            },
        }
    }
}

pub fn geocode(args: GeocodeArgs) -> Result<ExitCode, CliError> {
    let geocoder = geocoder(&args.lang)?;
    let points: Vec<String> = if args.points.is_empty() {
        std::io::stdin()
            .lock()
            .lines()
            .map_while(Result::ok)
            .filter(|l| !l.trim().is_empty())
            .collect()
    } else {
        args.points
    };
    let mut bad = 0;
    for (n, point) in points.iter().enumerate() {
        let parsed = point.split_once(',').and_then(|(a, b)| {
            Some((a.trim().parse::<f64>().ok()?, b.trim().parse::<f64>().ok()?))
        });
        let result = parsed.map(|(lat, lon)| geocoder.address(lat, lon));
        match result {
            Some(Ok(address)) => print_json(&GeocodeLine::from(address))?,
            Some(Err(e)) => {
                bad += 1;
                eprintln!("point {}: {e}", n + 1);
            }
            None => {
                bad += 1;
                eprintln!("point {}: {point:?} is not LAT,LON", n + 1);
            }
        }
    }
    Ok(if bad > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// Feed a recorded track through the change policy. With `--dry-run` it needs
/// no server: one JSON line per Publish it would send
/// (`{"time":…,"location":…}`), then `{"fixes":N,"publishes":M}`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// A GPX file or an NMEA 0183 log.
    file: PathBuf,
    /// Print what would be published instead of publishing.
    #[arg(long)]
    dry_run: bool,
    /// How precisely the location is shared.
    #[arg(long, default_value = "city", value_parser = ["off", "city", "district", "street"])]
    granularity: String,
    /// Language of the place names: `ja` or `en`.
    #[arg(long, default_value = "ja", value_parser = ["ja", "en"])]
    lang: String,
    /// Ignore fixes whose error is larger than this many metres.
    #[arg(long, default_value_t = PolicyConfig::default().max_error_m)]
    max_error: f64,
    /// A new address must hold for this many fixes in a row …
    #[arg(long, default_value_t = PolicyConfig::default().confirm_fixes)]
    confirm_fixes: u32,
    /// … and lie this many metres past the last point with the old address;
    #[arg(long, default_value_t = PolicyConfig::default().margin_m)]
    margin: f64,
    /// or hold for this many fixes, however near the border.
    #[arg(long, default_value_t = PolicyConfig::default().stable_fixes)]
    stable_fixes: u32,
    /// Seconds between two publishes at least.
    #[arg(long, default_value_t = PolicyConfig::default().min_interval_secs)]
    min_interval: i64,
    /// Without --dry-run: the account file; the policy settings then come from its [location].
    #[arg(long, short)]
    config: Option<PathBuf>,
    #[arg(long)]
    storage: Option<PathBuf>,
    /// Without --dry-run: milliseconds to wait between fixes.
    #[arg(long, default_value_t = 0)]
    pace_ms: u64,
}

#[derive(Debug, Serialize)]
struct ReplayLine<'a> {
    time: Option<String>,
    location: &'a str,
}

#[derive(Debug, Serialize)]
struct ReplayTotals {
    fixes: usize,
    publishes: usize,
}

/// Where a replay that publishes goes: the track, the pace, the account file
/// and the storage folder (`main` hands them to the terminal commands).
pub struct PublishingReplay {
    pub file: PathBuf,
    pub pace_ms: u64,
    pub config: PathBuf,
    pub storage: Option<PathBuf>,
}

impl ReplayArgs {
    /// `None` for `--dry-run`; otherwise what publishing needs, or why it cannot.
    pub fn publishing(&self) -> Result<Option<PublishingReplay>, CliError> {
        if self.dry_run {
            return Ok(None);
        }
        let Some(config) = self.config.clone() else {
            return Err(CliError::Input(
                "replay publishes through the presence server: give the account file with --config, or use --dry-run".into(),
            ));
        };
        Ok(Some(PublishingReplay {
            file: self.file.clone(),
            pace_ms: self.pace_ms,
            config,
            storage: self.storage.clone(),
        }))
    }
}

/// `--dry-run`: what the change policy would publish along the track.
pub fn replay(args: ReplayArgs) -> Result<ExitCode, CliError> {
    let bytes = read_input(Some(&args.file))?;
    let fixes =
        read_track(&bytes).map_err(|e| CliError::Input(format!("{}: {e}", args.file.display())))?;
    let geocoder = geocoder(&args.lang)?;
    let granularity = match args.granularity.as_str() {
        "off" => Granularity::Off,
        "district" => Granularity::District,
        "street" => Granularity::Street,
        _ => Granularity::City,
    };
    let mut policy = ChangePolicy::new(PolicyConfig {
        granularity,
        max_error_m: args.max_error,
        confirm_fixes: args.confirm_fixes,
        margin_m: args.margin,
        stable_fixes: args.stable_fixes,
        min_interval_secs: args.min_interval,
    });
    let mut publishes = 0;
    for fix in &fixes {
        if let Some(address) = policy
            .on_fix(fix, &geocoder)
            .map_err(|e| CliError::Input(e.to_string()))?
        {
            publishes += 1;
            print_json(&ReplayLine {
                time: fix.time.map(|t| t.to_rfc3339()),
                location: &address.display,
            })?;
        }
    }
    print_json(&ReplayTotals {
        fixes: fixes.len(),
        publishes,
    })?;
    Ok(ExitCode::SUCCESS)
}

fn print_json(value: &impl Serialize) -> Result<(), CliError> {
    let line = serde_json::to_string(value).map_err(|e| CliError::Input(e.to_string()))?;
    println!("{line}");
    Ok(())
}
