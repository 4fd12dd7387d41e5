//! Automation impact (seed Analytics 5 and "automation metrics"): per rule, its runs in the range, the
//! messages it sent and the replies they got, the stage moves it made, and the contacts that moved to
//! Paid after one of its actions.
//!
//! Read from the engine's own records: one `automation_runs` row per (rule, event), one
//! `automation_actions` row per action, its send's message found by the action's `client_ref` (the
//! send's idempotency key). Actions count in the range they were taken in. Runs and action counts,
//! and whether the sends' messages were delivered and answered, come from rollups per bucket and rule
//! that triggers keep (migrations 0096 and 0091, checked by `analytics verify`). Distinct contacts and
//! conversions do not add up through time: contacts come from the range's done actions (a covering
//! index), conversions from the converted ones, a flag each action stores (0097).

use serde::Serialize;
use sqlx::PgPool;

use crate::analytics::outcomes::{CONVERSION_WINDOW_DAYS, REPLY_WINDOW_HOURS};
use crate::analytics::range::Range;
use crate::analytics::{automation_counts, ratio, read};
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
    // Runs and action counts per rule from their rollup (migration 0096); the distinct contacts the done
    // actions touched are not additive, and are read from the range's done actions (covering index
    // automation_actions_analytics, 0091). GROUPING SETS: one row per rule and one (rule NULL) for the
    // business, whose distinct contacts are not the sum of the rules'. The five statements run
    // alongside one another.
    let counts = automation_counts::per_rule(pool, business, range);
    let contacts = read(
        sqlx::query!(
            r#"SELECT GROUPING(rule_id) = 1 AS "all!", rule_id AS "rule_id?", count(DISTINCT contact_id) AS "contacts!"
               FROM automation_actions
               WHERE business_id = $1 AND created_at >= $2 AND created_at < $3 AND status = 'done'
               GROUP BY GROUPING SETS ((rule_id), ())"#,
            business,
            range.start,
            range.end
        )
        .fetch_all(pool),
    );
    let conversions = conversions(pool, business, range);
    let outcomes = sends_per_rule(pool, business, range);
    let rules = read(
        sqlx::query!("SELECT id, name, enabled FROM automation_rules WHERE business_id = $1 ORDER BY id", business)
            .fetch_all(pool),
    );
    let (counts, contacts, conversions, outcomes, rules) =
        tokio::try_join!(counts, contacts, conversions, outcomes, rules)?;
    let converted = |all: bool, rule: Option<i32>| {
        conversions.iter().find(|c| c.all == all && c.rule_id == rule).map_or(0, |c| c.conversions)
    };
    let rules: Vec<RuleImpact> = rules
        .into_iter()
        .map(|rule| {
            let mut impact = RuleImpact { rule: rule.id, name: rule.name, enabled: rule.enabled, ..Default::default() };
            if let Some(c) = counts.iter().find(|c| c.rule_id == rule.id) {
                (impact.runs, impact.held_back) = (c.runs, c.held_back);
                (impact.messages_sent, impact.messages_not_sent, impact.stage_moves) = (c.sent, c.not_sent, c.moves);
            }
            if let Some(o) = outcomes.iter().find(|o| o.rule_id == rule.id) {
                (impact.delivered, impact.replied) = (o.delivered, o.replied);
            }
            if let Some(c) = contacts.iter().find(|c| !c.all && c.rule_id == Some(rule.id)) {
                impact.conversions = converted(false, Some(rule.id));
                impact.contacts = c.contacts;
                impact.conversion_rate = ratio(impact.conversions, c.contacts);
            }
            impact
        })
        .collect();
    let all = contacts.iter().find(|c| c.all);
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
    let (counts, conversions, outcomes) = tokio::try_join!(
        automation_counts::per_rule(pool, business, range),
        conversions(pool, business, range),
        sends_per_rule(pool, business, range)
    )?;
    Ok(AutomationTotals {
        runs: counts.iter().map(|c| c.runs).sum(),
        messages_sent: counts.iter().map(|c| c.sent).sum(),
        replied: outcomes.iter().map(|o| o.replied).sum(),
        stage_moves: counts.iter().map(|c| c.moves).sum(),
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
