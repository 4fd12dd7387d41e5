//! The fake playing Meta after an accepted send: signed `sent`, `delivered` and `read` status webhooks,
//! posted again while the receiver does not acknowledge them.

use std::time::Duration;

use axum::http::header;
use chrono::Utc;
use serde_json::{Value, json};

use super::{Delivery, Shared, StatusWebhooks, lock};
use crate::whatsapp::send::SendRequest;
use crate::whatsapp::signature;

/// Plays Meta after an accepted send: `sent`, `delivered`, `read`, each a signed webhook POST, in order.
/// As Meta does, a status the receiver did not acknowledge (down, or not 2xx) is posted again, backing
/// off, for up to [`STATUS_RETRY_FOR`] (Meta: days), before the next one; its delivery records the last answer.
pub(super) async fn play_statuses(
    state: Shared,
    target: StatusWebhooks,
    phone_number_id: String,
    wamid: String,
    request: SendRequest,
) {
    let http = reqwest::Client::new();
    let template = matches!(request.content, crate::whatsapp::send::Content::Template { .. });
    for (i, status) in ["sent", "delivered", "read"].into_iter().enumerate() {
        tokio::time::sleep(target.delay).await;
        let body = status_webhook(&target, &phone_number_id, &wamid, &request, status, i == 0, template);
        let bytes = body.to_string().into_bytes();
        let signature = signature::sign(target.app_secret.as_bytes(), &bytes);
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(100);
        let answered = loop {
            let answered = match http
                .post(&target.url)
                .header(header::CONTENT_TYPE, "application/json")
                .header("X-Hub-Signature-256", &signature)
                .body(bytes.clone())
                .send()
                .await
            {
                Ok(response) => Some(response.status().as_u16()),
                Err(e) => {
                    tracing::debug!("the fake Graph API could not deliver a {status} webhook to {}: {e}", target.url);
                    None
                }
            };
            if answered.is_some_and(|code| (200..300).contains(&code)) || started.elapsed() >= STATUS_RETRY_FOR {
                break answered;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        };
        if !answered.is_some_and(|code| (200..300).contains(&code)) {
            tracing::warn!("the fake Graph API gave up delivering a {status} webhook to {}: {answered:?}", target.url);
        }
        lock(&state).deliveries.push(Delivery { wamid: wamid.clone(), status: status.into(), answered });
    }
}

/// How long the fake keeps posting a status its receiver does not acknowledge.
const STATUS_RETRY_FOR: Duration = Duration::from_secs(60);

/// A `statuses[]` webhook body in Meta's shape (shared/whatsapp-cloud-api.md §2.3), per-message pricing.
fn status_webhook(
    target: &StatusWebhooks,
    phone_number_id: &str,
    wamid: &str,
    request: &SendRequest,
    status: &str,
    first: bool,
    template: bool,
) -> Value {
    let now = Utc::now().timestamp();
    let (category, pricing_type, billable) =
        if template { ("utility", "regular", true) } else { ("service", "free_customer_service", false) };
    let mut item = json!({
        "id": wamid,
        "status": status,
        "timestamp": now.to_string(),
        "recipient_id": request.to,
        "pricing": {"billable": billable, "pricing_model": "PMP", "category": category, "type": pricing_type},
    });
    if let Some(data) = &request.biz_opaque_callback_data {
        item["biz_opaque_callback_data"] = json!(data);
    }
    if first {
        item["conversation"] = json!({
            "id": uuid::Uuid::new_v4().simple().to_string(),
            "expiration_timestamp": (now + 24 * 3600).to_string(),
            "origin": {"type": category},
        });
    }
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": target.waba_id,
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": target.display_phone_number, "phone_number_id": phone_number_id},
                    "statuses": [item],
                },
            }],
        }],
    })
}
