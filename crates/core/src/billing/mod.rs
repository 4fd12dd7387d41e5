//! Billing: plans, subscriptions and conversation-window usage (seed Billing FLOWS 1-3).
//!
//! The plan's unit is the seed's: a 24-hour conversation window per contact, logged in `usage_logs`
//! when the contact has none open. The send gate (limit per month, active subscription) lives here too,
//! so every sender (inbox, automation, broadcast) passes the same check.

mod plans;
mod renewal;
mod status;
mod subscriptions;

pub use plans::{DEFAULT_PLAN, Plan, PlanChanges, create_plan, ensure_default_plans, list_plans, update_plan};
pub use renewal::{
    GRACE_DAYS, PERIOD_DAYS, RenewDueSubscriptions, RenewSubscription, Renewal, queue_due_renewals,
    queue_due_renewals_at, renew, renew_at,
};
pub use status::{ALERT_PERCENTS, Check, Level, Status, check, status, status_at};
pub use subscriptions::{Change, Subscription, cancel, change_plan, mark_paid, renew_now, subscribe, subscription};
pub(crate) use subscriptions::{subscribe_default, trial_waba_on};

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgConnection;

use crate::error::{Error, Result};
use crate::types::{BusinessId, ContactId};

/// Opens a conversation window for `contact` at `at` and logs its price, unless one opened less than
/// 24 hours before or after `at`. Returns the new window's conversation id. The "after" side is for
/// webhooks that arrive out of order: an older message processed after a newer one that already opened
/// a window belongs to that conversation (Meta bills it once), it does not open a second one. The
/// caller holds the contact's row lock (ingest and send both update the contact in the same
/// transaction), so two messages of one contact cannot both open a window.
pub async fn open_window_if_closed(
    conn: &mut PgConnection,
    business: BusinessId,
    contact: ContactId,
    at: DateTime<Utc>,
    price: Decimal,
) -> Result<Option<String>> {
    Ok(open_windows(conn, &[(business, contact, at)], price).await?.pop().map(|(_, conversation)| conversation))
}

/// [`open_window_if_closed`] for many messages at once (a batch of inbound messages), the same rule
/// applied to each in time order. Returns the conversation ids of the windows opened.
pub async fn open_windows_if_closed(
    conn: &mut PgConnection,
    messages: &[(BusinessId, ContactId, DateTime<Utc>)],
    price: Decimal,
) -> Result<Vec<String>> {
    // One statement cannot see the windows it opens itself, so each statement takes at most one message
    // per contact: the first round each contact's earliest, the next round their second, and so on
    // (almost always a single round).
    let mut by_contact: HashMap<(BusinessId, ContactId), Vec<DateTime<Utc>>> = HashMap::new();
    for &(business, contact, at) in messages {
        by_contact.entry((business, contact)).or_default().push(at);
    }
    by_contact.values_mut().for_each(|times| times.sort());
    let mut opened = Vec::new();
    for round in 0.. {
        let batch: Vec<_> = by_contact
            .iter()
            .filter_map(|(&(business, contact), times)| times.get(round).map(|&at| (business, contact, at)))
            .collect();
        if batch.is_empty() {
            break;
        }
        opened.extend(open_windows(conn, &batch, price).await?.into_iter().map(|(_, conversation)| conversation));
    }
    Ok(opened)
}

/// Opens the windows of messages of distinct contacts; check and insert in one statement, as this runs
/// for every inbound message. Returns each opened window's contact and conversation id.
async fn open_windows(
    conn: &mut PgConnection,
    messages: &[(BusinessId, ContactId, DateTime<Utc>)],
    price: Decimal,
) -> Result<Vec<(ContactId, String)>> {
    let businesses: Vec<i32> = messages.iter().map(|m| m.0.0).collect();
    let contacts: Vec<i32> = messages.iter().map(|m| m.1.0).collect();
    let times: Vec<DateTime<Utc>> = messages.iter().map(|m| m.2).collect();
    let conversations: Vec<String> = messages.iter().map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let opened = sqlx::query!(
        r#"INSERT INTO usage_logs (business_id, conversation_id, cost, contact_id, timestamp)
           SELECT m.business_id, m.conversation_id, $5, m.contact_id, m.at
           FROM unnest($1::int[], $2::int[], $3::timestamptz[], $4::text[]) AS m(business_id, contact_id, at, conversation_id)
           WHERE NOT EXISTS (
               SELECT 1 FROM usage_logs u
               WHERE u.business_id = m.business_id AND u.contact_id = m.contact_id
                 AND u.timestamp > m.at - INTERVAL '24 hours'
                 AND u.timestamp < m.at + INTERVAL '24 hours'
           )
           RETURNING contact_id AS "contact_id!", conversation_id AS "conversation_id!""#,
        &businesses,
        &contacts,
        &times,
        &conversations,
        price
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(opened.into_iter().map(|r| (ContactId(r.contact_id), r.conversation_id)).collect())
}

/// Which of `contacts` have a conversation window that opened in the 24 hours before `at`.
async fn windows_open(
    conn: &mut PgConnection,
    business: BusinessId,
    contacts: &[ContactId],
    at: DateTime<Utc>,
) -> Result<HashSet<ContactId>> {
    let ids: Vec<i32> = contacts.iter().map(|c| c.0).collect();
    let open = sqlx::query_scalar!(
        r#"SELECT DISTINCT contact_id AS "contact_id!" FROM usage_logs
           WHERE business_id = $1 AND contact_id = ANY($2)
             AND timestamp > $3::timestamptz - INTERVAL '24 hours' AND timestamp <= $3::timestamptz"#,
        business.0,
        &ids,
        at
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(open.into_iter().map(ContactId).collect())
}

/// Conversation windows opened in the UTC month of `at` (from its start on, as `billing status` counts
/// them), summed from the usage rollups instead of counted from `usage_logs`: the rollups are written by
/// the statement that opens or gives back a window, in its own transaction, so the sum is as exact as
/// the count, and it reads one row per writing statement (a campaign chunk's hundred windows are one)
/// instead of one per window. Counting the month made every chunk of a campaign slower than the last.
pub(crate) async fn conversations_this_month_on(
    conn: &mut PgConnection,
    business: BusinessId,
    at: DateTime<Utc>,
) -> Result<i64> {
    let (month_start, _) = status::month_around(at);
    Ok(sqlx::query_scalar!(
        r#"SELECT coalesce(sum(conversations), 0)::bigint AS "used!" FROM analytics_usage_counts
           WHERE business_id = $1 AND bucket >= $2"#,
        business.0,
        month_start
    )
    .fetch_one(&mut *conn)
    .await?)
}

/// The send gate (seed Billing FLOW 3) for one outbound message to `contact` at `at`, run in the
/// sender's transaction: the business needs a live subscription that still entitles it to send (not
/// expired, cancelled, or past due beyond the grace period), and a send that would open a new
/// conversation window needs the month's conversation limit not yet reached. Returns the id of the
/// window this send opened, if it opened one; reaching 80, 90 and 100 % of the limit notifies the team,
/// once each per month.
///
/// Atomic under concurrency: a send that would open a window locks the live subscription row (`FOR
/// UPDATE`) before counting, so such senders of one business pass one at a time and the count they see
/// includes every window opened before them; at limit − 1, exactly one new conversation gets through.
/// Sends inside open windows need no count and take no lock.
pub async fn gate_send(
    conn: &mut PgConnection,
    business: BusinessId,
    contact: ContactId,
    at: DateTime<Utc>,
    price: Decimal,
) -> Result<Option<String>> {
    gate_sends(conn, business, &[contact], at, price).await?.pop().unwrap_or(Ok(None))
}

/// [`gate_send`] for a chunk of sends to distinct contacts (a campaign's), with the subscription locked
/// and the month's usage counted once: the contacts are admitted in order, and those past the limit get
/// its refusal each. `Err` when the business may not send at all (no live subscription).
pub async fn gate_sends(
    conn: &mut PgConnection,
    business: BusinessId,
    contacts: &[ContactId],
    at: DateTime<Utc>,
    price: Decimal,
) -> Result<Vec<Result<Option<String>>>> {
    if contacts.is_empty() {
        return Ok(Vec::new());
    }
    if contacts.iter().collect::<HashSet<_>>().len() != contacts.len() {
        return Err(Error::internal("one gate call was given the same contact twice"));
    }
    // Sends inside open windows open no conversation, so the limit is not at stake: they need only a
    // subscription that entitles, read without the lock that would queue every reply of a busy business
    // behind the others' commits.
    if windows_open(conn, business, contacts, at).await?.len() == contacts.len() {
        match subscriptions::latest_on(conn, business).await? {
            Some(subscription) => subscription.entitlement(at)?,
            None => return Err(no_subscription()),
        }
        return Ok(contacts.iter().map(|_| Ok(None)).collect());
    }
    let Some(live) = subscriptions::lock_live_on(conn, business).await? else {
        return Err(match subscriptions::latest_on(conn, business).await? {
            Some(ended) => {
                ended.entitlement(at).err().unwrap_or_else(|| Error::internal("an ended subscription entitles"))
            }
            None => no_subscription(),
        });
    };
    live.subscription.entitlement(at)?;
    // Counted again under the lock: a send that held it before may have opened one of these windows.
    let open = windows_open(conn, business, contacts, at).await?;
    let closed: Vec<ContactId> = contacts.iter().copied().filter(|c| !open.contains(c)).collect();
    let mut opened = HashMap::new();
    let limit = live.conversation_limit;
    let mut used = 0;
    if !closed.is_empty() {
        used = conversations_this_month_on(conn, business, at).await?;
        let room = usize::try_from(i64::from(limit) - used).unwrap_or(0);
        let admitted: Vec<_> = closed.iter().take(room).map(|&c| (business, c, at)).collect();
        opened = open_windows(conn, &admitted, price).await?.into_iter().collect();
        if !opened.is_empty() {
            let now_used = used + opened.len() as i64;
            status::alert_usage_on(conn, business, &live.subscription.plan, now_used, limit, at).await?;
        }
    }
    let room = usize::try_from(i64::from(limit) - used).unwrap_or(0);
    let refused: HashSet<ContactId> = closed.iter().skip(room).copied().collect();
    Ok(contacts
        .iter()
        .map(|c| {
            if refused.contains(c) {
                Err(Error::limit(
                    format!("this month's {limit} conversations are used up, so no new conversation can be opened"),
                    "upgrade to a bigger plan (billing upgrade), or reply to customers whose window is still open",
                ))
            } else {
                Ok(opened.remove(c))
            }
        })
        .collect())
}

fn no_subscription() -> Error {
    Error::limit(
        "the business has no subscription, so messages cannot be sent",
        "subscribe to a plan (billing subscribe)",
    )
}

/// Where sends to some contacts would leave the plan's conversations this month (`broadcast plan`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Headroom {
    pub plan: String,
    pub conversation_limit: i32,
    pub used_this_month: i64,
    /// Conversations the plan has left this month (0 when used up).
    pub left: i64,
    /// The contacts with no conversation window open now: a send to each opens one.
    pub would_open: i64,
}

impl Headroom {
    /// Whether every send that opens a window gets through the gate this month.
    pub fn fits(&self) -> bool {
        self.would_open <= self.left
    }
}

/// [`Headroom`] for sends to `contacts` at `at`, counted as the gate counts, changing nothing; `None`
/// when the business has no subscription.
pub(crate) async fn headroom_on(
    conn: &mut PgConnection,
    business: BusinessId,
    contacts: &[ContactId],
    at: DateTime<Utc>,
) -> Result<Option<Headroom>> {
    let Some(subscription) = subscriptions::latest_on(conn, business).await? else {
        return Ok(None);
    };
    let used = conversations_this_month_on(conn, business, at).await?;
    let open = windows_open(conn, business, contacts, at).await?;
    Ok(Some(Headroom {
        plan: subscription.plan,
        conversation_limit: subscription.conversation_limit,
        used_this_month: used,
        left: (i64::from(subscription.conversation_limit) - used).max(0),
        would_open: contacts.iter().filter(|c| !open.contains(c)).count() as i64,
    }))
}

/// Gives back the windows sends opened when Meta refused those sends (or they were never made): a
/// failed message is not charged (shared/whatsapp-cloud-api.md §9), so it must not use up the plan either.
pub async fn release_windows(conn: &mut PgConnection, business: BusinessId, conversation_ids: &[&str]) -> Result<()> {
    if conversation_ids.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "DELETE FROM usage_logs WHERE business_id = $1 AND conversation_id = ANY($2)",
        business.0,
        conversation_ids as &[&str]
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Records Meta's pricing of a delivered message (from its status webhook), once per wamid: Meta bills
/// per message, whether or not it was sent through wacrm. Returns whether this call recorded it.
pub async fn record_pricing_on(
    conn: &mut PgConnection,
    business: BusinessId,
    wamid: &str,
    pricing: &crate::whatsapp::webhook::Pricing,
) -> Result<bool> {
    let done = sqlx::query!(
        r#"INSERT INTO message_pricing (business_id, wamid, pricing_model, category, pricing_type, billable)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT DO NOTHING"#,
        business.0,
        wamid,
        pricing.pricing_model,
        pricing.category,
        pricing.pricing_type,
        pricing.billable
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}
