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

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use graphile_worker::{IntoTaskHandlerResult, TaskHandler, WorkerContext};
use serde::{Deserialize, Serialize};
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

use super::actions::Action;
use super::conditions::{Condition, Facts};
use super::rules::{MAX_DEPTH, RuleSpec, Trigger};
use super::template;
use crate::auth::{Area, Scope};
use crate::config::{Overrides, Settings};
use crate::contacts;
use crate::error::{Error, Result};
use crate::events::{self, Cause, Consumer, Event, Recorded};
use crate::inbox::conversations;
use crate::inbox::send::{self, Compose, Origin, Outgoing, SERVICE_WINDOW_HOURS, Sender};
use crate::jobs::{self, Recurring, Schedule};
use crate::pipeline::{self, MoveOutcome, MoveSource};
use crate::types::{BusinessId, ContactId, Stage};

/// Delays due more than this long ago are dropped, not fired (bounds the replay after downtime).
const EXPIRE_AFTER_DAYS: i64 = 3;
/// A send claimed this long ago and still `sending` was cut short by a crash: it is retried, and its
/// idempotency key makes the retry a no-op if the first attempt reached the reservation.
const STALE_SEND_MINUTES: i64 = 5;

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
}

/// What identifies a business's rule set: a change to any rule moves it.
type Stamp = (i64, Option<DateTime<Utc>>, i64);

impl Engine {
    async fn rules(&mut self, conn: &mut PgConnection, business: BusinessId) -> Result<Arc<Vec<Active>>> {
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
}

impl Consumer for Engine {
    fn name(&self) -> &str {
        "automation"
    }

    async fn handle(&mut self, conn: &mut PgConnection, recorded: &Recorded) -> Result<()> {
        let business = recorded.business_id;
        let Some(contact) = recorded.contact_id else { return Ok(()) };
        match recorded.kind.as_str() {
            "message_received" => {
                cancel_contact(conn, business, contact, Some(recorded.id), "the customer replied").await?
            }
            "contact_deleted" => cancel_contact(conn, business, contact, None, "the contact was deleted").await?,
            _ => {}
        }
        let Some(trigger) = Trigger::ALL.into_iter().find(|t| t.as_str() == recorded.kind) else { return Ok(()) };
        let rules = self.rules(conn, business).await?;
        if !rules.iter().any(|r| r.trigger == trigger) {
            return Ok(());
        }
        let Some(event) = recorded.event() else { return Ok(()) };
        let Some(facts) = facts(conn, business, contact, &event).await? else { return Ok(()) };
        let cause = recorded.cause();
        let scope = Scope::system(business);
        for (i, guard) in decide(&rules, trigger, &cause, &facts) {
            let rule = &rules[i];
            match guard {
                Some(reason) => log_refusal(conn, business, rule.id, recorded.id, contact, &cause, &reason).await?,
                None if rule.delay_minutes > 0 => arm(conn, business, rule, recorded.id, contact).await?,
                None => fire(conn, &scope, rule, recorded.id, contact, &cause, &facts).await?,
            }
        }
        Ok(())
    }
}

/// The contact as conditions see it, with the event's own facts; `None` when the contact is gone.
async fn facts(
    conn: &mut PgConnection,
    business: BusinessId,
    contact: ContactId,
    event: &Event,
) -> Result<Option<Facts>> {
    let Some(row) = sqlx::query!(
        r#"SELECT coalesce(c.stage, 'New') AS "stage!: Stage", c.last_inbound_at,
                  array(SELECT lower(t.tag) FROM contact_tags t
                        WHERE t.business_id = $1 AND t.contact_id = c.id) AS "tags!"
           FROM contacts c WHERE c.business_id = $1 AND c.id = $2"#,
        business.0,
        contact.0
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let window_open = row.last_inbound_at.is_some_and(|t| t + Duration::hours(SERVICE_WINDOW_HOURS) > Utc::now());
    let mut facts =
        Facts { stage: Some(row.stage), tags: row.tags.into_iter().collect(), window_open, ..Facts::default() };
    match event {
        Event::MessageReceived { text, .. } => facts = facts.with_text(text),
        Event::StageChanged { from, to, .. } => (facts.from, facts.to) = (Some(*from), Some(*to)),
        _ => {}
    }
    Ok(Some(facts))
}

/// Records that a rule matched but a guard held it back (once per rule and event).
async fn log_refusal(
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
async fn fire(
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
        let (status, detail) = if action.is_send() {
            claim_send(conn, business, rule, contact, action, facts).await?
        } else {
            apply(conn, scope, contact, action, effect).await?
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

/// Whether a send may be claimed: text only inside the window, and the rule's per-contact limit.
async fn claim_send(
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
    if rule.contact_limit_hours > 0 {
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

/// Applies a stage, tag, assignment or note action in a savepoint: a failure is recorded and undone
/// alone.
async fn apply(
    conn: &mut PgConnection,
    scope: &Scope,
    contact: ContactId,
    action: &Action,
    cause: Cause,
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
        Action::Notify { text } => Ok(("done", text.clone())),
        Action::SendTemplate { .. } | Action::SendText { .. } => Err(Error::internal("a send is claimed, not applied")),
    };
    match outcome {
        Ok((status, detail)) => {
            savepoint.commit().await?;
            Ok((status, Some(detail)))
        }
        Err(e) => {
            savepoint.rollback().await?;
            Ok(("failed", Some(described(&e))))
        }
    }
}

fn described(e: &Error) -> String {
    match e.hint() {
        Some(hint) => format!("{e} (hint: {hint})"),
        None => e.to_string(),
    }
}

/// Arms a delayed rule: one pending row per (rule, contact, episode) and a job at its minute.
async fn arm(
    conn: &mut PgConnection,
    business: BusinessId,
    rule: &Active,
    event: i64,
    contact: ContactId,
) -> Result<()> {
    let due = Utc::now() + Duration::minutes(i64::from(rule.delay_minutes));
    let armed = sqlx::query!(
        "INSERT INTO automation_pending (business_id, rule_id, contact_id, event_id, episode_key, due_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (business_id, rule_id, contact_id, episode_key) DO NOTHING",
        business.0,
        rule.id,
        contact.0,
        event,
        format!("event:{event}"),
        due
    )
    .execute(&mut *conn)
    .await?;
    if armed.rows_affected() > 0 {
        // One wake-up per minute, however many delays fall due in it.
        let schedule = Schedule {
            run_at: Some(due),
            key: Some(format!("automation:due:{}", due.timestamp() / 60)),
            ..Schedule::default()
        };
        jobs::enqueue_on(conn, &AutomationTick {}, &schedule).await?;
    }
    Ok(())
}

/// Cancels a contact's armed delays (those armed before event `before`, when given).
async fn cancel_contact(
    conn: &mut PgConnection,
    business: BusinessId,
    contact: ContactId,
    before: Option<i64>,
    reason: &str,
) -> Result<()> {
    sqlx::query!(
        "UPDATE automation_pending SET status = 'cancelled', reason = $4
         WHERE business_id = $1 AND contact_id = $2 AND status = 'pending' AND event_id < coalesce($3, 9223372036854775807)",
        business.0,
        contact.0,
        before,
        reason
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Cancels a rule's armed delays (it was disabled).
pub(super) async fn cancel_rule(conn: &mut PgConnection, business: BusinessId, rule: i32) -> Result<()> {
    sqlx::query!(
        "UPDATE automation_pending SET status = 'cancelled', reason = 'the rule was disabled'
         WHERE business_id = $1 AND rule_id = $2 AND status = 'pending'",
        business.0,
        rule
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Fires the delays that are due: each is claimed, its rule and conditions re-checked against the
/// contact as it is now, and run as if the triggering event had just happened.
async fn fire_due(pool: &PgPool, engine: &mut Engine) -> Result<usize> {
    let mut tx = pool.begin().await?;
    // Every business's due delays: the sweep is the one statement here not scoped to a business.
    let due = sqlx::query!(
        r#"UPDATE automation_pending p
           SET status = CASE WHEN p.due_at < now() - make_interval(days => $1) THEN 'expired' ELSE 'fired' END,
               reason = CASE WHEN p.due_at < now() - make_interval(days => $1) THEN $2 END
           WHERE p.id IN (SELECT id FROM automation_pending WHERE status = 'pending' AND due_at <= now()
                          ORDER BY due_at LIMIT 1000 FOR UPDATE SKIP LOCKED)
           RETURNING p.business_id AS "business_id: BusinessId", p.rule_id, p.contact_id AS "contact_id: ContactId",
                     p.event_id, p.status"#,
        EXPIRE_AFTER_DAYS as i32,
        format!("dropped: more than {EXPIRE_AFTER_DAYS} days late")
    )
    .fetch_all(&mut *tx)
    .await?;
    for row in &due {
        if row.status == "expired" {
            tracing::warn!(rule = row.rule_id, contact = %row.contact_id, "automation delay dropped: more than {EXPIRE_AFTER_DAYS} days late");
            continue;
        }
        let rules = engine.rules(&mut tx, row.business_id).await?;
        let Some(rule) = rules.iter().find(|r| r.id == row.rule_id) else { continue };
        let Some(recorded) = load_event(&mut tx, row.business_id, row.event_id).await? else { continue };
        let Some(event) = recorded.event() else { continue };
        let Some(facts) = facts(&mut tx, row.business_id, row.contact_id, &event).await? else { continue };
        let cause = recorded.cause();
        match decide(std::slice::from_ref(rule), rule.trigger, &cause, &facts).first() {
            Some((_, None)) => {
                fire(&mut tx, &Scope::system(row.business_id), rule, row.event_id, row.contact_id, &cause, &facts)
                    .await?
            }
            Some((_, Some(reason))) => {
                log_refusal(&mut tx, row.business_id, rule.id, row.event_id, row.contact_id, &cause, reason).await?
            }
            None => {
                let reason = "the conditions no longer held when the delay ended";
                log_refusal(&mut tx, row.business_id, rule.id, row.event_id, row.contact_id, &cause, reason).await?
            }
        }
    }
    tx.commit().await?;
    Ok(due.len())
}

async fn load_event(conn: &mut PgConnection, business: BusinessId, id: i64) -> Result<Option<Recorded>> {
    Ok(sqlx::query_as!(
        Recorded,
        r#"SELECT id, kind, business_id AS "business_id: BusinessId", contact_id AS "contact_id: ContactId",
                  payload, created_at
           FROM events WHERE business_id = $1 AND id = $2"#,
        business.0,
        id
    )
    .fetch_optional(conn)
    .await?)
}

/// Sends the claimed messages: each action row is marked `sending` before the call and carries its
/// own `client_ref`, so a send retried after a crash is refused before Meta is called.
async fn send_claimed(pool: &PgPool, sender: &Sender) -> Result<(usize, usize)> {
    // Every business's claimed sends: the one statement here not scoped to a business.
    let claimed = sqlx::query!(
        r#"UPDATE automation_actions a SET status = 'sending', updated_at = now()
           FROM automation_runs r
           WHERE a.id IN (SELECT id FROM automation_actions
                          WHERE status = 'pending'
                             OR (status = 'sending' AND updated_at < now() - make_interval(mins => $1))
                          ORDER BY id LIMIT 500 FOR UPDATE SKIP LOCKED)
             AND r.business_id = a.business_id AND r.id = a.run_id
           RETURNING a.id, a.business_id AS "business_id: BusinessId", a.contact_id AS "contact_id: ContactId",
                     a.spec, a.client_ref, r.cause"#,
        STALE_SEND_MINUTES as i32
    )
    .fetch_all(pool)
    .await?;
    let (mut sent, mut failed) = (0, 0);
    for row in claimed {
        let scope = Scope::system(row.business_id);
        let result = match (
            serde_json::from_value::<Action>(row.spec),
            serde_json::from_value::<Cause>(row.cause),
            row.contact_id,
        ) {
            (Ok(action), Ok(cause), Some(contact)) => {
                send_one(pool, &scope, sender, contact, &action, cause, row.client_ref).await
            }
            _ => Err(Error::internal("the claimed send's record is unreadable")),
        };
        let (status, detail) = match result {
            Ok(detail) => {
                sent += 1;
                ("done", detail)
            }
            Err(Error::Invalid { message, .. }) => ("skipped", message),
            Err(e) => {
                failed += 1;
                ("failed", described(&e))
            }
        };
        sqlx::query!(
            "UPDATE automation_actions SET status = $3, detail = $4, updated_at = now() WHERE business_id = $1 AND id = $2",
            row.business_id.0,
            row.id,
            status,
            detail
        )
        .execute(pool)
        .await?;
    }
    Ok((sent, failed))
}

async fn send_one(
    pool: &PgPool,
    scope: &Scope,
    sender: &Sender,
    contact: ContactId,
    action: &Action,
    cause: Cause,
    client_ref: Uuid,
) -> Result<String> {
    let compose = match action {
        Action::SendText { text } => Compose::Text { body: text.clone(), reply_to: None },
        Action::SendTemplate { template, params } => {
            let mut conn = pool.acquire().await?;
            template::compose(&mut conn, scope.business(), contact, template, params).await?
        }
        _ => return Err(Error::internal("not a send")),
    };
    let outgoing = Outgoing { contact, compose, account: None };
    let origin = Origin { cause: Some(cause), campaign: None, client_ref: Some(client_ref), pacer: None };
    match send::send_as(pool, scope, sender, &outgoing, &origin).await {
        Ok(message) => Ok(format!("message {} ({})", message.id, message.wamid)),
        // The key was reserved by an earlier attempt: that attempt's message is the one.
        Err(Error::Conflict { .. }) => Ok(format!("already sent as {client_ref}; not sent again")),
        Err(e) => Err(e),
    }
}

/// What one pass of the engine did.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Tick {
    pub events: usize,
    pub delays: usize,
    pub sent: usize,
    pub failed: usize,
}

/// One pass: the new events, the delays that fell due, then the claimed sends. The job runs it; so
/// does `wacrm automation run-once`.
pub async fn run_once(pool: &PgPool, sender: &Sender) -> Result<Tick> {
    let mut engine = Engine::default();
    let mut tick = Tick::default();
    loop {
        let n = events::consume(pool, &mut engine, 500).await?;
        tick.events += n;
        if n == 0 {
            break;
        }
    }
    tick.delays = fire_due(pool, &mut engine).await?;
    (tick.sent, tick.failed) = send_claimed(pool, sender).await?;
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
            run_once(ctx.pg_pool(), &Sender::from_settings(&settings)).await
        };
        pass.await.map(|_| ()).map_err(|e| jobs::failure(Self::IDENTIFIER, &e))
    }
}

/// What a dry run says one rule would do.
#[derive(Debug, Clone, Serialize)]
pub struct DryRun {
    pub rule_id: i32,
    pub rule: String,
    /// `None`: it would fire; else why a guard holds it back.
    pub held_back: Option<String>,
    pub delay_minutes: i32,
    pub actions: Vec<String>,
}

/// `wacrm automation test --message TEXT --contact ID`: which rules a customer's message would fire,
/// in order, and what each action would do. Nothing is written or sent.
pub async fn dry_run(pool: &PgPool, scope: &Scope, contact: ContactId, text: &str) -> Result<Vec<DryRun>> {
    scope.require(Area::Automation)?;
    let business = scope.business();
    let mut conn = pool.acquire().await?;
    let rules = Engine::default().rules(&mut conn, business).await?;
    let event = Event::MessageReceived {
        message_id: crate::types::MessageId(0),
        wamid: String::new(),
        account_id: crate::types::AccountId(0),
        kind: "text".into(),
        text: text.into(),
        context_wamid: None,
        sent_at: Utc::now(),
    };
    // The message itself would open the window.
    let mut facts = facts(&mut conn, business, contact, &event)
        .await?
        .ok_or_else(|| Error::not_found(format!("contact {contact}")))?;
    facts.window_open = true;
    Ok(decide(&rules, Trigger::MessageReceived, &Cause::customer(), &facts)
        .into_iter()
        .map(|(i, held_back)| {
            let rule = &rules[i];
            DryRun {
                rule_id: rule.id,
                rule: rule.name.clone(),
                held_back,
                delay_minutes: rule.delay_minutes,
                actions: rule.actions.iter().map(describe).collect(),
            }
        })
        .collect())
}

fn describe(action: &Action) -> String {
    match action {
        Action::SendTemplate { template, params } => format!("send template {template:?} with {params:?}"),
        Action::SendText { text } => format!("send text {text:?}"),
        Action::MoveStage { stage } => format!("move to {stage}"),
        Action::AddTag { tags } => format!("add tags {}", tags.join(", ")),
        Action::RemoveTag { tags } => format!("remove tags {}", tags.join(", ")),
        Action::Assign { user } => format!("assign to user {user}"),
        Action::Notify { text } => format!("notify: {text}"),
    }
}
