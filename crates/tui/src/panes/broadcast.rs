//! 5 Broadcast: campaigns with a progress gauge each and the live send rate of running ones; the
//! selected campaign's delivery figures and per-recipient failures below; pause, resume and cancel,
//! each after a confirmation.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Duration, Utc};
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Gauge, Paragraph, Wrap};
use wacrm_core::broadcast::{CampaignId, CampaignStatus};

use crate::intent::{Queue, Update};
use crate::panes::reload::Reload;
use crate::panes::{Env, KeyHint, Pane, hint, passes};
use crate::popups::Outcome;
use crate::popups::confirm::Confirm;
use crate::text::{spread, truncate};
use crate::widgets::detail::{DetailView, detail_key};
use crate::widgets::listing::{Listed, Listing, Look};

/// What the Broadcast pane asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BroadcastRequest {
    List,
    /// The delivery figures and failed recipients of one campaign.
    Detail(CampaignId),
    Pause(CampaignId),
    Resume(CampaignId),
    Cancel(CampaignId),
}

impl BroadcastRequest {
    pub fn what(&self) -> &'static str {
        match self {
            BroadcastRequest::List => "campaigns",
            BroadcastRequest::Detail(_) => "campaign detail",
            BroadcastRequest::Pause(_) | BroadcastRequest::Resume(_) | BroadcastRequest::Cancel(_) => "campaign",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum BroadcastUpdate {
    List(Vec<CampaignRow>),
    Detail(CampaignDetail),
    /// A pause, resume or cancel went through; what happened, in words.
    Changed(String),
}

/// One campaign of the list.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignRow {
    pub id: CampaignId,
    pub name: String,
    pub template: String,
    pub status: CampaignStatus,
    pub recipients: i64,
    pub sent: i64,
    pub failed: i64,
    pub skipped: i64,
    pub paused_reason: Option<String>,
}

impl CampaignRow {
    /// Recipients whose outcome is settled (sent, failed or skipped).
    pub fn done(&self) -> i64 {
        self.sent + self.failed + self.skipped
    }
}

/// The selected campaign's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignDetail {
    pub id: CampaignId,
    pub pending: i64,
    pub delivered: i64,
    pub read: i64,
    pub replied: i64,
    pub failures: Vec<Failure>,
}

/// A recipient Meta refused, with its reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub name: String,
    pub phone: String,
    pub code: Option<i32>,
    pub detail: Option<String>,
}

/// The send rate is measured over this much recent time.
const RATE_WINDOW: Duration = Duration::seconds(60);

impl Listed for CampaignRow {
    type Id = CampaignId;

    fn id(&self) -> CampaignId {
        self.id
    }

    fn passes(&self, filter: Option<&str>) -> bool {
        passes(filter, &[&self.name, &self.template])
    }
}

#[derive(Debug, Default)]
pub struct Broadcast {
    campaigns: Listing<CampaignRow>,
    detail: Option<CampaignDetail>,
    /// Per running campaign: (when, settled recipients) at each load, for the send rate.
    samples: HashMap<CampaignId, VecDeque<(DateTime<Utc>, i64)>>,
    confirm: Option<(Confirm, BroadcastRequest)>,
    reload: Reload,
    /// Enter/`l`: the selected campaign's figures and failed recipients have the whole pane.
    open: Option<DetailView>,
}

impl Broadcast {
    pub fn selected(&self) -> Option<&CampaignRow> {
        self.campaigns.selected()
    }

    /// Recipients settled per second over the last minute; none until two loads a second apart.
    pub fn rate(&self, id: CampaignId) -> Option<f64> {
        let samples = self.samples.get(&id)?;
        let ((first_at, first), (last_at, last)) = (samples.front()?, samples.back()?);
        let seconds = (*last_at - *first_at).num_milliseconds() as f64 / 1000.0;
        (seconds >= 1.0).then(|| (last - first) as f64 / seconds)
    }

    fn moves_counts(&self, event: &wacrm_core::events::Recorded) -> bool {
        match event.kind.as_str() {
            "message_received_after_campaign" => true,
            "status_changed" => event.payload.get("campaign_id").is_some_and(|c| !c.is_null()),
            "message_sent" => self.campaigns.rows().iter().any(|c| c.status == CampaignStatus::Running),
            _ => false,
        }
    }

    fn ask(&mut self, queue: &mut Queue) {
        if self.reload.ask() {
            queue.load(BroadcastRequest::List);
        }
    }

    fn follow(&mut self, queue: &mut Queue) {
        match self.selected().map(|c| c.id) {
            Some(id) => queue.load(BroadcastRequest::Detail(id)),
            None => self.detail = None,
        }
    }

    fn sample(&mut self, now: DateTime<Utc>) {
        let running: Vec<(CampaignId, i64)> = self
            .campaigns
            .rows()
            .iter()
            .filter(|c| c.status == CampaignStatus::Running)
            .map(|c| (c.id, c.done()))
            .collect();
        self.samples.retain(|id, _| running.iter().any(|(r, _)| r == id));
        for (id, done) in running {
            let samples = self.samples.entry(id).or_default();
            if samples.back().is_some_and(|(at, _)| *at == now) {
                samples.pop_back();
            }
            samples.push_back((now, done));
            while samples.front().is_some_and(|(at, _)| now - *at > RATE_WINDOW) {
                samples.pop_front();
            }
        }
    }

    /// Asks before changing the selected campaign, naming what will happen.
    fn propose(&mut self, key: char) {
        let Some(c) = self.selected() else { return };
        let (request, title, line, yes) = match (key, c.status) {
            ('p', CampaignStatus::Running) => {
                (BroadcastRequest::Pause(c.id), "Pause", "Sends in flight finish; no new ones start.", "pause")
            }
            ('r', CampaignStatus::Paused) => {
                (BroadcastRequest::Resume(c.id), "Resume", "Sending continues where it stopped.", "resume")
            }
            ('c', status) if !matches!(status, CampaignStatus::Completed | CampaignStatus::Cancelled) => (
                BroadcastRequest::Cancel(c.id),
                "Cancel",
                "Recipients not yet sent are skipped for good.",
                "cancel the campaign",
            ),
            _ => return,
        };
        let lines =
            vec![format!("{} · {} · {}/{} settled", c.name, c.status, c.done(), c.recipients), line.to_string()];
        self.confirm = Some((Confirm::new(format!("{title} campaign {}?", c.id), lines, yes), request));
    }

    fn draw_campaigns(&self, frame: &mut Frame, area: Rect, env: &Env) {
        let theme = env.theme;
        let look = Look {
            title: self.campaigns.title("Campaigns"),
            row_lines: 2,
            loading: self.reload.loading(),
            none_match: "No campaign matches (Esc clears).",
            none_yet: "No campaigns yet: wacrm broadcast create …",
        };
        self.campaigns.draw(frame, area, theme, look, |frame, row, c, selected| {
            let width = row.width as usize;
            let status_style = match c.status {
                CampaignStatus::Running => theme.good(),
                CampaignStatus::Paused => theme.warn(),
                CampaignStatus::Cancelled => theme.bad(),
                _ => theme.dim(),
            };
            let rate = match self.rate(c.id) {
                Some(rate) => format!("{rate:.1}/s  "),
                None => String::new(),
            };
            let mut right = vec![Span::raw(rate), Span::styled(c.status.to_string(), status_style)];
            if c.failed > 0 {
                right.insert(0, Span::styled(format!("{} failed  ", c.failed), theme.bad()));
            }
            let left = vec![Span::styled(
                truncate(&format!("#{} {} · {}", c.id, c.name, c.template), width.saturating_sub(30)),
                theme.bold(),
            )];
            let line = spread(left, right, width);
            let line = if selected { line.patch_style(theme.selected()) } else { line };
            frame.render_widget(Paragraph::new(line), Rect { height: 1, ..row });
            let ratio = if c.recipients > 0 { c.done() as f64 / c.recipients as f64 } else { 0.0 };
            let gauge = Gauge::default()
                .ratio(ratio.clamp(0.0, 1.0))
                .label(format!("{:.0}% · {}/{}", ratio * 100.0, c.done(), c.recipients))
                .gauge_style(status_style)
                .use_unicode(true);
            frame.render_widget(gauge, Rect { y: row.y + 1, height: 1, ..row });
        });
    }

    /// The campaign's delivery figures and each failed recipient with Meta's reason, cut to `width`.
    fn detail_lines(&self, c: &CampaignRow, width: usize, env: &Env) -> Vec<Line<'static>> {
        let theme = env.theme;
        let mut lines = Vec::new();
        if let Some(reason) = &c.paused_reason {
            lines.push(Line::styled(format!("Paused: {reason}"), theme.warn()));
        }
        match self.detail.as_ref().filter(|d| d.id == c.id) {
            None => lines.push(Line::styled("loading…", theme.dim())),
            Some(d) => {
                lines.push(Line::from(vec![
                    Span::raw(format!("sent {} · delivered {} · read {} · ", c.sent, d.delivered, d.read)),
                    Span::styled(format!("replied {}", d.replied), theme.good()),
                    Span::raw(format!(" · pending {} · skipped {} · ", d.pending, c.skipped)),
                    Span::styled(format!("failed {}", c.failed), if c.failed > 0 { theme.bad() } else { theme.dim() }),
                ]));
                if d.failures.is_empty() {
                    lines.push(Line::styled("No failed recipients.", theme.dim()));
                }
                for f in &d.failures {
                    let code = f.code.map_or(String::new(), |c| format!(" {c}"));
                    let text = format!("✗ {} {}{code}: {}", f.name, f.phone, f.detail.as_deref().unwrap_or("failed"));
                    lines.push(Line::styled(truncate(&text, width), theme.bad()));
                }
            }
        }
        lines
    }

    fn draw_detail(&self, frame: &mut Frame, area: Rect, env: &Env) {
        let block = Block::default().borders(Borders::ALL).border_style(env.theme.dim()).title(" Recipients ");
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let Some(c) = self.selected() else { return };
        let lines = self.detail_lines(c, inner.width as usize, env);
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
    }

    fn draw_list_and_detail(&self, frame: &mut Frame, area: Rect, env: &Env) {
        let wanted = (self.campaigns.shown().len().max(1) * 2 + 2) as u16;
        let top = wanted.min(area.height.saturating_sub(6).max(area.height / 2));
        let [list, detail] = Layout::vertical([Constraint::Length(top), Constraint::Min(0)]).areas(area);
        self.draw_campaigns(frame, list, env);
        self.draw_detail(frame, detail, env);
    }
}

impl Pane for Broadcast {
    fn keys(&self) -> Vec<KeyHint> {
        if self.confirm.is_some() {
            return vec![hint("y", "confirm"), hint("n Esc", "cancel")];
        }
        let mut keys = if self.open.is_some() {
            DetailView::keys()
        } else {
            vec![
                hint("j/k ↑/↓", "next / previous campaign"),
                hint("g / G", "first / last"),
                hint("Enter l", "open the campaign: delivery figures and every failed recipient"),
            ]
        };
        keys.extend([
            hint("p", "pause the running campaign (asks first)"),
            hint("r", "resume the paused campaign (asks first)"),
            hint("c", "cancel the campaign (asks first)"),
            hint("/", "show only campaigns whose name or template contains a text"),
            hint("Esc", "clear the filter"),
            hint("R", "reload"),
        ]);
        keys
    }

    fn captures_keys(&self) -> bool {
        self.confirm.is_some()
    }

    fn handle_key(&mut self, key: KeyEvent, _env: &Env, queue: &mut Queue) -> bool {
        if let Some((confirm, _)) = self.confirm.as_mut() {
            match confirm.handle_key(key) {
                Outcome::Done(()) => {
                    if let Some((_, request)) = self.confirm.take() {
                        queue.load(request);
                    }
                }
                Outcome::Cancelled => self.confirm = None,
                Outcome::Open => {}
            }
            return true;
        }
        let selected = self.selected().is_some();
        if detail_key(&mut self.open, selected, key.code) {
            return true;
        }
        if self.campaigns.navigate(key.code) {
            self.follow(queue);
            return true;
        }
        match key.code {
            KeyCode::Enter | KeyCode::Char('l') if self.selected().is_some() => {
                self.open = Some(DetailView::default());
                return true;
            }
            KeyCode::Char(c @ ('p' | 'r' | 'c')) => {
                self.propose(c);
                return true;
            }
            KeyCode::Char('R') => {
                self.ask(queue);
                return true;
            }
            KeyCode::Esc if self.campaigns.filter().is_some() => self.campaigns.filter_by(""),
            _ => return false,
        }
        self.follow(queue);
        true
    }

    fn apply(&mut self, update: &Update, env: &Env, queue: &mut Queue) {
        match update {
            Update::Broadcast(BroadcastUpdate::List(rows)) => {
                self.campaigns.replace(rows.clone());
                self.sample(env.now);
                self.follow(queue);
                if self.reload.done() {
                    queue.load(BroadcastRequest::List);
                }
            }
            Update::Broadcast(BroadcastUpdate::Detail(detail)) => self.detail = Some(detail.clone()),
            Update::Broadcast(BroadcastUpdate::Changed(what)) => {
                queue.push(crate::intent::Intent::Notify(what.clone()));
                self.ask(queue);
            }
            Update::Failed { what: "campaigns", message } => {
                self.campaigns.set_problem(message.clone());
                if self.reload.done() {
                    queue.load(BroadcastRequest::List);
                }
            }
            Update::Failed { what: "campaign", .. } => self.ask(queue),
            // Campaign sends (while one runs), their statuses and the replies move the counts.
            Update::Live(event) if self.reload.started() && self.moves_counts(event) => self.ask(queue),
            _ => {}
        }
    }

    fn loaded(&self) -> bool {
        self.reload.started()
    }

    fn load(&mut self, queue: &mut Queue) {
        self.ask(queue);
    }

    fn searches(&self) -> bool {
        true
    }

    fn search(&mut self, text: &str, queue: &mut Queue) {
        self.campaigns.filter_by(text);
        self.follow(queue);
    }

    fn draw(&self, frame: &mut Frame, area: Rect, env: &Env) {
        if let (Some(view), Some(c)) = (&self.open, self.selected()) {
            let title = format!(" #{} {} · {} · {} ", c.id, c.name, c.template, c.status);
            let lines = self.detail_lines(c, area.width.saturating_sub(2) as usize, env);
            view.draw(frame, area, title, lines, env.theme);
        } else {
            self.draw_list_and_detail(frame, area, env);
        }
        if let Some((confirm, _)) = &self.confirm {
            confirm.draw(frame, area, env.theme);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{campaigns, ch, env, key, loads, now};
    use crate::intent::Request;

    fn loaded() -> (Broadcast, Queue) {
        let mut pane = Broadcast::default();
        let mut queue = Queue::default();
        pane.activate(&mut queue);
        pane.apply(&Update::Broadcast(BroadcastUpdate::List(campaigns())), &env(), &mut queue);
        queue.drain();
        (pane, queue)
    }

    #[test]
    fn pause_asks_first_and_only_y_sends_it() {
        let (mut pane, mut queue) = loaded();
        pane.handle_key(ch('p'), &env(), &mut queue);
        assert!(pane.captures_keys());
        pane.handle_key(key(KeyCode::Enter), &env(), &mut queue);
        pane.handle_key(ch('3'), &env(), &mut queue);
        assert!(loads(&queue.drain()).is_empty(), "Enter and digits do not agree");
        pane.handle_key(ch('y'), &env(), &mut queue);
        assert_eq!(loads(&queue.drain()), vec![Request::Broadcast(BroadcastRequest::Pause(CampaignId(3)))]);
        assert!(!pane.captures_keys());
    }

    #[test]
    fn actions_that_do_not_fit_the_status_ask_nothing() {
        let (mut pane, mut queue) = loaded();
        pane.handle_key(ch('r'), &env(), &mut queue);
        assert!(!pane.captures_keys(), "a running campaign is not resumed");
        pane.handle_key(ch('j'), &env(), &mut queue);
        assert_eq!(loads(&queue.drain()), vec![Request::Broadcast(BroadcastRequest::Detail(CampaignId(2)))]);
        pane.handle_key(ch('r'), &env(), &mut queue);
        pane.handle_key(key(KeyCode::Esc), &env(), &mut queue);
        assert!(loads(&queue.drain()).is_empty(), "Esc cancels");
        pane.handle_key(ch('j'), &env(), &mut queue);
        pane.handle_key(ch('c'), &env(), &mut queue);
        assert!(!pane.captures_keys(), "a completed campaign cannot be cancelled");
    }

    #[test]
    fn the_send_rate_comes_from_successive_loads() {
        let (mut pane, mut queue) = loaded();
        assert_eq!(pane.rate(CampaignId(3)), None);
        let mut later = campaigns();
        later[0].sent += 150;
        let env10 = Env { now: now() + Duration::seconds(10), ..env() };
        pane.apply(&Update::Broadcast(BroadcastUpdate::List(later)), &env10, &mut queue);
        assert_eq!(pane.rate(CampaignId(3)), Some(15.0));
        assert_eq!(pane.rate(CampaignId(2)), None, "paused: no rate");
    }

    #[test]
    fn campaign_events_reload_once_per_answer() {
        let (mut pane, mut queue) = loaded();
        let mut status = crate::fixtures::live("status_changed", 1);
        pane.apply(&status, &env(), &mut queue);
        assert!(loads(&queue.drain()).is_empty(), "not a campaign's message");
        if let Update::Live(event) = &mut status {
            event.payload = serde_json::json!({"campaign_id": 3});
        }
        pane.apply(&status, &env(), &mut queue);
        pane.apply(&status, &env(), &mut queue);
        assert_eq!(loads(&queue.drain()), vec![Request::Broadcast(BroadcastRequest::List)]);
        pane.apply(&crate::fixtures::live("message_sent", 1), &env(), &mut queue);
        pane.apply(&Update::Broadcast(BroadcastUpdate::List(campaigns())), &env(), &mut queue);
        let requests = loads(&queue.drain());
        assert!(requests.contains(&Request::Broadcast(BroadcastRequest::List)), "the second event asks again");
    }
}
