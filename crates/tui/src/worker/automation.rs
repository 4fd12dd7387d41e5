//! The Automation pane's requests: thin calls of `core::automation`. An edited rule is saved through
//! `import` (create or replace by name, checked completely); core's refusal comes back as the pane's
//! inline error, not a failure.

use wacrm_core::Error;
use wacrm_core::automation::{self, Rule, RuleSpec, RunFilter};

use super::Worker;
use crate::intent::{AutomationRequest, AutomationUpdate, Update};
use crate::panes::automation::{RUNS, RuleRow, RunRow};

impl Worker {
    pub(super) async fn automation(&self, request: AutomationRequest) -> Result<Update, Error> {
        let (pool, scope) = (&self.pool, &self.scope);
        Ok(Update::Automation(match request {
            AutomationRequest::Rules => {
                AutomationUpdate::Rules(automation::list(pool, scope).await?.iter().map(rule_row).collect())
            }
            AutomationRequest::Runs => {
                let runs = automation::runs(pool, scope, &RunFilter::default(), RUNS).await?;
                AutomationUpdate::Runs(
                    runs.into_iter()
                        .map(|r| RunRow {
                            id: r.id,
                            rule_id: r.rule_id,
                            contact: r.contact_id,
                            matched: r.matched,
                            reason: r.reason,
                            at: r.created_at,
                            failed: r.actions.iter().any(|a| a.status == "failed"),
                            actions: r
                                .actions
                                .into_iter()
                                .map(|a| match a.detail {
                                    Some(detail) => format!("{} {}: {detail}", a.kind, a.status),
                                    None => format!("{} {}", a.kind, a.status),
                                })
                                .collect(),
                        })
                        .collect(),
                )
            }
            AutomationRequest::Toggle { rule, enabled } => {
                let rule = automation::set_enabled(pool, scope, &rule.to_string(), enabled).await?;
                AutomationUpdate::Saved(format!(
                    "rule {} {}",
                    rule.name,
                    if rule.enabled { "enabled" } else { "disabled" }
                ))
            }
            AutomationRequest::Save { name, text } => match save(self, &name, &text).await {
                Ok(saved) => saved,
                Err(Error::Invalid { message, hint }) => AutomationUpdate::Invalid(match hint {
                    Some(hint) => format!("{message} (fix: {hint})"),
                    None => message,
                }),
                Err(other) => return Err(other),
            },
        }))
    }
}

async fn save(worker: &Worker, name: &str, text: &str) -> Result<AutomationUpdate, Error> {
    let spec = RuleSpec::from_json(text)?;
    // Rules are replaced by name: a renamed rule would be a second rule beside the first.
    if spec.name.trim() != name {
        return Err(Error::invalid(
            format!("$.name: the rule is named {name:?} and cannot be renamed here"),
            format!("keep \"name\": {name:?}; rename with export, edit and import"),
        ));
    }
    let report = automation::import(&worker.pool, &worker.scope, &[spec], false).await?;
    Ok(AutomationUpdate::Saved(if report.unchanged.is_empty() {
        format!("rule {name} saved")
    } else {
        format!("rule {name} unchanged")
    }))
}

fn rule_row(rule: &Rule) -> RuleRow {
    RuleRow {
        id: rule.id,
        name: rule.name.clone(),
        trigger: rule.trigger.clone(),
        enabled: rule.enabled,
        priority: rule.priority,
        delay_minutes: rule.delay_minutes,
        json: serde_json::to_string_pretty(&rule.spec()).unwrap_or_default(),
    }
}
