//! Sending (seed Inbox FLOW 4): the one path the dashboard, automation and broadcast all use.
//!
//! gate → reserve → call → record ([`steps`] runs each step for n messages at once; a campaign sends
//! its recipients by chunks through them):
//! 1. **Gate**, in a transaction holding the contact's row lock: free-form text only inside the 24-hour
//!    customer-service window, marketing templates never to an opted-out contact, and the billing gate
//!    ([`billing::gate_send`]: an active subscription, the month's conversation limit).
//! 2. **Reserve**: the outbound message is inserted as `pending` with a fresh `client_ref` and committed
//!    before Meta is called, so a crash leaves a visible pending row, never a lost or doubled send.
//! 3. **Call** the Graph API outside any transaction (it retries what is retryable).
//! 4. **Record** the wamid and `sent`, or `failed` with Meta's error, update the conversation and emit
//!    the event, in one transaction.

mod steps;

pub use steps::{Bulk, Called, Reservation, record_on, reserve_many, withdraw_on};

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::auth::Scope;
use crate::config::Settings;
use crate::error::{Error, Result, input, op};
use crate::events::Cause;
use crate::secrets;
use crate::templates::Rendered;
use crate::types::{AccountId, BusinessId, ContactId, MessageId, MessageStatus};
use crate::whatsapp::client::{Endpoint, GraphClient};
use crate::whatsapp::pacing::Pacer;
use crate::whatsapp::send::{Content, MAX_TEXT_CHARS};

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
    let mut accounts = sending_accounts(conn, business, &[(contact, account)]).await?;
    accounts.remove(&contact).ok_or_else(|| Error::internal("the sending account of a contact went missing"))
}

/// [`sending_account`] for many sends to distinct contacts, with one query; each account's token is
/// opened once.
async fn sending_accounts(
    conn: &mut PgConnection,
    business: BusinessId,
    sends: &[(ContactId, Option<AccountId>)],
) -> Result<HashMap<ContactId, SendingAccount>> {
    if sends.is_empty() {
        return Ok(HashMap::new());
    }
    let contacts: Vec<i32> = sends.iter().map(|s| s.0.0).collect();
    let chosen: Vec<Option<i32>> = sends.iter().map(|s| s.1.map(|a| a.0)).collect();
    let rows = sqlx::query!(
        r#"SELECT s.contact AS "contact!", a.id, a.phone_number_id, a.api_token, a.api_base_url, a.api_version
           FROM unnest($2::int[], $3::int[]) AS s(contact, account)
           CROSS JOIN LATERAL (
               SELECT a.id, a.phone_number_id, a.api_token, a.api_base_url, a.api_version
               FROM whatsapp_accounts a
               WHERE a.business_id = $1 AND a.status = 'active' AND (s.account IS NULL OR a.id = s.account)
               ORDER BY a.id = (SELECT m.whatsapp_account_id
                                FROM contacts c JOIN messages m ON m.business_id = c.business_id AND m.id = c.last_message_id
                                WHERE c.business_id = $1 AND c.id = s.contact) DESC NULLS LAST,
                        a.id
               LIMIT 1) a"#,
        business.0,
        &contacts,
        &chosen as &[Option<i32>]
    )
    .fetch_all(&mut *conn)
    .await?;
    if let Some((_, missing)) = sends.iter().find(|s| !rows.iter().any(|r| r.contact == s.0.0)) {
        return Err(match missing {
            Some(id) => Error::not_found(format!("active WhatsApp account {id}")),
            None => Error::invalid(
                "the business has no active WhatsApp number to send from",
                format!("connect one ({}) or activate one ({})", op("accounts add"), op("accounts activate <id>")),
            ),
        });
    }
    let mut endpoints: HashMap<i32, Endpoint> = HashMap::new();
    let mut accounts = HashMap::with_capacity(rows.len());
    for row in rows {
        let endpoint = match endpoints.get(&row.id) {
            Some(endpoint) => endpoint.clone(),
            None => {
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
                let stored =
                    row.api_token.as_deref().filter(|t| !t.is_empty()).ok_or_else(|| unusable("access token"))?;
                let token = secrets::open(secrets::installed(), business, AccountId(row.id), stored)?;
                let endpoint = Endpoint {
                    phone_number_id,
                    token,
                    base_url: row.api_base_url.clone(),
                    version: row.api_version.clone(),
                };
                endpoints.insert(row.id, endpoint.clone());
                endpoint
            }
        };
        accounts.insert(ContactId(row.contact), SendingAccount { id: AccountId(row.id), endpoint });
    }
    Ok(accounts)
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
    let one = [Bulk { outgoing, client_ref: origin.client_ref }];
    let reservation = reserve_many(pool, scope, sender, &one, origin)
        .await?
        .pop()
        .ok_or_else(|| Error::internal("a send was neither reserved nor refused"))??;
    let called = reservation.call(sender, origin.pacer.as_ref()).await;
    record(pool, scope, called).await
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

/// Records one called send in its own transaction. Meta has an accepted message now: failing to write
/// that down must not read as "not sent", or the user sends it again. Retry briefly, then say plainly
/// that it went out.
async fn record(pool: &PgPool, scope: &Scope, called: Called) -> Result<SentMessage> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let recorded = async {
            let mut tx = pool.begin().await?;
            record_on(&mut tx, scope, std::slice::from_ref(&called)).await?;
            tx.commit().await?;
            Ok::<_, Error>(())
        };
        match recorded.await {
            Ok(()) => return called.into_result(),
            Err(e) if attempt < RECORD_ATTEMPTS && called.outcome.is_ok() => {
                tracing::warn!(error = %e, "recording an accepted send failed; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(200 * attempt)).await;
            }
            Err(e) => {
                let Ok(accepted) = &called.outcome else { return Err(e) };
                return Err(Error::unavailable(
                    format!(
                        "WhatsApp accepted message {} ({}) but it could not be recorded: {e}",
                        called.reservation.id, accepted.wamid
                    ),
                    "do not send it again: it went out, and its status webhooks will complete the record",
                ));
            }
        }
    }
}

/// How often recording an accepted send is tried before the user is told it went out unrecorded.
const RECORD_ATTEMPTS: u64 = 3;

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
