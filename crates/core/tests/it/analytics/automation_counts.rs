//! The automation counts' rollup (migration 0096) against the runs and actions it counts, after
//! randomized writes of every kind its triggers see: the engine's inserts, status updates one action at
//! a time and claims in batches, kinds, statuses and times changed by hand, runs and rules deleted
//! (their actions go by cascade), a business deleted. The reports read what the raw rows count, over
//! ranges whose ends are local midnights; `verify` finds nothing, a planted drift is found and
//! repaired, a compaction keeps every figure, and another business's rows never count.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::PgPool;
use wacrm_core::Scope;
use wacrm_core::analytics::{Granularity, Range, automation, verify};

use super::outcomes::{rule, run};
use super::{at, contact, range, tenant};

const KINDS: [&str; 4] = ["send_template", "send_text", "move_stage", "add_tag"];
const STATUSES: [&str; 5] = ["pending", "sending", "done", "skipped", "failed"];

/// Per rule of the business, by id: runs, held back, sent, not sent and stage moves in the range,
/// counted from the runs and actions as the report counted them before the rollup.
async fn raw_counts(pool: &PgPool, scope: &Scope, range: &Range) -> Vec<(i32, [i64; 5])> {
    let rows: Vec<(i32, i64, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT r.id, coalesce(u.runs, 0), coalesce(u.held, 0), coalesce(a.sent, 0), coalesce(a.not_sent, 0),
                coalesce(a.moves, 0)
         FROM automation_rules r
         LEFT JOIN (SELECT rule_id, count(*) FILTER (WHERE matched) AS runs, count(*) FILTER (WHERE NOT matched) AS held
                    FROM automation_runs WHERE business_id = $1 AND created_at >= $2 AND created_at < $3
                    GROUP BY 1) u ON u.rule_id = r.id
         LEFT JOIN (SELECT rule_id,
                           count(*) FILTER (WHERE kind IN ('send_template', 'send_text') AND status = 'done') AS sent,
                           count(*) FILTER (WHERE kind IN ('send_template', 'send_text')
                                              AND status IN ('failed', 'skipped')) AS not_sent,
                           count(*) FILTER (WHERE kind = 'move_stage' AND status = 'done') AS moves
                    FROM automation_actions WHERE business_id = $1 AND created_at >= $2 AND created_at < $3
                    GROUP BY 1) a ON a.rule_id = r.id
         WHERE r.business_id = $1 ORDER BY r.id",
    )
    .bind(scope.business().0)
    .bind(range.start)
    .bind(range.end)
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(rule, runs, held, sent, not_sent, moves)| (rule, [runs, held, sent, not_sent, moves]))
        .collect()
}

/// The report's and the summary's counts, as [`raw_counts`] gives them.
async fn reported(pool: &PgPool, scope: &Scope, range: &Range) -> (Vec<(i32, [i64; 5])>, [i64; 3]) {
    let r = automation::report(pool, scope, range).await.unwrap();
    let rules = r
        .rules
        .iter()
        .map(|x| (x.rule, [x.runs, x.held_back, x.messages_sent, x.messages_not_sent, x.stage_moves]))
        .collect();
    let t = automation::totals(pool, scope, range).await.unwrap();
    assert_eq!([t.runs, t.messages_sent, t.stage_moves], [r.runs, r.messages_sent, r.stage_moves]);
    (rules, [t.runs, t.messages_sent, t.stage_moves])
}

async fn assert_reports_count_the_raw_rows(pool: &PgPool, scope: &Scope, range: &Range) {
    let raw = raw_counts(pool, scope, range).await;
    let totals = [0, 2, 4].map(|i| raw.iter().map(|(_, c)| c[i]).sum::<i64>());
    assert_eq!(reported(pool, scope, range).await, (raw, totals), "{range:?}");
}

/// An id of the business's actions (or runs) picked by `seed` (none when it has none).
async fn pick(pool: &PgPool, scope: &Scope, runs: bool, seed: u32) -> Option<i64> {
    let sql = if runs {
        "SELECT id FROM automation_runs WHERE business_id = $1 ORDER BY md5(id::text || $2::text) LIMIT 1"
    } else {
        "SELECT id FROM automation_actions WHERE business_id = $1 ORDER BY md5(id::text || $2::text) LIMIT 1"
    };
    sqlx::query_scalar(sql).bind(scope.business().0).bind(i64::from(seed)).fetch_optional(pool).await.unwrap()
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn automation_counts_match_the_runs_and_actions_after_randomized_writes(pool: PgPool) {
    let scopes = [tenant(&pool, "one", "UTC").await, tenant(&pool, "two", "Asia/Kathmandu").await];
    let doomed = tenant(&pool, "doomed", "UTC").await;
    let mut rng = StdRng::seed_from_u64(96);
    let mut setup = Vec::new();
    for scope in scopes.iter().chain([&doomed]) {
        let mut contacts = Vec::new();
        for n in 0..4 {
            contacts.push(contact(&pool, scope, n, "2026-01-01T00:00:00Z", Some("inbound")).await);
        }
        let mut rules = Vec::new();
        for name in ["welcome", "qualify", "nudge"] {
            rules.push(rule(&pool, scope, name).await);
        }
        setup.push((contacts, rules));
    }
    for step in 0..400 {
        // The doomed business writes too, now and then: its rows are deleted with it at the end.
        let i = if step % 10 == 9 { 2 } else { rng.random_range(0..2) };
        let scope = if i == 2 { &doomed } else { &scopes[i] };
        let business = scope.business().0;
        let (contacts, rules) = &mut setup[i];
        let when = format!(
            "2026-0{}-{:02}T{:02}:{:02}:00Z",
            rng.random_range(1..4),
            rng.random_range(1..29),
            rng.random_range(0..24),
            rng.random_range(0..60)
        );
        let kind = KINDS[rng.random_range(0..KINDS.len())];
        let status = STATUSES[rng.random_range(0..STATUSES.len())];
        let seed = rng.random::<u32>();
        match rng.random_range(0..12) {
            // The engine: a run (or a guard's refusal), then its actions; here several in one statement.
            0..=3 => {
                let matched = rng.random_bool(0.8);
                let rule = rules[rng.random_range(0..rules.len())];
                let r = run(&pool, scope, rule, contacts[rng.random_range(0..contacts.len())], matched, &when).await;
                let n = if matched { rng.random_range(0..4) } else { 0 };
                let kinds: Vec<&str> = (0..n).map(|_| KINDS[rng.random_range(0..KINDS.len())]).collect();
                let statuses: Vec<&str> = (0..n).map(|_| STATUSES[rng.random_range(0..STATUSES.len())]).collect();
                sqlx::query(
                    "INSERT INTO automation_actions (business_id, run_id, rule_id, contact_id, position, kind, spec,
                                                     status, created_at)
                     SELECT r.business_id, r.id, r.rule_id, r.contact_id, a.position - 1, a.kind, '{}', a.status,
                            r.created_at
                     FROM automation_runs r, unnest($3::text[], $4::text[]) WITH ORDINALITY AS a (kind, status, position)
                     WHERE r.business_id = $1 AND r.id = $2",
                )
                .bind(business)
                .bind(r.id)
                .bind(&kinds)
                .bind(&statuses)
                .execute(&pool)
                .await
                .unwrap();
            }
            // The sender settles a claimed action, one at a time.
            4 | 5 => {
                let settled = ["done", "failed", "skipped"][rng.random_range(0..3)];
                sqlx::query(
                    "UPDATE automation_actions SET status = $2, updated_at = now() WHERE business_id = $1
                     AND id = (SELECT min(id) FROM automation_actions WHERE business_id = $1 AND status IN ('pending', 'sending'))",
                )
                .bind(business)
                .bind(settled)
                .execute(&pool)
                .await
                .unwrap();
            }
            // The claim: every pending action to sending in one statement (no figure moves); the engine's
            // latency of every run (none either).
            6 => {
                sqlx::query(
                    "UPDATE automation_actions SET status = 'sending' WHERE business_id = $1 AND status = 'pending'",
                )
                .bind(business)
                .execute(&pool)
                .await
                .unwrap();
                sqlx::query("UPDATE automation_runs SET latency_us = 42 WHERE business_id = $1")
                    .bind(business)
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            // By hand: an action's kind and time, or its status, changed.
            7 => {
                if let Some(id) = pick(&pool, scope, false, seed).await {
                    let sql =
                        "UPDATE automation_actions SET kind = $2, created_at = $4 WHERE business_id = $1 AND id = $3";
                    sqlx::query(sql).bind(business).bind(kind).bind(id).bind(at(&when)).execute(&pool).await.unwrap();
                }
            }
            8 => {
                if let Some(id) = pick(&pool, scope, false, seed).await {
                    let sql = "UPDATE automation_actions SET status = $2 WHERE business_id = $1 AND id = $3";
                    sqlx::query(sql).bind(business).bind(status).bind(id).execute(&pool).await.unwrap();
                }
            }
            // By hand: a run's outcome and time changed.
            9 => {
                if let Some(id) = pick(&pool, scope, true, seed).await {
                    sqlx::query(
                        "UPDATE automation_runs SET matched = NOT matched, created_at = $2 WHERE business_id = $1 AND id = $3",
                    )
                    .bind(business)
                    .bind(at(&when))
                    .bind(id)
                    .execute(&pool)
                    .await
                    .unwrap();
                }
            }
            // A run goes, with its actions (a cascade).
            10 => {
                if let Some(id) = pick(&pool, scope, true, seed).await {
                    let sql = "DELETE FROM automation_runs WHERE business_id = $1 AND id = $2";
                    sqlx::query(sql).bind(business).bind(id).execute(&pool).await.unwrap();
                }
            }
            // Now and then a rule goes, with its runs and their actions; a new one takes its place.
            _ => {
                if step % 4 == 0 {
                    let gone = rules.remove(rng.random_range(0..rules.len()));
                    let sql = "DELETE FROM automation_rules WHERE business_id = $1 AND id = $2";
                    sqlx::query(sql).bind(business).bind(gone).execute(&pool).await.unwrap();
                    rules.push(rule(&pool, scope, &format!("rule {step}")).await);
                }
            }
        }
        if step % 100 == 50 {
            verify::compact(&pool, scope).await.unwrap();
        }
    }
    // A business deleted takes its runs and actions by cascade: their triggers add nothing for it.
    let rollup_rows = |business: i32| {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM analytics_automation_counts WHERE business_id = $1")
            .bind(business)
            .fetch_one(&pool)
    };
    assert!(rollup_rows(doomed.business().0).await.unwrap() > 0);
    sqlx::query("DELETE FROM businesses WHERE id = $1").bind(doomed.business().0).execute(&pool).await.unwrap();
    assert_eq!(rollup_rows(doomed.business().0).await.unwrap(), 0);

    for scope in &scopes {
        let v = verify::verify(&pool, scope, false).await.unwrap();
        assert!(v.exact() && v.buckets > 0, "{v:?}");
        // The year, and a month whose local midnights are 18:15 UTC in Kathmandu: rows of the range's
        // edge buckets count on the right side.
        let year = range(&pool, scope, "2026-01-01", "2026-12-31", Granularity::Month).await;
        let february = range(&pool, scope, "2026-02-01", "2026-02-28", Granularity::Day).await;
        for r in [&year, &february] {
            assert_reports_count_the_raw_rows(&pool, scope, r).await;
        }
        let (rules, _) = reported(&pool, scope, &year).await;
        let every = [0, 1, 2, 3, 4].map(|i| rules.iter().map(|(_, c)| c[i]).sum::<i64>());
        assert!(every.iter().all(|n| *n > 0), "every figure is exercised: {every:?}");
        // A compaction folds the deltas and keeps the figures.
        let before = reported(&pool, scope, &february).await;
        let compacted = verify::compact(&pool, scope).await.unwrap();
        assert!(compacted.rows_after <= compacted.rows_before, "{compacted:?}");
        let folded: i64 = sqlx::query_scalar(
            "SELECT count(*) - count(DISTINCT (bucket, rule_id)) FROM analytics_automation_counts WHERE business_id = $1",
        )
        .bind(scope.business().0)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(folded, 0, "one row per bucket and rule");
        assert_eq!(reported(&pool, scope, &february).await, before);
        assert!(verify::verify(&pool, scope, false).await.unwrap().exact());
    }

    // A delta that no run or action accounts for is reported, in its bucket and rule, and repaired.
    let rule = setup[0].1[0];
    sqlx::query(
        "INSERT INTO analytics_automation_counts (business_id, bucket, rule_id, runs, held_back, sent, not_sent, moves)
         VALUES ($1, '2026-02-02T10:15:00Z', $2, 0, 0, 1, 0, 0)",
    )
    .bind(scopes[0].business().0)
    .bind(rule)
    .execute(&pool)
    .await
    .unwrap();
    let v = verify::verify(&pool, &scopes[0], false).await.unwrap();
    let drift: Vec<_> = v.differences.iter().map(|d| (d.figure.clone(), d.bucket)).collect();
    assert_eq!(drift, [(format!("automation sent (rule {rule})"), at("2026-02-02T10:15:00Z"))], "{v:?}");
    assert!(verify::verify(&pool, &scopes[1], false).await.unwrap().exact(), "the other business is untouched");
    assert!(verify::verify(&pool, &scopes[0], true).await.unwrap().repaired);
    assert!(verify::verify(&pool, &scopes[0], false).await.unwrap().exact());
    let year = range(&pool, &scopes[0], "2026-01-01", "2026-12-31", Granularity::Month).await;
    assert_reports_count_the_raw_rows(&pool, &scopes[0], &year).await;
}
