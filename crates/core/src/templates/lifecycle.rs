//! Changing and deleting templates under Meta's rules (shared/wave2-anchors.md §D): drafts change
//! freely; rejected and paused ones are edited at Meta (every edit goes back to review); an approved
//! one is locked unless one of Meta's edit slots is spent on it (one per 24 h, ten per 30 days); name,
//! language and parameter format never change. A delete is refused while something uses the template
//! or when it is DISABLED, calls Meta, and warns of the 30-day name lock.

use chrono::{Duration, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::{PgConnection, PgPool};

use super::TemplateRecord;
use super::meta::waba_on;
use super::spec::TemplateSpec;
use super::store::{
    EditSlots, NAME_LOCK_DAYS, TemplateRef, edit_slots_on, fetch, find_on, refuse_lint, usage_blockers_on,
};
use crate::auth::{Area, Scope};
use crate::error::{Error, Result, op};
use crate::types::BusinessId;
use crate::whatsapp::client::GraphClient;

/// The template, its row locked until the transaction ends (one edit or delete at a time). NO KEY: the
/// lock may last through a Graph API call, and messages that reference the template must not wait.
async fn lock_on(conn: &mut PgConnection, business: BusinessId, reference: &TemplateRef) -> Result<TemplateRecord> {
    let current = find_on(conn, business, reference).await?;
    sqlx::query!(
        "SELECT id FROM message_templates WHERE business_id = $1 AND id = $2 FOR NO KEY UPDATE",
        business.0,
        current.id.0
    )
    .fetch_one(&mut *conn)
    .await?;
    // Read again under the lock: a concurrent change committed meanwhile is seen.
    find_on(conn, business, &TemplateRef::Id(current.id)).await
}

#[derive(Debug, Clone, Serialize)]
pub struct Edited {
    pub template: TemplateRecord,
    /// Whether the change went to Meta (and back to review).
    pub sent_to_meta: bool,
    pub edit_slots: EditSlots,
}

/// Replaces a template's definition with `spec` (same name, language and parameter format).
/// `use_edit_slot` spends one of Meta's edit slots on an approved template; without it an approved
/// template is refused with the way forward.
pub async fn edit(
    pool: &PgPool,
    graph: &GraphClient,
    scope: &Scope,
    reference: &TemplateRef,
    spec: &TemplateSpec,
    use_edit_slot: bool,
) -> Result<Edited> {
    scope.require(Area::Templates)?;
    refuse_lint(spec)?;
    let business = scope.business();
    let mut tx = pool.begin().await?;
    let current = lock_on(&mut tx, business, reference).await?;
    if current.name != spec.name || current.language != spec.language {
        return Err(Error::invalid(
            format!(
                "a template's name and language never change ({} {} → {} {})",
                current.name, current.language, spec.name, spec.language
            ),
            format!("create a new template ({}) instead", op("templates create")),
        ));
    }
    let was = current.spec();
    let submitted = current.meta_id.is_some();
    if submitted && was.parameter_format != spec.parameter_format {
        return Err(Error::invalid(
            format!("template {} cannot switch between numbered and named parameters at Meta", current.name),
            "keep its parameter_format, or create a new template",
        ));
    }
    let slots = edit_slots_on(&mut tx, business, current.id).await?;
    let status = current.status.as_str();
    let approved = matches!(status, "approved" | "flagged");
    match status {
        "draft" | "rejected" | "paused" | "approved" | "flagged" => {}
        other => {
            return Err(Error::conflict(
                format!(
                    "template {} is {other}: Meta allows editing only approved, rejected and paused templates",
                    current.name
                ),
                format!("wait for Meta's review to end ({}), or create a new template", op("templates sync")),
            ));
        }
    }
    if approved && submitted && was.category != spec.category {
        return Err(Error::invalid(
            format!(
                "the category of approved template {} cannot change ({} → {})",
                current.name, was.category, spec.category
            ),
            "keep the category, or create a new template in the new category",
        ));
    }
    if approved && submitted && !use_edit_slot {
        return Err(Error::conflict(
            format!("template {} is approved and locked ({})", current.name, slots.describe()),
            format!(
                "create a new version ({} with the name {}_v2), or spend one of Meta's edit slots ({})",
                op("templates create"),
                current.name,
                op(&format!("templates edit {} --use-edit-slot", current.id))
            ),
        ));
    }
    if approved && submitted && !slots.available() {
        return Err(Error::limit(
            format!("template {} has no edit slot left: {}", current.name, slots.describe()),
            format!("create a new version (the name {}_v2) instead of waiting", current.name),
        ));
    }
    let components = serde_json::to_value(&spec.components).unwrap_or_default();
    if let Some(meta_id) = current.meta_id.as_deref().filter(|_| status != "draft") {
        let waba = waba_on(&mut tx, business, current.waba_id.as_deref()).await?;
        let mut body = json!({"components": components});
        if !approved {
            body["category"] = json!(spec.category.as_str());
        }
        graph.edit_template(&waba.endpoint, meta_id, &body).await?;
    }
    let sent_to_meta = submitted && status != "draft";
    sqlx::query!(
        r#"UPDATE message_templates
           SET components = $3, content = $4, category = $5, parameter_format = $6,
               status = CASE WHEN $7 THEN 'pending' ELSE status END,
               status_at = CASE WHEN $7 THEN NOW() ELSE status_at END,
               rejection_reason = CASE WHEN $7 THEN NULL ELSE rejection_reason END, updated_at = NOW()
           WHERE business_id = $1 AND id = $2"#,
        business.0,
        current.id.0,
        components,
        spec.body().map(|b| b.text.as_str()).unwrap_or_default(),
        spec.category.as_str(),
        spec.parameter_format.as_str(),
        sent_to_meta
    )
    .execute(&mut *tx)
    .await?;
    if sent_to_meta {
        // Only edits at Meta spend slots; the history row also keeps the status it was edited from.
        sqlx::query!(
            r#"INSERT INTO message_template_history (business_id, template_id, kind, value, source, waba_id)
               VALUES ($1, $2, 'edit', $3, 'local', $4)"#,
            business.0,
            current.id.0,
            status,
            current.waba_id
        )
        .execute(&mut *tx)
        .await?;
    }
    let edit_slots = edit_slots_on(&mut tx, business, current.id).await?;
    let template = fetch(&mut tx, business, Some(current.id), None, None, true).await?.pop();
    tx.commit().await?;
    let template = template.ok_or_else(|| Error::not_found(reference))?;
    Ok(Edited { template, sent_to_meta, edit_slots })
}

#[derive(Debug, Clone, Serialize)]
pub struct Removed {
    pub template: TemplateRecord,
    pub deleted_at_meta: bool,
    pub warnings: Vec<String>,
}

/// Deletes one language of a template: refused while a campaign or automation rule uses it and when
/// it is DISABLED (Meta refuses that); a submitted template is deleted at Meta first. The row stays,
/// marked deleted, for the messages that used it and for the name lock.
pub async fn remove(pool: &PgPool, graph: &GraphClient, scope: &Scope, reference: &TemplateRef) -> Result<Removed> {
    scope.require(Area::Templates)?;
    let business = scope.business();
    let mut tx = pool.begin().await?;
    let current = lock_on(&mut tx, business, reference).await?;
    if current.deleted_at.is_some() {
        return Err(Error::not_found(reference));
    }
    if current.status == "disabled" {
        return Err(Error::conflict(
            format!("template {} is DISABLED, and Meta does not allow deleting disabled templates", current.name),
            "leave it (it cannot be sent); create a new template under another name",
        ));
    }
    let blockers = usage_blockers_on(&mut tx, business, current.id, &current.name).await?;
    if !blockers.is_empty() {
        return Err(Error::conflict(
            format!("template {} is still used by {}", current.name, blockers.join(", ")),
            "finish or cancel those campaigns and change those rules first",
        ));
    }
    let mut warnings = Vec::new();
    let at_meta = current.meta_id.as_deref().filter(|_| current.status != "draft");
    if let Some(meta_id) = at_meta {
        let waba = waba_on(&mut tx, business, current.waba_id.as_deref()).await?;
        graph.delete_template(&waba.endpoint, &waba.id, &current.name, meta_id).await?;
        warnings.push(format!(
            "Meta locks the name {} for {NAME_LOCK_DAYS} days: no new template can use it before {}",
            current.name,
            (Utc::now() + Duration::days(NAME_LOCK_DAYS)).format("%Y-%m-%d")
        ));
        warnings.push(
            "messages of this template not yet delivered are still attempted for up to 30 days (PENDING_DELETION)"
                .into(),
        );
    }
    sqlx::query!(
        r#"UPDATE message_templates SET status = 'deleted', deleted_at = NOW(), updated_at = NOW()
           WHERE business_id = $1 AND id = $2"#,
        business.0,
        current.id.0
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        r#"INSERT INTO message_template_history (business_id, template_id, kind, value, source, waba_id)
           VALUES ($1, $2, 'delete', $3, 'local', $4)"#,
        business.0,
        current.id.0,
        current.status,
        current.waba_id
    )
    .execute(&mut *tx)
    .await?;
    let template = fetch(&mut tx, business, Some(current.id), None, None, true).await?.pop();
    tx.commit().await?;
    let template = template.ok_or_else(|| Error::not_found(reference))?;
    Ok(Removed { template, deleted_at_meta: at_meta.is_some(), warnings })
}
