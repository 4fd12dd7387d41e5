//! Test data and helpers: a fixed clock, a demo-like tenant's rows, and rendering into a TestBackend.

use chrono::{DateTime, Duration, FixedOffset, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use wacrm_core::events::Recorded as Event;
use wacrm_core::{BusinessId, ContactId, Direction, MessageId, MessageStatus, Stage, UserId};

use crate::app::App;
use crate::intent::{ConversationFilter, InboxUpdate, Intent, Request, Update};
use crate::panes::Env;
use crate::panes::analytics::{AnalyticsView, RangeChoice};
use crate::panes::automation::{RuleRow, RunRow};
use crate::panes::billing::BillingView;
use crate::panes::broadcast::{CampaignDetail, CampaignRow, Failure};
use crate::panes::templates::TemplateItem;
use crate::theme::Theme;
use crate::view::{
    Card, ChatMessage, Column, ContactRow, ConversationPage, ConversationRow, DbState, HistoryRow, TemplateRow,
};

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0).single().expect("a valid time")
}

pub fn utc() -> FixedOffset {
    FixedOffset::east_opt(0).expect("UTC")
}

pub fn env() -> Env {
    Env { now: now(), offset: utc(), theme: Theme { color: false }, me: Some(UserId(2)) }
}

pub fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

pub fn ch(c: char) -> KeyEvent {
    key(KeyCode::Char(c))
}

pub fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

pub fn loads(intents: &[Intent]) -> Vec<Request> {
    intents.iter().filter_map(|i| if let Intent::Load(r) = i { Some(r.clone()) } else { None }).collect()
}

pub fn templates() -> Vec<TemplateRow> {
    let row = |name: &str, preview: &str| TemplateRow {
        name: name.into(),
        language: "en_US".into(),
        preview: preview.into(),
    };
    vec![
        row("back_in_stock", "Good news: the beans you asked about are back."),
        row("order_update", "Hi {{1}}, your order {{2}} ships today."),
    ]
}

pub fn conversation(id: i32, name: &str, minutes_ago: i64) -> ConversationRow {
    ConversationRow {
        contact: ContactId(id),
        name: name.into(),
        phone: format!("+1202555{:04}", id),
        stage: Stage::Engaged,
        unread: 0,
        last_message: "Thanks, talk soon".into(),
        last_direction: Some(Direction::In),
        last_at: Some(now() - Duration::minutes(minutes_ago)),
        last_inbound_at: Some(now() - Duration::minutes(minutes_ago)),
        assigned: None,
        assigned_id: None,
        resolved: false,
        snoozed_until: None,
    }
}

pub fn conversations() -> Vec<ConversationRow> {
    vec![
        ConversationRow {
            unread: 2,
            last_message: "Do you ship to Lisbon? 📦".into(),
            stage: Stage::Interested,
            assigned: Some("Ana Agent".into()),
            assigned_id: Some(UserId(2)),
            ..conversation(1, "Maria Costa", 3)
        },
        ConversationRow {
            last_direction: Some(Direction::Out),
            last_message: "Your order is on its way".into(),
            stage: Stage::Paid,
            ..conversation(2, "João Pereira", 95)
        },
        ConversationRow {
            last_inbound_at: Some(now() - Duration::hours(30)),
            stage: Stage::New,
            ..conversation(3, "Li Wei 李伟", 60 * 30)
        },
        ConversationRow { stage: Stage::Lost, ..conversation(4, "Sam O'Neil", 60 * 24 * 9) },
    ]
}

pub fn message(id: i32, direction: Direction, body: &str, status: MessageStatus, minutes_ago: i64) -> ChatMessage {
    ChatMessage {
        id: MessageId(id),
        direction,
        body: body.into(),
        status,
        at: now() - Duration::minutes(minutes_ago),
        error: None,
        sender: None,
        note: false,
        media: false,
    }
}

pub fn chat() -> Vec<ChatMessage> {
    vec![
        message(1, Direction::In, "Hello! Is the Yirgacheffe in stock?", MessageStatus::Read, 60 * 26),
        ChatMessage {
            sender: Some("Ana Agent".into()),
            ..message(2, Direction::Out, "Yes, roasted on Tuesday.", MessageStatus::Read, 60 * 25)
        },
        message(3, Direction::Out, "Want two bags?", MessageStatus::Delivered, 60 * 25 - 1),
        ChatMessage {
            error: Some("Re-engagement message: more than 24 hours have passed".into()),
            ..message(4, Direction::Out, "Following up on your order", MessageStatus::Failed, 60 * 2)
        },
        message(5, Direction::In, "Do you ship to Lisbon? 📦", MessageStatus::Delivered, 4),
        message(6, Direction::Out, "We do, 3-5 days.", MessageStatus::Sent, 3),
    ]
}

pub fn contacts() -> Vec<ContactRow> {
    vec![
        ContactRow {
            id: ContactId(1),
            name: "Maria Costa".into(),
            phone: "+12025550001".into(),
            stage: Stage::Interested,
            tags: vec!["vip".into(), "lisbon".into()],
            last_active: Some(now() - Duration::minutes(3)),
        },
        ContactRow {
            id: ContactId(2),
            name: "João Pereira".into(),
            phone: "+12025550002".into(),
            stage: Stage::Paid,
            tags: vec![],
            last_active: Some(now() - Duration::hours(2)),
        },
        ContactRow {
            id: ContactId(3),
            name: "".into(),
            phone: "+12025550003".into(),
            stage: Stage::New,
            tags: vec!["import".into()],
            last_active: None,
        },
    ]
}

pub fn board() -> Vec<Column> {
    let card = |id: i32, name: &str, hours: i64| Card {
        contact: ContactId(id),
        name: name.into(),
        phone: format!("+1202555{:04}", id),
        last_active: Some(now() - Duration::hours(hours)),
    };
    vec![
        Column { stage: Stage::New, count: 41, cards: vec![card(3, "Li Wei", 30), card(5, "Ravi Kumar", 50)] },
        Column { stage: Stage::Engaged, count: 1, cards: vec![card(6, "Chloé Martin", 1)] },
        Column { stage: Stage::Interested, count: 1, cards: vec![card(1, "Maria Costa", 0)] },
        Column { stage: Stage::Paid, count: 1, cards: vec![card(2, "João Pereira", 2)] },
        Column { stage: Stage::Lost, count: 0, cards: vec![] },
    ]
}

pub fn history() -> Vec<HistoryRow> {
    vec![
        HistoryRow { from: None, to: Stage::New, at: now() - Duration::days(6), source: "import".into() },
        HistoryRow {
            from: Some(Stage::New),
            to: Stage::Engaged,
            at: now() - Duration::days(4),
            source: "keyword".into(),
        },
    ]
}

pub fn live(kind: &str, contact: i32) -> Update {
    Update::Live(Event {
        id: 99,
        kind: kind.into(),
        business_id: BusinessId(1),
        contact_id: Some(ContactId(contact)),
        payload: serde_json::json!({}),
        created_at: now(),
    })
}

/// An app as `wacrm tui` shows it once the first loads have answered.
pub fn loaded_app() -> App {
    let mut app = App::new(now(), utc(), Theme { color: false });
    app.start();
    app.apply(Update::Identity {
        business: "Demo Coffee Roasters".into(),
        user: "Ana Agent (agent)".into(),
        user_id: Some(UserId(2)),
    });
    app.apply(Update::Db(DbState::Live));
    app.apply(Update::UnreadTotal { count: 2 });
    app.apply(Update::Inbox(InboxUpdate::Conversations {
        page: ConversationPage { rows: conversations(), next: None },
        appended: false,
        filter: ConversationFilter::All,
        search: None,
    }));
    app.apply(Update::Inbox(InboxUpdate::Chat { contact: ContactId(1), messages: chat(), older: None }));
    app
}

pub fn billing() -> BillingView {
    let month = |m: u32, conversations: i64, cost: &str| {
        (chrono::NaiveDate::from_ymd_opt(2026, m, 1).expect("a date"), conversations, cost.to_string())
    };
    BillingView {
        plan: Some("Starter".into()),
        conversation_limit: Some(2000),
        status: Some("active".into()),
        renews_at: Some(now() + Duration::days(12)),
        conversations: 1712,
        forecast_conversations: 5306,
        cost: "41.09".into(),
        forecast_cost: "127.38".into(),
        total_spend: "388.20".into(),
        categories: vec![("MARKETING".into(), 820, 0), ("UTILITY".into(), 96, 4), ("SERVICE".into(), 0, 796)],
        months: vec![month(1, 1480, "35.52"), month(2, 1631, "39.14"), month(3, 1712, "41.09")],
    }
}

pub fn template_items() -> Vec<TemplateItem> {
    let item = |id: i32, name: &str, status: &str, preview: &[&str]| TemplateItem {
        id,
        name: name.into(),
        language: "en_US".into(),
        category: Some("UTILITY".into()),
        status: status.into(),
        rejection_reason: None,
        quality: Some("GREEN".into()),
        preview: preview.iter().map(|l| l.to_string()).collect(),
        lint: Vec::new(),
        updated_at: now() - Duration::hours(5),
    };
    vec![
        item(1, "back_in_stock", "approved", &["Good news: the beans you asked about are back."]),
        item(2, "order_update", "pending", &["▌Your order", "Hi {{1}}, your order {{2}} ships today.", "[ Track ]"]),
        TemplateItem {
            category: Some("MARKETING".into()),
            rejection_reason: Some("INVALID_FORMAT: the body starts with a parameter".into()),
            lint: vec!["body: starts with a parameter (fix: put words before {{1}})".into()],
            ..item(3, "spring_sale", "rejected", &["{{1}}: 20% off all beans this week!"])
        },
        item(4, "old_promo", "paused", &["Last chance for winter blends."]),
    ]
}

pub fn campaigns() -> Vec<CampaignRow> {
    let row = |id: i32, name: &str, status, recipients, sent, failed| CampaignRow {
        id: wacrm_core::broadcast::CampaignId(id),
        name: name.into(),
        template: "back_in_stock".into(),
        status,
        recipients,
        sent,
        failed,
        skipped: 2,
        paused_reason: None,
    };
    use wacrm_core::broadcast::CampaignStatus::*;
    vec![
        row(3, "Spring sale", Running, 1000, 600, 12),
        CampaignRow { paused_reason: Some("paused by a user".into()), ..row(2, "Restock", Paused, 200, 90, 0) },
        row(1, "Welcome", Completed, 50, 48, 0),
    ]
}

pub fn campaign_detail() -> CampaignDetail {
    CampaignDetail {
        id: wacrm_core::broadcast::CampaignId(3),
        pending: 386,
        delivered: 580,
        read: 410,
        replied: 37,
        failures: vec![
            Failure {
                name: "Li Wei".into(),
                phone: "+12025550003".into(),
                code: Some(131026),
                detail: Some("Message undeliverable".into()),
            },
            Failure { name: "Sam O'Neil".into(), phone: "+12025550004".into(), code: Some(131049), detail: None },
        ],
    }
}

pub fn rules() -> Vec<RuleRow> {
    let rule = |id: i32, name: &str, trigger: &str, enabled: bool| RuleRow {
        id,
        name: name.into(),
        trigger: trigger.into(),
        enabled,
        priority: 100,
        delay_minutes: 0,
        json: format!("{{\n  \"name\": \"{name}\",\n  \"trigger\": \"{trigger}\"\n}}"),
    };
    vec![
        rule(1, "pricing reply", "message_received", true),
        RuleRow { delay_minutes: 60, ..rule(2, "follow up interested", "stage_changed", false) },
    ]
}

pub fn rule_runs() -> Vec<RunRow> {
    let run = |id: i64, rule_id: i32, minutes: i64, matched: bool, failed: bool, actions: &[&str]| RunRow {
        id,
        rule_id,
        contact: Some(ContactId(1)),
        matched,
        reason: (!matched).then(|| "no keyword matched".to_string()),
        at: now() - Duration::minutes(minutes),
        actions: actions.iter().map(|a| a.to_string()).collect(),
        failed,
    };
    vec![
        run(5, 1, 3, true, true, &["send_template failed: 131026 undeliverable", "move_stage done"]),
        run(4, 1, 50, true, false, &["send_template done", "move_stage done"]),
        run(3, 1, 90, false, false, &[]),
    ]
}

pub fn analytics_view() -> AnalyticsView {
    let stages = ["New", "Engaged", "Interested", "Paid", "Lost"];
    AnalyticsView {
        span: RangeChoice::ThisMonth,
        by: wacrm_core::analytics::Granularity::Day,
        from: chrono::NaiveDate::from_ymd_opt(2026, 3, 1).expect("a date"),
        to: chrono::NaiveDate::from_ymd_opt(2026, 3, 10).expect("a date"),
        timezone: "Europe/Lisbon".into(),
        new_leads: 41,
        active_leads: 63,
        total_leads: 212,
        win_rate: Some(0.12),
        funnel: vec![
            ("New".into(), 41, None),
            ("Engaged".into(), 30, Some(0.73)),
            ("Interested".into(), 14, Some(0.47)),
            ("Paid".into(), 6, Some(0.43)),
        ],
        stages: stages.iter().zip([80, 52, 30, 25, 25]).map(|(s, n)| (s.to_string(), n)).collect(),
        messages: vec![12, 30, 25, 0, 44, 51, 38, 20, 61, 17],
        received: 170,
        sent: 128,
        average_reply_seconds: Some(252.0),
        unanswered_now: 3,
        plan: Some("Starter".into()),
        conversations: 1712,
        conversation_limit: Some(2000),
        forecast_conversations: 5306,
    }
}

/// The screen as text, one quoted line per row.
pub fn render(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("a test terminal");
    terminal.draw(|frame| app.draw(frame)).expect("a frame");
    terminal.backend().to_string()
}
