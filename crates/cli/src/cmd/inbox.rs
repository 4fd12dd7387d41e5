//! `wacrm inbox`: conversations, chat history, replies and conversation state.

use std::io::Write;

use anyhow::Result;
use chrono::{Local, Offset, Utc};
use clap::{ArgGroup, Subcommand};
use serde::Serialize;
use wacrm_core::inbox::conversations::{self, Assignee, Conversation, Cursor, Filter, Page, Resolution};
use wacrm_core::inbox::notes;
use wacrm_core::inbox::send::{self, Compose, Outgoing, Sender, TemplateCategory};
use wacrm_core::inbox::workflow::{self, SnoozeUntil};
use wacrm_core::whatsapp::client::GraphClient;
use wacrm_core::{AccountId, MessageId, Stage, UserId};

use crate::cmd::rows;
use crate::context::Context;
use crate::output::Format;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List conversations, newest first (one per contact), with the time left in each 24-hour window.
    ///
    /// Example: wacrm inbox list --unread --mine --closing-within 2
    #[command(group(ArgGroup::new("view").args(["mine", "unassigned", "assigned"])))]
    #[command(group(ArgGroup::new("state").args(["open", "resolved", "snoozed"])))]
    List {
        /// Only conversations with unread customer messages.
        #[arg(long)]
        unread: bool,
        /// Only contacts in this pipeline stage (New, Engaged, Interested, Paid, Lost).
        #[arg(long)]
        stage: Option<Stage>,
        /// Only contacts with this tag (case-insensitive).
        #[arg(long)]
        tag: Option<String>,
        /// Only conversations assigned to you (needs `wacrm login`).
        #[arg(long)]
        mine: bool,
        /// Only conversations nobody is assigned to.
        #[arg(long)]
        unassigned: bool,
        /// Only conversations assigned to this user id (`wacrm users list` shows ids).
        #[arg(long, value_name = "USER")]
        assigned: Option<UserId>,
        /// Only conversations neither resolved nor snoozed.
        #[arg(long)]
        open: bool,
        /// Only resolved conversations.
        #[arg(long)]
        resolved: bool,
        /// Only snoozed conversations (until their time comes or the customer writes).
        #[arg(long)]
        snoozed: bool,
        /// Only conversations whose 24-hour window is open and closes within this many hours.
        #[arg(long, value_name = "HOURS")]
        closing_within: Option<f64>,
        /// Search the contact's name or phone and the chat's messages.
        #[arg(long, value_name = "TEXT")]
        search: Option<String>,
        /// Conversations per page (1-500).
        #[arg(long, default_value_t = 50, value_parser = rows(conversations::MAX_PAGE))]
        limit: i64,
        /// Continue after this cursor (printed with the previous page).
        #[arg(long, value_name = "CURSOR")]
        after: Option<Cursor>,
    },
    /// Show a chat's messages, oldest first: the latest page, or older ones with --before.
    ///
    /// Example: wacrm inbox show +14155552671 --limit 20
    Show {
        /// The contact: its id or phone number.
        contact: String,
        /// Messages per page (1-500).
        #[arg(long, default_value_t = 50, value_parser = rows(conversations::MAX_PAGE))]
        limit: i64,
        /// Show the messages before this cursor (printed with the previous page).
        #[arg(long, value_name = "CURSOR")]
        before: Option<Cursor>,
    },
    /// Send a reply (inside the 24-hour window) or a template (any time).
    ///
    /// Example: wacrm inbox send 42 --text "Your order ships today"
    /// Example: wacrm inbox send +14155552671 --template order_update --lang en_US --param Ana --param 4411 --category utility
    #[command(group(ArgGroup::new("what").args(["text", "template"]).required(true)))]
    Send {
        /// The contact: its id or phone number.
        contact: String,
        /// Free-form text (at most 4096 characters); only inside the customer's 24-hour window.
        #[arg(long)]
        text: Option<String>,
        /// Quote this message of the chat (its id from `wacrm inbox show`).
        #[arg(long, value_name = "MESSAGE", requires = "text")]
        reply_to: Option<MessageId>,
        /// An approved template's name; the way to write outside the 24-hour window.
        #[arg(long, value_name = "NAME")]
        template: Option<String>,
        /// The template's language code.
        #[arg(long, default_value = "en_US", requires = "template")]
        lang: String,
        /// A body parameter of the template ({{1}}, {{2}}, … in order); repeat for each.
        #[arg(long = "param", value_name = "VALUE", requires = "template")]
        params: Vec<String>,
        /// The template's category: marketing templates are never sent to contacts who opted out.
        #[arg(long, default_value = "marketing", requires = "template")]
        category: TemplateCategory,
        /// Send from this WhatsApp account id (default: the chat's number).
        #[arg(long, value_name = "ACCOUNT")]
        account: Option<AccountId>,
    },
    /// Mark a conversation read (and send WhatsApp's read receipt).
    ///
    /// Example: wacrm inbox read 42
    Read {
        /// The contact: its id or phone number.
        contact: String,
        /// Do not send the read receipt (the customer sees no blue ticks).
        #[arg(long)]
        no_receipt: bool,
    },
    /// Assign a conversation to a team member.
    ///
    /// Example: wacrm inbox assign 42 7
    Assign {
        /// The contact: its id or phone number.
        contact: String,
        /// The user id (`wacrm users list`).
        user: UserId,
    },
    /// Take a conversation off its agent.
    ///
    /// Example: wacrm inbox unassign 42
    Unassign {
        /// The contact: its id or phone number.
        contact: String,
    },
    /// Mark a conversation resolved; a new customer message reopens it.
    ///
    /// Example: wacrm inbox resolve 42
    Resolve {
        /// The contact: its id or phone number.
        contact: String,
    },
    /// Reopen a resolved or snoozed conversation.
    ///
    /// Example: wacrm inbox reopen 42
    Reopen {
        /// The contact: its id or phone number.
        contact: String,
    },
    /// Snooze a conversation: out of the open view until a time, or until the customer writes.
    ///
    /// Example: wacrm inbox snooze 42 --until 2h
    /// Example: wacrm inbox snooze +14155552671 --until "2026-03-12 09:00"
    Snooze {
        /// The contact: its id or phone number.
        contact: String,
        /// When it comes back: 30m, 2h, 3d, 1w, tomorrow (09:00), 17:30, "2026-03-12 09:00" (local time) or
        /// an RFC 3339 time.
        #[arg(long, value_name = "WHEN")]
        until: String,
    },
    /// Add a private note to a conversation (seen by the team, never sent to the customer).
    ///
    /// Example: wacrm inbox note 42 "Refund approved by Sam"
    Note {
        /// The contact: its id or phone number.
        contact: String,
        /// The note.
        text: String,
    },
    /// List a conversation's private notes, oldest first.
    ///
    /// Example: wacrm inbox notes 42 --json
    Notes {
        /// The contact: its id or phone number.
        contact: String,
        /// The newest this many notes (1-500).
        #[arg(long, default_value_t = 50, value_parser = rows(conversations::MAX_PAGE))]
        limit: i64,
    },
}

/// A conversation with its window written for people.
#[derive(Serialize)]
struct Row<'a> {
    #[serde(flatten)]
    conversation: &'a Conversation,
    window: String,
}

fn window_left(seconds: i64) -> String {
    if seconds <= 0 { "closed".into() } else { format!("{}h{:02}m", seconds / 3600, (seconds % 3600) / 60) }
}

const LIST_COLUMNS: &[&str] = &[
    "contact_id",
    "name",
    "stage",
    "unread_count",
    "assigned_to",
    "last_message_at",
    "last_direction",
    "preview",
    "window",
];

pub async fn run(ctx: &Context, command: Command) -> Result<()> {
    let scope = ctx.scope().await?;
    let pool = ctx.pool().await?;
    match command {
        Command::List {
            unread,
            stage,
            tag,
            mine,
            unassigned,
            assigned,
            open,
            resolved,
            snoozed,
            closing_within,
            search,
            limit,
            after,
        } => {
            let assignee = match (mine, unassigned, assigned) {
                (true, ..) => Assignee::Me,
                (_, true, _) => Assignee::Unassigned,
                (.., Some(user)) => Assignee::User(user),
                _ => Assignee::Anyone,
            };
            let resolution = match (open, resolved, snoozed) {
                (true, ..) => Some(Resolution::Open),
                (_, true, _) => Some(Resolution::Resolved),
                (.., true) => Some(Resolution::Snoozed),
                _ => None,
            };
            let filter = Filter {
                unread_only: unread,
                stage,
                tag,
                assignee,
                resolution,
                closing_within_hours: closing_within,
                search,
            };
            let page = conversations::list(pool, &scope, &filter, after, limit).await?;
            let rows: Vec<Row> = page
                .items
                .iter()
                .map(|c| Row { conversation: c, window: window_left(c.window_seconds_left) })
                .collect();
            render_page(ctx, &Page { items: rows, next: page.next }, LIST_COLUMNS, "--after")
        }
        Command::Show { contact, limit, before } => {
            let contact = conversations::find_contact(pool, &scope, &contact).await?;
            let page = conversations::history(pool, &scope, contact, before, limit).await?;
            render_page(
                ctx,
                &page,
                &["id", "sent_at", "direction", "kind", "status", "content", "error_code", "sender_name"],
                "--before",
            )
        }
        Command::Send { contact, text, reply_to, template, lang, params, category, account } => {
            let contact = conversations::find_contact(pool, &scope, &contact).await?;
            let compose = match (text, template) {
                (Some(body), _) => Compose::Text { body, reply_to },
                (None, Some(name)) => Compose::Template { name, language: lang, params, category },
                (None, None) => anyhow::bail!("pass --text \"…\" or --template NAME"),
            };
            let sender = Sender::from_settings(&ctx.settings);
            let sent = send::send(pool, &scope, &sender, &Outgoing { contact, compose, account }).await?;
            ctx.out.done(&format!("sent message {} to contact {} ({})", sent.id, sent.contact_id, sent.wamid), &sent)
        }
        Command::Read { contact, no_receipt } => {
            let contact = conversations::find_contact(pool, &scope, &contact).await?;
            let client = GraphClient::from_settings(&ctx.settings);
            let receipts = (!no_receipt).then_some(&client);
            let c = conversations::mark_read(pool, &scope, contact, receipts).await?;
            ctx.out.done(&format!("conversation with {} marked read", c.name), &c)
        }
        Command::Assign { contact, user } => {
            let contact = conversations::find_contact(pool, &scope, &contact).await?;
            let c = conversations::assign(pool, &scope, contact, user).await?;
            let agent = c.assigned_to.clone().unwrap_or_else(|| format!("user {user}"));
            ctx.out.done(&format!("conversation with {} assigned to {agent}", c.name), &c)
        }
        Command::Unassign { contact } => {
            let contact = conversations::find_contact(pool, &scope, &contact).await?;
            let c = conversations::unassign(pool, &scope, contact).await?;
            ctx.out.done(&format!("conversation with {} unassigned", c.name), &c)
        }
        Command::Resolve { contact } => {
            let contact = conversations::find_contact(pool, &scope, &contact).await?;
            let c = conversations::resolve(pool, &scope, contact).await?;
            ctx.out.done(&format!("conversation with {} resolved", c.name), &c)
        }
        Command::Reopen { contact } => {
            let contact = conversations::find_contact(pool, &scope, &contact).await?;
            let c = conversations::reopen(pool, &scope, contact).await?;
            ctx.out.done(&format!("conversation with {} reopened", c.name), &c)
        }
        Command::Snooze { contact, until } => {
            let contact = conversations::find_contact(pool, &scope, &contact).await?;
            let now = Utc::now();
            let until = SnoozeUntil::parse(&until, now, Local::now().offset().fix())?;
            let c = workflow::snooze(pool, &scope, contact, until).await?;
            let back = until.at().with_timezone(&Local).format("%a %d %b %H:%M");
            ctx.out.done(&format!("conversation with {} snoozed until {back} (or until they write)", c.name), &c)
        }
        Command::Note { contact, text } => {
            let contact = conversations::find_contact(pool, &scope, &contact).await?;
            let note = notes::add(pool, &scope, contact, &text).await?;
            ctx.out.done(&format!("note {} added to the conversation with contact {contact}", note.id), &note)
        }
        Command::Notes { contact, limit } => {
            let contact = conversations::find_contact(pool, &scope, &contact).await?;
            let notes = notes::list(pool, &scope, contact, limit).await?;
            ctx.out.list(&notes, &["id", "created_at", "author", "body"])
        }
    }
}

/// A page: JSON as `{"items": [...], "next": cursor}`; tables and CSV as rows, with the next page's
/// flag on stderr so pipes carry only rows.
fn render_page<T: Serialize>(ctx: &Context, page: &Page<T>, columns: &[&str], flag: &str) -> Result<()> {
    if ctx.out.format == Format::Json {
        return ctx.out.record(page);
    }
    ctx.out.list(&page.items, columns)?;
    if let Some(next) = page.next {
        writeln!(std::io::stderr().lock(), "next page: {flag} {next}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_read_as_hours_and_minutes() {
        assert_eq!(window_left(0), "closed");
        assert_eq!(window_left(-5), "closed");
        assert_eq!(window_left(3 * 3600 + 7 * 60 + 59), "3h07m");
    }
}
