//! Demo and benchmark data, generated inside PostgreSQL (`generate_series`), so even the large tenant
//! (50,000 contacts, 1,000,000 messages) takes seconds rather than minutes of round trips.
//!
//! Setting a demo up is idempotent: the business is found by its e-mail and only filled once; a
//! session-level advisory lock makes concurrent `wacrm demo` runs wait for each other.

use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::{Connection, PgConnection, PgPool};

use crate::auth::{self, Role, Scope};
use crate::billing;
use crate::business::{self, NewAccount};
use crate::db::bulk;
use crate::error::{Error, Result};
use crate::types::{AccountId, BusinessId};

/// Which demo tenant to set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// A realistic small business: ~200 contacts, 30 days of conversations, a finished campaign.
    Small,
    /// The benchmark tenant: 50,000 contacts and 1,000,000 messages over 90 days.
    Large,
}

struct Spec {
    name: &'static str,
    email: &'static str,
    phone: &'static str,
    phone_number_id: &'static str,
    waba_id: &'static str,
    contacts: i32,
    messages: i32,
    days: i32,
}

impl Scale {
    fn spec(self) -> Spec {
        match self {
            Scale::Small => Spec {
                name: "Demo Coffee Roasters",
                email: "demo@wacrm.test",
                phone: "+12025550100",
                phone_number_id: "100000000000001",
                waba_id: "200000000000001",
                contacts: 200,
                messages: 2_400,
                days: 30,
            },
            Scale::Large => Spec {
                name: "Large Tenant Benchmarks",
                email: "large@wacrm.test",
                phone: "+12025550199",
                phone_number_id: "100000000000002",
                waba_id: "200000000000002",
                contacts: 50_000,
                messages: 1_000_000,
                days: 90,
            },
        }
    }
}

/// The demo login for the owner and the agents (printed by `wacrm demo`).
pub const DEMO_PASSWORD: &str = "demo-password";
/// From this many generated messages on, a load into tables a hundredth of its size or less is done in
/// bulk ([`bulk`]): the large tenant on a fresh install, not the everyday demo.
const BULK_LOAD_MESSAGES: i32 = 100_000;
const ADVISORY_LOCK_KEY: i64 = 0x7761_6372_6d64; // "wacrmd"

/// What `ensure` found or made.
#[derive(Debug, Clone, Serialize)]
pub struct DemoTenant {
    pub business: BusinessId,
    pub email: String,
    pub account: AccountId,
    pub phone_number_id: String,
    pub waba_id: String,
    /// The business number as webhooks spell it (`metadata.display_phone_number`: digits, no `+`).
    pub display_phone_number: String,
    /// False when the tenant already existed and was left as it was.
    pub created: bool,
    pub contacts: i64,
    pub messages: i64,
    #[serde(serialize_with = "serialize_secs")]
    pub took: Duration,
}

fn serialize_secs<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Sets up the demo tenant of `scale` unless it exists, and returns it. `graph_api_base`, when given,
/// becomes the account's Graph API base URL (the fake Graph API in demo mode).
pub async fn ensure(pool: &PgPool, scale: Scale, graph_api_base: Option<&str>) -> Result<DemoTenant> {
    let started = Instant::now();
    let spec = scale.spec();
    let mut lock = pool.acquire().await?;
    sqlx::query_scalar!("SELECT 1 FROM pg_advisory_lock($1)", ADVISORY_LOCK_KEY).fetch_one(&mut *lock).await?;
    let outcome = ensure_locked(pool, &spec, graph_api_base, started).await;
    sqlx::query_scalar!("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_KEY).fetch_one(&mut *lock).await?;
    outcome
}

async fn ensure_locked(
    pool: &PgPool,
    spec: &Spec,
    graph_api_base: Option<&str>,
    started: Instant,
) -> Result<DemoTenant> {
    let existing =
        sqlx::query_scalar!("SELECT id FROM businesses WHERE email = $1", spec.email).fetch_optional(pool).await?;
    let (scope, created) = match existing {
        Some(id) => (Scope::for_business(pool, BusinessId(id)).await?, false),
        None => {
            let (b, _) = business::create(pool, spec.name, spec.email, "US").await?;
            (Scope::for_business(pool, b.id).await?, true)
        }
    };
    let account = match business::list_accounts(pool, &scope).await?.into_iter().next() {
        Some(account) => account,
        None => {
            business::add_account(
                pool,
                &scope,
                &NewAccount {
                    phone: spec.phone.into(),
                    phone_number_id: spec.phone_number_id.into(),
                    waba_id: Some(spec.waba_id.into()),
                    token: "demo-access-token".into(),
                    api_base_url: None,
                    api_version: None,
                },
            )
            .await?
        }
    };
    if let Some(base) = graph_api_base {
        sqlx::query!(
            "UPDATE whatsapp_accounts SET api_base_url = $3 WHERE business_id = $1 AND id = $2",
            scope.business().0,
            account.id.0,
            base
        )
        .execute(pool)
        .await?;
    }
    let has_contacts = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM contacts WHERE business_id = $1) AS "e!""#,
        scope.business().0
    )
    .fetch_one(pool)
    .await?;
    if !has_contacts {
        let team = ensure_team(pool, &scope, spec).await?;
        // A plan that fits the generated traffic, so sends in the demo are not blocked by the limit.
        billing::subscribe(pool, &scope, "Growth").await?;
        let mut conn = pool.acquire().await?;
        let mut tx = conn.begin().await?;
        generate(&mut tx, scope.business(), account.id, spec, &team).await?;
        tx.commit().await?;
        // Fresh statistics so the first queries on the new data get good plans.
        sqlx::query!("ANALYZE contacts, messages, contact_tags, pipeline_history, usage_logs").execute(pool).await?;
        // The response-time waits of every generated conversation, stored once rather than computed
        // by each report.
        crate::analytics::verify::refresh(pool, &scope).await?;
    }
    let counts = sqlx::query!(
        r#"SELECT (SELECT count(*) FROM contacts WHERE business_id = $1) AS "contacts!",
                  (SELECT count(*) FROM messages WHERE business_id = $1) AS "messages!""#,
        scope.business().0
    )
    .fetch_one(pool)
    .await?;
    Ok(DemoTenant {
        business: scope.business(),
        email: spec.email.to_string(),
        account: account.id,
        phone_number_id: spec.phone_number_id.to_string(),
        waba_id: spec.waba_id.to_string(),
        display_phone_number: spec.phone.trim_start_matches('+').to_string(),
        created,
        contacts: counts.contacts,
        messages: counts.messages,
        took: started.elapsed(),
    })
}

/// The owner and two agents; returns the agents' ids (conversations get assigned to them).
async fn ensure_team(pool: &PgPool, scope: &Scope, spec: &Spec) -> Result<Vec<i32>> {
    let domain = spec.email.split('@').nth(1).unwrap_or("wacrm.test");
    let mut agents = Vec::new();
    for (name, local, role) in
        [("Olivia Owner", "owner", Role::Owner), ("Ana Agent", "ana", Role::Agent), ("Ben Agent", "ben", Role::Agent)]
    {
        let email = format!("{local}@{domain}");
        let user = match auth::add_user(pool, scope, name, &email, DEMO_PASSWORD, role).await {
            Ok(user) => user.id.0,
            Err(Error::Conflict { .. }) => {
                sqlx::query_scalar!(
                    "SELECT id FROM users WHERE business_id = $1 AND email = $2",
                    scope.business().0,
                    email
                )
                .fetch_one(pool)
                .await?
            }
            Err(e) => return Err(e),
        };
        if role == Role::Agent {
            agents.push(user);
        }
    }
    Ok(agents)
}

/// Writes the tenant's data in one transaction: contacts across all stages with tags, two-way threads
/// with statuses, the inbox state derived from them, conversation-window usage, pipeline history,
/// templates and a finished campaign.
async fn generate(
    conn: &mut PgConnection,
    business: BusinessId,
    account: AccountId,
    spec: &Spec,
    agents: &[i32],
) -> Result<()> {
    let b = business.0;
    // Reproducible data: the same demo every time.
    sqlx::query!("SELECT setseed(0.42)").execute(&mut *conn).await?;
    // The aggregations below (per contact and day over a million messages) fit in memory this way.
    sqlx::query!("SET LOCAL work_mem = '256MB'").execute(&mut *conn).await?;
    sqlx::query!(
        r#"INSERT INTO contacts (business_id, phone, wa_id, name, profile_name, stage, created_at)
           SELECT $1, '+1202' || lpad((5000000 + g)::text, 7, '0'), '1202' || lpad((5000000 + g)::text, 7, '0'),
                  n.full_name, n.full_name,
                  (CASE WHEN r < 0.35 THEN 'New' WHEN r < 0.60 THEN 'Engaged' WHEN r < 0.80 THEN 'Interested'
                        WHEN r < 0.92 THEN 'Paid' ELSE 'Lost' END)::pipeline_stage,
                  -- One in ten arrived this week (the analytics dashboard's new leads), the rest before.
                  CASE WHEN g % 10 = 0 THEN NOW() - INTERVAL '7 days' * random()
                       ELSE NOW() - make_interval(days => $3 + 5) * (0.6 + 0.4 * random()) END
           FROM generate_series(1, $2) g
           -- A hash of g, not random(): PostgreSQL evaluates an uncorrelated random() subquery once.
           CROSS JOIN LATERAL (SELECT ((g::bigint * 2654435761) % 1000) / 1000.0 AS r) rnd
           CROSS JOIN LATERAL (
               SELECT (ARRAY['Aisha','Bruno','Chen','Dara','Elena','Farid','Grace','Hugo','Ines','Jonas','Kemi',
                             'Liam','Maya','Nikhil','Olga','Pablo','Qiu','Rosa','Sami','Tara'])[1 + (g * 7) % 20]
                      || ' ' ||
                      (ARRAY['Okafor','Silva','Wang','Nguyen','Petrova','Haddad','Kim','Martin','Rossi','Berg',
                             'Adeyemi','Murphy','Cohen','Sharma','Ivanova','Garcia','Li','Santos','Ali','Singh'])
                      [1 + (g * 13 + g / 20) % 20] AS full_name
           ) n"#,
        b,
        spec.contacts,
        spec.days
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        r#"INSERT INTO contact_tags (business_id, contact_id, tag)
           SELECT $1, c.id, t.tag
           FROM contacts c
           CROSS JOIN unnest(ARRAY['vip','wholesale','newsletter','hot lead','returning','instagram'])
                WITH ORDINALITY AS t(tag, i)
           WHERE c.business_id = $1 AND (c.id * 31 + t.i * 17) % 5 = 0"#,
        b
    )
    .execute(&mut *conn)
    .await?;
    // The benchmark tenant on a (nearly) fresh install is a bulk load: the tables it fills are rebuilt
    // afterwards. Not on a database in use: that would lock every tenant out for the load's duration.
    let bulk_load = spec.messages >= BULK_LOAD_MESSAGES
        && bulk::estimated_rows(&mut *conn, "messages").await? < f64::from(spec.messages) / 100.0;
    let deferred_messages =
        if bulk_load { Some(bulk::defer_indexes_and_keys(&mut *conn, "messages").await?) } else { None };
    // Threads: message k of a contact alternates in/out and moves forward in time, so every chat reads
    // as a conversation. Outbound statuses are mostly read, the latest ones delivered, a few failed.
    sqlx::query!(
        r#"WITH cs AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS rn FROM contacts WHERE business_id = $1),
                n AS (SELECT count(*) AS m FROM cs),
                gen AS (SELECT g, g % n.m AS rn, g / n.m AS k, (($2 + n.m - 1) / n.m) AS per
                        FROM generate_series(0, $2 - 1) g, n),
                msg AS (
                    SELECT gen.*, cs.id AS contact_id, random() AS r,
                           NOW() - make_interval(days => $4) * (1 - (gen.k + 0.2 + 0.5 * random()) / gen.per)
                               - INTERVAL '26 hours' AS ts
                    FROM gen JOIN cs ON cs.rn = gen.rn
                )
           INSERT INTO messages (business_id, whatsapp_account_id, contact_id, direction, content, status, sent_at,
                                 wamid, kind, delivered_at, read_at, failed_at, error_code, error_title)
           SELECT $1, $3, contact_id,
                  (CASE WHEN k % 2 = 0 THEN 'in' ELSE 'out' END)::message_direction,
                  CASE WHEN k % 2 = 0 THEN
                      (ARRAY['Hi! Do you ship beans to my area?', 'What roasts do you have this week?',
                             'How much is the 1kg bag of house espresso?', 'Is the Ethiopian natural back in stock?',
                             'I''m interested in the monthly subscription', 'Can I change my delivery day?',
                             'Thanks, the order arrived 🙌', 'Do you offer wholesale prices for cafés?',
                             'not now, maybe next month', 'paid, please confirm 👍'])[1 + (g * 7 + k) % 10]
                  ELSE
                      (ARRAY['Hello! Yes, we ship nationwide within 2 days.', 'This week: Colombia Huila, Kenya AA and our house espresso.',
                             'The 1kg house espresso is $32, free shipping over $50.', 'Back on Friday, shall I reserve a bag?',
                             'Great! The subscription is $28/month, cancel anytime.', 'Sure, which day works best for you?',
                             'Wonderful, enjoy! ☕', 'Yes, wholesale starts at 5kg a week, here is our price list.',
                             'No problem, we''ll be here when you''re ready.', 'Payment received, thank you! Your order ships today.'])
                      [1 + (g * 7 + k) % 10]
                  END,
                  (CASE WHEN k % 2 = 0 THEN 'read'
                        WHEN r < 0.02 THEN 'failed'
                        WHEN k >= per - 2 THEN 'delivered'
                        ELSE 'read' END)::message_status,
                  ts, 'wamid.demo.' || $1::int || '.' || g, 'text',
                  CASE WHEN k % 2 = 1 AND r >= 0.02 THEN ts + INTERVAL '3 seconds' END,
                  CASE WHEN k % 2 = 0 OR (r >= 0.02 AND k < per - 2) THEN ts + INTERVAL '5 minutes' END,
                  CASE WHEN k % 2 = 1 AND r < 0.02 THEN ts + INTERVAL '2 seconds' END,
                  CASE WHEN k % 2 = 1 AND r < 0.02 THEN 131026 END,
                  CASE WHEN k % 2 = 1 AND r < 0.02 THEN 'Message undeliverable' END
           FROM msg"#,
        b,
        spec.messages,
        account.0,
        spec.days
    )
    .execute(&mut *conn)
    .await?;
    // Fresh inbound messages in the last day: unread conversations with an open 24-hour window.
    sqlx::query!(
        r#"INSERT INTO messages (business_id, whatsapp_account_id, contact_id, direction, content, status, sent_at,
                                 wamid, kind)
           SELECT $1, $2::int, c.id, 'in',
                  (ARRAY['Hi, is anyone there?', 'Can I still order for this week?', 'interested in the tasting box!',
                         'Where is my order? It''s been 3 days'])[1 + c.id % 4],
                  'delivered', NOW() - make_interval(mins => (c.id * 37) % 1200), 'wamid.demo.' || $1::int || '.new.' || c.id,
                  'text'
           FROM contacts c WHERE c.business_id = $1 AND c.id % 7 = 0"#,
        b,
        account.0
    )
    .execute(&mut *conn)
    .await?;
    if let Some(deferred) = deferred_messages {
        deferred.restore(&mut *conn).await?;
    }
    // The planner has no statistics for rows inserted in this transaction; without them the joins
    // below fall into nested loops over a million messages.
    sqlx::query!("ANALYZE contacts, messages").execute(&mut *conn).await?;
    // The inbox state kept on each contact, derived once from the generated messages in a single pass.
    sqlx::query!(
        r#"UPDATE contacts c
           SET last_message_id = a.last_id, last_message_at = a.last_at,
               last_inbound_at = a.last_in, last_active = a.last_in, profile_name_at = a.last_in,
               unread_count = a.unread
           FROM (SELECT contact_id,
                        (array_agg(id ORDER BY sent_at DESC, id DESC))[1] AS last_id,
                        max(sent_at) AS last_at,
                        max(sent_at) FILTER (WHERE direction = 'in') AS last_in,
                        count(*) FILTER (WHERE direction = 'in' AND status = 'delivered')::int AS unread
                 FROM messages WHERE business_id = $1 GROUP BY contact_id) a
           WHERE c.business_id = $1 AND c.id = a.contact_id"#,
        b
    )
    .execute(&mut *conn)
    .await?;
    let (ana, ben) = (agents.first().copied(), agents.get(1).copied());
    sqlx::query!(
        r#"UPDATE contacts SET assigned_user_id = CASE WHEN id % 3 = 0 THEN $2::int WHEN id % 3 = 1 THEN $3::int END
           WHERE business_id = $1 AND stage IN ('Engaged', 'Interested')"#,
        b,
        ana,
        ben
    )
    .execute(&mut *conn)
    .await?;
    let deferred_usage =
        if bulk_load { Some(bulk::defer_indexes_and_keys(&mut *conn, "usage_logs").await?) } else { None };
    // One conversation window per contact and day with inbound traffic, priced as configured by default.
    sqlx::query!(
        r#"INSERT INTO usage_logs (business_id, conversation_id, cost, contact_id, timestamp)
           SELECT $1, 'demo-' || contact_id::text || '-' || to_char(date_trunc('day', sent_at), 'YYYYMMDD'), $2, contact_id,
                  min(sent_at)
           FROM messages WHERE business_id = $1 AND direction = 'in'
           GROUP BY contact_id, date_trunc('day', sent_at)"#,
        b,
        Decimal::new(5, 2)
    )
    .execute(&mut *conn)
    .await?;
    if let Some(deferred) = deferred_usage {
        deferred.restore(&mut *conn).await?;
    }
    sqlx::query!(
        r#"INSERT INTO pipeline_history (business_id, contact_id, from_stage, to_stage, changed_at)
           SELECT $1, c.id, p.from_stage::pipeline_stage, p.to_stage::pipeline_stage,
                  c.created_at + (NOW() - c.created_at) * p.step / 4.0
           FROM contacts c
           JOIN (VALUES ('Engaged', 'New', 'Engaged', 1),
                        ('Interested', 'New', 'Engaged', 1), ('Interested', 'Engaged', 'Interested', 2),
                        ('Paid', 'New', 'Engaged', 1), ('Paid', 'Engaged', 'Interested', 2), ('Paid', 'Interested', 'Paid', 3),
                        ('Lost', 'New', 'Engaged', 1), ('Lost', 'Engaged', 'Lost', 2)) AS p(stage, from_stage, to_stage, step)
             ON c.stage = p.stage::pipeline_stage
           WHERE c.business_id = $1
           -- The ids follow the moves' order, as real moves get them: without it the join's output order
           -- numbered a contact's later move before its earlier one.
           ORDER BY c.id, p.step"#,
        b
    )
    .execute(&mut *conn)
    .await?;
    let template = sqlx::query_scalar!(
        r#"WITH t AS (
               INSERT INTO message_templates (business_id, name, content, status)
               VALUES ($1, 'order_update', 'Hi {{1}}, your order {{2}} is on its way!', 'approved'),
                      ($1, 'spring_sale', 'Hi {{1}}! Spring sale: 20% off all single origins this week.', 'approved'),
                      ($1, 'feedback_request', 'Hi {{1}}, how did you like your last coffee?', 'pending')
               RETURNING id, name
           )
           SELECT id FROM t WHERE name = 'spring_sale'"#,
        b
    )
    .fetch_one(&mut *conn)
    .await?;
    let campaign = sqlx::query_scalar!(
        r#"INSERT INTO campaigns (business_id, template_id, name, scheduled_at, status)
           VALUES ($1, $2, 'Spring sale', NOW() - INTERVAL '10 days', 'completed') RETURNING id"#,
        b,
        template
    )
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query!(
        r#"INSERT INTO campaign_logs (campaign_id, contact_id, delivered, replied, sent_at)
           SELECT $2, c.id, c.id % 10 <> 0, c.id % 4 = 0, NOW() - INTERVAL '10 days'
           FROM contacts c JOIN contact_tags t ON t.business_id = c.business_id AND t.contact_id = c.id
           WHERE c.business_id = $1 AND t.tag = 'newsletter'"#,
        b,
        campaign
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A line per dashboard, for `wacrm demo` when not on a terminal.
#[derive(Debug, Clone, Serialize)]
pub struct DashboardSummary {
    pub dashboard: &'static str,
    pub summary: String,
}

/// What each of the eight dashboards would show for the tenant, in the seed's order.
pub async fn summary(pool: &PgPool, scope: &Scope) -> Result<Vec<DashboardSummary>> {
    let b = scope.business().0;
    let r = sqlx::query!(
        r#"SELECT
             (SELECT count(*) FROM contacts WHERE business_id = $1 AND last_message_at IS NOT NULL) AS "conversations!",
             (SELECT count(*) FROM contacts WHERE business_id = $1 AND unread_count > 0) AS "unread!",
             (SELECT count(*) FROM messages WHERE business_id = $1) AS "messages!",
             (SELECT count(*) FROM contacts WHERE business_id = $1) AS "contacts!",
             (SELECT count(DISTINCT lower(tag)) FROM contact_tags WHERE business_id = $1) AS "tags!",
             (SELECT count(*) FROM contacts WHERE business_id = $1 AND opted_out_at IS NOT NULL) AS "opted_out!",
             (SELECT string_agg(stage::text || ' ' || n, ', ' ORDER BY stage)
                FROM (SELECT stage, count(*) AS n FROM contacts WHERE business_id = $1 GROUP BY stage) s) AS stages,
             (SELECT count(*) FROM pipeline_history WHERE business_id = $1) AS "moves!",
             (SELECT count(*) FROM automation_rules WHERE business_id = $1) AS "rules!",
             (SELECT count(*) FROM campaigns WHERE business_id = $1) AS "campaigns!",
             (SELECT count(*) FILTER (WHERE l.delivered) FROM campaign_logs l JOIN campaigns c ON c.id = l.campaign_id
               WHERE c.business_id = $1) AS "delivered!",
             (SELECT count(*) FILTER (WHERE l.replied) FROM campaign_logs l JOIN campaigns c ON c.id = l.campaign_id
               WHERE c.business_id = $1) AS "replied!",
             (SELECT count(*) FROM message_templates WHERE business_id = $1) AS "templates!",
             (SELECT count(*) FROM message_templates WHERE business_id = $1 AND status = 'approved') AS "approved!",
             (SELECT count(*) FROM contacts WHERE business_id = $1 AND created_at >= NOW() - INTERVAL '7 days') AS "new_leads!",
             (SELECT count(DISTINCT conversation_id) FROM usage_logs
               WHERE business_id = $1 AND timestamp >= date_trunc('month', NOW())) AS "month_conversations!",
             (SELECT p.name || ' (' || p.conversation_limit || ' conversations/month)' FROM subscriptions s
               JOIN plans p ON p.id = s.plan_id WHERE s.business_id = $1 AND s.status = 'active') AS plan"#,
        b
    )
    .fetch_one(pool)
    .await?;
    let line = |dashboard, summary: String| DashboardSummary { dashboard, summary };
    Ok(vec![
        line("1 Inbox", format!("{} conversations, {} unread, {} messages", r.conversations, r.unread, r.messages)),
        line("2 Contacts", format!("{} contacts, {} tags, {} opted out", r.contacts, r.tags, r.opted_out)),
        line("3 Pipeline", format!("{}; {} stage moves", r.stages.unwrap_or_default(), r.moves)),
        line("4 Automation", format!("{} rules", r.rules)),
        line("5 Broadcast", format!("{} campaigns, {} delivered, {} replied", r.campaigns, r.delivered, r.replied)),
        line("6 Templates", format!("{} templates, {} approved", r.templates, r.approved)),
        line("7 Analytics", format!("{} new leads in 7 days", r.new_leads)),
        line(
            "8 Billing",
            format!(
                "plan {}; {} conversations this month",
                r.plan.unwrap_or_else(|| "none".into()),
                r.month_conversations
            ),
        ),
    ])
}
