//! The Inbox's requests: the list, chats, sending and the conversation workflow.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use wacrm_core::inbox::conversations::{self as inbox, Assignee, Conversation, Filter, Resolution};
use wacrm_core::inbox::send::{self, Compose, Outgoing, TemplateCategory};
use wacrm_core::inbox::{canned, media, notes, panel, workflow};
use wacrm_core::templates::TemplateRef;
use wacrm_core::{ContactId, Direction, Error, MessageId, MessageStatus, auth, pipeline, templates};

use super::{CHAT_PAGE, CONVERSATION_PAGE, DEFAULT_TEMPLATE_LANGUAGE, Worker};
use crate::intent::{ConversationFilter, InboxRequest, InboxUpdate, Update};
use crate::view::{CannedRow, ChatMessage, ContactPanel, ConversationPage, ConversationRow, Teammate, TemplateRow};
use crate::wording::explain;

impl Worker {
    pub(super) async fn inbox(&self, request: InboxRequest) -> Result<Update, Error> {
        let (pool, scope) = (&self.pool, &self.scope);
        Ok(match request {
            InboxRequest::Conversations { filter: shown, search, after } => {
                let filter = Filter {
                    unread_only: shown == ConversationFilter::Unread,
                    assignee: match shown {
                        ConversationFilter::Mine => Assignee::Me,
                        ConversationFilter::Unassigned => Assignee::Unassigned,
                        _ => Assignee::Anyone,
                    },
                    resolution: match shown {
                        ConversationFilter::Snoozed => Some(Resolution::Snoozed),
                        ConversationFilter::Resolved => Some(Resolution::Resolved),
                        _ => None,
                    },
                    search: search.clone(),
                    ..Filter::default()
                };
                let page = inbox::list(pool, scope, &filter, after, CONVERSATION_PAGE).await?;
                Update::Inbox(InboxUpdate::Conversations {
                    page: ConversationPage {
                        rows: page.items.into_iter().map(conversation_row).collect(),
                        next: page.next,
                    },
                    appended: after.is_some(),
                    filter: shown,
                    search,
                })
            }
            InboxRequest::Conversation(contact) => {
                Update::Inbox(InboxUpdate::Conversation(conversation_row(inbox::get(pool, scope, contact).await?)))
            }
            InboxRequest::Open(contact) => {
                let row = match inbox::get(pool, scope, contact).await {
                    Ok(conversation) => Some(conversation_row(conversation)),
                    Err(Error::NotFound { .. }) => None,
                    Err(error) => return Err(error),
                };
                Update::Inbox(InboxUpdate::Opened { contact, row })
            }
            InboxRequest::Chat(contact) => {
                let page = inbox::history(pool, scope, contact, None, CHAT_PAGE).await?;
                let mut messages: Vec<ChatMessage> = page.items.into_iter().map(chat_message).collect();
                // The notes among the loaded messages (all of them once the chat's start is loaded).
                let since = if page.next.is_some() { messages.first().map(|m| m.at) } else { None };
                let notes = notes::list(pool, scope, contact, CHAT_PAGE).await?;
                messages
                    .extend(notes.into_iter().filter(|n| since.is_none_or(|at| n.created_at >= at)).map(note_entry));
                messages.sort_by_key(|m| m.at);
                Update::Inbox(InboxUpdate::Chat { contact, messages, older: page.next })
            }
            InboxRequest::OlderChat { contact, before } => {
                let page = inbox::history(pool, scope, contact, Some(before), CHAT_PAGE).await?;
                Update::Inbox(InboxUpdate::OlderChat {
                    contact,
                    messages: page.items.into_iter().map(chat_message).collect(),
                    older: page.next,
                })
            }
            InboxRequest::Send { contact, text } => {
                self.send(contact, Compose::Text { body: text, reply_to: None }).await?;
                Update::Inbox(InboxUpdate::Sent { contact })
            }
            InboxRequest::SendTemplate { contact, name, language, params } => {
                // The category is the strictest one until the templates dashboard stores categories,
                // so an opted-out contact never gets a promotion from here.
                let template = templates::approved(pool, scope)
                    .await?
                    .into_iter()
                    .find(|t| t.name == name)
                    .ok_or_else(|| Error::not_found(format!("approved template {name:?}")))?;
                // The one render path: what core cannot render (a missing or unusable value) is not sent.
                self.render(contact, &template.name, &params).await?;
                let compose = Compose::Template { name, language, params, category: TemplateCategory::Marketing };
                self.send(contact, compose).await?;
                Update::Inbox(InboxUpdate::Sent { contact })
            }
            InboxRequest::MarkRead(contact) => Update::Inbox(InboxUpdate::Conversation(conversation_row(
                inbox::mark_read(pool, scope, contact, Some(&self.sender.client)).await?,
            ))),
            InboxRequest::Assign { contact, user } => Update::Inbox(InboxUpdate::Conversation(conversation_row(
                inbox::assign(pool, scope, contact, user).await?,
            ))),
            InboxRequest::Unassign(contact) => {
                Update::Inbox(InboxUpdate::Conversation(conversation_row(inbox::unassign(pool, scope, contact).await?)))
            }
            InboxRequest::Resolve(contact) => {
                Update::Inbox(InboxUpdate::Conversation(conversation_row(inbox::resolve(pool, scope, contact).await?)))
            }
            InboxRequest::Reopen(contact) => {
                Update::Inbox(InboxUpdate::Conversation(conversation_row(inbox::reopen(pool, scope, contact).await?)))
            }
            InboxRequest::Snooze { contact, until } => Update::Inbox(InboxUpdate::Conversation(conversation_row(
                workflow::snooze(pool, scope, contact, until).await?,
            ))),
            InboxRequest::AddNote { contact, body } => {
                notes::add(pool, scope, contact, &body).await?;
                Update::Inbox(InboxUpdate::NoteAdded { contact })
            }
            InboxRequest::Teammates => Update::Inbox(InboxUpdate::Teammates(
                auth::teammates(pool, scope).await?.into_iter().map(|t| Teammate { id: t.id, name: t.name }).collect(),
            )),
            InboxRequest::Canned => Update::Inbox(InboxUpdate::Canned(
                canned::list(pool, scope)
                    .await?
                    .into_iter()
                    .map(|c| CannedRow { shortcut: c.shortcut.to_string(), body: c.body, fields: c.fields })
                    .collect(),
            )),
            InboxRequest::Panel(contact) => {
                let p = panel::contact_panel(pool, scope, contact).await?;
                Update::Inbox(InboxUpdate::Panel(ContactPanel {
                    contact,
                    profile_name: p.profile_name,
                    stage: p.stage,
                    tags: p.tags,
                    opted_out: p.opted_out_at.map(|_| p.opt_out_source.unwrap_or_else(|| "unknown".into())),
                    last_campaign: p.last_campaign.zip(p.last_campaign_at),
                    notes: p.notes,
                }))
            }
            InboxRequest::AssignToMe(contact) => {
                let me = scope.user().ok_or_else(|| {
                    Error::invalid("nobody is logged in to assign to", "run `wacrm login`, then open the TUI again")
                })?;
                Update::Inbox(InboxUpdate::Conversation(conversation_row(
                    inbox::assign(pool, scope, contact, me).await?,
                )))
            }
            InboxRequest::SetStage { contact, stage } => {
                pipeline::move_stage(pool, scope, contact, stage).await?;
                Update::Inbox(InboxUpdate::Conversation(conversation_row(inbox::get(pool, scope, contact).await?)))
            }
            // Core lists no templates until the Templates dashboard lands; the picker says so.
            InboxRequest::Templates => Update::Inbox(InboxUpdate::Templates(
                templates::approved(pool, scope)
                    .await?
                    .into_iter()
                    .map(|t| TemplateRow {
                        name: t.name,
                        language: DEFAULT_TEMPLATE_LANGUAGE.into(),
                        preview: t.content,
                    })
                    .collect(),
            )),
            InboxRequest::RenderTemplate { contact, name, params } => {
                let result = self.render(contact, &name, &params).await.map_err(|e| explain(&e));
                Update::Inbox(InboxUpdate::TemplatePreview { contact, name, params, result })
            }
            InboxRequest::Media(message) => {
                let saved = media::download(pool, scope, &self.sender.client, message, &media_cache()).await?;
                Update::Inbox(InboxUpdate::Media { opened: open_file(&saved.path), path: saved.path })
            }
        })
    }

    /// The template as `contact` would get it: header, body, footer and buttons, one per line.
    async fn render(&self, contact: ContactId, name: &str, params: &[String]) -> Result<String, Error> {
        let explicit = params.iter().enumerate().map(|(i, p)| ((i + 1).to_string(), p.clone())).collect();
        let reference = TemplateRef::Name { name: name.to_string(), language: None };
        let r = templates::render_for_contact(&self.pool, &self.scope, &reference, contact, explicit).await?;
        let buttons = r.buttons.iter().map(|b| format!("[{}]", b.text.as_deref().unwrap_or(&b.kind)));
        let lines: Vec<String> = r.header.into_iter().chain([r.body]).chain(r.footer).chain(buttons).collect();
        Ok(lines.join("\n"))
    }

    async fn send(&self, contact: ContactId, compose: Compose) -> Result<(), Error> {
        send::send(&self.pool, &self.scope, &self.sender, &Outgoing { contact, compose, account: None }).await?;
        Ok(())
    }
}

fn conversation_row(c: Conversation) -> ConversationRow {
    ConversationRow {
        contact: c.contact_id,
        phone: c.phone.unwrap_or_default(),
        name: c.name,
        stage: c.stage,
        unread: c.unread_count,
        last_message: c.preview,
        last_direction: c.last_direction,
        last_at: Some(c.last_message_at),
        last_inbound_at: c.last_inbound_at,
        assigned: c.assigned_to,
        assigned_id: c.assigned_user_id,
        resolved: c.resolved_at.is_some(),
        snoozed_until: c.snoozed_until,
    }
}

fn note_entry(n: notes::Note) -> ChatMessage {
    ChatMessage {
        id: MessageId(-n.id),
        direction: Direction::Out,
        body: n.body,
        status: MessageStatus::Sent,
        at: n.created_at,
        error: None,
        sender: n.author,
        note: true,
        media: false,
    }
}

fn chat_message(m: inbox::ChatMessage) -> ChatMessage {
    let error = match (m.error_title, m.error_detail, m.error_code) {
        (Some(title), Some(detail), _) if title != detail => Some(format!("{title}: {detail}")),
        (Some(text), _, _) | (None, Some(text), _) => Some(text),
        (None, None, Some(code)) => Some(format!("error {code}")),
        (None, None, None) => None,
    };
    let body = match (m.kind.as_str(), m.content.is_empty()) {
        ("text", _) => m.content,
        // Sends store templates already labelled ("[template order_update (en_US)]: …").
        (_, false) if m.content.starts_with('[') => m.content,
        (kind, true) => format!("[{kind}]"),
        (kind, false) => format!("[{kind}] {}", m.content),
    };
    ChatMessage {
        id: m.id,
        direction: m.direction,
        body,
        status: m.status.unwrap_or(MessageStatus::Sent),
        at: m.sent_at,
        error,
        sender: m.sender_name,
        note: false,
        media: m.has_media,
    }
}

/// Where downloaded media is kept: `$WACRM_MEDIA_DIR`, else the user's cache directory.
fn media_cache() -> PathBuf {
    std::env::var_os("WACRM_MEDIA_DIR")
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|d| d.join("wacrm").join("media")))
        .unwrap_or_else(|| std::env::temp_dir().join("wacrm-media"))
}

/// Starts the system opener on `path` (`$WACRM_OPENER` if set); false when there is no display to open
/// it on (over ssh, or no X/Wayland session), so the path is shown instead.
fn open_file(path: &Path) -> bool {
    let opener = match std::env::var_os("WACRM_OPENER") {
        Some(opener) => opener,
        None if std::env::var_os("SSH_CONNECTION").is_some() => return false,
        None if cfg!(target_os = "macos") => "open".into(),
        None if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() => {
            return false;
        }
        None => "xdg-open".into(),
    };
    // Detached and silent: the opener's chatter must not draw over the screen.
    std::process::Command::new(opener)
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        // Reaped in the background, so a finished opener leaves no zombie behind.
        .map(|mut child| std::thread::spawn(move || child.wait()))
        .is_ok()
}
