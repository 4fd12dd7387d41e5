//! Automation impact (seed Analytics 5 and "automation metrics"): per rule, its runs in the range, the
//! messages it sent and the replies they got, the stage moves it made, and the contacts that moved to
//! Paid after one of its actions.
//!
//! Read from the engine's own records: one `automation_runs` row per (rule, event), one
//! `automation_actions` row per action, its send's message found by the action's `client_ref` (the
//! send's idempotency key). Actions count in the range they were taken in. Runs and actions are read
//! from covering indexes; whether their messages were delivered and answered comes from a rollup per
//! action bucket and rule that triggers keep (migration 0091, checked by `analytics verify`).

use serde::Serialize;
use sqlx::PgPool;

use crate::analytics::outcomes::{CONVERSION_WINDOW_DAYS, REPLY_WINDOW_HOURS};
use crate::analytics::range::Range;
use crate::analytics::{ratio, read};
use crate::auth::{Area, Scope};
use crate::error::Result;

/// One rule's work in the range.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RuleImpact {
    pub rule: i32,
    pub name: String,
    pub enabled: bool,
    /// Events the rule matched and acted on.
    pub runs: i64,
    /// Events the rule matched but a guard held it back on (a loop guard, a limit).
    pub held_back: i64,
    /// Send actions done (the message was handed to the send path).
    pub messages_sent: i64,
    /// Send actions that failed or were skipped (window closed, per-contact limit).
    pub messages_not_sent: i64,
    /// Of the messages sent, those delivered (or read).
    pub delivered: i64,
    /// Of the messages sent, those the customer answered within the reply window.
    pub replied: i64,
    /// Stage moves the rule made.
    pub stage_moves: i64,
    /// Distinct contacts that moved to Paid within the conversion window after one of the rule's done
    /// actions (a move to Paid by the rule itself included).
    pub conversions: i64,
    /// Distinct contacts the rule's done actions touched: the conversion rate's base.
    pub contacts: i64,
    /// conversions / contacts
    pub conversion_rate: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AutomationReport {
    pub range: Range,
    pub reply_window_hours: i32,
    pub conversion_window_days: i32,
    pub runs: i64,
    pub messages_sent: i64,
    pub replied: i64,
    pub stage_moves: i64,
    /// Distinct contacts converted after any rule's action (a contact two rules touched counts once).
    pub conversions: i64,
    pub contacts: i64,
    pub conversion_rate: Option<f64>,
    /// Every rule of the business (zeros when idle in the range), by id.
    pub rules: Vec<RuleImpact>,
}

pub async fn report(pool: &PgPool, scope: &Scope, range: &Range) -> Result<AutomationReport> {
    scope.require(Area::Analytics)?;
    let business = scope.business().0;
    // GROUPING SETS: one row per rule and one (rule NULL) for the business, whose distinct contacts are
    // not the sum of the rules'. The range's actions are read once (from automation_actions_analytics,
    // migration 0091, when the range holds a part of them); their messages' outcomes come from a rollup.
    // The five statements run alongside one another.
    let counts = read(
        sqlx::query!(
            r#"SELECT GROUPING(rule_id) = 1 AS "all!", rule_id AS "rule_id?",
                      count(*) FILTER (WHERE kind IN ('send_template', 'send_text') AND status = 'done') AS "sent!",
                      count(*) FILTER (WHERE kind IN ('send_template', 'send_text') AND status IN ('failed', 'skipped'))
                          AS "not_sent!",
                      count(*) FILTER (WHERE kind = 'move_stage' AND status = 'done') AS "moves!",
                      count(DISTINCT contact_id) FILTER (WHERE status = 'done') AS "contacts!"
               FROM automation_actions WHERE business_id = $1 AND created_at >= $2 AND created_at < $3
               GROUP BY GROUPING SETS ((rule_id), ())"#,
            business,
            range.start,
            range.end
        )
        .fetch_all(pool),
    );
    let conversions = conversions(pool, business, range);
    let outcomes = sends_per_rule(pool, business, range);
    let runs = runs(pool, business, range);
    let rules = read(
        sqlx::query!("SELECT id, name, enabled FROM automation_rules WHERE business_id = $1 ORDER BY id", business)
            .fetch_all(pool),
    );
    let (counts, conversions, outcomes, runs, rules) = tokio::try_join!(counts, conversions, outcomes, runs, rules)?;
    let converted = |all: bool, rule: Option<i32>| {
        conversions.iter().find(|c| c.all == all && c.rule_id == rule).map_or(0, |c| c.conversions)
    };
    let rules: Vec<RuleImpact> = rules
        .into_iter()
        .map(|rule| {
            let mut impact = RuleImpact { rule: rule.id, name: rule.name, enabled: rule.enabled, ..Default::default() };
            if let Some(r) = runs.iter().find(|r| r.rule_id == rule.id) {
                (impact.runs, impact.held_back) = (r.runs, r.held);
            }
            if let Some(o) = outcomes.iter().find(|o| o.rule_id == rule.id) {
                (impact.delivered, impact.replied) = (o.delivered, o.replied);
            }
            if let Some(c) = counts.iter().find(|c| !c.all && c.rule_id == Some(rule.id)) {
                impact.messages_sent = c.sent;
                impact.messages_not_sent = c.not_sent;
                impact.stage_moves = c.moves;
                impact.conversions = converted(false, Some(rule.id));
                impact.contacts = c.contacts;
                impact.conversion_rate = ratio(impact.conversions, c.contacts);
            }
            impact
        })
        .collect();
    let all = counts.iter().find(|c| c.all);
    let total = |f: fn(&RuleImpact) -> i64| rules.iter().map(f).sum::<i64>();
    let (conversions, contacts) = all.map_or((0, 0), |a| (converted(true, None), a.contacts));
    Ok(AutomationReport {
        range: *range,
        reply_window_hours: REPLY_WINDOW_HOURS,
        conversion_window_days: CONVERSION_WINDOW_DAYS,
        runs: total(|r| r.runs),
        messages_sent: total(|r| r.messages_sent),
        replied: total(|r| r.replied),
        stage_moves: total(|r| r.stage_moves),
        conversions,
        contacts,
        conversion_rate: ratio(conversions, contacts),
        rules,
    })
}

/// The business's automation over the range without the per-rule breakdown: the one-screen summary's
/// line. It leaves out the report's distinct contacts per rule (a sort of every action of the range),
/// which the summary does not show.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AutomationTotals {
    pub runs: i64,
    pub messages_sent: i64,
    pub replied: i64,
    pub stage_moves: i64,
    /// Distinct contacts converted after any rule's action.
    pub conversions: i64,
}

pub async fn totals(pool: &PgPool, scope: &Scope, range: &Range) -> Result<AutomationTotals> {
    scope.require(Area::Analytics)?;
    let business = scope.business().0;
    let actions = read(
        sqlx::query!(
            r#"SELECT count(*) FILTER (WHERE kind IN ('send_template', 'send_text') AND status = 'done') AS "sent!",
                      count(*) FILTER (WHERE kind = 'move_stage' AND status = 'done') AS "moves!"
               FROM automation_actions WHERE business_id = $1 AND created_at >= $2 AND created_at < $3"#,
            business,
            range.start,
            range.end
        )
        .fetch_one(pool),
    );
    let (actions, conversions, outcomes, runs) = tokio::try_join!(
        actions,
        conversions(pool, business, range),
        sends_per_rule(pool, business, range),
        runs(pool, business, range)
    )?;
    Ok(AutomationTotals {
        runs: runs.iter().map(|r| r.runs).sum(),
        messages_sent: actions.sent,
        replied: outcomes.iter().map(|o| o.replied).sum(),
        stage_moves: actions.moves,
        conversions: conversions.iter().find(|c| c.all).map_or(0, |c| c.conversions),
    })
}

/// Converted contacts of one rule (`all`: of every rule, each contact once).
struct Conversions {
    all: bool,
    rule_id: Option<i32>,
    conversions: i64,
}

/// Contacts moved to Paid within the window after one of the rule's done actions: the converted done
/// actions of the range, each action's conversion stored on it by triggers (migration 0097, checked by
/// `analytics verify`) and read through a partial index holding only converted done actions. GROUPING
/// SETS: one row per rule and one (rule NULL) for the business, whose distinct contacts are not the sum
/// of the rules'.
async fn conversions(pool: &PgPool, business: i32, range: &Range) -> Result<Vec<Conversions>> {
    Ok(sqlx::query_as!(
        Conversions,
        r#"SELECT GROUPING(rule_id) = 1 AS "all!", rule_id AS "rule_id?",
                  count(DISTINCT contact_id) AS "conversions!"
           FROM automation_actions
           WHERE business_id = $1 AND created_at >= $2 AND created_at < $3 AND status = 'done' AND converted
           GROUP BY GROUPING SETS ((rule_id), ())"#,
        business,
        range.start,
        range.end
    )
    .fetch_all(pool)
    .await?)
}

/// One rule's sends that were delivered and answered.
struct RuleSends {
    rule_id: i32,
    delivered: i64,
    replied: i64,
}

/// Delivered and answered sends per rule: the rollup (migration 0091) by the actions' buckets, with the
/// contacts marked dirty taken out at their stored reply times and put back at their live ones.
async fn sends_per_rule(pool: &PgPool, business: i32, range: &Range) -> Result<Vec<RuleSends>> {
    Ok(sqlx::query_as!(
        RuleSends,
        r#"WITH counted AS (
               SELECT rule_id, delivered, replied FROM analytics_automation_sends
               WHERE business_id = $1 AND bucket >= $2 AND bucket < $3
               UNION ALL
               SELECT a.rule_id, 0,
                      (coalesce(m.status IN ('sent', 'delivered', 'read'), false)
                       AND wacrm_reply_after($1, m.contact_id, m.sent_at, make_interval(hours => $4)) IS NOT NULL)::int
                      - (coalesce(m.status IN ('sent', 'delivered', 'read'), false) AND m.replied_at IS NOT NULL)::int
               FROM messages m
               JOIN automation_actions a ON a.business_id = $1 AND a.id = m.automation_action_id
                                         AND a.client_ref = m.client_ref AND a.kind IN ('send_template', 'send_text')
               WHERE m.business_id = $1 AND m.automation_action_id IS NOT NULL
                 AND m.contact_id IN (SELECT contact_id FROM analytics_dirty_contacts WHERE business_id = $1)
                 AND a.created_at >= $2 AND a.created_at < $3
           )
           SELECT rule_id AS "rule_id!", sum(delivered)::bigint AS "delivered!", sum(replied)::bigint AS "replied!"
           FROM counted GROUP BY rule_id"#,
        business,
        range.start,
        range.end,
        REPLY_WINDOW_HOURS
    )
    .fetch_all(pool)
    .await?)
}

/// One rule's runs in the range, and the matches a guard held back.
struct RuleRuns {
    rule_id: i32,
    runs: i64,
    held: i64,
}

async fn runs(pool: &PgPool, business: i32, range: &Range) -> Result<Vec<RuleRuns>> {
    Ok(sqlx::query_as!(
        RuleRuns,
        r#"SELECT rule_id, count(*) FILTER (WHERE matched) AS "runs!", count(*) FILTER (WHERE NOT matched) AS "held!"
           FROM automation_runs WHERE business_id = $1 AND created_at >= $2 AND created_at < $3
           GROUP BY rule_id"#,
        business,
        range.start,
        range.end
    )
    .fetch_all(pool)
    .await?)
}
