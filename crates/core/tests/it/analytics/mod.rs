//! Analytics: each figure against a small dataset computed by hand (empty data, a DST change, a month
//! boundary in a non-UTC timezone), pipeline as of a past date, the rollups verified after randomized
//! activity, and another business's data never counted. Campaign, template and automation figures
//! are in [`outcomes`], the automation counts' rollup in [`automation_counts`], the stored automation
//! conversions in [`conversions`].

mod automation_counts;
mod conversions;
mod outcomes;
mod pipeline_days;
mod rollups;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::PgPool;
use wacrm_core::analytics::{
    self, Granularity, Range, RangeRequest, automation, campaigns, leads, messages, pipeline, summary, templates,
    usage, verify,
};
use wacrm_core::auth::{self, Role};
use wacrm_core::{Error, Scope, Stage, UserId, business};

async fn tenant(pool: &PgPool, name: &str, timezone: &str) -> Scope {
    let (b, _) = business::create(pool, name, &format!("{name}@example.com"), "US").await.unwrap();
    let scope = Scope::for_business(pool, b.id).await.unwrap();
    business::set_timezone(pool, &scope, timezone).await.unwrap();
    scope
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

async fn range(pool: &PgPool, scope: &Scope, from: &str, to: &str, by: Granularity) -> Range {
    let timezone = business::timezone(pool, scope).await.unwrap();
    let request = RangeRequest { from: Some(day(from)), to: Some(day(to)), by };
    Range::resolve(request, timezone, at("2027-01-01T00:00:00Z")).unwrap()
}

/// A contact created at `created`; `inbound` ones have a WhatsApp id, as ingest creates them.
async fn contact(pool: &PgPool, scope: &Scope, n: i32, created: &str, source: Option<&str>) -> i32 {
    let phone = format!("+1415555{n:04}");
    let wa_id = (source == Some("inbound")).then(|| phone.trim_start_matches('+').to_string());
    let source = source.filter(|s| *s != "inbound");
    sqlx::query_scalar(
        "INSERT INTO contacts (business_id, phone, wa_id, created_at, source) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(scope.business().0)
    .bind(phone)
    .bind(wa_id)
    .bind(at(created))
    .bind(source)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn message(
    pool: &PgPool,
    scope: &Scope,
    contact: i32,
    inbound: bool,
    sent: &str,
    sender: Option<i32>,
    campaign: Option<i32>,
) {
    sqlx::query(
        "INSERT INTO messages (business_id, contact_id, direction, content, sent_at, sender_user_id, campaign_id)
         VALUES ($1, $2, $3::message_direction, 'hi', $4, $5, $6)",
    )
    .bind(scope.business().0)
    .bind(contact)
    .bind(if inbound { "in" } else { "out" })
    .bind(at(sent))
    .bind(sender)
    .bind(campaign)
    .execute(pool)
    .await
    .unwrap();
}

async fn move_at(pool: &PgPool, scope: &Scope, contact: i32, from: Stage, to: Stage, changed: &str) {
    sqlx::query(
        "INSERT INTO pipeline_history (business_id, contact_id, from_stage, to_stage, changed_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(scope.business().0)
    .bind(contact)
    .bind(from)
    .bind(to)
    .bind(at(changed))
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("UPDATE contacts SET stage = $3 WHERE business_id = $1 AND id = $2")
        .bind(scope.business().0)
        .bind(contact)
        .bind(to)
        .execute(pool)
        .await
        .unwrap();
}

async fn usage_row(pool: &PgPool, scope: &Scope, contact: i32, when: &str, cost: &str) {
    sqlx::query(
        "INSERT INTO usage_logs (business_id, conversation_id, cost, contact_id, timestamp) VALUES ($1, gen_random_uuid()::text, $2::numeric, $3, $4)",
    )
    .bind(scope.business().0)
    .bind(cost)
    .bind(contact)
    .bind(at(when))
    .execute(pool)
    .await
    .unwrap();
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn empty_data_gives_zeros_in_every_report(pool: PgPool) {
    let scope = tenant(&pool, "empty", "Asia/Kolkata").await;
    let range = analytics::resolve(&pool, &scope, RangeRequest::default()).await.unwrap();
    let s = summary::summary(&pool, &scope, &range).await.unwrap();
    assert_eq!((s.leads.new, s.leads.total, s.leads.active_7_days), (0, 0, 0));
    assert_eq!((s.pipeline.leads, s.pipeline.win_rate, s.pipeline.lost), (0, None, 0));
    assert_eq!(s.pipeline.per_stage.len(), 5);
    assert!(s.pipeline.funnel.iter().all(|f| f.reached == 0));
    assert_eq!((s.messages.received, s.messages.sent, s.messages.unanswered_now), (0, 0, 0));
    assert_eq!(s.messages.response, messages::ResponseAverages::default());
    assert_eq!(s.usage.total_spend, Decimal::ZERO);
    assert_eq!((s.usage.this_month.conversations, s.usage.this_month.forecast_conversations), (0, 0));
    assert_eq!((s.campaigns.messages, s.campaigns.delivery_rate), (0, None));
    let l = leads::report(&pool, &scope, &range).await.unwrap();
    assert!(l.periods.iter().all(|p| p.new == 0) && !l.periods.is_empty());
    let c = campaigns::report(&pool, &scope, &range).await.unwrap();
    assert!(c.campaigns.is_empty() && c.per_template.is_empty(), "{c:?}");
    let u = usage::report(&pool, &scope, &range).await.unwrap();
    assert_eq!((u.conversations, u.cost), (0, Decimal::ZERO));
    assert_eq!(s.automation, automation::AutomationTotals::default());
    let a = automation::report(&pool, &scope, &range).await.unwrap();
    assert!(a.rules.is_empty() && a.conversion_rate.is_none());
    assert_eq!((a.runs, a.messages_sent, a.conversions), (0, 0, 0));
    let t = templates::report(&pool, &scope, &range).await.unwrap();
    assert!(t.templates.is_empty() && t.total.messages == 0, "{t:?}");
    let v = verify::verify(&pool, &scope, false).await.unwrap();
    assert!(v.exact() && v.buckets == 0, "{v:?}");
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn leads_count_local_days_across_dst_and_a_local_month_boundary(pool: PgPool) {
    let scope = tenant(&pool, "berlin", "Europe/Berlin").await;
    let other = tenant(&pool, "other", "Europe/Berlin").await;
    // Berlin leaves summer time on 2026-10-25 at 03:00 (UTC+2 → UTC+1).
    let created = [
        ("2026-10-24T22:30:00Z", Some("inbound")), // 25 Oct 00:30 CEST
        ("2026-10-25T22:30:00Z", Some("import")),  // 25 Oct 23:30 CET: the 25-hour day's last hour
        ("2026-10-25T23:30:00Z", None),            // 26 Oct 00:30 CET
        ("2026-10-31T22:59:00Z", Some("inbound")), // 31 Oct 23:59 CET
        ("2026-10-31T23:30:00Z", Some("manual")),  // 1 Nov 00:30 CET: October in UTC, November here
        ("2026-10-24T21:59:00Z", Some("inbound")), // 24 Oct 23:59 CEST: before the range
    ];
    for (i, (when, source)) in created.iter().enumerate() {
        contact(&pool, &scope, i as i32, when, *source).await;
        contact(&pool, &other, i as i32, when, *source).await;
    }
    let days = range(&pool, &scope, "2026-10-25", "2026-11-01", Granularity::Day).await;
    let r = leads::report(&pool, &scope, &days).await.unwrap();
    let per_day: Vec<(NaiveDate, i64)> = r.periods.iter().map(|p| (p.period, p.new)).collect();
    let expected: Vec<(NaiveDate, i64)> = [
        ("2026-10-25", 2),
        ("2026-10-26", 1),
        ("2026-10-27", 0),
        ("2026-10-28", 0),
        ("2026-10-29", 0),
        ("2026-10-30", 0),
        ("2026-10-31", 1),
        ("2026-11-01", 1),
    ]
    .into_iter()
    .map(|(d, n)| (day(d), n))
    .collect();
    assert_eq!(per_day, expected);
    let t = &r.totals;
    assert_eq!((t.new, t.inbound, t.import, t.manual, t.total), (5, 2, 1, 2, 6));
    let months = range(&pool, &scope, "2026-10-01", "2026-11-30", Granularity::Month).await;
    let r = leads::report(&pool, &scope, &months).await.unwrap();
    let per_month: Vec<(NaiveDate, i64)> = r.periods.iter().map(|p| (p.period, p.new)).collect();
    assert_eq!(per_month, vec![(day("2026-10-01"), 5), (day("2026-11-01"), 1)]);
    let weeks = range(&pool, &scope, "2026-10-19", "2026-11-01", Granularity::Week).await;
    let r = leads::report(&pool, &scope, &weeks).await.unwrap();
    let per_week: Vec<(NaiveDate, i64)> = r.periods.iter().map(|p| (p.period, p.new)).collect();
    assert_eq!(per_week, vec![(day("2026-10-19"), 3), (day("2026-10-26"), 3)]);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn response_times_count_human_replies_only_per_agent_and_first_response(pool: PgPool) {
    let scope = tenant(&pool, "support", "UTC").await;
    let other = tenant(&pool, "other", "UTC").await;
    let agent = auth::add_user(&pool, &scope, "Ana", "ana@support.example.com", "password-123", Role::Agent)
        .await
        .unwrap()
        .id
        .0;
    let template: i32 = sqlx::query_scalar(
        "INSERT INTO message_templates (business_id, name, content) VALUES ($1, 't', 'x') RETURNING id",
    )
    .bind(scope.business().0)
    .fetch_one(&pool)
    .await
    .unwrap();
    let campaign: i32 =
        sqlx::query_scalar("INSERT INTO campaigns (business_id, template_id, name) VALUES ($1, $2, 'c') RETURNING id")
            .bind(scope.business().0)
            .bind(template)
            .fetch_one(&pool)
            .await
            .unwrap();
    for (business, agent) in [(&scope, Some(agent)), (&other, None)] {
        let a = contact(&pool, business, 1, "2026-03-01T00:00:00Z", Some("inbound")).await;
        let b = contact(&pool, business, 2, "2026-03-01T00:00:00Z", Some("inbound")).await;
        let c = contact(&pool, business, 3, "2026-03-01T00:00:00Z", Some("inbound")).await;
        let campaign = agent.map(|_| campaign);
        // A: a conversation opens; Ana answers 5 minutes after the first message.
        message(&pool, business, a, true, "2026-03-10T09:00:00Z", None, None).await;
        message(&pool, business, a, true, "2026-03-10T09:01:00Z", None, None).await;
        message(&pool, business, a, false, "2026-03-10T09:05:00Z", agent, None).await;
        // Two hours later (same conversation): a broadcast does not answer, a script does after 10 minutes.
        message(&pool, business, a, true, "2026-03-10T11:00:00Z", None, None).await;
        message(&pool, business, a, false, "2026-03-10T11:01:00Z", None, campaign).await;
        message(&pool, business, a, false, "2026-03-10T11:10:00Z", None, None).await;
        // B: never answered.
        message(&pool, business, b, true, "2026-03-12T08:00:00Z", None, None).await;
        // C: a wait that began before the range is not this range's.
        message(&pool, business, c, true, "2026-02-28T23:00:00Z", None, None).await;
        message(&pool, business, c, false, "2026-03-01T00:10:00Z", agent, None).await;
        sqlx::query(
            "UPDATE contacts SET last_inbound_at = $2, last_message_at = $2 WHERE business_id = $1 AND id = $3",
        )
        .bind(business.business().0)
        .bind(at("2026-03-12T08:00:00Z"))
        .bind(b)
        .execute(&pool)
        .await
        .unwrap();
    }
    let march = range(&pool, &scope, "2026-03-01", "2026-03-31", Granularity::Month).await;
    let r = messages::report(&pool, &scope, &march).await.unwrap();
    assert_eq!((r.received, r.sent), (4, 4));
    assert_eq!(r.periods.len(), 1);
    let (t, a) = (&r.response, &r.response.averages);
    assert_eq!((a.replies, a.unanswered, a.first_replies), (2, 1, 1), "{t:?}");
    assert_eq!((a.average_seconds, t.median_seconds), (Some(450.0), Some(450.0)));
    assert_eq!((a.first_response_average_seconds, t.first_response_median_seconds), (Some(300.0), Some(300.0)));
    // The summary's response figures are the report's counts and averages.
    assert_eq!(messages::response_averages(&pool, &scope, &march).await.unwrap(), *a);
    let s = summary::summary(&pool, &scope, &march).await.unwrap();
    assert_eq!((&s.messages.response, s.messages.received, s.messages.sent), (a, r.received, r.sent));
    assert_eq!(s.messages.unanswered_now, r.unanswered_now);
    let replies = |user: Option<UserId>, name: Option<&str>, seconds: f64| messages::AgentResponses {
        user,
        name: name.map(Into::into),
        replies: 1,
        average_seconds: Some(seconds),
        median_seconds: Some(seconds),
    };
    assert_eq!(r.per_agent, vec![replies(None, None, 600.0), replies(Some(UserId(agent)), Some("Ana"), 300.0)]);
    assert_eq!(r.unanswered_now, 1);
    // The same figures from the stored waits once refreshed.
    assert_eq!(verify::refresh(&pool, &scope).await.unwrap(), 3);
    assert_eq!(messages::report(&pool, &scope, &march).await.unwrap().response, r.response);
    assert!(verify::verify(&pool, &scope, false).await.unwrap().exact());
    let february = range(&pool, &scope, "2026-02-01", "2026-02-28", Granularity::Day).await;
    let r = messages::report(&pool, &scope, &february).await.unwrap();
    assert_eq!((r.received, r.sent, r.response.averages.replies), (1, 0, 1));
    assert_eq!(r.response.averages.average_seconds, Some(4200.0));
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn pipeline_as_of_a_past_date_is_rebuilt_from_history(pool: PgPool) {
    let scope = tenant(&pool, "sales", "UTC").await;
    let other = tenant(&pool, "other", "UTC").await;
    for business in [&scope, &other] {
        let x = contact(&pool, business, 1, "2026-03-01T10:00:00Z", Some("manual")).await;
        let y = contact(&pool, business, 2, "2026-03-01T10:00:00Z", Some("manual")).await;
        move_at(&pool, business, x, Stage::New, Stage::Engaged, "2026-03-03T10:00:00Z").await;
        move_at(&pool, business, x, Stage::Engaged, Stage::Paid, "2026-04-01T10:00:00Z").await;
        move_at(&pool, business, y, Stage::New, Stage::Lost, "2026-04-01T10:00:00Z").await;
        // Never moved: New (and stuck) since January.
        contact(&pool, business, 3, "2026-01-01T10:00:00Z", Some("manual")).await;
    }
    let march = range(&pool, &scope, "2026-03-01", "2026-03-31", Granularity::Month).await;
    let report = pipeline::report(&pool, &scope, &march, Some(at("2026-03-25T00:00:00Z")), 14).await.unwrap();
    let then = &report.headline;
    let stages: Vec<(Stage, i64, i64)> = then.per_stage.iter().map(|s| (s.stage, s.contacts, s.stuck)).collect();
    assert_eq!(
        stages,
        vec![
            (Stage::New, 2, 2),
            (Stage::Engaged, 1, 1),
            (Stage::Interested, 0, 0),
            (Stage::Paid, 0, 0),
            (Stage::Lost, 0, 0)
        ]
    );
    assert_eq!((then.leads, then.win_rate, then.lost), (3, Some(0.0), 0));
    let reached: Vec<i64> = then.funnel.iter().map(|f| f.reached).collect();
    assert_eq!(reached, vec![2, 1, 0, 0]);
    let new_stays = report.time_in_stage.iter().find(|t| t.stage == Stage::New).unwrap();
    assert_eq!((new_stays.stays, new_stays.median_hours), (1, Some(48.0)));
    // Before anyone existed.
    let before = pipeline::report(&pool, &scope, &march, Some(at("2026-02-01T00:00:00Z")), 14).await.unwrap();
    assert_eq!(before.headline.leads, 1);

    let april = range(&pool, &scope, "2026-04-01", "2026-04-30", Granularity::Day).await;
    let report = pipeline::report(&pool, &scope, &april, None, 14).await.unwrap();
    let now = &report.headline;
    // The summary's pipeline is the report's, without time in stage.
    let s = summary::summary(&pool, &scope, &april).await.unwrap();
    assert_eq!(s.pipeline.per_stage, now.per_stage);
    let reached = |steps: &[wacrm_core::pipeline::FunnelStep]| steps.iter().map(|f| f.reached).collect::<Vec<_>>();
    assert_eq!(reached(&s.pipeline.funnel), reached(&now.funnel));
    assert_eq!((s.pipeline.leads, s.pipeline.win_rate, s.pipeline.lost), (now.leads, now.win_rate, now.lost));
    let stages: Vec<(Stage, i64)> = now.per_stage.iter().map(|s| (s.stage, s.contacts)).collect();
    assert_eq!(stages[3..], [(Stage::Paid, 1), (Stage::Lost, 1)]);
    assert_eq!((now.win_rate, now.lost), (Some(1.0 / 3.0), 1));
    let stuck: Vec<(Stage, i64)> = now.per_stage.iter().map(|s| (s.stage, s.stuck)).collect();
    assert_eq!(stuck[..2], [(Stage::New, 1), (Stage::Engaged, 0)]);
    // The same instant through history gives the same answer as the stage column.
    let rebuilt = pipeline::report(&pool, &scope, &april, Some(Utc::now()), 14).await.unwrap();
    assert_eq!(rebuilt.headline.per_stage, now.per_stage);
    let reached: Vec<i64> = now.funnel.iter().map(|f| f.reached).collect();
    assert_eq!(reached, vec![2, 1, 1, 1]);
    let engaged = report.time_in_stage.iter().find(|t| t.stage == Stage::Engaged).unwrap();
    assert_eq!((engaged.stays, engaged.median_hours), (1, Some(29.0 * 24.0)));
    let new = report.time_in_stage.iter().find(|t| t.stage == Stage::New).unwrap();
    assert_eq!((new.stays, new.median_hours), (1, Some(31.0 * 24.0)));
    let future = pipeline::report(&pool, &scope, &april, Some(Utc::now() + chrono::Duration::days(2)), 14).await;
    assert!(matches!(future, Err(Error::Invalid { .. })), "{future:?}");
}

/// Time in stage reads each change's stored previous change (migration 0076), which stays right when an
/// older change is inserted after a newer one (an import of history), when a statement inserts several,
/// and when one is removed; the other business's changes never count.
#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn time_in_stage_follows_backdated_batched_and_removed_changes(pool: PgPool) {
    let scope = tenant(&pool, "stays", "UTC").await;
    let other = tenant(&pool, "other", "UTC").await;
    let x = contact(&pool, &scope, 1, "2026-03-01T00:00:00Z", Some("manual")).await;
    let theirs = contact(&pool, &other, 1, "2026-03-01T00:00:00Z", Some("manual")).await;
    move_at(&pool, &other, theirs, Stage::New, Stage::Engaged, "2026-03-02T00:00:00Z").await;
    move_at(&pool, &scope, x, Stage::Engaged, Stage::Interested, "2026-03-11T00:00:00Z").await;
    let march = range(&pool, &scope, "2026-03-01", "2026-03-31", Granularity::Month).await;
    let stays = |r: &pipeline::PipelineReport| -> Vec<(Stage, i64, Option<f64>)> {
        r.time_in_stage.iter().filter(|t| t.stays > 0).map(|t| (t.stage, t.stays, t.median_hours)).collect()
    };
    let first = pipeline::report(&pool, &scope, &march, None, 14).await.unwrap();
    assert_eq!(stays(&first), [(Stage::Engaged, 1, Some(240.0))], "since the contact was created");
    move_at(&pool, &scope, x, Stage::New, Stage::Engaged, "2026-03-05T00:00:00Z").await;
    let backdated = pipeline::report(&pool, &scope, &march, None, 14).await.unwrap();
    assert_eq!(stays(&backdated), [(Stage::New, 1, Some(96.0)), (Stage::Engaged, 1, Some(144.0))]);
    sqlx::query(
        "INSERT INTO pipeline_history (business_id, contact_id, from_stage, to_stage, changed_at)
         VALUES ($1, $2, 'Paid', 'Lost', '2026-03-25T00:00:00Z'), ($1, $2, 'Interested', 'Paid', '2026-03-20T00:00:00Z')",
    )
    .bind(scope.business().0)
    .bind(x)
    .execute(&pool)
    .await
    .unwrap();
    let batched = pipeline::report(&pool, &scope, &march, None, 14).await.unwrap();
    assert_eq!(
        stays(&batched),
        [
            (Stage::New, 1, Some(96.0)),
            (Stage::Engaged, 1, Some(144.0)),
            (Stage::Interested, 1, Some(216.0)),
            (Stage::Paid, 1, Some(120.0))
        ]
    );
    sqlx::query("DELETE FROM pipeline_history WHERE business_id = $1 AND changed_at = '2026-03-05T00:00:00Z'")
        .bind(scope.business().0)
        .execute(&pool)
        .await
        .unwrap();
    let removed = pipeline::report(&pool, &scope, &march, None, 14).await.unwrap();
    assert_eq!(stays(&removed)[0], (Stage::Engaged, 1, Some(240.0)));
    for business in [&scope, &other] {
        assert!(verify::verify(&pool, business, false).await.unwrap().exact());
    }
}

/// The recurring job refreshes every business with marked contacts, and nothing once none are left.
#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn the_recurring_refresh_stores_every_marked_business(pool: PgPool) {
    for name in ["one", "two"] {
        let scope = tenant(&pool, name, "UTC").await;
        let c = contact(&pool, &scope, 1, "2026-03-01T00:00:00Z", Some("inbound")).await;
        message(&pool, &scope, c, false, "2026-03-02T10:00:00Z", None, None).await;
        message(&pool, &scope, c, true, "2026-03-02T11:00:00Z", None, None).await;
    }
    let pass = analytics::refresh_all(&pool).await.unwrap();
    assert_eq!((pass.businesses, pass.contacts, pass.failed), (2, 2, 0));
    let (marked, replied): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM analytics_dirty_contacts),
                (SELECT count(*) FROM messages WHERE replied_at = sent_at + INTERVAL '1 hour')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((marked, replied), (0, 2));
    assert_eq!(analytics::refresh_all(&pool).await.unwrap(), analytics::RefreshAllReport::default());
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn usage_counts_local_months_against_the_plan_with_a_forecast(pool: PgPool) {
    let scope = tenant(&pool, "usage", "America/Sao_Paulo").await;
    let other = tenant(&pool, "other", "America/Sao_Paulo").await;
    for business in [&scope, &other] {
        let c = contact(&pool, business, 1, "2026-10-01T00:00:00Z", Some("inbound")).await;
        usage_row(&pool, business, c, "2026-11-01T02:00:00Z", "0.05").await; // 31 Oct 23:00 local
        usage_row(&pool, business, c, "2026-11-01T03:00:00Z", "0.05").await; // 1 Nov 00:00 local
        usage_row(&pool, business, c, "2026-11-10T12:00:00Z", "0.10").await;
        usage_row(&pool, business, c, "2026-11-15T12:00:00Z", "0.05").await;
    }
    let november = range(&pool, &scope, "2026-11-01", "2026-11-30", Granularity::Month).await;
    // Half of November (local) has passed.
    let r = usage::report_at(&pool, &scope, &november, at("2026-11-16T03:00:00Z")).await.unwrap();
    assert_eq!((r.conversations, r.cost), (3, Decimal::new(20, 2)));
    assert_eq!(r.headline.total_spend, Decimal::new(25, 2));
    let m = &r.headline.this_month;
    assert_eq!((m.month, m.conversations, m.cost), (day("2026-11-01"), 3, Decimal::new(20, 2)));
    assert_eq!((m.conversation_limit, m.plan.as_deref()), (Some(250), Some("Free")));
    assert_eq!((m.forecast_conversations, m.forecast_cost), (6, Decimal::new(40, 2)));
    assert_eq!(m.used, Some(3.0 / 250.0));
    assert!(verify::verify(&pool, &scope, false).await.unwrap().exact());
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn timezones_are_validated_and_agents_cannot_see_analytics(pool: PgPool) {
    let scope = tenant(&pool, "tz", "utc").await;
    assert_eq!(business::timezone(&pool, &scope).await.unwrap().name(), "UTC");
    let err = business::set_timezone(&pool, &scope, "+02:00").await.unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    business::set_timezone(&pool, &scope, "america/sao_paulo").await.unwrap();
    assert_eq!(business::timezone(&pool, &scope).await.unwrap().name(), "America/Sao_Paulo");
    let agent = auth::add_user(&pool, &scope, "Ben", "ben@tz.example.com", "password-123", Role::Agent).await.unwrap();
    let as_agent = Scope::for_user(&pool, scope.business(), agent.id).await.unwrap();
    let err = analytics::resolve(&pool, &as_agent, RangeRequest::default()).await.unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    assert!(matches!(business::set_timezone(&pool, &as_agent, "UTC").await, Err(Error::Forbidden { .. })));
}
