//! The Automation dashboard (issue 22): JSON rules on the durable event stream.
//!
//! A rule is the seed's `automation_rules` row (trigger, condition JSON, action JSON, delay) with a
//! name, a priority, stop-processing, a per-contact limit and an enabled flag. Rules are validated
//! on save ([`rules`]), evaluated by a durable consumer of the events ([`engine`]), and every run and
//! action is logged ([`runs`]). Rules live in git through [`export`] and [`import`].

pub mod actions;
mod claimed;
pub mod conditions;
pub mod cron;
mod deferred;
mod delays;
mod dry_run;
mod engine;
mod lint;
mod reactor;
pub mod rules;
mod runs;
pub mod schedule;
mod template;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use crate::auth::{Area, Scope};
use crate::contacts;
use crate::error::{Error, Result, op};
use crate::types::{BusinessId, UserId};

pub use actions::{Action, TemplateRef};
pub use conditions::Facts;
pub use deferred::signature;
pub use dry_run::{DryRun, dry_run};
pub use engine::{Active, AutomationTick, DEFAULT_MAX_LATE_MINUTES, Engine, Options, Tick, decide, run_once};
pub use lint::{Finding, lint};
pub use reactor::react;
pub use rules::{MAX_DEPTH, Problem, RuleSpec, Trigger};
pub use runs::{ActionResult, MAX_RUNS, Run, RunFilter, runs, store_conversions_on};

/// A stored rule.
#[derive(Debug, Clone, Serialize)]
pub struct Rule {
    pub id: i32,
    pub name: String,
    pub trigger: String,
    pub condition: Value,
    pub action: Value,
    pub delay_minutes: i32,
    pub priority: i32,
    pub stop_processing: bool,
    pub contact_limit_hours: i32,
    pub enabled: bool,
    pub cron: Option<String>,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Rule {
    /// The rule as written, as `export` prints it.
    pub fn spec(&self) -> RuleSpec {
        RuleSpec {
            name: self.name.clone(),
            trigger: self.trigger.clone(),
            condition: self.condition.clone(),
            action: self.action.clone(),
            delay_minutes: self.delay_minutes,
            priority: self.priority,
            stop_processing: self.stop_processing,
            contact_limit_hours: self.contact_limit_hours,
            enabled: self.enabled,
            cron: self.cron.clone(),
        }
    }
}

/// The business's rules in evaluation order (priority, then id).
pub async fn list(pool: &PgPool, scope: &Scope) -> Result<Vec<Rule>> {
    scope.require(Area::Automation)?;
    let mut conn = pool.acquire().await?;
    load_rules(&mut conn, scope.business()).await
}

pub(crate) async fn load_rules(conn: &mut PgConnection, business: BusinessId) -> Result<Vec<Rule>> {
    Ok(sqlx::query_as!(
        Rule,
        r#"SELECT id, name, trigger, condition, action, delay_minutes, priority, stop_processing,
                  contact_limit_hours, enabled, cron, created_by AS "created_by: UserId", created_at, updated_at
           FROM automation_rules WHERE business_id = $1 ORDER BY priority, id"#,
        business.0
    )
    .fetch_all(conn)
    .await?)
}

/// A rule by id or name.
pub async fn get(pool: &PgPool, scope: &Scope, reference: &str) -> Result<Rule> {
    let rules = list(pool, scope).await?;
    let id = reference.trim().parse::<i32>().ok();
    rules.into_iter().find(|r| Some(r.id) == id || r.name == reference.trim()).ok_or_else(|| {
        Error::invalid(
            format!("there is no rule {reference:?} in this business"),
            format!("see {}", op("automation list")),
        )
    })
}

/// Checks a rule completely: its JSON, then what it names against the business (approved templates,
/// tags in use, users). The error names the JSON path and the fix.
pub async fn check(conn: &mut PgConnection, business: BusinessId, spec: &RuleSpec) -> Result<rules::Compiled> {
    let compiled = spec.compile()?;
    for (i, action) in compiled.actions.iter().enumerate() {
        let at = action_path(&spec.action, i);
        match action {
            Action::SendTemplate { template, .. } => {
                let approved = template::find_approved(conn, business, template).await?;
                if approved.is_none() {
                    return Err(Problem::new(
                        &at,
                        format!("{template:?} is not an approved template of this business"),
                        format!("name an approved template ({})", op("templates list")),
                    )
                    .into());
                }
            }
            Action::CreateCampaign { template, .. } => {
                let name = TemplateRef::Name(template.clone());
                if template::find_approved(conn, business, &name).await?.is_none() {
                    return Err(Problem::new(
                        &at,
                        format!("{template:?} is not an approved template of this business"),
                        format!("name an approved template ({})", op("templates list")),
                    )
                    .into());
                }
            }
            Action::AddTag { tags } | Action::RemoveTag { tags } => {
                contacts::validate_tags(tags)
                    .map_err(|e| Error::invalid(format!("the rule is invalid at {at}: {e}"), "fix the tag"))?;
            }
            Action::Assign { user } => {
                let found =
                    sqlx::query_scalar!("SELECT id FROM users WHERE business_id = $1 AND id = $2", business.0, user.0)
                        .fetch_optional(&mut *conn)
                        .await?;
                if found.is_none() {
                    return Err(Problem::new(
                        &at,
                        format!("there is no user {user} in this business"),
                        format!("see {}", op("users list")),
                    )
                    .into());
                }
            }
            _ => {}
        }
    }
    let mut tags = Vec::new();
    compiled.condition.tags(&mut tags);
    if !tags.is_empty() {
        let known: Vec<String> = sqlx::query_scalar!(
            r#"SELECT DISTINCT lower(tag) AS "tag!" FROM contact_tags WHERE business_id = $1 AND lower(tag) = ANY($2)"#,
            business.0,
            &tags
        )
        .fetch_all(&mut *conn)
        .await?;
        if let Some(unknown) = tags.iter().find(|t| !known.contains(t)) {
            return Err(Problem::new(
                "$.condition",
                format!("no contact has the tag {unknown:?}, so the condition can never hold"),
                format!("check the spelling against {}", op("contacts tags")),
            )
            .into());
        }
    }
    Ok(compiled)
}

/// The JSON path of the rule's `index`th action (an object's key, or a list item's).
fn action_path(action: &Value, index: usize) -> String {
    let paths: Vec<String> = match action {
        Value::Object(fields) => fields.keys().map(|k| format!("$.action.{k}")).collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .flat_map(|(i, item)| {
                item.as_object().into_iter().flat_map(move |o| o.keys().map(move |k| format!("$.action[{i}].{k}")))
            })
            .collect(),
        _ => Vec::new(),
    };
    paths.into_iter().nth(index).unwrap_or_else(|| "$.action".into())
}

/// Adds a rule after checking it; a rule of the same name is a conflict.
pub async fn add(pool: &PgPool, scope: &Scope, spec: &RuleSpec) -> Result<Rule> {
    scope.require(Area::Automation)?;
    let spec = &spec.normalized();
    let mut tx = pool.begin().await?;
    check(&mut tx, scope.business(), spec).await?;
    let id = insert(&mut tx, scope, spec).await?.ok_or_else(|| {
        Error::conflict(format!("a rule named {:?} exists", spec.name), "pick another name, or `import` to replace it")
    })?;
    tx.commit().await?;
    get(pool, scope, &id.to_string()).await
}

async fn insert(conn: &mut PgConnection, scope: &Scope, spec: &RuleSpec) -> Result<Option<i32>> {
    Ok(sqlx::query_scalar!(
        "INSERT INTO automation_rules (business_id, name, trigger, condition, action, delay_minutes, priority,
                                       stop_processing, contact_limit_hours, enabled, created_by, cron)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (business_id, name) DO NOTHING RETURNING id",
        scope.business().0,
        spec.name,
        spec.trigger,
        spec.condition,
        spec.action,
        spec.delay_minutes,
        spec.priority,
        spec.stop_processing,
        spec.contact_limit_hours,
        spec.enabled,
        scope.user().map(|u| u.0),
        spec.cron
    )
    .fetch_optional(conn)
    .await?)
}

/// Replaces a rule (by id or name) with `spec` after checking it, as `edit` saves it; a new name
/// taken by another rule is a conflict. Disabling it cancels its armed waits.
pub async fn update(pool: &PgPool, scope: &Scope, reference: &str, spec: &RuleSpec) -> Result<Rule> {
    scope.require(Area::Automation)?;
    let rule = get(pool, scope, reference).await?;
    let spec = &spec.normalized();
    let mut tx = pool.begin().await?;
    check(&mut tx, scope.business(), spec).await?;
    if !replace_on(&mut tx, scope.business(), rule.id, spec).await? {
        return Err(Error::conflict(format!("another rule is named {:?}", spec.name), "pick another name"));
    }
    tx.commit().await?;
    get(pool, scope, &rule.id.to_string()).await
}

/// Writes `spec` over rule `id`, its name too unless another rule of the business has that name (then
/// nothing changes and it returns false). A disabled rule's armed waits are cancelled: `edit`, `import`
/// and `disable` all end them the same way.
async fn replace_on(conn: &mut PgConnection, business: BusinessId, id: i32, spec: &RuleSpec) -> Result<bool> {
    let updated = sqlx::query!(
        "UPDATE automation_rules SET name = $3, trigger = $4, condition = $5, action = $6, delay_minutes = $7,
                priority = $8, stop_processing = $9, contact_limit_hours = $10, enabled = $11, cron = $12,
                updated_at = now()
         WHERE business_id = $1 AND id = $2
           AND NOT EXISTS (SELECT 1 FROM automation_rules o WHERE o.business_id = $1 AND o.name = $3 AND o.id <> $2)",
        business.0,
        id,
        spec.name,
        spec.trigger,
        spec.condition,
        spec.action,
        spec.delay_minutes,
        spec.priority,
        spec.stop_processing,
        spec.contact_limit_hours,
        spec.enabled,
        spec.cron
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        > 0;
    if updated && !spec.enabled {
        delays::cancel_rule(conn, business, id).await?;
    }
    Ok(updated)
}

/// Turns a rule on or off; turning it off cancels its armed delays.
pub async fn set_enabled(pool: &PgPool, scope: &Scope, reference: &str, enabled: bool) -> Result<Rule> {
    let rule = get(pool, scope, reference).await?;
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "UPDATE automation_rules SET enabled = $3, updated_at = now() WHERE business_id = $1 AND id = $2",
        scope.business().0,
        rule.id,
        enabled
    )
    .execute(&mut *tx)
    .await?;
    if !enabled {
        delays::cancel_rule(&mut tx, scope.business(), rule.id).await?;
    }
    tx.commit().await?;
    get(pool, scope, &rule.id.to_string()).await
}

/// Removes a rule with its run log and armed delays.
pub async fn remove(pool: &PgPool, scope: &Scope, reference: &str) -> Result<Rule> {
    let rule = get(pool, scope, reference).await?;
    sqlx::query!("DELETE FROM automation_rules WHERE business_id = $1 AND id = $2", scope.business().0, rule.id)
        .execute(pool)
        .await?;
    Ok(rule)
}

/// The business's rules as written, in evaluation order: `wacrm automation export > rules.json`.
pub async fn export(pool: &PgPool, scope: &Scope) -> Result<Vec<RuleSpec>> {
    Ok(list(pool, scope).await?.iter().map(Rule::spec).collect())
}

/// What an import did (or would do, with `dry_run`), by rule name.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
    pub dry_run: bool,
}

/// Creates or replaces rules by name, all or nothing: every rule is checked first, and a problem is
/// reported with the rule's index. Importing the same file again changes nothing.
pub async fn import(pool: &PgPool, scope: &Scope, specs: &[RuleSpec], dry_run: bool) -> Result<ImportReport> {
    scope.require(Area::Automation)?;
    let business = scope.business();
    let mut tx = pool.begin().await?;
    let existing = load_rules(&mut tx, business).await?;
    let mut report = ImportReport { dry_run, ..ImportReport::default() };
    for (i, spec) in specs.iter().map(RuleSpec::normalized).enumerate() {
        let spec = &spec;
        check(&mut tx, business, spec).await.map_err(|e| match e {
            Error::Invalid { message, hint } => {
                Error::Invalid { message: format!("rule [{i}] ({:?}): {message}", spec.name), hint }
            }
            other => other,
        })?;
        match existing.iter().find(|r| r.name == spec.name) {
            Some(rule) if rule.spec() == *spec => report.unchanged.push(spec.name.clone()),
            Some(rule) => {
                replace_on(&mut tx, business, rule.id, spec).await?;
                report.updated.push(spec.name.clone());
            }
            None => {
                insert(&mut tx, scope, spec).await?;
                report.created.push(spec.name.clone());
            }
        }
    }
    if !dry_run {
        tx.commit().await?;
    }
    Ok(report)
}
