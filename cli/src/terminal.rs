//! The phone's core from a terminal: the same `Terminal` the apps use, with a
//! TOML account file. How a person tries the phone without a phone.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailpresence_core::location::read_track;
use mailpresence_core::terminal::{Colleague, Event, Terminal, TerminalConfig};
use mailpresence_protocol::mail::SubscribeMode;
use mailpresence_protocol::model::{Activity, PresenceFields, ScheduleEntry};
use mailpresence_protocol::transport::oauth::{FileTokenStore, RefreshTokenStore};
use serde::Serialize;
use tokio::sync::watch;

use crate::{CliError, read_input};

#[derive(Debug, clap::Args)]
pub struct Account {
    /// The account file (TOML): account, mail, presence_server, authserv_id (the company mail
    /// system's; without it no Notify is believed), [imap], [smtp], [location], and [oauth]
    /// to sign in with Microsoft 365 / Google Workspace instead of passwords (`sign-in`).
    #[arg(long, short, env = "MAILPRESENCE_TERMINAL")]
    config: PathBuf,
    /// Where the phone's state is kept; beside the account file when absent.
    #[arg(long)]
    storage: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Status {
    /// Set the own activity and publish it: a token (`meeting`), `TOKEN — text`, or free text.
    Set {
        activity: String,
        #[command(flatten)]
        account: Account,
    },
    /// Show the own record and how many mails wait to be sent.
    Show {
        #[command(flatten)]
        account: Account,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum Schedule {
    /// Add a plan (`15:00 帰社予定`, `13:00-14:00 会議`) and publish.
    Add {
        entry: String,
        #[command(flatten)]
        account: Account,
    },
    /// Remove every plan and publish.
    Clear {
        #[command(flatten)]
        account: Account,
    },
}

/// Ask for colleagues' presence once and print each answer as a JSON line.
#[derive(Debug, clap::Args)]
pub struct LookupArgs {
    #[arg(required = true)]
    names: Vec<String>,
    /// Give up waiting for answers after this many seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    #[command(flatten)]
    account: Account,
}

/// Watch colleagues: print every change as a JSON line until the time is up
/// (or Ctrl-C); the watch is ended on the server when this stops.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    #[arg(required = true)]
    names: Vec<String>,
    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long = "for")]
    duration: Option<u64>,
    /// Stop after this many changes have been printed.
    #[arg(long)]
    count: Option<usize>,
    #[command(flatten)]
    account: Account,
}

/// Publish a recorded track through the change policy against the server
/// (without `--dry-run`).
#[derive(Debug, clap::Args)]
pub struct PublishReplay {
    pub file: PathBuf,
    /// Wait this many milliseconds between fixes (to watch it happen).
    #[arg(long, default_value_t = 0)]
    pub pace_ms: u64,
    #[command(flatten)]
    pub account: Account,
}

impl Account {
    pub fn new(config: PathBuf, storage: Option<PathBuf>) -> Self {
        Self { config, storage }
    }

    pub fn file(&self) -> &std::path::Path {
        &self.config
    }

    /// The account file, read.
    pub fn read(&self) -> Result<TerminalConfig, CliError> {
        let text = String::from_utf8(read_input(Some(&self.config))?)
            .map_err(|_| CliError::Input(format!("{} is not UTF-8", self.config.display())))?;
        toml::from_str(&text)
            .map_err(|e| CliError::Input(format!("{}: {e}", self.config.display())))
    }

    /// The phone's state folder: `--storage`, or `<account>.state` beside
    /// the account file.
    fn storage(&self, config: &TerminalConfig) -> PathBuf {
        self.storage.clone().unwrap_or_else(|| {
            let dir = self.config.parent().map(PathBuf::from).unwrap_or_default();
            dir.join(format!("{}.state", config.account))
        })
    }

    /// Where `sign-in` keeps the refresh token: beside the state folder
    /// (`<account>.refresh-token`), owner-only.
    pub fn refresh_tokens(&self, config: &TerminalConfig) -> FileTokenStore {
        FileTokenStore::new(self.storage(config).with_extension("refresh-token"))
    }
}

pub fn open(account: &Account) -> Result<Arc<Terminal>, CliError> {
    let config = account.read()?;
    let storage = account.storage(&config);
    let signed_in = config
        .oauth
        .is_some()
        .then(|| Arc::new(account.refresh_tokens(&config)) as Arc<dyn RefreshTokenStore>);
    Terminal::open_signed_in(config, &storage, Some(crate::MAP_PACK), signed_in)
        .map_err(|e| CliError::Input(e.to_string()))
}

pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Input(e.to_string()))
}

/// Sends what is queued; the mails stay queued (and say so) when it fails.
pub fn flush(terminal: &Terminal, rt: &tokio::runtime::Runtime) -> Result<(), CliError> {
    rt.block_on(terminal.flush()).map(|_| ()).map_err(|e| {
        CliError::Input(format!(
            "{e} (kept in the outbox: {} mail(s))",
            terminal.outbox_depth().unwrap_or(0)
        ))
    })
}

#[derive(Debug, Serialize)]
struct Own<'a> {
    account: &'a str,
    #[serde(flatten)]
    fields: &'a PresenceFields,
    outbox: u32,
}

fn print_own(terminal: &Terminal) -> Result<(), CliError> {
    let fields = terminal.own().map_err(|e| CliError::Input(e.to_string()))?;
    let own = Own {
        account: &terminal.config().account,
        fields: &fields,
        outbox: terminal.outbox_depth().unwrap_or(0),
    };
    println!(
        "{}",
        serde_json::to_string(&own).map_err(|e| CliError::Input(e.to_string()))?
    );
    Ok(())
}

pub fn status(cmd: Status) -> Result<ExitCode, CliError> {
    match cmd {
        Status::Set { activity, account } => {
            let terminal = open(&account)?;
            let activity = Activity::parse(&activity)
                .map_err(|e| CliError::Input(format!("activity: {e}")))?;
            terminal
                .set_status(activity)
                .map_err(|e| CliError::Input(e.to_string()))?;
            flush(&terminal, &runtime()?)?;
            print_own(&terminal)?;
        }
        Status::Show { account } => print_own(&*open(&account)?)?,
    }
    Ok(ExitCode::SUCCESS)
}

pub fn schedule(cmd: Schedule) -> Result<ExitCode, CliError> {
    let (terminal, result) = match cmd {
        Schedule::Add { entry, account } => {
            let t = open(&account)?;
            let r = t.add_schedule(ScheduleEntry::parse(&entry));
            (t, r)
        }
        Schedule::Clear { account } => {
            let t = open(&account)?;
            let r = t.clear_schedule();
            (t, r)
        }
    };
    result.map_err(|e| CliError::Input(e.to_string()))?;
    flush(&terminal, &runtime()?)?;
    print_own(&terminal)?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Serialize)]
struct ColleagueLine<'a> {
    account: &'a str,
    #[serde(flatten)]
    fields: &'a PresenceFields,
    summary: String,
}

fn print_colleague(c: &Colleague, terminal: &Terminal) {
    let line = ColleagueLine {
        account: &c.account,
        fields: &c.fields,
        summary: mailpresence_protocol::summary::summary_line(
            &c.fields,
            terminal.config().language,
        ),
    };
    if let Ok(json) = serde_json::to_string(&line) {
        println!("{json}");
    }
}

pub fn lookup(args: LookupArgs) -> Result<ExitCode, CliError> {
    let terminal = open(&args.account)?;
    let rt = runtime()?;
    terminal
        .subscribe(&args.names, SubscribeMode::Once, None)
        .map_err(|e| CliError::Input(e.to_string()))?;
    flush(&terminal, &rt)?;
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let mut answered = Vec::new();
    while answered.len() < args.names.len() && Instant::now() < deadline {
        let changed = rt
            .block_on(terminal.sync())
            .map_err(|e| CliError::Input(e.to_string()))?;
        if changed == 0 {
            std::thread::sleep(Duration::from_millis(500));
            continue;
        }
        for c in terminal
            .colleagues()
            .map_err(|e| CliError::Input(e.to_string()))?
        {
            if args.names.contains(&c.account) && !answered.contains(&c.account) {
                print_colleague(&c, &terminal);
                answered.push(c.account.clone());
            }
        }
    }
    if answered.len() < args.names.len() {
        eprintln!(
            "no answer yet for some colleagues; the request waits on the server (it is answered when they publish)"
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn watch(args: WatchArgs) -> Result<ExitCode, CliError> {
    let terminal = open(&args.account)?;
    let rt = runtime()?;
    terminal
        .subscribe(&args.names, SubscribeMode::Watch, None)
        .map_err(|e| CliError::Input(e.to_string()))?;
    flush(&terminal, &rt)?;
    let mut events = terminal.events();
    let (stop, shutdown) = watch::channel(false);
    let loops = rt.spawn(terminal.clone().run(shutdown));
    let deadline = args
        .duration
        .map(|s| Instant::now() + Duration::from_secs(s));
    let mut printed = 0;
    rt.block_on(async {
        loop {
            let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let next = async {
                match remaining {
                    Some(r) => tokio::time::timeout(r, events.recv()).await.ok(),
                    None => Some(events.recv().await),
                }
            };
            tokio::select! {
                event = next => match event {
                    Some(Ok(Event::Colleague(c))) if args.names.contains(&c.account) => {
                        print_colleague(&c, &terminal);
                        printed += 1;
                        if args.count.is_some_and(|n| printed >= n) { break; }
                    }
                    Some(Ok(Event::Connection(state))) => eprintln!("connection: {state:?}"),
                    Some(_) => {}
                    None => break,
                },
                _ = tokio::signal::ctrl_c() => break,
            }
        }
    });
    // Stopping the watch ends it on the server too (a watch that expires now).
    let _ = terminal.subscribe(&args.names, SubscribeMode::Watch, Some(0));
    stop.send_replace(true);
    let _ = rt.block_on(loops);
    let _ = rt.block_on(terminal.flush());
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Serialize)]
struct Published<'a> {
    time: Option<String>,
    location: &'a str,
}

pub fn replay(args: PublishReplay) -> Result<ExitCode, CliError> {
    let terminal = open(&args.account)?;
    // Replaying a track is the choice to share it, unless sharing was
    // chosen (or turned off) before.
    terminal
        .share_unless_chosen()
        .map_err(|e| CliError::Input(e.to_string()))?;
    let rt = runtime()?;
    let bytes = read_input(Some(&args.file))?;
    let fixes =
        read_track(&bytes).map_err(|e| CliError::Input(format!("{}: {e}", args.file.display())))?;
    let mut publishes = 0;
    for fix in &fixes {
        if let Some(location) = terminal
            .on_fix(fix)
            .map_err(|e| CliError::Input(e.to_string()))?
        {
            publishes += 1;
            flush(&terminal, &rt)?;
            let line = Published {
                time: fix.time.map(|t| t.to_rfc3339()),
                location: &location,
            };
            println!(
                "{}",
                serde_json::to_string(&line).map_err(|e| CliError::Input(e.to_string()))?
            );
        }
        if args.pace_ms > 0 {
            std::thread::sleep(Duration::from_millis(args.pace_ms));
        }
    }
    println!(
        "{}",
        serde_json::json!({"fixes": fixes.len(), "publishes": publishes})
    );
    Ok(ExitCode::SUCCESS)
}
