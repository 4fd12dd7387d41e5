//! `broadcast plan`: what a campaign would do, before anything goes out (like `terraform plan`): who it
//! reaches and why the others are left out, what Meta would charge by market, how much of the plan's
//! conversations it uses, and whether it fits the messaging limit (unique customers outside a
//! customer-service window per moving 24 hours).

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgConnection;

use super::prices::PriceTable;
use super::{AudienceCount, CampaignId, audience, get, stored_audience};
use crate::auth::{Area, Scope};
use crate::billing::{self, Headroom};
use crate::business::{self, MessagingTier};
use crate::error::Result;
use crate::inbox::send::TemplateCategory;
use crate::types::{BusinessId, ContactId};

/// A campaign's plan.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub campaign: CampaignId,
    /// The template's category, which prices each message.
    pub category: TemplateCategory,
    pub audience: AudienceCount,
    pub cost: Cost,
    /// `None` when the business has no subscription (nothing can be sent then).
    pub billing: Option<Headroom>,
    pub messaging_limit: TierHeadroom,
}

/// What Meta would charge for the campaign's messages if every one is delivered (Meta charges
/// delivered template messages; a utility template inside an open customer-service window is free).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cost {
    pub currency: &'static str,
    pub total: Decimal,
    /// Recipients whose message is free: a utility template inside their customer-service window.
    pub free: i64,
    /// By market, most expensive first.
    pub markets: Vec<MarketCost>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MarketCost {
    pub market: String,
    /// The calling code the rate is for; `None` for the default rate.
    pub calling_code: Option<String>,
    pub recipients: i64,
    /// Of those, the ones charged.
    pub charged: i64,
    /// USD per charged message.
    pub rate: Decimal,
    pub cost: Decimal,
}

/// The campaign against the messaging limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TierHeadroom {
    /// As recorded on the business's numbers (`accounts edit --messaging-tier`); `None`: not recorded.
    pub tier: Option<MessagingTier>,
    /// Unique customers per moving 24 hours; `None` for unlimited or not recorded.
    pub limit: Option<i64>,
    /// Unique customers sent a template outside their customer-service window in the last 24 hours.
    pub used_last_24h: i64,
    /// Recipients outside their window now and not among those: each uses one more.
    pub needed: i64,
    /// What the limit leaves now; `None` for unlimited or not recorded.
    pub left: Option<i64>,
}

impl TierHeadroom {
    /// Whether the campaign fits what the limit leaves; `None` when the tier is not recorded.
    pub fn fits(&self) -> Option<bool> {
        match (self.tier, self.left) {
            (None, _) => None,
            (Some(_), None) => Some(true),
            (Some(_), Some(left)) => Some(self.needed <= left),
        }
    }
}

/// The plan of a draft or scheduled campaign, changing nothing.
pub async fn plan(pool: &sqlx::PgPool, scope: &Scope, id: CampaignId, prices: &PriceTable) -> Result<Plan> {
    scope.require(Area::Broadcast)?;
    let campaign = get(pool, scope, id).await?;
    let category: TemplateCategory = campaign.category.parse()?;
    let (count, reachable) = audience::reachable(pool, scope, &stored_audience(&campaign)?, category).await?;
    let business = scope.business();
    let at = Utc::now();
    let mut conn = pool.acquire().await?;
    let recipients = recipients_on(&mut conn, business, &reachable, at).await?;
    let billing = billing::headroom_on(&mut conn, business, &reachable, at).await?;
    let tier = business::messaging_tier_on(&mut conn, business).await?;
    let reached = outside_window_last_24h(&mut conn, business, at).await?;
    Ok(Plan {
        campaign: id,
        category,
        audience: count,
        cost: cost(&recipients, category, prices),
        billing,
        messaging_limit: tier_headroom(tier, &recipients, &reached),
    })
}

/// A reachable recipient as the plan prices and counts it.
pub(super) struct Recipient {
    pub contact: ContactId,
    pub phone: String,
    /// Their customer-service window is open (they wrote in the last 24 hours).
    pub in_window: bool,
}

async fn recipients_on(
    conn: &mut PgConnection,
    business: BusinessId,
    contacts: &[ContactId],
    at: DateTime<Utc>,
) -> Result<Vec<Recipient>> {
    let rows = sqlx::query!(
        r#"SELECT id, coalesce(phone, '') AS "phone!",
                  coalesce(last_inbound_at > $3::timestamptz - INTERVAL '24 hours', false) AS "in_window!"
           FROM contacts WHERE business_id = $1 AND id = ANY($2)"#,
        business.0,
        &contacts.iter().map(|c| c.0).collect::<Vec<_>>(),
        at
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Recipient { contact: ContactId(r.id), phone: r.phone, in_window: r.in_window })
        .collect())
}

/// The contacts sent a template outside their customer-service window (no message from them in the 24
/// hours before it) during the 24 hours before `at`: what Meta counts against the messaging limit.
async fn outside_window_last_24h(
    conn: &mut PgConnection,
    business: BusinessId,
    at: DateTime<Utc>,
) -> Result<HashSet<ContactId>> {
    let contacts = sqlx::query_scalar!(
        r#"SELECT DISTINCT m.contact_id AS "contact_id!" FROM messages m
           WHERE m.business_id = $1 AND m.direction = 'out' AND m.kind = 'template' AND m.status <> 'failed'
             AND m.contact_id IS NOT NULL
             AND m.sent_at > $2::timestamptz - INTERVAL '24 hours' AND m.sent_at <= $2
             AND NOT EXISTS (
                 SELECT 1 FROM messages i
                 WHERE i.business_id = m.business_id AND i.contact_id = m.contact_id AND i.direction = 'in'
                   AND i.sent_at <= m.sent_at AND i.sent_at > m.sent_at - INTERVAL '24 hours'
             )"#,
        business.0,
        at
    )
    .fetch_all(conn)
    .await?;
    Ok(contacts.into_iter().map(ContactId).collect())
}

pub(super) fn cost(recipients: &[Recipient], category: TemplateCategory, prices: &PriceTable) -> Cost {
    let mut markets: BTreeMap<Option<&str>, MarketCost> = BTreeMap::new();
    let mut free = 0;
    for recipient in recipients {
        let (code, price) = prices.market(&recipient.phone);
        let market = markets.entry(code).or_insert_with(|| MarketCost {
            market: price.market.clone(),
            calling_code: code.map(str::to_string),
            recipients: 0,
            charged: 0,
            rate: price.rate(category),
            cost: Decimal::ZERO,
        });
        market.recipients += 1;
        if category == TemplateCategory::Utility && recipient.in_window {
            free += 1;
        } else {
            market.charged += 1;
            market.cost += market.rate;
        }
    }
    let mut markets: Vec<MarketCost> = markets.into_values().collect();
    markets.sort_by(|a, b| b.cost.cmp(&a.cost).then_with(|| a.market.cmp(&b.market)));
    Cost { currency: "USD", total: markets.iter().map(|m| m.cost).sum(), free, markets }
}

pub(super) fn tier_headroom(
    tier: Option<MessagingTier>,
    recipients: &[Recipient],
    reached: &HashSet<ContactId>,
) -> TierHeadroom {
    let limit = tier.and_then(MessagingTier::limit);
    let used = reached.len() as i64;
    TierHeadroom {
        tier,
        limit,
        used_last_24h: used,
        needed: recipients.iter().filter(|r| !r.in_window && !reached.contains(&r.contact)).count() as i64,
        left: limit.map(|limit| (limit - used).max(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipient(id: i32, phone: &str, in_window: bool) -> Recipient {
        Recipient { contact: ContactId(id), phone: phone.into(), in_window }
    }

    #[test]
    fn utility_inside_the_window_is_free_and_markets_are_priced_apart() {
        let prices = PriceTable::with(&BTreeMap::new()).unwrap();
        let recipients = [
            recipient(1, "+447946000001", false),
            recipient(2, "+447946000002", true),
            recipient(3, "+5511987654321", false),
        ];
        let utility = cost(&recipients, TemplateCategory::Utility, &prices);
        // UK utility 0.0220 once (the second is in its window), Brazil utility 0.0068 once.
        assert_eq!(utility.total, Decimal::new(288, 4));
        assert_eq!(utility.free, 1);
        assert_eq!(utility.markets[0].market, "United Kingdom");
        assert_eq!((utility.markets[0].recipients, utility.markets[0].charged), (2, 1));
        let marketing = cost(&recipients, TemplateCategory::Marketing, &prices);
        // 2 × 0.0529 + 0.0625: marketing is charged inside the window too.
        assert_eq!(marketing.total, Decimal::new(1683, 4));
        assert_eq!(marketing.free, 0);
    }

    #[test]
    fn the_limit_counts_new_customers_outside_their_window() {
        let recipients = [recipient(1, "+44", false), recipient(2, "+44", true), recipient(3, "+44", false)];
        let reached: HashSet<ContactId> = [ContactId(3), ContactId(9)].into();
        let headroom = tier_headroom(Some(MessagingTier::Tier250), &recipients, &reached);
        assert_eq!((headroom.used_last_24h, headroom.needed, headroom.left), (2, 1, Some(248)));
        assert_eq!(headroom.fits(), Some(true));
        assert_eq!(tier_headroom(None, &recipients, &reached).fits(), None);
        assert_eq!(tier_headroom(Some(MessagingTier::Unlimited), &recipients, &reached).fits(), Some(true));
    }
}
