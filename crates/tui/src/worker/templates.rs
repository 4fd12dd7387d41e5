//! The Templates pane's requests: the list with each template's preview and lint findings, and a sync
//! with Meta.

use wacrm_core::templates::{self, TemplateRecord, TemplateSpec};
use wacrm_core::{Error, Scope};

use super::Worker;
use crate::intent::{TemplatesRequest, TemplatesUpdate, Update};
use crate::panes::templates::TemplateItem;

impl Worker {
    pub(super) async fn templates(&self, request: TemplatesRequest) -> Result<Update, Error> {
        let (pool, scope) = (&self.pool, &self.scope);
        Ok(Update::Templates(match request {
            TemplatesRequest::List => TemplatesUpdate::List(list(pool, scope).await?),
            TemplatesRequest::Sync => {
                let r = templates::sync(pool, &self.sender.client, scope).await?;
                for skipped in &r.skipped {
                    tracing::warn!("template sync skipped {skipped}");
                }
                TemplatesUpdate::Synced(format!(
                    "templates synced: {} new, {} updated, {} unchanged{}",
                    r.created,
                    r.updated,
                    r.unchanged,
                    if r.skipped.is_empty() {
                        String::new()
                    } else {
                        format!(", {} unreadable (log)", r.skipped.len())
                    }
                ))
            }
        }))
    }
}

async fn list(pool: &wacrm_core::db::Pool, scope: &Scope) -> Result<Vec<TemplateItem>, Error> {
    Ok(templates::list(pool, scope, false).await?.into_iter().map(item).collect())
}

fn item(t: TemplateRecord) -> TemplateItem {
    let spec = t.spec();
    TemplateItem {
        id: t.id.0,
        lint: templates::lint(&spec).iter().map(|e| format!("{}: {} (fix: {})", e.field, e.message, e.fix)).collect(),
        preview: preview(&spec),
        name: t.name,
        language: t.language,
        category: t.category,
        status: t.status,
        rejection_reason: t.rejection_reason,
        quality: t.quality,
        updated_at: t.status_at.unwrap_or(t.updated_at),
    }
}

/// The template as written: header, body, footer and buttons, placeholders as they stand.
fn preview(spec: &TemplateSpec) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(header) = spec.header() {
        lines.push(match &header.text {
            Some(text) => format!("▌{text}"),
            None => format!("▌[{}]", header.format.as_str()),
        });
    }
    if let Some(body) = spec.body() {
        lines.extend(body.text.lines().map(str::to_string));
    }
    if let Some(footer) = spec.footer() {
        lines.push(format!("  {}", footer.text));
    }
    for button in spec.buttons() {
        let label = button.text.clone().unwrap_or_else(|| button.kind());
        lines.push(format!("[ {label} ]"));
    }
    lines
}
