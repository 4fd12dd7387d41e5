//! The Contacts pane's keys, paging, form and import.

use crossterm::event::{KeyCode, KeyEvent};

use super::*;
use crate::fixtures::{ch, contacts, env, key, loads};
use crate::intent::ContactSort;
use crate::intent::Request;

fn loaded() -> (Contacts, Queue) {
    let mut pane = Contacts::default();
    let mut queue = Queue::default();
    pane.activate(&mut queue);
    pane.apply(
        &Update::Contacts(ContactsUpdate::Page { rows: contacts(), next: None, appended: false }),
        &env(),
        &mut queue,
    );
    queue.drain();
    (pane, queue)
}

fn keys(pane: &mut Contacts, queue: &mut Queue, keys: &[KeyEvent]) -> Vec<Request> {
    for k in keys {
        pane.handle_key(*k, &env(), queue);
    }
    loads(&queue.drain())
}

fn typed(pane: &mut Contacts, queue: &mut Queue, text: &str) {
    for c in text.chars() {
        pane.handle_key(ch(c), &env(), queue);
    }
}

#[test]
fn sort_and_stage_filter_reload_with_the_new_query() {
    let (mut pane, mut queue) = loaded();
    let requests = keys(&mut pane, &mut queue, &[ch('o')]);
    let by_name = ContactQuery { sort: ContactSort::Name, ..Default::default() };
    assert_eq!(requests, vec![Request::Contacts(ContactsRequest::Page { query: by_name.clone(), after: None })]);
    keys(&mut pane, &mut queue, &[ch('s'), ch('s')]);
    assert_eq!(pane.query().stage, Some(Stage::Engaged));
    let cleared = keys(&mut pane, &mut queue, &[key(KeyCode::Esc)]);
    assert_eq!(cleared, vec![Request::Contacts(ContactsRequest::Page { query: by_name, after: None })]);
}

#[test]
fn scrolling_near_the_end_fetches_the_next_page() {
    let (mut pane, mut queue) = loaded();
    pane.apply(
        &Update::Contacts(ContactsUpdate::Page { rows: contacts(), next: Some("active:3:x".into()), appended: false }),
        &env(),
        &mut queue,
    );
    let requests = keys(&mut pane, &mut queue, &[ch('j'), ch('j')]);
    assert_eq!(
        requests,
        vec![Request::Contacts(ContactsRequest::Page {
            query: ContactQuery::default(),
            after: Some("active:3:x".into())
        })]
    );
    let more = vec![ContactRow { id: ContactId(9), ..contacts()[0].clone() }];
    pane.apply(&Update::Contacts(ContactsUpdate::Page { rows: more, next: None, appended: true }), &env(), &mut queue);
    assert_eq!(pane.selected().map(|r| r.id), Some(ContactId(3)), "the selection stays put");
    assert!(keys(&mut pane, &mut queue, &[ch('G')]).is_empty(), "the last page was reached");
}

#[test]
fn the_form_checks_what_it_can_before_asking_core() {
    let (mut pane, mut queue) = loaded();
    keys(&mut pane, &mut queue, &[ch('n')]);
    assert!(pane.captures_keys());
    typed(&mut pane, &mut queue, "Bo");
    assert!(keys(&mut pane, &mut queue, &[key(KeyCode::Enter)]).is_empty());
    assert_eq!(pane.form_error(), Some((Some("Phone"), "a phone number is required")));
    keys(&mut pane, &mut queue, &[key(KeyCode::Tab)]);
    typed(&mut pane, &mut queue, "+14155552671");
    assert_eq!(pane.form_error(), None, "typing in the field clears its error");
    keys(&mut pane, &mut queue, &[key(KeyCode::Tab)]);
    for _ in 0..3 {
        pane.handle_key(key(KeyCode::Backspace), &env(), &mut queue);
    }
    typed(&mut pane, &mut queue, "Won");
    assert!(keys(&mut pane, &mut queue, &[key(KeyCode::Enter)]).is_empty());
    assert!(pane.form_error().is_some_and(|(field, m)| field == Some("Stage") && m.contains("not a valid stage")));
    for _ in 0..3 {
        pane.handle_key(key(KeyCode::Backspace), &env(), &mut queue);
    }
    typed(&mut pane, &mut queue, "paid");
    keys(&mut pane, &mut queue, &[key(KeyCode::Tab)]);
    typed(&mut pane, &mut queue, "vip, lisbon");
    assert_eq!(
        keys(&mut pane, &mut queue, &[key(KeyCode::Enter)]),
        vec![Request::Contacts(ContactsRequest::Save(ContactDraft {
            id: None,
            name: "Bo".into(),
            phone: "+14155552671".into(),
            stage: Some(Stage::Paid),
            tags: vec!["vip".into(), "lisbon".into()],
        }))]
    );
}

#[test]
fn core_refusals_land_beside_their_field_and_a_save_closes_the_form() {
    let (mut pane, mut queue) = loaded();
    keys(&mut pane, &mut queue, &[ch('e')]);
    pane.apply(
        &Update::Contacts(ContactsUpdate::FormError(
            "a contact with this phone already exists in this business".into(),
        )),
        &env(),
        &mut queue,
    );
    assert_eq!(pane.form_error().map(|(f, _)| f), Some(Some("Phone")));
    let saved = ContactRow { name: "Maria C.".into(), ..contacts()[0].clone() };
    pane.apply(&Update::Contacts(ContactsUpdate::Saved(saved)), &env(), &mut queue);
    assert!(!pane.captures_keys());
    assert_eq!(pane.selected().map(|r| r.name.as_str()), Some("Maria C."));
}

#[test]
fn tags_are_added_and_removed_in_one_line() {
    let (mut pane, mut queue) = loaded();
    keys(&mut pane, &mut queue, &[ch('t')]);
    typed(&mut pane, &mut queue, "+hot -vip wholesale");
    assert_eq!(
        keys(&mut pane, &mut queue, &[key(KeyCode::Enter)]),
        vec![Request::Contacts(ContactsRequest::Tags {
            contact: ContactId(1),
            add: vec!["hot".into(), "wholesale".into()],
            remove: vec!["vip".into()],
        })]
    );
}

#[test]
fn import_asks_for_a_file_and_reports_progress() {
    let (mut pane, mut queue) = loaded();
    keys(&mut pane, &mut queue, &[ch('i')]);
    typed(&mut pane, &mut queue, "/tmp/leads.csv");
    assert_eq!(
        keys(&mut pane, &mut queue, &[key(KeyCode::Enter)]),
        vec![Request::Contacts(ContactsRequest::Import(PathBuf::from("/tmp/leads.csv")))]
    );
    pane.apply(&Update::Contacts(ContactsUpdate::ImportDone("imported: 3 created".into())), &env(), &mut queue);
    assert!(matches!(loads(&queue.drain()).as_slice(), [Request::Contacts(ContactsRequest::Page { .. })]));
}
