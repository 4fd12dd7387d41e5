//! Frame and start-up timings of the Inbox (issue 5's budgets: a frame ≤ 5 ms with the large tenant's
//! data loaded, first paint ≤ 300 ms with the database warm). On demand, never a timed test:
//!
//!     cargo bench -p wacrm-tui --bench frame
//!     WACRM_BENCH_DATABASE_URL=postgres://… cargo bench -p wacrm-tui --bench frame   # also start-up
//!
//! The dashboards part renders each of panes 4-8 with a large business's worth of rows (1,000 rules and
//! 200 runs, 500 campaigns, 250 templates, 31 days, 12 months) at 200×50 and at 80×24.
//!
//! The frame part renders state already in memory: 50,000 conversations (the large tenant, as if every
//! page had been scrolled through) and a 100-message chat, into a 200×50 `TestBackend`. The start-up
//! part loads the large demo tenant's (`wacrm demo --scale large`) identity, first conversation page and
//! first chat through core, as `wacrm tui` does, and draws the first frame. A third part draws the
//! same data with the chat focused while reading it (issue 20): a search within the chat highlighting
//! a hit, files among the messages, and the new-messages marker, against the plain frame of the same run.

use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, FixedOffset, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use wacrm_core::{ContactId, Direction, MessageId, MessageStatus, Stage, UserId};
use wacrm_tui::app::App;
use wacrm_tui::intent::{ConversationFilter, InboxUpdate, Intent, Request, Update};
use wacrm_tui::theme::Theme;
use wacrm_tui::view::{ChatMessage, ConversationPage, ConversationRow};

const CONVERSATIONS: usize = 50_000;
const FRAMES: usize = 2_000;

fn main() {
    frames();
    frames_while_reading();
    dashboards();
    match std::env::var("WACRM_BENCH_DATABASE_URL") {
        Ok(url) => startup(&url),
        Err(_) => {
            println!("start-up: skipped (set WACRM_BENCH_DATABASE_URL to the database holding the large demo tenant)")
        }
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0).single().unwrap_or_default()
}

fn conversations(now: DateTime<Utc>) -> Vec<ConversationRow> {
    let stages = Stage::ALL;
    (0..CONVERSATIONS)
        .map(|i| ConversationRow {
            contact: ContactId(i as i32 + 1),
            name: format!("Customer {i} Silva-Oliveira"),
            phone: format!("+1202555{:04}", i % 10_000),
            stage: stages[i % stages.len()],
            unread: (i % 4) as i32,
            last_message: "Hi! Is the Ethiopian Yirgacheffe back in stock? I'd like two bags, ground for filter."
                .into(),
            last_direction: Some(if i % 3 == 0 { Direction::Out } else { Direction::In }),
            last_at: Some(now - chrono::Duration::minutes(i as i64)),
            last_inbound_at: Some(now - chrono::Duration::minutes(i as i64 + 5)),
            assigned: (i % 2 == 0).then(|| "Ana Agent".to_string()),
            assigned_id: (i % 2 == 0).then_some(UserId(2)),
            resolved: false,
            snoozed_until: None,
        })
        .collect()
}

fn chat(now: DateTime<Utc>) -> Vec<ChatMessage> {
    (0..100)
        .map(|i| ChatMessage {
            id: MessageId(i + 1),
            direction: if i % 2 == 0 { Direction::In } else { Direction::Out },
            body: "Thanks! We roast on Tuesdays and ship the same day; tracking follows by message.".into(),
            status: [MessageStatus::Sent, MessageStatus::Delivered, MessageStatus::Read][i as usize % 3],
            at: now - chrono::Duration::minutes(300 - i as i64 * 3),
            error: None,
            sender: None,
            note: false,
            media: false,
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(what: &str, mut times: Vec<Duration>) {
    times.sort();
    println!(
        "{what}: median {:.3} ms, p99 {:.3} ms, max {:.3} ms over {} runs",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        times.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        times.len()
    );
}

fn frames() {
    let now = now();
    let mut app =
        App::new(now, FixedOffset::east_opt(0).unwrap_or(FixedOffset::west_opt(0).unwrap()), Theme { color: true });
    app.start();
    let rows = conversations(now);
    let first = rows[0].contact;
    app.apply(Update::Inbox(InboxUpdate::Conversations {
        page: ConversationPage { rows, next: None },
        appended: false,
        filter: ConversationFilter::All,
        search: None,
    }));
    app.apply(Update::Inbox(InboxUpdate::Chat { contact: first, messages: chat(now), older: None }));
    let mut terminal = match Terminal::new(TestBackend::new(200, 50)) {
        Ok(t) => t,
        Err(e) => return println!("frame: cannot create the test terminal: {e}"),
    };
    let mut times = Vec::with_capacity(FRAMES);
    for i in 0..FRAMES {
        // Walk down the list so each frame shows other rows (and the virtualised window moves).
        app.handle_key(KeyEvent::new(KeyCode::Char('j'), KeyModifiers::NONE));
        if i % 50 == 0 {
            app.apply(Update::Inbox(InboxUpdate::Chat {
                contact: app.inbox().selected().map_or(first, |r| r.contact),
                messages: chat(now),
                older: None,
            }));
        }
        let started = Instant::now();
        if let Err(e) = terminal.draw(|frame| app.draw(frame)) {
            return println!("frame: drawing failed: {e}");
        }
        times.push(started.elapsed());
    }
    report(&format!("frame (Inbox, {CONVERSATIONS} conversations loaded, 200x50)"), times);
}

/// The Inbox with the chat focused, a search within it on, a file in every tenth message and new
/// messages arriving below the view every 50 frames.
fn frames_while_reading() {
    let now = now();
    let mut app =
        App::new(now, FixedOffset::east_opt(0).unwrap_or(FixedOffset::west_opt(0).unwrap()), Theme { color: true });
    app.start();
    let rows = conversations(now);
    let first = rows[0].contact;
    app.apply(Update::Inbox(InboxUpdate::Conversations {
        page: ConversationPage { rows, next: None },
        appended: false,
        filter: ConversationFilter::All,
        search: None,
    }));
    let with_files = |n: usize| -> Vec<ChatMessage> {
        let mut messages = chat(now);
        messages.iter_mut().enumerate().for_each(|(i, m)| m.media = i % 10 == 0);
        messages.extend(chat(now).into_iter().take(n).map(|m| ChatMessage { id: MessageId(m.id.0 + 1000), ..m }));
        messages
    };
    app.apply(Update::Inbox(InboxUpdate::Chat { contact: first, messages: with_files(0), older: None }));
    let mut terminal = match Terminal::new(TestBackend::new(200, 50)) {
        Ok(t) => t,
        Err(e) => return println!("frame: cannot create the test terminal: {e}"),
    };
    let key = |c: KeyCode| KeyEvent::new(c, KeyModifiers::NONE);
    app.handle_key(key(KeyCode::Tab));
    let _ = terminal.draw(|frame| app.draw(frame));
    for k in [KeyCode::Char('/'), KeyCode::Char('r'), KeyCode::Char('o'), KeyCode::Char('a'), KeyCode::Enter] {
        app.handle_key(key(k));
    }
    let mut times = Vec::with_capacity(FRAMES);
    for i in 0..FRAMES {
        // Older and newer matches in turn, so the view jumps and the highlight moves.
        app.handle_key(key(KeyCode::Char(if i % 2 == 0 { 'n' } else { 'N' })));
        if i % 50 == 0 {
            app.apply(Update::Inbox(InboxUpdate::Chat {
                contact: first,
                messages: with_files(i / 50 % 20),
                older: None,
            }));
        }
        let started = Instant::now();
        if let Err(e) = terminal.draw(|frame| app.draw(frame)) {
            return println!("frame: drawing failed: {e}");
        }
        times.push(started.elapsed());
    }
    report(
        &format!("frame while reading (chat search, files, new-messages marker; {CONVERSATIONS} conversations)"),
        times,
    );
}

fn startup(url: &str) {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return println!("start-up: no runtime: {e}"),
    };
    runtime.block_on(async {
        let pool = match wacrm_core::db::connect_url(url).await {
            Ok(pool) => pool,
            Err(e) => return println!("start-up: cannot connect: {e}"),
        };
        let scope = match wacrm_core::Scope::for_business_ref(&pool, "large@wacrm.test").await {
            Ok(scope) => scope,
            Err(e) => return println!("start-up: no large tenant ({e}); run `wacrm demo --scale large` first"),
        };
        let (updates, _incoming) = tokio::sync::mpsc::unbounded_channel();
        let worker = wacrm_tui::worker::Worker {
            read: pool.clone(),
            pool: pool.clone(),
            scope,
            sender: wacrm_core::inbox::send::Sender::from_settings(&Default::default()),
            updates,
        };
        let mut times = Vec::new();
        for _ in 0..20 {
            let started = Instant::now();
            let mut app = App::new(
                Utc::now(),
                FixedOffset::east_opt(0).unwrap_or(FixedOffset::west_opt(0).unwrap()),
                Theme { color: true },
            );
            let mut pending: Vec<Intent> = app.start();
            // The loads `wacrm tui` starts with, concurrently as its worker runs them, then the chat the
            // first page selects; each answer is applied as it would arrive.
            while !pending.is_empty() {
                let requests: Vec<Request> =
                    pending.drain(..).filter_map(|i| if let Intent::Load(r) = i { Some(r) } else { None }).collect();
                let answers = futures::future::join_all(requests.into_iter().map(|r| worker.perform(r))).await;
                for answer in answers {
                    match answer {
                        Ok(update) => pending.extend(app.apply(update)),
                        Err(e) => return println!("start-up: a load failed: {e}"),
                    }
                }
            }
            let mut terminal = match Terminal::new(TestBackend::new(200, 50)) {
                Ok(t) => t,
                Err(e) => return println!("start-up: {e}"),
            };
            if let Err(e) = terminal.draw(|frame| app.draw(frame)) {
                return println!("start-up: drawing failed: {e}");
            }
            times.push(started.elapsed());
        }
        report("start-up to first full paint (large tenant, warm database)", times);
    });
}

/// Frames of the Automation, Broadcast, Templates, Analytics and Billing panes with large data.
fn dashboards() {
    use wacrm_core::analytics::Granularity;
    use wacrm_core::broadcast::{CampaignId, CampaignStatus};
    use wacrm_tui::intent::{AnalyticsUpdate, AutomationUpdate, BillingUpdate, BroadcastUpdate, TemplatesUpdate};
    use wacrm_tui::panes::analytics::{AnalyticsView, RangeChoice};
    use wacrm_tui::panes::automation::{RuleRow, RunRow};
    use wacrm_tui::panes::billing::BillingView;
    use wacrm_tui::panes::broadcast::{CampaignDetail, CampaignRow, Failure};
    use wacrm_tui::panes::templates::TemplateItem;

    let now = now();
    let utc = FixedOffset::east_opt(0).unwrap_or(FixedOffset::west_opt(0).unwrap());
    let mut app = App::new(now, utc, Theme { color: true });
    app.start();
    let rules: Vec<RuleRow> = (0..1_000)
        .map(|i| RuleRow {
            id: i,
            name: format!("rule {i} for keyword replies"),
            trigger: "message_received".into(),
            enabled: i % 3 != 0,
            priority: 100,
            delay_minutes: i % 60,
            json: "{}".into(),
        })
        .collect();
    let runs: Vec<RunRow> = (0..200)
        .map(|i| RunRow {
            id: i,
            rule_id: (i % 10) as i32,
            contact: Some(ContactId(i as i32)),
            matched: i % 2 == 0,
            reason: None,
            at: now - chrono::Duration::minutes(i),
            actions: vec!["send_template done".into(), "move_stage done".into()],
            failed: i % 7 == 0,
        })
        .collect();
    let campaigns: Vec<CampaignRow> = (0..500)
        .map(|i| CampaignRow {
            id: CampaignId(i + 1),
            name: format!("Campaign {i}"),
            template: "spring_sale".into(),
            status: if i % 2 == 0 { CampaignStatus::Running } else { CampaignStatus::Completed },
            recipients: 100_000,
            sent: 1_000 * i as i64 % 100_000,
            failed: 12,
            skipped: 3,
            paused_reason: None,
        })
        .collect();
    let detail = CampaignDetail {
        id: CampaignId(1),
        pending: 40_000,
        delivered: 50_000,
        read: 30_000,
        replied: 2_000,
        failures: (0..50)
            .map(|i| Failure {
                name: format!("Customer {i}"),
                phone: "+12025550100".into(),
                code: Some(131_026),
                detail: Some("Message undeliverable".into()),
            })
            .collect(),
    };
    let templates: Vec<TemplateItem> = (0..250)
        .map(|i| TemplateItem {
            id: i,
            name: format!("template_{i}"),
            language: "en_US".into(),
            category: Some("MARKETING".into()),
            status: ["approved", "pending", "rejected", "paused"][i as usize % 4].into(),
            rejection_reason: Some("INVALID_FORMAT".into()),
            quality: Some("GREEN".into()),
            preview: vec!["Hi {{1}}, your order {{2}} is on its way!".into(); 4],
            lint: vec!["body.example.body_text: 2 parameter(s) but 0 example value(s)".into()],
            updated_at: now,
        })
        .collect();
    let day = |d: u32| chrono::NaiveDate::from_ymd_opt(2026, 3, d).unwrap_or_default();
    let analytics = AnalyticsView {
        span: RangeChoice::Last30,
        by: Granularity::Day,
        from: day(1),
        to: day(31),
        timezone: "Europe/Lisbon".into(),
        funnel: ["New", "Engaged", "Interested", "Paid"].iter().map(|s| (s.to_string(), 1_000, Some(0.5))).collect(),
        stages: ["New", "Engaged", "Interested", "Paid", "Lost"].iter().map(|s| (s.to_string(), 10_000)).collect(),
        messages: (0..31).map(|i| 30_000 + i * 100).collect(),
        conversation_limit: Some(20_000),
        conversations: 17_000,
        ..AnalyticsView::default()
    };
    let billing = BillingView {
        plan: Some("Growth".into()),
        conversation_limit: Some(20_000),
        status: Some("active".into()),
        renews_at: Some(now + chrono::Duration::days(12)),
        months: (1..=12).map(|m| (day(1).with_month(m).unwrap_or_default(), 15_000, "4120.55".into())).collect(),
        ..BillingView::default()
    };
    let panes: [(char, &str, Update); 5] = [
        ('4', "Automation", Update::Automation(AutomationUpdate::Rules(rules))),
        ('5', "Broadcast", Update::Broadcast(BroadcastUpdate::List(campaigns))),
        ('6', "Templates", Update::Templates(TemplatesUpdate::List(templates))),
        ('7', "Analytics", Update::Analytics(AnalyticsUpdate::Loaded(Box::new(analytics)))),
        ('8', "Billing", Update::Billing(BillingUpdate::Overview(Box::new(billing)))),
    ];
    for (key, name, update) in panes {
        app.handle_key(KeyEvent::new(KeyCode::Char(key), KeyModifiers::NONE));
        app.apply(update);
        app.apply(Update::Automation(AutomationUpdate::Runs(runs.clone())));
        app.apply(Update::Broadcast(BroadcastUpdate::Detail(detail.clone())));
        for (w, h) in [(200, 50), (80, 24)] {
            let mut terminal = match Terminal::new(TestBackend::new(w, h)) {
                Ok(t) => t,
                Err(e) => return println!("dashboards: cannot create the test terminal: {e}"),
            };
            let mut times = Vec::with_capacity(FRAMES / 4);
            for _ in 0..FRAMES / 4 {
                app.handle_key(KeyEvent::new(KeyCode::Char('j'), KeyModifiers::NONE));
                let started = Instant::now();
                if let Err(e) = terminal.draw(|frame| app.draw(frame)) {
                    return println!("dashboards: drawing failed: {e}");
                }
                times.push(started.elapsed());
            }
            report(&format!("frame ({name}, {w}x{h})"), times);
        }
    }
}
