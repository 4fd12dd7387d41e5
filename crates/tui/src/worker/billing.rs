//! The Billing pane's request: the subscription (`core::billing`) and usage and cost over the last
//! twelve months (`core::analytics::usage`, from the read pool).

use chrono::{Datelike, Months, Utc};
use wacrm_core::analytics::{Granularity, Range, RangeRequest, usage};
use wacrm_core::{Error, billing, business};

use super::Worker;
use crate::intent::{BillingRequest, BillingUpdate, Update};
use crate::panes::billing::BillingView;

impl Worker {
    pub(super) async fn billing(&self, request: BillingRequest) -> Result<Update, Error> {
        let BillingRequest::Overview = request;
        let (read, scope) = (&self.read, &self.scope);
        let subscription = billing::subscription(&self.pool, scope).await?;
        let timezone = business::timezone(read, scope).await?;
        let now = Utc::now();
        let today = timezone.today(now);
        let from = today.with_day(1).and_then(|first| first.checked_sub_months(Months::new(11)));
        let range = Range::resolve(RangeRequest { from, to: Some(today), by: Granularity::Month }, timezone, now)?;
        let report = usage::report(read, scope, &range).await?;
        let month = &report.headline.this_month;
        Ok(Update::Billing(BillingUpdate::Overview(Box::new(BillingView {
            plan: subscription.as_ref().map(|s| s.plan.clone()),
            conversation_limit: subscription.as_ref().map(|s| s.conversation_limit),
            status: subscription.as_ref().map(|s| s.status.to_string()),
            renews_at: subscription.as_ref().and_then(|s| s.renews_at),
            conversations: month.conversations,
            forecast_conversations: month.forecast_conversations,
            cost: month.cost.to_string(),
            forecast_cost: month.forecast_cost.to_string(),
            total_spend: report.headline.total_spend.to_string(),
            categories: report.categories.iter().map(|c| (c.category.clone(), c.billable, c.free)).collect(),
            months: report.periods.iter().map(|p| (p.period, p.conversations, p.cost.to_string())).collect(),
        }))))
    }
}
