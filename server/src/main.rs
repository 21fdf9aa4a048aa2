//! `mailpresence-server`: runs the presence server, checks a configuration,
//! prints the status of a running one, backs up and restores its database,
//! or makes a phone's enrolment code (`enroll ACCOUNT`).

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use mailpresence_server::config::{Config, LogFormat};
use mailpresence_server::directory::Directory;
use mailpresence_server::directory::refresh::{self, DirectoryKeeper};
use mailpresence_server::engine::Engine;
use mailpresence_server::hub::Hub;
use mailpresence_server::mail;
use mailpresence_server::status;
use mailpresence_server::store::sqlite::backup::{self, StorageLock};
use mailpresence_server::store::{Database, StorePlace};
use mailpresence_server::supervisor::{Loops, supervise};
use mailpresence_server::{admin, enrolment};
use tokio::sync::watch;
use tracing::{error, info, warn};

#[derive(Debug, Parser)]
#[command(
    name = "mailpresence-server",
    version,
    about = "MailPresence presence server: presence over e-mail and SIP"
)]
struct Cli {
    /// The configuration file.
    #[arg(long, short, default_value = "/etc/mailpresence/server.toml")]
    config: PathBuf,
    /// Validate FILE, explain every mistake, and exit (0 valid, 1 not).
    #[arg(long, value_name = "FILE", conflicts_with = "status")]
    check_config: Option<PathBuf>,
    /// Print the counts of the server's database as JSON and exit.
    #[arg(long, conflicts_with_all = ["backup", "restore"])]
    status: bool,
    /// Copy the database to FILE (safe while the server runs) and exit.
    #[arg(long, value_name = "FILE", conflicts_with = "restore")]
    backup: Option<PathBuf>,
    /// Replace the database with the backup FILE and exit (stop the server
    /// first; the backup is checked before anything is replaced).
    #[arg(long, value_name = "FILE")]
    restore: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Make an enrolment code for ACCOUNT's phone: prints a QR code to scan
    /// and the same code as a link (nothing secret outlives it: it holds a
    /// one-time token, never a password).
    Enroll {
        /// The person's account, as in the directory.
        account: String,
        /// How long the code may be used, in hours (1 to 720).
        #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u16).range(1..=720))]
        valid_hours: u16,
        /// Print only the link (for a script, or a mail to the person).
        #[arg(long)]
        link_only: bool,
    },
    /// List ACCOUNT's enrolled phones, or revoke one (a lost phone).
    Devices {
        account: String,
        /// The device to revoke (its number in the list).
        #[arg(long, value_name = "ID")]
        revoke: Option<i64>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(path) = cli.check_config {
        return check_config(&path);
    }
    let config = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mailpresence-server: {e}");
            return ExitCode::from(2);
        }
    };
    if cli.status {
        return match status::read(&config.store_place()) {
            Ok(c) => {
                println!("{}", serde_json::to_string(&c).unwrap_or_default());
                // The report says why; the exit code lets a script notice.
                if c.database.reachable {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(e) => {
                eprintln!("mailpresence-server: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::Enroll {
        account,
        valid_hours,
        link_only,
    }) = &cli.command
    {
        return enroll(&config, account, *valid_hours, *link_only);
    }
    if let Some(Command::Devices { account, revoke }) = &cli.command {
        return devices(&config, account, *revoke);
    }
    if (cli.backup.is_some() || cli.restore.is_some())
        && let StorePlace::Postgres(settings) = config.store_place()
    {
        eprintln!(
            "mailpresence-server: the store is PostgreSQL at {}: back it up and restore it with \
             PostgreSQL's own tools (pg_dump, pg_restore, or the database's backups)",
            settings.location()
        );
        return ExitCode::FAILURE;
    }
    if let Some(dest) = &cli.backup {
        return report_copy(
            "backed up",
            backup::backup(&config.server.storage, dest),
            dest,
        );
    }
    if let Some(from) = &cli.restore {
        return report_copy(
            "restored",
            backup::restore(from, &config.server.storage),
            &config.server.storage,
        );
    }
    init_logging(config.server.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config, cli.config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn check_config(path: &std::path::Path) -> ExitCode {
    match Config::load(path) {
        Ok(config) => {
            print!("{}", config.report(path));
            match check_sign_in(&config) {
                Some(Err(line)) => {
                    eprintln!("{line}");
                    ExitCode::FAILURE
                }
                Some(Ok(line)) => {
                    println!("{line}");
                    ExitCode::SUCCESS
                }
                None => ExitCode::SUCCESS,
            }
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// `enroll ACCOUNT`: prints the QR code and the link.
fn enroll(config: &Config, account: &str, valid_hours: u16, link_only: bool) -> ExitCode {
    match admin::enroll(config, account, valid_hours) {
        Ok(code) => {
            if !link_only {
                if let Some(qr) = enrolment::qr_for_terminal(&code) {
                    println!("{qr}");
                }
                println!(
                    "Scan with the MailPresence app, or open this link on the phone (valid {valid_hours} h, once):"
                );
            }
            println!("{code}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mailpresence-server: enroll {account}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `devices ACCOUNT [--revoke ID]`.
fn devices(config: &Config, account: &str, revoke: Option<i64>) -> ExitCode {
    match admin::devices(config, account, revoke) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mailpresence-server: devices {account}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn report_copy(
    done: &str,
    result: Result<backup::Copied, backup::BackupError>,
    to: &std::path::Path,
) -> ExitCode {
    match result {
        Ok(c) => {
            println!(
                "{done}: {} ({} bytes, schema version {})",
                to.display(),
                c.bytes,
                c.schema_version
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mailpresence-server: {e}");
            ExitCode::FAILURE
        }
    }
}

/// With `[oauth]`, asks the provider for the mailbox's token once and
/// explains the answer (`Err`: it refused or could not be asked).
fn check_sign_in(config: &Config) -> Option<Result<String, String>> {
    let tokens = config.imap.signed_in.clone()?;
    let asked = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("[oauth] cannot ask the provider: {e}"))
        .map(|rt| rt.block_on(tokens.access_token()).map(|_| ()));
    Some(match asked {
        Ok(result) => {
            let line = mailpresence_server::config::OAuthConfig::explain(&result);
            if result.is_ok() { Ok(line) } else { Err(line) }
        }
        Err(e) => Err(e),
    })
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
}

#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error("storage: {0}")]
    Store(#[from] mailpresence_server::store::StoreError),
    #[error("storage: {0}")]
    Lock(#[from] backup::BackupError),
    #[error("{0}")]
    Outbox(#[from] mail::outbox::OutboxError),
    #[error("cannot listen for metrics on {0}: {1}")]
    Metrics(std::net::SocketAddr, std::io::Error),
    #[error("cannot listen for SIP on {0}: {1}")]
    Sip(std::net::SocketAddr, std::io::Error),
    #[error("signals: {0}")]
    Signal(std::io::Error),
    #[error("{0}")]
    Trust(#[from] mail::trust::TrustSetupError),
    #[error("directory: {0}")]
    Directory(#[from] refresh::RefreshError),
    #[error("the configuration has no [trust] section")]
    NoTrust,
    #[error("{0}")]
    SigningKey(#[from] mailpresence_server::signing::KeyError),
    #[error("{0}")]
    Web(#[from] mailpresence_server::web::WebError),
}

/// Starts every loop under the supervisor, waits for a signal, stops them.
async fn run(config: Config, path: PathBuf) -> Result<(), RunError> {
    // The text as started with, so a reload can tell which sections changed.
    let started_with = std::fs::read_to_string(&path).unwrap_or_default();
    for w in config.warnings() {
        warn!("{w}");
    }
    let trust = config.trust.as_ref().ok_or(RunError::NoTrust)?;
    // Held until the process ends: no second server on the SQLite file and
    // no restore under us. A PostgreSQL store is meant to be shared.
    let place = config.store_place();
    let _lock = match &place {
        StorePlace::Sqlite(path) => Some(StorageLock::acquire(path)?),
        StorePlace::Postgres(_) => None,
    };
    let store = Database::open(&place)?;
    let directory = Directory::from_config(&config.people, &config.rules);
    let senders = directory.people().iter().filter_map(|p| p.mail.clone());
    let verifier = Arc::new(mail::trust::SenderVerifier::new(trust, senders)?);
    info!(proof = ?verifier, "presence mail senders are proven");
    let engine = Engine::new(
        directory,
        config.presence.clone(),
        config.server.address.clone(),
    )
    .with_unsigned(trust.unsigned);
    let hub = Hub::new(store, engine, config.server.address.clone());
    // Notify and Enrolled mails are signed: enrolled phones pinned this key.
    let storage = &config.server.storage;
    hub.set_signing_key(mailpresence_server::signing::load_or_create(
        &mailpresence_server::signing::key_path(storage),
    )?);
    let loops = Loops::new(hub.clone());
    // The file's people with the last good copy of the LDAP directory, then
    // a first read of it before anything is served (bounded by its timeout).
    let keeper = Arc::new(DirectoryKeeper::new(
        path,
        started_with,
        &config,
        hub.clone(),
        verifier.clone(),
    ));
    keeper.apply_current()?;
    refresh::read_once(&keeper, &loops).await;
    let (stop, shutdown) = watch::channel(false);
    let mut tasks = Vec::new();

    let intake = mail::intake::Intake {
        hub: hub.clone(),
        config: config.imap.clone(),
        verifier: verifier.clone(),
        location_ttl: Duration::from_secs(config.presence.location_ttl_secs),
        loops: loops.clone(),
    };
    let sd = shutdown.clone();
    // With a shared store, one instance at a time reads the mailbox.
    let lease = match &place {
        StorePlace::Postgres(settings) => Some(settings.clone()),
        StorePlace::Sqlite(_) => None,
    };
    tasks.push(tokio::spawn(supervise(
        mail::intake::LOOP,
        loops.clone(),
        shutdown.clone(),
        move || {
            let (intake, sd, lease) = (intake.clone(), sd.clone(), lease.clone());
            async move {
                match lease {
                    Some(lease) => mail::intake::run_holding_lease(lease, intake, sd).await,
                    None => mail::intake::run(intake, sd).await,
                }
            }
        },
    )));

    let outbox = Arc::new(mail::outbox::outbox(hub.clone(), &config.smtp)?);
    let (sd, l) = (shutdown.clone(), loops.clone());
    tasks.push(tokio::spawn(supervise(
        mail::outbox::LOOP,
        loops.clone(),
        shutdown.clone(),
        move || mail::outbox::run(outbox.clone(), l.clone(), sd.clone()),
    )));

    if config.directory.is_some() {
        let (sd, k, l) = (shutdown.clone(), keeper.clone(), loops.clone());
        tasks.push(tokio::spawn(supervise(
            refresh::LOOP,
            loops.clone(),
            shutdown.clone(),
            move || refresh::run(k.clone(), l.clone(), sd.clone()),
        )));
    }

    // With a shared store, the other instances' commits reach this one's board.
    if let StorePlace::Postgres(settings) = &place {
        let (sd, h, l, s) = (
            shutdown.clone(),
            hub.clone(),
            loops.clone(),
            settings.clone(),
        );
        tasks.push(tokio::spawn(supervise(
            mailpresence_server::instances::LOOP,
            loops.clone(),
            shutdown.clone(),
            move || {
                mailpresence_server::instances::follow(h.clone(), s.clone(), l.clone(), sd.clone())
            },
        )));
    }

    let (sd, h, l) = (shutdown.clone(), hub.clone(), loops.clone());
    tasks.push(tokio::spawn(supervise(
        "clock",
        loops.clone(),
        shutdown.clone(),
        move || tick(h.clone(), l.clone(), sd.clone()),
    )));

    if let Some(sip) = &config.sip {
        tasks.push(tokio::spawn(
            supervise_sip(&hub, &config, sip, &loops, &shutdown).await?,
        ));
    }
    if let Some(web) = &config.web {
        let board =
            mailpresence_server::web::Web::new(hub.clone(), web.clone(), config.server.language)?;
        board.enable_enrolment(Arc::new(config.clone()));
        let listening = mailpresence_server::web::bind(board).await?;
        let listen = listening.local_addr().map(|a| a.to_string()).ok();
        loops.running(mailpresence_server::web::LOOP, listen);
        tasks.push(tokio::spawn(listening.run(shutdown.clone())));
    }
    if let Some(metrics) = &config.metrics {
        let sources = mailpresence_server::metrics::listen::Sources {
            hub: hub.clone(),
            loops: loops.clone(),
            store: place.clone(),
        };
        let listening = mailpresence_server::metrics::listen::bind(metrics.listen, sources)
            .await
            .map_err(|e| RunError::Metrics(metrics.listen, e))?;
        tasks.push(tokio::spawn(listening.run(shutdown.clone())));
    }
    info!(address = %config.server.address, store = %place.describe(), "presence server running");

    mailpresence_server::service::ready();
    wait_for_signals(&config, &loops, &keeper).await?;
    info!("shutting down");
    mailpresence_server::service::stopping();
    stop.send_replace(true);
    hub.outbox_wake.notify_one();
    for task in tasks {
        let _ = task.await;
    }
    Ok(())
}

/// Binds SIP once here (a port in use is a start-up error, said at once),
/// then keeps the agent under the supervisor, binding again on a restart.
async fn supervise_sip(
    hub: &Arc<Hub>,
    config: &Config,
    sip: &mailpresence_server::config::SipConfig,
    loops: &Arc<Loops>,
    shutdown: &watch::Receiver<bool>,
) -> Result<impl Future<Output = ()> + Send + 'static, RunError> {
    let start = {
        let (hub, sip, address, lang, shutdown) = (
            hub.clone(),
            sip.clone(),
            config.server.address.clone(),
            config.server.language,
            shutdown.clone(),
        );
        move || {
            let (hub, sip, address, shutdown) =
                (hub.clone(), sip.clone(), address.clone(), shutdown.clone());
            async move { mailpresence_server::sip::start(hub, sip, &address, lang, shutdown).await }
        }
    };
    let first = start().await.map_err(|e| RunError::Sip(sip.listen, e))?;
    let first = Arc::new(std::sync::Mutex::new(Some(first)));
    let l = loops.clone();
    let listen = sip.listen.to_string();
    Ok(supervise(
        "sip",
        loops.clone(),
        shutdown.clone(),
        move || {
            let (start, first, l, listen) =
                (start.clone(), first.clone(), l.clone(), listen.clone());
            async move {
                let taken = first.lock().unwrap_or_else(|p| p.into_inner()).take();
                let agent = match taken {
                    Some(agent) => agent,
                    None => start().await.map_err(|e| e.to_string())?,
                };
                l.running("sip", Some(listen));
                agent.await.map_err(|e| e.to_string())
            }
        },
    ))
}

/// Until SIGTERM or SIGINT; SIGUSR1 logs the status, SIGHUP reloads the
/// directory (people and rules) from the configuration file.
async fn wait_for_signals(
    config: &Config,
    loops: &Loops,
    keeper: &Arc<DirectoryKeeper>,
) -> Result<(), RunError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(RunError::Signal)?;
    let mut int = signal(SignalKind::interrupt()).map_err(RunError::Signal)?;
    let mut usr1 = signal(SignalKind::user_defined1()).map_err(RunError::Signal)?;
    let mut hup = signal(SignalKind::hangup()).map_err(RunError::Signal)?;
    loop {
        tokio::select! {
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
            _ = usr1.recv() => match status::read(&config.store_place()) {
                Ok(mut s) => {
                    // This process knows its loops first-hand.
                    s.loops = loops.snapshot();
                    info!("status: {}", status::line(&s));
                }
                Err(e) => warn!("status: {e}"),
            },
            _ = hup.recv() => reload(keeper.clone(), loops).await,
        }
    }
}

/// Applies the configuration file's people and rules (on a blocking thread:
/// it reads the file and writes the store) and says what changed; then reads
/// the LDAP directory too (a refresh on demand).
async fn reload(keeper: Arc<DirectoryKeeper>, loops: &Loops) {
    let file = keeper.clone();
    match tokio::task::spawn_blocking(move || file.reload_file()).await {
        Ok(Ok(changed)) => refresh::log_changed("directory reloaded", &changed),
        Ok(Err(e)) => warn!("configuration not reloaded, nothing changed: {e}"),
        Err(e) => error!("reload ended early: {e}"),
    }
    refresh::read_once(&keeper, loops).await;
}

/// Time-driven work: coalesced watch notifications, expiries. A failed tick
/// is logged and the next one tries again.
async fn tick(
    hub: Arc<Hub>,
    loops: Arc<Loops>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), std::convert::Infallible> {
    loops.running("clock", None);
    let mut every = tokio::time::interval(Duration::from_secs(1));
    let mut watchdog = mailpresence_server::service::Watchdog::from_env();
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
        }
        match hub.step(|engine, tx, now| engine.tick(tx, now).map(Some)) {
            Ok(Some(c)) if !c.step.deliveries.is_empty() => {
                info!(
                    deliveries = c.step.deliveries.len(),
                    "coalesced changes sent"
                );
            }
            Ok(_) => {}
            Err(e) => {
                error!("tick: {e}");
                continue;
            }
        }
        // A tick went through the store: the server is alive.
        watchdog.alive();
    }
}
