//! Why an event happened. The automation engine's loop guard reads the depth and the rule; analytics'
//! "automation impact" reads the rule and the campaign.

use serde::{Deserialize, Serialize};

use crate::auth::Scope;
use crate::types::UserId;

/// Who or what acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// The customer, through WhatsApp (an inbound message, a preference change).
    Customer,
    /// A team member of the business.
    User,
    /// An automation rule.
    Automation,
    /// A broadcast campaign.
    Campaign,
    /// Meta (a delivery status, a template review).
    Meta,
    /// wacrm itself, an admin's script or cron acting for the business.
    #[default]
    System,
}

/// The cause stored with every event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Cause {
    pub actor: ActorKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<i32>,
    /// How many automated steps led here: 0 for anything a person, a customer or Meta did directly.
    #[serde(default)]
    pub depth: u8,
}

impl Cause {
    /// Whoever the scope acts as: its user, else the system.
    pub fn of(scope: &Scope) -> Cause {
        match scope.user() {
            Some(user) => Cause { actor: ActorKind::User, user_id: Some(user), ..Cause::default() },
            None => Cause::default(),
        }
    }

    pub fn customer() -> Cause {
        Cause { actor: ActorKind::Customer, ..Cause::default() }
    }

    pub fn meta() -> Cause {
        Cause { actor: ActorKind::Meta, ..Cause::default() }
    }

    /// The cause of what a rule does in reaction to an event with cause `trigger`: one step deeper.
    pub fn automation(rule: i32, trigger: &Cause) -> Cause {
        Cause { actor: ActorKind::Automation, rule_id: Some(rule), depth: trigger.depth.saturating_add(1), ..*trigger }
    }

    /// The cause of a campaign's sends.
    pub fn campaign(campaign: i32) -> Cause {
        Cause { actor: ActorKind::Campaign, campaign_id: Some(campaign), ..Cause::default() }
    }
}
