//! The Inbox's key handling, drafts, popups and live updates, without a terminal.

use chrono::Duration;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use wacrm_core::{ContactId, Stage, UserId};

use super::*;
use crate::fixtures::{ch, chat, conversation, conversations, ctrl, env, key, live, loads};
use crate::intent::{InboxUpdate, Request};
use crate::view::TemplateRow;
use crate::view::{CannedRow, ConversationPage};

fn loaded() -> (Inbox, Queue) {
    let mut inbox = Inbox::default();
    let mut queue = Queue::default();
    inbox.activate(&mut queue);
    let page = ConversationPage { rows: conversations(), next: None };
    inbox.apply(
        &Update::Inbox(InboxUpdate::Conversations {
            page,
            appended: false,
            filter: ConversationFilter::All,
            search: None,
        }),
        &env(),
        &mut queue,
    );
    let cursor = wacrm_core::inbox::conversations::Cursor { at: fixtures_now(), id: 1 };
    inbox.apply(
        &Update::Inbox(InboxUpdate::Chat { contact: ContactId(1), messages: chat(), older: Some(cursor) }),
        &env(),
        &mut queue,
    );
    queue.drain();
    (inbox, queue)
}

fn keys(inbox: &mut Inbox, queue: &mut Queue, keys: &[KeyEvent]) -> Vec<Request> {
    for k in keys {
        inbox.handle_key(*k, &env(), queue);
    }
    loads(&queue.drain())
}

#[test]
fn first_activation_loads_the_first_page_once() {
    let mut inbox = Inbox::default();
    let mut queue = Queue::default();
    inbox.activate(&mut queue);
    inbox.activate(&mut queue);
    assert_eq!(
        loads(&queue.drain()),
        vec![
            Request::Inbox(InboxRequest::Conversations { filter: ConversationFilter::All, search: None, after: None }),
            Request::Inbox(InboxRequest::Canned)
        ]
    );
}

#[test]
fn moving_the_selection_opens_that_chat() {
    let (mut inbox, mut queue) = loaded();
    assert_eq!(keys(&mut inbox, &mut queue, &[ch('j')]), vec![Request::Inbox(InboxRequest::Chat(ContactId(2)))]);
    assert_eq!(inbox.selected().map(|r| r.contact), Some(ContactId(2)));
    assert_eq!(keys(&mut inbox, &mut queue, &[ch('G')]), vec![Request::Inbox(InboxRequest::Chat(ContactId(4)))]);
    assert!(keys(&mut inbox, &mut queue, &[ch('j')]).is_empty(), "the last row stays selected");
}

#[test]
fn nearing_the_end_fetches_the_next_page_once_by_cursor() {
    let mut inbox = Inbox::default();
    let mut queue = Queue::default();
    let rows: Vec<ConversationRow> = (1..=30).map(|i| conversation(i, "C", i64::from(i))).collect();
    let cursor = wacrm_core::inbox::conversations::Cursor { at: fixtures_now(), id: 30 };
    inbox.apply(
        &Update::Inbox(InboxUpdate::Conversations {
            page: ConversationPage { rows, next: Some(cursor) },
            appended: false,
            filter: ConversationFilter::All,
            search: None,
        }),
        &env(),
        &mut queue,
    );
    queue.drain();
    let requests = keys(
        &mut inbox,
        &mut queue,
        &[ch('j'), ch('j'), ch('j'), ch('j'), ch('j'), ch('j'), ch('j'), ch('j'), ch('j'), ch('j'), ch('j')],
    );
    let pages: Vec<_> =
        requests.iter().filter(|r| matches!(r, Request::Inbox(InboxRequest::Conversations { .. }))).collect();
    assert_eq!(
        pages,
        vec![&Request::Inbox(InboxRequest::Conversations {
            filter: ConversationFilter::All,
            search: None,
            after: Some(cursor)
        })]
    );
    // The page arrives and is appended without moving the selection.
    let more: Vec<ConversationRow> = (31..=40).map(|i| conversation(i, "D", i64::from(i))).collect();
    inbox.apply(
        &Update::Inbox(InboxUpdate::Conversations {
            page: ConversationPage { rows: more, next: None },
            appended: true,
            filter: ConversationFilter::All,
            search: None,
        }),
        &env(),
        &mut queue,
    );
    assert_eq!(inbox.rows().len(), 40);
    assert_eq!(inbox.selected().map(|r| r.contact), Some(ContactId(12)));
}

fn fixtures_now() -> chrono::DateTime<chrono::Utc> {
    crate::fixtures::now()
}

#[test]
fn enter_marks_read_and_focuses_the_composer_then_enter_sends() {
    let (mut inbox, mut queue) = loaded();
    assert_eq!(
        keys(&mut inbox, &mut queue, &[key(KeyCode::Enter)]),
        vec![Request::Inbox(InboxRequest::MarkRead(ContactId(1)))]
    );
    assert_eq!(inbox.focus(), Focus::Composer);
    let sent = keys(&mut inbox, &mut queue, &[ch('h'), ch('i'), key(KeyCode::Enter)]);
    assert_eq!(sent, vec![Request::Inbox(InboxRequest::Send { contact: ContactId(1), text: "hi".into() })]);
    assert_eq!(inbox.composer_text(), "");
    // A blank composer sends nothing.
    assert!(keys(&mut inbox, &mut queue, &[ch(' '), key(KeyCode::Enter)]).is_empty());
}

#[test]
fn a_failed_send_puts_the_text_back() {
    let (mut inbox, mut queue) = loaded();
    keys(&mut inbox, &mut queue, &[key(KeyCode::Enter), ch('o'), ch('k'), key(KeyCode::Enter)]);
    inbox.apply(&Update::Failed { what: "send", message: "limit".into() }, &env(), &mut queue);
    assert_eq!(inbox.composer_text(), "ok");
    assert_eq!(inbox.focus(), Focus::Composer);
}

#[test]
fn a_closed_window_leads_to_the_template_picker() {
    let (mut inbox, mut queue) = loaded();
    keys(&mut inbox, &mut queue, &[ch('j'), ch('j')]);
    // Enter starts a draft, whatever the window: typed letters (`t`!) are text, never keys.
    keys(&mut inbox, &mut queue, &[key(KeyCode::Enter)]);
    assert_eq!(inbox.focus(), Focus::Composer);
    assert!(keys(&mut inbox, &mut queue, &[ch('t'), ch('a'), ch('t')]).is_empty());
    assert_eq!(inbox.composer_text(), "tat");
    // Sending with the window closed opens the template form instead, keeping the draft.
    assert_eq!(keys(&mut inbox, &mut queue, &[key(KeyCode::Enter)]), vec![Request::Inbox(InboxRequest::Templates)]);
    assert_eq!(inbox.composer_text(), "tat");
    let template = TemplateRow { name: "order_update".into(), language: "en_US".into(), preview: "Hi {{1}}".into() };
    inbox.apply(&Update::Inbox(InboxUpdate::Templates(vec![template])), &env(), &mut queue);
    // Pick, two Enters on a blank parameter, a digit: nothing is sent.
    let stray = [key(KeyCode::Enter), key(KeyCode::Enter), key(KeyCode::Enter), ch('1')];
    assert!(keys(&mut inbox, &mut queue, &stray).is_empty());
    let filled = [key(KeyCode::Backspace), ch('M'), ch('o'), key(KeyCode::Enter)];
    let render =
        InboxRequest::RenderTemplate { contact: ContactId(3), name: "order_update".into(), params: vec!["Mo".into()] };
    assert_eq!(keys(&mut inbox, &mut queue, &filled), vec![Request::Inbox(render)], "core renders the preview");
    assert!(keys(&mut inbox, &mut queue, &[ch('y')]).is_empty(), "y waits for core's rendering");
    let result = Ok("Hi Mo".to_string());
    let preview = Update::Inbox(InboxUpdate::TemplatePreview {
        contact: ContactId(3),
        name: "order_update".into(),
        params: vec!["Mo".into()],
        result,
    });
    inbox.apply(&preview, &env(), &mut queue);
    assert_eq!(
        keys(&mut inbox, &mut queue, &[ch('y')]),
        vec![Request::Inbox(InboxRequest::SendTemplate {
            contact: ContactId(3),
            name: "order_update".into(),
            language: "en_US".into(),
            params: vec!["Mo".into()],
        })]
    );
}

#[test]
fn each_chat_keeps_its_own_draft() {
    let (mut inbox, mut queue) = loaded();
    keys(&mut inbox, &mut queue, &[key(KeyCode::Enter), ch('f'), ch('o'), ch('r'), ch(' '), ch('A')]);
    keys(&mut inbox, &mut queue, &[key(KeyCode::Esc), key(KeyCode::Esc), ch('j')]);
    assert_eq!(inbox.composer_text(), "", "the next chat does not inherit the draft");
    keys(&mut inbox, &mut queue, &[key(KeyCode::Enter)]);
    assert_eq!(keys(&mut inbox, &mut queue, &[key(KeyCode::Enter)]), Vec::new(), "a blank draft sends nothing");
    keys(&mut inbox, &mut queue, &[key(KeyCode::Esc), key(KeyCode::Esc), ch('k')]);
    assert_eq!(inbox.composer_text(), "for A");
    assert_eq!(inbox.drafts(), BTreeMap::from([(ContactId(1), "for A".to_string())]));
    assert_eq!(inbox.draft_names().len(), 1);
}

#[test]
fn taking_over_another_agents_conversation_asks_first() {
    let (mut inbox, mut queue) = loaded();
    let theirs = ConversationRow {
        assigned: Some("Bo Agent".into()),
        assigned_id: Some(UserId(9)),
        ..conversation(1, "Ana", 0)
    };
    inbox.apply(&Update::Inbox(InboxUpdate::Conversation(theirs)), &env(), &mut queue);
    queue.drain();
    assert!(keys(&mut inbox, &mut queue, &[ch('a')]).is_empty());
    assert!(inbox.captures_keys(), "the confirmation has every key");
    assert!(keys(&mut inbox, &mut queue, &[key(KeyCode::Enter), ch('2')]).is_empty());
    assert_eq!(keys(&mut inbox, &mut queue, &[ch('y')]), vec![Request::Inbox(InboxRequest::AssignToMe(ContactId(1)))]);
    assert!(!inbox.captures_keys());
}

#[test]
fn window_time_left_counts_from_the_last_inbound_message() {
    let row = conversation(1, "A", 60);
    assert_eq!(row.window_left(crate::fixtures::now()), Some(Duration::hours(23)));
    let old = ConversationRow { last_inbound_at: Some(crate::fixtures::now() - Duration::hours(25)), ..row };
    assert_eq!(old.window_left(crate::fixtures::now()), None);
}

#[test]
fn stage_assign_and_read_from_the_chat() {
    let (mut inbox, mut queue) = loaded();
    keys(&mut inbox, &mut queue, &[key(KeyCode::Tab)]);
    assert_eq!(inbox.focus(), Focus::Chat);
    assert_eq!(
        keys(&mut inbox, &mut queue, &[ch('s'), ch('4')]),
        vec![Request::Inbox(InboxRequest::SetStage { contact: ContactId(1), stage: Stage::Paid })]
    );
    assert_eq!(
        keys(&mut inbox, &mut queue, &[ch('a'), ch('r')]),
        vec![
            Request::Inbox(InboxRequest::AssignToMe(ContactId(1))),
            Request::Inbox(InboxRequest::MarkRead(ContactId(1)))
        ]
    );
    // Choosing the current stage changes nothing.
    assert!(keys(&mut inbox, &mut queue, &[ch('s'), key(KeyCode::Enter)]).is_empty());
}

#[test]
fn scrolling_past_the_oldest_loaded_message_loads_the_page_before() {
    let (mut inbox, mut queue) = loaded();
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(100, 12)).expect("terminal");
    terminal.draw(|f| inbox.draw(f, f.area(), &env())).expect("frame");
    keys(&mut inbox, &mut queue, &[key(KeyCode::Tab)]);
    let before = wacrm_core::inbox::conversations::Cursor { at: fixtures_now(), id: 1 };
    let requests = keys(&mut inbox, &mut queue, &[key(KeyCode::PageUp), key(KeyCode::PageUp)]);
    assert_eq!(requests, vec![Request::Inbox(InboxRequest::OlderChat { contact: ContactId(1), before })], "asked once");
    let older = vec![crate::fixtures::message(
        0,
        wacrm_core::Direction::In,
        "first ever",
        wacrm_core::MessageStatus::Read,
        9000,
    )];
    inbox.apply(
        &Update::Inbox(InboxUpdate::OlderChat { contact: ContactId(1), messages: older, older: None }),
        &env(),
        &mut queue,
    );
    assert!(keys(&mut inbox, &mut queue, &[key(KeyCode::PageUp), key(KeyCode::PageUp)]).is_empty(), "no more pages");
}

#[test]
fn older_pages_stay_loaded_when_the_newest_page_comes_again() {
    let (mut inbox, mut queue) = loaded();
    let first =
        crate::fixtures::message(0, wacrm_core::Direction::In, "first ever", wacrm_core::MessageStatus::Read, 9000);
    let older = Update::Inbox(InboxUpdate::OlderChat { contact: ContactId(1), messages: vec![first], older: None });
    inbox.apply(&older, &env(), &mut queue);
    // A live event reloads the newest page, which starts after the page loaded by scrolling up.
    let cursor = wacrm_core::inbox::conversations::Cursor { at: fixtures_now(), id: 1 };
    let newest = Update::Inbox(InboxUpdate::Chat { contact: ContactId(1), messages: chat(), older: Some(cursor) });
    inbox.apply(&newest, &env(), &mut queue);
    let chat = inbox.chat.as_ref().expect("open chat");
    assert_eq!(chat.messages.first().map(|m| m.body.as_str()), Some("first ever"));
    assert_eq!(chat.messages.len(), crate::fixtures::chat().len() + 1);
    assert_eq!(chat.older, None, "the oldest page's cursor stays: nothing is before it");
}

#[test]
fn filters_cycle_and_reload() {
    let (mut inbox, mut queue) = loaded();
    assert_eq!(
        keys(&mut inbox, &mut queue, &[ch('f')]),
        vec![Request::Inbox(InboxRequest::Conversations {
            filter: ConversationFilter::Unread,
            search: None,
            after: None
        })]
    );
}

#[test]
fn live_messages_reload_the_row_and_ring_only_for_other_chats() {
    let (mut inbox, mut queue) = loaded();
    let env = env();
    inbox.apply(&live("message_received", 1), &env, &mut queue);
    let intents = queue.drain();
    assert_eq!(
        loads(&intents),
        vec![
            Request::Inbox(InboxRequest::Conversation(ContactId(1))),
            Request::Inbox(InboxRequest::Chat(ContactId(1)))
        ]
    );
    assert!(!intents.contains(&Intent::Bell));
    inbox.apply(&live("message_received", 3), &env, &mut queue);
    let intents = queue.drain();
    assert_eq!(loads(&intents), vec![Request::Inbox(InboxRequest::Conversation(ContactId(3)))]);
    assert!(intents.contains(&Intent::Bell));
    inbox.apply(&live("status_changed", 1), &env, &mut queue);
    assert_eq!(
        loads(&queue.drain()),
        vec![
            Request::Inbox(InboxRequest::Conversation(ContactId(1))),
            Request::Inbox(InboxRequest::Chat(ContactId(1)))
        ]
    );
}

#[test]
fn a_refreshed_row_moves_to_the_top_and_the_selection_follows_its_contact() {
    let (mut inbox, mut queue) = loaded();
    let fresh = ConversationRow { unread: 1, ..conversation(4, "Sam O'Neil", 0) };
    inbox.apply(&Update::Inbox(InboxUpdate::Conversation(fresh)), &env(), &mut queue);
    assert_eq!(inbox.rows()[0].contact, ContactId(4));
    assert_eq!(inbox.rows().len(), 4);
    assert_eq!(inbox.selected().map(|r| r.contact), Some(ContactId(1)));
}

#[test]
fn composer_keys_stay_in_the_composer() {
    let (mut inbox, mut queue) = loaded();
    keys(&mut inbox, &mut queue, &[key(KeyCode::Enter)]);
    keys(
        &mut inbox,
        &mut queue,
        &[ch('j'), ch('k'), ch('s'), KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT), ch('x')],
    );
    assert_eq!(inbox.composer_text(), "jks\nx");
    assert_eq!(inbox.focus(), Focus::Composer);
    let intents = {
        inbox.handle_key(KeyEvent::new(KeyCode::Char('e'), KeyModifiers::CONTROL), &env(), &mut queue);
        queue.drain()
    };
    assert_eq!(intents, vec![Intent::OpenEditor("jks\nx".into())]);
    inbox.apply(&Update::Edited(Some("from the editor\n".into())), &env(), &mut queue);
    assert_eq!(inbox.composer_text(), "from the editor");
}

fn typed(inbox: &mut Inbox, queue: &mut Queue, text: &str) -> Vec<Request> {
    let keys: Vec<KeyEvent> = text.chars().map(ch).collect();
    self::keys(inbox, queue, &keys)
}

#[test]
fn resolve_reopen_snooze_and_note_from_the_list() {
    let (mut inbox, mut queue) = loaded();
    assert_eq!(keys(&mut inbox, &mut queue, &[ch('x')]), vec![Request::Inbox(InboxRequest::Resolve(ContactId(1)))]);
    let resolved = ConversationRow { resolved: true, ..conversations()[0].clone() };
    inbox.apply(&Update::Inbox(InboxUpdate::Conversation(resolved)), &env(), &mut queue);
    queue.drain();
    assert_eq!(keys(&mut inbox, &mut queue, &[ch('x')]), vec![Request::Inbox(InboxRequest::Reopen(ContactId(1)))]);

    // The snooze form starts at "tomorrow"; nonsense is refused in the form, which stays open.
    keys(&mut inbox, &mut queue, &[ch('z'), ctrl('u')]);
    assert!(typed(&mut inbox, &mut queue, "soon").is_empty());
    assert!(keys(&mut inbox, &mut queue, &[key(KeyCode::Enter)]).is_empty());
    assert!(inbox.captures_keys(), "still open after a refusal");
    keys(&mut inbox, &mut queue, &[ctrl('u')]);
    typed(&mut inbox, &mut queue, "2h");
    let until = wacrm_core::inbox::workflow::SnoozeUntil::parse("2h", fixtures_now(), crate::fixtures::utc()).unwrap();
    assert_eq!(
        keys(&mut inbox, &mut queue, &[key(KeyCode::Enter)]),
        vec![Request::Inbox(InboxRequest::Snooze { contact: ContactId(1), until })]
    );

    keys(&mut inbox, &mut queue, &[ch('n')]);
    typed(&mut inbox, &mut queue, "qx1 refund ok");
    assert_eq!(
        keys(&mut inbox, &mut queue, &[key(KeyCode::Enter)]),
        vec![Request::Inbox(InboxRequest::AddNote { contact: ContactId(1), body: "qx1 refund ok".into() })]
    );
}

#[test]
fn a_canned_reply_expands_with_its_fields_and_is_not_sent() {
    let (mut inbox, mut queue) = loaded();
    let reply = CannedRow {
        shortcut: "ship".into(),
        body: "Hi {{name}}, it ships in {{days}} days.".into(),
        fields: vec!["name".into(), "days".into()],
    };
    inbox.apply(&Update::Inbox(InboxUpdate::Canned(vec![reply])), &env(), &mut queue);
    keys(&mut inbox, &mut queue, &[key(KeyCode::Enter)]);
    queue.drain();
    typed(&mut inbox, &mut queue, "/ship");
    assert!(keys(&mut inbox, &mut queue, &[key(KeyCode::Enter)]).is_empty(), "expanded, not sent");
    // "name" starts as the customer's name; days is asked for.
    keys(&mut inbox, &mut queue, &[key(KeyCode::Tab)]);
    typed(&mut inbox, &mut queue, "3");
    assert!(keys(&mut inbox, &mut queue, &[key(KeyCode::Enter)]).is_empty());
    assert_eq!(inbox.composer_text(), "Hi Maria Costa, it ships in 3 days.");
    assert_eq!(inbox.focus(), Focus::Composer);
    // An unknown shortcut is neither sent nor expanded.
    keys(&mut inbox, &mut queue, &[ctrl('u')]);
    typed(&mut inbox, &mut queue, "/nope");
    let intents = {
        inbox.handle_key(key(KeyCode::Enter), &env(), &mut queue);
        queue.drain()
    };
    assert!(!loads(&intents).iter().any(|r| matches!(r, Request::Inbox(InboxRequest::Send { .. }))));
    assert_eq!(inbox.composer_text(), "/nope");
}

#[test]
fn a_late_page_of_an_earlier_filter_is_dropped_and_a_failed_one_shows_why() {
    let (mut inbox, mut queue) = loaded();
    keys(&mut inbox, &mut queue, &[ch('f'), ch('f')]);
    let unread_page = ConversationPage { rows: vec![conversation(9, "Old answer", 1)], next: None };
    let stale = Update::Inbox(InboxUpdate::Conversations {
        page: unread_page,
        appended: false,
        filter: ConversationFilter::Unread,
        search: None,
    });
    inbox.apply(&stale, &env(), &mut queue);
    assert_ne!(inbox.rows()[0].contact, ContactId(9), "the list is not the unread one under the \"mine\" title");
    inbox.apply(&Update::Failed { what: "conversations", message: "mine needs a login".into() }, &env(), &mut queue);
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(100, 12)).expect("terminal");
    terminal.draw(|f| inbox.draw(f, f.area(), &env())).expect("frame");
    let screen = format!("{:?}", terminal.backend().buffer());
    assert!(screen.contains("The mine list could not be loaded"), "{screen}");
}

#[test]
fn a_message_arriving_in_the_chat_being_read_is_marked_read() {
    let (mut inbox, mut queue) = loaded();
    keys(&mut inbox, &mut queue, &[key(KeyCode::Tab)]);
    inbox.apply(&live("message_received", 1), &env(), &mut queue);
    assert!(loads(&queue.drain()).contains(&Request::Inbox(InboxRequest::MarkRead(ContactId(1)))));
    inbox.apply(&live("message_received", 3), &env(), &mut queue);
    assert!(
        !loads(&queue.drain()).contains(&Request::Inbox(InboxRequest::MarkRead(ContactId(3)))),
        "another chat stays unread"
    );
}

#[test]
fn assigning_to_a_teammate_or_nobody() {
    let (mut inbox, mut queue) = loaded();
    assert_eq!(keys(&mut inbox, &mut queue, &[ch('A')]), vec![Request::Inbox(InboxRequest::Teammates)]);
    let team = vec![
        crate::view::Teammate { id: UserId(2), name: "Ana Agent".into() },
        crate::view::Teammate { id: UserId(5), name: "Bo Agent".into() },
    ];
    inbox.apply(&Update::Inbox(InboxUpdate::Teammates(team)), &env(), &mut queue);
    assert_eq!(
        keys(&mut inbox, &mut queue, &[ch('j'), ch('j'), key(KeyCode::Enter)]),
        vec![Request::Inbox(InboxRequest::Assign { contact: ContactId(1), user: UserId(5) })]
    );
    keys(&mut inbox, &mut queue, &[ch('A')]);
    assert_eq!(
        keys(&mut inbox, &mut queue, &[key(KeyCode::Enter)]),
        vec![Request::Inbox(InboxRequest::Unassign(ContactId(1)))]
    );
}

#[test]
fn o_opens_the_one_file_or_offers_a_picker_of_several() {
    let (mut inbox, mut queue) = loaded();
    inbox.handle_key(ch('o'), &env(), &mut queue);
    let intents = queue.drain();
    assert!(loads(&intents).is_empty(), "no file, no download");
    assert!(intents.iter().any(|i| matches!(i, Intent::Notify(t) if t.contains("no image, document"))));

    let mut messages = chat();
    messages[0].media = true;
    let contact = ContactId(1);
    inbox.apply(
        &Update::Inbox(InboxUpdate::Chat { contact, messages: messages.clone(), older: None }),
        &env(),
        &mut queue,
    );
    let first = messages[0].id;
    assert_eq!(keys(&mut inbox, &mut queue, &[ch('o')]), vec![Request::Inbox(InboxRequest::Media(first))]);

    messages[4].media = true;
    let newest = messages[4].id;
    inbox.apply(&Update::Inbox(InboxUpdate::Chat { contact, messages, older: None }), &env(), &mut queue);
    assert!(keys(&mut inbox, &mut queue, &[ch('o')]).is_empty(), "several files: a picker first");
    assert_eq!(
        keys(&mut inbox, &mut queue, &[key(KeyCode::Enter)]),
        vec![Request::Inbox(InboxRequest::Media(newest))],
        "the newest file is offered first"
    );
    inbox.apply(
        &Update::Inbox(InboxUpdate::Media { path: "/tmp/x/7-image.jpg".into(), opened: false }),
        &env(),
        &mut queue,
    );
    assert!(queue.drain().iter().any(|i| matches!(i, Intent::Notify(t) if t.contains("/tmp/x/7-image.jpg"))));
}

#[test]
fn n_searches_only_while_a_chat_search_is_on_and_esc_clears_it_first() {
    let (mut inbox, mut queue) = loaded();
    keys(&mut inbox, &mut queue, &[key(KeyCode::Tab)]);
    assert_eq!(inbox.focus(), Focus::Chat);
    inbox.search_chat("o", &env(), &mut queue);
    let hits = inbox.chat_search.as_ref().map(|s| s.hits.len()).unwrap_or_default();
    assert!(hits >= 2, "{hits}");
    assert_eq!(inbox.chat_search.as_ref().map(|s| s.current), Some(hits - 1));
    keys(&mut inbox, &mut queue, &[ch('n')]);
    assert_eq!(inbox.chat_search.as_ref().map(|s| s.current), Some(hits - 2));
    keys(&mut inbox, &mut queue, &[ch('N'), ch('N')]);
    assert_eq!(inbox.chat_search.as_ref().map(|s| s.current), Some(0), "wraps around");
    assert!(inbox.popup.is_none(), "n is the next match, not a note, while searching");
    keys(&mut inbox, &mut queue, &[key(KeyCode::Esc)]);
    assert!(inbox.chat_search.is_none());
    assert_eq!(inbox.focus(), Focus::Chat, "the first Esc only clears the search");
    keys(&mut inbox, &mut queue, &[ch('n')]);
    assert!(inbox.popup.is_some(), "without a search, n writes a note");
}

#[test]
fn esc_clears_the_list_search() {
    let (mut inbox, mut queue) = loaded();
    inbox.search("maria", &mut queue);
    queue.drain();
    let all = InboxRequest::Conversations { filter: ConversationFilter::All, search: None, after: None };
    assert_eq!(keys(&mut inbox, &mut queue, &[key(KeyCode::Esc)]), vec![Request::Inbox(all)]);
    assert!(keys(&mut inbox, &mut queue, &[key(KeyCode::Esc)]).is_empty(), "nothing left to clear");
}
