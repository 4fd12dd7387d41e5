//! Automation, Broadcast, Templates and Analytics: each says what is coming until its issue lands.

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use crate::intent::{Queue, Tab, Update};
use crate::panes::{Env, KeyHint, Pane};

#[derive(Debug)]
pub struct Planned {
    tab: Tab,
}

impl Planned {
    pub fn new(tab: Tab) -> Planned {
        Planned { tab }
    }

    fn coming(&self) -> (&'static str, &'static str) {
        match self.tab {
            Tab::Automation => (
                "Rules that act on events: reply to keywords, move stages, assign conversations, follow up after a delay.",
                "wacrm automation list|add|rm",
            ),
            Tab::Broadcast => (
                "Campaigns from approved templates to filtered contacts, with delivery, read and reply counts.",
                "wacrm broadcast create|list|run",
            ),
            Tab::Templates => (
                "Message templates with their WhatsApp approval status; create and submit for approval.",
                "wacrm templates list|create|rm",
            ),
            _ => (
                "Lead growth, message volumes and response times, campaign delivery and reply rates.",
                "wacrm analytics leads|messages|campaigns",
            ),
        }
    }
}

impl Pane for Planned {
    fn keys(&self) -> Vec<KeyHint> {
        Vec::new()
    }

    fn handle_key(&mut self, _key: KeyEvent, _env: &Env, _queue: &mut Queue) -> bool {
        false
    }

    fn apply(&mut self, _update: &Update, _env: &Env, _queue: &mut Queue) {}

    fn draw(&self, frame: &mut Frame, area: Rect, env: &Env) {
        let theme = env.theme;
        let (what, cli) = self.coming();
        let block =
            Block::default().borders(Borders::ALL).border_style(theme.dim()).title(format!(" {} ", self.tab.title()));
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let lines = vec![
            Line::styled(format!("The {} dashboard is coming with its own issue.", self.tab.title()), theme.bold()),
            Line::raw(""),
            Line::raw(what),
            Line::raw(""),
            Line::styled(format!("Its commands already show their shape: {cli}"), theme.dim()),
        ];
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
    }
}
