//! The automation engine's only contact with templates: finding a rule's approved template and
//! composing its message. Kept in one place so the templates rewrite's render path replaces it here.

use sqlx::PgConnection;

use super::actions::TemplateRef;
use crate::error::{Error, Result};
use crate::inbox::send::{Compose, TemplateCategory};
use crate::templates;
use crate::types::{BusinessId, ContactId};

/// The language of the business's templates until templates carry their own (the inbox's default).
const LANGUAGE: &str = "en_US";

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
         WHERE business_id = $1 AND status = 'approved' AND (id = $2 OR name = $3)
         ORDER BY id LIMIT 1",
        business.0,
        id,
        name
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r.name, r.content)))
}

/// The message a template action sends to a contact: its parameters filled from the rule's values,
/// where `{name}` and `{phone}` stand for the contact's fields.
pub(crate) async fn compose(
    conn: &mut PgConnection,
    business: BusinessId,
    contact: ContactId,
    template: &TemplateRef,
    params: &[String],
) -> Result<Compose> {
    let (name, body) = find_approved(conn, business, template).await?.ok_or_else(|| {
        Error::invalid(
            format!("the rule's template {template:?} is not an approved template of this business"),
            "approve the template, or point the rule at another (`wacrm automation edit`)",
        )
    })?;
    let fields = sqlx::query!(
        r#"SELECT coalesce(name, profile_name, '') AS "name!", coalesce(phone, '') AS "phone!"
           FROM contacts WHERE business_id = $1 AND id = $2"#,
        business.0,
        contact.0
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::not_found(format!("contact {contact}")))?;
    let params: Vec<String> =
        params.iter().map(|p| p.replace("{name}", &fields.name).replace("{phone}", &fields.phone)).collect();
    if params.len() != templates::parameter_count(&body) {
        return Err(Error::invalid(
            format!(
                "template {name} takes {} parameters; the rule gives {}",
                templates::parameter_count(&body),
                params.len()
            ),
            "give the rule's template action one `params` value per {{n}} of the template",
        ));
    }
    Ok(Compose::Template { name, language: LANGUAGE.into(), params, category: TemplateCategory::Marketing })
}
