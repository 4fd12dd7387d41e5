//! Who a campaign reaches and what it says: the stored audience filter, the snapshot of recipients, the
//! template and its parameters.

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};

use super::CampaignId;
use crate::auth::Scope;
use crate::contacts::{self, ContactFilter, Sort};
use crate::error::{Error, Result};
use crate::templates;
use crate::types::{BusinessId, ContactId, Stage};

/// A campaign's audience: the contacts' own filter (stage, tags, a name-or-phone search), stored on
/// the campaign so it can be planned before and snapshotted when the campaign starts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Audience {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags_any: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags_all: Vec<String>,
    /// Last active at or after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_after: Option<DateTime<Utc>>,
}

impl Audience {
    fn filter(&self) -> ContactFilter {
        ContactFilter {
            query: self.query.clone(),
            stage: self.stage,
            tags_any: self.tags_any.clone(),
            tags_all: self.tags_all.clone(),
            active_after: self.active_after,
            ..ContactFilter::default()
        }
    }
}

/// Where one positional template parameter comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Param {
    /// A field of the recipient: `name` (falling back to the WhatsApp profile name), `first_name`, `phone`.
    Field(String),
    /// The same text for everyone.
    Text(String),
}

const FIELDS: &[&str] = &["name", "first_name", "phone"];

impl std::str::FromStr for Param {
    type Err = Error;
    /// `@name`, `@first_name`, `@phone` take the recipient's field; anything else is literal text.
    fn from_str(s: &str) -> Result<Param> {
        match s.strip_prefix('@') {
            Some(field) if FIELDS.contains(&field) => Ok(Param::Field(field.to_string())),
            Some(field) => Err(Error::invalid(
                format!("@{field} is not a contact field"),
                "use @name, @first_name or @phone, or plain text for the same value for everyone",
            )),
            None if s.trim().is_empty() => {
                Err(Error::invalid("a template parameter is empty", "WhatsApp refuses empty parameters"))
            }
            None => Ok(Param::Text(s.to_string())),
        }
    }
}

/// The recipient fields parameters are filled from.
pub(super) struct Fields {
    pub name: Option<String>,
    pub phone: Option<String>,
}

impl Param {
    /// The value for one recipient; a missing field is an error, never an empty parameter.
    pub(super) fn value(&self, fields: &Fields) -> Option<String> {
        match self {
            Param::Text(text) => Some(text.clone()),
            Param::Field(field) => match field.as_str() {
                "name" => fields.name.clone(),
                "first_name" => fields.name.as_deref().and_then(|n| n.split_whitespace().next()).map(str::to_string),
                _ => fields.phone.clone(),
            }
            .filter(|v| !v.trim().is_empty()),
        }
    }
}

/// A template as a campaign sends it.
pub(super) struct Template {
    pub id: i32,
    pub name: String,
    pub content: String,
}

/// The business's approved template by name, or by id at send time. The one template lookup of
/// broadcast: it moves to the templates module's render path when that lands.
pub(super) async fn template_by_name(conn: &mut PgConnection, business: BusinessId, name: &str) -> Result<Template> {
    lookup(conn, business, None, Some(name.trim())).await
}

pub(super) async fn template_by_id(conn: &mut PgConnection, business: BusinessId, id: i32) -> Result<Template> {
    lookup(conn, business, Some(id), None).await
}

async fn lookup(
    conn: &mut PgConnection,
    business: BusinessId,
    id: Option<i32>,
    name: Option<&str>,
) -> Result<Template> {
    let row = sqlx::query!(
        r#"SELECT id, name, content, coalesce(status, 'pending') AS "status!" FROM message_templates
           WHERE business_id = $1 AND ($2::int IS NULL OR id = $2) AND ($3::text IS NULL OR name = $3)
           ORDER BY status = 'approved' DESC, id LIMIT 1"#,
        business.0,
        id,
        name
    )
    .fetch_optional(conn)
    .await?;
    let what = name.map(|n| format!("template {n:?}")).unwrap_or_else(|| format!("template {}", id.unwrap_or(0)));
    let row = row.ok_or_else(|| Error::not_found(&what))?;
    if row.status != "approved" {
        return Err(Error::invalid(
            format!("{what} is {}, and campaigns send only approved templates", row.status),
            "wait for Meta's approval, or pick an approved template (`wacrm inbox templates`)",
        ));
    }
    Ok(Template { id: row.id, name: row.name, content: row.content })
}

/// The mapping must give every positional parameter of the body, and no more.
pub(super) fn check_params(template: &Template, params: &[Param]) -> Result<()> {
    let wanted = templates::parameter_count(&template.content);
    if wanted != params.len() {
        return Err(Error::invalid(
            format!("template {} takes {wanted} parameter(s), {} given", template.name, params.len()),
            "pass one --param per {{N}} in order: @name, @first_name, @phone or plain text",
        ));
    }
    Ok(())
}

/// Who the audience reaches now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AudienceCount {
    /// Contacts matching the filter.
    pub matched: i64,
    /// Who will be sent to.
    pub reachable: i64,
    /// Excluded: opted out of marketing.
    pub opted_out: i64,
    /// Excluded: no phone number to send to.
    pub no_phone: i64,
}

/// The ids of the contacts matching the audience, through the contacts' own filter.
pub(super) async fn matching(pool: &PgPool, scope: &Scope, audience: &Audience) -> Result<Vec<ContactId>> {
    contacts::stream(pool, scope, &audience.filter(), Sort::Id).map_ok(|c| c.id).try_collect().await
}

/// [`AudienceCount`] for the audience, changing nothing.
pub(super) async fn count(pool: &PgPool, scope: &Scope, audience: &Audience) -> Result<AudienceCount> {
    let ids = matching(pool, scope, audience).await?;
    let row = sqlx::query!(
        r#"SELECT count(*) AS "matched!",
                  count(*) FILTER (WHERE opted_out_at IS NOT NULL) AS "opted_out!",
                  count(*) FILTER (WHERE opted_out_at IS NULL AND coalesce(phone, '') = '') AS "no_phone!"
           FROM contacts WHERE business_id = $1 AND id = ANY($2)"#,
        scope.business().0,
        &ids.iter().map(|c| c.0).collect::<Vec<_>>()
    )
    .fetch_one(pool)
    .await?;
    Ok(AudienceCount {
        matched: row.matched,
        reachable: row.matched - row.opted_out - row.no_phone,
        opted_out: row.opted_out,
        no_phone: row.no_phone,
    })
}

/// Writes one recipient row per contact in contact order (UNIQUE per campaign, so a second snapshot adds
/// nothing):
/// opted-out contacts and contacts without a number as `skipped` with the reason.
pub(super) async fn snapshot(
    conn: &mut PgConnection,
    business: BusinessId,
    campaign: CampaignId,
    ids: &[ContactId],
) -> Result<AudienceCount> {
    let rows = sqlx::query!(
        r#"INSERT INTO campaign_recipients (business_id, campaign_id, contact_id, state, detail)
           SELECT c.business_id, $2, c.id,
                  CASE WHEN c.opted_out_at IS NOT NULL OR coalesce(c.phone, '') = ''
                       THEN 'skipped'::campaign_recipient_state ELSE 'pending' END,
                  CASE WHEN c.opted_out_at IS NOT NULL THEN 'opted out'
                       WHEN coalesce(c.phone, '') = '' THEN 'no phone number' END
           FROM contacts c WHERE c.business_id = $1 AND c.id = ANY($3)
           ORDER BY c.id
           ON CONFLICT (campaign_id, contact_id) DO NOTHING
           RETURNING detail"#,
        business.0,
        campaign.0,
        &ids.iter().map(|c| c.0).collect::<Vec<_>>()
    )
    .fetch_all(conn)
    .await?;
    let counted = |reason: &str| rows.iter().filter(|r| r.detail.as_deref() == Some(reason)).count() as i64;
    let (opted_out, no_phone) = (counted("opted out"), counted("no phone number"));
    let matched = rows.len() as i64;
    Ok(AudienceCount { matched, reachable: matched - opted_out - no_phone, opted_out, no_phone })
}
