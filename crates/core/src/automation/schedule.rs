//! The `schedule` trigger: a rule whose cron expression, read in the business's IANA timezone, picks
//! minutes, and whose condition picks the contacts (the segment) it runs for at each of them. Each
//! matching minute is claimed once by a unique slot row, whose id stands for the triggering event of
//! its runs; minutes more than the allowed lateness in the past are dropped with a log line.

use chrono::{DateTime, Duration, DurationRound, Utc};
use chrono_tz::Tz;
use sqlx::PgPool;

use super::cron::Cron;
use super::engine::{Engine, Options, contacts_facts, fire};
use crate::auth::Scope;
use crate::error::{Error, Result};
use crate::events::Cause;
use crate::types::BusinessId;

/// The minutes in `(after, now]` at which `cron` fires in `tz`, oldest first.
pub fn due_slots(cron: &Cron, tz: Tz, after: DateTime<Utc>, now: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let minute = Duration::minutes(1);
    let Ok(mut at) = after.duration_trunc(minute) else { return Vec::new() };
    let mut due = Vec::new();
    at += minute;
    while at <= now {
        if cron.matches(at.with_timezone(&tz).naive_local()) {
            due.push(at);
        }
        at += minute;
    }
    due
}

/// Fires every schedule rule's due minutes; how many (rule, minute) slots fired.
pub(super) async fn fire_schedules(pool: &PgPool, engine: &mut Engine, options: &Options) -> Result<usize> {
    let now = Utc::now();
    let horizon = now - options.max_late;
    // Every business's schedule rules: the clock's sweep, the one statement here not scoped to a business.
    let rules = sqlx::query!(
        r#"SELECT r.business_id AS "business_id: BusinessId", r.id, b.timezone,
                  greatest(r.updated_at, (SELECT max(s.slot) FROM automation_schedule_slots s
                                          WHERE s.business_id = r.business_id AND s.rule_id = r.id)) AS "after!"
           FROM automation_rules r JOIN businesses b ON b.id = r.business_id
           WHERE r.enabled AND r.trigger = 'schedule'"#
    )
    .fetch_all(pool)
    .await?;
    let mut fired = 0;
    for row in rules {
        let tz: Tz = row.timezone.parse().unwrap_or_else(|_| {
            tracing::warn!(business = %row.business_id, timezone = row.timezone, "unknown timezone; schedules use UTC");
            Tz::UTC
        });
        let mut conn = pool.acquire().await?;
        let compiled = engine.rules(&mut conn, row.business_id).await?;
        drop(conn);
        let Some(rule) = compiled.iter().find(|r| r.id == row.id) else { continue };
        let Some(cron) = &rule.cron else { continue };
        if row.after < horizon {
            let missed = due_slots(cron, tz, row.after, horizon);
            if let (Some(first), Some(last)) = (missed.first(), missed.last()) {
                tracing::warn!(rule = rule.id, business = %row.business_id, from = %first, to = %last, count = missed.len(),
                               "automation schedule dropped: more than {} minutes late", options.max_late.num_minutes());
            }
        }
        for slot in due_slots(cron, tz, row.after.max(horizon), now) {
            fired += usize::from(fire_slot(pool, row.business_id, rule, slot).await?);
        }
    }
    Ok(fired)
}

/// Claims one minute of a schedule rule and runs the rule for every contact its condition selects.
async fn fire_slot(
    pool: &PgPool,
    business: BusinessId,
    rule: &super::engine::Active,
    slot: DateTime<Utc>,
) -> Result<bool> {
    let mut tx = pool.begin().await?;
    let Some(id) = sqlx::query_scalar!(
        "INSERT INTO automation_schedule_slots (business_id, rule_id, slot, status) VALUES ($1, $2, $3, 'fired')
         ON CONFLICT (business_id, rule_id, slot) DO NOTHING RETURNING id",
        business.0,
        rule.id,
        slot
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(false);
    };
    // No stored event caused it: the slot's id, negated, is the run's event (unique per rule and minute).
    let event = -id;
    let cause = Cause::default();
    let scope = Scope::system(business);
    let mut matched = 0i32;
    for (contact, facts) in contacts_facts(&mut tx, business, None).await? {
        if rule.condition.matches(&facts) {
            fire(&mut tx, &scope, rule, event, contact, &cause, &facts).await?;
            matched += 1;
        }
    }
    sqlx::query!(
        "UPDATE automation_schedule_slots SET contacts = $3 WHERE business_id = $1 AND id = $2",
        business.0,
        id,
        matched
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await.map_err(Error::from)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn slots_are_minutes_in_the_business_timezone() {
        let cron = Cron::parse("0 9 * * *", "$.cron").unwrap();
        let tz: Tz = "America/Sao_Paulo".parse().unwrap();
        // 09:00 in São Paulo (UTC-3) is 12:00 UTC.
        let after = Utc.with_ymd_and_hms(2026, 12, 7, 11, 0, 30).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 12, 7, 12, 5, 0).unwrap();
        assert_eq!(due_slots(&cron, tz, after, now), vec![Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap()]);
        assert!(due_slots(&cron, tz, now, now + Duration::hours(20)).is_empty());
        let every = Cron::parse("* * * * *", "$.cron").unwrap();
        assert_eq!(due_slots(&every, Tz::UTC, after, after + Duration::minutes(3)).len(), 3);
    }
}
