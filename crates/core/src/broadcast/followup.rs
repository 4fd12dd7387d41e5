//! Audiences named one by one: a list of phones, and a follow-up campaign for some recipients of an
//! earlier one (`retarget`).

use sqlx::PgPool;

use super::{Audience, Campaign, CampaignId, NewCampaign, get, insert_on, lock};
use crate::auth::{Area, Scope};
use crate::contacts;
use crate::error::{Error, Result, op};
use crate::types::ContactId;

/// The contacts with these phones, matched as the contacts module matches a number (every spelling of
/// it); a phone that is no contact of the business is an error naming it.
pub async fn contacts_by_phone(pool: &PgPool, scope: &Scope, phones: &[String]) -> Result<Vec<ContactId>> {
    scope.require(Area::Broadcast)?;
    let mut found = Vec::with_capacity(phones.len());
    let mut unknown = Vec::new();
    for phone in phones.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let reference = if phone.starts_with('+') { phone.to_string() } else { format!("+{phone}") };
        match contacts::resolve(pool, scope, &reference).await {
            Ok(id) => found.push(id),
            Err(Error::NotFound { .. }) => unknown.push(phone.to_string()),
            Err(e) => return Err(e),
        }
    }
    if !unknown.is_empty() {
        let shown: Vec<&str> = unknown.iter().take(5).map(String::as_str).collect();
        return Err(Error::invalid(
            format!("{} phone(s) of the list are not contacts: {}", unknown.len(), shown.join(", ")),
            format!("import them as contacts first ({}), or remove them from the list", op("contacts import")),
        ));
    }
    found.sort();
    found.dedup();
    Ok(found)
}

/// Which recipients of a campaign a follow-up targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retarget {
    /// Meta refused their message.
    Failed,
    /// Sent, but not read (yet).
    Unread,
    /// Sent, and no reply within the campaign's window.
    NotReplied,
}

/// Creates a draft follow-up campaign for some recipients of `from` (which must have sent something).
pub async fn retarget(
    pool: &PgPool,
    scope: &Scope,
    from: CampaignId,
    who: Retarget,
    new: &NewCampaign,
) -> Result<Campaign> {
    scope.require(Area::Broadcast)?;
    let mut tx = pool.begin().await?;
    lock(&mut tx, scope.business(), from).await?;
    let ids = sqlx::query_scalar!(
        r#"SELECT r.contact_id AS "id: ContactId" FROM campaign_recipients r
           LEFT JOIN messages m ON m.business_id = r.business_id AND m.id = r.message_id
           WHERE r.business_id = $1 AND r.campaign_id = $2
             AND CASE $3 WHEN 'failed' THEN r.state = 'failed'
                         WHEN 'unread' THEN r.state = 'sent' AND coalesce(m.status::text, '') <> 'read'
                         ELSE r.state = 'sent' AND r.replied_at IS NULL END
           ORDER BY r.contact_id"#,
        scope.business().0,
        from.0,
        match who {
            Retarget::Failed => "failed",
            Retarget::Unread => "unread",
            Retarget::NotReplied => "not_replied",
        }
    )
    .fetch_all(&mut *tx)
    .await?;
    if ids.is_empty() {
        return Err(Error::invalid(
            format!("campaign {from} has no recipient to retarget that way"),
            format!("look at its funnel first ({})", op("broadcast show")),
        ));
    }
    let new = NewCampaign { audience: Audience { contacts: ids, ..new.audience.clone() }, ..new.clone() };
    let id = insert_on(&mut tx, scope, &new, Some(from)).await?;
    tx.commit().await?;
    get(pool, scope, id).await
}
