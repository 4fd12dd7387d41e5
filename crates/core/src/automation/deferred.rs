//! The actions carried out after the run's transaction commits: sends to the customer, campaigns and
//! notification webhooks. Each was claimed as an `automation_actions` row before anything left the
//! database; its `client_ref` makes a retry after a crash harmless: the send's idempotency key (a
//! retried send is refused before Meta is called), the campaign's name suffix (found, not made again)
//! and the notification's dedupe key and the webhook's delivery header.

use hmac::{Hmac, KeyInit, Mac};
use secrecy::ExposeSecret;
use serde_json::json;
use sha2::Sha256;
use sqlx::PgPool;
use uuid::Uuid;

use super::actions::Action;
use super::engine::Options;
use super::template;
use crate::auth::Scope;
use crate::broadcast::{self, CampaignStatus, NewCampaign};
use crate::error::{Error, Result};
use crate::events::Cause;
use crate::inbox::send::{self, Compose, Origin, Outgoing, Sender};
use crate::notifications::{self, NewNotification};
use crate::templates::{self, TemplateRef};
use crate::types::{BusinessId, ContactId};

/// One claimed `automation_actions` row, as [`super::claimed`] hands it over.
pub(super) struct ClaimedAction {
    pub id: i64,
    pub business_id: BusinessId,
    pub contact_id: Option<ContactId>,
    pub spec: serde_json::Value,
    pub client_ref: Uuid,
    pub cause: serde_json::Value,
}

/// Carries out one claimed action and records how it ended; whether it failed.
pub(super) async fn settle(pool: &PgPool, sender: &Sender, options: &Options, row: &ClaimedAction) -> Result<bool> {
    let scope = Scope::system(row.business_id);
    let result = match (serde_json::from_value::<Action>(row.spec.clone()), serde_json::from_value(row.cause.clone())) {
        (Ok(action), Ok(cause)) => {
            let claim = Claim { scope: &scope, contact: row.contact_id, cause, client_ref: row.client_ref };
            carry_out(pool, sender, options, &claim, &action).await
        }
        _ => Err(Error::internal("the claimed action's record is unreadable")),
    };
    let (status, detail, failed) = match result {
        Ok(detail) => ("done", detail, false),
        Err(Error::Invalid { message, .. }) => ("skipped", message, false),
        Err(e) => ("failed", e.with_hint(), true),
    };
    sqlx::query!(
        "UPDATE automation_actions SET status = $3, detail = $4, updated_at = now() WHERE business_id = $1 AND id = $2",
        row.business_id.0,
        row.id,
        status,
        detail
    )
    .execute(pool)
    .await?;
    Ok(failed)
}

/// One claimed action with what it needs.
struct Claim<'a> {
    scope: &'a Scope,
    contact: Option<ContactId>,
    cause: Cause,
    client_ref: Uuid,
}

impl Claim<'_> {
    fn contact(&self) -> Result<ContactId> {
        self.contact.ok_or_else(|| Error::internal("the claimed action has no contact"))
    }
}

async fn carry_out(
    pool: &PgPool,
    sender: &Sender,
    options: &Options,
    claim: &Claim<'_>,
    action: &Action,
) -> Result<String> {
    match action {
        Action::SendText { .. } | Action::SendTemplate { .. } => send_one(pool, sender, claim, action).await,
        Action::CreateCampaign { .. } => create_campaign(pool, claim, action).await,
        Action::Notify { text, url: Some(url) } => notify_webhook(pool, options, claim, text, url).await,
        _ => Err(Error::internal(format!("{} is not carried out after the commit", action.kind()))),
    }
}

async fn send_one(pool: &PgPool, sender: &Sender, claim: &Claim<'_>, action: &Action) -> Result<String> {
    let contact = claim.contact()?;
    let compose = match action {
        Action::SendText { text } => Compose::Text { body: text.clone(), reply_to: None },
        Action::SendTemplate { template, params } => {
            template::compose(pool, claim.scope, contact, template, params).await?
        }
        _ => return Err(Error::internal("not a send")),
    };
    let outgoing = Outgoing { contact, compose, account: None };
    let origin = Origin { cause: Some(claim.cause), campaign: None, client_ref: Some(claim.client_ref), pacer: None };
    match send::send_as(pool, claim.scope, sender, &outgoing, &origin).await {
        Ok(message) => Ok(format!("message {} ({})", message.id, message.wamid)),
        // The key was reserved by an earlier attempt: that attempt's message is the one.
        Err(Error::Conflict { .. }) => Ok(format!("already sent as {}; not sent again", claim.client_ref)),
        Err(e) => Err(e),
    }
}

/// Makes the campaign through broadcast's own functions. Its name carries the claim's reference, so
/// a retry finds the campaign an interrupted attempt made instead of making a second.
async fn create_campaign(pool: &PgPool, claim: &Claim<'_>, action: &Action) -> Result<String> {
    let Action::CreateCampaign { name, template, language, category, params, audience, start } = action else {
        return Err(Error::internal("not a campaign"));
    };
    let name = format!("{name} [{}]", &claim.client_ref.simple().to_string()[..8]);
    let existing = broadcast::list(pool, claim.scope).await?.into_iter().find(|c| c.name == name);
    let campaign = match existing {
        Some(campaign) => campaign,
        None => {
            let reference = TemplateRef::Name { name: template.clone(), language: Some(language.clone()) };
            // The campaign sends the template as it is: a rule that states another category is stale.
            let found = templates::get(pool, claim.scope, &reference).await?;
            if let Some(stated) = category
                && !found.category.as_deref().is_some_and(|c| c.eq_ignore_ascii_case(stated))
            {
                return Err(Error::invalid(
                    format!(
                        "the rule's campaign names category {stated}, but template {template} ({language}) is {}",
                        found.category.as_deref().unwrap_or("uncategorised")
                    ),
                    "make the rule's category the template's, or pick another template",
                ));
            }
            let new = NewCampaign {
                name: name.clone(),
                template: reference,
                // The rule's list fills the template's {{1}}, {{2}}, … in order.
                params: params.iter().enumerate().map(|(i, p)| ((i + 1).to_string(), p.clone())).collect(),
                audience: audience.clone(),
                reply_window_hours: broadcast::DEFAULT_REPLY_WINDOW_HOURS,
            };
            broadcast::create(pool, claim.scope, &new).await?
        }
    };
    if *start && campaign.status == CampaignStatus::Draft {
        let count = broadcast::start(pool, claim.scope, campaign.id).await?;
        return Ok(format!("campaign {} ({name}) started for {} contacts", campaign.id, count.reachable));
    }
    Ok(format!("campaign {} ({name}) {}", campaign.id, if *start { "already started" } else { "made as a draft" }))
}

/// Writes the in-app notification (once, by the claim's key) and POSTs it to `url`, signed with
/// HMAC-SHA256 of the body under the configured secret (`X-Wacrm-Signature: sha256=<hex>`). The
/// receiver dedupes a retried delivery by `X-Wacrm-Delivery`.
async fn notify_webhook(pool: &PgPool, options: &Options, claim: &Claim<'_>, text: &str, url: &str) -> Result<String> {
    let business = claim.scope.business();
    let mut tx = pool.begin().await?;
    notifications::notify_on(
        &mut tx,
        business,
        &notification(claim.contact, &claim.client_ref.to_string(), text),
        claim.cause,
    )
    .await?;
    tx.commit().await?;
    let body = serde_json::to_vec(&json!({
        "business_id": business.0,
        "contact_id": claim.contact.map(|c| c.0),
        "rule_id": claim.cause.rule_id,
        "text": text,
        "delivery": claim.client_ref,
    }))
    .map_err(|e| Error::internal(e.to_string()))?;
    let mut request = reqwest::Client::new()
        .post(url)
        .timeout(std::time::Duration::from_secs(10))
        .header("content-type", "application/json")
        .header("x-wacrm-delivery", claim.client_ref.to_string());
    let signed = options.webhook_secret.as_ref().map(|secret| signature(secret.expose_secret().as_bytes(), &body));
    if let Some(signature) = &signed {
        request = request.header("x-wacrm-signature", format!("sha256={signature}"));
    }
    let response = request.body(body).send().await.map_err(|e| {
        Error::unavailable(format!("the notification webhook {url} did not answer: {e}"), "check the rule's url")
    })?;
    if !response.status().is_success() {
        return Err(Error::unavailable(
            format!("the notification webhook {url} answered {}", response.status()),
            "check the receiving service",
        ));
    }
    let how = if signed.is_some() { "signed" } else { "unsigned: no automation_webhook_secret is set" };
    Ok(format!("notified; POST {url} answered {} ({how})", response.status()))
}

/// The in-app notification of a `notify` action; `key` is unique to the action, so it is written once.
pub(super) fn notification(contact: Option<ContactId>, key: &str, text: &str) -> NewNotification {
    NewNotification {
        user: None,
        source: "automation",
        title: text.to_string(),
        body: String::new(),
        contact,
        dedupe_key: Some(format!("automation:{key}")),
    }
}

/// Hex HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}
