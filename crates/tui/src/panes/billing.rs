//! 8 Billing: the plan and subscription from `wacrm_core::billing` (the full dashboard lands with the
//! Billing issue).

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use crate::intent::{Queue, Request, Update};
use crate::panes::{Env, KeyHint, Pane};
use crate::view::BillingView;

#[derive(Debug, Default)]
pub struct Billing {
    view: Option<BillingView>,
    problem: Option<String>,
    started: bool,
}

impl Pane for Billing {
    fn keys(&self) -> Vec<KeyHint> {
        Vec::new()
    }

    fn handle_key(&mut self, _key: KeyEvent, _env: &Env, _queue: &mut Queue) -> bool {
        false
    }

    fn apply(&mut self, update: &Update, _env: &Env, _queue: &mut Queue) {
        match update {
            Update::Billing(view) => {
                self.view = Some(view.clone());
                self.problem = None;
            }
            Update::Failed { what: "billing", message } => self.problem = Some(message.clone()),
            _ => {}
        }
    }

    fn loaded(&self) -> bool {
        self.started
    }

    fn load(&mut self, queue: &mut Queue) {
        self.started = true;
        queue.load(Request::Billing);
    }

    fn draw(&self, frame: &mut Frame, area: Rect, env: &Env) {
        let theme = env.theme;
        let block = Block::default().borders(Borders::ALL).border_style(theme.dim()).title(" Billing ");
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let mut lines = match (&self.view, &self.problem) {
            (_, Some(problem)) => vec![Line::styled(problem.clone(), theme.warn())],
            (Some(v), None) => vec![
                Line::from(vec![Span::raw("Plan          "), Span::styled(v.plan.clone(), theme.bold())]),
                Line::from(format!("Conversations {} a month", v.conversation_limit)),
                Line::from(vec![
                    Span::raw("Status        "),
                    Span::styled(v.status.clone(), if v.status == "active" { theme.good() } else { theme.warn() }),
                ]),
                Line::from(format!(
                    "Renews        {}",
                    v.renews_at.map_or("—".into(), |at| at.with_timezone(&env.offset).format("%d %b %Y").to_string())
                )),
            ],
            (None, None) => vec![Line::styled("loading…", theme.dim())],
        };
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            "Usage per month, invoices and plan changes arrive with the Billing dashboard; \
             until then: wacrm billing subscribe <plan>.",
            theme.dim(),
        ));
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
    }
}
