//! Frame and start-up timings of the Inbox (issue 5's budgets: a frame ≤ 5 ms with the large tenant's
//! data loaded, first paint ≤ 300 ms with the database warm). On demand, never a timed test:
//!
//!     cargo bench -p wacrm-tui --bench frame
//!     WACRM_BENCH_DATABASE_URL=postgres://… cargo bench -p wacrm-tui --bench frame   # also start-up
//!
//! The frame part renders state already in memory: 50,000 conversations (the large tenant, as if every
//! page had been scrolled through) and a 100-message chat, into a 200×50 `TestBackend`. The start-up
//! part loads the large demo tenant's (`wacrm demo --scale large`) identity, first conversation page and
//! first chat through core, as `wacrm tui` does, and draws the first frame.

use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use wacrm_core::{ContactId, Direction, MessageId, MessageStatus, Stage, UserId};
use wacrm_tui::app::App;
use wacrm_tui::intent::{ConversationFilter, Intent, Request, Update};
use wacrm_tui::theme::Theme;
use wacrm_tui::view::{ChatMessage, ConversationPage, ConversationRow};

const CONVERSATIONS: usize = 50_000;
const FRAMES: usize = 2_000;

fn main() {
    frames();
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
    app.apply(Update::Conversations {
        page: ConversationPage { rows, next: None },
        appended: false,
        filter: ConversationFilter::All,
        search: None,
    });
    app.apply(Update::Chat { contact: first, messages: chat(now), older: None });
    let mut terminal = match Terminal::new(TestBackend::new(200, 50)) {
        Ok(t) => t,
        Err(e) => return println!("frame: cannot create the test terminal: {e}"),
    };
    let mut times = Vec::with_capacity(FRAMES);
    for i in 0..FRAMES {
        // Walk down the list so each frame shows other rows (and the virtualised window moves).
        app.handle_key(KeyEvent::new(KeyCode::Char('j'), KeyModifiers::NONE));
        if i % 50 == 0 {
            app.apply(Update::Chat {
                contact: app.inbox().selected().map_or(first, |r| r.contact),
                messages: chat(now),
                older: None,
            });
        }
        let started = Instant::now();
        if let Err(e) = terminal.draw(|frame| app.draw(frame)) {
            return println!("frame: drawing failed: {e}");
        }
        times.push(started.elapsed());
    }
    report(&format!("frame (Inbox, {CONVERSATIONS} conversations loaded, 200x50)"), times);
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
