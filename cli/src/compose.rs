//! `mailpresence compose`: write a Publish, Subscribe or Notify mail.

use std::io::Write;
use std::process::ExitCode;

use chrono::{Local, Timelike};
use mailpresence_protocol::mail::{
    self, ComposeEnvelope, Notify, PresenceMessage, Publish, Subscribe, SubscribeMode,
};
use mailpresence_protocol::model::{
    AccountName, Activity, Coordinates, PresenceFields, ScheduleEntry, Timestamp, parse_timestamp,
};

use crate::CliError;

/// Print a presence mail (RFC 5322) on standard output, ready for `sendmail -t`.
#[derive(Debug, clap::Subcommand)]
pub enum Kind {
    /// A field worker's own presence, to the presence server.
    Publish {
        #[command(flatten)]
        address: Address,
        /// Account name of the person whose presence this is.
        #[arg(long)]
        publisher: String,
        #[command(flatten)]
        presence: PresenceArgs,
    },
    /// Ask the presence server for colleagues' presence.
    Subscribe {
        #[command(flatten)]
        address: Address,
        /// Account name of the person asking.
        #[arg(long)]
        watcher: String,
        /// Account name whose presence is wanted (repeat for several).
        #[arg(long, required = true)]
        notifier: Vec<String>,
        /// Where the Notify goes; the --from address when absent.
        #[arg(long)]
        send_to: Option<String>,
        /// `once` (answer once) or `watch` (every change until it expires).
        #[arg(long, default_value = "once", value_parser = ["once", "watch"])]
        mode: String,
        /// Seconds a watch should last.
        #[arg(long)]
        expires: Option<u32>,
    },
    /// The server's answer: someone's presence, to a watcher.
    Notify {
        #[command(flatten)]
        address: Address,
        /// Account name whose presence this is.
        #[arg(long)]
        notifier: String,
        /// Message-ID of the Subscribe this answers, `<id@domain>`.
        #[arg(long)]
        in_reply_to: Option<String>,
        #[command(flatten)]
        presence: PresenceArgs,
    },
}

#[derive(Debug, clap::Args)]
pub struct Address {
    /// Sender, `addr@example` or `名前 <addr@example>`.
    #[arg(long)]
    from: String,
    /// Recipient.
    #[arg(long)]
    to: String,
    /// Message-ID to use, `<id@domain>`; a fresh one when absent.
    #[arg(long)]
    message_id: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct PresenceArgs {
    /// How to reach the person (mail address, tel: or sip: URI); the --from address when absent.
    #[arg(long)]
    contact: Option<String>,
    /// `available`, `busy`, `away`, `meeting`, `on-the-phone`, `on-site`, `driving`,
    /// `break`, `vacation`, `offline`, optionally `TOKEN — text`; or free text.
    #[arg(long)]
    activity: String,
    /// Human-readable place, e.g. 東京都千代田区丸の内一丁目.
    #[arg(long)]
    location: Option<String>,
    /// A plan, `HH:MM[-HH:MM] text` or free text (repeat for several).
    #[arg(long)]
    schedule: Vec<String>,
    /// RFC 3339 time of the change; now when absent.
    #[arg(long, conflicts_with = "no_updated")]
    updated: Option<String>,
    /// Leave the Updated tag out.
    #[arg(long)]
    no_updated: bool,
    /// `lat,lon[;u=metres]`, only if the person chose to share them.
    #[arg(long)]
    coordinates: Option<String>,
}

pub fn run(kind: Kind) -> Result<ExitCode, CliError> {
    let (message, address, in_reply_to) = build(kind)?;
    let envelope = ComposeEnvelope {
        from: address.from,
        to: address.to,
        message_id: address.message_id,
        in_reply_to,
    };
    let bytes = mail::compose(&message, &envelope).map_err(|e| CliError::Input(e.to_string()))?;
    std::io::stdout()
        .write_all(&bytes)
        .map_err(|e| CliError::Input(format!("cannot write: {e}")))?;
    Ok(ExitCode::SUCCESS)
}

type Built = (PresenceMessage, Address, Option<String>);

fn build(kind: Kind) -> Result<Built, CliError> {
    Ok(match kind {
        Kind::Publish {
            address,
            publisher,
            presence,
        } => {
            let presence = presence.into_fields(&address.from)?;
            let publisher = account("--publisher", &publisher)?;
            (
                PresenceMessage::Publish(Publish {
                    publisher,
                    presence,
                }),
                address,
                None,
            )
        }
        Kind::Notify {
            address,
            notifier,
            in_reply_to,
            presence,
        } => {
            let presence = presence.into_fields(&address.from)?;
            let notifier = account("--notifier", &notifier)?;
            (
                PresenceMessage::Notify(Notify { notifier, presence }),
                address,
                in_reply_to,
            )
        }
        Kind::Subscribe {
            address,
            watcher,
            notifier,
            send_to,
            mode,
            expires,
        } => {
            let notifiers = notifier
                .iter()
                .map(|n| account("--notifier", n))
                .collect::<Result<_, _>>()?;
            let subscribe = Subscribe {
                watcher: account("--watcher", &watcher)?,
                notifiers,
                send_to: send_to.unwrap_or_else(|| bare_address(&address.from)),
                mode: if mode == "watch" {
                    SubscribeMode::Watch
                } else {
                    SubscribeMode::Once
                },
                expires,
            };
            (PresenceMessage::Subscribe(subscribe), address, None)
        }
    })
}

impl PresenceArgs {
    fn into_fields(self, from: &str) -> Result<PresenceFields, CliError> {
        let activity = Activity::parse(&self.activity).map_err(|e| bad("--activity", e))?;
        let contact = self.contact.unwrap_or_else(|| bare_address(from));
        let mut fields = PresenceFields::new(contact, activity);
        fields.location = self.location.filter(|l| !l.trim().is_empty());
        fields.schedule = self
            .schedule
            .iter()
            .map(|s| ScheduleEntry::parse(s))
            .collect();
        fields.updated = match (self.updated, self.no_updated) {
            (_, true) => None,
            (Some(u), _) => Some(parse_timestamp(&u).map_err(|e| bad("--updated", e))?),
            (None, false) => Some(now()),
        };
        fields.coordinates = self
            .coordinates
            .map(|c| {
                c.parse::<Coordinates>()
                    .map_err(|e| bad("--coordinates", e))
            })
            .transpose()?;
        Ok(fields)
    }
}

fn now() -> Timestamp {
    // Whole seconds: the Updated tag is for people and ordering, not benchmarks.
    let now = Local::now().fixed_offset();
    now.with_nanosecond(0).unwrap_or(now)
}

fn account(flag: &str, value: &str) -> Result<AccountName, CliError> {
    value.parse().map_err(|e| bad(flag, e))
}

fn bad(flag: &str, e: impl std::fmt::Display) -> CliError {
    CliError::Input(format!("{flag}: {e}"))
}

/// `名前 <addr@x>` → `addr@x`.
fn bare_address(mailbox: &str) -> String {
    match (mailbox.rfind('<'), mailbox.rfind('>')) {
        (Some(a), Some(b)) if a < b => mailbox[a + 1..b].trim().to_owned(),
        _ => mailbox.trim().to_owned(),
    }
}
