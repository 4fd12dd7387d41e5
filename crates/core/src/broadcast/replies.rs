//! Replies to campaigns, attributed in ingest's transaction: a customer's message within the window of
//! the latest campaign message that reached them marks that recipient replied and emits
//! `message_received_after_campaign` (the seed's automation trigger), right after the message's own
//! `message_received`. Delivery statuses of campaign messages keep the seed's `campaign_logs.delivered`
//! in step, in the same transaction.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::error::Result;
use crate::events::{self, Cause, Event, NewEvent};
use crate::types::{BusinessId, ContactId, MessageId};

/// An inbound message ingest just stored.
#[derive(Debug, Clone)]
pub struct InboundReply {
    pub business: BusinessId,
    pub contact: ContactId,
    pub message: MessageId,
    pub at: DateTime<Utc>,
    pub text: String,
}

/// Attributes a batch of inbound messages with one statement: per contact, its earliest message of the
/// batch goes to the latest campaign recipient row that was sent to it before the message and within
/// that campaign's reply window (last touch); a row keeps its first reply only, so replays and later
/// messages change nothing. Returns how many recipients were marked replied.
pub async fn attribute_replies_on(conn: &mut PgConnection, replies: &[InboundReply]) -> Result<usize> {
    if replies.is_empty() {
        return Ok(0);
    }
    let marked = sqlx::query!(
        r#"WITH input AS (
               SELECT * FROM unnest($1::int[], $2::int[], $3::int[], $4::timestamptz[])
                   WITH ORDINALITY AS i(business_id, contact_id, message_id, at, ord)
           ), earliest AS (
               SELECT DISTINCT ON (business_id, contact_id) * FROM input ORDER BY business_id, contact_id, at, ord
           ), reached AS (
               SELECT e.ord, e.message_id, e.at, r.id, r.business_id, r.campaign_id, r.contact_id
               FROM earliest e
               CROSS JOIN LATERAL (
                   SELECT r.id, r.business_id, r.campaign_id, r.contact_id, r.sent_at, c.reply_window_hours
                   FROM campaign_recipients r
                   JOIN campaigns c ON c.business_id = r.business_id AND c.id = r.campaign_id
                   WHERE r.business_id = e.business_id AND r.contact_id = e.contact_id AND r.state = 'sent'
                     -- Meta's message times are whole seconds: a reply in the send's own second counts.
                     AND date_trunc('second', r.sent_at) <= e.at
                   ORDER BY r.sent_at DESC LIMIT 1) r
               WHERE e.at <= r.sent_at + make_interval(hours => r.reply_window_hours)
           ), marked AS (
               UPDATE campaign_recipients r
               SET replied_at = x.at, reply_message_id = x.message_id, updated_at = NOW()
               FROM reached x
               WHERE r.business_id = x.business_id AND r.id = x.id AND r.replied_at IS NULL
               RETURNING r.business_id, r.campaign_id, r.contact_id, x.message_id, x.ord
           ), logged AS (
               UPDATE campaign_logs g SET replied = true
               FROM marked m JOIN campaigns c ON c.business_id = m.business_id AND c.id = m.campaign_id
               WHERE g.campaign_id = c.id AND g.contact_id = m.contact_id
           )
           SELECT campaign_id AS "campaign_id!", contact_id AS "contact_id!", message_id AS "message_id!",
                  ord AS "ord!"
           FROM marked ORDER BY ord"#,
        &replies.iter().map(|r| r.business.0).collect::<Vec<_>>(),
        &replies.iter().map(|r| r.contact.0).collect::<Vec<_>>(),
        &replies.iter().map(|r| r.message.0).collect::<Vec<_>>(),
        &replies.iter().map(|r| r.at).collect::<Vec<_>>()
    )
    .fetch_all(&mut *conn)
    .await?;
    let outbox: Vec<NewEvent> = marked
        .iter()
        .map(|row| {
            let reply = &replies[row.ord as usize - 1];
            NewEvent {
                business: reply.business,
                contact: Some(ContactId(row.contact_id)),
                event: Event::MessageReceivedAfterCampaign {
                    campaign_id: row.campaign_id,
                    message_id: MessageId(row.message_id),
                    text: reply.text.clone(),
                },
                cause: Cause::customer(),
            }
        })
        .collect();
    events::emit_all(conn, &outbox).await?;
    Ok(marked.len())
}

/// A delivered or read status of a campaign message (ingest's transaction) marks its recipient's
/// `campaign_logs` row delivered; replays and later statuses change nothing.
pub async fn mark_delivered_on(
    conn: &mut PgConnection,
    business: BusinessId,
    campaign: i32,
    contact: ContactId,
) -> Result<()> {
    sqlx::query!(
        r#"UPDATE campaign_logs g SET delivered = true
           FROM campaigns c
           WHERE c.business_id = $1 AND c.id = $2 AND g.campaign_id = c.id AND g.contact_id = $3
             AND g.delivered IS NOT TRUE"#,
        business.0,
        campaign,
        contact.0
    )
    .execute(conn)
    .await?;
    Ok(())
}
