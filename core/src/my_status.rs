//! The My status screen's part of the UniFFI edge beyond `api.rs`: when the
//! own status ends by itself, the location sharing settings as the screen
//! shows them (with when "sharing now" may next change, for the indicator
//! to look again), and sharing turned off with the chosen shift and end kept
//! for the next time it goes on.

use chrono::Local;

use crate::api::PresenceClient;
use crate::error::PresenceError;
use crate::terminal::Sharing;

/// Location sharing as the worker set it, and what it means now.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SharingSettings {
    /// The worker turned sharing on (it may still be paused: `sharing_now`).
    pub on: bool,
    /// Sharing ends then (seconds since 1970), when chosen.
    pub until_unix: Option<i64>,
    /// The shift, `08:00-19:00`, when chosen: outside it sharing pauses.
    pub working_hours: Option<String>,
    pub share_coordinates: bool,
    /// Whether the place goes out with Publishes now (`is_sharing_location`).
    pub sharing_now: bool,
    /// When `sharing_now` may next change (a shift's edge, the end): the
    /// screen looks again then. None: not by itself.
    pub next_change_unix: Option<i64>,
}

impl SharingSettings {
    fn of(sharing: &Sharing, now: chrono::DateTime<chrono::FixedOffset>) -> Self {
        Self {
            on: sharing.on,
            until_unix: sharing.until.map(|t| t.timestamp()),
            working_hours: sharing
                .working_hours
                .map(|(start, end)| format!("{}-{}", start.format("%H:%M"), end.format("%H:%M"))),
            share_coordinates: sharing.coordinates,
            sharing_now: sharing.active(now),
            next_change_unix: sharing.next_change(now).map(|t| t.timestamp()),
        }
    }
}

#[uniffi::export]
impl PresenceClient {
    /// When the own status ends by itself (seconds since 1970), if it does.
    pub fn status_ends_unix(&self) -> Result<Option<i64>, PresenceError> {
        Ok(self.terminal().status_end()?.map(|end| end.at.timestamp()))
    }

    /// The sharing settings for the screen; off until the worker turns
    /// sharing on ([`PresenceClient::set_location_sharing`]).
    pub fn sharing_settings(&self) -> Result<SharingSettings, PresenceError> {
        Ok(SharingSettings::of(
            &self.terminal().sharing()?,
            Local::now().fixed_offset(),
        ))
    }

    /// Sharing off: published at once without the place, and no later
    /// Publish carries one until it is on again. The shift and end chosen
    /// are kept for the screen to offer again.
    pub async fn stop_location_sharing(&self) -> Result<(), PresenceError> {
        let sharing = Sharing {
            on: false,
            ..self.terminal().sharing()?
        };
        self.terminal().set_sharing(sharing)?;
        self.flush().await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test may stop at the first surprise

    use super::*;
    use crate::api::AccountConfig;
    use crate::location::Granularity;
    use crate::terminal::MailServer;
    use mailpresence_protocol::model::ActivityToken;
    use mailpresence_protocol::transport::TlsMode;

    /// Tanaka's client, its mail server not there (everything stays queued).
    fn offline_client(dir: &std::path::Path) -> std::sync::Arc<PresenceClient> {
        let server = MailServer {
            host: "127.0.0.1".into(),
            port: 1,
            tls: TlsMode::None,
            user: Some("tanaka@example.test".into()),
            password: Some("pw".into()),
            oauth_token_file: None,
            oauth_mechanism: None,
            ca_file: None,
        };
        let config = AccountConfig {
            account: "tanaka".into(),
            mail: "tanaka@example.test".into(),
            presence_server: "presence@example.test".into(),
            language: "ja".into(),
            imap: server.clone(),
            smtp: server,
            granularity: Granularity::City,
            authserv_id: Some("mx.example.test".into()),
            delivery_hops: None,
            oauth: None,
            server_key: None,
        };
        let client = PresenceClient::new(config, dir.display().to_string(), None).unwrap();
        client.network_changed(false);
        client
    }

    #[tokio::test]
    async fn sharing_is_off_until_turned_on_and_off_keeps_the_shift_for_next_time() {
        let dir = tempfile::tempdir().unwrap();
        let client = offline_client(dir.path());
        let fresh = client.sharing_settings().unwrap();
        assert!(!fresh.on && !fresh.sharing_now, "{fresh:?}");
        assert!(!client.is_sharing_location().unwrap());

        client
            .set_location_sharing(None, Some("00:00-23:59".into()), false)
            .await
            .unwrap();
        let on = client.sharing_settings().unwrap();
        assert!(on.on);
        assert_eq!(on.working_hours.as_deref(), Some("00:00-23:59"));
        assert_eq!(on.sharing_now, client.is_sharing_location().unwrap());

        client.stop_location_sharing().await.unwrap();
        let off = client.sharing_settings().unwrap();
        assert!(!off.on && !off.sharing_now && off.next_change_unix.is_none());
        assert_eq!(off.working_hours.as_deref(), Some("00:00-23:59"), "kept");
        assert!(!client.is_sharing_location().unwrap());
    }

    #[tokio::test]
    async fn a_status_until_a_time_says_when_it_ends_and_a_plain_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let client = offline_client(dir.path());
        let until = Local::now().timestamp() + 3600;
        client
            .set_status(Some(ActivityToken::Meeting), None, Some(until))
            .await
            .unwrap();
        assert_eq!(client.status_ends_unix().unwrap(), Some(until));
        client
            .set_status(Some(ActivityToken::OnSite), None, None)
            .await
            .unwrap();
        assert_eq!(client.status_ends_unix().unwrap(), None);
        let past = client
            .set_status(Some(ActivityToken::Meeting), None, Some(until - 7200))
            .await;
        assert!(
            matches!(past, Err(PresenceError::InvalidInput { .. })),
            "{past:?}"
        );
    }
}
