//! Sales pipeline: the one stage-change path (rules, history only on change, events), concurrency,
//! bulk moves, keyword rules, board, metrics, and tenant isolation.

use sqlx::PgPool;
use wacrm_core::contacts::{self, ContactFilter, NewContact};
use wacrm_core::events;
use wacrm_core::pipeline::{self, MoveOutcome, MoveSource};
use wacrm_core::{ContactId, Error, Scope, Stage, business};

async fn tenant(pool: &PgPool, name: &str) -> Scope {
    let (b, _) = business::create(pool, name, &format!("{name}@example.com"), "US").await.unwrap();
    Scope::for_business(pool, b.id).await.unwrap()
}

async fn contact(pool: &PgPool, scope: &Scope, n: u32) -> ContactId {
    let new = NewContact { phone: format!("+1415555{n:04}"), name: Some(format!("C{n}")), ..NewContact::default() };
    contacts::create(pool, scope, &new).await.unwrap().id
}

async fn stage_of(pool: &PgPool, scope: &Scope, id: ContactId) -> Stage {
    contacts::get(pool, scope, id).await.unwrap().stage
}

async fn stage_events(pool: &PgPool, scope: &Scope) -> Vec<events::Recorded> {
    let all = events::list_since(pool, scope, 0, 10_000).await.unwrap();
    all.into_iter().filter(|e| e.kind == "stage_changed").collect()
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn history_and_event_only_on_a_real_change(pool: PgPool) {
    let scope = tenant(&pool, "acme").await;
    let id = contact(&pool, &scope, 2671).await;
    let moved = pipeline::move_stage(&pool, &scope, id, Stage::Engaged).await.unwrap();
    assert_eq!((moved.from, moved.to, moved.outcome), (Stage::New, Stage::Engaged, MoveOutcome::Moved));
    let same = pipeline::move_stage(&pool, &scope, id, Stage::Engaged).await.unwrap();
    assert_eq!(same.outcome, MoveOutcome::Unchanged);

    let history = pipeline::history(&pool, &scope, Some(id), 10).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].from, history[0].to, history[0].source.as_str()),
        (Some(Stage::New), Some(Stage::Engaged), "manual")
    );
    let events = stage_events(&pool, &scope).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].contact_id, Some(id));
    assert_eq!(events[0].payload["from"], "New");
    assert_eq!(events[0].payload["to"], "Engaged");
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn lost_to_paid_is_blocked_by_default_and_rules_are_configurable(pool: PgPool) {
    let scope = tenant(&pool, "acme").await;
    let id = contact(&pool, &scope, 2671).await;
    pipeline::move_stage(&pool, &scope, id, Stage::Lost).await.unwrap();
    let err = pipeline::move_stage(&pool, &scope, id, Stage::Paid).await.unwrap_err();
    assert!(matches!(&err, Error::Conflict { message, .. } if message.contains("Lost") && message.contains("Paid")));
    assert_eq!(stage_of(&pool, &scope, id).await, Stage::Lost);
    assert_eq!(pipeline::history(&pool, &scope, Some(id), 10).await.unwrap().len(), 1);

    let rules = pipeline::allow_transition(&pool, &scope, Stage::Lost, Stage::Paid).await.unwrap();
    assert!(rules.blocked.is_empty());
    pipeline::move_stage(&pool, &scope, id, Stage::Paid).await.unwrap();
    pipeline::block_transition(&pool, &scope, Stage::Paid, Stage::New).await.unwrap();
    assert!(pipeline::move_stage(&pool, &scope, id, Stage::New).await.is_err());
    assert!(matches!(
        pipeline::allow_transition(&pool, &scope, Stage::New, Stage::Lost).await,
        Err(Error::NotFound { .. })
    ));
    assert!(pipeline::block_transition(&pool, &scope, Stage::New, Stage::New).await.is_err());

    let reset = pipeline::reset_rules(&pool, &scope).await.unwrap();
    assert_eq!(reset.blocked.len(), 1);
    assert_eq!((reset.blocked[0].from, reset.blocked[0].to), (Stage::Lost, Stage::Paid));
    assert_eq!(reset.keywords.len(), 3);
    assert!(reset.keyword_rules_enabled);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn concurrent_moves_leave_a_consistent_history(pool: PgPool) {
    let scope = tenant(&pool, "acme").await;
    let id = contact(&pool, &scope, 2671).await;
    let stages = [Stage::Engaged, Stage::Interested, Stage::New, Stage::Paid, Stage::Lost];
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let (pool, scope) = (pool.clone(), scope.clone());
            tokio::spawn(async move {
                let mut tx = pool.begin().await.unwrap();
                let moved =
                    pipeline::move_stage_on(&mut tx, &scope, id, stages[i % stages.len()], MoveSource::Automation)
                        .await
                        .unwrap();
                // Hold the lock a moment so the moves really queue up on it.
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                tx.commit().await.unwrap();
                moved
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let mut history = pipeline::history(&pool, &scope, Some(id), 1000).await.unwrap();
    history.reverse();
    assert!(!history.is_empty());
    assert_eq!(history[0].from, Some(Stage::New));
    for pair in history.windows(2) {
        assert_eq!(pair[0].to, pair[1].from, "{history:#?}");
        assert!(pair[0].changed_at <= pair[1].changed_at);
    }
    for row in &history {
        assert_ne!(row.from, row.to);
    }
    assert_eq!(history.last().unwrap().to, Some(stage_of(&pool, &scope, id).await));
    assert_eq!(stage_events(&pool, &scope).await.len(), history.len());
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn bulk_move_obeys_the_rules_and_writes_history(pool: PgPool) {
    let scope = tenant(&pool, "acme").await;
    let mut expo = Vec::new();
    for n in 0..5 {
        let id = contact(&pool, &scope, 2670 + n).await;
        contacts::add_tags(&pool, &scope, id, &["expo".into()]).await.unwrap();
        expo.push(id);
    }
    let other = contact(&pool, &scope, 2680).await;
    pipeline::move_stage(&pool, &scope, expo[0], Stage::Lost).await.unwrap();
    pipeline::move_stage(&pool, &scope, expo[1], Stage::Paid).await.unwrap();

    let filter = ContactFilter { tags_any: vec!["EXPO".into()], ..ContactFilter::default() };
    let everyone =
        pipeline::bulk_move(&pool, &scope, &ContactFilter::default(), Stage::Paid, pipeline::BulkCoverage::Filtered)
            .await
            .unwrap_err();
    assert!(matches!(everyone, Error::Invalid { .. }), "an unfiltered bulk move needs EveryContact: {everyone:?}");
    let report =
        pipeline::bulk_move(&pool, &scope, &filter, Stage::Paid, pipeline::BulkCoverage::Filtered).await.unwrap();
    assert_eq!((report.matched, report.moved, report.unchanged), (5, 3, 1));
    assert_eq!(report.blocked, vec![expo[0]]);
    assert_eq!(stage_of(&pool, &scope, other).await, Stage::New);
    assert_eq!(stage_of(&pool, &scope, expo[0]).await, Stage::Lost);
    let bulk: Vec<_> =
        pipeline::history(&pool, &scope, None, 100).await.unwrap().into_iter().filter(|h| h.source == "bulk").collect();
    assert_eq!(bulk.len(), 3);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn keyword_rules_move_through_the_same_path(pool: PgPool) {
    let scope = tenant(&pool, "acme").await;
    let id = contact(&pool, &scope, 2671).await;
    let say = |text: &'static str| {
        let (pool, business) = (pool.clone(), scope.business());
        async move {
            let mut tx = pool.begin().await.unwrap();
            pipeline::apply_keyword_rules(&mut tx, business, id, text).await.unwrap();
            tx.commit().await.unwrap();
        }
    };
    say("Hi, what does it cost?").await;
    assert_eq!(stage_of(&pool, &scope, id).await, Stage::New);
    say("I'm INTERESTED in the blue one").await;
    assert_eq!(stage_of(&pool, &scope, id).await, Stage::Interested);
    say("ok, not now").await;
    assert_eq!(stage_of(&pool, &scope, id).await, Stage::Lost);
    // Lost → Paid is blocked: the message is still accepted, the stage stays.
    say("paid").await;
    assert_eq!(stage_of(&pool, &scope, id).await, Stage::Lost);
    let history = pipeline::history(&pool, &scope, Some(id), 10).await.unwrap();
    assert_eq!(history.len(), 2);
    assert!(history.iter().all(|h| h.source == "keyword"));

    pipeline::set_keyword(&pool, &scope, "Ready to BUY", Stage::Engaged).await.unwrap();
    say("I am ready to buy!").await;
    assert_eq!(stage_of(&pool, &scope, id).await, Stage::Engaged);
    pipeline::set_keyword_rules_enabled(&pool, &scope, false).await.unwrap();
    say("interested").await;
    assert_eq!(stage_of(&pool, &scope, id).await, Stage::Engaged);
    pipeline::set_keyword_rules_enabled(&pool, &scope, true).await.unwrap();
    pipeline::remove_keyword(&pool, &scope, "interested").await.unwrap();
    say("interested").await;
    assert_eq!(stage_of(&pool, &scope, id).await, Stage::Engaged);
    assert!(matches!(pipeline::remove_keyword(&pool, &scope, "interested").await, Err(Error::NotFound { .. })));
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn board_groups_stages_by_recent_activity_with_paged_columns(pool: PgPool) {
    let scope = tenant(&pool, "acme").await;
    let mut new = Vec::new();
    for n in 0..5 {
        new.push(contact(&pool, &scope, 2670 + n).await);
    }
    let paid = contact(&pool, &scope, 2690).await;
    pipeline::move_stage(&pool, &scope, paid, Stage::Paid).await.unwrap();
    // Higher id = more recently active.
    sqlx::query("UPDATE contacts SET last_active = NOW() - make_interval(mins => 1000 - id) WHERE business_id = $1")
        .bind(scope.business().0)
        .execute(&pool)
        .await
        .unwrap();

    let board = pipeline::board(&pool, &scope, 2).await.unwrap();
    let stages: Vec<Stage> = board.iter().map(|c| c.stage).collect();
    assert_eq!(stages, Stage::ALL.to_vec());
    assert_eq!(board.iter().map(|c| c.count).collect::<Vec<_>>(), vec![5, 0, 0, 1, 0]);
    let first: Vec<ContactId> = board[0].contacts.iter().map(|c| c.id).collect();
    assert_eq!(first, vec![new[4], new[3]]);
    let next = pipeline::column(&pool, &scope, Stage::New, board[0].next.as_deref(), 2).await.unwrap();
    assert_eq!(next.items.iter().map(|c| c.id).collect::<Vec<_>>(), vec![new[2], new[1]]);
    assert!(board[3].next.is_none());
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn metrics_on_known_history(pool: PgPool) {
    let scope = tenant(&pool, "acme").await;
    let b = scope.business().0;
    let ids: Vec<ContactId> = [
        contact(&pool, &scope, 1).await,
        contact(&pool, &scope, 2).await,
        contact(&pool, &scope, 3).await,
        contact(&pool, &scope, 4).await,
    ]
    .to_vec();
    // Everyone created 100 days ago; history in hours after that.
    sqlx::query("UPDATE contacts SET created_at = NOW() - INTERVAL '100 days' WHERE business_id = $1")
        .bind(b)
        .execute(&pool)
        .await
        .unwrap();
    let history: &[(usize, Stage, Stage, i32)] = &[
        (0, Stage::New, Stage::Engaged, 10),
        (0, Stage::Engaged, Stage::Interested, 30),
        (0, Stage::Interested, Stage::Paid, 40),
        (1, Stage::New, Stage::Engaged, 20),
        (1, Stage::Engaged, Stage::Lost, 30),
        (3, Stage::New, Stage::Interested, 5),
    ];
    for (i, from, to, hours) in history {
        sqlx::query(
            "INSERT INTO pipeline_history (business_id, contact_id, from_stage, to_stage, changed_at)
             VALUES ($1, $2, $3, $4, NOW() - INTERVAL '100 days' + make_interval(hours => $5))",
        )
        .bind(b)
        .bind(ids[*i].0)
        .bind(*from)
        .bind(*to)
        .bind(*hours)
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query("UPDATE contacts SET stage = $3 WHERE business_id = $1 AND id = $2")
            .bind(b)
            .bind(ids[*i].0)
            .bind(*to)
            .execute(&pool)
            .await
            .unwrap();
    }
    // Another business's data must not count.
    let other = tenant(&pool, "other").await;
    let o = contact(&pool, &other, 9).await;
    pipeline::move_stage(&pool, &other, o, Stage::Paid).await.unwrap();

    let m = pipeline::metrics(&pool, &scope).await.unwrap();
    assert_eq!(m.contacts, 4);
    assert_eq!(m.per_stage.iter().map(|s| s.count).collect::<Vec<_>>(), vec![1, 0, 1, 1, 1]);
    assert_eq!(m.win_rate, Some(0.25));
    assert_eq!(m.funnel.iter().map(|f| f.reached).collect::<Vec<_>>(), vec![4, 3, 2, 1]);
    let rates: Vec<Option<f64>> =
        m.funnel.iter().map(|f| f.from_previous.map(|r| (r * 1000.0).round() / 1000.0)).collect();
    assert_eq!(rates, vec![None, Some(0.75), Some(0.667), Some(0.5)]);
    let time = |stage: Stage| m.time_in_stage.iter().find(|t| t.stage == stage).unwrap().clone();
    let round = |h: Option<f64>| h.map(|h| (h * 100.0).round() / 100.0);
    let new = time(Stage::New);
    assert_eq!((new.stays, round(new.median_hours), round(new.p90_hours)), (3, Some(10.0), Some(18.0)));
    let engaged = time(Stage::Engaged);
    assert_eq!((engaged.stays, round(engaged.median_hours), round(engaged.p90_hours)), (2, Some(15.0), Some(19.0)));
    assert_eq!(time(Stage::Lost).stays, 0);

    let stuck = pipeline::stuck(&pool, &scope, 30, None, 10).await.unwrap();
    assert_eq!(stuck.iter().map(|s| s.id).collect::<Vec<_>>(), vec![ids[2], ids[3]]);
    assert!(stuck[0].days > 99.0);
    let paid = pipeline::stuck(&pool, &scope, 30, Some(Stage::Paid), 10).await.unwrap();
    assert_eq!(paid.iter().map(|s| s.id).collect::<Vec<_>>(), vec![ids[0]]);
    assert!(pipeline::stuck(&pool, &scope, 200, None, 10).await.unwrap().is_empty());
    // Beyond a century back the cut-off overflowed (u32::MAX wrapped to a negative count: everyone).
    for days in [pipeline::MAX_STUCK_DAYS + 1, u32::MAX] {
        assert!(matches!(pipeline::stuck(&pool, &scope, days, None, 10).await, Err(Error::Invalid { .. })), "{days}");
    }
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn time_in_stage_follows_the_moves_times_not_their_ids(pool: PgPool) {
    let scope = tenant(&pool, "acme").await;
    let b = scope.business().0;
    let id = contact(&pool, &scope, 1).await;
    sqlx::query("UPDATE contacts SET created_at = NOW() - INTERVAL '100 days' WHERE business_id = $1")
        .bind(b)
        .execute(&pool)
        .await
        .unwrap();
    // Consistent times (created, +10 h, +30 h) written later move first: the ids run against time.
    for (from, to, hours) in [(Stage::Engaged, Stage::Interested, 30), (Stage::New, Stage::Engaged, 10)] {
        sqlx::query(
            "INSERT INTO pipeline_history (business_id, contact_id, from_stage, to_stage, changed_at)
             VALUES ($1, $2, $3, $4, NOW() - INTERVAL '100 days' + make_interval(hours => $5))",
        )
        .bind(b)
        .bind(id.0)
        .bind(from)
        .bind(to)
        .bind(hours)
        .execute(&pool)
        .await
        .unwrap();
    }
    let m = pipeline::metrics(&pool, &scope).await.unwrap();
    let median = |stage: Stage| {
        let t = m.time_in_stage.iter().find(|t| t.stage == stage).unwrap();
        (t.stays, t.median_hours.map(|h| (h * 100.0).round() / 100.0))
    };
    // By id the New stay was measured from the later move back to the earlier one: -20 hours.
    assert_eq!(median(Stage::New), (1, Some(10.0)));
    assert_eq!(median(Stage::Engaged), (1, Some(20.0)));
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn the_demos_time_in_stage_is_never_negative(pool: PgPool) {
    let tenant = wacrm_core::demo::ensure(&pool, wacrm_core::demo::Scale::Small, None).await.unwrap();
    let scope = Scope::for_business(&pool, tenant.business).await.unwrap();
    // The demo numbers each contact's moves in the order they happened, as real moves are numbered.
    let backwards: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pipeline_history a JOIN pipeline_history b
           ON b.business_id = a.business_id AND b.contact_id = a.contact_id AND b.id > a.id
         WHERE a.business_id = $1 AND b.changed_at < a.changed_at",
    )
    .bind(scope.business().0)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(backwards, 0, "demo history rows numbered against time");
    let m = pipeline::metrics(&pool, &scope).await.unwrap();
    for stage in [Stage::New, Stage::Engaged, Stage::Interested] {
        let t = m.time_in_stage.iter().find(|t| t.stage == stage).unwrap();
        assert!(t.stays > 0, "{t:?}");
        for hours in [t.median_hours, t.p90_hours] {
            assert!(hours.is_some_and(|h| h >= 0.0), "{t:?}");
        }
    }
    // Nor does a move precede the contact's creation, so no stay of the demo's is negative.
    let before_creation: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pipeline_history h JOIN contacts c ON c.business_id = h.business_id AND c.id = h.contact_id
         WHERE h.business_id = $1 AND h.changed_at < c.created_at",
    )
    .bind(scope.business().0)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(before_creation, 0);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn another_business_contacts_and_rules_are_untouchable(pool: PgPool) {
    let mine = tenant(&pool, "mine").await;
    let theirs = tenant(&pool, "theirs").await;
    let their = contact(&pool, &theirs, 2671).await;
    contacts::add_tags(&pool, &theirs, their, &["expo".into()]).await.unwrap();

    assert!(matches!(pipeline::move_stage(&pool, &mine, their, Stage::Paid).await, Err(Error::NotFound { .. })));
    let mut tx = pool.begin().await.unwrap();
    let keyword = pipeline::apply_keyword_rules(&mut tx, mine.business(), their, "interested").await;
    assert!(matches!(keyword, Err(Error::NotFound { .. })));
    tx.rollback().await.unwrap();
    assert!(matches!(pipeline::history(&pool, &mine, Some(their), 10).await, Err(Error::NotFound { .. })));
    let filter = ContactFilter { tags_any: vec!["expo".into()], ..ContactFilter::default() };
    assert_eq!(
        pipeline::bulk_move(&pool, &mine, &filter, Stage::Lost, pipeline::BulkCoverage::Filtered)
            .await
            .unwrap()
            .matched,
        0
    );
    pipeline::block_transition(&pool, &mine, Stage::New, Stage::Engaged).await.unwrap();
    pipeline::set_keyword_rules_enabled(&pool, &mine, false).await.unwrap();

    assert_eq!(stage_of(&pool, &theirs, their).await, Stage::New);
    assert!(pipeline::history(&pool, &theirs, Some(their), 10).await.unwrap().is_empty());
    assert!(pipeline::history(&pool, &mine, None, 10).await.unwrap().is_empty());
    assert_eq!(pipeline::metrics(&pool, &mine).await.unwrap().contacts, 0);
    assert!(pipeline::board(&pool, &mine, 10).await.unwrap().iter().all(|c| c.count == 0));
    let their_rules = pipeline::rules(&pool, &theirs).await.unwrap();
    assert_eq!(their_rules.blocked.len(), 1);
    assert!(their_rules.keyword_rules_enabled);
    // Their rules still apply to them: their own keyword move works.
    pipeline::move_stage(&pool, &theirs, their, Stage::Engaged).await.unwrap();
}
