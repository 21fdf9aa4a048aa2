//! What every handler of the board shares: the [`Web`] state (the hub, the
//! board's configuration, the map, the secret behind proxy users' CSRF
//! tokens, the sign-in limits, the news of ended sessions for open streams)
//! and the count of open board streams, in all and per person.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailpresence_protocol::summary::Lang;
use tokio::sync::broadcast;

use super::limits::SignInLimits;
use super::map::{BoardMap, MapError};
use crate::config::WebConfig;
use crate::hub::Hub;

/// Board streams one person may hold open (tabs, a phone, a wall screen).
const STREAMS_PER_ACCOUNT: usize = 8;
/// How often an open stream checks that its session still holds.
const SESSION_RECHECK: Duration = Duration::from_secs(30);
/// Sign-outs an open stream may fall behind on before it checks the store.
const SIGN_OUTS_QUEUED: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("cannot listen for the board on {0}: {1}")]
    Listen(std::net::SocketAddr, std::io::Error),
    #[error("board HTTPS: {0}")]
    Tls(#[from] crate::tls::TlsSetupError),
    #[error("board map: {0}")]
    Map(#[from] MapError),
    #[error("board memos: {0}")]
    Memos(#[from] crate::store::StoreError),
}

/// What every handler shares.
#[derive(Debug)]
pub struct Web {
    pub(super) hub: Arc<Hub>,
    pub(super) config: WebConfig,
    /// The language of pages for a browser that states no preference.
    pub(super) language: Lang,
    /// Board streams open now (bounded by `max_streams`), and per person.
    streams: AtomicUsize,
    streams_of: Mutex<HashMap<String, usize>>,
    /// Derives the CSRF token of people signed in by the proxy; new each run.
    pub(super) secret: [u8; 32],
    pub(super) map: Option<BoardMap>,
    pub(super) sign_in: SignInLimits,
    /// The store keys of sessions just signed out, so that their streams end
    /// at once.
    pub(super) signed_out: broadcast::Sender<String>,
    /// How often an open stream checks its session (a proxy user's stream
    /// ends after ten of these, and the browser comes back through the proxy).
    pub(super) session_recheck: Duration,
    /// The whole configuration, for the Phones page's enrolment codes.
    pub(super) enrolment: std::sync::OnceLock<Arc<crate::config::Config>>,
}

impl Web {
    /// Reads the map pack, if one is configured (a few hundred ms, once).
    pub fn new(hub: Arc<Hub>, config: WebConfig, language: Lang) -> Result<Arc<Self>, WebError> {
        Self::with_session_recheck(hub, config, language, SESSION_RECHECK)
    }

    /// Like [`Web::new`], with streams checking their session every
    /// `recheck` (tests shorten it).
    pub fn with_session_recheck(
        hub: Arc<Hub>,
        config: WebConfig,
        language: Lang,
        recheck: Duration,
    ) -> Result<Arc<Self>, WebError> {
        let map = config.map_pack.as_deref().map(BoardMap::load).transpose()?;
        let sign_in = SignInLimits::new(
            config.link_requests_per_ip_hour,
            Duration::from_secs(u64::from(config.link_mail_minutes) * 60),
        );
        hub.store()
            .transaction(|tx| hub.memos.load(tx, chrono::Utc::now()))?;
        Ok(Arc::new(Self {
            sign_in,
            signed_out: broadcast::channel(SIGN_OUTS_QUEUED).0,
            session_recheck: recheck,
            hub,
            config,
            language,
            streams: AtomicUsize::new(0),
            streams_of: Mutex::new(HashMap::new()),
            secret: rand::random(),
            map,
            enrolment: std::sync::OnceLock::new(),
        }))
    }

    /// Lets the Phones page make enrolment codes from `config` (its phones'
    /// settings, trust name and CA pin).
    pub fn enable_enrolment(&self, config: Arc<crate::config::Config>) {
        let _ = self.enrolment.set(config);
    }

    /// A place for one more stream of `account`, or `None` when `max_streams`
    /// are open, or this person's [`STREAMS_PER_ACCOUNT`].
    pub(super) fn stream_slot(self: &Arc<Self>, account: &str) -> Option<StreamSlot> {
        let mut per = self.streams_of.lock().unwrap_or_else(|p| p.into_inner());
        let mine = per.entry(account.to_owned()).or_insert(0);
        if *mine >= STREAMS_PER_ACCOUNT {
            return None;
        }
        let open = self.streams.fetch_add(1, Ordering::SeqCst);
        if open >= self.config.max_streams {
            self.streams.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        *mine += 1;
        self.hub.metrics.board_stream_opened();
        Some(StreamSlot(self.clone(), account.to_owned()))
    }

    /// Runs `work` (store work, which blocks on the store's lock and fsync)
    /// on tokio's blocking threads, never on the async workers that serve
    /// every other request; `None` if it panicked.
    pub(super) async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&Web) -> T + Send + 'static,
    ) -> Option<T> {
        let web = self.clone();
        match tokio::task::spawn_blocking(move || work(&web)).await {
            Ok(value) => Some(value),
            Err(e) => {
                tracing::error!(error = %e, "board: store work ended early");
                None
            }
        }
    }

    /// Board streams open now.
    pub fn open_streams(&self) -> usize {
        self.streams.load(Ordering::SeqCst)
    }
}

/// Frees its place among the open streams when the stream ends.
#[derive(Debug)]
pub(super) struct StreamSlot(Arc<Web>, String);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.streams.fetch_sub(1, Ordering::SeqCst);
        self.0.hub.metrics.board_stream_closed();
        let mut per = self.0.streams_of.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = per.get_mut(&self.1) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                per.remove(&self.1);
            }
        }
    }
}
