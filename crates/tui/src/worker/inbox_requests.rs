//! The Inbox's requests: the list, chats, sending and the conversation workflow.

use wacrm_core::inbox::conversations::{self as inbox, Assignee, Conversation, Filter, Resolution};
use wacrm_core::inbox::send::{self, Compose, Outgoing, TemplateCategory};
use wacrm_core::inbox::{canned, notes, panel, workflow};
use wacrm_core::{ContactId, Direction, Error, MessageId, MessageStatus, auth, pipeline, templates};

use super::{CHAT_PAGE, CONVERSATION_PAGE, DEFAULT_TEMPLATE_LANGUAGE, Worker};
use crate::intent::{ConversationFilter, InboxRequest, Update};
use crate::view::{CannedRow, ChatMessage, ContactPanel, ConversationPage, ConversationRow, Teammate, TemplateRow};

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
                Update::Conversations {
                    page: ConversationPage {
                        rows: page.items.into_iter().map(conversation_row).collect(),
                        next: page.next,
                    },
                    appended: after.is_some(),
                    filter: shown,
                    search,
                }
            }
            InboxRequest::Conversation(contact) => {
                Update::Conversation(conversation_row(inbox::get(pool, scope, contact).await?))
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
                Update::Chat { contact, messages, older: page.next }
            }
            InboxRequest::OlderChat { contact, before } => {
                let page = inbox::history(pool, scope, contact, Some(before), CHAT_PAGE).await?;
                Update::OlderChat {
                    contact,
                    messages: page.items.into_iter().map(chat_message).collect(),
                    older: page.next,
                }
            }
            InboxRequest::Send { contact, text } => {
                self.send(contact, Compose::Text { body: text, reply_to: None }).await?;
                Update::Sent { contact }
            }
            InboxRequest::SendTemplate { contact, name, language, params } => {
                // The category is the strictest one until the templates dashboard stores categories,
                // so an opted-out contact never gets a promotion from here.
                let template = templates::approved(pool, scope)
                    .await?
                    .into_iter()
                    .find(|t| t.name == name)
                    .ok_or_else(|| Error::not_found(format!("approved template {name:?}")))?;
                let wanted = templates::parameter_count(&template.content);
                if params.len() != wanted {
                    return Err(Error::invalid(
                        format!("{name} takes {wanted} parameters, {} were filled in", params.len()),
                        "fill in every field of the template form",
                    ));
                }
                let compose = Compose::Template { name, language, params, category: TemplateCategory::Marketing };
                self.send(contact, compose).await?;
                Update::Sent { contact }
            }
            InboxRequest::MarkRead(contact) => Update::Conversation(conversation_row(
                inbox::mark_read(pool, scope, contact, Some(&self.sender.client)).await?,
            )),
            InboxRequest::Assign { contact, user } => {
                Update::Conversation(conversation_row(inbox::assign(pool, scope, contact, user).await?))
            }
            InboxRequest::Unassign(contact) => {
                Update::Conversation(conversation_row(inbox::unassign(pool, scope, contact).await?))
            }
            InboxRequest::Resolve(contact) => {
                Update::Conversation(conversation_row(inbox::resolve(pool, scope, contact).await?))
            }
            InboxRequest::Reopen(contact) => {
                Update::Conversation(conversation_row(inbox::reopen(pool, scope, contact).await?))
            }
            InboxRequest::Snooze { contact, until } => {
                Update::Conversation(conversation_row(workflow::snooze(pool, scope, contact, until).await?))
            }
            InboxRequest::AddNote { contact, body } => {
                notes::add(pool, scope, contact, &body).await?;
                Update::NoteAdded { contact }
            }
            InboxRequest::Teammates => Update::Teammates(
                auth::teammates(pool, scope).await?.into_iter().map(|t| Teammate { id: t.id, name: t.name }).collect(),
            ),
            InboxRequest::Canned => Update::Canned(
                canned::list(pool, scope)
                    .await?
                    .into_iter()
                    .map(|c| CannedRow { shortcut: c.shortcut.to_string(), body: c.body, fields: c.fields })
                    .collect(),
            ),
            InboxRequest::Panel(contact) => {
                let p = panel::contact_panel(pool, scope, contact).await?;
                Update::Panel(ContactPanel {
                    contact,
                    profile_name: p.profile_name,
                    stage: p.stage,
                    tags: p.tags,
                    opted_out: p.opted_out_at.map(|_| p.opt_out_source.unwrap_or_else(|| "unknown".into())),
                    last_campaign: p.last_campaign.zip(p.last_campaign_at),
                    notes: p.notes,
                })
            }
            InboxRequest::AssignToMe(contact) => {
                let me = scope.user().ok_or_else(|| {
                    Error::invalid("nobody is logged in to assign to", "run `wacrm login`, then open the TUI again")
                })?;
                Update::Conversation(conversation_row(inbox::assign(pool, scope, contact, me).await?))
            }
            InboxRequest::SetStage { contact, stage } => {
                pipeline::move_stage(pool, scope, contact, stage).await?;
                Update::Conversation(conversation_row(inbox::get(pool, scope, contact).await?))
            }
            // Core lists no templates until the Templates dashboard lands; the picker says so.
            InboxRequest::Templates => Update::Templates(
                templates::approved(pool, scope)
                    .await?
                    .into_iter()
                    .map(|t| TemplateRow {
                        name: t.name,
                        language: DEFAULT_TEMPLATE_LANGUAGE.into(),
                        preview: t.content,
                    })
                    .collect(),
            ),
        })
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
    }
}
