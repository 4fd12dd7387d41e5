//! Enter/`l` opens everywhere: a Pipeline card opens its contact's conversation in the Inbox (fetched when
//! the list has not loaded it; the template form when there is none yet), and a campaign or a template
//! opens its detail over the whole pane, scrollable, with Esc back to the list.

use crossterm::event::KeyCode;
use insta::assert_snapshot;
use wacrm_core::ContactId;

use crate::app::App;
use crate::fixtures::*;
use crate::intent::{
    BroadcastRequest, BroadcastUpdate, ConversationFilter, InboxRequest, InboxUpdate, Intent, PipelineUpdate, Request,
    Tab, TemplatesUpdate, Update,
};
use crate::panes::inbox::Focus;
use crate::view::ConversationPage;

fn press(app: &mut App, keys: &[crossterm::event::KeyEvent]) -> Vec<Intent> {
    keys.iter().flat_map(|k| app.handle_key(*k)).collect()
}

/// The loaded app on the Pipeline board (Li Wei and Ravi Kumar in New, Chloé Martin in Engaged).
fn on_the_board() -> App {
    let mut app = loaded_app();
    press(&mut app, &[ch('3')]);
    app.apply(Update::Pipeline(PipelineUpdate::Board(board())));
    app
}

#[test]
fn a_card_whose_conversation_is_listed_opens_its_chat_in_the_inbox() {
    let mut app = on_the_board();
    let intents = press(&mut app, &[key(KeyCode::Enter)]);
    assert_eq!(app.tab(), Tab::Inbox);
    assert_eq!(app.inbox().selected().map(|r| r.contact), Some(ContactId(3)));
    assert_eq!(app.inbox().focus(), Focus::Chat, "the chat has focus: i or Enter replies");
    assert_eq!(loads(&intents), vec![Request::Inbox(InboxRequest::Chat(ContactId(3)))], "nothing to mark read");
    assert_snapshot!(render(&app, 120, 24));
    press(&mut app, &[key(KeyCode::Esc), ch('3')]);
    assert_eq!(app.tab(), Tab::Pipeline, "Esc went back to the list, so 3 switched tabs");
}

#[test]
fn a_card_beyond_the_loaded_list_is_fetched_and_put_where_it_sorts() {
    let mut app = on_the_board();
    let intents = press(&mut app, &[ch('j'), ch('l')]);
    assert_eq!(app.tab(), Tab::Inbox);
    assert!(loads(&intents).contains(&Request::Inbox(InboxRequest::Open(ContactId(5)))), "{intents:?}");
    assert!(app.inbox().opening());
    let ravi = crate::view::ConversationRow { unread: 1, ..conversation(5, "Ravi Kumar", 60 * 24 * 20) };
    let intents = app.apply(Update::Inbox(InboxUpdate::Opened { contact: ContactId(5), row: Some(ravi) }));
    let rows: Vec<i32> = app.inbox().rows().iter().map(|r| r.contact.0).collect();
    assert_eq!(rows, vec![1, 2, 3, 4, 5], "the oldest, after the others");
    assert_eq!(app.inbox().selected().map(|r| r.contact), Some(ContactId(5)));
    assert_eq!(app.inbox().focus(), Focus::Chat);
    let requests = loads(&intents);
    assert!(requests.contains(&Request::Inbox(InboxRequest::Chat(ContactId(5)))), "{requests:?}");
    assert!(requests.contains(&Request::Inbox(InboxRequest::MarkRead(ContactId(5)))), "opened to be read");
}

#[test]
fn a_fetched_row_waits_for_the_page_on_its_way_instead_of_being_replaced_by_it() {
    let mut app = on_the_board();
    press(&mut app, &[ch('1'), ch('f'), ch('3'), ch('j'), key(KeyCode::Enter)]);
    let ravi = conversation(5, "Ravi Kumar", 60 * 24 * 20);
    app.apply(Update::Inbox(InboxUpdate::Opened { contact: ContactId(5), row: Some(ravi) }));
    assert!(app.inbox().opening(), "the unread page asked by f is still on its way");
    app.apply(Update::Inbox(InboxUpdate::Conversations {
        page: ConversationPage { rows: conversations()[..1].to_vec(), next: None },
        appended: false,
        filter: ConversationFilter::Unread,
        search: None,
    }));
    assert!(!app.inbox().opening());
    let rows: Vec<i32> = app.inbox().rows().iter().map(|r| r.contact.0).collect();
    assert_eq!(rows, vec![1, 5], "shown although it is read: the agent asked for it");
    assert_eq!(app.inbox().selected().map(|r| r.contact), Some(ContactId(5)));
}

#[test]
fn a_contact_without_a_conversation_gets_the_template_form_that_starts_one() {
    let mut app = on_the_board();
    let intents = press(&mut app, &[key(KeyCode::Right), key(KeyCode::Enter)]);
    assert!(loads(&intents).contains(&Request::Inbox(InboxRequest::Open(ContactId(6)))));
    let intents = app.apply(Update::Inbox(InboxUpdate::Opened { contact: ContactId(6), row: None }));
    assert_eq!(loads(&intents), vec![Request::Inbox(InboxRequest::Templates)]);
    app.apply(Update::Inbox(InboxUpdate::Templates(templates())));
    assert!(
        app.notice().is_some_and(|n| n.starts_with("Chloé Martin +12025550006 has no conversation yet")),
        "{:?}",
        app.notice()
    );
    let screen = render(&app, 120, 30);
    assert!(screen.contains("Send a template") && screen.contains("Chloé Martin"), "{screen}");
    let selected = app.inbox().selected().map(|r| r.contact);
    assert_eq!(selected, Some(ContactId(1)), "the list's selection is left alone");
}

#[test]
fn a_failed_open_is_not_waited_for() {
    let mut app = on_the_board();
    press(&mut app, &[ch('j'), key(KeyCode::Enter)]);
    app.apply(Update::Failed { what: "open chat", message: "the database is unavailable".into() });
    assert!(!app.inbox().opening());
    assert!(app.notice().is_some_and(|n| n.contains("unavailable")));
}

#[test]
fn enter_opens_a_campaign_over_the_pane_and_esc_backs_out() {
    let mut app = loaded_app();
    press(&mut app, &[ch('5')]);
    app.apply(Update::Broadcast(BroadcastUpdate::List(campaigns())));
    app.apply(Update::Broadcast(BroadcastUpdate::Detail(campaign_detail())));
    press(&mut app, &[key(KeyCode::Enter)]);
    let screen = render(&app, 80, 24);
    assert!(!screen.contains("Campaigns ("), "the detail has the whole pane\n{screen}");
    assert_snapshot!("broadcast_campaign_open", screen);
    // Its actions still work from the detail; j scrolls it rather than choosing another campaign.
    let intents = press(&mut app, &[ch('j'), ch('p'), ch('y')]);
    assert_eq!(loads(&intents), vec![Request::Broadcast(BroadcastRequest::Pause(campaign_detail().id))]);
    press(&mut app, &[key(KeyCode::Esc)]);
    assert!(render(&app, 80, 24).contains("Campaigns (3)"));
    let intents = press(&mut app, &[ch('j'), ch('l')]);
    assert_eq!(loads(&intents).len(), 1, "j moved the selection (its detail loads), l opened it");
    let screen = render(&app, 80, 24);
    assert!(screen.contains("#2 Restock") && !screen.contains("Campaigns ("), "{screen}");
}

#[test]
fn l_opens_a_template_and_h_backs_out() {
    let mut app = loaded_app();
    press(&mut app, &[ch('6')]);
    app.apply(Update::Templates(TemplatesUpdate::List(template_items())));
    press(&mut app, &[ch('j'), ch('j'), ch('l')]);
    let screen = render(&app, 80, 24);
    assert!(!screen.contains("Templates ("), "{screen}");
    assert_snapshot!("templates_template_open", screen);
    let help = {
        press(&mut app, &[ch('?')]);
        let help = render(&app, 100, 30);
        press(&mut app, &[key(KeyCode::Esc)]);
        help
    };
    assert!(help.contains("back to the list"), "{help}");
    press(&mut app, &[ch('h')]);
    assert!(render(&app, 80, 24).contains("Templates (4)"));
}
