//! Meta's template webhooks (`message_template_status_update`, `template_category_update`,
//! `message_template_quality_update`) applied to the business's template, in the ingest transaction
//! that routed them by WABA id.
//!
//! Each update is recorded once in the template's history (keyed by its kind, value and time): Meta's
//! retries and replays of the raw log find it there and change nothing. A status older than the one the
//! template has is kept in the history but does not overwrite the newer one.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{Connection, PgConnection};

use super::spec::Category;
use super::status_for_event;
use crate::error::Result;
use crate::events::{self, Cause, Event};
use crate::types::{BusinessId, TemplateId};
use crate::whatsapp::webhook::{TemplateCategoryUpdate, TemplateQualityUpdate, TemplateStatusUpdate, TemplateUpdate};

/// How far ahead of our clock a webhook's time may be (clock skew between Meta and us).
const FUTURE_TOLERANCE_MINUTES: i64 = 5;

/// What applying one update did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The template's status or category changed.
    Changed,
    /// Already applied (a retry, a replay), or older than what the template has.
    Unchanged,
    /// No template of the business matches: made in Meta's UI and not synced yet (`wacrm templates sync`).
    UnknownTemplate,
}

/// Applies one template webhook for `business` under its own savepoint (a failure rolls back only
/// this update). `time` is the entry's `time` (unix seconds); a missing one, or one more than a few
/// minutes ahead of our clock (trusted, it would pin the status against every later update), reads as
/// now.
pub async fn apply_update_on(
    conn: &mut PgConnection,
    business: BusinessId,
    time: Option<i64>,
    update: &TemplateUpdate,
) -> Result<Applied> {
    let now = Utc::now();
    let at = time
        .and_then(|t| DateTime::from_timestamp(t, 0))
        .filter(|t| *t <= now + chrono::TimeDelta::minutes(FUTURE_TOLERANCE_MINUTES))
        .unwrap_or(now);
    let mut savepoint = Connection::begin(&mut *conn).await?;
    match apply(&mut savepoint, business, at, update).await {
        Ok(applied) => {
            savepoint.commit().await?;
            if applied == Applied::UnknownTemplate {
                tracing::warn!(%business, update = %update.label(),
                    "template webhook for a template this business does not have; run `wacrm templates sync`");
            }
            Ok(applied)
        }
        Err(e) => {
            savepoint.rollback().await?;
            Err(e)
        }
    }
}

async fn apply(
    conn: &mut PgConnection,
    business: BusinessId,
    at: DateTime<Utc>,
    update: &TemplateUpdate,
) -> Result<Applied> {
    let (meta_id, name, language) = update.template();
    let template = sqlx::query_scalar!(
        r#"SELECT id FROM message_templates
           WHERE business_id = $1
             AND (meta_id = $2 OR (meta_id IS NULL AND deleted_at IS NULL AND name = $3 AND language = $4))
           ORDER BY meta_id = $2 DESC NULLS LAST
           LIMIT 1
           FOR NO KEY UPDATE"#,
        business.0,
        meta_id.as_deref(),
        name,
        language
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(template) = template else { return Ok(Applied::UnknownTemplate) };
    let changed = match update {
        TemplateUpdate::Status(u) => {
            let changed = status(conn, business, template, meta_id.as_deref(), at, u).await?;
            if changed {
                let reason = u.reason.clone().filter(|r| !r.trim().is_empty() && !r.eq_ignore_ascii_case("NONE"));
                let event = Event::TemplateStatusChanged {
                    template_id: template,
                    name: name.unwrap_or_default().to_string(),
                    status: status_for_event(&u.event.trim().to_ascii_uppercase()).to_string(),
                    reason,
                };
                events::emit(conn, business, None, event, Cause::meta()).await?;
                let status = status_for_event(&u.event.trim().to_ascii_uppercase());
                crate::broadcast::pause_for_template_on(conn, business, TemplateId(template), &status).await?;
            }
            changed
        }
        TemplateUpdate::Category(u) => category(conn, business, template, at, u).await?,
        TemplateUpdate::Quality(u) => quality(conn, business, template, at, u).await?,
    };
    Ok(if changed { Applied::Changed } else { Applied::Unchanged })
}

/// A known category in Meta's spelling; anything else is left out rather than refused.
fn known_category(category: Option<&str>) -> Option<&'static str> {
    category.and_then(|c| c.parse::<Category>().ok()).map(Category::as_str)
}

async fn status(
    conn: &mut PgConnection,
    business: BusinessId,
    template: i32,
    meta_id: Option<&str>,
    at: DateTime<Utc>,
    update: &TemplateStatusUpdate,
) -> Result<bool> {
    let event = update.event.trim().to_ascii_uppercase();
    let status = status_for_event(&event);
    let reason = update.reason.as_deref().map(str::trim).filter(|r| !r.is_empty() && !r.eq_ignore_ascii_case("NONE"));
    let detail = json!({
        "category": update.message_template_category,
        "disable_info": update.disable_info,
        "other_info": update.other_info,
    });
    let changed = sqlx::query_scalar!(
        r#"WITH logged AS (
               INSERT INTO message_template_history (business_id, template_id, kind, value, reason, detail, source, at)
               VALUES ($1, $2, 'status', $3, $4, $5, 'webhook', $6)
               ON CONFLICT DO NOTHING
               RETURNING id
           )
           UPDATE message_templates
           SET status = $7, status_at = $6,
               rejection_reason = CASE WHEN $7 = 'rejected' THEN $4 ELSE NULL END,
               category = COALESCE($8, category),
               meta_id = COALESCE(meta_id, $9),
               deleted_at = CASE WHEN $7 = 'deleted' THEN COALESCE(deleted_at, $6) ELSE deleted_at END,
               updated_at = NOW()
           WHERE business_id = $1 AND id = $2 AND EXISTS (SELECT 1 FROM logged)
             AND (status_at IS NULL OR status_at <= $6)
           RETURNING id"#,
        business.0,
        template,
        event,
        reason,
        detail,
        at,
        status,
        known_category(update.message_template_category.as_deref()),
        meta_id
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(changed.is_some())
}

async fn category(
    conn: &mut PgConnection,
    business: BusinessId,
    template: i32,
    at: DateTime<Utc>,
    update: &TemplateCategoryUpdate,
) -> Result<bool> {
    // Impending: the template keeps its category until `category_update_timestamp`.
    let impending = known_category(update.correct_category.as_deref());
    let new = impending.or(known_category(update.new_category.as_deref()));
    let Some(new) = new else { return Ok(false) };
    let value = if impending.is_some() { format!("impending:{new}") } else { new.to_string() };
    let effective = update.category_update_timestamp.and_then(|t| DateTime::from_timestamp(t, 0));
    let detail = json!({
        "previous_category": update.previous_category,
        "new_category": update.new_category,
        "correct_category": update.correct_category,
        "category_update_timestamp": update.category_update_timestamp,
    });
    let changed = sqlx::query_scalar!(
        r#"WITH logged AS (
               INSERT INTO message_template_history (business_id, template_id, kind, value, detail, source, at)
               VALUES ($1, $2, 'category', $3, $4, 'webhook', $5)
               ON CONFLICT DO NOTHING
               RETURNING id
           )
           UPDATE message_templates
           SET category = CASE WHEN $6 THEN category ELSE $7 END,
               pending_category = CASE WHEN $6 THEN $7 END,
               pending_category_at = CASE WHEN $6 THEN $8::timestamptz END,
               updated_at = NOW()
           WHERE business_id = $1 AND id = $2 AND EXISTS (SELECT 1 FROM logged)
           RETURNING id"#,
        business.0,
        template,
        value,
        detail,
        at,
        impending.is_some(),
        new,
        effective
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(changed.is_some())
}

/// A new quality score; RED is what precedes a pause, so it is worth seeing next to the template.
async fn quality(
    conn: &mut PgConnection,
    business: BusinessId,
    template: i32,
    at: DateTime<Utc>,
    update: &TemplateQualityUpdate,
) -> Result<bool> {
    let Some(score) = update.new_quality_score.as_deref().map(|s| s.trim().to_ascii_uppercase()) else {
        return Ok(false);
    };
    let changed = sqlx::query_scalar!(
        r#"WITH logged AS (
               INSERT INTO message_template_history (business_id, template_id, kind, value, detail, source, at)
               VALUES ($1, $2, 'quality', $3, $4, 'webhook', $5)
               ON CONFLICT DO NOTHING
               RETURNING id
           )
           UPDATE message_templates SET quality = $3, updated_at = NOW()
           WHERE business_id = $1 AND id = $2 AND EXISTS (SELECT 1 FROM logged)
           RETURNING id"#,
        business.0,
        template,
        score,
        json!({"previous_quality_score": update.previous_quality_score}),
        at
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(changed.is_some())
}
