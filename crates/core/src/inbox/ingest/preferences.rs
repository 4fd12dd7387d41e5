//! Marketing preferences (WhatsApp's stop and resume promotions), applied through the contacts' one
//! marketing-choice path.

use super::*;

/// A user stopped (`Some(true)`) or resumed (`Some(false)`) marketing messages from the number; other
/// categories are not ours (`None`). The contact is created if needed, so the choice is not lost.
pub(super) async fn apply_preference(
    conn: &mut PgConnection,
    route: Route,
    contacts: &[Lenient<Contact>],
    preference: &UserPreference,
    at: DateTime<Utc>,
) -> Result<Option<bool>> {
    if preference.category != "marketing_messages" {
        return Ok(None);
    }
    let stop = match preference.value.to_ascii_lowercase().as_str() {
        "stop" => true,
        "resume" => false,
        _ => return Ok(None),
    };
    let sender = sender_of(contacts, preference.wa_id.as_deref(), preference.user_id.as_deref());
    let who = Identity::new(
        preference.wa_id.as_deref().or(sender.and_then(|c| c.wa_id.as_deref())),
        preference.user_id.as_deref().or(sender.and_then(|c| c.user_id.as_deref())),
        sender.and_then(|c| c.parent_user_id.as_deref()),
        sender.and_then(|c| c.profile.as_ref()).and_then(|p| p.username.as_deref()),
    )?;
    let contact = upsert_contacts(conn, &[(route.business, &who)]).await?[0];
    let choice = contacts::MarketingChoice {
        stop,
        source: "user_preferences",
        detail: preference.detail.clone(),
        at,
        cause: Cause::customer(),
    };
    contacts::apply_marketing_choice_on(conn, route.business, contact, &choice).await?;
    Ok(Some(stop))
}
