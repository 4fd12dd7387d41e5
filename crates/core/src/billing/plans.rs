//! Plans: what the installation sells. Managed by the installation's operator (they span every
//! business); a business only chooses among them.

use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use crate::error::{Error, Result};
use crate::types::{PlanId, plain_name};

/// The plan every new business starts on, unless the operator marks another one as the default.
pub const DEFAULT_PLAN: &str = "Free";

/// The plans a fresh installation offers: (name, conversations per month, monthly price).
const DEFAULT_PLANS: &[(&str, i32, i64)] = &[(DEFAULT_PLAN, 250, 0), ("Starter", 2_000, 29), ("Growth", 20_000, 99)];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub id: PlanId,
    pub name: String,
    pub conversation_limit: i32,
    pub price: Decimal,
    /// New businesses start on it.
    pub is_default: bool,
    /// The free trial a new business on it starts with (0: none).
    pub trial_days: i32,
}

/// A plan to create, or the changes to one (`None`: unchanged).
#[derive(Debug, Clone, Default)]
pub struct PlanChanges {
    pub name: Option<String>,
    pub conversation_limit: Option<i32>,
    pub price: Option<Decimal>,
    /// Makes it the default plan (the previous default stops being one); `Some(false)` is refused, as
    /// the installation always has a default: make another plan the default instead.
    pub is_default: Option<bool>,
    pub trial_days: Option<i32>,
}

/// Creates the default plans if they are missing; existing plans are left as they are.
pub async fn ensure_default_plans(pool: &PgPool) -> Result<()> {
    for (name, limit, price) in DEFAULT_PLANS {
        sqlx::query!(
            r#"INSERT INTO plans (name, conversation_limit, price, is_default)
               VALUES ($1, $2, $3, $1 = $4 AND NOT EXISTS (SELECT 1 FROM plans WHERE is_default))
               ON CONFLICT (name) DO NOTHING"#,
            name,
            limit,
            Decimal::from(*price),
            DEFAULT_PLAN
        )
        .execute(pool)
        .await?;
    }
    Ok(())
}

pub async fn list_plans(pool: &PgPool) -> Result<Vec<Plan>> {
    ensure_default_plans(pool).await?;
    Ok(sqlx::query_as!(
        Plan,
        r#"SELECT id AS "id: PlanId", name, conversation_limit, price, is_default, trial_days
           FROM plans ORDER BY price, id"#
    )
    .fetch_all(pool)
    .await?)
}

pub(crate) async fn plan_named_on(conn: &mut PgConnection, name: &str) -> Result<Plan> {
    sqlx::query_as!(
        Plan,
        r#"SELECT id AS "id: PlanId", name, conversation_limit, price, is_default, trial_days
           FROM plans WHERE lower(name) = lower($1)"#,
        name.trim()
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::not_found(format!("plan {:?}", name.trim())))
}

pub(crate) async fn plan_on(conn: &mut PgConnection, plan: PlanId) -> Result<Plan> {
    sqlx::query_as!(
        Plan,
        r#"SELECT id AS "id: PlanId", name, conversation_limit, price, is_default, trial_days
           FROM plans WHERE id = $1"#,
        plan.0
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::not_found(format!("plan {plan}")))
}

/// The plan new businesses start on.
pub(crate) async fn default_plan_on(conn: &mut PgConnection) -> Result<Plan> {
    let marked = sqlx::query_scalar!(r#"SELECT id AS "id: PlanId" FROM plans WHERE is_default"#)
        .fetch_optional(&mut *conn)
        .await?;
    match marked {
        Some(id) => plan_on(conn, id).await,
        None => plan_named_on(conn, DEFAULT_PLAN).await,
    }
}

fn check(changes: &PlanChanges) -> Result<()> {
    if let Some(limit) = changes.conversation_limit
        && limit <= 0
    {
        return Err(Error::invalid(
            format!("a plan's conversation limit must be at least 1, not {limit}"),
            "give the number of conversations a month the plan includes",
        ));
    }
    if let Some(price) = changes.price
        && price.is_sign_negative()
    {
        return Err(Error::invalid(
            format!("a plan's price cannot be negative ({price})"),
            "give the monthly price, 0 for a free plan",
        ));
    }
    if let Some(days) = changes.trial_days
        && !(0..=365).contains(&days)
    {
        return Err(Error::invalid(
            format!("a free trial of {days} days is out of range"),
            "give 0 (no trial) to 365 days",
        ));
    }
    if changes.is_default == Some(false) {
        return Err(Error::invalid(
            "the installation always has a default plan, so it cannot be unset",
            "make another plan the default instead",
        ));
    }
    Ok(())
}

/// Creates a plan (the installation operator's).
pub async fn create_plan(pool: &PgPool, changes: &PlanChanges) -> Result<Plan> {
    check(changes)?;
    let name = plain_name("plan name", changes.name.as_deref().unwrap_or_default())?;
    let (Some(limit), Some(price)) = (changes.conversation_limit, changes.price) else {
        return Err(Error::invalid(
            "a new plan needs its conversation limit and its price",
            "give both the conversations a month it includes and its monthly price",
        ));
    };
    if name.is_empty() {
        return Err(Error::invalid("the plan name is empty", "name the plan, e.g. Pro"));
    }
    ensure_default_plans(pool).await?;
    let mut tx = pool.begin().await?;
    if changes.is_default == Some(true) {
        sqlx::query!("UPDATE plans SET is_default = false WHERE is_default").execute(&mut *tx).await?;
    }
    let id = sqlx::query_scalar!(
        r#"INSERT INTO plans (name, conversation_limit, price, is_default, trial_days)
           VALUES ($1, $2, $3, $4, $5) RETURNING id AS "id: PlanId""#,
        name,
        limit,
        price,
        changes.is_default == Some(true),
        changes.trial_days.unwrap_or(0)
    )
    .fetch_one(&mut *tx)
    .await?;
    let plan = plan_on(&mut tx, id).await?;
    tx.commit().await?;
    Ok(plan)
}

/// Changes a plan (the installation operator's). A new limit or price applies to every business on it
/// at once: the gate reads the plan's limit at each send, a renewal its price.
pub async fn update_plan(pool: &PgPool, name: &str, changes: &PlanChanges) -> Result<Plan> {
    check(changes)?;
    let new_name = match &changes.name {
        Some(n) => Some(plain_name("plan name", n)?).filter(|n| !n.is_empty()),
        None => None,
    };
    ensure_default_plans(pool).await?;
    let mut tx = pool.begin().await?;
    let plan = plan_named_on(&mut tx, name).await?;
    if changes.is_default == Some(true) {
        sqlx::query!("UPDATE plans SET is_default = false WHERE is_default AND id <> $1", plan.id.0)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query!(
        "UPDATE plans SET name = coalesce($2, name), conversation_limit = coalesce($3, conversation_limit),
                          price = coalesce($4, price), is_default = is_default OR $5,
                          trial_days = coalesce($6, trial_days)
         WHERE id = $1",
        plan.id.0,
        new_name,
        changes.conversation_limit,
        changes.price,
        changes.is_default == Some(true),
        changes.trial_days
    )
    .execute(&mut *tx)
    .await?;
    let plan = plan_on(&mut tx, plan.id).await?;
    tx.commit().await?;
    Ok(plan)
}
