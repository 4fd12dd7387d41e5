//! The Analytics pane's request: core's one-screen summary for the chosen range, from the read pool.

use chrono::{Days, Utc};
use wacrm_core::analytics::summary::summary;
use wacrm_core::analytics::{Range, RangeRequest, messages};
use wacrm_core::{Error, business};

use super::Worker;
use crate::intent::{AnalyticsRequest, AnalyticsUpdate, Update};
use crate::panes::analytics::AnalyticsView;

impl Worker {
    pub(super) async fn analytics(&self, request: AnalyticsRequest) -> Result<Update, Error> {
        let AnalyticsRequest::Load { span, by } = request;
        let (read, scope) = (&self.read, &self.scope);
        scope.require(wacrm_core::auth::Area::Analytics)?;
        let timezone = business::timezone(read, scope).await?;
        let now = Utc::now();
        let today = timezone.today(now);
        let from = span.days_back().and_then(|d| today.checked_sub_days(Days::new(d)));
        let range = Range::resolve(RangeRequest { from, to: Some(today), by }, timezone, now)?;
        // The sparkline's series is not a summary figure: the volume per period, alongside.
        let (s, volume) = tokio::try_join!(summary(read, scope, &range), messages::volume(read, scope, &range))?;
        let month = &s.usage.this_month;
        Ok(Update::Analytics(AnalyticsUpdate::Loaded(Box::new(AnalyticsView {
            span,
            by,
            from: range.from,
            to: range.to,
            timezone: range.timezone.name().to_string(),
            new_leads: s.leads.new,
            active_leads: s.leads.active_7_days,
            total_leads: s.leads.total,
            win_rate: s.pipeline.win_rate,
            funnel: s
                .pipeline
                .funnel
                .iter()
                .map(|f| (f.stage.to_string(), f.reached.max(0) as u64, f.from_previous))
                .collect(),
            stages: s.pipeline.per_stage.iter().map(|p| (p.stage.to_string(), p.contacts.max(0) as u64)).collect(),
            messages: volume.iter().map(|p| (p.received + p.sent).max(0) as u64).collect(),
            received: s.messages.received,
            sent: s.messages.sent,
            average_reply_seconds: s.messages.response.average_seconds,
            unanswered_now: s.messages.unanswered_now,
            plan: month.plan.clone(),
            conversations: month.conversations,
            conversation_limit: month.conversation_limit,
            forecast_conversations: month.forecast_conversations,
        }))))
    }
}
