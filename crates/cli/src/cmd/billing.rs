//! `wacrm billing`: plans (the installation operator's), the business's subscription, its status and
//! the cron check.

use anyhow::Result;
use chrono::Utc;
use clap::{Args, Subcommand};
use rust_decimal::Decimal;
use wacrm_core::billing::{self, Change, Level, PlanChanges};

use crate::context::Context;
use crate::exit;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The plans: list them (alone), or create and change them (the installation's operator only).
    ///
    /// Example: wacrm billing plans --json
    Plans {
        #[command(subcommand)]
        action: Option<PlansCommand>,
    },
    /// Show the acting business's subscription (the live one, else the one that ended last).
    ///
    /// Example: wacrm --business demo@wacrm.test billing subscription --json
    Subscription,
    /// Plan, conversations used this month against the limit, spend, days until renewal, Meta's cost.
    ///
    /// Example: wacrm --business demo@wacrm.test billing status --json
    Status,
    /// For cron: exit 0 below --warn % of the month's conversations, 10 from --warn, 5 from --fail or
    /// when sends are blocked (expired or cancelled subscription).
    ///
    /// Example: wacrm --business acme@example.com billing check --warn 80 --fail 95 --json
    Check {
        /// Warn from this share of the month's conversation limit, in percent.
        #[arg(long, default_value_t = 80.0)]
        warn: f64,
        /// Fail from this share, in percent.
        #[arg(long, default_value_t = 95.0)]
        fail: f64,
    },
    /// Move to another plan: a bigger one at once, a smaller one at the period's end. A business whose
    /// subscription ended may restart on a free plan.
    ///
    /// Example: wacrm --business acme@example.com billing subscribe Starter
    Subscribe { plan: String },
    /// Move to a bigger plan, at once.
    ///
    /// Example: wacrm --business acme@example.com billing upgrade Growth
    Upgrade { plan: String },
    /// Move to a smaller plan at the end of the current period.
    ///
    /// Example: wacrm --business acme@example.com billing downgrade Free
    Downgrade { plan: String },
    /// Cancel at the end of the current period (sends go on until then).
    ///
    /// Example: wacrm --business acme@example.com billing cancel
    Cancel {
        /// Take a cancellation back before the period ends.
        #[arg(long)]
        undo: bool,
    },
    /// Record a payment made outside wacrm (the installation's operator only): a past-due subscription
    /// starts its next period at once, an ended one restarts on its plan, else the periods are kept for
    /// the coming renewals.
    ///
    /// Example: wacrm --business acme@example.com billing mark-paid --periods 3
    MarkPaid {
        /// How many 30-day periods were paid.
        #[arg(long, default_value_t = 1)]
        periods: i32,
    },
    /// Start the next period now, paid or not (the installation's operator only); an ended subscription
    /// restarts on its plan.
    ///
    /// Example: wacrm --business acme@example.com billing renew
    Renew,
}

#[derive(Debug, Subcommand)]
pub enum PlansCommand {
    /// List the plans (the defaults are created on first use).
    ///
    /// Example: wacrm billing plans list --json
    List,
    /// Create a plan.
    ///
    /// Example: wacrm billing plans create Pro --limit 5000 --price 49 --trial-days 14
    Create {
        name: String,
        #[command(flatten)]
        fields: PlanFields,
    },
    /// Change a plan; a new limit or price applies to every business on it.
    ///
    /// Example: wacrm billing plans update Starter --limit 2500 --default
    Update {
        /// The plan's current name.
        plan: String,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        fields: PlanFields,
    },
}

#[derive(Debug, Args)]
pub struct PlanFields {
    /// Conversations (24-hour windows) a month.
    #[arg(long)]
    limit: Option<i32>,
    /// Monthly price (0: free).
    #[arg(long)]
    price: Option<Decimal>,
    /// New businesses start on this plan (the previous default stops being one).
    #[arg(long)]
    default: bool,
    /// The free trial a new business on it starts with, in days (0: none); once per owner e-mail and
    /// per WhatsApp Business Account.
    #[arg(long)]
    trial_days: Option<i32>,
}

impl PlanFields {
    fn changes(self, name: Option<String>) -> PlanChanges {
        PlanChanges {
            name,
            conversation_limit: self.limit,
            price: self.price,
            is_default: self.default.then_some(true),
            trial_days: self.trial_days,
        }
    }
}

const PLAN_COLUMNS: &[&str] = &["id", "name", "conversation_limit", "price", "is_default", "trial_days"];

pub async fn run(ctx: &Context, command: Command) -> Result<()> {
    let pool = ctx.pool().await?;
    match command {
        Command::Plans { action: None | Some(PlansCommand::List) } => {
            ctx.out.list(&billing::list_plans(pool).await?, PLAN_COLUMNS)
        }
        Command::Plans { action: Some(PlansCommand::Create { name, fields }) } => {
            ctx.require_operator("managing plans")?;
            let plan = billing::create_plan(pool, &fields.changes(Some(name))).await?;
            ctx.out.done(
                &format!(
                    "created plan {} ({} conversations a month, {})",
                    plan.name, plan.conversation_limit, plan.price
                ),
                &plan,
            )
        }
        Command::Plans { action: Some(PlansCommand::Update { plan, name, fields }) } => {
            ctx.require_operator("managing plans")?;
            let plan = billing::update_plan(pool, &plan, &fields.changes(name)).await?;
            ctx.out.done(
                &format!(
                    "updated plan {} ({} conversations a month, {})",
                    plan.name, plan.conversation_limit, plan.price
                ),
                &plan,
            )
        }
        Command::Subscription => {
            let scope = ctx.scope().await?;
            match billing::subscription(pool, &scope).await? {
                Some(s) => ctx.out.record(&s),
                None => Err(wacrm_core::Error::not_found("subscription").into()),
            }
        }
        Command::Status => {
            let scope = ctx.scope().await?;
            ctx.out.record(&billing::status(ctx.read_pool().await?, &scope).await?)
        }
        Command::Check { warn, fail } => {
            let scope = ctx.scope().await?;
            let status = billing::status(ctx.read_pool().await?, &scope).await?;
            let check = billing::check(&status, warn, fail)?;
            ctx.out.done(
                &format!("{}: {}", serde_json::to_value(check.level)?.as_str().unwrap_or_default(), check.reason),
                &check,
            )?;
            match check.level {
                Level::Ok => Ok(()),
                Level::Warn => Err(exit::Quiet(exit::USAGE_WARNING).into()),
                Level::Fail => Err(exit::Quiet(exit::LIMIT_REACHED).into()),
            }
        }
        Command::Subscribe { plan } => {
            changed(ctx, &billing::change_plan(pool, &ctx.scope().await?, &plan, None).await?)
        }
        Command::Upgrade { plan } => {
            changed(ctx, &billing::change_plan(pool, &ctx.scope().await?, &plan, Some(Change::Upgrade)).await?)
        }
        Command::Downgrade { plan } => {
            changed(ctx, &billing::change_plan(pool, &ctx.scope().await?, &plan, Some(Change::Downgrade)).await?)
        }
        Command::Cancel { undo } => changed(ctx, &billing::cancel(pool, &ctx.scope().await?, undo).await?),
        Command::MarkPaid { periods } => {
            ctx.require_operator("recording a payment")?;
            changed(ctx, &billing::mark_paid(pool, &ctx.scope().await?, periods, Utc::now()).await?)
        }
        Command::Renew => {
            ctx.require_operator("renewing a subscription by hand")?;
            let (subscription, _) = billing::renew_now(pool, &ctx.scope().await?, Utc::now()).await?;
            changed(ctx, &subscription)
        }
    }
}

/// Says where the subscription stands after a change.
fn changed(ctx: &Context, s: &billing::Subscription) -> Result<()> {
    let until = s.renews_at.map(|r| r.format("%Y-%m-%d").to_string()).unwrap_or_default();
    let mut message = format!("{} plan ({} conversations a month), {}", s.plan, s.conversation_limit, s.status);
    if let Some(next) = &s.next_plan {
        message.push_str(&format!("; moves to {next} on {until}"));
    } else if s.cancel_at_period_end {
        message.push_str(&format!("; ends on {until}"));
    } else if s.is_live() {
        message.push_str(&format!("; renews on {until}"));
    }
    ctx.out.done(&message, s)
}
