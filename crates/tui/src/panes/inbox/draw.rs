//! Drawing the Inbox: the conversation list, the chat with its notes, the composer and the popups.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use wacrm_core::{Direction, MessageId, MessageStatus};

use super::{CHAT_PAGE_LINES, Focus, Inbox, ROW_LINES};
use crate::panes::{Env, scroll_to};
use crate::text::{self, relative, span_of, spread, wrap};
use crate::theme::Theme;
use crate::view::{ChatMessage, ConversationRow};
use crate::widgets::popup::draw_input;

impl Inbox {
    pub(super) fn draw_list(&self, frame: &mut Frame, area: Rect, env: &Env) {
        let theme = env.theme;
        let more = if self.next.is_some() { "+" } else { "" };
        let mut title = format!(" Conversations · {}", self.filter.label());
        if let Some(search) = &self.search {
            title.push_str(&format!(" · /{search}"));
        }
        title.push(' ');
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.focus_border(self.focus == Focus::List))
            .title(Span::styled(title, theme.bold()))
            .title_bottom(Line::from(format!(" {}{more} ", self.rows.len())).right_aligned());
        let inner = block.inner(area);
        frame.render_widget(block, area);
        self.list_area.set(inner);
        if let Some(error) = &self.list_error {
            let lines = vec![
                Line::styled(format!("The {} list could not be loaded:", self.filter.label()), theme.bad()),
                Line::raw(error.clone()),
                Line::styled("f tries the next filter; the list reloads when the database answers.", theme.dim()),
            ];
            frame.render_widget(Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: false }), inner);
            return;
        }
        if self.rows.is_empty() {
            let note = if self.loading || !self.started { "loading…" } else { "No conversations." };
            frame.render_widget(Paragraph::new(Span::styled(note, theme.dim())), inner);
            return;
        }
        let visible = (inner.height / ROW_LINES) as usize;
        let offset = scroll_to(self.selected, self.offset.get(), visible);
        self.offset.set(offset);
        let width = inner.width as usize;
        let mut lines = Vec::with_capacity(visible * ROW_LINES as usize);
        for (i, row) in self.rows.iter().enumerate().skip(offset).take(visible) {
            let [first, second] = conversation_lines(row, width, env);
            let style = if i == self.selected { theme.selected() } else { Style::new() };
            lines.push(first.patch_style(style));
            lines.push(second.patch_style(style));
        }
        if self.loading && offset + visible >= self.rows.len() && lines.len() < inner.height as usize {
            lines.push(Line::styled("loading more…", theme.dim()));
        }
        frame.render_widget(Paragraph::new(lines), inner);
    }

    fn draw_chat(&self, frame: &mut Frame, area: Rect, env: &Env) {
        let theme = env.theme;
        let Some(row) = self.selected() else {
            let block = Block::default().borders(Borders::ALL).border_style(theme.dim());
            let inner = block.inner(area);
            frame.render_widget(block, area);
            frame.render_widget(Paragraph::new(Span::styled("Select a conversation.", theme.dim())), inner);
            return;
        };
        let window = row.window_left(env.now);
        let composer_lines = self.composer.lines().len().clamp(1, 4) as u16;
        let [history_area, composer_area] =
            Layout::vertical([Constraint::Min(3), Constraint::Length(composer_lines + 2)]).areas(area);

        let mut block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.focus_border(self.focus == Focus::Chat))
            .title(Line::from(vec![
                Span::styled(format!(" {} ", row.name), theme.bold()),
                Span::styled(format!("{} ", row.phone), theme.dim()),
            ]));
        if self.unseen_below > 0 && self.chat_scroll > 0 {
            let s = if self.unseen_below == 1 { "" } else { "s" };
            let marker = format!(" ↓ {} new message{s} below · G ", self.unseen_below);
            block = block.title_bottom(Line::styled(marker, theme.accent()).right_aligned());
        }
        if let Some(search) = &self.chat_search {
            let label = format!(" {} · n/N · Esc clears ", search.label());
            block = block.title_bottom(Line::styled(label, theme.warn()).left_aligned());
        }
        let inner = block.inner(history_area);
        frame.render_widget(block, history_area);
        let [header, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);

        // Badges by importance: on a narrow screen the least important go whole, none is cut mid-word.
        let window_badge = match window {
            Some(left) => Span::styled(format!("window: {} left", span_of(left)), theme.good()),
            None => Span::styled("window closed: templates only (t)", theme.warn()),
        };
        let state = if row.resolved {
            Some(Span::styled("✓ resolved", theme.good()))
        } else {
            row.snoozed_until
                .map(|until| Span::styled(format!("z snoozed till {}", relative_future(until, env)), theme.warn()))
        };
        let assignee = match &row.assigned {
            Some(agent) => Span::raw(format!("assigned: {agent}")),
            None => Span::styled("unassigned", theme.dim()),
        };
        let stage = Span::styled(format!("[{}]", row.stage), theme.accent());
        let mut pieces: Vec<(u8, Span)> = vec![(2, stage), (3, assignee)];
        pieces.extend(state.map(|s| (1, s)));
        pieces.push((0, window_badge));
        let badges = fit(pieces, header.width as usize);
        frame.render_widget(Paragraph::new(badges), header);

        match &self.chat {
            Some(chat) if chat.contact == row.contact && !chat.messages.is_empty() => {
                self.chat_view.set((body.width, body.height));
                let want = body.height as usize + self.chat_scroll + CHAT_PAGE_LINES;
                let mark = self.chat_search.as_ref().and_then(|s| s.current());
                let lines = chat_lines(&chat.messages, body.width as usize, want, mark, env);
                self.chat_scroll_max.set(lines.len().saturating_sub(body.height as usize));
                let skip = lines.len().saturating_sub(body.height as usize + self.chat_scroll);
                let shown: Vec<Line> = lines.into_iter().skip(skip).take(body.height as usize).collect();
                // The newest message sits just above the composer, as in every chat.
                let top = body.height.saturating_sub(shown.len() as u16);
                frame.render_widget(Paragraph::new(shown), Rect { y: body.y + top, height: body.height - top, ..body });
            }
            Some(chat) if chat.contact == row.contact && chat.loading => {
                frame.render_widget(Paragraph::new(Span::styled("loading…", theme.dim())), body);
            }
            _ => frame.render_widget(Paragraph::new(Span::styled("No messages yet.", theme.dim())), body),
        }

        let composing = self.focus == Focus::Composer;
        let roomy = composer_area.width >= 60;
        let title = match (window.is_some(), roomy) {
            (true, true) => " Reply · Enter send · Alt-Enter newline · Ctrl-E editor ",
            (true, false) => " Reply · Enter send · ? keys ",
            (false, true) => " Window closed · draft only · Enter: choose a template ",
            (false, false) => " Window closed · Enter: template ",
        };
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.focus_border(composing))
            .title(Span::styled(title, if composing { theme.bold() } else { theme.dim() }));
        let inner = block.inner(composer_area);
        frame.render_widget(block, composer_area);
        draw_input(frame, inner, &self.composer, composing, "");
        if self.composer.is_blank() && !composing {
            let note = if window.is_some() { "i or Enter to reply" } else { "i: write a draft · t: send a template" };
            frame.render_widget(Paragraph::new(Span::styled(note, theme.dim())), inner);
        }
    }

    /// The chat, with the contact panel at its right when it is on (over the chat when narrow).
    pub(super) fn draw_chat_and_panel(&self, frame: &mut Frame, area: Rect, env: &Env) {
        if !self.show_panel {
            return self.draw_chat(frame, area, env);
        }
        if area.width >= 70 {
            let [chat, panel] = Layout::horizontal([Constraint::Min(0), Constraint::Length(30)]).areas(area);
            self.draw_chat(frame, chat, env);
            self.draw_panel(frame, panel, env);
        } else {
            self.draw_panel(frame, area, env);
        }
    }

    fn draw_panel(&self, frame: &mut Frame, area: Rect, env: &Env) {
        let theme = env.theme;
        let block = Block::default().borders(Borders::ALL).border_style(theme.dim()).title(" Contact · p hides ");
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let (Some(row), Some(panel)) =
            (self.selected(), self.panel.as_ref().filter(|p| Some(p.contact) == self.selected().map(|r| r.contact)))
        else {
            frame.render_widget(Paragraph::new(Span::styled("loading…", theme.dim())), inner);
            return;
        };
        let label = |l: &str| Span::styled(format!("{l:<10}"), theme.dim());
        let mut lines = vec![Line::styled(row.name.clone(), theme.bold()), Line::raw(row.phone.clone())];
        if let Some(profile) = panel.profile_name.as_ref().filter(|p| **p != row.name) {
            lines.push(Line::from(vec![label("WhatsApp"), Span::raw(profile.clone())]));
        }
        lines.push(Line::raw(""));
        lines.push(Line::from(vec![label("stage"), Span::styled(panel.stage.to_string(), theme.accent())]));
        let tags = if panel.tags.is_empty() { "—".to_string() } else { panel.tags.join(", ") };
        lines.push(Line::from(vec![label("tags"), Span::raw(tags)]));
        lines.push(Line::from(vec![
            label("window"),
            match row.window_left(env.now) {
                Some(left) => Span::styled(format!("{} left", span_of(left)), theme.good()),
                None => Span::styled("closed", theme.warn()),
            },
        ]));
        lines.push(Line::from(vec![
            label("assigned"),
            Span::raw(row.assigned.clone().unwrap_or_else(|| "nobody".into())),
        ]));
        lines.push(Line::from(vec![
            label("marketing"),
            match &panel.opted_out {
                Some(how) => Span::styled(format!("opted out ({how})"), theme.bad()),
                None => Span::styled("may receive", theme.good()),
            },
        ]));
        let campaign = match &panel.last_campaign {
            Some((name, at)) => format!("{name}, {}", relative(*at, env.now, env.offset)),
            None => "—".into(),
        };
        lines.push(Line::from(vec![label("campaign"), Span::raw(campaign)]));
        lines.push(Line::from(vec![label("notes"), Span::raw(panel.notes.to_string())]));
        frame.render_widget(Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: false }), inner);
    }

    pub(super) fn draw_popup(&self, frame: &mut Frame, area: Rect, env: &Env) {
        if let Some(popup) = &self.popup {
            popup.draw(frame, area, env);
        }
    }
}

/// The two lines of one conversation in the list.
fn conversation_lines<'a>(row: &ConversationRow, width: usize, env: &Env) -> [Line<'a>; 2] {
    let theme = env.theme;
    let unread = row.unread > 0;
    let when = row.last_at.map(|at| relative(at, env.now, env.offset)).unwrap_or_default();
    // Resolved and snoozed conversations are marked and dimmed: out of the way, still findable.
    let (mark, name_style) = match (unread, row.resolved, row.snoozed_until.is_some()) {
        (true, ..) => (Span::styled("● ", theme.accent()), theme.bold()),
        (_, true, _) => (Span::styled("✓ ", theme.good()), theme.dim()),
        (.., true) => (Span::styled("z ", theme.warn()), theme.dim()),
        _ => (Span::raw("  "), Style::new()),
    };
    let first = spread(
        vec![mark, Span::styled(row.name.clone(), name_style)],
        vec![
            Span::styled(format!("[{}]", row.stage), theme.accent()),
            Span::styled(format!(" {when:>6}"), theme.dim()),
        ],
        width,
    );
    let mut right = Vec::new();
    if let Some(until) = row.snoozed_until {
        right.push(Span::styled(format!("till {} ", relative_future(until, env)), theme.warn()));
    }
    if unread {
        right.push(Span::styled(format!("({})", row.unread), theme.bold()));
    }
    if let Some(agent) = &row.assigned {
        right.push(Span::styled(format!(" @{}", first_name(agent)), theme.dim()));
    }
    let mut preview = String::from("  ");
    if row.last_direction == Some(Direction::Out) {
        preview.push_str("you: ");
    }
    preview.push_str(&row.last_message);
    let second = spread(vec![Span::styled(preview, theme.dim())], right, width);
    [first, second]
}

/// The pieces that fit in `width`, in their order, separated by two spaces; the highest ranks (largest
/// first number) are left out first.
fn fit(mut pieces: Vec<(u8, Span<'static>)>, width: usize) -> Line<'static> {
    let total = |pieces: &[(u8, Span)]| {
        pieces.iter().map(|(_, s)| text::width(&s.content)).sum::<usize>() + 5 * pieces.len().saturating_sub(1)
    };
    while total(&pieces) > width && pieces.len() > 1 {
        let Some(drop) = pieces.iter().enumerate().max_by_key(|(_, (rank, _))| *rank).map(|(i, _)| i) else { break };
        pieces.remove(drop);
    }
    let mut spans = Vec::new();
    for (i, (rank, span)) in pieces.into_iter().enumerate() {
        if i > 0 {
            // The window, the one thing that limits what can be sent, stands apart.
            spans.push(Span::raw(if rank == 0 { "  ·  " } else { "  " }));
        }
        spans.push(span);
    }
    Line::from(spans)
}

/// When a snooze ends: the time today, else the weekday and time.
fn relative_future(at: DateTime<Utc>, env: &Env) -> String {
    let local = at.with_timezone(&env.offset);
    if local.date_naive() == env.now.with_timezone(&env.offset).date_naive() {
        local.format("%H:%M").to_string()
    } else {
        local.format("%a %H:%M").to_string()
    }
}

fn first_name(name: &str) -> &str {
    name.split_whitespace().next().unwrap_or(name)
}

/// The status marks of an outbound message.
fn marks(status: MessageStatus, theme: Theme) -> Span<'static> {
    match status {
        MessageStatus::Pending => Span::styled("…", theme.dim()),
        MessageStatus::Sent => Span::raw("✓"),
        MessageStatus::Delivered => Span::raw("✓✓"),
        MessageStatus::Read => Span::styled("✓✓", theme.read()),
        MessageStatus::Failed => Span::styled("✗", theme.bad()),
    }
}

/// The chat as display lines, oldest first, built from the newest message back until `want` lines
/// exist (older messages are never laid out). The message `mark` (a search hit) is highlighted.
fn chat_lines<'a>(
    messages: &[ChatMessage],
    width: usize,
    want: usize,
    mark: Option<MessageId>,
    env: &Env,
) -> Vec<Line<'a>> {
    chat_blocks(messages, width, want, mark, env).into_iter().rev().flatten().collect()
}

/// Each message's display lines (with its day separator), newest message first, until `want` lines.
pub(super) fn chat_blocks<'a>(
    messages: &[ChatMessage],
    width: usize,
    want: usize,
    mark: Option<MessageId>,
    env: &Env,
) -> Vec<Vec<Line<'a>>> {
    let theme = env.theme;
    let bubble = (width * 3 / 4).max(10);
    let mut blocks: Vec<Vec<Line<'a>>> = Vec::new();
    let mut count = 0;
    let day = |at: DateTime<Utc>| at.with_timezone(&env.offset).date_naive();
    for (i, m) in messages.iter().enumerate().rev() {
        let mut lines = Vec::new();
        let time = m.at.with_timezone(&env.offset).format("%H:%M").to_string();
        // A file shows as a clip, so `o` has something to point at.
        let body = if m.media { format!("📎 {}", m.body) } else { m.body.clone() };
        match m.direction {
            // A private note: in the middle, marked, never mistaken for something the customer saw.
            _ if m.note => {
                let by = m.sender.as_deref().map(|s| format!(" · {}", first_name(s))).unwrap_or_default();
                let head = format!("✎ note{by} {time}: ");
                for (n, part) in wrap(&format!("{head}{body}"), bubble).into_iter().enumerate() {
                    let lead = if n == 0 { "" } else { "  " };
                    lines.push(Line::styled(format!("{lead}{part}"), theme.warn()).alignment(Alignment::Center));
                }
            }
            Direction::In => {
                for (n, part) in wrap(&body, bubble.saturating_sub(7)).into_iter().enumerate() {
                    let lead = if n == 0 { format!("{time}  ") } else { " ".repeat(7) };
                    lines.push(Line::from(vec![Span::styled(lead, theme.dim()), Span::raw(part)]));
                }
            }
            Direction::Out => {
                let parts = wrap(&body, bubble.saturating_sub(10));
                let last = parts.len() - 1;
                for (n, part) in parts.into_iter().enumerate() {
                    let mut spans = vec![Span::styled(part, theme.bold())];
                    if n == last {
                        let by = m.sender.as_deref().map(|s| format!("  {}", first_name(s))).unwrap_or_default();
                        spans.push(Span::styled(format!("{by}  {time} "), theme.dim()));
                        spans.push(marks(m.status, theme));
                    }
                    lines.push(Line::from(spans).alignment(Alignment::Right));
                }
                if m.status == MessageStatus::Failed {
                    let reason = m.error.as_deref().unwrap_or("no reason given");
                    for part in wrap(&format!("✗ failed: {reason}"), bubble) {
                        lines.push(Line::styled(part, theme.bad()).alignment(Alignment::Right));
                    }
                }
            }
        }
        let new_day = i == 0 || day(messages[i - 1].at) != day(m.at);
        if new_day {
            let label = m.at.with_timezone(&env.offset).format("%a %d %b %Y").to_string();
            lines.insert(0, Line::styled(format!("── {label} ──"), theme.dim()).alignment(Alignment::Center));
        }
        if mark == Some(m.id) {
            lines = lines.into_iter().map(|l| l.patch_style(theme.selected())).collect();
        }
        count += lines.len();
        blocks.push(lines);
        if count >= want {
            break;
        }
    }
    blocks
}
