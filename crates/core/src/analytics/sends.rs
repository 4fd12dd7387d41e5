//! The outcomes of a range's campaign and template sends, per campaign and template, from the rollup
//! of send outcomes (`analytics_send_outcomes`, migration 0090) instead of the sends themselves, so the
//! cost of a report does not grow with the sends of its range. Exact, by the definitions of
//! [`outcomes`](crate::analytics::outcomes):
//!
//! - statuses and Meta's limit come from the rollup, which triggers keep in the writing transaction;
//! - replies come from the sends' stored reply times there too; for contacts marked dirty (messages
//!   changed since the last refresh) their stored contribution is taken out and their live one put in,
//!   as the response times do (module `waits`);
//! - conversions are not additive through time (a later move to Paid converts an earlier reply), so
//!   they are counted from the range's replied sends only (index `messages_replied_sends`) joined with
//!   the moves to Paid (`idx_pipeline_paid`).
//!
//! The rollup is checked against the messages by `analytics verify`, rebuilt by a repair and folded by
//! `analytics compact` (the functions at the end, called from `verify`).

use sqlx::{PgConnection, PgPool};

use crate::analytics::outcomes::{CONVERSION_WINDOW_DAYS, REPLY_WINDOW_HOURS};
use crate::analytics::range::Range;
use crate::error::Result;

/// The sends of one campaign (or none) and one template name and language (none for a send that is
/// not a template), in the order of `SendOutcomes::counted`.
#[derive(Debug, Clone)]
pub(super) struct SendGroup {
    pub campaign: Option<i32>,
    pub template_name: Option<String>,
    pub template_language: Option<String>,
    pub counts: [i64; 8],
}

/// Every group with a send in the range.
pub(super) async fn groups(pool: &PgPool, business: i32, range: &Range) -> Result<Vec<SendGroup>> {
    let rows = sqlx::query!(
        r#"WITH dirty AS (
               SELECT contact_id FROM analytics_dirty_contacts WHERE business_id = $1
           ), dirty_sends AS MATERIALIZED (
               SELECT m.contact_id, m.campaign_id,
                      CASE WHEN m.kind = 'template' THEN m.payload #>> '{template,name}' END AS template_name,
                      CASE WHEN m.kind = 'template' THEN m.payload #>> '{template,language}' END AS template_language,
                      coalesce(m.status, 'sent') IN ('sent', 'delivered', 'read') AND m.replied_at IS NOT NULL
                          AS stored_replied,
                      CASE WHEN coalesce(m.status, 'sent') IN ('sent', 'delivered', 'read')
                           THEN wacrm_reply_after($1, m.contact_id, m.sent_at, make_interval(hours => $4)) END
                          AS replied_at
               FROM messages m
               WHERE m.business_id = $1 AND m.contact_id IN (SELECT contact_id FROM dirty)
                 AND m.direction = 'out' AND (m.campaign_id IS NOT NULL OR m.kind = 'template')
                 AND m.sent_at >= $2 AND m.sent_at < $3
           ), counted AS (
               SELECT campaign_id, template_name, template_language, messages, sent, failed, limited, delivered,
                      read, replied
               FROM analytics_send_outcomes WHERE business_id = $1 AND bucket >= $2 AND bucket < $3
               UNION ALL
               SELECT campaign_id, template_name, template_language, 0, 0, 0, 0, 0, 0,
                      (replied_at IS NOT NULL)::int - stored_replied::int
               FROM dirty_sends
           ), outcomes AS (
               SELECT campaign_id, template_name, template_language, sum(messages) AS messages, sum(sent) AS sent,
                      sum(failed) AS failed, sum(limited) AS limited, sum(delivered) AS delivered,
                      sum(read) AS read, sum(replied) AS replied
               FROM counted GROUP BY 1, 2, 3 HAVING sum(messages) <> 0
           ), paid_replies AS MATERIALIZED (
               -- Clean contacts' replied sends followed by a move to Paid: read from the index alone; only
               -- those few are then read for their status and key.
               SELECT m.id FROM messages m
               WHERE m.business_id = $1 AND m.replied_at IS NOT NULL AND m.direction = 'out'
                 AND (m.campaign_id IS NOT NULL OR m.kind = 'template') AND m.sent_at >= $2 AND m.sent_at < $3
                 AND NOT EXISTS (SELECT 1 FROM dirty d WHERE d.contact_id = m.contact_id)
                 AND EXISTS (
                     SELECT 1 FROM pipeline_history p
                     WHERE p.business_id = $1 AND p.to_stage = 'Paid' AND p.contact_id = m.contact_id
                       AND p.changed_at >= m.replied_at AND p.changed_at <= m.replied_at + make_interval(days => $5)
                 )
           ), converted AS (
               SELECT campaign_id, template_name, template_language, count(*) AS converted FROM (
                   SELECT m.campaign_id,
                          CASE WHEN m.kind = 'template' THEN m.payload #>> '{template,name}' END AS template_name,
                          CASE WHEN m.kind = 'template' THEN m.payload #>> '{template,language}' END
                              AS template_language
                   FROM paid_replies r JOIN messages m ON m.business_id = $1 AND m.id = r.id
                   WHERE coalesce(m.status, 'sent') IN ('sent', 'delivered', 'read')
                   UNION ALL
                   SELECT campaign_id, template_name, template_language FROM dirty_sends d
                   WHERE EXISTS (
                       SELECT 1 FROM pipeline_history p
                       WHERE p.business_id = $1 AND p.to_stage = 'Paid' AND p.contact_id = d.contact_id
                         AND p.changed_at >= d.replied_at AND p.changed_at <= d.replied_at + make_interval(days => $5)
                   )
               ) c
               GROUP BY 1, 2, 3
           )
           SELECT o.campaign_id AS "campaign_id?", o.template_name AS "template_name?",
                  o.template_language AS "template_language?", o.messages::bigint AS "messages!",
                  o.sent::bigint AS "sent!", o.failed::bigint AS "failed!", o.limited::bigint AS "limited!",
                  o.delivered::bigint AS "delivered!", o.read::bigint AS "read!", o.replied::bigint AS "replied!",
                  coalesce(c.converted, 0) AS "converted!"
           FROM outcomes o
           LEFT JOIN converted c ON c.campaign_id IS NOT DISTINCT FROM o.campaign_id
                                AND c.template_name IS NOT DISTINCT FROM o.template_name
                                AND c.template_language IS NOT DISTINCT FROM o.template_language"#,
        business,
        range.start,
        range.end,
        REPLY_WINDOW_HOURS,
        CONVERSION_WINDOW_DAYS
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| SendGroup {
            campaign: r.campaign_id,
            template_name: r.template_name,
            template_language: r.template_language,
            counts: [r.messages, r.sent, r.failed, r.limited, r.delivered, r.read, r.replied, r.converted],
        })
        .collect())
}

/// Rollup rows (bucket and key) whose figures differ from the messages', counted both ways.
pub(super) async fn differences(pool: &PgPool, business: i32) -> Result<i64> {
    Ok(sqlx::query_scalar!(
        r#"WITH raw AS (
               SELECT bucket, campaign_id, template_name, template_language,
                      ARRAY[messages, sent, failed, limited, delivered, read, replied] AS figures
               FROM analytics_send_outcomes_recomputed WHERE business_id = $1
           ), rollup AS (
               SELECT bucket, campaign_id, template_name, template_language,
                      ARRAY[sum(messages), sum(sent), sum(failed), sum(limited), sum(delivered), sum(read),
                            sum(replied)]::bigint[] AS figures
               FROM analytics_send_outcomes WHERE business_id = $1
               GROUP BY 1, 2, 3, 4
           )
           SELECT count(*) AS "n!" FROM raw FULL JOIN rollup
               ON rollup.bucket = raw.bucket AND rollup.campaign_id IS NOT DISTINCT FROM raw.campaign_id
              AND rollup.template_name IS NOT DISTINCT FROM raw.template_name
              AND rollup.template_language IS NOT DISTINCT FROM raw.template_language
           WHERE coalesce(raw.figures, '{0,0,0,0,0,0,0}') <> coalesce(rollup.figures, '{0,0,0,0,0,0,0}')"#,
        business
    )
    .fetch_one(pool)
    .await?)
}

/// Replaces the business's rollup with the sums of its messages (in the repair's transaction).
pub(super) async fn rebuild(conn: &mut PgConnection, business: i32) -> Result<()> {
    sqlx::query!(
        r#"WITH gone AS (DELETE FROM analytics_send_outcomes WHERE business_id = $1)
           INSERT INTO analytics_send_outcomes
               (business_id, bucket, campaign_id, template_name, template_language, messages, sent, failed,
                limited, delivered, read, replied)
           SELECT * FROM analytics_send_outcomes_recomputed WHERE business_id = $1"#,
        business
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Folds the business's deltas into one row per bucket and key, dropping those that sum to zero;
/// returns the rows before and after.
pub(super) async fn compact(conn: &mut PgConnection, business: i32) -> Result<(i64, i64)> {
    let rows = sqlx::query!(
        r#"WITH gone AS (DELETE FROM analytics_send_outcomes WHERE business_id = $1 RETURNING *),
                kept AS (
                    INSERT INTO analytics_send_outcomes
                        (business_id, bucket, campaign_id, template_name, template_language, messages, sent,
                         failed, limited, delivered, read, replied)
                    SELECT business_id, bucket, campaign_id, template_name, template_language, sum(messages),
                           sum(sent), sum(failed), sum(limited), sum(delivered), sum(read), sum(replied)
                    FROM gone GROUP BY 1, 2, 3, 4, 5
                    HAVING sum(messages) <> 0 OR sum(sent) <> 0 OR sum(failed) <> 0 OR sum(limited) <> 0
                        OR sum(delivered) <> 0 OR sum(read) <> 0 OR sum(replied) <> 0
                    RETURNING 1
                )
           SELECT (SELECT count(*) FROM gone) AS "before!", (SELECT count(*) FROM kept) AS "after!""#,
        business
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok((rows.before, rows.after))
}

/// Rows of the automation sends rollup (`analytics_automation_sends`: per bucket of the action and
/// rule, the send actions whose message was delivered and answered) that differ from the report's own
/// join of send actions and messages, counted both ways.
pub(super) async fn automation_differences(pool: &PgPool, business: i32) -> Result<i64> {
    Ok(sqlx::query_scalar!(
        r#"WITH raw AS (
               SELECT bucket, rule_id, delivered, replied FROM analytics_automation_sends_recomputed
               WHERE business_id = $1
           ), rollup AS (
               SELECT bucket, rule_id, sum(delivered)::bigint AS delivered, sum(replied)::bigint AS replied
               FROM analytics_automation_sends WHERE business_id = $1
               GROUP BY 1, 2 HAVING sum(delivered) <> 0 OR sum(replied) <> 0
           )
           SELECT count(*) AS "n!" FROM raw FULL JOIN rollup USING (bucket, rule_id)
           WHERE raw.delivered IS DISTINCT FROM rollup.delivered OR raw.replied IS DISTINCT FROM rollup.replied"#,
        business
    )
    .fetch_one(pool)
    .await?)
}

/// Replaces the business's automation sends rollup with the report's join (in the repair's
/// transaction), and links every send action's message to it again.
pub(super) async fn rebuild_automation(conn: &mut PgConnection, business: i32) -> Result<()> {
    // Links first: the update trigger adds what each new link counts, and the rebuild below replaces
    // it all in any case.
    sqlx::query!(
        r#"UPDATE messages m SET automation_action_id = a.id
           FROM automation_actions a
           WHERE a.business_id = $1 AND a.kind IN ('send_template', 'send_text') AND m.business_id = $1
             AND m.client_ref = a.client_ref AND m.automation_action_id IS DISTINCT FROM a.id"#,
        business
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        r#"WITH gone AS (DELETE FROM analytics_automation_sends WHERE business_id = $1)
           INSERT INTO analytics_automation_sends (business_id, bucket, rule_id, delivered, replied)
           SELECT business_id, bucket, rule_id, delivered, replied FROM analytics_automation_sends_recomputed
           WHERE business_id = $1"#,
        business
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Folds the business's automation sends deltas into one row per bucket and rule; returns the rows
/// before and after.
pub(super) async fn compact_automation(conn: &mut PgConnection, business: i32) -> Result<(i64, i64)> {
    let rows = sqlx::query!(
        r#"WITH gone AS (DELETE FROM analytics_automation_sends WHERE business_id = $1 RETURNING *),
                kept AS (
                    INSERT INTO analytics_automation_sends (business_id, bucket, rule_id, delivered, replied)
                    SELECT business_id, bucket, rule_id, sum(delivered), sum(replied)
                    FROM gone GROUP BY 1, 2, 3 HAVING sum(delivered) <> 0 OR sum(replied) <> 0
                    RETURNING 1
                )
           SELECT (SELECT count(*) FROM gone) AS "before!", (SELECT count(*) FROM kept) AS "after!""#,
        business
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok((rows.before, rows.after))
}
