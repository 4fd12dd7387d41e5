//! Snoozing a conversation: out of the open view until a time, or until the customer writes.
//!
//! Nothing wakes a snoozed conversation up. It reads as snoozed only while `snoozed_until` is ahead and
//! no customer message arrived after `snoozed_at` (see [`crate::inbox::conversations`]), so it is open
//! again the moment either changes: no job queue, and ingest does not need to know about snoozing.
//! Resolving or reopening ends a snooze.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use sqlx::PgPool;

use crate::auth::{Area, Scope};
use crate::error::{Error, Result};
use crate::events::{ConversationAction, Event};
use crate::inbox::conversations::{self, Conversation, announce, no_conversation};
use crate::types::ContactId;

/// The longest snooze: past this a conversation should be resolved, not hidden.
const LONGEST: Duration = Duration::days(90);

/// When a snooze ends, as a person writes it: `30m`, `2h`, `3d`, `1w`, `tomorrow` (09:00), `HH:MM`
/// (the next time the clock shows it), `YYYY-MM-DD HH:MM` (local) or an RFC 3339 time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnoozeUntil(DateTime<Utc>);

impl SnoozeUntil {
    pub fn at(self) -> DateTime<Utc> {
        self.0
    }

    /// Reads `text` relative to `now`, local times in `offset`.
    pub fn parse(text: &str, now: DateTime<Utc>, offset: FixedOffset) -> Result<SnoozeUntil> {
        let text = text.trim();
        let local_now = now.with_timezone(&offset);
        let local = |date: NaiveDate, time: NaiveTime| offset.from_local_datetime(&date.and_time(time)).single();
        let at = if let Some(span) = duration(text) {
            Some(now + span)
        } else if text.eq_ignore_ascii_case("tomorrow") {
            local(local_now.date_naive() + Duration::days(1), NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default())
                .map(|t| t.with_timezone(&Utc))
        } else if let Ok(time) = NaiveTime::parse_from_str(text, "%H:%M") {
            local(local_now.date_naive(), time).map(|t| {
                let t = t.with_timezone(&Utc);
                if t <= now { t + Duration::days(1) } else { t }
            })
        } else if let Ok(at) = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M") {
            offset.from_local_datetime(&at).single().map(|t| t.with_timezone(&Utc))
        } else {
            DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc))
        };
        let at = at.ok_or_else(|| {
            Error::invalid(
                format!("{text:?} is not a time to snooze until"),
                "write a span (30m, 2h, 3d, 1w), tomorrow, a time (17:30) or a date and time (2026-03-12 09:00)",
            )
        })?;
        if at <= now {
            return Err(Error::invalid(format!("{text:?} has already passed"), "snooze until a time in the future"));
        }
        if at - now > LONGEST {
            return Err(Error::invalid(
                format!("{text:?} is more than {} days away", LONGEST.num_days()),
                "resolve the conversation instead; a customer message reopens it",
            ));
        }
        Ok(SnoozeUntil(at))
    }
}

/// `30m`, `2h`, `3d`, `1w`.
fn duration(text: &str) -> Option<Duration> {
    let unit = text.chars().last()?;
    let count: i64 = text[..text.len() - unit.len_utf8()].trim().parse().ok()?;
    match unit {
        'm' => Some(Duration::minutes(count)),
        'h' => Some(Duration::hours(count)),
        'd' => Some(Duration::days(count)),
        'w' => Some(Duration::weeks(count)),
        _ => None,
    }
}

/// Hides the conversation from the open view until `until`, or until the customer writes.
pub async fn snooze(pool: &PgPool, scope: &Scope, contact: ContactId, until: SnoozeUntil) -> Result<Conversation> {
    scope.require(Area::Inbox)?;
    let mut tx = pool.begin().await?;
    let done = sqlx::query!(
        r#"UPDATE contacts SET snoozed_until = $3, snoozed_at = NOW()
           WHERE business_id = $1 AND id = $2 AND last_message_at IS NOT NULL"#,
        scope.business().0,
        contact.0,
        until.at()
    )
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(no_conversation(contact));
    }
    let snoozed = Event::ConversationUpdated {
        action: ConversationAction::Snoozed,
        messages: None,
        assigned_user_id: None,
        note_id: None,
        until: Some(until.at()),
    };
    announce(&mut tx, scope, contact, snoozed).await?;
    tx.commit().await?;
    conversations::get(pool, scope, contact).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<DateTime<Utc>> {
        let now = Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0).unwrap();
        SnoozeUntil::parse(text, now, FixedOffset::east_opt(3600).unwrap()).map(SnoozeUntil::at)
    }

    #[test]
    fn spans_clock_times_and_dates_are_read_in_the_local_offset() {
        let at = |h, m| Utc.with_ymd_and_hms(2026, 3, 10, h, m, 0).unwrap();
        assert_eq!(parse("2h").unwrap(), at(14, 0));
        assert_eq!(parse("30m").unwrap(), at(12, 30));
        assert_eq!(parse("1w").unwrap(), at(12, 0) + Duration::weeks(1));
        // 17:30 at UTC+1 is 16:30 UTC; 12:30 local already passed (11:30 UTC), so it is tomorrow's.
        assert_eq!(parse("17:30").unwrap(), at(16, 30));
        assert_eq!(parse("12:30").unwrap(), at(11, 30) + Duration::days(1));
        assert_eq!(parse("tomorrow").unwrap(), Utc.with_ymd_and_hms(2026, 3, 11, 8, 0, 0).unwrap());
        assert_eq!(parse("2026-03-12 09:00").unwrap(), Utc.with_ymd_and_hms(2026, 3, 12, 8, 0, 0).unwrap());
        assert_eq!(parse("2026-03-12T09:00:00Z").unwrap(), Utc.with_ymd_and_hms(2026, 3, 12, 9, 0, 0).unwrap());
    }

    #[test]
    fn the_past_nonsense_and_far_futures_are_refused_with_a_hint() {
        for bad in ["soon", "0m", "-2h", "2026-03-01 09:00", "200d", ""] {
            let err = parse(bad).unwrap_err();
            assert!(err.hint().is_some(), "{bad}: {err}");
        }
    }
}
