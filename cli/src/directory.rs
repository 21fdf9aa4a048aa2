//! `mailpresence directory`: the company directory as the phone gets it —
//! asks the presence server (a Directory mail), waits for its People answer,
//! and prints the colleagues a query finds as JSON lines; `--kept` searches
//! what the phone already holds, without mail.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::CliError;
use crate::terminal::{Account, flush, open, runtime};

/// Find colleagues by name, reading (kana or romaji), extension or department.
#[derive(Debug, clap::Args)]
pub struct DirectoryArgs {
    /// What to look for (`やまだ`, `yamada`, `2301`); none lists everyone.
    query: Option<String>,
    /// Search the directory the phone keeps, sending nothing.
    #[arg(long)]
    kept: bool,
    /// Give up waiting for the server's answer after this many seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    #[command(flatten)]
    account: Account,
}

#[derive(Debug, Serialize)]
struct Summary {
    listed: usize,
    total: u32,
}

pub fn run(args: DirectoryArgs) -> Result<ExitCode, CliError> {
    let terminal = open(&args.account)?;
    let input = |e: mailpresence_core::error::Error| CliError::Input(e.to_string());
    if !args.kept {
        let before = terminal.directory().map_err(input)?.received_at;
        let rt = runtime()?;
        terminal
            .request_directory(args.query.clone())
            .map_err(input)?;
        flush(&terminal, &rt)?;
        let deadline = Instant::now()
            .checked_add(Duration::from_secs(args.timeout))
            .ok_or_else(|| CliError::Input(format!("--timeout {} is too long", args.timeout)))?;
        while terminal.directory().map_err(input)?.received_at == before {
            if Instant::now() >= deadline {
                eprintln!("no answer from the presence server yet; the request waits there");
                return Ok(ExitCode::from(1));
            }
            // One short IMAP session every two seconds: a login each, so not faster.
            std::thread::sleep(Duration::from_secs(2));
            rt.block_on(terminal.sync()).map_err(input)?;
        }
    }
    let found = terminal
        .search_directory(args.query.as_deref().unwrap_or_default())
        .map_err(input)?;
    for entry in &found {
        println!(
            "{}",
            serde_json::to_string(entry).map_err(|e| CliError::Input(e.to_string()))?
        );
    }
    let total = terminal.directory().map_err(input)?.total;
    eprintln!(
        "{}",
        serde_json::to_string(&Summary {
            listed: found.len(),
            total
        })
        .map_err(|e| CliError::Input(e.to_string()))?
    );
    Ok(ExitCode::SUCCESS)
}
