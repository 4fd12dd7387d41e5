//! Sending a template outside the 24-hour window, in three deliberate steps: pick an approved
//! template, fill in each of its parameters, then read the message as the customer will and confirm
//! with `y`. Nothing is filled in on the agent's behalf, and no single key sends. The preview is core's
//! own rendering (`templates::render`, the path every send takes), asked for when the form is done:
//! `y` waits for it, and a template core cannot render is never sent.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use wacrm_core::templates::parameter_count;

use crate::popups::Outcome;
use crate::popups::form::Form;
use crate::popups::picker::{Item, Picker};
use crate::theme::Theme;
use crate::view::TemplateRow;
use crate::widgets::popup::{boxed, centered};

/// What the agent confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateChoice {
    pub name: String,
    pub language: String,
    pub params: Vec<String>,
}

#[derive(Debug)]
enum Step {
    Pick,
    Params(Form),
    /// `rendered` is core's text (or why it cannot be rendered), `None` while on its way.
    Preview {
        params: Vec<String>,
        form: Option<Form>,
        rendered: Option<Result<String, String>>,
    },
}

/// The rendering the popup waits for: core renders `name` with `params` for the conversation's contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderWanted {
    pub name: String,
    pub params: Vec<String>,
}

#[derive(Debug)]
pub struct TemplateSend {
    /// Who it goes to, as the preview names them.
    recipient: String,
    templates: Vec<TemplateRow>,
    picker: Picker,
    step: Step,
    /// Set when the preview step opens; the Inbox turns it into a request.
    wanted: Option<RenderWanted>,
}

impl TemplateSend {
    pub fn new(recipient: impl Into<String>) -> TemplateSend {
        TemplateSend {
            recipient: recipient.into(),
            templates: Vec::new(),
            picker: Picker::new("Send a template · 1/3 pick", Vec::new()),
            step: Step::Pick,
            wanted: None,
        }
    }

    /// The rendering to ask core for, once per preview.
    pub fn take_render_request(&mut self) -> Option<RenderWanted> {
        self.wanted.take()
    }

    /// Core's rendering arrived (for the template and values the preview shows).
    pub fn set_preview(&mut self, wanted: &RenderWanted, result: Result<String, String>) {
        let current = self.template().map(|t| t.name.clone());
        if let Step::Preview { params, rendered, .. } = &mut self.step
            && current.as_ref() == Some(&wanted.name)
            && *params == wanted.params
        {
            *rendered = Some(result);
        }
    }

    fn preview(&mut self, params: Vec<String>, form: Option<Form>) {
        if let Some(t) = self.template() {
            self.wanted = Some(RenderWanted { name: t.name.clone(), params: params.clone() });
        }
        self.step = Step::Preview { params, form, rendered: None };
    }

    /// The approved templates arrived.
    pub fn set_templates(&mut self, templates: &[TemplateRow]) {
        self.templates = templates.to_vec();
        let items = templates.iter().map(|t| Item::new(t.name.clone(), t.preview.clone())).collect();
        self.picker.set_items(items, &["No approved templates.", "Approve one in WhatsApp Manager; it appears here."]);
    }

    fn template(&self) -> Option<&TemplateRow> {
        self.templates.get(self.picker.selected())
    }

    pub fn handle_key(&mut self, key: KeyEvent) -> Outcome<TemplateChoice> {
        match &mut self.step {
            Step::Pick => match self.picker.handle_key(key) {
                Outcome::Done(_) => {
                    let Some(template) = self.template() else { return Outcome::Open };
                    let count = parameter_count(&template.preview);
                    if count == 0 {
                        self.preview(Vec::new(), None);
                    } else {
                        let labels = (1..=count).map(|i| format!("{{{{{i}}}}}")).collect();
                        self.step = Step::Params(Form::new(
                            format!("{} · 2/3 parameters", template.name),
                            vec![template.preview.clone()],
                            labels,
                        ));
                    }
                    Outcome::Open
                }
                Outcome::Cancelled => Outcome::Cancelled,
                Outcome::Open => Outcome::Open,
            },
            Step::Params(form) => match form.handle_key(key) {
                Outcome::Done(params) => {
                    let Step::Params(form) = std::mem::replace(&mut self.step, Step::Pick) else {
                        unreachable!("matched above")
                    };
                    self.preview(params, Some(form));
                    Outcome::Open
                }
                Outcome::Cancelled => {
                    self.step = Step::Pick;
                    Outcome::Open
                }
                Outcome::Open => Outcome::Open,
            },
            Step::Preview { params, form, rendered } => match key.code {
                // Only what core rendered is sent: not while it is on its way, never when it failed.
                KeyCode::Char('y' | 'Y') if !matches!(rendered, Some(Ok(_))) => Outcome::Open,
                KeyCode::Char('y' | 'Y') => match self.templates.get(self.picker.selected()) {
                    Some(t) => Outcome::Done(TemplateChoice {
                        name: t.name.clone(),
                        language: t.language.clone(),
                        params: params.clone(),
                    }),
                    None => Outcome::Cancelled,
                },
                KeyCode::Esc | KeyCode::Char('n' | 'N') => {
                    self.step = match form.take() {
                        Some(form) => Step::Params(form),
                        None => Step::Pick,
                    };
                    Outcome::Open
                }
                _ => Outcome::Open,
            },
        }
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: Theme) {
        match &self.step {
            Step::Pick => self.picker.draw(frame, area, theme),
            Step::Params(form) => form.draw(frame, area, theme),
            Step::Preview { rendered, .. } => {
                let Some(template) = self.template() else { return };
                let (text, style, keys) = match rendered {
                    Some(Ok(text)) => (text.clone(), theme.bold(), vec![("y", " send   "), ("Esc", " back")]),
                    Some(Err(why)) => (why.clone(), theme.bad(), vec![("Esc", " back to the parameters")]),
                    None => ("rendering…".to_string(), theme.dim(), vec![("Esc", " back")]),
                };
                let body_lines = text.lines().map(|l| l.chars().count() / 60 + 1).sum::<usize>().max(1) as u16;
                let title = format!("{} · 3/3 preview", template.name);
                let inner = boxed(frame, centered(area, 68, body_lines + 6), &title, theme);
                let mut lines = vec![
                    Line::styled(format!("To {} ({}):", self.recipient, template.language), theme.dim()),
                    Line::raw(""),
                ];
                lines.extend(text.lines().map(|l| Line::styled(l.to_string(), style)));
                lines.push(Line::raw(""));
                lines.push(Line::from(
                    keys.into_iter()
                        .flat_map(|(k, does)| [Span::styled(k, theme.bold()), Span::raw(does)])
                        .collect::<Vec<_>>(),
                ));
                frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{ch, key};

    fn order_update() -> TemplateRow {
        TemplateRow {
            name: "order_update".into(),
            language: "en_US".into(),
            preview: "Hi {{1}}, order {{2}} ships today".into(),
        }
    }

    #[test]
    fn enter_alone_never_sends() {
        let mut popup = TemplateSend::new("Ana");
        popup.set_templates(&[order_update()]);
        for _ in 0..5 {
            assert_eq!(popup.handle_key(key(KeyCode::Enter)), Outcome::Open);
        }
        for c in "Ana".chars() {
            popup.handle_key(ch(c));
        }
        popup.handle_key(key(KeyCode::Enter));
        for c in "4411".chars() {
            popup.handle_key(ch(c));
        }
        assert_eq!(popup.handle_key(key(KeyCode::Enter)), Outcome::Open, "on to the preview");
        let wanted = popup.take_render_request().expect("core is asked to render");
        assert_eq!(wanted, RenderWanted { name: "order_update".into(), params: vec!["Ana".into(), "4411".into()] });
        assert_eq!(popup.take_render_request(), None, "once");
        assert_eq!(popup.handle_key(ch('y')), Outcome::Open, "nothing is sent before core rendered it");
        popup.set_preview(&wanted, Err("template order_update cannot be rendered".into()));
        assert_eq!(popup.handle_key(ch('y')), Outcome::Open, "nor when core refused it");
        popup.set_preview(&wanted, Ok("Hi Ana, order 4411 ships today".into()));
        assert_eq!(popup.handle_key(key(KeyCode::Enter)), Outcome::Open, "the preview wants y");
        assert_eq!(
            popup.handle_key(ch('y')),
            Outcome::Done(TemplateChoice {
                name: "order_update".into(),
                language: "en_US".into(),
                params: vec!["Ana".into(), "4411".into()],
            })
        );
    }
}
