//! Automation conversions come from a flag stored on each action (migration 0097): the report's
//! conversions, and its distinct contacts beside them, must equal the raw definitions whatever changes
//! the actions or the moves to Paid.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::PgPool;
use wacrm_core::Scope;
use wacrm_core::analytics::outcomes::CONVERSION_WINDOW_DAYS;
use wacrm_core::analytics::{Granularity, automation, verify};

use super::{at, contact, range, tenant};

/// Per rule (rule 0: every rule), from the raw rows: the contacts with a done action of the range and a
/// move to Paid within the window after it, and the contacts with a done action of the range; none where
/// none.
async fn raw(pool: &PgPool, scope: &Scope, from: &str, to: &str) -> (Vec<(i32, i64)>, Vec<(i32, i64)>) {
    let rows: Vec<(i32, i64, i64)> = sqlx::query_as(
        "SELECT coalesce(a.rule_id, 0), count(DISTINCT a.contact_id) FILTER (WHERE EXISTS (
                    SELECT 1 FROM pipeline_history p
                    WHERE p.business_id = a.business_id AND p.contact_id = a.contact_id AND p.to_stage = 'Paid'
                      AND p.changed_at >= a.created_at AND p.changed_at <= a.created_at + make_interval(days => $4))),
                count(DISTINCT a.contact_id)
         FROM automation_actions a
         WHERE a.business_id = $1 AND a.created_at >= $2 AND a.created_at < $3 AND a.status = 'done'
         GROUP BY GROUPING SETS ((a.rule_id), ()) ORDER BY 1",
    )
    .bind(scope.business().0)
    .bind(at(from))
    .bind(at(to))
    .bind(CONVERSION_WINDOW_DAYS)
    .fetch_all(pool)
    .await
    .unwrap();
    let figure = |pick: fn(&(i32, i64, i64)) -> i64| rows.iter().map(|r| (r.0, pick(r))).filter(|r| r.1 > 0).collect();
    (figure(|r| r.1), figure(|r| r.2))
}

/// The report's conversions and distinct contacts, per rule (rule 0: the business), where not zero.
async fn reported(pool: &PgPool, scope: &Scope, from: &str, to: &str) -> (Vec<(i32, i64)>, Vec<(i32, i64)>) {
    let range = range(pool, scope, from, to, Granularity::Month).await;
    let report = automation::report(pool, scope, &range).await.unwrap();
    let totals = automation::totals(pool, scope, &range).await.unwrap();
    assert_eq!(totals.conversions, report.conversions);
    let figures = |all: i64, each: fn(&automation::RuleImpact) -> i64| {
        let mut rows: Vec<(i32, i64)> = report.rules.iter().map(|r| (r.rule, each(r))).filter(|r| r.1 > 0).collect();
        if all > 0 {
            rows.insert(0, (0, all));
        }
        rows
    };
    (figures(report.conversions, |r| r.conversions), figures(report.contacts, |r| r.contacts))
}

fn random_time(rng: &mut StdRng) -> String {
    format!(
        "2026-0{}-{:02}T{:02}:{:02}:00Z",
        rng.random_range(1..6),
        rng.random_range(1..29),
        rng.random_range(0..24),
        rng.random_range(0..60)
    )
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn stored_conversions_follow_every_change_of_actions_and_moves_to_paid(pool: PgPool) {
    let scopes = [tenant(&pool, "one", "UTC").await, tenant(&pool, "two", "UTC").await];
    let mut rng = StdRng::seed_from_u64(97);
    let mut contacts: Vec<(usize, i32)> = Vec::new();
    let mut rules = Vec::new();
    for (i, scope) in scopes.iter().enumerate() {
        for n in 0..10 {
            contacts.push((i, contact(&pool, scope, n, "2026-01-01T00:00:00Z", Some("manual")).await));
        }
        for name in ["welcome", "follow-up"] {
            let id: i32 = sqlx::query_scalar(
                "INSERT INTO automation_rules (business_id, name, trigger, condition, action)
                 VALUES ($1, $2, 'message_received', '{}', '{}') RETURNING id",
            )
            .bind(scope.business().0)
            .bind(name)
            .fetch_one(&pool)
            .await
            .unwrap();
            rules.push((i, id));
        }
    }
    for step in 0..400 {
        let (i, c) = contacts[rng.random_range(0..contacts.len())];
        let business = scopes[i].business().0;
        let when = at(&random_time(&mut rng));
        let statement = match rng.random_range(0..10) {
            // An action (done, or failed: never a conversion) with its run.
            0..=3 => {
                let mine: Vec<i32> = rules.iter().filter(|r| r.0 == i).map(|r| r.1).collect();
                let rule = mine[rng.random_range(0..mine.len())];
                sqlx::query(
                    "WITH run AS (
                         INSERT INTO automation_runs (business_id, rule_id, event_id, contact_id, matched, cause, created_at)
                         VALUES ($1, $2, (SELECT coalesce(max(event_id), 0) + 1 FROM automation_runs WHERE business_id = $1),
                                 $3, true, '{}', $4)
                         RETURNING id
                     )
                     INSERT INTO automation_actions (business_id, run_id, rule_id, contact_id, position, kind, spec, status, created_at)
                     SELECT $1, run.id, $2, $3, 0, $5, '{}', $6, $4 FROM run",
                )
                .bind(business)
                .bind(rule)
                .bind(c)
                .bind(when)
                .bind(["send_text", "move_stage"][rng.random_range(0..2)])
                .bind(if rng.random_bool(0.8) { "done" } else { "failed" })
            }
            // A move to Paid, possibly dated before actions that already exist.
            4..=6 => sqlx::query(
                "INSERT INTO pipeline_history (business_id, contact_id, from_stage, to_stage, changed_at)
                 VALUES ($1, $2, 'Interested', 'Paid', $3)",
            )
            .bind(business)
            .bind(c)
            .bind(when),
            // A move to Paid removed, re-dated, or turned into a loss.
            7 => sqlx::query(
                "DELETE FROM pipeline_history WHERE id = (
                     SELECT id FROM pipeline_history WHERE business_id = $1 AND contact_id = $2 ORDER BY id LIMIT 1)",
            )
            .bind(business)
            .bind(c),
            8 => sqlx::query(
                "UPDATE pipeline_history SET changed_at = $3, to_stage = CASE WHEN id % 3 = 0 THEN 'Lost' ELSE to_stage END
                 WHERE business_id = $1 AND contact_id = $2",
            )
            .bind(business)
            .bind(c)
            .bind(when),
            // An action re-dated, settled the other way, or removed with its run.
            _ => match rng.random_range(0..3) {
                0 => sqlx::query(
                    "UPDATE automation_actions SET created_at = $3 WHERE id = (
                         SELECT id FROM automation_actions WHERE business_id = $1 AND contact_id = $2 ORDER BY id DESC LIMIT 1)",
                )
                .bind(business)
                .bind(c)
                .bind(when),
                1 => sqlx::query(
                    "UPDATE automation_actions SET status = CASE WHEN status = 'done' THEN 'failed' ELSE 'done' END
                     WHERE id = (SELECT min(id) FROM automation_actions WHERE business_id = $1 AND contact_id = $2)",
                )
                .bind(business)
                .bind(c),
                _ => sqlx::query(
                    "DELETE FROM automation_runs WHERE id = (
                         SELECT max(run_id) FROM automation_actions WHERE business_id = $1 AND contact_id = $2)",
                )
                .bind(business)
                .bind(c),
            },
        };
        statement.execute(&pool).await.unwrap();
        if step % 50 == 49 {
            for scope in &scopes {
                for (from, to) in [("2026-01-01", "2026-12-31"), ("2026-02-01", "2026-03-31")] {
                    let (start, end) = (format!("{from}T00:00:00Z"), format!("{to}T00:00:00Z"));
                    let end = (at(&end) + chrono::Duration::days(1)).to_rfc3339();
                    let expected = raw(&pool, scope, &start, &end).await;
                    assert_eq!(reported(&pool, scope, from, to).await, expected, "step {step}, {from} to {to}");
                }
            }
        }
    }
    let (year, _) = raw(&pool, &scopes[0], "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z").await;
    assert!(year.first().is_some_and(|all| all.1 >= 3), "too few conversions to test anything: {year:?}");
    for scope in &scopes {
        let checked = verify::verify(&pool, scope, false).await.unwrap();
        assert_eq!(checked.automation_conversion_differences, 0, "{checked:?}");
    }
    // A flag that drifted is reported (in its own business only), then repaired.
    sqlx::query(
        "UPDATE automation_actions SET converted = NOT converted
         WHERE id = (SELECT min(id) FROM automation_actions WHERE business_id = $1 AND status = 'done')",
    )
    .bind(scopes[0].business().0)
    .execute(&pool)
    .await
    .unwrap();
    let drifted = verify::verify(&pool, &scopes[0], false).await.unwrap();
    assert_eq!((drifted.automation_conversion_differences, drifted.exact()), (1, false));
    assert_eq!(verify::verify(&pool, &scopes[1], false).await.unwrap().automation_conversion_differences, 0);
    let repaired = verify::verify(&pool, &scopes[0], true).await.unwrap();
    assert!(repaired.repaired);
    assert_eq!(verify::verify(&pool, &scopes[0], false).await.unwrap().automation_conversion_differences, 0);
}
