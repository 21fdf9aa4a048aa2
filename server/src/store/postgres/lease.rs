//! Mail intake by one instance at a time, with a shared PostgreSQL store: a
//! session-level advisory lock, held by a connection of its own for as long
//! as this instance takes mail in. When the holder's session ends (the
//! process stopped or was killed: the kernel closes its socket and
//! PostgreSQL frees the lock at once), another instance's next try takes it.
//! The lock decides who reads the mailbox; that no mail is applied twice
//! when two overlap for a moment is the store's business (`mail_handled`
//! waits for the other's transaction on the same Message-ID).

use std::time::Duration;

use tokio::sync::oneshot;
use tokio_postgres::Client;

use super::PostgresSettings;
use super::connect::{connect_async, error_text};
use crate::store::Result;

/// This instance holds the intake lock while this lives.
#[derive(Debug)]
pub struct IntakeLease {
    client: Client,
    closed: oneshot::Receiver<()>,
    /// The holding session's process id on the database server.
    backend: i32,
}

/// The lock's name: one per schema (each test has its own).
fn lock_name(settings: &PostgresSettings) -> String {
    format!(
        "mailpresence intake {}",
        settings.schema.as_deref().unwrap_or("public")
    )
}

impl IntakeLease {
    /// Tries the lock every `every` until this instance holds it. An error
    /// (the database unreachable) is returned for the caller to retry.
    pub async fn acquire(settings: &PostgresSettings, every: Duration) -> Result<Self> {
        let (client, closed) = connect_async(settings, None).await?;
        let name = lock_name(settings);
        loop {
            let row = client
                .query_one("SELECT pg_try_advisory_lock(hashtext($1::TEXT))", &[&name])
                .await?;
            if row.try_get::<_, bool>(0)? {
                let backend = client
                    .query_one("SELECT pg_backend_pid()", &[])
                    .await?
                    .try_get(0)?;
                return Ok(Self {
                    client,
                    closed,
                    backend,
                });
            }
            tokio::time::sleep(every).await;
        }
    }

    /// The holding session's process id on the database server (what
    /// `pg_stat_activity` and `pg_locks` show).
    pub fn backend(&self) -> i32 {
        self.backend
    }

    /// Resolves, with the reason, when the lock may be lost: its session
    /// closed, or did not answer a check within `check_every`. Intake must
    /// stop then: another instance may already hold the lock.
    pub async fn lost(&mut self, check_every: Duration) -> String {
        loop {
            tokio::select! {
                _ = &mut self.closed => return "the intake lock's session closed".into(),
                () = tokio::time::sleep(check_every) => {
                    match tokio::time::timeout(check_every, self.client.simple_query("SELECT 1")).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => return error_text(&e),
                        Err(_) => return "the intake lock's session did not answer".into(),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test may stop at the first surprise

    use std::time::Instant;

    use super::*;
    use crate::store::tests::fresh_postgres_settings;

    const TRY_EVERY: Duration = Duration::from_millis(200);

    #[tokio::test]
    async fn one_instance_holds_intake_and_another_takes_over_when_its_session_ends() {
        let settings = fresh_postgres_settings();
        let first = IntakeLease::acquire(&settings, TRY_EVERY).await.unwrap();
        let second = tokio::spawn({
            let settings = settings.clone();
            async move { IntakeLease::acquire(&settings, TRY_EVERY).await }
        });
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert!(!second.is_finished(), "two holders at once");
        let ended = Instant::now();
        drop(first);
        let mut second = tokio::time::timeout(Duration::from_secs(5), second)
            .await
            .expect("the second instance took over within 5 s")
            .unwrap()
            .unwrap();
        let takeover = ended.elapsed();
        assert!(takeover < Duration::from_secs(2), "{takeover:?}");
        // The holder notices when the database ends its session.
        let (admin, _closed) = connect_async(&settings, None).await.unwrap();
        admin
            .execute("SELECT pg_terminate_backend($1)", &[&second.backend()])
            .await
            .unwrap();
        let why = tokio::time::timeout(Duration::from_secs(5), second.lost(TRY_EVERY))
            .await
            .expect("the loss was noticed within 5 s");
        assert!(!why.is_empty());
    }
}
