//! Delivery statuses of outbound messages, applied forward only, with Meta's pricing recorded once.

use super::*;

pub(super) enum StatusChange {
    Applied,
    Unchanged,
    UnknownMessage,
}

pub(super) struct StatusApplied {
    pub(super) change: StatusChange,
    pub(super) pricing_recorded: bool,
}

/// Applies one status to the outbound message it is about in the routed business: the status only
/// moves forward (`MessageStatus::rank`; failed is terminal), each status keeps its own time.
///
/// The message is found by wamid, or else by the `client_ref` the send path reserved it with and sent
/// as `biz_opaque_callback_data`: a status can overtake the sender's recording of the wamid, which is
/// then set here.
///
/// `at` is the status's time as [`trusted_time`] accepted it.
pub(super) async fn apply_status(
    conn: &mut PgConnection,
    route: Route,
    status: &Status,
    at: DateTime<Utc>,
) -> Result<StatusApplied> {
    let business = route.business;
    // Meta bills per delivered message: the first status of a wamid that carries pricing is recorded,
    // whether or not the message was sent through wacrm (it is this number's cost either way).
    let pricing_recorded = match &status.pricing {
        Some(pricing) => billing::record_pricing_on(conn, business, &status.id, pricing).await?,
        None => false,
    };
    // Anything else in the callback data is not ours to interpret.
    let client_ref = status.biz_opaque_callback_data.as_deref().and_then(|d| Uuid::parse_str(d.trim()).ok());
    let row = sqlx::query!(
        r#"SELECT id, contact_id, status AS "status: MessageStatus", campaign_id,
                  delivered_at, read_at, failed_at, wamid IS NULL AS "wamid_missing!"
           FROM messages
           WHERE business_id = $1 AND direction = 'out'
             AND (wamid = $2 OR (wamid IS NULL AND client_ref = $3))
           ORDER BY wamid IS NULL
           LIMIT 1
           FOR UPDATE"#,
        business.0,
        status.id,
        client_ref
    )
    .fetch_optional(&mut *conn)
    .await?;
    let (Some(row), Some(reported)) = (row, status.message_status()) else {
        let change = if status.message_status().is_none() {
            tracing::debug!(wamid = %status.id, status = %status.status, "status value not tracked");
            StatusChange::Unchanged
        } else {
            tracing::info!(business = %business, wamid = %status.id, status = %status.status,
                "status for a message this business has no record of");
            StatusChange::UnknownMessage
        };
        return Ok(StatusApplied { change, pricing_recorded });
    };
    let current = row.status.unwrap_or(MessageStatus::Pending);
    let advances = current != MessageStatus::Failed && reported.rank() > current.rank();
    let new_status = if advances { reported } else { current };
    let delivered_at = (reported == MessageStatus::Delivered && row.delivered_at.is_none()).then_some(at);
    let read_at = (reported == MessageStatus::Read && row.read_at.is_none()).then_some(at);
    let failed = reported == MessageStatus::Failed && row.failed_at.is_none();
    if !advances && delivered_at.is_none() && read_at.is_none() && !failed && !row.wamid_missing {
        return Ok(StatusApplied { change: StatusChange::Unchanged, pricing_recorded });
    }
    let error = if failed { status.errors.first() } else { None };
    sqlx::query!(
        r#"UPDATE messages SET
               status = $3,
               delivered_at = COALESCE(delivered_at, $4),
               read_at = COALESCE(read_at, $5),
               failed_at = COALESCE(failed_at, $6),
               error_code = COALESCE($7, error_code),
               error_title = COALESCE($8, error_title),
               error_detail = COALESCE($9, error_detail),
               wamid = COALESCE(wamid, $10)
           WHERE business_id = $1 AND id = $2"#,
        business.0,
        row.id,
        new_status as MessageStatus,
        delivered_at,
        read_at,
        failed.then_some(at),
        error.and_then(|e| i32::try_from(e.code).ok()),
        error.and_then(|e| e.title.as_deref()),
        error.and_then(|e| e.detail()),
        status.id
    )
    .execute(&mut *conn)
    .await?;
    if let Some(campaign) = row.campaign_id
        && matches!(new_status, MessageStatus::Delivered | MessageStatus::Read)
    {
        crate::broadcast::mark_delivered_on(conn, business, campaign, ContactId(row.contact_id)).await?;
    }
    let event = Event::StatusChanged {
        message_id: MessageId(row.id),
        status: new_status,
        wamid: Some(status.id.clone()),
        reported: Some(status.status.clone()),
        at: Some(at),
        campaign_id: row.campaign_id,
        error_code: error.map(|e| e.code),
        error_title: error.and_then(|e| e.title.clone()),
        error_detail: error.and_then(|e| e.detail()).map(str::to_string),
        client_ref: None,
    };
    events::emit(conn, business, Some(ContactId(row.contact_id)), event, Cause::meta()).await?;
    Ok(StatusApplied { change: StatusChange::Applied, pricing_recorded })
}
