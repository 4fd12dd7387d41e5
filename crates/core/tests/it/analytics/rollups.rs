//! The rollups and stored figures against the raw rows they summarise, after randomized activity in
//! two timezones: `verify` finds nothing, reports read the same before and after a compaction and a
//! refresh, and each planted drift is found and repaired.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::PgPool;
use wacrm_core::analytics::{Granularity, leads, messages, verify};

use super::{at, contact, range, tenant, usage_row};

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn rollups_match_the_raw_rows_after_randomized_activity(pool: PgPool) {
    let scopes = [tenant(&pool, "one", "UTC").await, tenant(&pool, "two", "Asia/Kathmandu").await];
    let mut rng = StdRng::seed_from_u64(23);
    let mut contacts: Vec<(usize, i32)> = Vec::new();
    for (i, scope) in scopes.iter().enumerate() {
        for n in 0..8 {
            contacts.push((i, contact(&pool, scope, n, "2026-01-01T00:00:00Z", Some("inbound")).await));
        }
    }
    for step in 0..300 {
        let (i, c) = contacts[rng.random_range(0..contacts.len())];
        let scope = &scopes[i];
        let when = format!(
            "2026-0{}-{:02}T{:02}:{:02}:00Z",
            rng.random_range(1..4),
            rng.random_range(1..29),
            rng.random_range(0..24),
            rng.random_range(0..60)
        );
        match rng.random_range(0..10) {
            // Several messages in one statement, as ingest batches them.
            0..=4 => {
                let n = rng.random_range(1..6);
                sqlx::query(
                    "INSERT INTO messages (business_id, contact_id, direction, content, sent_at)
                     SELECT $1, $2, (CASE WHEN g % 2 = 0 THEN 'in' ELSE 'out' END)::message_direction, 'x',
                            $3::timestamptz + g * INTERVAL '7 minutes'
                     FROM generate_series(1, $4) g",
                )
                .bind(scope.business().0)
                .bind(c)
                .bind(at(&when))
                .bind(n)
                .execute(&pool)
                .await
                .unwrap();
            }
            5 => {
                sqlx::query("DELETE FROM messages WHERE business_id = $1 AND id = (SELECT min(id) FROM messages WHERE business_id = $1 AND contact_id = $2)")
                    .bind(scope.business().0)
                    .bind(c)
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            6 => {
                sqlx::query("UPDATE messages SET sent_at = $3, direction = 'in' WHERE business_id = $1 AND id = (SELECT max(id) FROM messages WHERE business_id = $1 AND contact_id = $2)")
                    .bind(scope.business().0)
                    .bind(c)
                    .bind(at(&when))
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            7 | 8 => usage_row(&pool, scope, c, &when, &format!("0.0{}", rng.random_range(1..10))).await,
            _ => {
                sqlx::query("DELETE FROM usage_logs WHERE business_id = $1 AND id = (SELECT max(id) FROM usage_logs WHERE business_id = $1)")
                    .bind(scope.business().0)
                    .execute(&pool)
                    .await
                    .unwrap();
            }
        }
        // Now and then a contact changes stage (the stage counts follow).
        if step % 7 == 0 {
            let stage = ["New", "Engaged", "Interested", "Paid", "Lost"][rng.random_range(0..5)];
            sqlx::query("UPDATE contacts SET stage = $3::pipeline_stage WHERE business_id = $1 AND id = $2")
                .bind(scope.business().0)
                .bind(c)
                .bind(stage)
                .execute(&pool)
                .await
                .unwrap();
        }
        // Now and then a lead arrives (the lead counts follow), or a contact's creation is corrected by hand.
        if step % 11 == 0 {
            let source = ["inbound", "import", "manual"][rng.random_range(0..3)];
            contacts.push((i, contact(&pool, scope, 100 + step, &when, Some(source)).await));
        } else if step % 13 == 0 {
            sqlx::query("UPDATE contacts SET created_at = $3, source = 'manual' WHERE business_id = $1 AND id = $2")
                .bind(scope.business().0)
                .bind(c)
                .bind(at(&when))
                .execute(&pool)
                .await
                .unwrap();
        }
        // Now and then a contact goes, with its messages (a cascade), and a compaction runs midway.
        if step % 97 == 96 {
            let (i, c) = contacts.remove(rng.random_range(0..contacts.len()));
            sqlx::query("DELETE FROM contacts WHERE business_id = $1 AND id = $2")
                .bind(scopes[i].business().0)
                .bind(c)
                .execute(&pool)
                .await
                .unwrap();
            verify::compact(&pool, &scopes[i]).await.unwrap();
            verify::refresh(&pool, &scopes[i]).await.unwrap();
        }
    }
    for scope in &scopes {
        let v = verify::verify(&pool, scope, false).await.unwrap();
        assert!(v.exact() && v.buckets > 0, "{v:?}");
        // Response times read the same whether computed live (dirty contacts) or stored.
        let year = range(&pool, scope, "2026-01-01", "2026-12-31", Granularity::Month).await;
        let live = messages::response_times(&pool, scope, &year).await.unwrap();
        verify::refresh(&pool, scope).await.unwrap();
        assert_eq!(messages::response_times(&pool, scope, &year).await.unwrap(), live);
        assert!(verify::verify(&pool, scope, false).await.unwrap().exact());
        // The histogram's median and average are those of every stored wait of the range, sorted.
        let (replies, average, median): (i64, Option<f64>, Option<f64>) = sqlx::query_as(
            "SELECT count(*), avg(s), percentile_cont(0.5) WITHIN GROUP (ORDER BY s) FROM (
                 SELECT extract(epoch FROM replied_at - asked_at)::float8 AS s FROM analytics_waits
                 WHERE business_id = $1 AND replied_at IS NOT NULL AND asked_at >= $2 AND asked_at < $3
             ) w",
        )
        .bind(scope.business().0)
        .bind(year.start)
        .bind(year.end)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert!(replies > 0);
        assert_eq!((live.0.averages.replies, live.0.median_seconds), (replies, median));
        assert!((live.0.averages.average_seconds.unwrap() - average.unwrap()).abs() < 1e-6);
        let year = range(&pool, scope, "2026-01-01", "2026-12-31", Granularity::Month).await;
        let before = messages::report(&pool, scope, &year).await.unwrap();
        let compacted = verify::compact(&pool, scope).await.unwrap();
        assert!(compacted.rows_after <= compacted.rows_before);
        let after = messages::report(&pool, scope, &year).await.unwrap();
        assert_eq!((before.received, before.sent), (after.received, after.sent));
        let raw: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE business_id = $1")
            .bind(scope.business().0)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(after.received + after.sent, raw);
        // New leads per source are those of the contacts created in the range.
        let report = leads::report(&pool, scope, &year).await.unwrap();
        let leads = &report.totals;
        let raw: Vec<(String, i64)> = sqlx::query_as(
            "SELECT source, count(*) FROM contacts WHERE business_id = $1 AND created_at >= $2 AND created_at < $3
             GROUP BY 1 ORDER BY 1",
        )
        .bind(scope.business().0)
        .bind(year.start)
        .bind(year.end)
        .fetch_all(&pool)
        .await
        .unwrap();
        let count = |source: &str| raw.iter().find(|r| r.0 == source).map_or(0, |r| r.1);
        assert_eq!(
            (leads.new, leads.inbound, leads.import, leads.manual),
            (raw.iter().map(|r| r.1).sum(), count("inbound"), count("import"), count("manual"))
        );
        assert!(leads.import > 0 && leads.manual > 0, "{leads:?}");
        // The summary's lead figures, summed in one statement, are the report's.
        assert_eq!(&leads::totals(&pool, scope, &year).await.unwrap(), leads);
    }
    // A rollup that drifted is reported, then rebuilt.
    sqlx::query("INSERT INTO analytics_message_counts (business_id, bucket, direction, messages) VALUES ($1, '2026-02-02T10:15:00Z', 'in', 1)")
        .bind(scopes[0].business().0)
        .execute(&pool)
        .await
        .unwrap();
    let v = verify::verify(&pool, &scopes[0], false).await.unwrap();
    assert_eq!(v.differences.len(), 1, "{v:?}");
    assert_eq!(
        (v.differences[0].figure.as_str(), v.differences[0].bucket),
        ("messages in", at("2026-02-02T10:15:00Z"))
    );
    assert!(verify::verify(&pool, &scopes[1], false).await.unwrap().exact(), "the other business is untouched");
    // A stored wait that drifted is reported too.
    sqlx::query("UPDATE analytics_waits SET opens = NOT opens WHERE business_id = $1 AND ctid = (SELECT min(ctid) FROM analytics_waits WHERE business_id = $1)")
        .bind(scopes[0].business().0)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(verify::verify(&pool, &scopes[0], false).await.unwrap().wait_differences, 2);
    assert!(verify::verify(&pool, &scopes[0], true).await.unwrap().repaired);
    verify::refresh(&pool, &scopes[0]).await.unwrap();
    assert!(verify::verify(&pool, &scopes[0], false).await.unwrap().exact());
    // So are a response-time histogram row that drifted from the stored waits, a stage count that
    // drifted from the contacts' stages, a lead count that drifted from the contacts and a funnel row
    // from the stage changes; a repair rewrites each.
    type Differences = fn(&verify::Verification) -> i64;
    let drifts: [(&str, Differences); 4] = [
        (
            "UPDATE analytics_wait_days SET waits = waits + 1 WHERE business_id = $1 AND ctid = (SELECT min(ctid) FROM analytics_wait_days WHERE business_id = $1 AND waits > 0)",
            |v| v.wait_day_differences,
        ),
        ("INSERT INTO analytics_stage_counts (business_id, stage, contacts) VALUES ($1, 'Paid', 1)", |v| {
            v.stage_count_differences
        }),
        (
            "INSERT INTO analytics_lead_counts (business_id, bucket, source, contacts) VALUES ($1, '2026-02-02T10:15:00Z', 'manual', 1)",
            |v| v.differences.iter().filter(|d| d.figure == "leads manual").count() as i64,
        ),
        (
            "INSERT INTO analytics_funnel_days (business_id, day, step, changes) VALUES ($1, '2026-02-02', 'Paid', 1)",
            |v| v.pipeline_day_differences,
        ),
    ];
    for (drift, differences) in drifts {
        sqlx::query(drift).bind(scopes[0].business().0).execute(&pool).await.unwrap();
        let v = verify::verify(&pool, &scopes[0], true).await.unwrap();
        assert_eq!((differences(&v), v.repaired), (1, true), "{drift}: {v:?}");
        assert!(verify::verify(&pool, &scopes[0], false).await.unwrap().exact());
    }
}
