//! Messaging performance (seed Analytics 3): messages sent and received per period, response times
//! per reply and per agent, and conversations waiting for an answer now.
//!
//! A customer waits from the first of their messages after the business's last human reply until the
//! next human reply (SQL function `wacrm_waits`, migration 0037). Broadcast sends (they carry a
//! campaign) neither answer nor interrupt a wait; automation sends will be excluded the same way once
//! automation marks the messages it sends. The response time is the wait; the first response time is
//! the wait that opens a conversation (nothing from either side in the 24 hours before it). Waits are
//! counted in the range they began in, their replies looked for up to now. The figures come from a
//! per-day histogram of the stored waits (migration 0085).

use chrono::NaiveDate;
use serde::Serialize;
use sqlx::PgPool;

use crate::analytics::range::{Range, series};
use crate::analytics::read;
use crate::analytics::waits::{self, Group};
use crate::auth::{Area, Scope};
use crate::error::Result;
use crate::types::UserId;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MessagesPeriod {
    pub period: NaiveDate,
    pub received: i64,
    pub sent: i64,
}

/// Waits and their replies' counts and averages, in seconds: the one-screen summary's response figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ResponseAverages {
    /// Waits that began in the range and were answered by a person.
    pub replies: i64,
    /// Waits that began in the range and are still unanswered.
    pub unanswered: i64,
    pub average_seconds: Option<f64>,
    /// Of the replies, those answering a conversation's opening message.
    pub first_replies: i64,
    pub first_response_average_seconds: Option<f64>,
}

/// Waits and their replies, in seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ResponseTimes {
    #[serde(flatten)]
    pub averages: ResponseAverages,
    pub median_seconds: Option<f64>,
    pub first_response_median_seconds: Option<f64>,
}

/// One agent's replies; `user` is none for sends made without a logged-in user (the API, scripts).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentResponses {
    pub user: Option<UserId>,
    pub name: Option<String>,
    pub replies: i64,
    pub average_seconds: Option<f64>,
    pub median_seconds: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MessagesReport {
    pub range: Range,
    pub received: i64,
    pub sent: i64,
    pub periods: Vec<MessagesPeriod>,
    pub response: ResponseTimes,
    pub per_agent: Vec<AgentResponses>,
    /// Conversations whose latest message is the customer's, now.
    pub unanswered_now: i64,
}

/// The messages report without its periods, medians and agents: the one-screen summary's figures.
#[derive(Debug, Clone, Serialize)]
pub struct MessagesHeadline {
    pub received: i64,
    pub sent: i64,
    pub response: ResponseAverages,
    /// Conversations whose latest message is the customer's, now.
    pub unanswered_now: i64,
}

pub async fn report(pool: &PgPool, scope: &Scope, range: &Range) -> Result<MessagesReport> {
    scope.require(Area::Analytics)?;
    // Independent reads, each on its own connection of the pool.
    let (periods, (response, per_agent), unanswered_now) =
        tokio::try_join!(volume(pool, scope, range), response_times(pool, scope, range), unanswered_now(pool, scope))?;
    Ok(MessagesReport {
        range: *range,
        received: periods.iter().map(|p| p.received).sum(),
        sent: periods.iter().map(|p| p.sent).sum(),
        periods,
        response,
        per_agent,
        unanswered_now,
    })
}

pub async fn headline(pool: &PgPool, scope: &Scope, range: &Range) -> Result<MessagesHeadline> {
    scope.require(Area::Analytics)?;
    let ((received, sent), response, unanswered_now) = tokio::try_join!(
        totals(pool, scope, range),
        response_averages(pool, scope, range),
        unanswered_now(pool, scope)
    )?;
    Ok(MessagesHeadline { received, sent, response, unanswered_now })
}

/// Messages received and sent in the whole range, summed from the rollup in one statement.
async fn totals(pool: &PgPool, scope: &Scope, range: &Range) -> Result<(i64, i64)> {
    let row = read(
        sqlx::query!(
            r#"SELECT coalesce(sum(messages) FILTER (WHERE direction = 'in'), 0)::bigint AS "received!",
                      coalesce(sum(messages) FILTER (WHERE direction = 'out'), 0)::bigint AS "sent!"
               FROM analytics_message_counts WHERE business_id = $1 AND bucket >= $2 AND bucket < $3"#,
            scope.business().0,
            range.start,
            range.end
        )
        .fetch_one(pool),
    )
    .await?;
    Ok((row.received, row.sent))
}

/// Conversations waiting for an answer now, from a partial index holding only them (migration 0089).
async fn unanswered_now(pool: &PgPool, scope: &Scope) -> Result<i64> {
    read(
        sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!" FROM contacts
               WHERE business_id = $1 AND last_inbound_at IS NOT NULL AND last_inbound_at >= last_message_at"#,
            scope.business().0
        )
        .fetch_one(pool),
    )
    .await
}

/// Messages received and sent per period, from the rollup.
pub async fn volume(pool: &PgPool, scope: &Scope, range: &Range) -> Result<Vec<MessagesPeriod>> {
    scope.require(Area::Analytics)?;
    let rows = sqlx::query!(
        r#"SELECT bucket, direction::text = 'in' AS "inbound!", sum(messages)::bigint AS "n!"
           FROM analytics_message_counts
           WHERE business_id = $1 AND bucket >= $2 AND bucket < $3
           GROUP BY 1, 2"#,
        scope.business().0,
        range.start,
        range.end
    )
    .fetch_all(pool)
    .await?;
    Ok(series(
        range,
        rows.into_iter().map(|r| (r.bucket, (r.inbound, r.n))),
        |p: &mut MessagesPeriod, (inbound, n): (bool, i64)| {
            if inbound { p.received += n } else { p.sent += n }
        },
    )
    .into_iter()
    .map(|(period, p)| MessagesPeriod { period, ..p })
    .collect())
}

/// Response times of the waits that began in the range, overall, for conversations' first messages,
/// and per agent (most replies first).
pub async fn response_times(
    pool: &PgPool,
    scope: &Scope,
    range: &Range,
) -> Result<(ResponseTimes, Vec<AgentResponses>)> {
    scope.require(Area::Analytics)?;
    let (waits, figures) = waits::figures(pool, scope.business().0, range).await?;
    let group = |g: Group| figures.get(&g);
    let mut times =
        ResponseTimes { averages: ResponseAverages { unanswered: waits, ..Default::default() }, ..Default::default() };
    if let Some(all) = group(Group::All) {
        times.averages.replies = all.replies;
        times.averages.unanswered = waits - all.replies;
        times.averages.average_seconds = all.average_seconds;
        times.median_seconds = all.median_seconds;
    }
    if let Some(first) = group(Group::Opening) {
        times.averages.first_replies = first.replies;
        times.averages.first_response_average_seconds = first.average_seconds;
        times.first_response_median_seconds = first.median_seconds;
    }
    let agents: Vec<(i32, i64, Option<f64>, Option<f64>)> = figures
        .iter()
        .filter_map(|(g, f)| match *g {
            Group::Replier(id) => Some((id, f.replies, f.average_seconds, f.median_seconds)),
            _ => None,
        })
        .collect();
    let ids: Vec<i32> = agents.iter().map(|a| a.0).filter(|&id| id > 0).collect();
    let names =
        sqlx::query!("SELECT id, name FROM users WHERE business_id = $1 AND id = ANY($2)", scope.business().0, &ids)
            .fetch_all(pool)
            .await?;
    let mut per_agent: Vec<AgentResponses> = agents
        .into_iter()
        .map(|(id, replies, average_seconds, median_seconds)| AgentResponses {
            user: (id > 0).then_some(UserId(id)),
            name: names.iter().find(|n| n.id == id).map(|n| n.name.clone()),
            replies,
            average_seconds,
            median_seconds,
        })
        .collect();
    per_agent.sort_by(|a, b| b.replies.cmp(&a.replies).then(a.user.cmp(&b.user)));
    Ok((times, per_agent))
}

/// Counts and averages of the waits that began in the range, from their histogram alone.
pub async fn response_averages(pool: &PgPool, scope: &Scope, range: &Range) -> Result<ResponseAverages> {
    scope.require(Area::Analytics)?;
    let (waits, groups) = waits::histograms(pool, scope.business().0, range).await?;
    let (all, opening) = (groups.get(&Group::All), groups.get(&Group::Opening));
    let replies = all.map_or(0, |h| h.count());
    Ok(ResponseAverages {
        replies,
        unanswered: waits - replies,
        average_seconds: all.and_then(|h| h.average()),
        first_replies: opening.map_or(0, |h| h.count()),
        first_response_average_seconds: opening.and_then(|h| h.average()),
    })
}
