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

use crate::analytics::outcomes::{CONVERSION_WINDOW_DAYS, META_LIMIT_CODE, REPLY_WINDOW_HOURS};
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
                      coalesce(m.status, 'sent') AS status, coalesce(m.error_code = $6, false) AS limited,
                      m.replied_at IS NOT NULL AS stored_replied,
                      CASE WHEN coalesce(m.status, 'sent') IN ('sent', 'delivered', 'read')
                           THEN wacrm_reply_after($1, m.contact_id, m.sent_at, make_interval(hours => $4)) END
                          AS replied_at
               FROM messages m
               WHERE m.business_id = $1 AND m.contact_id IN (SELECT contact_id FROM dirty)
                 AND m.direction = 'out' AND (m.campaign_id IS NOT NULL OR m.kind = 'template')
                 AND m.sent_at >= $2 AND m.sent_at < $3
           ), counted AS (
               SELECT campaign_id, template_name, template_language, status, limited, replied, sends
               FROM analytics_send_outcomes WHERE business_id = $1 AND bucket >= $2 AND bucket < $3
               UNION ALL
               SELECT campaign_id, template_name, template_language, status, limited, stored_replied, -1
               FROM dirty_sends
               UNION ALL
               SELECT campaign_id, template_name, template_language, status, limited, replied_at IS NOT NULL, 1
               FROM dirty_sends
           ), outcomes AS (
               SELECT campaign_id, template_name, template_language, sum(sends) AS messages,
                      sum(sends) FILTER (WHERE status <> 'pending') AS sent,
                      sum(sends) FILTER (WHERE status = 'failed') AS failed,
                      sum(sends) FILTER (WHERE status = 'failed' AND limited) AS limited,
                      sum(sends) FILTER (WHERE status IN ('delivered', 'read')) AS delivered,
                      sum(sends) FILTER (WHERE status = 'read') AS read,
                      sum(sends) FILTER (WHERE status IN ('sent', 'delivered', 'read') AND replied) AS replied
               FROM counted GROUP BY 1, 2, 3 HAVING sum(sends) <> 0
           ), replies AS (
               SELECT m.contact_id, m.campaign_id,
                      CASE WHEN m.kind = 'template' THEN m.payload #>> '{template,name}' END AS template_name,
                      CASE WHEN m.kind = 'template' THEN m.payload #>> '{template,language}' END AS template_language,
                      m.replied_at
               FROM messages m
               WHERE m.business_id = $1 AND m.replied_at IS NOT NULL AND m.direction = 'out'
                 AND (m.campaign_id IS NOT NULL OR m.kind = 'template') AND m.sent_at >= $2 AND m.sent_at < $3
                 AND coalesce(m.status, 'sent') IN ('sent', 'delivered', 'read')
                 AND NOT EXISTS (SELECT 1 FROM dirty d WHERE d.contact_id = m.contact_id)
               UNION ALL
               SELECT contact_id, campaign_id, template_name, template_language, replied_at
               FROM dirty_sends WHERE replied_at IS NOT NULL
           ), converted AS (
               SELECT campaign_id, template_name, template_language, count(*) AS converted FROM replies r
               WHERE EXISTS (
                   SELECT 1 FROM pipeline_history p
                   WHERE p.business_id = $1 AND p.to_stage = 'Paid' AND p.contact_id = r.contact_id
                     AND p.changed_at >= r.replied_at AND p.changed_at <= r.replied_at + make_interval(days => $5)
               )
               GROUP BY 1, 2, 3
           )
           SELECT o.campaign_id AS "campaign_id?", o.template_name AS "template_name?",
                  o.template_language AS "template_language?", o.messages::bigint AS "messages!",
                  coalesce(o.sent, 0)::bigint AS "sent!", coalesce(o.failed, 0)::bigint AS "failed!",
                  coalesce(o.limited, 0)::bigint AS "limited!", coalesce(o.delivered, 0)::bigint AS "delivered!",
                  coalesce(o.read, 0)::bigint AS "read!", coalesce(o.replied, 0)::bigint AS "replied!",
                  coalesce(c.converted, 0) AS "converted!"
           FROM outcomes o
           LEFT JOIN converted c ON c.campaign_id IS NOT DISTINCT FROM o.campaign_id
                                AND c.template_name IS NOT DISTINCT FROM o.template_name
                                AND c.template_language IS NOT DISTINCT FROM o.template_language"#,
        business,
        range.start,
        range.end,
        REPLY_WINDOW_HOURS,
        CONVERSION_WINDOW_DAYS,
        META_LIMIT_CODE
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

/// Rollup rows (bucket and key) whose sends differ from the messages', counted both ways.
pub(super) async fn differences(pool: &PgPool, business: i32) -> Result<i64> {
    Ok(sqlx::query_scalar!(
        r#"WITH raw AS (
               SELECT bucket, campaign_id, template_name, template_language, status, limited, replied, sends
               FROM analytics_send_outcomes_recomputed WHERE business_id = $1
           ), rollup AS (
               SELECT bucket, campaign_id, template_name, template_language, status, limited, replied,
                      sum(sends) AS sends
               FROM analytics_send_outcomes WHERE business_id = $1
               GROUP BY 1, 2, 3, 4, 5, 6, 7 HAVING sum(sends) <> 0
           )
           SELECT count(*) AS "n!" FROM raw FULL JOIN rollup
               ON (rollup.bucket, rollup.status, rollup.limited, rollup.replied)
                      = (raw.bucket, raw.status, raw.limited, raw.replied)
              AND rollup.campaign_id IS NOT DISTINCT FROM raw.campaign_id
              AND rollup.template_name IS NOT DISTINCT FROM raw.template_name
              AND rollup.template_language IS NOT DISTINCT FROM raw.template_language
           WHERE raw.sends IS DISTINCT FROM rollup.sends"#,
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
               (business_id, bucket, campaign_id, template_name, template_language, status, limited, replied, sends)
           SELECT business_id, bucket, campaign_id, template_name, template_language, status, limited, replied, sends
           FROM analytics_send_outcomes_recomputed WHERE business_id = $1"#,
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
                        (business_id, bucket, campaign_id, template_name, template_language, status, limited,
                         replied, sends)
                    SELECT business_id, bucket, campaign_id, template_name, template_language, status, limited,
                           replied, sum(sends)
                    FROM gone GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 HAVING sum(sends) <> 0
                    RETURNING 1
                )
           SELECT (SELECT count(*) FROM gone) AS "before!", (SELECT count(*) FROM kept) AS "after!""#,
        business
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok((rows.before, rows.after))
}
