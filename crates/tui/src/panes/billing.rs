//! 8 Billing: the plan and subscription, this month's conversations against the plan as a gauge, days
//! to renewal, Meta's cost this month by pricing category, and the last twelve months.

use chrono::{DateTime, NaiveDate, Utc};
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, Block, Borders, Paragraph, Wrap};

use crate::intent::{Queue, Update};
use crate::panes::analytics::usage_gauge;
use crate::panes::reload::Reload;
use crate::panes::{Env, KeyHint, Pane, hint};

/// What the Billing pane asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillingRequest {
    Overview,
}

impl BillingRequest {
    pub fn what(&self) -> &'static str {
        "billing"
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum BillingUpdate {
    Overview(Box<BillingView>),
}

/// The Billing pane's content.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BillingView {
    /// None: the business has no active subscription.
    pub plan: Option<String>,
    pub conversation_limit: Option<i32>,
    pub status: Option<String>,
    pub renews_at: Option<DateTime<Utc>>,
    pub conversations: i64,
    pub forecast_conversations: i64,
    /// Money as core formats it (decimal, the configured currency's units).
    pub cost: String,
    pub forecast_cost: String,
    pub total_spend: String,
    /// This month's priced messages per Meta category: (category, billable, free).
    pub categories: Vec<(String, i64, i64)>,
    /// The last twelve months, oldest first: (first day, conversations, cost).
    pub months: Vec<(NaiveDate, i64, String)>,
}

#[derive(Debug, Default)]
pub struct Billing {
    view: Option<BillingView>,
    problem: Option<String>,
    reload: Reload,
}

impl Billing {
    fn ask(&mut self, queue: &mut Queue) {
        if self.reload.ask() {
            queue.load(BillingRequest::Overview);
        }
    }

    fn draw_costs(&self, frame: &mut Frame, area: Rect, v: &BillingView, env: &Env) {
        let theme = env.theme;
        let block = Block::default().borders(Borders::ALL).border_style(theme.dim()).title(" Cost ");
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let mut lines = vec![
            Line::from(vec![Span::raw("This month  "), Span::styled(v.cost.clone(), theme.bold())]),
            Line::from(format!("Forecast    {}", v.forecast_cost)),
            Line::from(format!("Total spend {}", v.total_spend)),
            Line::raw(""),
            Line::styled("Priced messages, these months", theme.dim()),
        ];
        if v.categories.is_empty() {
            lines.push(Line::styled("none yet", theme.dim()));
        }
        for (category, billable, free) in &v.categories {
            lines.push(Line::from(vec![
                Span::raw(format!("{:<14}", category.to_lowercase())),
                Span::styled(format!("{billable:>6}"), theme.bold()),
                Span::styled(format!(" paid · {free} free"), theme.dim()),
            ]));
        }
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
    }

    fn draw_months(&self, frame: &mut Frame, area: Rect, v: &BillingView, env: &Env) {
        let theme = env.theme;
        let block =
            Block::default().borders(Borders::ALL).border_style(theme.dim()).title(" Months · conversations · cost ");
        // The most recent months that fit, one row each.
        let fit = block.inner(area).height as usize;
        let bars: Vec<Bar> = v
            .months
            .iter()
            .skip(v.months.len().saturating_sub(fit))
            .map(|(month, conversations, cost)| {
                Bar::with_label(month.format("%b %y").to_string(), (*conversations).max(0) as u64)
                    .text_value(format!("{conversations} · {cost}"))
            })
            .collect();
        frame.render_widget(
            BarChart::horizontal(bars).block(block).bar_gap(0).bar_style(theme.accent()).value_style(theme.bold()),
            area,
        );
    }
}

impl Pane for Billing {
    fn keys(&self) -> Vec<KeyHint> {
        vec![hint("R", "reload")]
    }

    fn handle_key(&mut self, key: KeyEvent, _env: &Env, queue: &mut Queue) -> bool {
        if key.code != KeyCode::Char('R') {
            return false;
        }
        self.ask(queue);
        true
    }

    fn apply(&mut self, update: &Update, _env: &Env, queue: &mut Queue) {
        let again = match update {
            Update::Billing(BillingUpdate::Overview(view)) => {
                self.view = Some((**view).clone());
                self.problem = None;
                self.reload.done()
            }
            Update::Failed { what: "billing", message } => {
                self.problem = Some(message.clone());
                self.reload.done()
            }
            // A send may open a conversation window (counted by the plan) or be priced.
            Update::Live(event)
                if self.reload.started() && matches!(event.kind.as_str(), "message_sent" | "status_changed") =>
            {
                self.ask(queue);
                false
            }
            _ => false,
        };
        if again {
            queue.load(BillingRequest::Overview);
        }
    }

    fn loaded(&self) -> bool {
        self.reload.started()
    }

    fn load(&mut self, queue: &mut Queue) {
        self.ask(queue);
    }

    fn draw(&self, frame: &mut Frame, area: Rect, env: &Env) {
        let theme = env.theme;
        let plan_height = if self.problem.is_some() { 5 } else { 4 };
        let [plan_area, rest] = Layout::vertical([Constraint::Length(plan_height), Constraint::Min(0)]).areas(area);
        let block = Block::default().borders(Borders::ALL).border_style(theme.dim()).title(" Billing ");
        let inner = block.inner(plan_area);
        frame.render_widget(block, plan_area);
        let Some(v) = &self.view else {
            let note = match &self.problem {
                Some(problem) => Line::styled(problem.clone(), theme.warn()),
                None => Line::styled("loading…", theme.dim()),
            };
            frame.render_widget(Paragraph::new(note).wrap(Wrap { trim: true }), inner);
            return;
        };
        let [line, gauge, note] =
            Layout::vertical([Constraint::Length(1), Constraint::Length(1), Constraint::Min(0)]).areas(inner);
        let mut spans = match (&v.plan, &v.status) {
            (Some(plan), Some(status)) => vec![
                Span::raw("Plan "),
                Span::styled(plan.clone(), theme.bold()),
                Span::raw(" · "),
                Span::styled(status.clone(), if status == "active" { theme.good() } else { theme.warn() }),
            ],
            _ => vec![Span::styled("No active subscription: sends are blocked until one starts.", theme.bad())],
        };
        if let Some(at) = v.renews_at {
            let days = (at - env.now).num_days();
            let when = at.with_timezone(&env.offset).format("%d %b %Y");
            let text =
                if days >= 0 { format!(" · renews in {days} days ({when})") } else { format!(" · due since {when}") };
            spans.push(Span::styled(text, if days < 3 { theme.warn() } else { theme.dim() }));
        }
        frame.render_widget(Paragraph::new(Line::from(spans)), line);
        frame.render_widget(usage_gauge(v.conversations, v.conversation_limit, v.forecast_conversations, theme), gauge);
        if let Some(problem) = &self.problem {
            frame.render_widget(Paragraph::new(Line::styled(problem.clone(), theme.warn())), note);
        }
        let [costs, months] = Layout::horizontal([Constraint::Length(40), Constraint::Min(0)]).areas(rest);
        self.draw_costs(frame, costs, v, env);
        self.draw_months(frame, months, v, env);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{billing, env, live, loads};
    use crate::intent::Request;

    #[test]
    fn sends_reload_the_overview_one_at_a_time() {
        let mut pane = Billing::default();
        let mut queue = Queue::default();
        pane.activate(&mut queue);
        assert_eq!(loads(&queue.drain()), vec![Request::Billing(BillingRequest::Overview)]);
        pane.apply(&live("message_sent", 1), &env(), &mut queue);
        assert!(loads(&queue.drain()).is_empty(), "one in flight");
        pane.apply(&Update::Billing(BillingUpdate::Overview(Box::new(billing()))), &env(), &mut queue);
        assert_eq!(loads(&queue.drain()), vec![Request::Billing(BillingRequest::Overview)]);
        pane.apply(&live("contact_created", 1), &env(), &mut queue);
        pane.apply(&Update::Billing(BillingUpdate::Overview(Box::new(billing()))), &env(), &mut queue);
        assert!(loads(&queue.drain()).is_empty());
    }
}
