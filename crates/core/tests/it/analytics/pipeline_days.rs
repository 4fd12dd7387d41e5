//! The pipeline report's funnel and time in stage, read from per-day rollups (migration 0095): a small
//! dataset computed by hand around a DST change (whole UTC days, partial days at both ends, a stay and
//! a step whose previous change lies in the partial first day, a move before its contact's creation),
//! and the figures compared with the raw definitions after randomized changes in three timezones.

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::PgPool;
use wacrm_core::analytics::{Granularity, Range, pipeline, verify};
use wacrm_core::{Scope, Stage};

use super::{at, contact, move_at, range, tenant};

/// Funnel steps reached (New, Engaged, Interested, Paid) and lost, as the report gives them.
async fn funnel(pool: &PgPool, scope: &Scope, range: &Range) -> (Vec<i64>, i64) {
    let f = pipeline::funnel(pool, scope, range).await.unwrap();
    (f.steps.iter().map(|s| s.reached).collect(), f.lost)
}

type Stays = Vec<(Stage, i64, Option<f64>, Option<f64>)>;

async fn stays(pool: &PgPool, scope: &Scope, range: &Range) -> Stays {
    let r = pipeline::report(pool, scope, range, None, 14).await.unwrap();
    r.time_in_stage.iter().map(|t| (t.stage, t.stays, t.median_hours, t.p90_hours)).collect()
}

/// The funnel as the report computed it before the rollups: every change of the range grouped by contact.
async fn raw_funnel(pool: &PgPool, scope: &Scope, range: &Range) -> (Vec<i64>, i64) {
    let (new, engaged, interested, paid, lost): (i64, i64, i64, i64, i64) = sqlx::query_as(
        "WITH moves AS (
             SELECT contact_id, max(to_stage) FILTER (WHERE to_stage <> 'Lost') AS furthest,
                    bool_or(to_stage = 'Lost') AS lost
             FROM pipeline_history WHERE business_id = $1 AND changed_at >= $2 AND changed_at < $3
             GROUP BY contact_id
         )
         SELECT count(*) + (SELECT count(*) FROM contacts c
                            WHERE c.business_id = $1 AND c.created_at >= $2 AND c.created_at < $3
                              AND NOT EXISTS (SELECT 1 FROM moves m WHERE m.contact_id = c.id)),
                count(*) FILTER (WHERE furthest >= 'Engaged'), count(*) FILTER (WHERE furthest >= 'Interested'),
                count(*) FILTER (WHERE furthest >= 'Paid'), count(*) FILTER (WHERE lost)
         FROM moves",
    )
    .bind(scope.business().0)
    .bind(range.start)
    .bind(range.end)
    .fetch_one(pool)
    .await
    .unwrap();
    (vec![new, engaged, interested, paid], lost)
}

/// Time in stage as the report computed it before the rollups: `percentile_cont` over every stay.
async fn raw_stays(pool: &PgPool, scope: &Scope, range: &Range) -> Stays {
    let rows: Vec<(Stage, i64, Option<f64>, Option<f64>)> = sqlx::query_as(
        "WITH stays AS (
             SELECT h.from_stage AS stage,
                    extract(epoch FROM h.changed_at - coalesce(
                        (SELECT max(p.changed_at) FROM pipeline_history p
                         WHERE p.business_id = $1 AND p.contact_id = h.contact_id
                           AND (p.changed_at, p.id) < (h.changed_at, h.id)),
                        c.created_at))::float8 / 3600.0 AS hours
             FROM pipeline_history h LEFT JOIN contacts c ON c.business_id = $1 AND c.id = h.contact_id
             WHERE h.business_id = $1 AND h.changed_at >= $2 AND h.changed_at < $3
         )
         SELECT s.stage, count(t.hours), percentile_cont(0.5) WITHIN GROUP (ORDER BY t.hours),
                percentile_cont(0.9) WITHIN GROUP (ORDER BY t.hours)
         FROM unnest(enum_range(NULL::pipeline_stage)) AS s(stage)
         LEFT JOIN stays t ON t.stage = s.stage AND t.hours IS NOT NULL
         GROUP BY s.stage ORDER BY s.stage",
    )
    .bind(scope.business().0)
    .bind(range.start)
    .bind(range.end)
    .fetch_all(pool)
    .await
    .unwrap();
    rows
}

/// New York's 8 March 2026 has 23 hours; March 7-9 there are 05:00Z on the 7th to 04:00Z on the 10th:
/// whole UTC days the 8th and 9th, partial days at both ends.
#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn funnel_and_time_in_stage_across_a_dst_change_from_partial_and_whole_days(pool: PgPool) {
    let scope = tenant(&pool, "ny", "America/New_York").await;
    let other = tenant(&pool, "other", "America/New_York").await;
    let days = range(&pool, &scope, "2026-03-07", "2026-03-09", Granularity::Day).await;
    assert_eq!((days.start, days.end), (at("2026-03-07T05:00:00Z"), at("2026-03-10T04:00:00Z")));
    assert_eq!(funnel(&pool, &scope, &days).await, (vec![0, 0, 0, 0], 0), "empty data");
    assert!(stays(&pool, &scope, &days).await.iter().all(|s| s.1 == 0 && s.2.is_none() && s.3.is_none()));

    use Stage::*;
    // Engaged in the partial first day, Interested in a whole day (its previous Engaged in that
    // partial day: one contact, not two).
    let a = contact(&pool, &scope, 1, "2026-03-01T00:00:00Z", Some("manual")).await;
    move_at(&pool, &scope, a, New, Engaged, "2026-03-07T10:00:00Z").await;
    move_at(&pool, &scope, a, Engaged, Interested, "2026-03-08T12:00:00Z").await;
    // Created in the partial first day, moved in a whole day.
    let b = contact(&pool, &scope, 2, "2026-03-07T06:00:00Z", Some("manual")).await;
    move_at(&pool, &scope, b, New, Engaged, "2026-03-09T01:00:00Z").await;
    // Engaged before the range, Paid in the partial last day (local 9 March, 22:00).
    let c = contact(&pool, &scope, 3, "2026-02-01T00:00:00Z", Some("manual")).await;
    move_at(&pool, &scope, c, New, Engaged, "2026-03-05T00:00:00Z").await;
    move_at(&pool, &scope, c, Engaged, Paid, "2026-03-10T02:00:00Z").await;
    // Created in a whole day, never moved; created after the range (local 10 March) and moved then.
    contact(&pool, &scope, 4, "2026-03-08T12:00:00Z", Some("manual")).await;
    let e = contact(&pool, &scope, 5, "2026-03-10T05:00:00Z", Some("manual")).await;
    move_at(&pool, &scope, e, New, Engaged, "2026-03-10T06:00:00Z").await;
    // Lost in the partial last day.
    let f = contact(&pool, &scope, 6, "2026-02-01T00:00:00Z", Some("manual")).await;
    move_at(&pool, &scope, f, New, Lost, "2026-03-10T03:30:00Z").await;
    // Engaged just before the range (local 6 March, 23:00), back to New in it: New only.
    let g = contact(&pool, &scope, 7, "2026-02-01T00:00:00Z", Some("manual")).await;
    move_at(&pool, &scope, g, New, Engaged, "2026-03-07T04:00:00Z").await;
    move_at(&pool, &scope, g, Engaged, New, "2026-03-08T01:00:00Z").await;
    // Moved in the range, created after it (a backdated move): New and Engaged, a negative stay.
    let h = contact(&pool, &scope, 8, "2026-03-12T00:00:00Z", Some("manual")).await;
    move_at(&pool, &scope, h, New, Engaged, "2026-03-08T05:00:00Z").await;
    // The other business's moves in the range never count.
    let theirs = contact(&pool, &other, 1, "2026-03-08T00:00:00Z", Some("manual")).await;
    move_at(&pool, &other, theirs, New, Paid, "2026-03-09T00:00:00Z").await;

    assert_eq!(funnel(&pool, &scope, &days).await, (vec![7, 4, 2, 1], 1));
    // New: stays of 154, 43, 891.5 and -91 hours; Engaged: 26, 122 and 21.
    let s = stays(&pool, &scope, &days).await;
    assert_eq!((s[0].0, s[0].1, s[0].2), (New, 4, Some(98.5)));
    assert!((s[0].3.unwrap() - (154.0 + 737.5 * 0.7)).abs() < 1e-9, "{s:?}");
    assert_eq!((s[1].0, s[1].1, s[1].2), (Engaged, 3, Some(26.0)));
    assert!((s[1].3.unwrap() - 102.8).abs() < 1e-9, "{s:?}");
    assert!(s[2..].iter().all(|t| t.1 == 0), "{s:?}");
    assert_eq!(s, raw_stays(&pool, &scope, &days).await);
    // The same day in UTC: whole days only, no partial ones.
    let utc = Range { start: at("2026-03-08T00:00:00Z"), end: at("2026-03-10T00:00:00Z"), ..days };
    assert_eq!(funnel(&pool, &scope, &utc).await, raw_funnel(&pool, &scope, &utc).await);
    assert_eq!(funnel(&pool, &other, &days).await, (vec![1, 1, 1, 1], 0));
    for business in [&scope, &other] {
        assert!(verify::verify(&pool, business, false).await.unwrap().exact());
    }
}

/// A random instant of 2026's first five months, at a random minute.
fn instant(rng: &mut StdRng) -> DateTime<Utc> {
    at("2026-01-01T00:00:00Z") + Duration::minutes(rng.random_range(0..150 * 24 * 60))
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn funnel_and_time_in_stage_match_the_raw_figures_after_randomized_changes(pool: PgPool) {
    let scopes = [
        tenant(&pool, "utc", "UTC").await,
        tenant(&pool, "ny", "America/New_York").await,
        tenant(&pool, "ktm", "Asia/Kathmandu").await,
    ];
    let mut rng = StdRng::seed_from_u64(95);
    let mut contacts: Vec<(usize, i32)> = Vec::new();
    for (i, scope) in scopes.iter().enumerate() {
        for n in 0..10 {
            let created = instant(&mut rng).to_rfc3339();
            contacts.push((i, contact(&pool, scope, n, &created, Some("manual")).await));
        }
    }
    let stages = [None, Some("New"), Some("Engaged"), Some("Interested"), Some("Paid"), Some("Lost")];
    for step in 0..250 {
        let (i, c) = contacts[rng.random_range(0..contacts.len())];
        let business = scopes[i].business().0;
        let when = instant(&mut rng);
        let to = stages[rng.random_range(0..stages.len())];
        let statement = match rng.random_range(0..10) {
            // One to three changes in one statement, in any order of time (an import of history).
            0..=4 => sqlx::query(
                "INSERT INTO pipeline_history (business_id, contact_id, from_stage, to_stage, changed_at)
                 SELECT $1, $2, $3::pipeline_stage, (ARRAY['Engaged', 'Paid', $3]::pipeline_stage[])[g % 3 + 1],
                        $4::timestamptz - g * INTERVAL '37 hours'
                 FROM generate_series(0, $5) g",
            )
            .bind(business)
            .bind(c)
            .bind(to)
            .bind(when)
            .bind(rng.random_range(0..3)),
            5 => sqlx::query("DELETE FROM pipeline_history WHERE business_id = $1 AND id = (SELECT min(id) FROM pipeline_history WHERE business_id = $1 AND contact_id = $2)")
                .bind(business)
                .bind(c),
            6 => sqlx::query("UPDATE pipeline_history SET changed_at = $3 WHERE business_id = $1 AND id = (SELECT max(id) FROM pipeline_history WHERE business_id = $1 AND contact_id = $2)")
                .bind(business)
                .bind(c)
                .bind(when),
            7 => sqlx::query("UPDATE pipeline_history SET to_stage = $3::pipeline_stage WHERE business_id = $1 AND id = (SELECT max(id) FROM pipeline_history WHERE business_id = $1 AND contact_id = $2)")
                .bind(business)
                .bind(c)
                .bind(to),
            // A contact's creation re-dated (after some of its moves, at times) or unknown.
            _ => sqlx::query("UPDATE contacts SET created_at = $3 WHERE business_id = $1 AND id = $2")
                .bind(business)
                .bind(c)
                .bind(rng.random_bool(0.8).then_some(when)),
        };
        statement.execute(&pool).await.unwrap();
        if step % 83 == 82 {
            let (i, c) = contacts.remove(rng.random_range(0..contacts.len()));
            sqlx::query("DELETE FROM contacts WHERE business_id = $1 AND id = $2")
                .bind(scopes[i].business().0)
                .bind(c)
                .execute(&pool)
                .await
                .unwrap();
            verify::compact(&pool, &scopes[i]).await.unwrap();
        }
    }
    for scope in &scopes {
        let v = verify::verify(&pool, scope, false).await.unwrap();
        assert!(v.exact(), "{v:?}");
        let mut ranges = vec![range(&pool, scope, "2026-01-01", "2026-05-31", Granularity::Month).await];
        for _ in 0..6 {
            let (x, y) = (instant(&mut rng).date_naive(), instant(&mut rng).date_naive());
            let (from, to) = (x.min(y).to_string(), x.max(y).to_string());
            ranges.push(range(&pool, scope, &from, &to, Granularity::Day).await);
        }
        for r in &ranges {
            assert_eq!(funnel(&pool, scope, r).await, raw_funnel(&pool, scope, r).await, "{r:?}");
            assert_eq!(stays(&pool, scope, r).await, raw_stays(&pool, scope, r).await, "{r:?}");
        }
        verify::compact(&pool, scope).await.unwrap();
        assert_eq!(funnel(&pool, scope, &ranges[0]).await, raw_funnel(&pool, scope, &ranges[0]).await);
        assert_eq!(stays(&pool, scope, &ranges[0]).await, raw_stays(&pool, scope, &ranges[0]).await);
    }
    // A stay histogram row and a stored fact that drifted are reported, and a repair rewrites them.
    let business = scopes[0].business().0;
    for drift in [
        "UPDATE analytics_stay_days SET stays = stays + 1 WHERE business_id = $1 AND ctid = (SELECT min(ctid) FROM analytics_stay_days WHERE business_id = $1)",
        "UPDATE pipeline_history SET previous_paid_at = '2020-01-01T00:00:00Z' WHERE business_id = $1 AND id = (SELECT max(id) FROM pipeline_history WHERE business_id = $1)",
    ] {
        sqlx::query(drift).bind(business).execute(&pool).await.unwrap();
        let v = verify::verify(&pool, &scopes[0], true).await.unwrap();
        assert_eq!((v.pipeline_day_differences, v.repaired), (1, true), "{drift}: {v:?}");
        assert!(verify::verify(&pool, &scopes[0], false).await.unwrap().exact());
        assert!(verify::verify(&pool, &scopes[1], false).await.unwrap().exact(), "the other business is untouched");
    }
}

/// Stuck leads now skip the contacts a recent change shows were created after the cut-off (migration
/// 0095's `contact_created_at`): the same as rebuilt from history, an old contact moved recently not stuck.
#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn stuck_leads_now_match_those_rebuilt_from_history(pool: PgPool) {
    let scope = tenant(&pool, "stuck", "UTC").await;
    let now = Utc::now();
    let ago = |days: i64| (now - Duration::days(days)).to_rfc3339();
    let recent = contact(&pool, &scope, 1, "2026-01-01T00:00:00Z", Some("manual")).await;
    move_at(&pool, &scope, recent, Stage::New, Stage::Engaged, &ago(1)).await;
    let old = contact(&pool, &scope, 2, "2026-01-01T00:00:00Z", Some("manual")).await;
    move_at(&pool, &scope, old, Stage::New, Stage::Engaged, &ago(30)).await;
    let new = contact(&pool, &scope, 3, &ago(3), Some("manual")).await;
    move_at(&pool, &scope, new, Stage::New, Stage::Interested, &ago(2)).await;
    let month = range(&pool, &scope, "2026-01-01", "2026-01-31", Granularity::Month).await;
    let live = pipeline::report(&pool, &scope, &month, None, 14).await.unwrap();
    let stuck: Vec<(Stage, i64, i64)> =
        live.headline.per_stage.iter().map(|s| (s.stage, s.contacts, s.stuck)).collect();
    assert_eq!(stuck[1..3], [(Stage::Engaged, 2, 1), (Stage::Interested, 1, 0)]);
    let rebuilt = pipeline::report(&pool, &scope, &month, Some(Utc::now()), 14).await.unwrap();
    assert_eq!(rebuilt.headline.per_stage, live.headline.per_stage);
}
