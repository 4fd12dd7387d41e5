//! Rendering of every pane into a TestBackend, compared with the snapshots in `src/snapshots/`, and
//! the app-level key handling (tabs, popups, palette, search).

use crossterm::event::{KeyCode, MouseButton, MouseEvent, MouseEventKind};
use insta::assert_snapshot;
use wacrm_core::{ContactId, Direction, MessageStatus, Stage};

use crate::fixtures::*;
use crate::intent::{
    ContactsRequest, ContactsUpdate, ConversationFilter, InboxRequest, InboxUpdate, Intent, PipelineRequest,
    PipelineUpdate, Request, Tab, Update,
};
use crate::view::{ChatMessage, ConversationPage, DbState};

fn press(app: &mut crate::app::App, keys: &[crossterm::event::KeyEvent]) -> Vec<Intent> {
    keys.iter().flat_map(|k| app.handle_key(*k)).collect()
}

#[test]
fn inbox_list_and_chat() {
    assert_snapshot!(render(&loaded_app(), 120, 30));
}

#[test]
fn inbox_composer_with_multiline_draft() {
    let mut app = loaded_app();
    press(&mut app, &[key(KeyCode::Enter), ch('S'), ch('u'), ch('r'), ch('e')]);
    app.handle_key(crossterm::event::KeyEvent::new(KeyCode::Enter, crossterm::event::KeyModifiers::ALT));
    press(&mut app, &[ch('D'), ch('a'), ch('y')]);
    assert_snapshot!(render(&app, 120, 30));
}

#[test]
fn inbox_closed_window_offers_templates() {
    let mut app = loaded_app();
    press(&mut app, &[ch('j'), ch('j'), key(KeyCode::Enter), ch('h'), ch('i'), key(KeyCode::Enter)]);
    app.apply(Update::Inbox(InboxUpdate::Templates(templates())));
    assert_snapshot!(render(&app, 120, 30));
}

#[test]
fn inbox_template_form_and_preview() {
    let mut app = loaded_app();
    press(&mut app, &[ch('j'), ch('j'), ch('t')]);
    app.apply(Update::Inbox(InboxUpdate::Templates(templates())));
    press(&mut app, &[ch('j'), key(KeyCode::Enter), ch('S'), ch('a'), ch('m')]);
    assert_snapshot!("inbox_template_form", render(&app, 120, 30));
    let intents = press(&mut app, &[key(KeyCode::Enter), ch('4'), ch('4'), ch('1'), ch('1'), key(KeyCode::Enter)]);
    let (name, params) = ("order_update".to_string(), vec!["Sam".to_string(), "4411".to_string()]);
    // The preview is core's rendering, asked for when the form is done; nothing is sent yet.
    assert_eq!(
        loads(&intents),
        vec![Request::Inbox(InboxRequest::RenderTemplate {
            contact: ContactId(3),
            name: name.clone(),
            params: params.clone()
        })]
    );
    let result = Ok("Hi Sam, your order 4411 ships today.".to_string());
    app.apply(Update::Inbox(InboxUpdate::TemplatePreview { contact: ContactId(3), name, params, result }));
    assert_snapshot!("inbox_template_preview", render(&app, 120, 30));
}

#[test]
fn inbox_notes_resolved_and_snoozed() {
    let mut app = loaded_app();
    let mut rows = conversations();
    rows[1].resolved = true;
    rows[2].snoozed_until = Some(now() + chrono::Duration::hours(21));
    app.apply(Update::Inbox(InboxUpdate::Conversations {
        page: ConversationPage { rows, next: None },
        appended: false,
        filter: ConversationFilter::All,
        search: None,
    }));
    let mut messages = chat();
    let note = ChatMessage {
        body: "Called her: wants the 1 kg bag, refund the 250 g one".into(),
        sender: Some("Ana Agent".into()),
        note: true,
        media: false,
        ..message(-1, wacrm_core::Direction::Out, "", wacrm_core::MessageStatus::Sent, 2)
    };
    messages.push(note);
    app.apply(Update::Inbox(InboxUpdate::Chat { contact: ContactId(1), messages, older: None }));
    assert_snapshot!(render(&app, 120, 30));
}

#[test]
fn inbox_stage_picker() {
    let mut app = loaded_app();
    press(&mut app, &[ch('s')]);
    assert_snapshot!(render(&app, 120, 30));
}

#[test]
fn inbox_narrow_terminal_shows_one_side() {
    let mut app = loaded_app();
    assert_snapshot!("inbox_narrow_list", render(&app, 60, 16));
    press(&mut app, &[key(KeyCode::Tab)]);
    assert_snapshot!("inbox_narrow_chat", render(&app, 60, 16));
}

#[test]
fn inbox_tiny_terminal_does_not_panic() {
    let app = loaded_app();
    for (w, h) in [(1, 1), (10, 3), (20, 5), (79, 10), (80, 6)] {
        render(&app, w, h);
    }
}

#[test]
fn contacts_table() {
    let mut app = loaded_app();
    press(&mut app, &[ch('2')]);
    app.apply(Update::Contacts(ContactsUpdate::Page { rows: contacts(), next: None, appended: false }));
    assert_snapshot!(render(&app, 110, 14));
}

#[test]
fn contacts_form_shows_core_errors_inline() {
    let mut app = loaded_app();
    press(&mut app, &[ch('2')]);
    app.apply(Update::Contacts(ContactsUpdate::Page { rows: contacts(), next: None, appended: false }));
    press(&mut app, &[ch('n'), ch('B'), ch('o'), key(KeyCode::Tab), ch('1'), ch('2'), key(KeyCode::Enter)]);
    app.apply(Update::Contacts(ContactsUpdate::FormError("\"12\" is not a phone number (not a number)".into())));
    assert_snapshot!(render(&app, 110, 20));
}

#[test]
fn contacts_import_progress() {
    let mut app = loaded_app();
    press(&mut app, &[ch('2')]);
    app.apply(Update::Contacts(ContactsUpdate::Page { rows: contacts(), next: None, appended: false }));
    app.apply(Update::Contacts(ContactsUpdate::ImportProgress { done: 600, total: Some(1000) }));
    assert_snapshot!(render(&app, 110, 14));
}

#[test]
fn pipeline_board_with_history() {
    let mut app = loaded_app();
    let intents = press(&mut app, &[ch('3')]);
    assert!(loads(&intents).contains(&Request::Pipeline(PipelineRequest::Board)));
    let intents = app.apply(Update::Pipeline(PipelineUpdate::Board(board())));
    assert!(loads(&intents).contains(&Request::Pipeline(PipelineRequest::History(ContactId(3)))));
    press(&mut app, &[key(KeyCode::Right)]);
    app.apply(Update::Pipeline(PipelineUpdate::History { contact: ContactId(6), rows: history() }));
    assert_snapshot!(render(&app, 120, 24));
}

/// Each dashboard pane at 100×24 and at 80×24 with its fixture data, as its first visit loads it.
#[test]
fn dashboard_panes() {
    use crate::intent::{AnalyticsUpdate, AutomationUpdate, BillingUpdate, BroadcastUpdate, TemplatesUpdate};
    let mut app = loaded_app();
    for (i, tab) in Tab::ALL.iter().enumerate().skip(3) {
        let intents = press(&mut app, &[ch(char::from(b'1' + i as u8))]);
        assert_eq!(app.tab(), *tab);
        assert!(!loads(&intents).is_empty(), "the first visit of {tab:?} loads it");
        match tab {
            Tab::Automation => {
                app.apply(Update::Automation(AutomationUpdate::Rules(rules())));
                app.apply(Update::Automation(AutomationUpdate::Runs(rule_runs())));
            }
            Tab::Broadcast => {
                app.apply(Update::Broadcast(BroadcastUpdate::List(campaigns())));
                app.apply(Update::Broadcast(BroadcastUpdate::Detail(campaign_detail())));
            }
            Tab::Templates => {
                app.apply(Update::Templates(TemplatesUpdate::List(template_items())));
                press(&mut app, &[ch('j'), ch('j')]);
            }
            Tab::Analytics => {
                app.apply(Update::Analytics(AnalyticsUpdate::Loaded(Box::new(analytics_view()))));
            }
            _ => {
                app.apply(Update::Billing(BillingUpdate::Overview(Box::new(billing()))));
            }
        }
        let name = tab.title().to_lowercase();
        assert_snapshot!(format!("pane_{name}"), render(&app, 100, 24));
        assert_snapshot!(format!("pane_{name}_80x24"), render(&app, 80, 24));
        for (w, h) in [(1, 1), (20, 5), (40, 10), (80, 8)] {
            render(&app, w, h);
        }
    }
}

/// The same keys everywhere: `/` searches or filters (the title says what), Esc clears it, Enter opens.
#[test]
fn slash_filters_and_esc_clears_in_every_list_pane() {
    use crate::intent::{AutomationUpdate, BroadcastUpdate, TemplatesUpdate};
    let mut app = loaded_app();
    let cases: [(char, Update, &str, &str, &str); 4] = [
        ('3', Update::Pipeline(PipelineUpdate::Board(board())), "ravi", "Ravi Kumar", "Li Wei"),
        ('4', Update::Automation(AutomationUpdate::Rules(rules())), "follow", "follow up interested", "pricing reply"),
        ('5', Update::Broadcast(BroadcastUpdate::List(campaigns())), "rest", "Restock", "Spring sale"),
        ('6', Update::Templates(TemplatesUpdate::List(template_items())), "promo", "old_promo", "back_in_stock"),
    ];
    for (tab, data, term, kept, hidden) in cases {
        press(&mut app, &[ch(tab)]);
        app.apply(data);
        let before = render(&app, 120, 30);
        assert!(before.contains(hidden), "{tab}: shown before the filter\n{before}");
        let mut typed = vec![ch('/')];
        typed.extend(term.chars().map(ch));
        typed.push(key(KeyCode::Enter));
        press(&mut app, &typed);
        let screen = render(&app, 120, 30);
        assert!(screen.contains(kept) && !screen.contains(hidden), "{tab} /{term}:\n{screen}");
        press(&mut app, &[key(KeyCode::Esc)]);
        let screen = render(&app, 120, 30);
        assert!(screen.contains(kept) && screen.contains(hidden), "{tab} after Esc:\n{screen}");
    }
    // Analytics and Billing have nothing to search: `/` says so instead of asking for a text.
    for tab in ['7', '8'] {
        press(&mut app, &[ch(tab), ch('/')]);
        assert!(app.notice().is_some_and(|n| n.starts_with("nothing to search in")), "{tab}: {:?}", app.notice());
        assert!(press(&mut app, &[ch('1'), ch(tab)]).is_empty(), "no popup swallowed the digits");
    }
}

#[test]
fn enter_and_l_open_the_selected_item() {
    use crate::intent::AutomationUpdate;
    let mut app = loaded_app();
    press(&mut app, &[ch('4')]);
    app.apply(Update::Automation(AutomationUpdate::Rules(rules())));
    assert!(matches!(press(&mut app, &[key(KeyCode::Enter)]).as_slice(), [Intent::OpenEditor(_)]));
    assert!(matches!(press(&mut app, &[ch('l')]).as_slice(), [Intent::OpenEditor(_)]));
    press(&mut app, &[ch('2')]);
    app.apply(Update::Contacts(ContactsUpdate::Page { rows: contacts(), next: None, appended: false }));
    press(&mut app, &[ch('l')]);
    assert!(render(&app, 100, 30).contains("Edit contact"), "the form opens on the selected contact");
    press(&mut app, &[key(KeyCode::Esc), ch('1')]);
    assert_eq!(app.tab(), Tab::Inbox, "Esc backed out of the form, so 1 switched tabs");
}

#[test]
fn broadcast_cancel_asks_in_a_popup_over_the_pane() {
    use crate::intent::{BroadcastRequest, BroadcastUpdate};
    let mut app = loaded_app();
    press(&mut app, &[ch('5')]);
    app.apply(Update::Broadcast(BroadcastUpdate::List(campaigns())));
    press(&mut app, &[ch('c')]);
    let screen = render(&app, 80, 24);
    assert!(screen.contains("Cancel campaign 3?"), "{screen}");
    assert!(press(&mut app, &[ch('1')]).is_empty());
    assert_eq!(app.tab(), Tab::Broadcast, "a digit over the question does not switch tabs");
    let intents = press(&mut app, &[ch('y')]);
    assert_eq!(
        loads(&intents),
        vec![Request::Broadcast(BroadcastRequest::Cancel(wacrm_core::broadcast::CampaignId(3)))]
    );
}

#[test]
fn an_edited_rule_goes_to_the_automation_pane_only() {
    use crate::intent::{AutomationRequest, AutomationUpdate};
    let mut app = loaded_app();
    press(&mut app, &[ch('4')]);
    app.apply(Update::Automation(AutomationUpdate::Rules(rules())));
    let intents = press(&mut app, &[ch('e')]);
    assert!(matches!(intents.as_slice(), [Intent::OpenEditor(_)]));
    let intents = app.apply(Update::Edited(Some("{}".into())));
    assert_eq!(
        loads(&intents),
        vec![Request::Automation(AutomationRequest::Save { name: "pricing reply".into(), text: "{}".into() })]
    );
    assert_eq!(app.inbox().composer_text(), "", "the inbox composer did not take the rule");
    app.apply(Update::Automation(AutomationUpdate::Invalid(
        "rule [0] (\"pricing reply\"): the rule is invalid at $.action.send_message: unknown action".into(),
    )));
    let screen = render(&app, 100, 24);
    assert!(screen.contains("$.action.send_message"), "{screen}");
}

#[test]
fn notifications_show_in_the_status_bar_and_n_lists_them() {
    use crate::intent::{NotificationsRequest, NotificationsUpdate};
    use crate::popups::notifications::NotificationRow;
    let mut app = loaded_app();
    let mut event = live("notified", 1);
    if let Update::Live(e) = &mut event {
        e.payload = serde_json::json!({"title": "80% of this month's conversations used", "user_id": null});
    }
    app.apply(event.clone());
    assert_eq!(app.notice(), Some("🔔 80% of this month's conversations used (N: notifications)"));
    // One for another team member is not shown here.
    if let Update::Live(e) = &mut event {
        e.payload = serde_json::json!({"title": "for Ben", "user_id": 3});
    }
    app.apply(event);
    assert!(!app.notice().unwrap_or_default().contains("for Ben"));
    let intents = press(&mut app, &[ch('N')]);
    assert_eq!(loads(&intents), vec![Request::Notifications(NotificationsRequest::List)]);
    app.apply(Update::Notifications(NotificationsUpdate::List(vec![NotificationRow {
        id: 1,
        source: "usage_alert".into(),
        title: "80% of this month's conversations used".into(),
        body: "1,600 of 2,000 on Starter".into(),
        at: now() - chrono::Duration::minutes(2),
        read: false,
    }])));
    assert_snapshot!(render(&app, 100, 24));
    assert!(press(&mut app, &[ch('3')]).is_empty(), "the list swallows digits");
    assert_eq!(loads(&press(&mut app, &[ch('r')])), vec![Request::Notifications(NotificationsRequest::MarkAllRead)]);
}

#[test]
fn help_lists_the_keys_of_the_current_pane() {
    let mut app = loaded_app();
    press(&mut app, &[ch('?')]);
    assert_snapshot!(render(&app, 100, 30));
    press(&mut app, &[key(KeyCode::Esc), ch('3'), ch('?')]);
    let screen = render(&app, 100, 30);
    assert!(screen.contains("move the card to the previous / next stage"), "{screen}");
}

#[test]
fn help_scrolls_on_a_short_terminal() {
    let mut app = loaded_app();
    press(&mut app, &[ch('?')]);
    let top = render(&app, 80, 24);
    assert!(top.contains("│↓ ") && !top.contains("│↑ "), "{top}");
    assert_snapshot!("help_80x24_top", top);
    // Past the end it stops at the last line: the global keys' last entry shows, and nothing is below.
    press(&mut app, &[key(KeyCode::PageDown), key(KeyCode::PageDown), key(KeyCode::PageDown), ch('j')]);
    let bottom = render(&app, 80, 24);
    assert!(bottom.contains("q Ctrl-C  quit") && bottom.contains("│↑ ") && !bottom.contains("more · ↓"), "{bottom}");
    assert_snapshot!("help_80x24_bottom", bottom);
    press(&mut app, &[ch('k')]);
    assert!(render(&app, 80, 24).contains("↓ 1 more"));
    // A digit scrolls nothing and switches nothing; Esc closes.
    press(&mut app, &[ch('3'), key(KeyCode::Esc)]);
    assert_eq!(app.tab(), Tab::Inbox);
    assert!(!render(&app, 80, 24).contains("Keys ·"));
}

#[test]
fn number_keys_inside_any_popup_do_not_switch_tabs() {
    let mut app = loaded_app();
    // Help, palette and the log (the app's popups).
    for open in [ch('?'), ch(':'), ch('L')] {
        press(&mut app, &[open, ch('3')]);
        assert_eq!(app.tab(), Tab::Inbox, "{open:?} then 3");
        press(&mut app, &[key(KeyCode::Esc)]);
    }
    // A form (the Contacts pane's): the digit is typed into the field.
    press(&mut app, &[ch('2'), ch('n'), ch('5'), ch('4')]);
    assert_eq!(app.tab(), Tab::Contacts);
    assert!(render(&app, 100, 30).contains("54"));
    press(&mut app, &[key(KeyCode::Esc)]);
    // A confirmation (quitting with a draft).
    press(&mut app, &[ch('1'), key(KeyCode::Enter), ch('h'), ch('i'), key(KeyCode::Esc), ch('q'), ch('2')]);
    assert_eq!(app.tab(), Tab::Inbox);
    assert!(!app.should_quit());
}

#[test]
fn recovery_reloads_the_list_boards_and_tables_that_were_shown() {
    let mut app = loaded_app();
    press(&mut app, &[ch('2'), ch('3')]);
    app.apply(Update::Pipeline(PipelineUpdate::Board(board())));
    press(&mut app, &[ch('1')]);
    app.apply(Update::Db(DbState::Reconnecting));
    let loads = loads(&app.apply(Update::Db(DbState::Live)));
    for wanted in [
        Request::Inbox(InboxRequest::Conversations { filter: ConversationFilter::All, search: None, after: None }),
        Request::Inbox(InboxRequest::Chat(ContactId(1))),
        Request::Pipeline(PipelineRequest::Board),
    ] {
        assert!(loads.contains(&wanted), "{wanted:?} in {loads:?}");
    }
    assert!(loads.iter().any(|l| matches!(l, Request::Contacts(ContactsRequest::Page { after: None, .. }))));
    // Panes never shown stay unloaded.
    assert!(!loads.iter().any(|l| matches!(l, Request::Billing(_) | Request::Analytics(_))), "{loads:?}");
}

#[test]
fn palette_filters_and_runs_commands() {
    let mut app = loaded_app();
    press(&mut app, &[ch(':'), ch('s')]);
    assert_snapshot!(render(&app, 100, 20));
    let intents = press(&mut app, &[ch('t'), ch('a'), ch('g'), ch('e'), ch(' '), ch('P'), ch('a'), ch('i'), ch('d')]);
    assert!(intents.is_empty());
    let intents = press(&mut app, &[key(KeyCode::Enter)]);
    assert_eq!(
        loads(&intents),
        vec![Request::Inbox(InboxRequest::SetStage { contact: ContactId(1), stage: Stage::Paid })]
    );
    // A partial name runs the highlighted entry.
    press(&mut app, &[ch(':'), ch('p'), ch('i'), ch('p'), key(KeyCode::Enter)]);
    assert_eq!(app.tab(), Tab::Pipeline);
}

#[test]
fn search_reloads_the_inbox_with_the_text() {
    let mut app = loaded_app();
    press(&mut app, &[ch('/'), ch('l'), ch('i')]);
    assert!(render(&app, 100, 20).contains("/li"));
    let intents = press(&mut app, &[key(KeyCode::Enter)]);
    assert_eq!(
        loads(&intents),
        vec![Request::Inbox(InboxRequest::Conversations {
            filter: ConversationFilter::All,
            search: Some("li".into()),
            after: None
        })]
    );
}

#[test]
fn status_bar_shows_a_lost_connection() {
    let mut app = loaded_app();
    app.apply(Update::Db(DbState::Reconnecting));
    let screen = render(&app, 120, 30);
    assert!(screen.lines().last().is_some_and(|l| l.contains("✗ reconnecting")), "{screen}");
    // Recovery reloads what is shown, since events may have been missed.
    let intents = app.apply(Update::Db(DbState::Live));
    assert!(loads(&intents).contains(&Request::UnreadTotal));
}

#[test]
fn typing_in_the_composer_never_triggers_global_keys() {
    let mut app = loaded_app();
    let intents = press(&mut app, &[key(KeyCode::Enter), ch('q'), ch('3'), ch('?'), ch(':')]);
    assert!(!app.should_quit());
    assert_eq!(app.tab(), Tab::Inbox);
    assert!(!intents.contains(&Intent::Quit));
    assert_eq!(app.inbox().composer_text(), "q3?:");
    // The draft is named before quitting; a second Ctrl-C quits anyway (the draft is saved).
    assert!(!press(&mut app, &[ctrl('c')]).contains(&Intent::Quit));
    assert!(render(&app, 100, 30).contains("1 unsent draft: Maria Costa"));
    assert!(press(&mut app, &[ctrl('c')]).contains(&Intent::Quit));
}

#[test]
fn quitting_with_drafts_asks_and_keys_do_not_leak_through_the_question() {
    let mut app = loaded_app();
    press(&mut app, &[key(KeyCode::Enter), ch('h'), ch('i'), key(KeyCode::Esc), key(KeyCode::Esc)]);
    assert!(!press(&mut app, &[ch('q')]).contains(&Intent::Quit));
    press(&mut app, &[ch('3'), key(KeyCode::Enter)]);
    assert_eq!(app.tab(), Tab::Inbox, "a digit over the question does not switch tabs");
    press(&mut app, &[key(KeyCode::Esc)]);
    assert!(!app.should_quit());
    press(&mut app, &[ch('q')]);
    assert!(press(&mut app, &[ch('y')]).contains(&Intent::Quit));
}

#[test]
fn number_keys_in_a_picker_do_not_switch_tabs() {
    let mut app = loaded_app();
    press(&mut app, &[ch('t'), ch('3')]);
    assert_eq!(app.tab(), Tab::Inbox);
    press(&mut app, &[key(KeyCode::Esc), ch('s'), ch('7')]);
    assert_eq!(app.tab(), Tab::Inbox, "7 is no stage, and no tab either while the picker is open");
}

#[test]
fn tabs_switch_by_digit_and_by_click() {
    let mut app = loaded_app();
    let intents = press(&mut app, &[ch('2')]);
    assert_eq!(app.tab(), Tab::Contacts);
    assert!(matches!(loads(&intents).as_slice(), [Request::Contacts(ContactsRequest::Page { .. })]));
    // The second visit does not load again: live events keep the pane current.
    press(&mut app, &[ch('1')]);
    assert!(loads(&press(&mut app, &[ch('2')])).is_empty());
    render(&app, 120, 30);
    let click = MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: 30,
        row: 0,
        modifiers: crossterm::event::KeyModifiers::NONE,
    };
    app.handle_mouse(click);
    assert_eq!(app.tab(), Tab::Pipeline);
}

#[test]
fn live_events_refresh_the_unread_total() {
    let mut app = loaded_app();
    let intents = app.apply(live("message_received", 3));
    let requests = loads(&intents);
    assert!(requests.contains(&Request::UnreadTotal));
    assert!(requests.contains(&Request::Inbox(InboxRequest::Conversation(ContactId(3)))));
    assert!(intents.contains(&Intent::Bell), "a message in a chat that is not open rings the bell");
}

#[test]
fn notices_and_errors_are_kept_in_the_log() {
    let mut app = loaded_app();
    app.apply(Update::Failed { what: "send", message: "the 24-hour window is closed (send a template)".into() });
    app.apply(Update::Notices(vec!["contacts.csv: line 3 (+1 555): not a phone number".into()]));
    app.apply(Update::Contacts(ContactsUpdate::ImportDone(
        "imported contacts.csv: 2 created, 0 updated, 1 rejected".into(),
    )));
    press(&mut app, &[ch('L')]);
    let screen = render(&app, 100, 20);
    for seen in ["send: the 24-hour window is closed", "line 3 (+1 555): not a phone number", "1 rejected"] {
        assert!(screen.contains(seen), "{seen}\n{screen}");
    }
    press(&mut app, &[ch('2')]);
    assert_eq!(app.tab(), Tab::Inbox, "the log swallows keys too");
    press(&mut app, &[key(KeyCode::Esc)]);
    assert!(!render(&app, 100, 20).contains("Messages · j/k"));
}

#[test]
fn an_80_by_24_terminal_shows_every_tab_and_whole_badges() {
    let mut app = loaded_app();
    let screen = render(&app, 80, 24);
    let tabs = screen.lines().next().unwrap_or_default().to_string();
    for n in 1..=8 {
        assert!(tabs.contains(&format!(" {n}")), "tab {n} missing: {tabs}");
    }
    assert!(tabs.contains("Inbox"), "{tabs}");
    assert!(screen.contains("window: 23h 57m left"), "{screen}");
    assert!(!screen.contains("assigned: Ana Age"), "a badge is left out whole, not cut: {screen}");
    press(&mut app, &[key(KeyCode::Enter)]);
    assert_snapshot!(render(&app, 80, 24));
}

#[test]
fn inbox_contact_panel() {
    let mut app = loaded_app();
    let intents = press(&mut app, &[ch('p')]);
    assert_eq!(loads(&intents), vec![Request::Inbox(InboxRequest::Panel(ContactId(1)))]);
    app.apply(Update::Inbox(InboxUpdate::Panel(crate::view::ContactPanel {
        contact: ContactId(1),
        profile_name: Some("Mari ☕".into()),
        stage: Stage::Interested,
        tags: vec!["lisbon".into(), "vip".into()],
        opted_out: Some("stop_keyword".into()),
        last_campaign: Some(("Spring sale".into(), now() - chrono::Duration::days(10))),
        notes: 2,
    })));
    assert_snapshot!(render(&app, 120, 30));
    // Another chat asks for its own panel.
    assert_eq!(
        loads(&press(&mut app, &[ch('j')])),
        vec![Request::Inbox(InboxRequest::Chat(ContactId(2))), Request::Inbox(InboxRequest::Panel(ContactId(2)))]
    );
}

/// A chat long enough to scroll, with a photo among the messages.
fn long_chat() -> Vec<ChatMessage> {
    let mut messages = chat();
    for i in 0..12 {
        let body = if i % 4 == 0 { format!("espresso question {i}") } else { format!("filler {i}") };
        messages.push(message(10 + i, Direction::In, &body, MessageStatus::Delivered, 2));
    }
    messages
        .push(ChatMessage { media: true, ..message(30, Direction::In, "[image] the label", MessageStatus::Read, 1) });
    messages
}

#[test]
fn inbox_chat_search_and_new_messages_marker() {
    let mut app = loaded_app();
    app.apply(Update::Inbox(InboxUpdate::Chat { contact: ContactId(1), messages: long_chat(), older: None }));
    press(&mut app, &[key(KeyCode::Tab)]);
    render(&app, 120, 24);
    press(&mut app, &[ch('/'), ch('e'), ch('s'), ch('p'), key(KeyCode::Enter)]);
    press(&mut app, &[ch('n')]);
    // A message arrives while the agent reads further up.
    let mut more = long_chat();
    more.push(message(40, Direction::In, "are you there?", MessageStatus::Delivered, 0));
    app.apply(Update::Inbox(InboxUpdate::Chat { contact: ContactId(1), messages: more, older: None }));
    let screen = render(&app, 120, 24);
    assert!(screen.contains("/esp 2/3 · n/N · Esc clears"), "{screen}");
    assert!(screen.contains("↓ 1 new message below · G"), "{screen}");
    assert!(!screen.contains("are you there?"), "the view stays where the agent reads");
    assert_snapshot!(screen);
    press(&mut app, &[key(KeyCode::Esc), ch('G')]);
    let screen = render(&app, 120, 24);
    assert!(!screen.contains("Esc clears") && !screen.contains("new message below"), "{screen}");
    assert!(screen.contains("are you there?") && screen.contains("📎 [image] the label"), "{screen}");
}

#[test]
fn a_scrolled_up_chat_stays_on_its_messages_when_new_ones_arrive() {
    let mut app = loaded_app();
    app.apply(Update::Inbox(InboxUpdate::Chat { contact: ContactId(1), messages: long_chat(), older: None }));
    press(&mut app, &[key(KeyCode::Tab)]);
    render(&app, 120, 24);
    press(&mut app, &[ch('k'), ch('k'), ch('k'), ch('k'), ch('k')]);
    let reading = render(&app, 120, 24);
    // Two arrive, one of them long enough to wrap: the lines in view stay on the same rows.
    let mut more = long_chat();
    more.push(message(40, Direction::In, "are you there?", MessageStatus::Delivered, 0));
    more.push(message(41, Direction::In, &"a long question about grinders ".repeat(6), MessageStatus::Delivered, 0));
    app.apply(Update::Inbox(InboxUpdate::Chat { contact: ContactId(1), messages: more, older: None }));
    let after = render(&app, 120, 24);
    assert!(after.contains("↓ 2 new messages below · G"), "{after}");
    for (row, (was, now)) in reading.lines().zip(after.lines()).enumerate() {
        if !now.contains("new messages below") {
            assert_eq!(was, now, "row {row} moved:\n{reading}\n{after}");
        }
    }
    press(&mut app, &[ch('G')]);
    assert!(render(&app, 120, 24).contains("are you there?"));
}

#[test]
fn remapped_keys_act_outside_text_fields_and_show_in_help() {
    let mut app = loaded_app();
    let mut table: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>> = Default::default();
    table.entry("inbox".into()).or_default().insert("ctrl-n".into(), "j".into());
    table.entry("pipline".into()).or_default().insert("x".into(), "y".into());
    app.set_keymap(&table);
    let intents = press(&mut app, &[ctrl('n')]);
    assert_eq!(loads(&intents), vec![Request::Inbox(InboxRequest::Chat(ContactId(2)))], "ctrl-n acts as j");
    press(&mut app, &[ch('?')]);
    let screen = render(&app, 120, 40);
    assert!(screen.contains("ctrl-n  acts as j"), "{screen}");
    press(&mut app, &[key(KeyCode::Esc), ch('L')]);
    assert!(render(&app, 120, 40).contains("keys.pipline: no such dashboard"), "the bad entry is in the log");
}
