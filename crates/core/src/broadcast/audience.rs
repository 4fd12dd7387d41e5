//! Who a campaign reaches and what it says: the stored audience filter, the snapshot of recipients, the
//! template and its parameters.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};

use super::CampaignId;
use crate::auth::Scope;
use crate::contacts::{self, ContactFilter, Sort};
use crate::error::{Error, Result, op};
use crate::inbox::send::TemplateCategory;
use crate::templates::{self, TemplateRef, TemplateSpec, Values};
use crate::types::{BusinessId, ContactId, Stage, TemplateId};

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
    /// Only these contacts (a list of phones, or the recipients a campaign is retargeting).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<ContactId>,
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
    /// The value for one recipient; a missing field is `None`, never an empty parameter.
    fn value(&self, fields: &Fields) -> Option<String> {
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

/// A campaign's parameters by the render path's keys ([`templates::Values`]): `1`, `first_name`,
/// `header.1`, `header`, `button.0`.
pub type Params = BTreeMap<String, Param>;

/// A campaign's template: one of the business's sendable templates, as the render path takes it.
pub(super) struct Template {
    pub id: TemplateId,
    pub spec: TemplateSpec,
    pub category: TemplateCategory,
}

/// The business's template, refused unless Meta lets it be sent now (approved, or flagged while its
/// quality recovers). Checked when the campaign is made and again before each batch.
pub(super) async fn template_on(
    conn: &mut PgConnection,
    business: BusinessId,
    reference: &TemplateRef,
) -> Result<Template> {
    let record = templates::store::find_on(conn, business, reference).await?;
    if record.deleted_at.is_some() || !matches!(record.status.as_str(), "approved" | "flagged") {
        let status = if record.deleted_at.is_some() { "deleted" } else { record.status.as_str() };
        return Err(Error::invalid(
            format!("template {} is {status}, and campaigns send only approved templates", record.name),
            format!("wait for Meta's approval, or pick an approved template ({})", op("templates list")),
        ));
    }
    let category = match record.category.as_deref().map(str::to_ascii_lowercase) {
        Some(category) => category.parse()?,
        // Templates from before categories were stored: promotions, the strictest reading.
        None => TemplateCategory::Marketing,
    };
    Ok(Template { id: record.id, spec: record.spec(), category })
}

/// The render path's values for one recipient: the campaign's parameters with `@field`s taken from the
/// recipient, and the recipient's fields for named parameters. `Err` names what the recipient lacks.
pub(super) fn values(params: &Params, fields: &Fields) -> std::result::Result<Values, String> {
    let mut values = Values::default();
    for (key, param) in params {
        let value = param.value(fields).ok_or_else(|| match param {
            Param::Field(field) => format!("parameter {key} takes the contact's {field}, and it has none"),
            Param::Text(_) => format!("parameter {key} is empty"),
        })?;
        values.explicit.insert(key.clone(), value);
    }
    if let Some(name) = fields.name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        if let Some(first) = name.split_whitespace().next() {
            values.contact.insert("first_name".into(), first.to_string());
        }
        values.contact.insert("name".into(), name.to_string());
    }
    if let Some(phone) = fields.phone.as_deref().filter(|p| !p.trim().is_empty()) {
        values.contact.insert("phone".into(), phone.to_string());
    }
    Ok(values)
}

/// The parameters must fill every placeholder of the template for a recipient who has every field,
/// and name only placeholders the template has.
pub(super) fn check_params(template: &Template, params: &Params) -> Result<()> {
    let everything = Fields { name: Some("Ana Souza".into()), phone: Some("+5511987654321".into()) };
    let values = values(params, &everything).map_err(|why| Error::invalid(why, "give the parameter a value"))?;
    let rendered = templates::render(&template.spec, &values)?;
    if let Some(unused) = params.keys().find(|k| !rendered.values.iter().any(|v| &v.key == *k)) {
        return Err(Error::invalid(
            format!("template {} has no parameter {unused}", template.spec.name),
            format!("give only the template's parameters ({} lists them)", op("templates show NAME")),
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
    /// Excluded: a US number (+1) and a MARKETING template, which Meta has not delivered since 2025-04-01.
    pub us_marketing: i64,
}

/// Why each contact is not sent to (`None`: it is), in contact order; the reasons are checked in the
/// order written.
async fn exclusions(
    conn: &mut PgConnection,
    business: BusinessId,
    ids: &[ContactId],
    category: TemplateCategory,
) -> Result<Vec<(i32, Option<String>)>> {
    let rows = sqlx::query!(
        r#"SELECT c.id,
                  CASE WHEN c.opted_out_at IS NOT NULL THEN 'opted out'
                       WHEN coalesce(c.phone, '') = '' THEN 'no phone number'
                       WHEN $3 AND c.phone LIKE '+1%' THEN 'US number: Meta delivers no marketing templates to +1'
                  END AS reason
           FROM contacts c WHERE c.business_id = $1 AND c.id = ANY($2) ORDER BY c.id"#,
        business.0,
        &ids.iter().map(|c| c.0).collect::<Vec<_>>(),
        category == TemplateCategory::Marketing
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.reason)).collect())
}

/// The ids of the contacts matching the audience, through the contacts' own filter.
pub(super) async fn matching(pool: &PgPool, scope: &Scope, audience: &Audience) -> Result<Vec<ContactId>> {
    let ids: Vec<ContactId> =
        contacts::stream(pool, scope, &audience.filter(), Sort::Id).map_ok(|c| c.id).try_collect().await?;
    if audience.contacts.is_empty() {
        return Ok(ids);
    }
    let listed: std::collections::BTreeSet<ContactId> = audience.contacts.iter().copied().collect();
    Ok(ids.into_iter().filter(|id| listed.contains(id)).collect())
}

/// [`AudienceCount`] for the audience, changing nothing.
pub(super) async fn count(
    pool: &PgPool,
    scope: &Scope,
    audience: &Audience,
    category: TemplateCategory,
) -> Result<AudienceCount> {
    Ok(reachable(pool, scope, audience, category).await?.0)
}

/// [`AudienceCount`] for the audience and the contacts it would send to, changing nothing.
pub(super) async fn reachable(
    pool: &PgPool,
    scope: &Scope,
    audience: &Audience,
    category: TemplateCategory,
) -> Result<(AudienceCount, Vec<ContactId>)> {
    let ids = matching(pool, scope, audience).await?;
    let mut conn = pool.acquire().await?;
    let reasons = exclusions(&mut conn, scope.business(), &ids, category).await?;
    let count = tally(reasons.iter().map(|(_, reason)| reason.as_deref()));
    let reachable = reasons.into_iter().filter(|(_, reason)| reason.is_none()).map(|(id, _)| ContactId(id)).collect();
    Ok((count, reachable))
}

fn tally<'a>(reasons: impl Iterator<Item = Option<&'a str>>) -> AudienceCount {
    let mut count = AudienceCount::default();
    for reason in reasons {
        count.matched += 1;
        match reason {
            None => count.reachable += 1,
            Some("opted out") => count.opted_out += 1,
            Some("no phone number") => count.no_phone += 1,
            Some(_) => count.us_marketing += 1,
        }
    }
    count
}

/// Writes one recipient row per contact in contact order (UNIQUE per campaign, so a second snapshot adds
/// nothing); excluded contacts as `skipped` with the reason.
pub(super) async fn snapshot(
    conn: &mut PgConnection,
    business: BusinessId,
    campaign: CampaignId,
    ids: &[ContactId],
    category: TemplateCategory,
) -> Result<AudienceCount> {
    let (contacts, reasons): (Vec<i32>, Vec<Option<String>>) =
        exclusions(&mut *conn, business, ids, category).await?.into_iter().unzip();
    let written = sqlx::query_scalar!(
        r#"INSERT INTO campaign_recipients (business_id, campaign_id, contact_id, state, detail)
           SELECT $1, $2, u.contact_id,
                  CASE WHEN u.reason IS NULL THEN 'pending' ELSE 'skipped' END::campaign_recipient_state, u.reason
           FROM unnest($3::int[], $4::text[]) WITH ORDINALITY AS u(contact_id, reason, ord)
           ORDER BY u.ord
           ON CONFLICT (campaign_id, contact_id) DO NOTHING
           RETURNING detail"#,
        business.0,
        campaign.0,
        &contacts,
        &reasons as &[Option<String>]
    )
    .fetch_all(conn)
    .await?;
    Ok(tally(written.iter().map(Option::as_deref)))
}

/// The phones of a CSV list: the column named `phone` (any case), else the first column; a header row
/// is recognised by that name, blank cells are left out.
pub fn phones_from_csv(input: impl std::io::Read) -> Result<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(input);
    let mut column = 0;
    let mut phones = Vec::new();
    for (n, record) in reader.records().enumerate() {
        let record = record.map_err(|e| {
            Error::invalid(format!("line {} of the list is not CSV: {e}", n + 1), "save the list as plain CSV")
        })?;
        if n == 0
            && let Some(named) = record.iter().position(|cell| cell.trim().eq_ignore_ascii_case("phone"))
        {
            column = named;
            continue;
        }
        if let Some(phone) = record.get(column).map(str::trim).filter(|p| !p.is_empty()) {
            phones.push(phone.to_string());
        }
    }
    if phones.is_empty() {
        return Err(Error::invalid("the list has no phone numbers", "put one number per line, or a `phone` column"));
    }
    Ok(phones)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_s_phones_come_from_its_phone_column_or_its_first() {
        let named = "name,phone\nAna,+5511987654321\nBo, \nCy,+14155550001\n";
        assert_eq!(phones_from_csv(named.as_bytes()).unwrap(), ["+5511987654321", "+14155550001"]);
        assert_eq!(phones_from_csv("+5511987654321\n14155550001\n".as_bytes()).unwrap().len(), 2);
        assert!(phones_from_csv("phone\n".as_bytes()).is_err());
    }

    #[test]
    fn a_recipient_without_a_mapped_field_gets_a_reason_not_a_blank() {
        let params: Params = [("1".to_string(), Param::Field("first_name".into()))].into();
        let none = Fields { name: None, phone: Some("+1".into()) };
        assert!(values(&params, &none).unwrap_err().contains("first_name"));
        let ana = Fields { name: Some("Ana Souza".into()), phone: None };
        let values = values(&params, &ana).unwrap();
        assert_eq!(values.explicit["1"], "Ana");
        assert_eq!(values.contact["name"], "Ana Souza");
    }
}
