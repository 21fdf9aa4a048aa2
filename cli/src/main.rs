//! `mailpresence`: the presence system from a terminal. Reads and writes
//! presence mails and PIDF documents with the same code the phone and the
//! server use.

mod compose;
mod directory;
mod enrol;
mod location;
mod parse;
mod pidf;
mod settings;
mod sign_in;
mod terminal;

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "mailpresence",
    version,
    about = "MailPresence: presence over e-mail and SIP, from a terminal"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Parse(parse::Args),
    #[command(subcommand)]
    Compose(compose::Kind),
    #[command(subcommand)]
    Pidf(pidf::Command),
    Geocode(location::GeocodeArgs),
    Replay(location::ReplayArgs),
    /// The own status (the phone's side).
    #[command(subcommand)]
    Status(terminal::Status),
    /// The own schedule.
    #[command(subcommand)]
    Schedule(terminal::Schedule),
    Lookup(terminal::LookupArgs),
    Watch(terminal::WatchArgs),
    /// Find colleagues in the company directory the presence server sends.
    Directory(directory::DirectoryArgs),
    /// Read an enrolment code: what it asks to trust, and the account file.
    Enroll(enrol::EnrollArgs),
    /// Sign in with the company's provider (`[oauth]`: Microsoft 365,
    /// Google Workspace) by a device code, instead of a password.
    SignIn(sign_in::SignInArgs),
    SignOut(sign_in::SignOutArgs),
    /// Find the mail settings (IMAP, SMTP, sign-in) from an address alone.
    Settings(settings::SettingsArgs),
}

/// Failures of the command itself (not of the mail it reads).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Input(String),
}

/// The map pack shipped with the apps, built into the command (geocoding and
/// the phone commands use it).
pub const MAP_PACK: &[u8] = include_bytes!("../../assets/mappack.bin");

/// Exit status for a failure of the command itself (file missing, bad JSON, …).
pub const EXIT_USAGE: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Parse(args) => parse::run(args),
        Command::Compose(kind) => compose::run(kind),
        Command::Pidf(cmd) => pidf::run(cmd),
        Command::Geocode(args) => location::geocode(args),
        Command::Replay(args) => match args.publishing() {
            Ok(None) => location::replay(args),
            Ok(Some(p)) => terminal::replay(terminal::PublishReplay {
                file: p.file,
                pace_ms: p.pace_ms,
                account: terminal::Account::new(p.config, p.storage),
            }),
            Err(e) => Err(e),
        },
        Command::Status(cmd) => terminal::status(cmd),
        Command::Schedule(cmd) => terminal::schedule(cmd),
        Command::Lookup(args) => terminal::lookup(args),
        Command::Watch(args) => terminal::watch(args),
        Command::Directory(args) => directory::run(args),
        Command::Enroll(args) => enrol::run(args),
        Command::SignIn(args) => sign_in::sign_in(args),
        Command::SignOut(args) => sign_in::sign_out_command(args),
        Command::Settings(args) => settings::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mailpresence: {e}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// The bytes of FILE, or of standard input when FILE is absent or `-`.
pub fn read_input(file: Option<&PathBuf>) -> Result<Vec<u8>, CliError> {
    let mut buf = Vec::new();
    match file {
        Some(path) if path.as_os_str() != "-" => {
            buf = std::fs::read(path).map_err(|source| CliError::Read {
                path: path.display().to_string(),
                source,
            })?;
        }
        _ => {
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|source| CliError::Read {
                    path: "standard input".into(),
                    source,
                })?;
        }
    }
    Ok(buf)
}
