//! Database work off the render loop: each request runs as its own task against core and reports back
//! as an [`Update`]. The only place the TUI touches core's operations.

use std::sync::Arc;

use tokio::sync::mpsc::UnboundedSender;
use wacrm_core::auth;
use wacrm_core::billing;
use wacrm_core::contacts::import::{ImportOptions, import};
use wacrm_core::contacts::{self, Contact, ContactChanges, ContactFilter, FileFormat, NewContact, Sort};
use wacrm_core::db::Pool;
use wacrm_core::inbox::conversations::{self as inbox, Assignee, Conversation, Filter, Resolution};
use wacrm_core::inbox::send::{self, Compose, Outgoing, Sender, TemplateCategory};
use wacrm_core::inbox::workflow;
use wacrm_core::inbox::{canned, notes, panel};
use wacrm_core::{ContactId, Direction, Error, MessageId, MessageStatus, Scope};
use wacrm_core::{pipeline, templates};

use crate::intent::{ContactDraft, ContactQuery, ContactSort, ConversationFilter, Request, Update};
use crate::view::{
    BillingView, CannedRow, Card, ChatMessage, Column, ContactPanel, ContactRow, ConversationPage, ConversationRow,
    DbState, HistoryRow, Teammate, TemplateRow,
};

/// The seed's templates carry no language; Meta needs one, so the picker sends this one.
const DEFAULT_TEMPLATE_LANGUAGE: &str = "en_US";

/// Conversations per page: a few screens' worth, so scrolling rarely waits.
pub const CONVERSATION_PAGE: i64 = 200;
/// Messages of a chat loaded when it opens.
pub const CHAT_PAGE: i64 = 100;
/// Contacts per page of the table.
pub const CONTACT_PAGE: i64 = 200;
/// Cards per board column.
pub const BOARD_CARDS: i64 = 100;

/// What every task needs.
pub struct Worker {
    pub pool: Pool,
    pub scope: Scope,
    pub sender: Sender,
    pub updates: UnboundedSender<Update>,
}

impl Worker {
    /// Runs `request` in the background; its outcome arrives on the update channel.
    pub fn spawn(self: &Arc<Self>, request: Request) {
        let worker = Arc::clone(self);
        tokio::spawn(async move {
            let what = request_name(&request);
            let update = match worker.perform(request).await {
                Ok(update) => update,
                Err(error) => {
                    tracing::warn!(what, "request failed: {error}");
                    if matches!(error, Error::Unavailable { .. }) {
                        let _ = worker.updates.send(Update::Db(DbState::Reconnecting));
                    }
                    failure(what, &error)
                }
            };
            let _ = worker.updates.send(update);
        });
    }

    /// Does one request now (the benches time this; the event loop goes through [`Worker::spawn`]).
    pub async fn perform(&self, request: Request) -> Result<Update, Error> {
        let (pool, scope) = (&self.pool, &self.scope);
        Ok(match request {
            Request::Identity => {
                let who = auth::identity(pool, scope).await?;
                Update::Identity { user: who.label(), business: who.business_name, user_id: who.user }
            }
            Request::UnreadTotal => Update::UnreadTotal { count: inbox::unread_total(pool, scope).await? },
            Request::Conversations { filter: shown, search, after } => {
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
            Request::Conversation(contact) => {
                Update::Conversation(conversation_row(inbox::get(pool, scope, contact).await?))
            }
            Request::Chat(contact) => {
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
            Request::OlderChat { contact, before } => {
                let page = inbox::history(pool, scope, contact, Some(before), CHAT_PAGE).await?;
                Update::OlderChat {
                    contact,
                    messages: page.items.into_iter().map(chat_message).collect(),
                    older: page.next,
                }
            }
            Request::Send { contact, text } => {
                self.send(contact, Compose::Text { body: text, reply_to: None }).await?;
                Update::Sent { contact }
            }
            Request::SendTemplate { contact, name, language, params } => {
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
            Request::MarkRead(contact) => Update::Conversation(conversation_row(
                inbox::mark_read(pool, scope, contact, Some(&self.sender.client)).await?,
            )),
            Request::Assign { contact, user } => {
                Update::Conversation(conversation_row(inbox::assign(pool, scope, contact, user).await?))
            }
            Request::Unassign(contact) => {
                Update::Conversation(conversation_row(inbox::unassign(pool, scope, contact).await?))
            }
            Request::Resolve(contact) => {
                Update::Conversation(conversation_row(inbox::resolve(pool, scope, contact).await?))
            }
            Request::Reopen(contact) => {
                Update::Conversation(conversation_row(inbox::reopen(pool, scope, contact).await?))
            }
            Request::Snooze { contact, until } => {
                Update::Conversation(conversation_row(workflow::snooze(pool, scope, contact, until).await?))
            }
            Request::AddNote { contact, body } => {
                notes::add(pool, scope, contact, &body).await?;
                Update::NoteAdded { contact }
            }
            Request::Teammates => Update::Teammates(
                auth::teammates(pool, scope).await?.into_iter().map(|t| Teammate { id: t.id, name: t.name }).collect(),
            ),
            Request::Canned => Update::Canned(
                canned::list(pool, scope)
                    .await?
                    .into_iter()
                    .map(|c| CannedRow { shortcut: c.shortcut.to_string(), body: c.body, fields: c.fields })
                    .collect(),
            ),
            Request::Panel(contact) => {
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
            Request::AssignToMe(contact) => {
                let me = scope.user().ok_or_else(|| {
                    Error::invalid("nobody is logged in to assign to", "run `wacrm login`, then open the TUI again")
                })?;
                Update::Conversation(conversation_row(inbox::assign(pool, scope, contact, me).await?))
            }
            Request::SetStage { contact, stage } => {
                pipeline::move_stage(pool, scope, contact, stage).await?;
                Update::Conversation(conversation_row(inbox::get(pool, scope, contact).await?))
            }
            // Core lists no templates until the Templates dashboard lands; the picker says so.
            Request::Templates => Update::Templates(
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
            Request::Contacts { query, after } => {
                let page = self.contacts(&query, after.as_deref()).await?;
                Update::Contacts {
                    rows: page.items.into_iter().map(contact_row).collect(),
                    next: page.next,
                    appended: after.is_some(),
                }
            }
            Request::SaveContact(draft) => match self.save_contact(draft).await {
                Ok(row) => Update::ContactSaved(row),
                Err(Error::Invalid { message, .. } | Error::Conflict { message, .. }) => Update::FormError(message),
                Err(other) => return Err(other),
            },
            Request::Tags { contact, add, remove } => {
                if !add.is_empty() {
                    contacts::add_tags(pool, scope, contact, &add).await?;
                }
                let saved = if remove.is_empty() {
                    contacts::get(pool, scope, contact).await?
                } else {
                    contacts::remove_tags(pool, scope, contact, &remove).await?
                };
                Update::ContactSaved(contact_row(saved))
            }
            Request::Import(path) => {
                let file =
                    std::fs::File::open(&path).map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
                let total = file.metadata().map(|m| m.len()).ok();
                let format = match path.extension().and_then(|e| e.to_str()) {
                    Some("jsonl" | "ndjson") => FileFormat::Jsonl,
                    _ => FileFormat::Csv,
                };
                let updates = self.updates.clone();
                // Progress in bytes of the file read: the row count is unknown until the end.
                let report = import(pool, scope, file, &ImportOptions::new(format), move |report| {
                    let _ = updates.send(Update::ImportProgress { done: report.bytes_read, total });
                })
                .await?;
                let rejected: Vec<String> = report
                    .rejected_rows
                    .iter()
                    .chain(&report.stage_blocked)
                    .map(|r| format!("{}: line {} ({}): {}", path.display(), r.line, r.phone, r.reason))
                    .collect();
                if !rejected.is_empty() {
                    let _ = self.updates.send(Update::Notices(rejected));
                }
                Update::ImportDone(format!(
                    "imported {}: {} created, {} updated, {} rejected",
                    path.display(),
                    report.created,
                    report.updated,
                    report.rejected
                ))
            }
            Request::Board => {
                let columns = pipeline::board(pool, scope, BOARD_CARDS).await?;
                Update::Board(
                    columns
                        .into_iter()
                        .map(|c| Column {
                            stage: c.stage,
                            count: c.count,
                            cards: c.contacts.into_iter().map(card).collect(),
                        })
                        .collect(),
                )
            }
            Request::History(contact) => {
                let mut rows: Vec<HistoryRow> = pipeline::history(pool, scope, Some(contact), 50)
                    .await?
                    .into_iter()
                    .filter_map(|h| Some(HistoryRow { from: h.from, to: h.to?, at: h.changed_at?, source: h.source }))
                    .collect();
                rows.reverse();
                Update::History { contact, rows }
            }
            Request::Billing => match billing::subscription(pool, scope).await? {
                Some(s) => Update::Billing(BillingView {
                    plan: s.plan,
                    conversation_limit: s.conversation_limit,
                    status: s.status.to_string(),
                    renews_at: s.renews_at,
                }),
                None => Update::Failed { what: "billing", message: "no active subscription".into() },
            },
        })
    }

    async fn send(&self, contact: ContactId, compose: Compose) -> Result<(), Error> {
        send::send(&self.pool, &self.scope, &self.sender, &Outgoing { contact, compose, account: None }).await?;
        Ok(())
    }

    async fn contacts(&self, query: &ContactQuery, after: Option<&str>) -> Result<contacts::Page<Contact>, Error> {
        let filter = ContactFilter {
            query: query.search.clone(),
            stage: query.stage,
            tags_any: query.tag.iter().cloned().collect(),
            ..ContactFilter::default()
        };
        let sort = match query.sort {
            ContactSort::LastActive => Sort::Active,
            ContactSort::Name => Sort::Name,
            ContactSort::Created => Sort::Created,
        };
        contacts::list(&self.pool, &self.scope, &filter, sort, after, CONTACT_PAGE).await
    }

    async fn save_contact(&self, draft: ContactDraft) -> Result<ContactRow, Error> {
        let (pool, scope) = (&self.pool, &self.scope);
        let saved = match draft.id {
            None => {
                let new =
                    NewContact { phone: draft.phone, name: Some(draft.name), stage: draft.stage, tags: draft.tags };
                contacts::create(pool, scope, &new).await?
            }
            Some(id) => {
                let before = contacts::get(pool, scope, id).await?;
                let changes = ContactChanges {
                    name: Some(draft.name),
                    phone: (!draft.phone.is_empty() && before.phone.as_deref() != Some(draft.phone.as_str()))
                        .then_some(draft.phone),
                };
                contacts::update(pool, scope, id, &changes).await?;
                if let Some(stage) = draft.stage.filter(|s| *s != before.stage) {
                    pipeline::move_stage(pool, scope, id, stage).await?;
                }
                let add: Vec<String> = draft.tags.iter().filter(|t| !has_tag(&before.tags, t)).cloned().collect();
                let remove: Vec<String> = before.tags.iter().filter(|t| !has_tag(&draft.tags, t)).cloned().collect();
                if !add.is_empty() {
                    contacts::add_tags(pool, scope, id, &add).await?;
                }
                if !remove.is_empty() {
                    contacts::remove_tags(pool, scope, id, &remove).await?;
                }
                contacts::get(pool, scope, id).await?
            }
        };
        Ok(contact_row(saved))
    }
}

fn has_tag(tags: &[String], tag: &str) -> bool {
    tags.iter().any(|t| t.eq_ignore_ascii_case(tag))
}

/// The name a failed request goes by in the status bar (and that panes match on).
fn request_name(request: &Request) -> &'static str {
    match request {
        Request::Identity => "identity",
        Request::UnreadTotal => "unread",
        Request::Conversations { .. } => "conversations",
        Request::Conversation(_) => "conversation",
        Request::Chat(_) | Request::OlderChat { .. } => "chat",
        Request::Send { .. } | Request::SendTemplate { .. } => "send",
        Request::MarkRead(_) => "mark read",
        Request::AssignToMe(_) | Request::Assign { .. } | Request::Unassign(_) => "assign",
        Request::Resolve(_) => "resolve",
        Request::Reopen(_) => "reopen",
        Request::Snooze { .. } => "snooze",
        Request::AddNote { .. } => "note",
        Request::Teammates => "teammates",
        Request::Canned => "canned replies",
        Request::Panel(_) => "contact panel",
        Request::SetStage { .. } => "stage",
        Request::Templates => "templates",
        Request::Contacts { .. } => "contacts",
        Request::SaveContact(_) | Request::Tags { .. } => "contact",
        Request::Import(_) => "import",
        Request::Board => "board",
        Request::History(_) => "history",
        Request::Billing => "billing",
    }
}

fn failure(what: &'static str, error: &Error) -> Update {
    let message = match error.hint() {
        Some(hint) => format!("{error} ({hint})"),
        None => error.to_string(),
    };
    Update::Failed { what, message }
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

fn contact_row(c: Contact) -> ContactRow {
    ContactRow {
        id: c.id,
        name: c.name.or(c.profile_name).unwrap_or_default(),
        phone: c.phone.unwrap_or_default(),
        stage: c.stage,
        tags: c.tags,
        last_active: c.last_active,
    }
}

fn card(c: Contact) -> Card {
    let phone = c.phone.unwrap_or_default();
    Card {
        contact: c.id,
        name: c.name.or(c.profile_name).unwrap_or_else(|| phone.clone()),
        phone,
        last_active: c.last_active,
    }
}
