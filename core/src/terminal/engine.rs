//! The phone's decisions, without I/O (seed figure 10): what a Publish says
//! given the own record and the sharing preferences, and what a Subscribe asks.

use chrono::{DateTime, FixedOffset, NaiveTime};
use serde::{Deserialize, Serialize};

use mailpresence_protocol::mail::{PresenceMessage, Publish, Subscribe, SubscribeMode};
use mailpresence_protocol::model::{AccountName, PresenceFields};

/// When the location may be shared: until a time the user chose ("share my
/// location until 18:00"), and only inside working hours.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sharing {
    /// Sharing stops at this time, when set.
    pub until: Option<DateTime<FixedOffset>>,
    /// Working hours (start, end) in the phone's local time; outside them the
    /// location is paused. Overnight shifts (22:00–06:00) work too.
    pub working_hours: Option<(NaiveTime, NaiveTime)>,
    /// Send coordinates as well as the address.
    pub coordinates: bool,
}

impl Sharing {
    /// Whether the location may be published at `now` (the phone's local time).
    pub fn active(&self, now: DateTime<FixedOffset>) -> bool {
        if self.until.is_some_and(|until| now >= until) {
            return false;
        }
        match self.working_hours {
            None => true,
            Some((start, end)) => {
                let t = now.time();
                if start <= end {
                    (start..end).contains(&t)
                } else {
                    t >= start || t < end
                }
            }
        }
    }
}

/// The Publish for the own record: without any location while sharing is paused.
pub fn publish_message(
    account: &AccountName,
    own: &PresenceFields,
    sharing: &Sharing,
    now: DateTime<FixedOffset>,
) -> PresenceMessage {
    let mut presence = own.clone();
    if !sharing.active(now) {
        presence.location = None;
        presence.address = None;
        presence.coordinates = None;
    } else if !sharing.coordinates {
        presence.coordinates = None;
    }
    PresenceMessage::Publish(Publish {
        publisher: account.clone(),
        presence,
    })
}

pub fn subscribe_message(
    watcher: &AccountName,
    send_to: &str,
    notifiers: Vec<AccountName>,
    mode: SubscribeMode,
    expires: Option<u32>,
) -> PresenceMessage {
    PresenceMessage::Subscribe(Subscribe {
        watcher: watcher.clone(),
        notifiers,
        send_to: send_to.to_owned(),
        mode,
        expires,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailpresence_protocol::model::{Activity, Coordinates};

    fn at(hh: u32, mm: u32) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(&format!("2026-11-26T{hh:02}:{mm:02}:00+09:00")).unwrap()
    }

    #[test]
    fn location_is_paused_after_until_and_outside_working_hours() {
        let sharing = Sharing {
            until: Some(at(18, 0)),
            working_hours: Some((
                NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
                NaiveTime::from_hms_opt(19, 0, 0).unwrap(),
            )),
            coordinates: false,
        };
        assert!(sharing.active(at(9, 0)));
        assert!(!sharing.active(at(18, 30)), "after until");
        assert!(!sharing.active(at(7, 59)), "before work");
        let night = Sharing {
            working_hours: Some((
                NaiveTime::from_hms_opt(22, 0, 0).unwrap(),
                NaiveTime::from_hms_opt(6, 0, 0).unwrap(),
            )),
            ..Default::default()
        };
        assert!(night.active(at(23, 0)) && night.active(at(5, 0)) && !night.active(at(12, 0)));

        let mut own = PresenceFields::new("t@x.jp", Activity::parse("on-site").unwrap());
        own.location = Some("京都府京都市".into());
        own.coordinates = Coordinates::new(35.0, 135.7, None);
        let account: AccountName = "tanaka".parse().unwrap();
        let PresenceMessage::Publish(p) = publish_message(&account, &own, &sharing, at(18, 30))
        else {
            panic!()
        };
        assert_eq!(
            (p.presence.location, p.presence.coordinates),
            (None, None),
            "paused: no location at all"
        );
        let PresenceMessage::Publish(p) = publish_message(&account, &own, &sharing, at(10, 0))
        else {
            panic!()
        };
        assert_eq!(p.presence.location.as_deref(), Some("京都府京都市"));
        assert_eq!(p.presence.coordinates, None, "coordinates only when chosen");
    }
}
