//! The automation engine's only contact with templates: finding a rule's approved template (on save)
//! and rendering its message through the templates' one render path (on send).

use std::collections::BTreeMap;

use sqlx::{PgConnection, PgPool};

use super::actions::TemplateRef;
use crate::auth::Scope;
use crate::error::{Error, Result, op};
use crate::inbox::send::{Compose, TemplateCategory};
use crate::templates;
use crate::types::{BusinessId, ContactId, TemplateId};

/// The business's approved template a rule names, as (name, body); `None` when there is none.
pub(crate) async fn find_approved(
    conn: &mut PgConnection,
    business: BusinessId,
    template: &TemplateRef,
) -> Result<Option<(String, String)>> {
    let (id, name) = match template {
        TemplateRef::Id(id) => (Some(*id), None),
        TemplateRef::Name(name) => (None, Some(name.as_str())),
    };
    let row = sqlx::query!(
        "SELECT name, content FROM message_templates
         WHERE business_id = $1 AND status IN ('approved', 'flagged') AND deleted_at IS NULL
           AND (id = $2 OR name = $3)
         ORDER BY id LIMIT 1",
        business.0,
        id,
        name
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r.name, r.content)))
}

/// The message a template action sends to a contact, rendered by the templates' one render path:
/// the rule's values fill `{{1}}`, `{{2}}`… in order (`{name}`, `{first_name}` and `{phone}` in them stand
/// for the contact's fields), named parameters come from the contact's fields.
pub(crate) async fn compose(
    pool: &PgPool,
    scope: &Scope,
    contact: ContactId,
    template: &TemplateRef,
    params: &[String],
) -> Result<Compose> {
    let business = scope.business();
    let mut conn = pool.acquire().await?;
    let not_approved = || {
        Error::invalid(
            format!("the rule's template {template:?} is not an approved template of this business"),
            format!("approve the template, or point the rule at another ({})", op("automation edit")),
        )
    };
    let (name, _) = find_approved(&mut conn, business, template).await?.ok_or_else(not_approved)?;
    let reference = match template {
        TemplateRef::Id(id) => templates::TemplateRef::Id(TemplateId(*id)),
        TemplateRef::Name(_) => templates::TemplateRef::Name { name, language: None },
    };
    let record = templates::store::find_on(&mut conn, business, &reference).await?;
    let fields = sqlx::query!(
        r#"SELECT coalesce(name, profile_name, '') AS "name!", coalesce(phone, '') AS "phone!"
           FROM contacts WHERE business_id = $1 AND id = $2"#,
        business.0,
        contact.0
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::not_found(format!("contact {contact}")))?;
    drop(conn);
    let first = fields.name.split_whitespace().next().unwrap_or_default();
    let explicit: BTreeMap<String, String> = params
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let value =
                p.replace("{first_name}", first).replace("{name}", &fields.name).replace("{phone}", &fields.phone);
            ((i + 1).to_string(), value)
        })
        .collect();
    let rendered = templates::render_for_contact(pool, scope, &reference, contact, explicit).await?;
    // The send path takes the body's parameter values in order.
    let params = rendered
        .components
        .iter()
        .filter(|c| c["type"] == "body")
        .flat_map(|c| c["parameters"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p["text"].as_str().map(str::to_string))
        .collect();
    let category = record.category.as_deref().and_then(|c| c.parse().ok()).unwrap_or(TemplateCategory::Marketing);
    Ok(Compose::Template { name: record.name, language: record.language, params, category })
}
