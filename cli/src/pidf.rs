//! `mailpresence pidf`: convert between presence JSON and PIDF.

use std::path::PathBuf;
use std::process::ExitCode;

use mailpresence_protocol::mail::PresenceMessage;
use mailpresence_protocol::model::{AccountName, PresenceFields};
use mailpresence_protocol::pidf;
use mailpresence_protocol::summary::Lang;
use serde::{Deserialize, Serialize};

use crate::{CliError, read_input};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Presence JSON (as `parse` prints for a Publish or Notify) → PIDF XML.
    Encode {
        /// The JSON file; standard input when absent or `-`.
        file: Option<PathBuf>,
        /// SIP domain of the entity URI.
        #[arg(long, default_value = "example.co.jp")]
        domain: String,
        /// Language of the summary `<note>`: `ja` or `en`.
        #[arg(long, default_value = "ja", value_parser = ["ja", "en"])]
        lang: String,
    },
    /// PIDF XML → presence JSON (`entity`, `account` and the fields).
    /// Exit 2 when the document cannot be read.
    Decode {
        /// The PIDF file; standard input when absent or `-`.
        file: Option<PathBuf>,
    },
}

#[derive(Debug, Serialize, Deserialize)]
struct EntityPresence {
    entity: String,
    account: Option<AccountName>,
    #[serde(flatten)]
    fields: PresenceFields,
}

pub fn run(cmd: Command) -> Result<ExitCode, CliError> {
    match cmd {
        Command::Encode { file, domain, lang } => {
            let json = read_input(file.as_ref())?;
            let (account, fields) = presence_from_json(&json)?;
            let lang = if lang == "en" { Lang::En } else { Lang::Ja };
            println!(
                "{}",
                pidf::encode(&pidf::entity_for(&account, &domain), &fields, lang)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Decode { file } => {
            let xml = read_input(file.as_ref())?;
            match pidf::decode(&xml) {
                Ok(p) => {
                    let out = EntityPresence {
                        account: p.account(),
                        entity: p.entity,
                        fields: p.fields,
                    };
                    let json =
                        serde_json::to_string(&out).map_err(|e| CliError::Input(e.to_string()))?;
                    println!("{json}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("malformed PIDF: {e}");
                    Ok(ExitCode::from(2))
                }
            }
        }
    }
}

/// Accepts `parse`'s output for a Publish or Notify.
fn presence_from_json(json: &[u8]) -> Result<(AccountName, PresenceFields), CliError> {
    let message: PresenceMessage = serde_json::from_slice(json)
        .map_err(|e| CliError::Input(format!("not a Publish or Notify JSON object: {e}")))?;
    match message {
        PresenceMessage::Publish(p) => Ok((p.publisher, p.presence)),
        PresenceMessage::Notify(n) => Ok((n.notifier, n.presence)),
        other => Err(CliError::Input(format!(
            "a {} carries no presence",
            other.kind()
        ))),
    }
}
