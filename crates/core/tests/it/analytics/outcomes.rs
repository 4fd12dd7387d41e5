//! Campaign, template and automation figures against a small dataset computed by hand, with another
//! business's sends in the same range that must never be counted; and the rollups verified after
//! randomized activity that includes campaigns and automation.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::PgPool;
use uuid::Uuid;
use wacrm_core::analytics::{Granularity, automation, campaigns, templates, verify};
use wacrm_core::{Scope, Stage};

use super::{at, contact, message, move_at, range, tenant, usage_row};

async fn template(pool: &PgPool, scope: &Scope, name: &str) -> i32 {
    sqlx::query_scalar(
        "INSERT INTO message_templates (business_id, name, content, status) VALUES ($1, $2, 'Hi {{1}}', 'approved') RETURNING id",
    )
    .bind(scope.business().0)
    .bind(name)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn campaign(pool: &PgPool, scope: &Scope, template: i32, name: &str) -> i32 {
    sqlx::query_scalar(
        "INSERT INTO campaigns (business_id, template_id, name, status) VALUES ($1, $2, $3, 'completed') RETURNING id",
    )
    .bind(scope.business().0)
    .bind(template)
    .bind(name)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// An outbound template message as the send path records it (name and language in the payload).
struct Send<'a> {
    contact: i32,
    template: &'a str,
    campaign: Option<i32>,
    status: &'a str,
    error: Option<i32>,
    sent: &'a str,
    client_ref: Option<Uuid>,
}

impl Send<'_> {
    async fn insert(&self, pool: &PgPool, scope: &Scope) {
        sqlx::query(
            "INSERT INTO messages (business_id, contact_id, direction, content, kind, payload, campaign_id, status,
                                   error_code, sent_at, client_ref)
             VALUES ($1, $2, 'out', 'template', 'template',
                     jsonb_build_object('template', jsonb_build_object('name', $3::text, 'language', 'en_US')),
                     $4, $5::message_status, $6, $7, $8)",
        )
        .bind(scope.business().0)
        .bind(self.contact)
        .bind(self.template)
        .bind(self.campaign)
        .bind(self.status)
        .bind(self.error)
        .bind(at(self.sent))
        .bind(self.client_ref)
        .execute(pool)
        .await
        .unwrap();
    }
}

fn send<'a>(contact: i32, template: &'a str, campaign: Option<i32>, status: &'a str, sent: &'a str) -> Send<'a> {
    Send { contact, template, campaign, status, error: None, sent, client_ref: None }
}

/// Six contacts (c[0] is unused so that c[1] is "c1"), and the other business's campaign: a delivered,
/// replied, converted message in the same range.
async fn dataset(pool: &PgPool) -> (Scope, Vec<i32>, [i32; 3]) {
    let scope = tenant(pool, "outcomes", "UTC").await;
    let other = tenant(pool, "other", "UTC").await;
    let mut c = vec![0];
    for n in 1..=7 {
        c.push(contact(pool, &scope, n, "2026-01-05T00:00:00Z", Some("manual")).await);
    }
    let promo = template(pool, &scope, "promo").await;
    let order = template(pool, &scope, "order_update").await;
    let unused = template(pool, &scope, "unused").await;
    let c1 = campaign(pool, &scope, promo, "spring").await;
    let c2 = campaign(pool, &scope, order, "orders").await;
    // Campaign "spring" (promo): read+replied+converted, delivered with a late reply, limited by Meta,
    // failed otherwise, still pending, sent (not delivered) with a reply but Paid before it.
    send(c[1], "promo", Some(c1), "read", "2026-03-02T10:00:00Z").insert(pool, &scope).await;
    message(pool, &scope, c[1], true, "2026-03-02T12:00:00Z", None, None).await;
    move_at(pool, &scope, c[1], Stage::New, Stage::Paid, "2026-03-10T00:00:00Z").await;
    send(c[2], "promo", Some(c1), "delivered", "2026-03-02T10:00:00Z").insert(pool, &scope).await;
    message(pool, &scope, c[2], true, "2026-03-06T10:00:00Z", None, None).await;
    Send { error: Some(131049), ..send(c[3], "promo", Some(c1), "failed", "2026-03-02T10:00:00Z") }
        .insert(pool, &scope)
        .await;
    Send { error: Some(131026), ..send(c[4], "promo", Some(c1), "failed", "2026-03-02T10:00:00Z") }
        .insert(pool, &scope)
        .await;
    send(c[5], "promo", Some(c1), "pending", "2026-03-02T10:00:00Z").insert(pool, &scope).await;
    move_at(pool, &scope, c[6], Stage::New, Stage::Paid, "2026-03-01T00:00:00Z").await;
    send(c[6], "promo", Some(c1), "sent", "2026-03-02T10:00:00Z").insert(pool, &scope).await;
    message(pool, &scope, c[6], true, "2026-03-02T11:00:00Z", None, None).await;
    // Campaign "orders": one message before the range, one delivered, replied and converted.
    send(c[1], "order_update", Some(c2), "read", "2026-02-27T10:00:00Z").insert(pool, &scope).await;
    send(c[2], "order_update", Some(c2), "delivered", "2026-03-15T10:00:00Z").insert(pool, &scope).await;
    message(pool, &scope, c[2], true, "2026-03-15T12:00:00Z", None, None).await;
    move_at(pool, &scope, c[2], Stage::New, Stage::Paid, "2026-03-20T00:00:00Z").await;
    // From the inbox: promo read without a reply, and a template no longer known.
    send(c[7], "promo", None, "read", "2026-03-20T10:00:00Z").insert(pool, &scope).await;
    send(c[7], "legacy", None, "sent", "2026-03-21T10:00:00Z").insert(pool, &scope).await;
    // The other business: same names, same range.
    let theirs = contact(pool, &other, 1, "2026-01-05T00:00:00Z", Some("manual")).await;
    let their_promo = template(pool, &other, "promo").await;
    let their_campaign = campaign(pool, &other, their_promo, "spring").await;
    send(theirs, "promo", Some(their_campaign), "read", "2026-03-02T10:00:00Z").insert(pool, &other).await;
    message(pool, &other, theirs, true, "2026-03-02T12:00:00Z", None, None).await;
    move_at(pool, &other, theirs, Stage::New, Stage::Paid, "2026-03-03T00:00:00Z").await;
    (scope, c, [c1, c2, unused])
}

fn counts(o: &wacrm_core::analytics::outcomes::SendOutcomes) -> [i64; 8] {
    [o.messages, o.sent, o.failed, o.limited_by_meta, o.delivered, o.read, o.replied, o.converted]
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn campaigns_count_delivery_reads_replies_meta_limits_and_conversions(pool: PgPool) {
    let (scope, _, [spring, orders, _]) = dataset(&pool).await;
    let march = range(&pool, &scope, "2026-03-01", "2026-03-31", Granularity::Day).await;
    let r = campaigns::report(&pool, &scope, &march).await.unwrap();
    assert_eq!(r.campaigns.iter().map(|c| c.campaign.0).collect::<Vec<_>>(), [orders, spring], "newest first");
    let (o, s) = (&r.campaigns[0], &r.campaigns[1]);
    assert_eq!((s.name.as_str(), s.status.as_str(), s.template_name.as_str()), ("spring", "completed", "promo"));
    assert_eq!(counts(&s.outcomes), [6, 5, 2, 1, 2, 1, 2, 1]);
    assert_eq!(s.outcomes.delivery_rate, Some(2.0 / 5.0));
    assert_eq!(
        (s.outcomes.read_rate, s.outcomes.reply_rate, s.outcomes.conversion_rate),
        (Some(0.5), Some(1.0), Some(0.5))
    );
    assert_eq!(counts(&o.outcomes), [1, 1, 0, 0, 1, 0, 1, 1]);
    assert_eq!(counts(&r.total), [7, 6, 2, 1, 3, 1, 3, 2]);
    assert_eq!(
        r.per_template.iter().map(|t| (t.template_name.as_str(), t.campaigns, t.outcomes.messages)).collect::<Vec<_>>(),
        [("promo", 1, 6), ("order_update", 1, 1)]
    );
    // February holds only the "orders" message before the range; its reply window saw nothing.
    let february = range(&pool, &scope, "2026-02-01", "2026-02-28", Granularity::Month).await;
    let r = campaigns::report(&pool, &scope, &february).await.unwrap();
    assert_eq!(r.campaigns.len(), 1);
    assert_eq!(counts(&r.total), [1, 1, 0, 0, 1, 1, 0, 0]);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn templates_count_every_senders_sends_and_list_unused_ones(pool: PgPool) {
    let (scope, _, [_, _, unused]) = dataset(&pool).await;
    let march = range(&pool, &scope, "2026-03-01", "2026-03-31", Granularity::Day).await;
    let r = templates::report(&pool, &scope, &march).await.unwrap();
    let rows: Vec<(&str, Option<i32>, i64, [i64; 8])> = r
        .templates
        .iter()
        .map(|t| (t.name.as_str(), t.template.map(|id| id.0), t.campaign_messages, counts(&t.outcomes)))
        .collect();
    assert_eq!(rows[0].0, "promo");
    assert_eq!((rows[0].2, rows[0].3), (6, [7, 6, 2, 1, 3, 2, 2, 1]));
    assert_eq!((rows[1].0, rows[1].1, rows[1].3), ("legacy", None, [1, 1, 0, 0, 0, 0, 0, 0]));
    assert_eq!((rows[2].0, rows[2].2, rows[2].3), ("order_update", 1, [1, 1, 0, 0, 1, 0, 1, 1]));
    assert_eq!((rows[3].0, rows[3].1, rows[3].3), ("unused", Some(unused), [0; 8]));
    assert_eq!(rows.len(), 4);
    assert_eq!(counts(&r.total), [9, 8, 2, 1, 4, 2, 3, 2]);
    assert_eq!(r.templates[0].language, "en_US");
}

/// The campaign figures follow status webhooks, a reply and a move to Paid (live for the dirty contact,
/// then stored by a refresh), and the deletion of a contact (its sends gone), with verify exact
/// throughout; the other business's sends in the same range never count.
#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn campaign_figures_follow_statuses_replies_and_deleted_contacts(pool: PgPool) {
    let (scope, c, [spring, _, _]) = dataset(&pool).await;
    let march = range(&pool, &scope, "2026-03-01", "2026-03-31", Granularity::Day).await;
    let check = |expected: [i64; 8], total: [i64; 8]| {
        let (pool, scope, march) = (&pool, &scope, &march);
        async move {
            for refreshed in [false, true] {
                if refreshed {
                    verify::refresh(pool, scope).await.unwrap();
                }
                let r = campaigns::report(pool, scope, march).await.unwrap();
                let s = r.campaigns.iter().find(|row| row.campaign.0 == spring).unwrap();
                assert_eq!((counts(&s.outcomes), counts(&r.total)), (expected, total), "refreshed: {refreshed}");
                let v = verify::verify(pool, scope, false).await.unwrap();
                assert!(v.exact() && v.send_outcome_differences == 0, "{v:?}");
            }
        }
    };
    check([6, 5, 2, 1, 2, 1, 2, 1], [7, 6, 2, 1, 3, 1, 3, 2]).await;
    // c5's pending send is delivered: a status webhook.
    sqlx::query("UPDATE messages SET status = 'delivered' WHERE business_id = $1 AND contact_id = $2")
        .bind(scope.business().0)
        .bind(c[5])
        .execute(&pool)
        .await
        .unwrap();
    check([6, 6, 2, 1, 3, 1, 2, 1], [7, 7, 2, 1, 4, 1, 3, 2]).await;
    // c5 replies five hours later and moves to Paid three days after: replied and converted.
    message(&pool, &scope, c[5], true, "2026-03-02T15:00:00Z", None, None).await;
    move_at(&pool, &scope, c[5], Stage::New, Stage::Paid, "2026-03-05T00:00:00Z").await;
    check([6, 6, 2, 1, 3, 1, 3, 2], [7, 7, 2, 1, 4, 1, 4, 3]).await;
    let t = templates::report(&pool, &scope, &march).await.unwrap();
    assert_eq!((t.templates[0].name.as_str(), counts(&t.templates[0].outcomes)), ("promo", [7, 7, 2, 1, 4, 2, 3, 2]));
    // c1 is deleted: its read, replied and converted send goes with it.
    sqlx::query("DELETE FROM contacts WHERE business_id = $1 AND id = $2")
        .bind(scope.business().0)
        .bind(c[1])
        .execute(&pool)
        .await
        .unwrap();
    check([5, 5, 2, 1, 2, 0, 2, 1], [6, 6, 2, 1, 3, 0, 3, 2]).await;
}

/// Reply times by hand: the send the customer answered 2 hours later, the one answered after 4 days
/// (outside the 72-hour window: none), the one answered within the hour, and the inbound messages
/// (none). Refreshing one business stores its times and leaves the other's alone; the reports read
/// the same from the stored times as they did live.
#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn reply_times_are_stored_by_refresh_and_read_the_same_as_live(pool: PgPool) {
    let (scope, c, _) = dataset(&pool).await;
    let year = range(&pool, &scope, "2026-01-01", "2026-12-31", Granularity::Month).await;
    let live = (
        campaigns::report(&pool, &scope, &year).await.unwrap(),
        templates::report(&pool, &scope, &year).await.unwrap(),
        automation::report(&pool, &scope, &year).await.unwrap(),
    );
    assert_eq!(verify::refresh(&pool, &scope).await.unwrap(), 7);
    let stored: Vec<(i32, String, Option<String>)> = sqlx::query_as(
        "SELECT contact_id, direction::text, to_char(replied_at AT TIME ZONE 'UTC', 'MM-DD HH24:MI') FROM messages
         WHERE business_id = $1 AND contact_id = ANY($2) ORDER BY contact_id, sent_at",
    )
    .bind(scope.business().0)
    .bind(&c[1..=2])
    .fetch_all(&pool)
    .await
    .unwrap();
    let stored: Vec<(i32, &str, Option<&str>)> =
        stored.iter().map(|(contact, d, r)| (*contact, d.as_str(), r.as_deref())).collect();
    assert_eq!(
        stored,
        [
            (c[1], "out", None),
            (c[1], "out", Some("03-02 12:00")),
            (c[1], "in", None),
            (c[2], "out", None),
            (c[2], "in", None),
            (c[2], "out", Some("03-15 12:00")),
            (c[2], "in", None)
        ]
    );
    let theirs: i64 = sqlx::query_scalar("SELECT count(replied_at) FROM messages WHERE business_id <> $1")
        .bind(scope.business().0)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(theirs, 0, "the other business's reply times wait for its own refresh");
    let now = (
        campaigns::report(&pool, &scope, &year).await.unwrap(),
        templates::report(&pool, &scope, &year).await.unwrap(),
        automation::report(&pool, &scope, &year).await.unwrap(),
    );
    assert_eq!((&now.0.campaigns, &now.0.total), (&live.0.campaigns, &live.0.total));
    assert_eq!((&now.1.templates, &now.1.total), (&live.1.templates, &live.1.total));
    assert_eq!(now.2.rules, live.2.rules);
    assert!(verify::verify(&pool, &scope, false).await.unwrap().exact());
    // A late reply moves a stored send's reply time: its contact is computed live until the next refresh.
    message(&pool, &scope, c[2], true, "2026-03-04T10:00:00Z", None, None).await;
    let replied = |r: &campaigns::CampaignsReport| r.campaigns.iter().map(|c| c.outcomes.replied).sum::<i64>();
    let live_again = campaigns::report(&pool, &scope, &year).await.unwrap();
    assert_eq!(replied(&live_again), replied(&now.0) + 1);
    verify::refresh(&pool, &scope).await.unwrap();
    assert_eq!(campaigns::report(&pool, &scope, &year).await.unwrap().total, live_again.total);
}

/// A rule with its runs and actions as the engine records them; `done` sends get a message by their
/// client_ref.
pub(super) async fn rule(pool: &PgPool, scope: &Scope, name: &str) -> i32 {
    sqlx::query_scalar(
        "INSERT INTO automation_rules (business_id, name, trigger, condition, action) VALUES ($1, $2, 'message_received', '{}', '{}') RETURNING id",
    )
    .bind(scope.business().0)
    .bind(name)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// A run of a rule for a contact.
pub(super) struct Run {
    pub(super) id: i64,
    rule: i32,
    contact: i32,
}

pub(super) async fn run(pool: &PgPool, scope: &Scope, rule: i32, contact: i32, matched: bool, when: &str) -> Run {
    let id = sqlx::query_scalar(
        "INSERT INTO automation_runs (business_id, rule_id, event_id, contact_id, matched, cause, created_at)
         VALUES ($1, $2, (SELECT coalesce(max(event_id), 0) + 1 FROM automation_runs WHERE business_id = $1), $3, $4, '{}', $5)
         RETURNING id",
    )
    .bind(scope.business().0)
    .bind(rule)
    .bind(contact)
    .bind(matched)
    .bind(at(when))
    .fetch_one(pool)
    .await
    .unwrap();
    Run { id, rule, contact }
}

async fn action(pool: &PgPool, scope: &Scope, run: &Run, kind: &str, status: &str, when: &str) -> Uuid {
    sqlx::query_scalar(
        "INSERT INTO automation_actions (business_id, run_id, rule_id, contact_id, position, kind, spec, status, created_at)
         VALUES ($1, $2, $3, $4, 0, $5, '{}', $6, $7) RETURNING client_ref",
    )
    .bind(scope.business().0)
    .bind(run.id)
    .bind(run.rule)
    .bind(run.contact)
    .bind(kind)
    .bind(status)
    .bind(at(when))
    .fetch_one(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn automation_counts_sends_replies_stage_moves_and_conversions_per_rule(pool: PgPool) {
    let (scope, c, _) = dataset(&pool).await;
    let welcome = rule(&pool, &scope, "welcome").await;
    let qualify = rule(&pool, &scope, "qualify").await;
    let idle = rule(&pool, &scope, "idle").await;
    // welcome: three runs and one held back; two sends done (one delivered and answered, one failed at
    // Meta), one skipped. c1 (Paid 03-10) and c2 (Paid 03-20) convert after its actions.
    let r1 = run(&pool, &scope, welcome, c[1], true, "2026-03-03T09:00:00Z").await;
    let sent = action(&pool, &scope, &r1, "send_template", "done", "2026-03-03T09:00:00Z").await;
    Send { client_ref: Some(sent), ..send(c[1], "welcome", None, "delivered", "2026-03-03T09:00:01Z") }
        .insert(&pool, &scope)
        .await;
    message(&pool, &scope, c[1], true, "2026-03-03T10:00:00Z", None, None).await;
    let r2 = run(&pool, &scope, welcome, c[2], true, "2026-03-03T09:00:00Z").await;
    let failed = action(&pool, &scope, &r2, "send_template", "done", "2026-03-03T09:00:00Z").await;
    Send { client_ref: Some(failed), ..send(c[2], "welcome", None, "failed", "2026-03-03T09:00:01Z") }
        .insert(&pool, &scope)
        .await;
    let r3 = run(&pool, &scope, welcome, c[3], true, "2026-03-04T09:00:00Z").await;
    action(&pool, &scope, &r3, "send_template", "skipped", "2026-03-04T09:00:00Z").await;
    run(&pool, &scope, welcome, c[4], false, "2026-03-04T09:00:00Z").await;
    run(&pool, &scope, welcome, c[4], true, "2026-02-04T09:00:00Z").await;
    // qualify: moves c1 (converts) and c4 (never Paid) in March; c5 in February, out of range.
    let r4 = run(&pool, &scope, qualify, c[1], true, "2026-03-05T00:00:00Z").await;
    action(&pool, &scope, &r4, "move_stage", "done", "2026-03-05T00:00:00Z").await;
    let r5 = run(&pool, &scope, qualify, c[4], true, "2026-03-06T00:00:00Z").await;
    action(&pool, &scope, &r5, "move_stage", "done", "2026-03-06T00:00:00Z").await;
    let r6 = run(&pool, &scope, qualify, c[5], true, "2026-02-06T00:00:00Z").await;
    action(&pool, &scope, &r6, "move_stage", "done", "2026-02-06T00:00:00Z").await;

    let march = range(&pool, &scope, "2026-03-01", "2026-03-31", Granularity::Day).await;
    let r = automation::report(&pool, &scope, &march).await.unwrap();
    let rules: Vec<_> = r
        .rules
        .iter()
        .map(|x| {
            (
                x.rule,
                [x.runs, x.held_back, x.messages_sent, x.messages_not_sent, x.delivered, x.replied, x.stage_moves],
                (x.contacts, x.conversions),
            )
        })
        .collect();
    assert_eq!(
        rules,
        [(welcome, [3, 1, 2, 1, 1, 1, 0], (2, 2)), (qualify, [2, 0, 0, 0, 0, 0, 2], (2, 1)), (idle, [0; 7], (0, 0))]
    );
    assert_eq!(r.rules[0].conversion_rate, Some(1.0));
    assert_eq!(r.rules[2].conversion_rate, None);
    assert_eq!((r.runs, r.messages_sent, r.replied, r.stage_moves), (5, 2, 1, 2));
    // c1 converted after both rules' actions: counted once for the business.
    assert_eq!((r.contacts, r.conversions, r.conversion_rate), (3, 2, Some(2.0 / 3.0)));
    // The summary's totals are the report's.
    let totals = automation::totals(&pool, &scope, &march).await.unwrap();
    assert_eq!(
        totals,
        automation::AutomationTotals { runs: 5, messages_sent: 2, replied: 1, stage_moves: 2, conversions: 2 }
    );
    // The other business sees none of it.
    let other = tenant(&pool, "third", "UTC").await;
    let theirs = automation::report(&pool, &other, &march).await.unwrap();
    assert!(theirs.rules.is_empty() && theirs.runs == 0);
    assert_eq!(automation::totals(&pool, &other, &march).await.unwrap(), automation::AutomationTotals::default());
}

async fn raw_count(pool: &PgPool, scope: &Scope, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).bind(scope.business().0).fetch_one(pool).await.unwrap()
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn verify_stays_exact_after_randomized_campaign_and_automation_activity(pool: PgPool) {
    let scopes = [tenant(&pool, "one", "UTC").await, tenant(&pool, "two", "Asia/Kathmandu").await];
    let mut rng = StdRng::seed_from_u64(2123);
    let mut setup = Vec::new();
    for scope in &scopes {
        let mut contacts = Vec::new();
        for n in 0..6 {
            contacts.push(contact(&pool, scope, n, "2026-01-01T00:00:00Z", Some("inbound")).await);
        }
        let promo = template(&pool, scope, "promo").await;
        let spring = campaign(&pool, scope, promo, "spring").await;
        let welcome = rule(&pool, scope, "welcome").await;
        setup.push((contacts, spring, welcome));
    }
    let statuses = ["pending", "sent", "delivered", "read", "failed"];
    let stages = [Stage::Engaged, Stage::Interested, Stage::Paid, Stage::Lost];
    for _ in 0..250 {
        let i = rng.random_range(0..scopes.len());
        let (scope, (contacts, spring, welcome)) = (&scopes[i], &setup[i]);
        let c = contacts[rng.random_range(0..contacts.len())];
        let when = format!(
            "2026-0{}-{:02}T{:02}:{:02}:00Z",
            rng.random_range(1..4),
            rng.random_range(1..29),
            rng.random_range(0..24),
            rng.random_range(0..60)
        );
        let status = statuses[rng.random_range(0..statuses.len())];
        match rng.random_range(0..14) {
            0..=2 => {
                let error = (status == "failed").then(|| if rng.random_bool(0.5) { 131049 } else { 131026 });
                Send { error, ..send(c, "promo", Some(*spring), status, &when) }.insert(&pool, scope).await
            }
            3 => message(&pool, scope, c, true, &when, None, None).await,
            // Status webhooks move a campaign message on (the send outcomes rollup follows).
            4 => {
                sqlx::query(
                    "UPDATE messages SET status = $3::message_status WHERE business_id = $1
                     AND id = (SELECT max(id) FROM messages WHERE business_id = $1 AND campaign_id = $2)",
                )
                .bind(scope.business().0)
                .bind(spring)
                .bind(status)
                .execute(&pool)
                .await
                .unwrap();
            }
            5 => {
                let r = run(&pool, scope, *welcome, c, true, &when).await;
                let client_ref = action(&pool, scope, &r, "send_template", "done", &when).await;
                Send { client_ref: Some(client_ref), ..send(c, "welcome", None, status, &when) }
                    .insert(&pool, scope)
                    .await
            }
            6 => {
                let r = run(&pool, scope, *welcome, c, true, &when).await;
                action(&pool, scope, &r, "move_stage", "done", &when).await;
                let to = stages[rng.random_range(0..stages.len())];
                move_at(&pool, scope, c, Stage::New, to, &when).await;
            }
            7 => {
                sqlx::query(
                    "DELETE FROM messages WHERE business_id = $1
                     AND id = (SELECT min(id) FROM messages WHERE business_id = $1 AND campaign_id IS NOT NULL)",
                )
                .bind(scope.business().0)
                .execute(&pool)
                .await
                .unwrap();
            }
            8 => usage_row(&pool, scope, c, &when, "0.05").await,
            // A status webhook on the latest template send that is not a campaign's (inbox, automation).
            10 => {
                let error = (status == "failed").then_some(131049);
                sqlx::query(
                    "UPDATE messages SET status = $2::message_status, error_code = $3 WHERE business_id = $1
                     AND id = (SELECT max(id) FROM messages WHERE business_id = $1 AND kind = 'template'
                               AND campaign_id IS NULL)",
                )
                .bind(scope.business().0)
                .bind(status)
                .bind(error)
                .execute(&pool)
                .await
                .unwrap();
            }
            // The refresh job stores reply times mid-way (the stored replies of the rollup move), and a
            // compaction folds the deltas.
            11 => {
                verify::refresh(&pool, scope).await.unwrap();
                verify::compact(&pool, scope).await.unwrap();
            }
            // A send action written after its message (the message names no action until then).
            12 => {
                let client_ref = Uuid::new_v4();
                Send { client_ref: Some(client_ref), ..send(c, "welcome", None, status, &when) }
                    .insert(&pool, scope)
                    .await;
                let r = run(&pool, scope, *welcome, c, true, &when).await;
                sqlx::query(
                    "INSERT INTO automation_actions (business_id, run_id, rule_id, contact_id, position, kind, spec,
                                                     status, client_ref, created_at)
                     VALUES ($1, $2, $3, $4, 0, 'send_template', '{}', 'done', $5, $6)",
                )
                .bind(scope.business().0)
                .bind(r.id)
                .bind(r.rule)
                .bind(r.contact)
                .bind(client_ref)
                .bind(at(&when))
                .execute(&pool)
                .await
                .unwrap();
            }
            // A run goes, with its actions (a cascade); their messages stay.
            13 => {
                sqlx::query(
                    "DELETE FROM automation_runs WHERE business_id = $1
                     AND id = (SELECT min(run_id) FROM automation_actions WHERE business_id = $1)",
                )
                .bind(scope.business().0)
                .execute(&pool)
                .await
                .unwrap();
            }
            _ => send(c, "promo", None, status, &when).insert(&pool, scope).await,
        }
    }
    let mut campaign_messages = 0;
    for scope in &scopes {
        let v = verify::verify(&pool, scope, false).await.unwrap();
        assert!(v.exact() && v.buckets > 0, "{v:?}");
        let year = range(&pool, scope, "2026-01-01", "2026-12-31", Granularity::Month).await;
        let live = campaigns::report(&pool, scope, &year).await.unwrap();
        let live_rules = automation::report(&pool, scope, &year).await.unwrap().rules;
        verify::refresh(&pool, scope).await.unwrap();
        assert!(verify::verify(&pool, scope, false).await.unwrap().exact());
        // Every send of the year is in the reports, once, and only this business's; the same from the
        // stored reply times as computed live.
        let c = campaigns::report(&pool, scope, &year).await.unwrap();
        assert_eq!((&c.campaigns, &c.total), (&live.campaigns, &live.total));
        assert_eq!(automation::report(&pool, scope, &year).await.unwrap().rules, live_rules);
        let raw =
            "SELECT count(*) FROM messages WHERE business_id = $1 AND campaign_id IS NOT NULL AND direction = 'out'";
        assert_eq!(c.total.messages, raw_count(&pool, scope, raw).await);
        let failed =
            "SELECT count(*) FROM messages WHERE business_id = $1 AND campaign_id IS NOT NULL AND status = 'failed'";
        assert_eq!(c.total.failed, raw_count(&pool, scope, failed).await);
        assert!(c.total.replied <= c.total.sent && c.total.converted <= c.total.replied, "{:?}", c.total);
        campaign_messages += c.total.messages;
        let t = templates::report(&pool, scope, &year).await.unwrap();
        let raw = "SELECT count(*) FROM messages WHERE business_id = $1 AND kind = 'template'";
        assert_eq!(t.total.messages, raw_count(&pool, scope, raw).await);
        let a = automation::report(&pool, scope, &year).await.unwrap();
        let raw = "SELECT count(*) FROM automation_actions WHERE business_id = $1 AND kind = 'send_template'";
        assert_eq!(a.messages_sent, raw_count(&pool, scope, raw).await);
        let raw = "SELECT count(*) FROM automation_runs WHERE business_id = $1";
        assert_eq!(a.runs, raw_count(&pool, scope, raw).await);
        assert!(a.conversions <= a.contacts);
    }
    // A stored reply time or previous stage change that drifted is reported, and repaired.
    sqlx::query(
        "UPDATE messages SET replied_at = sent_at WHERE business_id = $1
         AND id = (SELECT min(id) FROM messages WHERE business_id = $1 AND direction = 'out')",
    )
    .bind(scopes[0].business().0)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE pipeline_history SET previous_changed_at = '2020-01-01T00:00:00Z' WHERE business_id = $1
         AND id = (SELECT max(id) FROM pipeline_history WHERE business_id = $1)",
    )
    .bind(scopes[0].business().0)
    .execute(&pool)
    .await
    .unwrap();
    // And a delta of the send outcomes that no send accounts for.
    sqlx::query(
        "INSERT INTO analytics_send_outcomes (business_id, bucket, campaign_id, messages, sent, failed, limited,
                                              delivered, read, replied)
         VALUES ($1, '2026-02-02T10:00:00Z', NULL, 0, 0, 0, 0, 0, 0, 1)",
    )
    .bind(scopes[0].business().0)
    .execute(&pool)
    .await
    .unwrap();
    // And of the automation sends.
    sqlx::query(
        "INSERT INTO analytics_automation_sends (business_id, bucket, rule_id, delivered, replied)
         VALUES ($1, '2026-02-02T10:00:00Z', $2, 1, 0)",
    )
    .bind(scopes[0].business().0)
    .bind(setup[0].2)
    .execute(&pool)
    .await
    .unwrap();
    let v = verify::verify(&pool, &scopes[0], false).await.unwrap();
    assert_eq!((v.reply_differences, v.stage_change_differences), (1, 1), "{v:?}");
    assert_eq!((v.send_outcome_differences, v.automation_send_differences), (1, 1), "{v:?}");
    assert!(verify::verify(&pool, &scopes[1], false).await.unwrap().exact(), "the other business is untouched");
    assert!(verify::verify(&pool, &scopes[0], true).await.unwrap().repaired);
    verify::refresh(&pool, &scopes[0]).await.unwrap();
    assert!(verify::verify(&pool, &scopes[0], false).await.unwrap().exact());
    let all: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE campaign_id IS NOT NULL")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(campaign_messages, all);
}
