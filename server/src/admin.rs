//! What IT runs beside the server, from the same configuration: making a
//! phone's enrolment code and listing or revoking a person's devices. Each
//! opens the database as a second process would (WAL: safe beside a running
//! server) and returns text for `main` to print.

use chrono::Utc;

use crate::config::Config;
use crate::directory::refresh::known_people;
use crate::enrolment::{self, EnrolError};
use crate::signing::{self, KeyError};
use crate::store::{Database, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Key(#[from] KeyError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Enrol(#[from] EnrolError),
}

/// A code for `account`'s phone, valid `valid_hours`, signed with the
/// server's key (made on first use).
pub fn enroll(config: &Config, account: &str, valid_hours: u16) -> Result<String, AdminError> {
    let key = signing::load_or_create(&signing::key_path(&config.server.storage))?;
    let mut store = Database::open(&config.store_place())?;
    let people = known_people(config, &mut store)?;
    let valid_for = chrono::Duration::hours(i64::from(valid_hours));
    let mail = enrolment::mail_of(&people, account)?;
    Ok(enrolment::make_code(
        config, &key, &mut store, account, mail, valid_for,
    )?)
}

/// `account`'s devices, one line each; or, with `revoke`, that one revoked.
pub fn devices(config: &Config, account: &str, revoke: Option<i64>) -> Result<String, AdminError> {
    let mut store = Database::open(&config.store_place())?;
    let now = Utc::now();
    Ok(store.transaction(|tx| {
        if let Some(id) = revoke {
            return Ok::<_, StoreError>(if tx.revoke_device(account, id, now)? {
                format!("device {id} of {account} revoked")
            } else {
                format!("{account} has no live device {id}: nothing changed")
            });
        }
        let list = tx.devices_of(account)?;
        if list.is_empty() {
            return Ok(format!("{account} has no enrolled device"));
        }
        Ok(list
            .iter()
            .map(|d| {
                let state = match d.revoked_at {
                    Some(at) => format!("revoked {}", at.to_rfc3339()),
                    None => "live".into(),
                };
                let seen = d
                    .last_seen_at
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_else(|| "never".into());
                format!(
                    "{:>4}  {:<20} enrolled {}  last seen {seen}  {state}",
                    d.id,
                    d.name,
                    d.enrolled_at.to_rfc3339()
                )
            })
            .collect::<Vec<_>>()
            .join("\n"))
    })?)
}
