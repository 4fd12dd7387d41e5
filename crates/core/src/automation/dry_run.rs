//! `wacrm automation test`: what a customer's message would set off, in order, changing nothing.

use chrono::Utc;
use serde::Serialize;
use sqlx::PgPool;

use super::actions::Action;
use super::engine::{Engine, decide, facts};
use super::rules::Trigger;
use crate::auth::{Area, Scope};
use crate::error::{Error, Result};
use crate::events::{Cause, Event};
use crate::types::{AccountId, ContactId, MessageId};

/// What a dry run says one rule would do.
#[derive(Debug, Clone, Serialize)]
pub struct DryRun {
    pub rule_id: i32,
    pub rule: String,
    /// `None`: it would fire; else why a guard holds it back.
    pub held_back: Option<String>,
    pub delay_minutes: i32,
    pub actions: Vec<String>,
}

/// `wacrm automation test --message TEXT --contact ID`: which rules a customer's message would fire,
/// in order, and what each action would do. Nothing is written or sent.
pub async fn dry_run(pool: &PgPool, scope: &Scope, contact: ContactId, text: &str) -> Result<Vec<DryRun>> {
    scope.require(Area::Automation)?;
    let business = scope.business();
    let mut conn = pool.acquire().await?;
    let rules = Engine::default().rules(&mut conn, business).await?;
    let event = Event::MessageReceived {
        message_id: MessageId(0),
        wamid: String::new(),
        account_id: AccountId(0),
        kind: "text".into(),
        text: text.into(),
        context_wamid: None,
        sent_at: Utc::now(),
    };
    // The message itself would open the window.
    let mut facts = facts(&mut conn, business, contact, Some(&event))
        .await?
        .ok_or_else(|| Error::not_found(format!("contact {contact}")))?;
    facts.window_open = true;
    Ok(decide(&rules, Trigger::MessageReceived, &Cause::customer(), &facts)
        .into_iter()
        .map(|(i, held_back)| {
            let rule = &rules[i];
            DryRun {
                rule_id: rule.id,
                rule: rule.name.clone(),
                held_back,
                delay_minutes: rule.delay_minutes,
                actions: rule.actions.iter().map(describe).collect(),
            }
        })
        .collect())
}

fn describe(action: &Action) -> String {
    match action {
        Action::SendTemplate { template, params } => format!("send template {template:?} with {params:?}"),
        Action::SendText { text } => format!("send text {text:?}"),
        Action::MoveStage { stage } => format!("move to {stage}"),
        Action::AddTag { tags } => format!("add tags {}", tags.join(", ")),
        Action::RemoveTag { tags } => format!("remove tags {}", tags.join(", ")),
        Action::Assign { user } => format!("assign to user {user}"),
        Action::AssignRoundRobin {} => "assign to the next agent (round robin)".into(),
        Action::Notify { text, url: None } => format!("notify: {text}"),
        Action::Notify { text, url: Some(url) } => format!("notify: {text}, and POST it to {url}"),
        Action::CreateCampaign { name, template, start, .. } => {
            format!("{} campaign {name:?} with template {template}", if *start { "start a" } else { "make a draft" })
        }
        Action::OptOut {} => "opt the contact out of marketing".into(),
    }
}
