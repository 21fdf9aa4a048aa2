//! `mailpresence parse`: one mail in, one JSON object out.

use std::path::PathBuf;
use std::process::ExitCode;

use mailpresence_protocol::mail::{self, Limits, Outcome};

use crate::{CliError, read_input};

/// Read one RFC 5322 mail and print what it says as one JSON object.
///
/// Exit status: 0 a presence mail (JSON on stdout); 1 not a presence mail, or
/// refused (one line on stderr says which and why); 2 malformed (one line names
/// the tag or part at fault); 3 the file could not be read.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The mail file; standard input when absent or `-`.
    file: Option<PathBuf>,
    /// Print the JSON indented.
    #[arg(long)]
    pretty: bool,
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let raw = read_input(args.file.as_ref())?;
    let parsed = mail::parse(&raw, Limits::default());
    Ok(match parsed.outcome {
        Outcome::Presence(message) => {
            let json = if args.pretty {
                serde_json::to_string_pretty(&message)
            } else {
                serde_json::to_string(&message)
            }
            .map_err(|e| CliError::Input(e.to_string()))?;
            println!("{json}");
            ExitCode::SUCCESS
        }
        Outcome::NotPresence(why) => {
            eprintln!("not a presence mail: {why}");
            ExitCode::from(1)
        }
        Outcome::Refused(why) => {
            eprintln!("refused: {why}");
            ExitCode::from(1)
        }
        Outcome::Malformed(why) => {
            eprintln!("malformed: {why}");
            ExitCode::from(2)
        }
    })
}
