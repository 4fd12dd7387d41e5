//! Templates at Meta: submitting a draft for review (`POST /{waba}/message_templates`, at most 100
//! creations per WABA per hour, refused locally past that) and syncing what Meta has (`GET`, paged),
//! so templates made in Meta's own UI appear here too. [`sync_business`] is what a recurring job calls.

use chrono::Duration;
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use super::spec::Category;
use super::store::{TemplateRef, fetch, find_on, refuse_lint};
use super::{TemplateRecord, status_for_event};
use crate::auth::{Area, Scope};
use crate::error::{Error, Result, op};
use crate::secrets;
use crate::types::{AccountId, BusinessId, TemplateId};
use crate::whatsapp::client::{Endpoint, GraphClient};
use crate::whatsapp::manage::Listed;

/// Meta's cap on template creations per WABA per hour.
pub const CREATIONS_PER_HOUR: i64 = 100;
/// Meta allows 250 template names per WABA (translations share one); a submit warns from this many on.
pub const NAMES_WARNING_AT: i64 = 225;
pub const NAMES_LIMIT: i64 = 250;
/// Templates asked for per page when syncing.
pub const SYNC_PAGE: u32 = 100;

/// A WhatsApp Business Account of the business and how to call the Graph API for it.
pub(crate) struct Waba {
    pub id: String,
    pub endpoint: Endpoint,
}

/// The business's WABAs with an active, usable number (one account each), by WABA id.
pub(crate) async fn wabas_on(conn: &mut PgConnection, business: BusinessId) -> Result<Vec<Waba>> {
    let rows = sqlx::query!(
        r#"SELECT DISTINCT ON (waba_id) id, waba_id AS "waba_id!", phone_number_id, api_token AS "api_token!",
                  api_base_url, api_version
           FROM whatsapp_accounts
           WHERE business_id = $1 AND status = 'active' AND waba_id IS NOT NULL AND api_token <> ''
           ORDER BY waba_id, id"#,
        business.0
    )
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            // Stored sealed when a token key is configured: Meta gets the token itself.
            let token = secrets::open(secrets::installed(), business, AccountId(r.id), &r.api_token)?;
            Ok(Waba {
                id: r.waba_id,
                endpoint: Endpoint {
                    phone_number_id: r.phone_number_id.unwrap_or_default(),
                    token,
                    base_url: r.api_base_url,
                    version: r.api_version,
                },
            })
        })
        .collect()
}

/// The WABA to call for a template: its own, else the business's only one.
pub(crate) async fn waba_on(conn: &mut PgConnection, business: BusinessId, wanted: Option<&str>) -> Result<Waba> {
    let mut wabas = wabas_on(conn, business).await?;
    let no_account = || {
        Error::invalid(
            format!(
                "the business has no active WhatsApp number{} with a WhatsApp Business Account id and token",
                wanted.map(|w| format!(" of WABA {w}")).unwrap_or_default()
            ),
            format!(
                "connect one ({}), or activate it ({})",
                op("accounts add --waba-id … --token …"),
                op("accounts activate")
            ),
        )
    };
    match wanted {
        Some(wanted) => wabas.into_iter().find(|w| w.id == wanted).ok_or_else(no_account),
        None if wabas.len() > 1 => Err(Error::invalid(
            format!("the business has {} WhatsApp Business Accounts", wabas.len()),
            "templates live in one WABA: deactivate the numbers of the others while submitting",
        )),
        None => wabas.pop().ok_or_else(no_account),
    }
}

/// A submitted template, and what the submitter should know.
#[derive(Debug, Clone, Serialize)]
pub struct Submitted {
    pub template: TemplateRecord,
    pub warnings: Vec<String>,
}

/// Submits a draft for Meta's review. Lint runs again first; the WABA's creations of the last hour are
/// counted here (a reserved slot is freed when Meta clearly took nothing).
pub async fn submit(pool: &PgPool, graph: &GraphClient, scope: &Scope, reference: &TemplateRef) -> Result<Submitted> {
    scope.require(Area::Templates)?;
    let business = scope.business();
    let mut conn = pool.acquire().await?;
    let template = find_on(&mut conn, business, reference).await?;
    if template.status != "draft" {
        let hint = if template.status == "rejected" {
            format!(
                "change it ({}): an edit of a rejected template resubmits it",
                op(&format!("templates edit {}", template.id))
            )
        } else {
            format!("only drafts are submitted; {} tells where this one stands", op("templates show"))
        };
        return Err(Error::conflict(format!("template {} is {}, not a draft", template.name, template.status), hint));
    }
    let spec = template.spec();
    refuse_lint(&spec)?;
    let waba = waba_on(&mut conn, business, template.waba_id.as_deref()).await?;
    drop(conn);
    let (slot, names) = reserve_creation(pool, business, template.id, &waba.id, &template.name).await?;
    let created = match graph.create_template(&waba.endpoint, &waba.id, &spec.to_meta()).await {
        Ok(created) => created,
        Err(e) => {
            if !e.outcome_unknown {
                sqlx::query!(
                    "DELETE FROM message_template_history WHERE business_id = $1 AND id = $2",
                    business.0,
                    slot
                )
                .execute(pool)
                .await?;
            }
            return Err(e.into());
        }
    };
    let category = created.category.parse::<Category>().ok();
    let mut warnings = Vec::new();
    if let Some(category) = category.filter(|c| *c != spec.category) {
        warnings.push(format!(
            "Meta filed the template as {category}, not {}: it is priced and gated as {category}",
            spec.category
        ));
    }
    if names >= NAMES_WARNING_AT {
        warnings.push(format!("the WABA has {names} of Meta's {NAMES_LIMIT} template names"));
    }
    let status = status_for_event(&created.status);
    let mut tx = pool.begin().await?;
    sqlx::query!(
        r#"UPDATE message_templates
           SET meta_id = $3, waba_id = $4, status = $5, category = COALESCE($6, category), status_at = NOW(),
               rejection_reason = NULL, quality = COALESCE(quality, 'UNKNOWN'), updated_at = NOW()
           WHERE business_id = $1 AND id = $2"#,
        business.0,
        template.id.0,
        created.id,
        waba.id,
        status,
        category.map(Category::as_str)
    )
    .execute(&mut *tx)
    .await?;
    let template = fetch(&mut tx, business, Some(template.id), None, None, true).await?.pop();
    tx.commit().await?;
    let template = template.ok_or_else(|| Error::not_found(format!("template {}", created.id)))?;
    Ok(Submitted { template, warnings })
}

/// Takes one of the WABA's creations of the hour (a `submit` history row) or refuses when all 100 are
/// used; returns the row's id and how many template names the WABA holds. The WABA's routing row is
/// locked meanwhile, so two submits never both take the last slot.
async fn reserve_creation(
    pool: &PgPool,
    business: BusinessId,
    template: TemplateId,
    waba: &str,
    name: &str,
) -> Result<(i64, i64)> {
    let mut tx = pool.begin().await?;
    sqlx::query!("SELECT waba_id FROM waba_owners WHERE waba_id = $1 FOR UPDATE", waba)
        .fetch_optional(&mut *tx)
        .await?;
    let recent = sqlx::query!(
        r#"SELECT count(*) AS "n!", min(at) AS oldest FROM message_template_history
           WHERE waba_id = $1 AND kind = 'submit' AND at > NOW() - interval '1 hour'"#,
        waba
    )
    .fetch_one(&mut *tx)
    .await?;
    if recent.n >= CREATIONS_PER_HOUR {
        let again = recent.oldest.map(|t| (t + Duration::hours(1)).format("%H:%M UTC").to_string());
        return Err(Error::limit(
            format!("WABA {waba} has had {CREATIONS_PER_HOUR} template creations in the last hour, Meta's limit"),
            format!("submit again after {}", again.unwrap_or_else(|| "an hour".into())),
        ));
    }
    let slot = sqlx::query_scalar!(
        r#"INSERT INTO message_template_history (business_id, template_id, kind, value, source, waba_id)
           VALUES ($1, $2, 'submit', $3, 'local', $4) RETURNING id"#,
        business.0,
        template.0,
        name,
        waba
    )
    .fetch_one(&mut *tx)
    .await?;
    let names = sqlx::query_scalar!(
        r#"SELECT count(DISTINCT name) AS "n!" FROM message_templates
           WHERE business_id = $1 AND waba_id = $2 AND deleted_at IS NULL"#,
        business.0,
        waba
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((slot, names + 1))
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    pub wabas: usize,
    pub pages: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Listed templates that could not be read, with the reason.
    pub skipped: Vec<String>,
}

/// Brings the business's templates in line with Meta's lists of all its WABAs.
pub async fn sync(pool: &PgPool, graph: &GraphClient, scope: &Scope) -> Result<SyncReport> {
    scope.require(Area::Templates)?;
    sync_business(pool, graph, scope.business()).await
}

/// [`sync`] for the system acting for `business` (the recurring sync job): pages through each WABA's
/// templates and upserts each one in its own short transaction, no transaction held across a call.
pub async fn sync_business(pool: &PgPool, graph: &GraphClient, business: BusinessId) -> Result<SyncReport> {
    let wabas = wabas_on(&mut *pool.acquire().await?, business).await?;
    if wabas.is_empty() {
        return Err(Error::invalid(
            "the business has no active WhatsApp number with a WhatsApp Business Account id and token",
            format!("connect one ({})", op("accounts add --waba-id … --token …")),
        ));
    }
    let mut report = SyncReport { wabas: wabas.len(), ..SyncReport::default() };
    for waba in &wabas {
        let mut after: Option<String> = None;
        loop {
            let page = graph.list_templates(&waba.endpoint, &waba.id, SYNC_PAGE, after.as_deref()).await?;
            report.pages += 1;
            for item in &page.data {
                match serde_json::from_value::<Listed>(item.clone()) {
                    Ok(listed) => match upsert(pool, business, &waba.id, &listed).await? {
                        Upserted::Created => report.created += 1,
                        Upserted::Updated => report.updated += 1,
                        Upserted::Unchanged => report.unchanged += 1,
                    },
                    Err(e) => report.skipped.push(format!("{}: {e}", item.get("name").unwrap_or(&Value::Null))),
                }
            }
            after = page.paging.filter(|p| p.next.is_some()).and_then(|p| p.cursors).and_then(|c| c.after);
            if after.is_none() || page.data.is_empty() {
                break;
            }
        }
    }
    Ok(report)
}

enum Upserted {
    Created,
    Updated,
    Unchanged,
}

/// The body text of Meta's components (the seed's `content`).
fn body_text(components: &Value) -> String {
    components
        .as_array()
        .and_then(|list| {
            list.iter().find(|c| c.get("type").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case("BODY")))
        })
        .and_then(|c| c.get("text"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

async fn upsert(pool: &PgPool, business: BusinessId, waba: &str, listed: &Listed) -> Result<Upserted> {
    let status = status_for_event(&listed.status);
    let category = listed.category.parse::<Category>().ok().map(Category::as_str);
    let format =
        listed.parameter_format.as_deref().map(str::to_ascii_uppercase).filter(|f| f == "NAMED" || f == "POSITIONAL");
    let reason = listed.rejected_reason.as_deref().filter(|r| !r.eq_ignore_ascii_case("NONE") && status == "rejected");
    let quality = listed.quality_score.as_ref().map(|q| q.score.to_ascii_uppercase());
    let content = body_text(&listed.components);
    let components = Some(listed.components.clone()).filter(|c| c.is_array());
    let mut tx = pool.begin().await?;
    let existing = sqlx::query!(
        r#"SELECT id, COALESCE(status, 'pending') AS "status!", category, content, components, quality,
                  rejection_reason, parameter_format, meta_id, waba_id
           FROM message_templates
           WHERE business_id = $1
             AND (meta_id = $2 OR (meta_id IS NULL AND deleted_at IS NULL AND name = $3 AND language = $4))
           ORDER BY meta_id = $2 DESC NULLS LAST LIMIT 1
           FOR NO KEY UPDATE"#,
        business.0,
        listed.id,
        listed.name,
        listed.language
    )
    .fetch_optional(&mut *tx)
    .await?;
    let (id, outcome) = match existing {
        None => {
            let id = sqlx::query_scalar!(
                r#"INSERT INTO message_templates
                       (business_id, name, content, status, language, category, parameter_format, components,
                        waba_id, meta_id, rejection_reason, quality, status_at)
                   VALUES ($1, $2, $3, $4, $5, $6, COALESCE($7, 'POSITIONAL'), $8, $9, $10, $11, $12, NOW())
                   RETURNING id"#,
                business.0,
                listed.name,
                content,
                status,
                listed.language,
                category,
                format,
                components,
                waba,
                listed.id,
                reason,
                quality
            )
            .fetch_one(&mut *tx)
            .await?;
            (id, Upserted::Created)
        }
        Some(row) => {
            let same = row.status == status
                && row.category.as_deref() == category
                && row.content == content
                && row.components == components
                && row.quality == quality
                && row.rejection_reason.as_deref() == reason
                && format.as_deref().is_none_or(|f| f == row.parameter_format)
                && row.meta_id.as_deref() == Some(listed.id.as_str())
                && row.waba_id.as_deref() == Some(waba);
            if same {
                return Ok(Upserted::Unchanged);
            }
            sqlx::query!(
                r#"UPDATE message_templates
                   SET status = $3, category = COALESCE($4, category), content = $5,
                       components = COALESCE($6, components), quality = $7, rejection_reason = $8,
                       parameter_format = COALESCE($9, parameter_format), meta_id = $10, waba_id = $11,
                       status_at = CASE WHEN status IS DISTINCT FROM $3 THEN NOW() ELSE status_at END,
                       updated_at = NOW()
                   WHERE business_id = $1 AND id = $2"#,
                business.0,
                row.id,
                status,
                category,
                content,
                components,
                quality,
                reason,
                format,
                listed.id,
                waba
            )
            .execute(&mut *tx)
            .await?;
            if row.status == status {
                tx.commit().await?;
                return Ok(Upserted::Updated);
            }
            (row.id, Upserted::Updated)
        }
    };
    sqlx::query!(
        r#"INSERT INTO message_template_history (business_id, template_id, kind, value, reason, source, waba_id)
           VALUES ($1, $2, 'status', upper($3), $4, 'sync', $5)"#,
        business.0,
        id,
        status,
        reason,
        waba
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(outcome)
}
