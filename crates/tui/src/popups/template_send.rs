//! Sending a template outside the 24-hour window, in three deliberate steps: pick an approved
//! template, fill in each of its parameters, then read the message as the customer will and confirm
//! with `y`. Nothing is filled in on the agent's behalf, and no single key sends.

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
    Preview { params: Vec<String>, form: Option<Form> },
}

#[derive(Debug)]
pub struct TemplateSend {
    /// Who it goes to, as the preview names them.
    recipient: String,
    templates: Vec<TemplateRow>,
    picker: Picker,
    step: Step,
}

/// The body with `{{n}}` replaced by the n-th parameter (missing ones stay as written).
pub fn render(content: &str, params: &[String]) -> String {
    let mut out = String::with_capacity(content.len());
    let mut rest = content;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let filled = after.split_once("}}").and_then(|(index, tail)| {
            let value = params.get(index.trim().parse::<usize>().ok()?.checked_sub(1)?)?;
            Some((value, tail))
        });
        match filled {
            Some((value, tail)) => {
                out.push_str(value);
                rest = tail;
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

impl TemplateSend {
    pub fn new(recipient: impl Into<String>) -> TemplateSend {
        TemplateSend {
            recipient: recipient.into(),
            templates: Vec::new(),
            picker: Picker::new("Send a template · 1/3 pick", Vec::new()),
            step: Step::Pick,
        }
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
                    self.step = if count == 0 {
                        Step::Preview { params: Vec::new(), form: None }
                    } else {
                        let labels = (1..=count).map(|i| format!("{{{{{i}}}}}")).collect();
                        Step::Params(Form::new(
                            format!("{} · 2/3 parameters", template.name),
                            vec![template.preview.clone()],
                            labels,
                        ))
                    };
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
                    self.step = Step::Preview { params, form: Some(form) };
                    Outcome::Open
                }
                Outcome::Cancelled => {
                    self.step = Step::Pick;
                    Outcome::Open
                }
                Outcome::Open => Outcome::Open,
            },
            Step::Preview { params, form } => match key.code {
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
            Step::Preview { params, .. } => {
                let Some(template) = self.template() else { return };
                let text = render(&template.preview, params);
                let body_lines = (text.chars().count() / 60 + text.lines().count()).max(1) as u16;
                let title = format!("{} · 3/3 preview", template.name);
                let inner = boxed(frame, centered(area, 68, body_lines + 6), &title, theme);
                let lines = vec![
                    Line::styled(format!("To {} ({}):", self.recipient, template.language), theme.dim()),
                    Line::raw(""),
                    Line::styled(text, theme.bold()),
                    Line::raw(""),
                    Line::from(vec![
                        Span::styled("y", theme.bold()),
                        Span::raw(" send   "),
                        Span::styled("Esc", theme.bold()),
                        Span::raw(" back"),
                    ]),
                ];
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
    fn parameters_are_substituted_by_position() {
        let params = vec!["Ana".to_string(), "4411".to_string()];
        assert_eq!(render("Hi {{1}}, order {{ 2 }} ships", &params), "Hi Ana, order 4411 ships");
        assert_eq!(render("{{3}} and {{x}} stay", &params), "{{3}} and {{x}} stay");
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
