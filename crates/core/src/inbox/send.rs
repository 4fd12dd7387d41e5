//! Sending (seed Inbox FLOW 4): the one path the dashboard, automation and broadcast all use.
//!
//! gate → reserve → call → record:
//! 1. **Gate**, in a transaction holding the contact's row lock: free-form text only inside the 24-hour
//!    customer-service window, marketing templates never to an opted-out contact, and the billing gate
//!    ([`billing::gate_send`]: an active subscription, the month's conversation limit).
//! 2. **Reserve**: the outbound message is inserted as `pending` with a fresh `client_ref` and committed
//!    before Meta is called, so a crash leaves a visible pending row, never a lost or doubled send.
//! 3. **Call** the Graph API outside any transaction (it retries what is retryable).
//! 4. **Record** the wamid and `sent`, or `failed` with Meta's error, update the conversation and emit
//!    the event, in one transaction.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::auth::{Area, Scope};
use crate::billing;
use crate::config::Settings;
use crate::contacts;
use crate::error::{Error, Result, input, op};
use crate::events::{self, Cause, Event};
use crate::secrets;
use crate::templates::Rendered;
use crate::types::{AccountId, BusinessId, ContactId, MessageId, MessageStatus};
use crate::whatsapp::client::{Accepted, ApiError, Endpoint, GraphClient};
use crate::whatsapp::pacing::Pacer;
use crate::whatsapp::send::{Content, MAX_TEXT_CHARS, SendRequest};

/// How long after a customer's last message free-form replies are allowed (WhatsApp's customer-service
/// window, shared/whatsapp-cloud-api.md §6).
pub const SERVICE_WINDOW_HOURS: i64 = 24;

/// A template's category; only marketing templates are blocked for contacts who opted out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TemplateCategory {
    Marketing,
    Utility,
    Authentication,
}

impl TemplateCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateCategory::Marketing => "marketing",
            TemplateCategory::Utility => "utility",
            TemplateCategory::Authentication => "authentication",
        }
    }
}

impl fmt::Display for TemplateCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TemplateCategory {
    type Err = Error;
    fn from_str(s: &str) -> Result<TemplateCategory> {
        match s.trim().to_ascii_lowercase().as_str() {
            "marketing" => Ok(TemplateCategory::Marketing),
            "utility" => Ok(TemplateCategory::Utility),
            "authentication" => Ok(TemplateCategory::Authentication),
            _ => Err(Error::invalid(
                format!("{s:?} is not a template category"),
                "use one of: marketing, utility, authentication",
            )),
        }
    }
}

/// What to send.
#[derive(Debug, Clone, PartialEq)]
pub enum Compose {
    /// Free-form text (at most 4096 characters), only inside the customer-service window; optionally
    /// quoting one of the chat's messages.
    Text { body: String, reply_to: Option<MessageId> },
    /// An approved template by name and language with its positional body parameters; the way to
    /// (re)open a conversation outside the window.
    Template { name: String, language: String, params: Vec<String>, category: TemplateCategory },
    /// A template as `templates::render` filled it for this contact (header, body, buttons; positional
    /// or named parameters): what broadcast sends.
    Rendered { rendered: Box<Rendered>, category: TemplateCategory },
}

/// One message to one contact.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub contact: ContactId,
    pub compose: Compose,
    /// The business number to send from; by default the one the chat last used, else the first active.
    pub account: Option<AccountId>,
}

/// What a send needs besides the database: the Graph API client and the price of a new conversation.
#[derive(Debug, Clone)]
pub struct Sender {
    pub client: GraphClient,
    pub conversation_price: Decimal,
}

impl Sender {
    pub fn from_settings(settings: &Settings) -> Sender {
        Sender { client: GraphClient::from_settings(settings), conversation_price: settings.conversation_price() }
    }
}

/// An accepted send.
#[derive(Debug, Clone, Serialize)]
pub struct SentMessage {
    pub id: MessageId,
    pub contact_id: ContactId,
    pub account_id: AccountId,
    pub wamid: String,
    pub status: MessageStatus,
    pub kind: &'static str,
    pub content: String,
    pub client_ref: Uuid,
    pub sent_at: DateTime<Utc>,
    /// The conversation window this send opened (and the plan counts), if it opened one.
    pub opened_conversation: Option<String>,
    /// Graph API attempts it took (retries after throttling or transient errors).
    pub attempts: u32,
}

/// The checked content of a send: its kind, the text stored in `messages.content`, the wire content.
struct Draft {
    kind: &'static str,
    content: String,
    wire: Content,
    payload: serde_json::Value,
}

fn draft(compose: &Compose) -> Result<Draft> {
    match compose {
        Compose::Text { body, .. } => {
            if body.trim().is_empty() {
                return Err(Error::invalid("the message is empty", format!("give the text ({})", input("text"))));
            }
            let chars = body.chars().count();
            if chars > MAX_TEXT_CHARS {
                return Err(Error::invalid(
                    format!("the message has {chars} characters; WhatsApp allows at most {MAX_TEXT_CHARS}"),
                    "shorten it or split it into several messages",
                ));
            }
            Ok(Draft {
                kind: "text",
                content: body.clone(),
                wire: Content::text(body),
                payload: serde_json::Value::Null,
            })
        }
        Compose::Template { name, language, params, category } => {
            let name = name.trim();
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
                return Err(Error::invalid(
                    format!("{name:?} is not a template name"),
                    "template names are lowercase letters, digits and underscores, e.g. order_update",
                ));
            }
            let language = language.trim();
            if language.is_empty() {
                return Err(Error::invalid(
                    "the template language is empty",
                    format!("give the template's language ({}), e.g. en_US", input("lang")),
                ));
            }
            let rendered = if params.is_empty() { String::new() } else { format!(": {}", params.join(" | ")) };
            Ok(Draft {
                kind: "template",
                content: format!("[template {name} ({language})]{rendered}"),
                wire: Content::template(name, language, params),
                payload: json!({"template": {"name": name, "language": language, "params": params,
                                             "category": category.as_str()}}),
            })
        }
        Compose::Rendered { rendered, category } => Ok(Draft {
            kind: "template",
            content: format!("[template {} ({})] {}", rendered.name, rendered.language, rendered.body),
            wire: Content::rendered(&rendered.name, &rendered.language, rendered.components.clone()),
            payload: json!({"template": {"name": rendered.name, "language": rendered.language,
                                         "components": rendered.components, "category": category.as_str()}}),
        }),
    }
}

/// The business number a send goes out through, with what the Graph API call needs.
pub(crate) struct SendingAccount {
    pub id: AccountId,
    pub endpoint: Endpoint,
}

/// The number to use for `contact`: `account` if given (it must be active), else the number of the
/// chat's last message if still active, else the business's first active number.
pub(crate) async fn sending_account(
    conn: &mut PgConnection,
    business: BusinessId,
    account: Option<AccountId>,
    contact: ContactId,
) -> Result<SendingAccount> {
    let row = sqlx::query!(
        r#"SELECT a.id, a.phone_number_id, a.api_token, a.api_base_url, a.api_version
           FROM whatsapp_accounts a
           WHERE a.business_id = $1 AND a.status = 'active' AND ($2::int IS NULL OR a.id = $2)
           ORDER BY a.id = (SELECT m.whatsapp_account_id
                            FROM contacts c JOIN messages m ON m.business_id = c.business_id AND m.id = c.last_message_id
                            WHERE c.business_id = $1 AND c.id = $3) DESC NULLS LAST,
                    a.id
           LIMIT 1"#,
        business.0,
        account.map(|a| a.0),
        contact.0
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Err(match account {
            Some(id) => Error::not_found(format!("active WhatsApp account {id}")),
            None => Error::invalid(
                "the business has no active WhatsApp number to send from",
                format!("connect one ({}) or activate one ({})", op("accounts add"), op("accounts activate <id>")),
            ),
        });
    };
    let unusable = |what: &str| {
        Error::invalid(
            format!("WhatsApp account {} has no {what}", row.id),
            format!(
                "connect the number again ({}) giving its {} and {}",
                op("accounts add"),
                input("phone-number-id"),
                input("token")
            ),
        )
    };
    let phone_number_id =
        row.phone_number_id.clone().filter(|p| !p.is_empty()).ok_or_else(|| unusable("phone_number_id"))?;
    let stored = row.api_token.as_deref().filter(|t| !t.is_empty()).ok_or_else(|| unusable("access token"))?;
    let token = secrets::open(secrets::installed(), business, AccountId(row.id), stored)?;
    Ok(SendingAccount {
        id: AccountId(row.id),
        endpoint: Endpoint { phone_number_id, token, base_url: row.api_base_url, version: row.api_version },
    })
}

/// The gate's verdict and the reserved row.
struct Reserved {
    id: MessageId,
    account: SendingAccount,
    request: SendRequest,
    client_ref: Uuid,
    opened_conversation: Option<String>,
    cause: Cause,
    campaign: Option<i32>,
}

/// Who asks for a send, when it is not simply the acting scope: an automation rule or a campaign.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// The cause its events carry (`None`: the scope's user, else the system).
    pub cause: Option<Cause>,
    /// The campaign the message belongs to (`messages.campaign_id`).
    pub campaign: Option<i32>,
    /// The send's idempotency key, chosen by the caller from its own claim row (a campaign recipient,
    /// an automation action). The reservation is unique per business: a second send with the same key
    /// is refused as a conflict before Meta is called, so a retried job never sends twice. It travels to
    /// Meta as `biz_opaque_callback_data`, as every send's does. `None`: a fresh one.
    pub client_ref: Option<Uuid>,
    /// Bulk sends wait here for their number's token before calling Meta (after the reservation, so
    /// the wait holds no lock).
    pub pacer: Option<Pacer>,
}

/// Sends one message (seed Inbox FLOW 4). `Ok` means Meta accepted it; every refusal after the gate
/// leaves the message recorded as `failed` with Meta's error code and returns [`Error::WhatsApp`].
pub async fn send(pool: &PgPool, scope: &Scope, sender: &Sender, outgoing: &Outgoing) -> Result<SentMessage> {
    send_as(pool, scope, sender, outgoing, &Origin::default()).await
}

/// [`send`] for automation and broadcast: the same gate, reservation and recording, with the origin's
/// cause, campaign and idempotency key.
pub async fn send_as(
    pool: &PgPool,
    scope: &Scope,
    sender: &Sender,
    outgoing: &Outgoing,
    origin: &Origin,
) -> Result<SentMessage> {
    scope.require(Area::Inbox)?;
    let draft = draft(&outgoing.compose)?;
    let at = Utc::now();
    let reserved = gate_and_reserve(pool, scope, sender, outgoing, &draft, at, origin).await?;
    if let Some(pacer) = &origin.pacer {
        pacer.until_ready(&reserved.account.endpoint.phone_number_id).await;
    }
    let outcome = sender.client.send(&reserved.account.endpoint, &reserved.request).await;
    record(pool, scope, outgoing.contact, &reserved, &draft, at, outcome).await
}

async fn gate_and_reserve(
    pool: &PgPool,
    scope: &Scope,
    sender: &Sender,
    outgoing: &Outgoing,
    draft: &Draft,
    at: DateTime<Utc>,
    origin: &Origin,
) -> Result<Reserved> {
    let business = scope.business();
    let mut tx = pool.begin().await?;
    // The contact's row lock serialises sends to one contact with each other and with ingest, so the
    // window check and the conversation window both see every earlier message.
    let contact = sqlx::query!(
        r#"SELECT phone, wa_id, last_inbound_at, opted_out_at,
                  COALESCE(name, profile_name, phone, username, bsuid) AS display_name
           FROM contacts WHERE business_id = $1 AND id = $2 FOR UPDATE"#,
        business.0,
        outgoing.contact.0
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| Error::not_found(format!("contact {}", outgoing.contact)))?;
    let who = contact.display_name.unwrap_or_else(|| format!("contact {}", outgoing.contact));
    let phone = match contacts::identity::send_address(contact.wa_id.as_deref(), contact.phone.as_deref()) {
        Some(phone) => phone,
        None => {
            return Err(Error::invalid(
                format!("{who} has no usable phone number, and WhatsApp sends need one"),
                format!("add the contact's number ({})", op("contacts edit")),
            ));
        }
    };
    let reply_to = match &outgoing.compose {
        Compose::Text { reply_to, .. } => {
            let window_closes = contact.last_inbound_at.map(|t| t + Duration::hours(SERVICE_WINDOW_HOURS));
            if window_closes.is_none_or(|closes| closes <= at) {
                let since = match contact.last_inbound_at {
                    Some(t) => format!("their last message was at {}", t.format("%Y-%m-%d %H:%M UTC")),
                    None => "they have never written".to_string(),
                };
                return Err(Error::invalid(
                    format!(
                        "the 24-hour customer-service window with {who} is closed ({since}); free-form text is not allowed"
                    ),
                    format!(
                        "send an approved template instead ({})",
                        op(&format!("inbox send {} --template NAME --lang en_US", outgoing.contact))
                    ),
                ));
            }
            match reply_to {
                Some(message) => Some(quoted_wamid(&mut tx, business, outgoing.contact, *message).await?),
                None => None,
            }
        }
        Compose::Template { category, .. } | Compose::Rendered { category, .. } => {
            if *category == TemplateCategory::Marketing && contact.opted_out_at.is_some() {
                return Err(Error::invalid(
                    format!("{who} opted out of marketing messages"),
                    "reply inside their 24-hour window, or send a template that really is transactional \
                     (order or account updates); promotions must wait until they opt back in",
                ));
            }
            None
        }
    };
    let account = sending_account(&mut tx, business, outgoing.account, outgoing.contact).await?;
    let opened_conversation =
        billing::gate_send(&mut tx, business, outgoing.contact, at, sender.conversation_price).await?;
    let client_ref = origin.client_ref.unwrap_or_else(Uuid::new_v4);
    let id = sqlx::query_scalar!(
        r#"INSERT INTO messages (business_id, whatsapp_account_id, contact_id, direction, content, status, sent_at,
                                 kind, payload, context_wamid, sender_user_id, client_ref, campaign_id)
           VALUES ($1, $2, $3, 'out', $4, 'pending', $5, $6, $7, $8, $9, $10, $11)
           ON CONFLICT (business_id, client_ref) WHERE client_ref IS NOT NULL DO NOTHING
           RETURNING id"#,
        business.0,
        account.id.0,
        outgoing.contact.0,
        draft.content,
        at,
        draft.kind,
        (!draft.payload.is_null()).then_some(&draft.payload),
        reply_to.as_deref(),
        scope.user().map(|u| u.0),
        client_ref,
        origin.campaign
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| {
        Error::conflict(
            format!("the send {client_ref} was already made; it is not sent again"),
            "look the message up by this reference instead of sending it once more",
        )
    })?;
    tx.commit().await?;
    let request = SendRequest::new(phone.wa_id(), draft.wire.clone())
        .replying_to(reply_to)
        .with_callback_data(client_ref.to_string());
    let cause = origin.cause.unwrap_or_else(|| Cause::of(scope));
    Ok(Reserved {
        id: MessageId(id),
        account,
        request,
        client_ref,
        opened_conversation,
        cause,
        campaign: origin.campaign,
    })
}

/// The wamid of the chat message a reply quotes.
async fn quoted_wamid(
    conn: &mut PgConnection,
    business: BusinessId,
    contact: ContactId,
    message: MessageId,
) -> Result<String> {
    let wamid = sqlx::query_scalar!(
        "SELECT wamid FROM messages WHERE business_id = $1 AND contact_id = $2 AND id = $3",
        business.0,
        contact.0,
        message.0
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::not_found(format!("message {message} in this chat")))?;
    wamid.ok_or_else(|| {
        Error::invalid(
            format!("message {message} has no WhatsApp id yet, so it cannot be quoted"),
            "reply without quoting, or wait until it is sent",
        )
    })
}

async fn record(
    pool: &PgPool,
    scope: &Scope,
    contact: ContactId,
    reserved: &Reserved,
    draft: &Draft,
    at: DateTime<Utc>,
    outcome: std::result::Result<Accepted, ApiError>,
) -> Result<SentMessage> {
    let business = scope.business();
    let failure = match outcome {
        Ok(accepted) => {
            // Meta has the message now: failing to write that down must not read as "not sent", or the
            // user sends it again. Retry briefly, then say plainly that it went out.
            let mut attempt = 0;
            loop {
                attempt += 1;
                match record_accepted(pool, scope, contact, reserved, draft, at, &accepted.wamid).await {
                    Ok(()) => break,
                    Err(e) if attempt < RECORD_ATTEMPTS => {
                        tracing::warn!(error = %e, wamid = %accepted.wamid, "recording an accepted send failed; retrying");
                        tokio::time::sleep(std::time::Duration::from_millis(200 * attempt)).await;
                    }
                    Err(e) => {
                        return Err(Error::unavailable(
                            format!(
                                "WhatsApp accepted message {} ({}) but it could not be recorded: {e}",
                                reserved.id, accepted.wamid
                            ),
                            "do not send it again: it went out, and its status webhooks will complete the record",
                        ));
                    }
                }
            }
            return Ok(SentMessage {
                id: reserved.id,
                contact_id: contact,
                account_id: reserved.account.id,
                wamid: accepted.wamid,
                status: MessageStatus::Sent,
                kind: draft.kind,
                content: draft.content.clone(),
                client_ref: reserved.client_ref,
                sent_at: at,
                opened_conversation: reserved.opened_conversation.clone(),
                attempts: accepted.attempts,
            });
        }
        Err(failure) => failure,
    };
    // Meta may have taken a message whose answer never arrived: it stays pending (visible, matched
    // later by its client_ref) instead of being marked failed and sent again.
    let mut tx = pool.begin().await?;
    touch_conversation(&mut tx, business, contact, reserved.id, at).await?;
    let status = if failure.outcome_unknown { MessageStatus::Pending } else { MessageStatus::Failed };
    let code = failure.code.and_then(|c| i32::try_from(c).ok());
    sqlx::query!(
        r#"UPDATE messages
           SET status = $3, failed_at = CASE WHEN $3 = 'failed'::message_status THEN NOW() END,
               error_code = $4, error_title = $5, error_detail = $6
           WHERE business_id = $1 AND id = $2"#,
        business.0,
        reserved.id.0,
        status as MessageStatus,
        code,
        failure.title,
        failure.detail
    )
    .execute(&mut *tx)
    .await?;
    if status == MessageStatus::Failed
        && let Some(conversation) = &reserved.opened_conversation
    {
        billing::release_window(&mut tx, business, conversation).await?;
    }
    let event = Event::StatusChanged {
        message_id: reserved.id,
        status,
        wamid: None,
        reported: None,
        at: None,
        campaign_id: reserved.campaign,
        error_code: failure.code,
        error_title: Some(failure.title.clone()),
        error_detail: failure.detail.clone(),
        client_ref: Some(reserved.client_ref),
    };
    events::emit(&mut tx, business, Some(contact), event, reserved.cause).await?;
    tx.commit().await?;
    Err(failure.into())
}

/// How often recording an accepted send is tried before the user is told it went out unrecorded.
const RECORD_ATTEMPTS: u64 = 3;

/// Writes down that Meta accepted the reserved message. The contact is locked first (the order every
/// path takes), and a status webhook that won the race — matched by client_ref — is never moved back.
async fn record_accepted(
    pool: &PgPool,
    scope: &Scope,
    contact: ContactId,
    reserved: &Reserved,
    draft: &Draft,
    at: DateTime<Utc>,
    wamid: &str,
) -> Result<()> {
    let business = scope.business();
    let mut tx = pool.begin().await?;
    touch_conversation(&mut tx, business, contact, reserved.id, at).await?;
    sqlx::query!(
        r#"UPDATE messages
           SET status = CASE WHEN status = 'pending' THEN 'sent'::message_status ELSE status END,
               wamid = COALESCE(wamid, $3)
           WHERE business_id = $1 AND id = $2"#,
        business.0,
        reserved.id.0,
        wamid
    )
    .execute(&mut *tx)
    .await?;
    let event = Event::MessageSent {
        message_id: reserved.id,
        wamid: wamid.to_string(),
        kind: draft.kind.to_string(),
        client_ref: reserved.client_ref,
        account_id: reserved.account.id,
        sender_user_id: scope.user(),
        opened_conversation: reserved.opened_conversation.clone(),
    };
    events::emit(&mut tx, business, Some(contact), event, reserved.cause).await?;
    tx.commit().await?;
    Ok(())
}

/// Makes `message` the conversation's last message unless a newer one already is.
async fn touch_conversation(
    conn: &mut PgConnection,
    business: BusinessId,
    contact: ContactId,
    message: MessageId,
    at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query!(
        r#"UPDATE contacts SET last_message_id = $3, last_message_at = $4
           WHERE business_id = $1 AND id = $2 AND (last_message_at IS NULL OR last_message_at <= $4)"#,
        business.0,
        contact.0,
        message.0,
        at
    )
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_checked_before_anything_is_reserved() {
        assert!(draft(&Compose::Text { body: "  ".into(), reply_to: None }).is_err());
        let long = "é".repeat(MAX_TEXT_CHARS + 1);
        let err = draft(&Compose::Text { body: long, reply_to: None }).err().unwrap().to_string();
        assert!(err.contains("4097 characters"), "{err}");
        assert!(draft(&Compose::Text { body: "é".repeat(MAX_TEXT_CHARS), reply_to: None }).is_ok());
    }

    #[test]
    fn templates_need_a_valid_name_and_language() {
        let template = |name: &str, language: &str| Compose::Template {
            name: name.into(),
            language: language.into(),
            params: vec!["Ana".into()],
            category: TemplateCategory::Utility,
        };
        assert!(draft(&template("Order Update", "en_US")).is_err());
        assert!(draft(&template("order_update", "")).is_err());
        let ok = draft(&template("order_update", "en_US")).unwrap();
        assert_eq!(ok.content, "[template order_update (en_US)]: Ana");
        assert_eq!("Utility".parse::<TemplateCategory>().unwrap(), TemplateCategory::Utility);
    }
}
