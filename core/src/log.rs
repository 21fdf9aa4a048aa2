//! The core's log records, handed to the app. The core logs through
//! `tracing`; on a phone nothing prints it, so the app gives the core a sink
//! (`set_log_sink`: its own writer to logcat or `os_log`) and a level, and
//! every event at or above that level reaches the sink, from whatever thread
//! wrote it. Without a sink the core's logs go nowhere, as before.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata};
use tracing_subscriber::Registry;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// How much the core says, most to least severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, uniffi::Enum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

/// One thing the core logged.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LogRecord {
    pub level: LogLevel,
    /// Where in the core it was written (`mailpresence_core::terminal::inbox`).
    pub target: String,
    /// The message, then its fields as `name=value`.
    pub message: String,
}

/// Implemented by the app (Android: `Log.println`; iOS: `Logger`). Called
/// from the core's threads, so it must not block for long.
#[uniffi::export(with_foreign)]
pub trait LogSink: Send + Sync {
    fn log(&self, record: LogRecord);
}

/// Sends the core's log records at `level` and above to `sink`; `None`
/// stops them. May be called again to change either.
#[uniffi::export]
pub fn set_log_sink(sink: Option<Arc<dyn LogSink>>, level: LogLevel) {
    install_once();
    *SINK.write().unwrap_or_else(|p| p.into_inner()) = sink;
    LEVEL.store(level as u8, Ordering::SeqCst);
}

static SINK: RwLock<Option<Arc<dyn LogSink>>> = RwLock::new(None);
static LEVEL: AtomicU8 = AtomicU8::new(LogLevel::Warn as u8);
static INSTALLED: OnceLock<()> = OnceLock::new();

/// Makes the sink layer the process's `tracing` subscriber, once. When the
/// process already has one (a Rust test harness, an app with its own), that
/// one stays and keeps the records.
fn install_once() {
    INSTALLED.get_or_init(|| {
        let subscriber = Registry::default().with(SinkLayer);
        if tracing::subscriber::set_global_default(subscriber).is_err() {
            tracing::debug!("a tracing subscriber was already set; the log sink gets nothing");
        }
    });
}

fn level_of(level: &Level) -> LogLevel {
    match *level {
        Level::ERROR => LogLevel::Error,
        Level::WARN => LogLevel::Warn,
        Level::INFO => LogLevel::Info,
        Level::DEBUG => LogLevel::Debug,
        _ => LogLevel::Trace,
    }
}

fn wanted(metadata: &Metadata<'_>) -> bool {
    (level_of(metadata.level()) as u8) <= LEVEL.load(Ordering::Relaxed)
}

/// Forwards events to the app's sink.
struct SinkLayer;

impl<S: tracing::Subscriber> Layer<S> for SinkLayer {
    /// Asked on every event, not cached: the app may change the level later.
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::sometimes()
    }

    fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
        wanted(metadata)
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let Some(sink) = SINK.read().unwrap_or_else(|p| p.into_inner()).clone() else {
            return;
        };
        let mut text = Text::default();
        event.record(&mut text);
        sink.log(LogRecord {
            level: level_of(event.metadata().level()),
            target: event.metadata().target().to_owned(),
            message: text.finish(),
        });
    }
}

/// An event's message followed by its other fields.
#[derive(Default)]
struct Text {
    message: String,
    fields: String,
}

impl Text {
    fn finish(mut self) -> String {
        if !self.fields.is_empty() {
            if !self.message.is_empty() {
                self.message.push(' ');
            }
            self.message.push_str(self.fields.trim_start());
        }
        self.message
    }
}

impl Visit for Text {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Kept(Mutex<Vec<LogRecord>>);

    impl LogSink for Kept {
        fn log(&self, record: LogRecord) {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(record);
        }
    }

    #[test]
    fn records_at_the_level_and_above_reach_the_sink_with_their_fields() {
        let kept = Arc::new(Kept::default());
        set_log_sink(Some(kept.clone()), LogLevel::Warn);
        tracing::info!("not wanted");
        tracing::warn!(colleague = "sato", "a Notify was left alone");
        set_log_sink(Some(kept.clone()), LogLevel::Info);
        tracing::info!(depth = 3, "outbox");
        set_log_sink(None, LogLevel::Info);
        tracing::warn!("after the sink was taken away");
        // Other tests run beside this one: only this module's records count.
        let records: Vec<LogRecord> = kept
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|r| r.target == module_path!())
            .cloned()
            .collect();
        let messages: Vec<(LogLevel, &str)> = records
            .iter()
            .map(|r| (r.level, r.message.as_str()))
            .collect();
        assert_eq!(
            messages,
            [
                (LogLevel::Warn, "a Notify was left alone colleague=sato"),
                (LogLevel::Info, "outbox depth=3"),
            ]
        );
    }
}
