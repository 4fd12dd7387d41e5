//! The engine (seed Automation "master function": fetch matching rules, evaluate conditions, execute
//! actions, schedule delayed jobs), as the durable consumer `automation` of the event stream.
//!
//! For each event, the business's enabled rules for its trigger run by priority, and a match of a
//! stop-processing rule ends the list (wave2-anchors §A.1: Chatwoot fires every match in no order).
//! A run is claimed by its unique (rule, event) row in the consumer's transaction, with one row per
//! action: stage, tag and assignment changes happen right there (each in a savepoint, so one failure
//! does not undo the others), while a send is only claimed (`pending`) and goes out after the commit,
//! with the action's `client_ref` as its idempotency key, so a crash and retry never sends twice
//! (§A.2's P1). The loop guard reads the event's cause: a rule never reacts to its own effects, and a
//! chain stops at [`MAX_DEPTH`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use graphile_worker::{IntoTaskHandlerResult, TaskHandler, WorkerContext};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use sqlx::{Connection, PgConnection, PgPool};

use super::actions::Action;
use super::conditions::{Condition, Facts};
use super::cron::Cron;
use super::delays;
use super::rules::{MAX_DEPTH, RuleSpec, Trigger};
use super::schedule;
use super::{claimed, deferred};
use crate::auth::Scope;
use crate::config::{Overrides, Settings};
use crate::contacts::{self, MarketingChoice};
use crate::error::{Error, Result};
use crate::events::{self, Cause, Consumer, Event, Recorded};
use crate::inbox::conversations;
use crate::inbox::send::{SERVICE_WINDOW_HOURS, Sender};
use crate::jobs::{self, Recurring};
use crate::notifications;
use crate::pipeline::{self, MoveOutcome, MoveSource};
use crate::types::{BusinessId, ContactId, MessageId, Stage, UserId};

/// Waits and schedules due more than this long ago are dropped, not fired (bounds the replay after
/// downtime), unless the settings say otherwise.
pub const DEFAULT_MAX_LATE_MINUTES: i64 = 3 * 24 * 60;

/// How the engine runs, from the settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// A wait or a schedule later than this is dropped with a log line.
    pub max_late: Duration,
    /// The key `notify` webhooks are signed with; unsigned without one.
    pub webhook_secret: Option<SecretString>,
}

impl Default for Options {
    fn default() -> Options {
        Options { max_late: Duration::minutes(DEFAULT_MAX_LATE_MINUTES), webhook_secret: None }
    }
}

impl Options {
    pub fn from_settings(settings: &Settings) -> Options {
        Options {
            max_late: Duration::minutes(
                settings.automation_max_late_minutes.unwrap_or(DEFAULT_MAX_LATE_MINUTES).max(1),
            ),
            webhook_secret: settings.automation_webhook_secret.clone(),
        }
    }
}

/// An enabled rule, compiled.
#[derive(Debug, Clone)]
pub struct Active {
    pub id: i32,
    pub name: String,
    pub trigger: Trigger,
    pub stop_processing: bool,
    pub contact_limit_hours: i32,
    pub delay_minutes: i32,
    pub condition: Condition,
    pub actions: Vec<Action>,
    pub cron: Option<Cron>,
}

impl Active {
    /// Compiles a rule as written; `None` (with a warning) for one stored around the checks.
    pub fn compile(id: i32, spec: &RuleSpec) -> Option<Active> {
        match spec.compile() {
            Ok(c) => Some(Active {
                id,
                name: spec.name.clone(),
                trigger: c.trigger,
                stop_processing: spec.stop_processing,
                contact_limit_hours: spec.contact_limit_hours,
                delay_minutes: spec.delay_minutes,
                condition: c.condition,
                actions: c.actions,
                cron: c.cron,
            }),
            Err(problem) => {
                tracing::warn!(rule = id, %problem, "automation rule does not compile; it is skipped");
                None
            }
        }
    }
}

/// Which rules fire for an event, in order: `(index, None)` fires, `(index, Some(reason))` matched
/// but a guard held it back. Rules whose conditions do not hold are left out.
pub fn decide(rules: &[Active], trigger: Trigger, cause: &Cause, facts: &Facts) -> Vec<(usize, Option<String>)> {
    let mut out = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        if rule.trigger != trigger || !rule.condition.matches(facts) {
            continue;
        }
        if cause.rule_id == Some(rule.id) {
            out.push((i, Some("loop guard: the event is this rule's own effect".into())));
            continue;
        }
        if cause.depth >= MAX_DEPTH {
            out.push((
                i,
                Some(format!("loop guard: {} automated steps led here (the limit is {MAX_DEPTH})", cause.depth)),
            ));
            continue;
        }
        out.push((i, None));
        if rule.stop_processing {
            break;
        }
    }
    out
}

/// The durable consumer `automation`, with each business's compiled rules cached until they change.
#[derive(Default)]
pub struct Engine {
    cache: HashMap<BusinessId, (Stamp, Arc<Vec<Active>>)>,
    /// Businesses whose cached rules were checked in the batch being consumed: a batch checks each
    /// business once, not once per event, so a rule changed meanwhile applies from the next batch.
    checked: HashSet<BusinessId>,
}

/// What identifies a business's rule set: a change to any rule moves it.
type Stamp = (i64, Option<DateTime<Utc>>, i64);

impl Engine {
    pub(super) async fn rules(&mut self, conn: &mut PgConnection, business: BusinessId) -> Result<Arc<Vec<Active>>> {
        let row = sqlx::query!(
            r#"SELECT count(*) AS "n!", max(updated_at) AS updated, coalesce(sum(id), 0)::bigint AS "ids!"
               FROM automation_rules WHERE business_id = $1"#,
            business.0
        )
        .fetch_one(&mut *conn)
        .await?;
        let stamp = (row.n, row.updated, row.ids);
        if let Some((cached, rules)) = self.cache.get(&business)
            && *cached == stamp
        {
            return Ok(rules.clone());
        }
        let rules: Vec<Active> = super::load_rules(conn, business)
            .await?
            .iter()
            .filter(|r| r.enabled)
            .filter_map(|r| Active::compile(r.id, &r.spec()))
            .collect();
        let rules = Arc::new(rules);
        self.cache.insert(business, (stamp, rules.clone()));
        Ok(rules)
    }

    /// The business's rules, checked against their stamp once per batch (between [`Consumer::begin`]s).
    pub(super) async fn batch_rules(
        &mut self,
        conn: &mut PgConnection,
        business: BusinessId,
    ) -> Result<Arc<Vec<Active>>> {
        if self.checked.contains(&business)
            && let Some((_, rules)) = self.cache.get(&business)
        {
            return Ok(rules.clone());
        }
        let rules = self.rules(conn, business).await?;
        self.checked.insert(business);
        Ok(rules)
    }
}

impl Consumer for Engine {
    fn name(&self) -> &str {
        "automation"
    }

    fn begin(&mut self) {
        self.checked.clear();
    }

    async fn handle(&mut self, conn: &mut PgConnection, recorded: &Recorded) -> Result<()> {
        let business = recorded.business_id;
        let Some(contact) = recorded.contact_id else { return Ok(()) };
        let kind = recorded.kind.as_str();
        match kind {
            "message_received" => {
                delays::end_waits(conn, business, contact, Some(kind), recorded.id, "the customer replied").await?
            }
            "message_sent" => {
                delays::end_waits(conn, business, contact, Some(kind), recorded.id, "we answered").await?
            }
            "contact_deleted" => {
                delays::end_waits(conn, business, contact, None, i64::MAX, "the contact was deleted").await?
            }
            _ => {}
        }
        let triggers: Vec<Trigger> = Trigger::ALL.into_iter().filter(|t| t.event_kind() == Some(kind)).collect();
        if triggers.is_empty() {
            return Ok(());
        }
        let rules = self.batch_rules(conn, business).await?;
        if !rules.iter().any(|r| triggers.contains(&r.trigger)) {
            return Ok(());
        }
        let Some(event) = recorded.event() else { return Ok(()) };
        let Some(facts) = facts(conn, business, contact, Some(&event)).await? else { return Ok(()) };
        let cause = recorded.cause();
        let scope = Scope::system(business);
        for trigger in triggers {
            for (i, guard) in decide(&rules, trigger, &cause, &facts) {
                let rule = &rules[i];
                match guard {
                    Some(reason) => log_refusal(conn, business, rule.id, recorded.id, contact, &cause, &reason).await?,
                    None if rule.delay_minutes > 0 => delays::arm(conn, business, rule, recorded.id, contact).await?,
                    None => fire(conn, &scope, rule, recorded.id, contact, &cause, &facts).await?,
                }
            }
        }
        Ok(())
    }
}

/// The contact as conditions see it, with the event's own facts; `None` when the contact is gone.
pub(super) async fn facts(
    conn: &mut PgConnection,
    business: BusinessId,
    contact: ContactId,
    event: Option<&Event>,
) -> Result<Option<Facts>> {
    let Some((_, mut facts)) = contacts_facts(conn, business, Some(&[contact.0])).await?.pop() else {
        return Ok(None);
    };
    match event {
        Some(Event::MessageReceived { text, kind, message_id, .. }) => {
            facts = facts.with_text(text);
            if kind == "interactive" || kind == "button" {
                facts.reply_id = reply_id(conn, business, *message_id).await?;
            }
        }
        Some(Event::MessageReceivedAfterCampaign { campaign_id, text, message_id }) => {
            facts = facts.with_text(text);
            facts.campaign = Some(*campaign_id);
            facts.reply_id = reply_id(conn, business, *message_id).await?;
        }
        Some(Event::StageChanged { from, to, .. }) => (facts.from, facts.to) = (Some(*from), Some(*to)),
        _ => {}
    }
    Ok(Some(facts))
}

/// The contacts (all of the business's, or those of `ids`) as conditions see them, without an event.
pub(super) async fn contacts_facts(
    conn: &mut PgConnection,
    business: BusinessId,
    ids: Option<&[i32]>,
) -> Result<Vec<(ContactId, Facts)>> {
    let rows = sqlx::query!(
        r#"SELECT c.id AS "id: ContactId", coalesce(c.stage, 'New') AS "stage!: Stage", c.last_inbound_at,
                  c.name, c.phone, c.source, c.username, c.opted_out_at IS NOT NULL AS "opted_out!",
                  c.assigned_user_id IS NOT NULL AS "assigned!", b.timezone,
                  array(SELECT lower(t.tag) FROM contact_tags t
                        WHERE t.business_id = $1 AND t.contact_id = c.id) AS "tags!"
           FROM contacts c JOIN businesses b ON b.id = c.business_id
           WHERE c.business_id = $1 AND ($2::int[] IS NULL OR c.id = ANY($2))
           ORDER BY c.id"#,
        business.0,
        ids
    )
    .fetch_all(&mut *conn)
    .await?;
    let now = Utc::now();
    Ok(rows
        .into_iter()
        .map(|row| {
            let window_open = row.last_inbound_at.is_some_and(|t| t + Duration::hours(SERVICE_WINDOW_HOURS) > now);
            let tz: Tz = row.timezone.parse().unwrap_or(Tz::UTC);
            let fields =
                [("name", row.name), ("phone", row.phone), ("source", Some(row.source)), ("username", row.username)]
                    .into_iter()
                    .filter_map(|(k, v)| v.filter(|v| !v.trim().is_empty()).map(|v| (k.to_string(), v)))
                    .collect();
            let facts = Facts {
                stage: Some(row.stage),
                tags: row.tags.into_iter().collect(),
                window_open,
                local: Some(now.with_timezone(&tz).naive_local()),
                fields,
                opted_out: row.opted_out,
                assigned: row.assigned,
                ..Facts::default()
            };
            (row.id, facts)
        })
        .collect())
}

/// The id of the button or list row a customer's interactive reply chose.
async fn reply_id(conn: &mut PgConnection, business: BusinessId, message: MessageId) -> Result<Option<String>> {
    Ok(sqlx::query_scalar!(
        r#"SELECT coalesce(payload #>> '{interactive,button_reply,id}', payload #>> '{interactive,list_reply,id}',
                           payload #>> '{button,payload}')
           FROM messages WHERE business_id = $1 AND id = $2"#,
        business.0,
        message.0
    )
    .fetch_optional(conn)
    .await?
    .flatten())
}

/// Records that a rule matched but a guard held it back (once per rule and event).
pub(super) async fn log_refusal(
    conn: &mut PgConnection,
    business: BusinessId,
    rule: i32,
    event: i64,
    contact: ContactId,
    cause: &Cause,
    reason: &str,
) -> Result<()> {
    sqlx::query!(
        "INSERT INTO automation_runs (business_id, rule_id, event_id, contact_id, matched, reason, cause)
         VALUES ($1, $2, $3, $4, false, $5, $6) ON CONFLICT (business_id, rule_id, event_id) DO NOTHING",
        business.0,
        rule,
        event,
        contact.0,
        reason,
        serde_json::to_value(cause).map_err(|e| Error::internal(e.to_string()))?
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Runs a matched rule once for an event: claims the run, then each action in order.
pub(super) async fn fire(
    conn: &mut PgConnection,
    scope: &Scope,
    rule: &Active,
    event: i64,
    contact: ContactId,
    trigger: &Cause,
    facts: &Facts,
) -> Result<()> {
    let started = Instant::now();
    let business = scope.business();
    let effect = Cause::automation(rule.id, trigger);
    let Some(run) = sqlx::query_scalar!(
        "INSERT INTO automation_runs (business_id, rule_id, event_id, contact_id, matched, cause)
         VALUES ($1, $2, $3, $4, true, $5) ON CONFLICT (business_id, rule_id, event_id) DO NOTHING RETURNING id",
        business.0,
        rule.id,
        event,
        contact.0,
        serde_json::to_value(effect).map_err(|e| Error::internal(e.to_string()))?
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(());
    };
    for (position, action) in rule.actions.iter().enumerate() {
        let (status, detail) = if action.is_deferred() {
            claim(conn, business, rule, contact, action, facts).await?
        } else {
            let key = format!("{run}:{position}");
            apply(conn, scope, rule.id, contact, action, effect, &key).await?
        };
        sqlx::query!(
            "INSERT INTO automation_actions (business_id, run_id, rule_id, contact_id, position, kind, spec, status, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            business.0,
            run,
            rule.id,
            contact.0,
            position as i16,
            action.kind(),
            serde_json::to_value(action).map_err(|e| Error::internal(e.to_string()))?,
            status,
            detail
        )
        .execute(&mut *conn)
        .await?;
    }
    let latency = i32::try_from(started.elapsed().as_micros()).unwrap_or(i32::MAX);
    sqlx::query!(
        "UPDATE automation_runs SET latency_us = $3 WHERE business_id = $1 AND id = $2",
        business.0,
        run,
        latency
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether a deferred action may be claimed: text only inside the window, and the rule's per-contact
/// limit on sends.
async fn claim(
    conn: &mut PgConnection,
    business: BusinessId,
    rule: &Active,
    contact: ContactId,
    action: &Action,
    facts: &Facts,
) -> Result<(&'static str, Option<String>)> {
    if matches!(action, Action::SendText { .. }) && !facts.window_open {
        return Ok(("skipped", Some("the 24-hour customer-service window is closed; text is not allowed".into())));
    }
    if action.is_send() && rule.contact_limit_hours > 0 {
        let last = sqlx::query_scalar!(
            "SELECT max(created_at) FROM automation_actions
             WHERE business_id = $1 AND rule_id = $2 AND contact_id = $3 AND kind IN ('send_template', 'send_text')
               AND status IN ('pending', 'sending', 'done') AND created_at > now() - make_interval(hours => $4)",
            business.0,
            rule.id,
            contact.0,
            rule.contact_limit_hours
        )
        .fetch_one(&mut *conn)
        .await?;
        if let Some(last) = last {
            return Ok((
                "skipped",
                Some(format!(
                    "per-contact limit: this rule already sent to the contact at {} (at most once per {} h)",
                    last.format("%Y-%m-%d %H:%M UTC"),
                    rule.contact_limit_hours
                )),
            ));
        }
    }
    Ok(("pending", None))
}

/// Applies a stage, tag, assignment, opt-out or notification action in a savepoint: a failure is
/// recorded and undone alone. `key` is unique to the action (its run and position).
async fn apply(
    conn: &mut PgConnection,
    scope: &Scope,
    rule: i32,
    contact: ContactId,
    action: &Action,
    cause: Cause,
    key: &str,
) -> Result<(&'static str, Option<String>)> {
    let mut savepoint = conn.begin().await?;
    let outcome = match action {
        Action::MoveStage { stage } => {
            pipeline::move_stage_as_on(&mut savepoint, scope, contact, *stage, MoveSource::Automation, cause).await.map(
                |m| match m.outcome {
                    MoveOutcome::Moved => ("done", format!("{} → {}", m.from, m.to)),
                    MoveOutcome::Unchanged => ("skipped", format!("already in {}", m.to)),
                    MoveOutcome::Blocked => ("skipped", format!("the business blocks {} → {}", m.from, m.to)),
                },
            )
        }
        Action::AddTag { tags } => {
            contacts::add_tags_as_on(&mut savepoint, scope, contact, tags, cause).await.map(|added| {
                if added.is_empty() { ("skipped", "already tagged".into()) } else { ("done", added.join(", ")) }
            })
        }
        Action::RemoveTag { tags } => contacts::remove_tags_as_on(&mut savepoint, scope, contact, tags, cause)
            .await
            .map(|n| if n == 0 { ("skipped", "no such tag".into()) } else { ("done", format!("{n} removed")) }),
        Action::Assign { user } => conversations::assign_as_on(&mut savepoint, scope, contact, *user, cause)
            .await
            .map(|()| ("done", format!("user {user}"))),
        Action::AssignRoundRobin {} => match next_agent(&mut savepoint, scope.business(), rule).await {
            Ok(Some(user)) => conversations::assign_as_on(&mut savepoint, scope, contact, user, cause)
                .await
                .map(|()| ("done", format!("user {user} (round robin)"))),
            Ok(None) => Err(Error::invalid("the business has no agents to assign to", "add an agent user")),
            Err(e) => Err(e),
        },
        Action::OptOut {} => {
            let choice = MarketingChoice {
                stop: true,
                source: "automation",
                detail: Some(format!("rule {rule}")),
                at: Utc::now(),
                cause,
            };
            contacts::apply_marketing_choice_on(&mut savepoint, scope.business(), contact, &choice).await.map(|out| {
                match out {
                    Some(true) => ("done", "opted out of marketing".into()),
                    _ => ("skipped", "no such contact".into()),
                }
            })
        }
        Action::Notify { text, .. } => {
            let notification = deferred::notification(Some(contact), key, text);
            notifications::notify_on(&mut savepoint, scope.business(), &notification, cause).await.map(|id| {
                (
                    "done",
                    format!("notification {}", id.map(|i| i.to_string()).unwrap_or_else(|| "already written".into())),
                )
            })
        }
        Action::SendTemplate { .. } | Action::SendText { .. } | Action::CreateCampaign { .. } => {
            Err(Error::internal("a deferred action is claimed, not applied"))
        }
    };
    match outcome {
        Ok((status, detail)) => {
            savepoint.commit().await?;
            Ok((status, Some(detail)))
        }
        Err(e) => {
            savepoint.rollback().await?;
            Ok(("failed", Some(e.with_hint())))
        }
    }
}

/// The business's next agent after the one `rule` assigned last (by id, wrapping round), remembered.
async fn next_agent(conn: &mut PgConnection, business: BusinessId, rule: i32) -> Result<Option<UserId>> {
    let next = sqlx::query_scalar!(
        r#"SELECT u.id FROM users u
           LEFT JOIN automation_assign_cursor c ON c.business_id = u.business_id AND c.rule_id = $2
           WHERE u.business_id = $1 AND u.role = 'agent'
           ORDER BY u.id <= coalesce(c.user_id, 0), u.id
           LIMIT 1"#,
        business.0,
        rule
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(next) = next else { return Ok(None) };
    sqlx::query!(
        "INSERT INTO automation_assign_cursor (business_id, rule_id, user_id) VALUES ($1, $2, $3)
         ON CONFLICT (business_id, rule_id) DO UPDATE SET user_id = excluded.user_id",
        business.0,
        rule,
        next
    )
    .execute(conn)
    .await?;
    Ok(Some(UserId(next)))
}

/// What one pass of the engine did.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Tick {
    pub events: usize,
    pub delays: usize,
    pub schedules: usize,
    /// Deferred actions carried out (sends, campaigns, webhooks).
    pub sent: usize,
    pub failed: usize,
}

/// One pass: the new events, the waits and schedules that fell due, then the claimed sends. The job
/// runs it; so does `wacrm automation run-once`.
pub async fn run_once(pool: &PgPool, sender: &Sender, options: &Options) -> Result<Tick> {
    let mut engine = Engine::default();
    let mut tick = Tick::default();
    loop {
        // A reactor consuming now takes these events next: the tick does not queue behind it.
        let n = events::consume_unless_busy(pool, &mut engine, 500).await?;
        tick.events += n;
        if n == 0 {
            break;
        }
    }
    tick.delays = delays::fire_due(pool, &mut engine, options).await?;
    tick.schedules = schedule::fire_schedules(pool, &mut engine, options).await?;
    (tick.sent, tick.failed) = claimed::run_claimed(pool, sender, options).await?;
    Ok(tick)
}

/// The engine's job: a pass every minute, and at each minute a delay falls due.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AutomationTick {}

impl Recurring for AutomationTick {
    const KEY: &'static str = "automation:tick";
    const EVERY_MINUTES: u32 = 1;
}

impl TaskHandler for AutomationTick {
    const IDENTIFIER: &'static str = "automation.tick";

    async fn run(self, ctx: WorkerContext) -> impl IntoTaskHandlerResult {
        let pass = async {
            let settings = Settings::load(&Overrides::default())?;
            run_once(ctx.pg_pool(), &Sender::from_settings(&settings), &Options::from_settings(&settings)).await
        };
        pass.await.map(|_| ()).map_err(|e| jobs::failure(Self::IDENTIFIER, &e))
    }
}
