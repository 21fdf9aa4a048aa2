//! What the board changes by itself, on the server so that every medium
//! (the board, desk phones, field phones' Notify mails) sees it: a state
//! with an end (会議 until 15:00) ends then, back to 在席; and, where the
//! company turns it on (`[web] present_at_first_sign_in`), the first
//! sign-in of the day sets 在席.
//!
//! The ending loop keeps the next end of each person in memory: read once
//! from the store at start, then kept current from the feed of committed
//! changes, so it never scans everyone on a timer.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{Local, Utc};
use mailpresence_protocol::model::{AccountName, Activity, ActivityToken, PresenceFields};
use tokio::sync::{broadcast, watch};

use super::back;
use super::office;
use super::state::Web;
use crate::store::{Medium, PresenceRecord, Time};

/// Longest sleep between two looks at the ends (a change of the directory
/// or a missed feed is caught up then).
const LOOK_AT_LEAST_EVERY: Duration = Duration::from_secs(60);

/// Ends states whose end has come, until `shutdown`.
pub async fn run_endings(web: Arc<Web>, mut shutdown: watch::Receiver<bool>) {
    let (mut feed, _) = web.hub.feed.subscribe(None);
    let mut ends = read_all_ends(&web).await;
    loop {
        let now = Utc::now();
        let due: Vec<AccountName> = ends
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(a, _)| a.clone())
            .collect();
        for account in due {
            ends.remove(&account);
            end_state(&web, account).await;
        }
        let wait = ends.values().min().map_or(LOOK_AT_LEAST_EVERY, |next| {
            (*next - Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(LOOK_AT_LEAST_EVERY)
        });
        tokio::select! {
            change = feed.recv() => match change {
                // A change without a record (a memo's) ends nothing.
                Ok(change) => if let Some(record) = change.record.as_deref() {
                    match office::state_end(web.config.office_states(), &record.fields) {
                        Some(at) => ends.insert(record.account.clone(), at),
                        None => ends.remove(&record.account),
                    };
                },
                Err(broadcast::error::RecvError::Lagged(_)) => ends = read_all_ends(&web).await,
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = tokio::time::sleep(wait) => {
                if wait == LOOK_AT_LEAST_EVERY {
                    ends = read_all_ends(&web).await;
                }
            }
            _ = shutdown.changed() => return,
        }
    }
}

/// Everyone's next end, from the store.
async fn read_all_ends(web: &Arc<Web>) -> HashMap<AccountName, Time> {
    let read = web
        .blocking(|web| {
            let people = web.hub.directory().people().to_vec();
            web.hub.store().transaction(|tx| {
                people
                    .iter()
                    .map(|p| tx.presence(&p.account))
                    .collect::<Result<Vec<_>, _>>()
            })
        })
        .await;
    match read {
        Some(Ok(records)) => records
            .into_iter()
            .flatten()
            .filter_map(|r| {
                Some((
                    r.account,
                    office::state_end(web.config.office_states(), &r.fields)?,
                ))
            })
            .collect(),
        Some(Err(e)) => {
            tracing::error!(error = %e, "board: cannot read the states' ends");
            HashMap::new()
        }
        None => HashMap::new(),
    }
}

/// Ends `account`'s state if its end has come (read again in the step: it
/// may have changed meanwhile).
async fn end_state(web: &Arc<Web>, account: AccountName) {
    let done = web
        .blocking(move |web| {
            let presets = web.config.office_states();
            web.hub.step(|engine, tx, now| {
                let Some(record) = tx.presence(&account)? else {
                    return Ok(None);
                };
                if office::state_end(presets, &record.fields).is_none_or(|at| at > now) {
                    return Ok(None);
                }
                let fields = office::after_end(presets, &record.fields, now);
                tracing::info!(%account, "board: a state ended by itself");
                engine
                    .publish(tx, &account, fields, Medium::Web, now)
                    .map(Some)
            })
        })
        .await;
    if let Some(Err(e)) = done {
        tracing::error!(error = %e, "board: cannot end a state");
    }
}

/// Whether `record` was set today (local time); a first sign-in leaves it.
fn set_today(record: &PresenceRecord) -> bool {
    let set = record
        .fields
        .updated
        .map_or(record.received_at, |u| u.to_utc());
    set.with_timezone(&Local).date_naive() == Local::now().date_naive()
}

/// The presence a first sign-in of the day makes: 在席, without yesterday's
/// 備考, 戻り予定, end or board-set 行先; a phone's place and plans stay.
fn present(
    presets: &[crate::config::Preset],
    current: Option<&PresenceFields>,
    contact: &str,
) -> PresenceFields {
    let available = Activity::token(ActivityToken::Available);
    let mut fields = current
        .cloned()
        .unwrap_or_else(|| PresenceFields::new(contact, available.clone()));
    if office::place_set_with_state(presets, &fields) {
        fields.location = None;
    }
    let before = fields.activity.clone();
    fields
        .schedule
        .retain(|e| !back::is_back_plan(e) && !office::is_end_plan(presets, &before, e));
    fields.activity = available;
    fields.updated = Some(Local::now().fixed_offset());
    fields
}

/// At a sign-in: sets `account` 在席 when the company wants it and nothing
/// was set for them yet today.
pub async fn at_sign_in(web: &Arc<Web>, account: &str) {
    if !web.config.present_at_first_sign_in {
        return;
    }
    let Ok(account) = account.parse::<AccountName>() else {
        return;
    };
    let Some(person) = web.hub.directory().person(&account).cloned() else {
        return;
    };
    let contact = person
        .mail
        .clone()
        .or(person.sip.clone())
        .unwrap_or_default();
    let done = web
        .blocking(move |web| {
            let presets = web.config.office_states();
            web.hub.step(|engine, tx, now| {
                let current = tx.presence(&account)?;
                if current.as_ref().is_some_and(set_today) {
                    return Ok(None);
                }
                let fields = present(presets, current.as_ref().map(|r| &r.fields), &contact);
                tracing::info!(%account, "board: first sign-in of the day, 在席");
                engine
                    .publish(tx, &account, fields, Medium::Web, now)
                    .map(Some)
            })
        })
        .await;
    if let Some(Err(e)) = done {
        tracing::error!(error = %e, "board: cannot set 在席 at sign-in");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::built_in_presets;
    use mailpresence_protocol::model::ScheduleEntry;

    #[test]
    fn a_first_sign_in_clears_yesterdays_state_and_keeps_a_phones_place() {
        let presets = built_in_presets();
        let out = presets.iter().find(|p| p.key == "out").unwrap();
        let mut desk = PresenceFields::new(
            "sato@example.test",
            office::activity(
                Some(out),
                out.activity,
                Some("A社"),
                mailpresence_protocol::summary::Lang::Ja,
            ),
        );
        desk.location = Some("A社 本社".into());
        desk.schedule = vec![
            ScheduleEntry::parse("17:00 戻り予定"),
            ScheduleEntry::parse("10:00 朝礼"),
        ];
        let fields = present(&presets, Some(&desk), "sato@example.test");
        assert_eq!(fields.activity, Activity::token(ActivityToken::Available));
        assert_eq!(fields.location, None);
        assert_eq!(fields.schedule, vec![ScheduleEntry::parse("10:00 朝礼")]);

        let mut field = PresenceFields::new(
            "tanaka@example.test",
            Activity::parse("on-site — 点検").unwrap(),
        );
        field.location = Some("東京都千代田区丸の内一丁目".into());
        let fields = present(&presets, Some(&field), "tanaka@example.test");
        assert_eq!(
            fields.location.as_deref(),
            Some("東京都千代田区丸の内一丁目")
        );
        let fresh = present(&presets, None, "ito@example.test");
        assert_eq!(fresh.contact.as_str(), "ito@example.test");
    }
}
