//! Contacts: create/edit/delete, tags, search and filter, opt-out, streaming import and export, and
//! tenant isolation of every operation.

use std::io::Cursor;

use sqlx::PgPool;
use wacrm_core::contacts::export::export;
use wacrm_core::contacts::import::{ImportOptions, ImportReport, import};
use wacrm_core::contacts::{self, Contact, ContactChanges, ContactFilter, FileFormat, NewContact, Sort};
use wacrm_core::pipeline::{self, MoveSource};
use wacrm_core::{Error, Scope, Stage, business};

async fn tenant(pool: &PgPool, name: &str) -> Scope {
    let (b, _) = business::create(pool, name, &format!("{name}@example.com"), "US").await.unwrap();
    Scope::for_business(pool, b.id).await.unwrap()
}

fn new(phone: &str, name: &str) -> NewContact {
    NewContact { phone: phone.into(), name: Some(name.into()), ..NewContact::default() }
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/contacts/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

async fn run_import(
    pool: &PgPool,
    scope: &Scope,
    data: Vec<u8>,
    format: FileFormat,
    update: bool,
    dry_run: bool,
) -> ImportReport {
    let options = ImportOptions { update, dry_run, chunk_size: 3, ..ImportOptions::new(format) };
    import(pool, scope, Cursor::new(data), &options, |_| {}).await.unwrap()
}

async fn all(pool: &PgPool, scope: &Scope) -> Vec<Contact> {
    contacts::list(pool, scope, &ContactFilter::default(), Sort::Id, None, 1000).await.unwrap().items
}

async fn count(pool: &PgPool, table: &str) -> i64 {
    // Only the tests' own table names reach this.
    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn create_normalises_the_phone_and_names_the_duplicate(pool: PgPool) {
    let scope = tenant(&pool, "acme").await;
    let ann = contacts::create(&pool, &scope, &new("(415) 555-2671", " Ann Lee ")).await.unwrap();
    assert_eq!(ann.phone.as_deref(), Some("+14155552671"));
    assert_eq!(ann.name.as_deref(), Some("Ann Lee"));
    assert_eq!(ann.stage, Stage::New);

    let err = contacts::create(&pool, &scope, &new("+1 415 555 2671", "Other")).await.unwrap_err();
    let Error::Conflict { message, .. } = &err else { panic!("expected a conflict, got {err:?}") };
    assert!(message.contains(&ann.id.to_string()) && message.contains("Ann Lee"), "{message}");

    let bad = contacts::create(&pool, &scope, &new("12", "x")).await.unwrap_err();
    assert!(matches!(bad, Error::Invalid { .. }), "{bad:?}");
    assert_eq!(all(&pool, &scope).await.len(), 1);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn update_keeps_phones_unique_and_delete_cascades(pool: PgPool) {
    let scope = tenant(&pool, "acme").await;
    let ann = contacts::create(&pool, &scope, &new("+14155552671", "Ann")).await.unwrap();
    let bob = contacts::create(&pool, &scope, &new("+14155552672", "Bob")).await.unwrap();

    let clash = ContactChanges { phone: Some("415 555 2671".into()), ..Default::default() };
    let err = contacts::update(&pool, &scope, bob.id, &clash).await.unwrap_err();
    assert!(matches!(&err, Error::Conflict { message, .. } if message.contains(&ann.id.to_string())), "{err:?}");

    let edited = contacts::update(
        &pool,
        &scope,
        bob.id,
        &ContactChanges { name: Some("Robert".into()), phone: Some("+14155552673".into()) },
    )
    .await
    .unwrap();
    assert_eq!((edited.name.as_deref(), edited.phone.as_deref()), (Some("Robert"), Some("+14155552673")));
    let cleared = contacts::update(&pool, &scope, bob.id, &ContactChanges { name: Some(String::new()), phone: None })
        .await
        .unwrap();
    assert_eq!(cleared.name, None);

    contacts::add_tags(&pool, &scope, ann.id, &["vip".into()]).await.unwrap();
    pipeline::move_stage(&pool, &scope, ann.id, Stage::Engaged).await.unwrap();
    contacts::delete(&pool, &scope, ann.id).await.unwrap();
    assert!(matches!(contacts::get(&pool, &scope, ann.id).await, Err(Error::NotFound { .. })));
    assert_eq!(count(&pool, "contact_tags").await, 0);
    assert_eq!(count(&pool, "pipeline_history").await, 0);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn tags_are_unique_per_contact_in_any_case(pool: PgPool) {
    let scope = tenant(&pool, "acme").await;
    let ann = contacts::create(&pool, &scope, &new("+14155552671", "Ann")).await.unwrap();
    let bob = contacts::create(&pool, &scope, &new("+14155552672", "Bob")).await.unwrap();
    contacts::add_tags(&pool, &scope, ann.id, &["VIP".into(), "hot lead".into()]).await.unwrap();
    let ann_tags = contacts::add_tags(&pool, &scope, ann.id, &["vip".into(), " Vip ".into()]).await.unwrap().tags;
    assert_eq!(ann_tags, vec!["hot lead", "VIP"]);
    // The database refuses a second spelling even when written directly.
    let direct = sqlx::query("INSERT INTO contact_tags (business_id, contact_id, tag) VALUES ($1, $2, 'vIp')")
        .bind(scope.business().0)
        .bind(ann.id.0)
        .execute(&pool)
        .await;
    assert!(direct.is_err());

    contacts::add_tags(&pool, &scope, bob.id, &["vip".into(), "hot".into()]).await.unwrap();
    let counts = contacts::tags(&pool, &scope).await.unwrap();
    assert_eq!(counts[0].tag.to_lowercase(), "vip");
    assert_eq!(counts[0].contacts, 2);

    // Ann has "hot lead"; renaming it to "HOT" merges with Bob's spelling-free side and leaves one each.
    contacts::add_tags(&pool, &scope, ann.id, &["hot".into()]).await.unwrap();
    assert_eq!(contacts::rename_tag(&pool, &scope, "HOT LEAD", "hot").await.unwrap(), 1);
    assert_eq!(contacts::get(&pool, &scope, ann.id).await.unwrap().tags, vec!["hot", "VIP"]);
    assert!(matches!(contacts::rename_tag(&pool, &scope, "nope", "x").await, Err(Error::NotFound { .. })));

    let removed = contacts::remove_tags(&pool, &scope, bob.id, &["VIP".into()]).await.unwrap();
    assert_eq!(removed.tags, vec!["hot"]);
    assert!(matches!(contacts::remove_tags(&pool, &scope, bob.id, &["vip".into()]).await, Err(Error::NotFound { .. })));
    assert_eq!(contacts::delete_tag(&pool, &scope, "Hot").await.unwrap(), 2);
    assert!(matches!(contacts::add_tags(&pool, &scope, ann.id, &["a;b".into()]).await, Err(Error::Invalid { .. })));
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn search_filters_sort_and_keyset_pages(pool: PgPool) {
    let scope = tenant(&pool, "acme").await;
    let names = ["Ann Lee", "bob stone", "Cara Lee", "Dan", "Eve Leeds", "Finn"];
    let mut ids = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let c = contacts::create(&pool, &scope, &new(&format!("+1415555267{i}"), name)).await.unwrap();
        ids.push(c.id);
    }
    contacts::add_tags(&pool, &scope, ids[0], &["vip".into(), "expo".into()]).await.unwrap();
    contacts::add_tags(&pool, &scope, ids[2], &["VIP".into()]).await.unwrap();
    contacts::add_tags(&pool, &scope, ids[3], &["expo".into()]).await.unwrap();
    pipeline::move_stage(&pool, &scope, ids[2], Stage::Interested).await.unwrap();
    contacts::set_opted_out(&pool, &scope, ids[5], true, "manual").await.unwrap();
    sqlx::query("UPDATE contacts SET last_active = NOW() - make_interval(days => id) WHERE business_id = $1")
        .bind(scope.business().0)
        .execute(&pool)
        .await
        .unwrap();

    let find = |filter: ContactFilter| {
        let (pool, scope) = (pool.clone(), scope.clone());
        async move {
            let page = contacts::list(&pool, &scope, &filter, Sort::Name, None, 100).await.unwrap();
            page.items.into_iter().map(|c| c.name.unwrap_or_default()).collect::<Vec<_>>()
        }
    };
    let q = |s: &str| ContactFilter { query: Some(s.into()), ..ContactFilter::default() };
    assert_eq!(find(q("LEE")).await, vec!["Ann Lee", "Cara Lee", "Eve Leeds"]);
    assert_eq!(find(q("(415) 555-2671")).await, vec!["bob stone"]);
    assert_eq!(find(q("5552673")).await, vec!["Dan"]);
    assert_eq!(find(q("%")).await, Vec::<String>::new());
    let tags_any = ContactFilter { tags_any: vec!["Vip".into(), "expo".into()], ..ContactFilter::default() };
    assert_eq!(find(tags_any).await, vec!["Ann Lee", "Cara Lee", "Dan"]);
    let tags_all = ContactFilter { tags_all: vec!["vip".into(), "EXPO".into()], ..ContactFilter::default() };
    assert_eq!(find(tags_all).await, vec!["Ann Lee"]);
    let stage = ContactFilter { stage: Some(Stage::Interested), ..ContactFilter::default() };
    assert_eq!(find(stage).await, vec!["Cara Lee"]);
    assert_eq!(find(ContactFilter { opted_out: Some(true), ..ContactFilter::default() }).await, vec!["Finn"]);
    assert_eq!(find(ContactFilter { opted_out: Some(false), ..ContactFilter::default() }).await.len(), 5);
    let recent = ContactFilter {
        active_after: Some(chrono::Utc::now() - chrono::Duration::hours(ids[1].0 as i64 * 24 + 1)),
        ..ContactFilter::default()
    };
    assert_eq!(find(recent).await, vec!["Ann Lee", "bob stone"]);
    let later = ContactFilter { created_after: Some(chrono::Utc::now()), ..ContactFilter::default() };
    assert!(find(later).await.is_empty());

    // Every sort order pages through everything exactly once.
    for sort in Sort::ALL.iter().copied() {
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page =
                contacts::list(&pool, &scope, &ContactFilter::default(), sort, after.as_deref(), 4).await.unwrap();
            seen.extend(page.items.iter().map(|c| c.id));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "{sort}: {seen:?}");
        if sort == Sort::Active {
            assert_eq!(seen, ids, "most recently active (smallest id here) first");
        }
    }
    let bad = contacts::list(&pool, &scope, &ContactFilter::default(), Sort::Name, Some("active:1:x"), 4).await;
    assert!(matches!(bad, Err(Error::Invalid { .. })));
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn import_reports_rejected_rows_and_dry_run_writes_nothing(pool: PgPool) {
    let scope = tenant(&pool, "acme").await;
    let dry = run_import(&pool, &scope, fixture("mixed.csv"), FileFormat::Csv, false, true).await;
    assert!(dry.dry_run);
    assert_eq!(count(&pool, "contacts").await, 0);
    assert_eq!(count(&pool, "contact_tags").await, 0);

    let report = run_import(&pool, &scope, fixture("mixed.csv"), FileFormat::Csv, false, false).await;
    assert_eq!((report.rows, report.accepted, report.created, report.rejected), (8, 4, 4, 4));
    let rejected: Vec<(u64, &str)> = report.rejected_rows.iter().map(|r| (r.line, r.reason.as_str())).collect();
    assert_eq!(rejected.iter().map(|r| r.0).collect::<Vec<_>>(), vec![4, 5, 6, 8]);
    assert!(rejected[0].1.contains("not a phone number") || rejected[0].1.contains("valid"), "{rejected:?}");
    assert!(rejected[1].1.contains("stage"), "{rejected:?}");
    assert!(rejected[2].1.contains("line 2"), "{rejected:?}");
    assert!(rejected[3].1.contains("missing"), "{rejected:?}");
    assert_eq!((dry.rows, dry.accepted, dry.created, dry.rejected), (8, 4, 4, 4));

    let imported = all(&pool, &scope).await;
    let ann = imported.iter().find(|c| c.phone.as_deref() == Some("+14155552671")).unwrap();
    assert_eq!(
        (ann.name.as_deref(), ann.stage, ann.tags.clone()),
        (Some("Ann Lee"), Stage::Interested, vec!["expo".to_string(), "vip".to_string()])
    );
    let dev = imported.iter().find(|c| c.phone.as_deref() == Some("+442079460958")).unwrap();
    assert_eq!(dev.tags, vec!["Expo", "VIP"]);
    assert!(imported.iter().any(|c| c.phone.as_deref() == Some("+14155552674") && c.name.is_none()));

    let jsonl = run_import(&pool, &scope, fixture("mixed.jsonl"), FileFormat::Jsonl, false, false).await;
    assert_eq!((jsonl.rows, jsonl.accepted, jsonl.created, jsonl.unchanged, jsonl.rejected), (6, 2, 0, 2, 4));
    let lines: Vec<u64> = jsonl.rejected_rows.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![4, 5, 6, 7]);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn reimport_changes_nothing_and_update_overwrites(pool: PgPool) {
    let scope = tenant(&pool, "acme").await;
    let ann = contacts::create(&pool, &scope, &NewContact { phone: "+14155552671".into(), ..NewContact::default() })
        .await
        .unwrap();
    let bob = contacts::create(&pool, &scope, &new("+14155552672", "Robert")).await.unwrap();

    // Without --update: Ann's missing name is filled, Bob keeps his; stages stay; tags are added.
    let first = run_import(&pool, &scope, fixture("mixed.csv"), FileFormat::Csv, false, false).await;
    assert_eq!((first.created, first.updated, first.unchanged), (2, 2, 0));
    assert_eq!(first.stage_changes, 0);
    let ann_now = contacts::get(&pool, &scope, ann.id).await.unwrap();
    assert_eq!((ann_now.name.as_deref(), ann_now.stage), (Some("Ann Lee"), Stage::New));
    assert_eq!(contacts::get(&pool, &scope, bob.id).await.unwrap().name.as_deref(), Some("Robert"));

    let events_before = count(&pool, "events").await;
    let again = run_import(&pool, &scope, fixture("mixed.csv"), FileFormat::Csv, false, false).await;
    assert_eq!((again.created, again.updated, again.unchanged), (0, 0, 4));
    assert_eq!(count(&pool, "events").await, events_before);

    // With --update: names and stages from the file win; the stage change goes through the pipeline.
    let updated = run_import(&pool, &scope, fixture("mixed.csv"), FileFormat::Csv, true, false).await;
    assert_eq!((updated.created, updated.updated, updated.unchanged, updated.stage_changes), (0, 2, 2, 1));
    assert_eq!(contacts::get(&pool, &scope, bob.id).await.unwrap().name.as_deref(), Some("Bob Stone"));
    let ann_now = contacts::get(&pool, &scope, ann.id).await.unwrap();
    assert_eq!(ann_now.stage, Stage::Interested);
    let history = pipeline::history(&pool, &scope, Some(ann.id), 10).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].from, history[0].to, history[0].source.as_str()),
        (Some(Stage::New), Some(Stage::Interested), "import")
    );
    let updated_again = run_import(&pool, &scope, fixture("mixed.csv"), FileFormat::Csv, true, false).await;
    assert_eq!((updated_again.updated, updated_again.unchanged, updated_again.stage_changes), (0, 4, 0));

    // A blocked transition is reported, the rest of the row still applies.
    let mut tx = pool.begin().await.unwrap();
    pipeline::move_stage_on(&mut tx, &scope, ann.id, Stage::Lost, MoveSource::Manual).await.unwrap();
    tx.commit().await.unwrap();
    let blocked =
        run_import(&pool, &scope, b"phone,stage\n+14155552671,Paid\n".to_vec(), FileFormat::Csv, true, false).await;
    assert_eq!(blocked.stage_blocked.len(), 1);
    assert_eq!(blocked.stage_blocked[0].line, 2);
    assert_eq!(contacts::get(&pool, &scope, ann.id).await.unwrap().stage, Stage::Lost);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn export_round_trips_through_import(pool: PgPool) {
    let source = tenant(&pool, "source").await;
    run_import(&pool, &source, fixture("mixed.csv"), FileFormat::Csv, false, false).await;
    let ann = contacts::resolve(&pool, &source, "+14155552671").await.unwrap();
    contacts::add_tags(&pool, &source, ann, &["with space".into()]).await.unwrap();
    let shape = |cs: Vec<Contact>| {
        let mut v: Vec<_> = cs.into_iter().map(|c| (c.phone, c.name, c.stage, c.tags)).collect();
        v.sort();
        v
    };
    let expected = shape(all(&pool, &source).await);
    for format in [FileFormat::Csv, FileFormat::Jsonl] {
        let mut out = Vec::new();
        let written = export(&pool, &source, &ContactFilter::default(), format, &mut out).await.unwrap();
        assert_eq!(written, 4);
        let target = tenant(&pool, &format!("target-{format:?}").to_lowercase()).await;
        let report = run_import(&pool, &target, out.clone(), format, false, false).await;
        assert_eq!((report.created, report.rejected), (4, 0), "{format:?}: {report:?}");
        assert_eq!(shape(all(&pool, &target).await), expected, "{format:?}");
        let again = run_import(&pool, &target, out, format, true, false).await;
        assert_eq!(again.unchanged, 4);
    }
    // A filtered export carries only the matching set.
    let mut out = Vec::new();
    let vip = ContactFilter { tags_any: vec!["vip".into()], ..ContactFilter::default() };
    assert_eq!(export(&pool, &source, &vip, FileFormat::Csv, &mut out).await.unwrap(), 2);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn opt_out_and_back_in(pool: PgPool) {
    let scope = tenant(&pool, "acme").await;
    let ann = contacts::create(&pool, &scope, &new("+14155552671", "Ann")).await.unwrap();
    let out = contacts::set_opted_out(&pool, &scope, ann.id, true, "manual").await.unwrap();
    assert!(out.opted_out_at.is_some());
    assert_eq!(out.opt_out_source.as_deref(), Some("manual"));
    let back = contacts::set_opted_out(&pool, &scope, ann.id, false, "manual").await.unwrap();
    assert_eq!((back.opted_out_at, back.opt_out_source), (None, None));
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn another_business_ids_phones_and_tags_are_not_found(pool: PgPool) {
    let mine = tenant(&pool, "mine").await;
    let theirs = tenant(&pool, "theirs").await;
    let their = contacts::create(&pool, &theirs, &new("+14155552671", "Theirs")).await.unwrap();
    contacts::add_tags(&pool, &theirs, their.id, &["secret".into()]).await.unwrap();
    let snapshot = contacts::get(&pool, &theirs, their.id).await.unwrap();

    let not_found = |r: Result<Contact, Error>| assert!(matches!(r, Err(Error::NotFound { .. })), "{r:?}");
    not_found(contacts::get(&pool, &mine, their.id).await);
    not_found(contacts::update(&pool, &mine, their.id, &ContactChanges { name: Some("x".into()), phone: None }).await);
    not_found(contacts::delete(&pool, &mine, their.id).await);
    not_found(contacts::add_tags(&pool, &mine, their.id, &["x".into()]).await);
    not_found(contacts::remove_tags(&pool, &mine, their.id, &["secret".into()]).await);
    not_found(contacts::set_opted_out(&pool, &mine, their.id, true, "manual").await);
    assert!(matches!(contacts::resolve(&pool, &mine, "+14155552671").await, Err(Error::NotFound { .. })));
    assert!(matches!(contacts::rename_tag(&pool, &mine, "secret", "x").await, Err(Error::NotFound { .. })));
    assert!(matches!(contacts::delete_tag(&pool, &mine, "secret").await, Err(Error::NotFound { .. })));
    assert!(contacts::tags(&pool, &mine).await.unwrap().is_empty());
    let by_phone = ContactFilter { query: Some("4155552671".into()), ..ContactFilter::default() };
    assert!(contacts::list(&pool, &mine, &by_phone, Sort::Active, None, 10).await.unwrap().items.is_empty());
    let by_tag = ContactFilter { tags_any: vec!["secret".into()], ..ContactFilter::default() };
    assert!(contacts::list(&pool, &mine, &by_tag, Sort::Active, None, 10).await.unwrap().items.is_empty());
    let mut out = Vec::new();
    assert_eq!(export(&pool, &mine, &ContactFilter::default(), FileFormat::Csv, &mut out).await.unwrap(), 0);

    // Their phone is free in my business, and importing it there leaves theirs alone.
    let report = run_import(
        &pool,
        &mine,
        b"phone,name,stage,tags\n+14155552671,Mine,Paid,secret\n".to_vec(),
        FileFormat::Csv,
        true,
        false,
    )
    .await;
    assert_eq!(report.created, 1);
    contacts::create(&pool, &mine, &new("+14155552672", "Also mine")).await.unwrap();
    assert_eq!(contacts::get(&pool, &theirs, their.id).await.unwrap(), snapshot);
    assert_eq!(contacts::tags(&pool, &theirs).await.unwrap()[0].contacts, 1);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_phone_repeated_in_a_later_chunk_changes_nothing(pool: PgPool) {
    let scope = tenant(&pool, "acme").await;
    let file = b"phone,name,stage,tags\n+14155552671,Ann,New,a\n+14155552672,Bob,,\n+14155552673,Cy,,\n\
                 +1 415 555 2671,Ann Two,Paid,b\n+14155552674,Dee,,c\n"
        .to_vec();
    let report = run_import(&pool, &scope, file, FileFormat::Csv, true, false).await;
    assert_eq!((report.created, report.rejected, report.stage_changes), (4, 1, 0));
    assert_eq!(report.rejected_rows[0].line, 5);
    assert!(report.rejected_rows[0].reason.contains("line 2"), "{report:?}");
    let ann = contacts::resolve(&pool, &scope, "+14155552671").await.unwrap();
    let ann = contacts::get(&pool, &scope, ann).await.unwrap();
    assert_eq!((ann.name.as_deref(), ann.stage, ann.tags), (Some("Ann"), Stage::New, vec!["a".to_string()]));
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn an_import_refuses_an_odd_chunk_size_and_rejects_what_an_unterminated_quote_swallowed(pool: PgPool) {
    let scope = tenant(&pool, "quotes").await;
    for chunk_size in [0, usize::MAX] {
        let options = ImportOptions { chunk_size, ..ImportOptions::new(FileFormat::Csv) };
        let refused = import(&pool, &scope, Cursor::new(b"phone\n+14155552671\n".to_vec()), &options, |_| {}).await;
        assert!(matches!(refused, Err(Error::Invalid { .. })), "chunk size {chunk_size}: {refused:?}");
    }
    assert!(all(&pool, &scope).await.is_empty());

    // The quote opened on line 2 closes on line 3: one record whose name holds line 3.
    let csv = b"phone,name\n+14155552671,\"unclosed\n+14155552672,ok\"\n+14155552673,Fine\n".to_vec();
    let report = run_import(&pool, &scope, csv, FileFormat::Csv, false, false).await;
    assert_eq!((report.created, report.rejected), (1, 1));
    assert!(report.rejected_rows[0].reason.contains("line break"), "{:?}", report.rejected_rows[0]);
    let names: Vec<Option<String>> = all(&pool, &scope).await.into_iter().map(|c| c.name).collect();
    assert_eq!(names, [Some("Fine".to_string())]);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn names_with_control_characters_and_phones_with_letters_are_refused(pool: PgPool) {
    let scope = tenant(&pool, "typed").await;
    for (phone, name) in [("+14155552671", "Bad\u{1b}[31mRed"), ("+1415555267O", "Letter O")] {
        let refused = contacts::create(&pool, &scope, &new(phone, name)).await;
        assert!(matches!(refused, Err(Error::Invalid { .. })), "{phone} {name:?}: {refused:?}");
    }
    let ann = contacts::create(&pool, &scope, &new("+14155552671", "Ann")).await.unwrap();
    let changes = ContactChanges { name: Some("two\nlines".into()), ..ContactChanges::default() };
    assert!(matches!(contacts::update(&pool, &scope, ann.id, &changes).await, Err(Error::Invalid { .. })));
    assert_eq!(contacts::get(&pool, &scope, ann.id).await.unwrap().name.as_deref(), Some("Ann"));
}

/// A name a spreadsheet would run as a formula is exported quoted, and imported back as it was.
#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn exported_formulas_are_quoted_and_import_back_unchanged(pool: PgPool) {
    let source = tenant(&pool, "formula-source").await;
    let name = "=cmd|' /C calc'!A0";
    contacts::create(&pool, &source, &new("+14155552671", name)).await.unwrap();
    let mut out = Vec::new();
    export(&pool, &source, &ContactFilter::default(), FileFormat::Csv, &mut out).await.unwrap();
    let text = String::from_utf8(out.clone()).unwrap();
    assert!(text.contains("'=cmd"), "{text}");
    assert!(text.contains("'+14155552671"), "{text}");
    let target = tenant(&pool, "formula-target").await;
    let report = run_import(&pool, &target, out, FileFormat::Csv, false, false).await;
    assert_eq!((report.created, report.rejected), (1, 0), "{report:?}");
    let imported = all(&pool, &target).await;
    assert_eq!(imported[0].name.as_deref(), Some(name));
    assert_eq!(imported[0].phone.as_deref(), Some("+14155552671"));
}

/// A contact who wrote first on WhatsApp has the profile name WhatsApp sent and no name of its own: the
/// table shows the profile name, so search finds it by that name and the name order sorts by it.
#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn whatsapp_profile_names_are_found_and_sorted_as_shown(pool: PgPool) {
    let scope = tenant(&pool, "acme").await;
    let ann = contacts::create(&pool, &scope, &new("+14155552670", "Ann Lee")).await.unwrap();
    contacts::create(&pool, &scope, &new("+14155552671", "Cara Lee")).await.unwrap();
    let bea = NewContact { phone: "+14155552672".into(), ..NewContact::default() };
    let bea = contacts::create(&pool, &scope, &bea).await.unwrap();
    // What ingest records for a new sender; a given name (Ann's) goes before the profile name.
    for (id, profile) in [(bea.id, "Bea Leeming"), (ann.id, "Zed Profile")] {
        sqlx::query("UPDATE contacts SET profile_name = $3 WHERE business_id = $1 AND id = $2")
            .bind(scope.business().0)
            .bind(id.0)
            .bind(profile)
            .execute(&pool)
            .await
            .unwrap();
    }
    let shown = |c: &Contact| c.name.clone().or_else(|| c.profile_name.clone()).unwrap_or_default();
    let find = |query: &str| {
        let (pool, scope) = (pool.clone(), scope.clone());
        let filter = ContactFilter { query: Some(query.into()), ..ContactFilter::default() };
        async move {
            let page = contacts::list(&pool, &scope, &filter, Sort::Name, None, 100).await.unwrap();
            page.items.iter().map(shown).collect::<Vec<_>>()
        }
    };
    assert_eq!(find("leem").await, vec!["Bea Leeming"]);
    assert_eq!(find("LEE").await, vec!["Ann Lee", "Bea Leeming", "Cara Lee"]);
    assert!(find("zed").await.is_empty(), "a profile name behind a given name is not what the table shows");
    // The name order pages by the shown name too: each page continues where the last one stopped.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page =
            contacts::list(&pool, &scope, &ContactFilter::default(), Sort::Name, after.as_deref(), 2).await.unwrap();
        seen.extend(page.items.iter().map(shown));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, vec!["Ann Lee", "Bea Leeming", "Cara Lee"]);
}
