//! The `message_templates` rows of a business: create (refused when lint fails), list, show, render
//! for a contact, and what still uses a template. The Graph API side (submit, sync, Meta's edit and
//! delete) is in [`super::meta`].

use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use super::TemplateRecord;
use super::lint::{LintError, lint};
use super::render::{Rendered, Values, render};
use super::spec::TemplateSpec;
use crate::auth::{Area, Scope};
use crate::error::{Error, Result, input, op};
use crate::types::{BusinessId, ContactId, TemplateId};

/// Meta's edit slots for an approved template.
pub const EDITS_PER_DAY: i64 = 1;
pub const EDITS_PER_30_DAYS: i64 = 10;
/// After an approved template is deleted, Meta keeps its name locked this long.
pub const NAME_LOCK_DAYS: i64 = 30;

/// A template named on the command line: its id, or its name (and language, when it has several).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateRef {
    Id(TemplateId),
    Name { name: String, language: Option<String> },
}

impl TemplateRef {
    pub fn with_language(self, language: Option<String>) -> TemplateRef {
        match (self, language) {
            (TemplateRef::Name { name, .. }, Some(language)) => TemplateRef::Name { name, language: Some(language) },
            (other, _) => other,
        }
    }
}

impl FromStr for TemplateRef {
    type Err = Error;
    fn from_str(s: &str) -> Result<TemplateRef> {
        let s = s.trim();
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return s.parse().map(TemplateRef::Id);
        }
        if s.is_empty() {
            return Err(Error::invalid(
                "no template named",
                format!("name a template by its id or name ({})", op("templates list")),
            ));
        }
        Ok(TemplateRef::Name { name: s.to_string(), language: None })
    }
}

impl std::fmt::Display for TemplateRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TemplateRef::Id(id) => write!(f, "template {id}"),
            TemplateRef::Name { name, language: Some(language) } => write!(f, "template {name} ({language})"),
            TemplateRef::Name { name, language: None } => write!(f, "template {name}"),
        }
    }
}

/// Refuses a definition that breaks a lint rule, listing every finding.
pub(crate) fn refuse_lint(spec: &TemplateSpec) -> Result<()> {
    let found = lint(spec);
    if found.is_empty() {
        return Ok(());
    }
    let listed: Vec<String> = found.iter().map(|e| format!("  {e}")).collect();
    Err(Error::invalid(
        format!("template {:?} breaks {} lint rule(s):\n{}", spec.name, found.len(), listed.join("\n")),
        format!("fix each field as its line says; {} checks a file offline", op("templates lint FILE")),
    ))
}

/// Records a new template as a draft (submit it with [`super::submit`]). Refused when it fails lint,
/// when the business already has the name in that language, when another template has the very same
/// body, and while Meta still locks the name of a deleted one.
pub async fn create(pool: &PgPool, scope: &Scope, spec: &TemplateSpec) -> Result<TemplateRecord> {
    scope.require(Area::Templates)?;
    refuse_lint(spec)?;
    let business = scope.business();
    let body = spec.body().map(|b| b.text.clone()).unwrap_or_default();
    let mut tx = pool.begin().await?;
    // One creation at a time per business, so the checks below hold until the insert commits. NO KEY:
    // the foreign-key checks of the business's other writes (messages, contacts) do not wait on it.
    sqlx::query!("SELECT id FROM businesses WHERE id = $1 FOR NO KEY UPDATE", business.0).fetch_one(&mut *tx).await?;
    let clash = sqlx::query!(
        r#"SELECT id, name, language, deleted_at FROM message_templates
           WHERE business_id = $1
             AND ((deleted_at IS NULL AND ((name = $2 AND language = $3) OR (content = $4 AND name <> $2)))
                  OR (name = $2 AND meta_id IS NOT NULL AND deleted_at > NOW() - make_interval(days => $5)))
           ORDER BY deleted_at NULLS FIRST LIMIT 1"#,
        business.0,
        spec.name,
        spec.language,
        body,
        NAME_LOCK_DAYS as i32
    )
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(clash) = clash {
        return Err(match clash.deleted_at {
            Some(deleted) => Error::conflict(
                format!(
                    "the name {} was deleted at Meta on {} and stays locked until {}",
                    spec.name,
                    deleted.format("%Y-%m-%d"),
                    (deleted + Duration::days(NAME_LOCK_DAYS)).format("%Y-%m-%d")
                ),
                "use another name, e.g. with a _v2 suffix",
            ),
            None if clash.name == spec.name && clash.language == spec.language => Error::conflict(
                format!("template {} ({}) already exists (id {})", spec.name, spec.language, clash.id),
                format!("change it ({}), or pick another name", op(&format!("templates edit {}", clash.id))),
            ),
            None => Error::conflict(
                format!("template {} (id {}) already has this exact body", clash.name, clash.id),
                "Meta refuses duplicate bodies: reuse that template, or change the wording",
            ),
        });
    }
    let id = sqlx::query_scalar!(
        r#"INSERT INTO message_templates
               (business_id, name, content, status, language, category, parameter_format, components)
           VALUES ($1, $2, $3, 'draft', $4, $5, $6, $7)
           RETURNING id AS "id: TemplateId""#,
        business.0,
        spec.name,
        body,
        spec.language,
        spec.category.as_str(),
        spec.parameter_format.as_str(),
        serde_json::to_value(&spec.components).unwrap_or_default()
    )
    .fetch_one(&mut *tx)
    .await?;
    let record = fetch(&mut tx, business, Some(id), None, None, true).await?.pop();
    tx.commit().await?;
    record.ok_or_else(|| Error::not_found(format!("template {id}")))
}

/// Rows of the business, filtered; deleted ones only when asked for.
pub(crate) async fn fetch(
    conn: &mut PgConnection,
    business: BusinessId,
    id: Option<TemplateId>,
    name: Option<&str>,
    language: Option<&str>,
    include_deleted: bool,
) -> Result<Vec<TemplateRecord>> {
    Ok(sqlx::query_as!(
        TemplateRecord,
        r#"SELECT id AS "id: TemplateId", name, language, category, parameter_format,
                  COALESCE(status, 'pending') AS "status!", content, components, waba_id, meta_id,
                  rejection_reason, quality, pending_category, pending_category_at, status_at, created_at,
                  updated_at, deleted_at
           FROM message_templates
           WHERE business_id = $1 AND ($2::int IS NULL OR id = $2) AND ($3::text IS NULL OR name = $3)
             AND ($4::text IS NULL OR language = $4) AND ($5 OR deleted_at IS NULL)
           ORDER BY name, language, id"#,
        business.0,
        id.map(|i| i.0),
        name,
        language,
        include_deleted
    )
    .fetch_all(conn)
    .await?)
}

/// The business's templates by name and language; deleted ones too with `include_deleted`.
pub async fn list(pool: &PgPool, scope: &Scope, include_deleted: bool) -> Result<Vec<TemplateRecord>> {
    scope.require(Area::Templates)?;
    let mut conn = pool.acquire().await?;
    fetch(&mut conn, scope.business(), None, None, None, include_deleted).await
}

/// One template; a name with several languages needs the language.
pub async fn get(pool: &PgPool, scope: &Scope, reference: &TemplateRef) -> Result<TemplateRecord> {
    scope.require(Area::Templates)?;
    let mut conn = pool.acquire().await?;
    find_on(&mut conn, scope.business(), reference).await
}

pub(crate) async fn find_on(
    conn: &mut PgConnection,
    business: BusinessId,
    reference: &TemplateRef,
) -> Result<TemplateRecord> {
    let mut found = match reference {
        TemplateRef::Id(id) => fetch(conn, business, Some(*id), None, None, true).await?,
        TemplateRef::Name { name, language } => {
            fetch(conn, business, None, Some(name), language.as_deref(), false).await?
        }
    };
    match found.len() {
        0 => Err(Error::not_found(reference)),
        1 => Ok(found.remove(0)),
        _ => {
            let languages: Vec<&str> = found.iter().map(|t| t.language.as_str()).collect();
            Err(Error::invalid(
                format!("{reference} exists in {} languages: {}", found.len(), languages.join(", ")),
                format!("give the language ({}) with one of them, or the template's id", input("language")),
            ))
        }
    }
}

/// An entry of a template's history.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    pub kind: String,
    pub value: String,
    pub reason: Option<String>,
    pub source: String,
    pub at: DateTime<Utc>,
}

/// Meta's edit slots for an approved template: one per 24 hours, ten per 30 days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EditSlots {
    pub used_24h: i64,
    pub limit_24h: i64,
    pub used_30d: i64,
    pub limit_30d: i64,
    /// When the next edit is allowed, if not now.
    pub next_at: Option<DateTime<Utc>>,
}

impl EditSlots {
    pub fn available(&self) -> bool {
        self.next_at.is_none()
    }

    pub fn describe(&self) -> String {
        format!(
            "{}/{} edit in the last 24 h, {}/{} in the last 30 days{}",
            self.used_24h,
            self.limit_24h,
            self.used_30d,
            self.limit_30d,
            self.next_at
                .map(|t| format!("; next edit allowed at {}", t.format("%Y-%m-%d %H:%M UTC")))
                .unwrap_or_default()
        )
    }
}

/// A template with its history, its edit slots and what lint says about it now.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateDetail {
    #[serde(flatten)]
    pub template: TemplateRecord,
    pub edit_slots: EditSlots,
    pub lint: Vec<LintError>,
    pub history: Vec<HistoryEntry>,
}

pub(crate) async fn edit_slots_on(conn: &mut PgConnection, business: BusinessId, id: TemplateId) -> Result<EditSlots> {
    let edits = sqlx::query_scalar!(
        r#"SELECT at FROM message_template_history
           WHERE business_id = $1 AND template_id = $2 AND kind = 'edit' AND at > NOW() - interval '30 days'
           ORDER BY at"#,
        business.0,
        id.0
    )
    .fetch_all(conn)
    .await?;
    Ok(slots(&edits, Utc::now()))
}

/// The slots left, from the times of the edits of the last 30 days (oldest first).
fn slots(edits: &[DateTime<Utc>], now: DateTime<Utc>) -> EditSlots {
    let month = now - Duration::days(30);
    let edits: Vec<DateTime<Utc>> = edits.iter().copied().filter(|t| *t > month).collect();
    let day = now - Duration::hours(24);
    let used_24h = edits.iter().filter(|t| **t > day).count() as i64;
    let used_30d = edits.len() as i64;
    let after_day = (used_24h >= EDITS_PER_DAY)
        .then(|| edits.iter().filter(|t| **t > day).min())
        .flatten()
        .map(|t| *t + Duration::hours(24));
    let after_month = (used_30d >= EDITS_PER_30_DAYS).then(|| edits.first()).flatten().map(|t| *t + Duration::days(30));
    EditSlots {
        used_24h,
        limit_24h: EDITS_PER_DAY,
        used_30d,
        limit_30d: EDITS_PER_30_DAYS,
        next_at: after_day.into_iter().chain(after_month).max(),
    }
}

pub async fn show(pool: &PgPool, scope: &Scope, reference: &TemplateRef) -> Result<TemplateDetail> {
    scope.require(Area::Templates)?;
    let mut conn = pool.acquire().await?;
    let template = find_on(&mut conn, scope.business(), reference).await?;
    let edit_slots = edit_slots_on(&mut conn, scope.business(), template.id).await?;
    let history = sqlx::query_as!(
        HistoryEntry,
        r#"SELECT kind, value, reason, source, at FROM message_template_history
           WHERE business_id = $1 AND template_id = $2 ORDER BY at DESC, id DESC LIMIT 50"#,
        scope.business().0,
        template.id.0
    )
    .fetch_all(&mut *conn)
    .await?;
    let lint = lint(&template.spec());
    Ok(TemplateDetail { template, edit_slots, lint, history })
}

/// The exact message `contact` would get from the template: named parameters from the contact's fields
/// (`name`, `first_name`, `phone`) unless given in `explicit`, numbered ones from `explicit` only.
pub async fn render_for_contact(
    pool: &PgPool,
    scope: &Scope,
    reference: &TemplateRef,
    contact: ContactId,
    explicit: std::collections::BTreeMap<String, String>,
) -> Result<Rendered> {
    // Agents send templates from the inbox, so they may preview them.
    scope.require(Area::Inbox)?;
    let mut conn = pool.acquire().await?;
    let template = find_on(&mut conn, scope.business(), reference).await?;
    let row = sqlx::query!(
        "SELECT name, profile_name, phone FROM contacts WHERE business_id = $1 AND id = $2",
        scope.business().0,
        contact.0
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::not_found(format!("contact {contact}")))?;
    let mut values = Values { explicit, ..Values::default() };
    let name = row.name.or(row.profile_name).map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
    if let Some(name) = name {
        if let Some(first) = name.split_whitespace().next() {
            values.contact.insert("first_name".into(), first.to_string());
        }
        values.contact.insert("name".into(), name);
    }
    if let Some(phone) = row.phone {
        values.contact.insert("phone".into(), phone);
    }
    render(&template.spec(), &values)
}

/// What still uses a template and so forbids deleting it: campaigns scheduled, running or paused,
/// and automation rules that send it. The seed's `automation_rules` has no enabled flag, so every rule
/// counts; the broadcast and automation issues extend this with their own tables and states.
pub async fn usage_blockers_on(
    conn: &mut PgConnection,
    business: BusinessId,
    template: TemplateId,
    name: &str,
) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar!(
        r#"SELECT format('campaign %s (%s, %s)', id, name, status) AS "what!" FROM campaigns
           WHERE business_id = $1 AND template_id = $2
             AND lower(COALESCE(status, '')) IN ('scheduled', 'running', 'sending', 'queued', 'paused')
           UNION ALL
           SELECT format('automation rule %s (%s)', id, trigger) FROM automation_rules
           WHERE business_id = $1
             AND (action->>'template_id' = $2::text OR action->>'send_message' IN ($2::text, $3)
                  OR action->>'template' = $3)"#,
        business.0,
        template.0,
        name
    )
    .fetch_all(conn)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_ids_or_names() {
        assert_eq!("42".parse::<TemplateRef>().unwrap(), TemplateRef::Id(TemplateId(42)));
        assert_eq!(
            "order_update".parse::<TemplateRef>().unwrap().with_language(Some("en".into())),
            TemplateRef::Name { name: "order_update".into(), language: Some("en".into()) }
        );
        assert!("".parse::<TemplateRef>().is_err());
        assert!("0".parse::<TemplateRef>().is_err());
    }

    #[test]
    fn edit_slots_follow_meta_s_limits() {
        let now = Utc::now();
        assert!(slots(&[], now).available());
        let one = slots(&[now - Duration::hours(2)], now);
        assert_eq!((one.used_24h, one.next_at), (1, Some(now + Duration::hours(22))));
        assert!(slots(&[now - Duration::hours(25)], now).available());
        let ten: Vec<_> = (0..10).map(|i| now - Duration::days(29) + Duration::days(i)).collect();
        let full = slots(&ten, now);
        assert_eq!(full.used_30d, 10);
        assert_eq!(full.next_at, Some(ten[0] + Duration::days(30)));
        assert!(full.describe().contains("10/10"), "{}", full.describe());
    }
}
