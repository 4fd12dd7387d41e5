//! Which business a change belongs to: the active number that received it, or the WABA of a template
//! webhook.

use super::*;

/// Where a change goes: the business and the number that received it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Route {
    pub(super) business: BusinessId,
    pub(super) account: AccountId,
}

/// Routes every change of one event, noting in its summary what is not ours. `Err` only for an outage.
pub(super) async fn route_changes(
    conn: &mut PgConnection,
    routes: &mut HashMap<String, Option<Route>>,
    envelope: &webhook::Envelope,
    index: usize,
    progress: &mut Progress,
    changes: &mut Vec<(usize, Route, Routed)>,
) -> Result<()> {
    let summary = &mut progress.summary;
    let mut template_failures = Vec::new();
    let mut orphans = BTreeSet::new();
    let mut ignored = BTreeSet::new();
    for entry in &envelope.entry {
        for change in &entry.changes {
            let value = match change.value() {
                Ok(value) => value,
                Err(reason) => {
                    summary.invalid.push(reason);
                    continue;
                }
            };
            match value {
                ChangeValue::Messages(value) => {
                    let Some(route) = route_number(conn, routes, &value.metadata.phone_number_id).await? else {
                        orphans.insert(value.metadata.phone_number_id.clone());
                        continue;
                    };
                    progress.routed = true;
                    summary.add_business(route.business);
                    for error in value.errors.iter() {
                        match error {
                            Lenient::Parsed { item, .. } => {
                                tracing::warn!(business = %route.business, code = item.code, detail = item.detail(),
                                    "Meta reported an error");
                                summary.meta_errors.push(format!("{}: {}", item.code, item.detail().unwrap_or("")));
                            }
                            Lenient::Invalid { raw, .. } => summary.meta_errors.push(raw.to_string()),
                        }
                    }
                    changes.push((index, route, Routed::Messages(value)));
                }
                ChangeValue::UserPreferences(value) => {
                    let Some(route) = route_number(conn, routes, &value.metadata.phone_number_id).await? else {
                        orphans.insert(value.metadata.phone_number_id.clone());
                        continue;
                    };
                    progress.routed = true;
                    summary.add_business(route.business);
                    changes.push((index, route, Routed::Preferences(value)));
                }
                ChangeValue::Template(update) => {
                    let Some(business) = route_waba(conn, &entry.id).await? else {
                        orphans.insert(format!("waba:{}", entry.id));
                        continue;
                    };
                    progress.routed = true;
                    summary.add_business(business);
                    summary.template_updates += 1;
                    match crate::templates::apply_update_on(conn, business, entry.time, &update).await {
                        Ok(_) => progress.handled += 1,
                        Err(e) => template_failures.push((update.label(), e)),
                    }
                }
                ChangeValue::Other(field) => {
                    ignored.insert(field);
                }
            }
        }
    }
    summary.orphans = orphans.into_iter().collect();
    summary.ignored_fields = ignored.into_iter().collect();
    for (what, error) in template_failures {
        item_failed(progress, what, error);
    }
    Ok(())
}

/// The active account that owns `phone_number_id`, looked up once per batch in the batch's transaction:
/// a number deactivated before the batch began gets nothing, and no cache outlives the batch.
pub(super) async fn route_number(
    conn: &mut PgConnection,
    cache: &mut HashMap<String, Option<Route>>,
    phone_number_id: &str,
) -> Result<Option<Route>> {
    if let Some(known) = cache.get(phone_number_id) {
        return Ok(*known);
    }
    let route = sqlx::query!(
        "SELECT id, business_id FROM whatsapp_accounts WHERE phone_number_id = $1 AND status = 'active'",
        phone_number_id
    )
    .fetch_optional(conn)
    .await?
    .map(|r| Route { business: BusinessId(r.business_id), account: AccountId(r.id) });
    cache.insert(phone_number_id.to_string(), route);
    Ok(route)
}

/// The business of an active account of the WhatsApp Business Account `waba_id`.
pub(super) async fn route_waba(conn: &mut PgConnection, waba_id: &str) -> Result<Option<BusinessId>> {
    Ok(sqlx::query_scalar!(
        "SELECT business_id FROM whatsapp_accounts WHERE waba_id = $1 AND status = 'active' ORDER BY id LIMIT 1",
        waba_id
    )
    .fetch_optional(conn)
    .await?
    .map(BusinessId))
}
