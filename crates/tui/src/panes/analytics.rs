//! 7 Analytics: the funnel and leads per stage as bar charts, messages per period as a sparkline and
//! this month's plan usage as a gauge, over this month or the last 7 or 30 days, cut by day, week or
//! month (`core::analytics`, read from the read pool).

use chrono::NaiveDate;
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, Block, Borders, Gauge, Paragraph, Sparkline, Wrap};
use wacrm_core::analytics::Granularity;

use crate::intent::{Queue, Update};
use crate::panes::reload::Reload;
use crate::panes::{Env, KeyHint, Pane, hint};
use crate::text::span_of;
use crate::theme::Theme;

/// The ranges the pane offers, each ending today in the business's timezone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RangeChoice {
    #[default]
    ThisMonth,
    Last7,
    Last30,
}

impl RangeChoice {
    pub fn next(self) -> RangeChoice {
        match self {
            RangeChoice::ThisMonth => RangeChoice::Last7,
            RangeChoice::Last7 => RangeChoice::Last30,
            RangeChoice::Last30 => RangeChoice::ThisMonth,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            RangeChoice::ThisMonth => "this month",
            RangeChoice::Last7 => "last 7 days",
            RangeChoice::Last30 => "last 30 days",
        }
    }

    /// Days before today the range starts; none: the first of the month.
    pub fn days_back(self) -> Option<u64> {
        match self {
            RangeChoice::ThisMonth => None,
            RangeChoice::Last7 => Some(6),
            RangeChoice::Last30 => Some(29),
        }
    }
}

/// What the Analytics pane asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnalyticsRequest {
    Load { span: RangeChoice, by: Granularity },
}

impl AnalyticsRequest {
    pub fn what(&self) -> &'static str {
        "analytics"
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum AnalyticsUpdate {
    Loaded(Box<AnalyticsView>),
}

/// The figures drawn, as core computed them for the request's range.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AnalyticsView {
    pub span: RangeChoice,
    pub by: Granularity,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub timezone: String,
    pub new_leads: i64,
    pub active_leads: i64,
    pub total_leads: i64,
    pub win_rate: Option<f64>,
    /// Ladder stages: contacts that reached each in the range, and the share of the step before.
    pub funnel: Vec<(String, u64, Option<f64>)>,
    /// Contacts in each stage now.
    pub stages: Vec<(String, u64)>,
    /// Messages (both directions) per period of the range.
    pub messages: Vec<u64>,
    pub received: i64,
    pub sent: i64,
    pub average_reply_seconds: Option<f64>,
    pub unanswered_now: i64,
    pub plan: Option<String>,
    pub conversations: i64,
    pub conversation_limit: Option<i32>,
    pub forecast_conversations: i64,
}

#[derive(Debug, Default)]
pub struct Analytics {
    span: RangeChoice,
    by: Granularity,
    view: Option<AnalyticsView>,
    reload: Reload,
    problem: Option<String>,
}

/// Gauge colour for a share of the plan: warn from 80 %, bad from 100 %.
pub fn usage_style(used: f64, theme: Theme) -> ratatui::style::Style {
    if used >= 1.0 {
        theme.bad()
    } else if used >= 0.8 {
        theme.warn()
    } else {
        theme.good()
    }
}

/// A plan-usage gauge: conversations against the limit, with the month-end forecast.
pub fn usage_gauge<'a>(conversations: i64, limit: Option<i32>, forecast: i64, theme: Theme) -> Gauge<'a> {
    let limit = limit.unwrap_or(0).max(0) as i64;
    let used = if limit > 0 { conversations as f64 / limit as f64 } else { 0.0 };
    Gauge::default()
        .ratio(used.clamp(0.0, 1.0))
        .label(format!("{conversations}/{limit} conversations ({:.0}%) · forecast {forecast}", used * 100.0))
        .gauge_style(usage_style(used, theme))
        .use_unicode(true)
}

impl Analytics {
    pub fn range(&self) -> (RangeChoice, Granularity) {
        (self.span, self.by)
    }

    fn ask(&mut self, queue: &mut Queue) {
        if self.reload.ask() {
            queue.load(AnalyticsRequest::Load { span: self.span, by: self.by });
        }
    }

    fn draw_charts(&self, frame: &mut Frame, area: Rect, v: &AnalyticsView, theme: Theme) {
        let [funnel_area, stages_area] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
        let funnel: Vec<Bar> = v
            .funnel
            .iter()
            .map(|(stage, reached, share)| {
                let text = match share {
                    Some(share) => format!("{reached} · {:.0}%", share * 100.0),
                    None => reached.to_string(),
                };
                Bar::with_label(stage.clone(), *reached).text_value(text)
            })
            .collect();
        let block = |title: String| Block::default().borders(Borders::ALL).border_style(theme.dim()).title(title);
        frame.render_widget(
            BarChart::horizontal(funnel)
                .block(block(" Funnel (reached in range) ".into()))
                .bar_gap(0)
                .bar_style(theme.accent())
                .value_style(theme.bold()),
            funnel_area,
        );
        let win = v.win_rate.map_or("–".into(), |w| format!("{:.0}%", w * 100.0));
        let stages: Vec<Bar> = v.stages.iter().map(|(stage, n)| Bar::with_label(stage.clone(), *n)).collect();
        frame.render_widget(
            BarChart::horizontal(stages)
                .block(block(format!(" Leads per stage · win {win} ")))
                .bar_gap(0)
                .bar_style(theme.good())
                .value_style(theme.bold()),
            stages_area,
        );
    }
}

impl Pane for Analytics {
    fn keys(&self) -> Vec<KeyHint> {
        vec![
            hint("r", "range: this month → last 7 days → last 30 days"),
            hint("d / w / m", "per day / week / month"),
            hint("R", "reload"),
        ]
    }

    fn handle_key(&mut self, key: KeyEvent, _env: &Env, queue: &mut Queue) -> bool {
        match key.code {
            KeyCode::Char('r') => self.span = self.span.next(),
            KeyCode::Char('d') => self.by = Granularity::Day,
            KeyCode::Char('w') => self.by = Granularity::Week,
            KeyCode::Char('m') => self.by = Granularity::Month,
            KeyCode::Char('R') => {}
            _ => return false,
        }
        self.ask(queue);
        true
    }

    fn apply(&mut self, update: &Update, _env: &Env, queue: &mut Queue) {
        let again = match update {
            Update::Analytics(AnalyticsUpdate::Loaded(view)) => {
                // A late answer for another range only stands until the current one arrives.
                if view.span == self.span && view.by == self.by {
                    self.problem = None;
                }
                self.view = Some((**view).clone());
                let stale = view.span != self.span || view.by != self.by;
                self.reload.done() || (stale && self.reload.ask())
            }
            Update::Failed { what: "analytics", message } => {
                self.problem = Some(message.clone());
                self.reload.done()
            }
            Update::Live(event)
                if self.reload.started()
                    && matches!(
                        event.kind.as_str(),
                        "message_received" | "message_sent" | "contact_created" | "stage_changed"
                    ) =>
            {
                self.ask(queue);
                false
            }
            _ => false,
        };
        if again {
            queue.load(AnalyticsRequest::Load { span: self.span, by: self.by });
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
        let [head, charts, spark, gauge] =
            Layout::vertical([Constraint::Length(2), Constraint::Length(7), Constraint::Min(3), Constraint::Length(3)])
                .areas(area);
        let keys = Span::styled("  r range · d/w/m per day/week/month", theme.dim());
        let Some(v) = &self.view else {
            let note = match &self.problem {
                Some(problem) => Span::styled(problem.clone(), theme.warn()),
                None => Span::styled("loading…", theme.dim()),
            };
            frame.render_widget(Paragraph::new(vec![Line::from(note), Line::from(keys)]), head);
            return;
        };
        let mut title = vec![
            Span::styled(format!(" {} ", self.span.label()), theme.bold()),
            Span::raw(format!(
                "{} – {} ({}) · per {}",
                v.from.format("%d %b"),
                v.to.format("%d %b %Y"),
                v.timezone,
                self.by
            )),
        ];
        if self.reload.loading() || v.span != self.span || v.by != self.by {
            title.push(Span::styled(" · loading…", theme.dim()));
        }
        let mut second = vec![Span::raw(format!(
            " Leads: {} new · {} active (7 d) · {} total",
            v.new_leads, v.active_leads, v.total_leads
        ))];
        if let Some(problem) = &self.problem {
            second = vec![Span::styled(format!(" {problem}"), theme.warn())];
        }
        second.push(keys);
        frame.render_widget(
            Paragraph::new(vec![Line::from(title), Line::from(second)]).wrap(Wrap { trim: false }),
            head,
        );
        self.draw_charts(frame, charts, v, theme);
        let reply = v.average_reply_seconds.map_or("–".into(), |s| span_of(chrono::Duration::seconds(s as i64)));
        let spark_block = Block::default().borders(Borders::ALL).border_style(theme.dim()).title(format!(
            " Messages per {} · {} in · {} out · avg reply {reply} · {} unanswered ",
            self.by, v.received, v.sent, v.unanswered_now
        ));
        frame.render_widget(
            Sparkline::default().block(spark_block).data(v.messages.iter().copied()).style(theme.accent()),
            spark,
        );
        let plan = v.plan.clone().unwrap_or_else(|| "no plan".into());
        let gauge_block =
            Block::default().borders(Borders::ALL).border_style(theme.dim()).title(format!(" Plan usage · {plan} "));
        frame.render_widget(
            usage_gauge(v.conversations, v.conversation_limit, v.forecast_conversations, theme).block(gauge_block),
            gauge,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{analytics_view, ch, env, live, loads};
    use crate::intent::Request;

    fn load(span: RangeChoice, by: Granularity) -> Request {
        Request::Analytics(AnalyticsRequest::Load { span, by })
    }

    #[test]
    fn range_and_granularity_keys_ask_for_the_new_figures() {
        let mut pane = Analytics::default();
        let mut queue = Queue::default();
        pane.activate(&mut queue);
        assert_eq!(loads(&queue.drain()), vec![load(RangeChoice::ThisMonth, Granularity::Day)]);
        pane.apply(&Update::Analytics(AnalyticsUpdate::Loaded(Box::new(analytics_view()))), &env(), &mut queue);
        pane.handle_key(ch('r'), &env(), &mut queue);
        assert_eq!(loads(&queue.drain()), vec![load(RangeChoice::Last7, Granularity::Day)]);
        // Keys pressed while it loads: the answer is for an older choice, so the current one follows.
        pane.handle_key(ch('w'), &env(), &mut queue);
        assert!(loads(&queue.drain()).is_empty());
        let older = AnalyticsView { span: RangeChoice::Last7, ..analytics_view() };
        pane.apply(&Update::Analytics(AnalyticsUpdate::Loaded(Box::new(older))), &env(), &mut queue);
        assert_eq!(loads(&queue.drain()), vec![load(RangeChoice::Last7, Granularity::Week)]);
        assert_eq!(pane.range(), (RangeChoice::Last7, Granularity::Week));
        pane.handle_key(ch('r'), &env(), &mut queue);
        pane.handle_key(ch('r'), &env(), &mut queue);
        assert_eq!(pane.range().0, RangeChoice::ThisMonth, "r cycles");
    }

    #[test]
    fn new_messages_reload_the_figures() {
        let mut pane = Analytics::default();
        let mut queue = Queue::default();
        pane.apply(&live("message_received", 1), &env(), &mut queue);
        assert!(loads(&queue.drain()).is_empty(), "not before the first visit");
        pane.activate(&mut queue);
        pane.apply(&Update::Analytics(AnalyticsUpdate::Loaded(Box::new(analytics_view()))), &env(), &mut queue);
        queue.drain();
        pane.apply(&live("message_received", 1), &env(), &mut queue);
        assert_eq!(loads(&queue.drain()), vec![load(RangeChoice::ThisMonth, Granularity::Day)]);
    }
}
