//! The templates dashboard (seed Template Manager, issue 21): Meta's message templates, from a
//! definition linted offline, through submission and review, to the status webhooks that move them.
//!
//! - [`spec`]: a definition in Meta's own shape (JSON or TOML files);
//! - [`lint`]: the offline rules, pure;
//! - [`render`]: the exact message a contact gets, one path for inbox, broadcast and automation;
//! - [`store`]: the `message_templates` rows (create, list, show, render for a contact, usage);
//! - [`lifecycle`]: edit and delete under Meta's locks;
//! - [`meta`]: the Graph API side (submit, sync);
//! - [`status`]: status and category webhooks applied in the ingest transaction.

pub mod lifecycle;
pub mod lint;
pub mod meta;
pub mod render;
pub mod spec;
pub mod status;
pub mod store;
pub mod sync_job;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;

use crate::auth::{Area, Scope};
use crate::error::Result;
use crate::types::TemplateId;

pub use lifecycle::{Edited, Removed, edit, remove};
pub use lint::{LintError, lint};
pub use meta::{Submitted, SyncReport, submit, sync, sync_business};
pub use render::{Rendered, Values, render};
pub use spec::{Category, ParameterFormat, TemplateSpec};
pub use status::apply_update_on;
pub use store::{TemplateDetail, TemplateRef, create, get, list, render_for_contact, show, usage_blockers_on};
pub use sync_job::{SyncAllReport, SyncTemplates, sync_all};

/// What the inbox shows and sends: an approved template's name and body.
#[derive(Debug, Clone, Serialize)]
pub struct Template {
    pub id: i32,
    pub name: String,
    pub content: String,
}

/// The business's sendable templates, by name: approved ones, and flagged ones (Meta still delivers
/// those while their quality recovers). Agents may read them: they send them from the inbox.
pub async fn approved(pool: &PgPool, scope: &Scope) -> Result<Vec<Template>> {
    scope.require(Area::Inbox)?;
    Ok(sqlx::query_as!(
        Template,
        "SELECT id, name, content FROM message_templates
         WHERE business_id = $1 AND status IN ('approved', 'flagged') AND deleted_at IS NULL ORDER BY name",
        scope.business().0
    )
    .fetch_all(pool)
    .await?)
}

/// How many positional parameters (`{{1}}`, `{{2}}`, …) a template body takes: the highest index used.
pub fn parameter_count(content: &str) -> usize {
    spec::placeholders(content)
        .into_iter()
        .filter_map(|p| match p.kind {
            spec::PlaceholderKind::Positional(n) => usize::try_from(n).ok(),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

/// A template as stored: the seed's columns and Meta's side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TemplateRecord {
    pub id: TemplateId,
    pub name: String,
    pub language: String,
    pub category: Option<String>,
    pub parameter_format: String,
    /// Meta's status in lower case (`draft` until submitted).
    pub status: String,
    /// The body text (the seed's `content`).
    pub content: String,
    pub components: Option<Value>,
    pub waba_id: Option<String>,
    pub meta_id: Option<String>,
    pub rejection_reason: Option<String>,
    pub quality: Option<String>,
    pub pending_category: Option<String>,
    pub pending_category_at: Option<DateTime<Utc>>,
    pub status_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl TemplateRecord {
    /// The definition: the stored components, or for rows from before templates had them (the seed's
    /// `content` only) a body-only definition, marketing unless a category is known (the stricter gate).
    pub fn spec(&self) -> TemplateSpec {
        let components =
            self.components.as_ref().and_then(TemplateSpec::components_from).unwrap_or_else(|| {
                vec![spec::Component::Body(spec::Body { text: self.content.clone(), example: None })]
            });
        let named = spec::placeholders(&self.content).iter().any(|p| matches!(p.kind, spec::PlaceholderKind::Named(_)));
        TemplateSpec {
            name: self.name.clone(),
            language: self.language.clone(),
            category: self.category.as_deref().and_then(|c| c.parse().ok()).unwrap_or(Category::Marketing),
            parameter_format: self.parameter_format.parse().unwrap_or(if named {
                ParameterFormat::Named
            } else {
                ParameterFormat::Positional
            }),
            components,
        }
    }
}

/// Our status for a Meta status event. REINSTATED and UNARCHIVED put a template back in service.
pub fn status_for_event(event: &str) -> String {
    match event.trim().to_ascii_uppercase().as_str() {
        "REINSTATED" | "UNARCHIVED" | "UNLOCKED" => "approved".into(),
        other => other.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positional_parameters_are_counted_by_their_highest_index() {
        assert_eq!(parameter_count("Hi {{1}}, your order {{2}} is on its way!"), 2);
        assert_eq!(parameter_count("No parameters"), 0);
        assert_eq!(parameter_count("{{2}} before {{1}} and {{2}} again"), 2);
        assert_eq!(parameter_count("Hi {{name}}"), 0);
    }

    #[test]
    fn meta_events_map_to_statuses() {
        assert_eq!(status_for_event("APPROVED"), "approved");
        assert_eq!(status_for_event("REINSTATED"), "approved");
        assert_eq!(status_for_event("PENDING_DELETION"), "pending_deletion");
        assert_eq!(status_for_event("paused"), "paused");
    }
}
