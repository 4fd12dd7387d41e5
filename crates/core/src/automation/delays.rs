//! Armed waits: a delayed rule, and the no_reply / unanswered triggers. Each is a pending row under a
//! UNIQUE episode key plus a delayed job at its minute (the job only wakes the engine; the row is the
//! truth). A wait ends early when the customer replies (a follow-up, no_reply), when we answer
//! (unanswered), when the contact is deleted or the rule disabled; when it falls due its conditions are
//! checked again against the contact as it is then, and one more than the allowed lateness late is
//! dropped with a log line.

use chrono::{DateTime, Duration, Utc};
use sqlx::{PgConnection, PgPool};

use super::engine::{Active, AutomationTick, Engine, Options, decide, facts, fire, log_refusal};
use super::rules::Trigger;
use crate::auth::Scope;
use crate::error::Result;
use crate::events::{Consumer, Recorded};
use crate::jobs::{self, Schedule};
use crate::types::{BusinessId, ContactId};

/// Arms `rule` for `contact` after `event`: one pending row per episode and a wake-up at its minute.
///
/// - a delayed rule: one episode per triggering event;
/// - no_reply: one episode per silence of the customer (since their last message), its clock moved to
///   our latest message, so it fires N minutes after the last thing we said;
/// - unanswered: one episode per customer turn (since our last message), its clock kept at the
///   customer's first unanswered message.
pub(super) async fn arm(
    conn: &mut PgConnection,
    business: BusinessId,
    rule: &Active,
    event: i64,
    contact: ContactId,
) -> Result<()> {
    let due = Utc::now() + Duration::minutes(i64::from(rule.delay_minutes));
    let (episode, restart) = match rule.trigger {
        Trigger::NoReply => (format!("no_reply:{}", last_message(conn, business, contact, "in").await?), true),
        Trigger::Unanswered => (format!("unanswered:{}", last_message(conn, business, contact, "out").await?), false),
        _ => (format!("event:{event}"), false),
    };
    let armed = sqlx::query!(
        "INSERT INTO automation_pending (business_id, rule_id, contact_id, event_id, episode_key, due_at, ended_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (business_id, rule_id, contact_id, episode_key) DO UPDATE
             SET due_at = excluded.due_at, event_id = excluded.event_id
             WHERE $8 AND automation_pending.status = 'pending'",
        business.0,
        rule.id,
        contact.0,
        event,
        episode,
        due,
        rule.trigger.ended_by(),
        restart
    )
    .execute(&mut *conn)
    .await?;
    if armed.rows_affected() > 0 {
        // One wake-up per second that waits fall due in, at its end: a wait fires within about a second
        // of its time (the runner polls for due jobs each second). A wake-up per minute, keyed and so
        // moved to the minute's last wait, would leave the minute's earlier waits to the next tick.
        let second = due.timestamp() + 1;
        let schedule = Schedule {
            run_at: DateTime::from_timestamp(second, 0),
            key: Some(format!("automation:due:{second}")),
            ..Schedule::default()
        };
        jobs::enqueue_on(conn, &AutomationTick {}, &schedule).await?;
    }
    Ok(())
}

/// The id of the contact's last message in `direction` (0: none): it names the episode.
async fn last_message(
    conn: &mut PgConnection,
    business: BusinessId,
    contact: ContactId,
    direction: &str,
) -> Result<i32> {
    Ok(sqlx::query_scalar!(
        r#"SELECT coalesce(max(id), 0) AS "id!" FROM messages
           WHERE business_id = $1 AND contact_id = $2 AND direction::text = $3"#,
        business.0,
        contact.0,
        direction
    )
    .fetch_one(conn)
    .await?)
}

/// Ends the contact's waits that an event of `kind` ends (those armed before event `before`), or all of
/// them when `kind` is `None` (the contact was deleted).
pub(super) async fn end_waits(
    conn: &mut PgConnection,
    business: BusinessId,
    contact: ContactId,
    kind: Option<&str>,
    before: i64,
    reason: &str,
) -> Result<()> {
    sqlx::query!(
        "UPDATE automation_pending SET status = 'cancelled', reason = $5
         WHERE business_id = $1 AND contact_id = $2 AND status = 'pending' AND event_id < $3
           AND ($4::text IS NULL OR ended_by = $4)",
        business.0,
        contact.0,
        before,
        kind,
        reason
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Cancels a rule's armed waits (it was disabled).
pub(super) async fn cancel_rule(conn: &mut PgConnection, business: BusinessId, rule: i32) -> Result<()> {
    sqlx::query!(
        "UPDATE automation_pending SET status = 'cancelled', reason = 'the rule was disabled'
         WHERE business_id = $1 AND rule_id = $2 AND status = 'pending'",
        business.0,
        rule
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Fires the waits that are due, a batch at a time: each is claimed, its rule and conditions checked
/// again against the contact as it is now, and run as if the triggering event had just happened.
pub(super) async fn fire_due(pool: &PgPool, engine: &mut Engine, options: &Options) -> Result<usize> {
    let mut total = 0;
    loop {
        let n = fire_batch(pool, engine, options).await?;
        total += n;
        if n < BATCH as usize {
            return Ok(total);
        }
    }
}

const BATCH: i64 = 1000;

async fn fire_batch(pool: &PgPool, engine: &mut Engine, options: &Options) -> Result<usize> {
    engine.begin();
    let mut tx = pool.begin().await?;
    let late_minutes = options.max_late.num_minutes();
    // Every business's due waits: the sweep is the one statement here not scoped to a business.
    let due = sqlx::query!(
        r#"UPDATE automation_pending p
           SET status = CASE WHEN p.due_at < now() - make_interval(mins => $1) THEN 'expired' ELSE 'fired' END,
               reason = CASE WHEN p.due_at < now() - make_interval(mins => $1) THEN $2 END
           WHERE p.id IN (SELECT id FROM automation_pending WHERE status = 'pending' AND due_at <= now()
                          ORDER BY due_at LIMIT $3 FOR UPDATE SKIP LOCKED)
           RETURNING p.business_id AS "business_id: BusinessId", p.rule_id, p.contact_id AS "contact_id: ContactId",
                     p.event_id, p.status, p.due_at"#,
        late_minutes as i32,
        format!("dropped: more than {late_minutes} minutes late"),
        BATCH
    )
    .fetch_all(&mut *tx)
    .await?;
    for row in &due {
        if row.status == "expired" {
            tracing::warn!(rule = row.rule_id, contact = %row.contact_id, due_at = %row.due_at,
                           "automation wait dropped: more than {late_minutes} minutes late");
            continue;
        }
        let rules = engine.batch_rules(&mut tx, row.business_id).await?;
        let Some(rule) = rules.iter().find(|r| r.id == row.rule_id) else { continue };
        let Some(recorded) = load_event(&mut tx, row.business_id, row.event_id).await? else { continue };
        let Some(event) = recorded.event() else { continue };
        let Some(facts) = facts(&mut tx, row.business_id, row.contact_id, Some(&event)).await? else { continue };
        let cause = recorded.cause();
        let (business, contact, event) = (row.business_id, row.contact_id, row.event_id);
        match decide(std::slice::from_ref(rule), rule.trigger, &cause, &facts).first() {
            Some((_, None)) => fire(&mut tx, &Scope::system(business), rule, event, contact, &cause, &facts).await?,
            Some((_, Some(reason))) => log_refusal(&mut tx, business, rule.id, event, contact, &cause, reason).await?,
            None => {
                let reason = "the conditions no longer held when the wait ended";
                log_refusal(&mut tx, business, rule.id, event, contact, &cause, reason).await?
            }
        }
    }
    tx.commit().await?;
    Ok(due.len())
}

async fn load_event(conn: &mut PgConnection, business: BusinessId, id: i64) -> Result<Option<Recorded>> {
    Ok(sqlx::query_as!(
        Recorded,
        r#"SELECT id, kind, business_id AS "business_id: BusinessId", contact_id AS "contact_id: ContactId",
                  payload, created_at
           FROM events WHERE business_id = $1 AND id = $2"#,
        business.0,
        id
    )
    .fetch_optional(conn)
    .await?)
}
