//! `wacrm pipeline`: the Sales Pipeline dashboard from the shell.

use anyhow::Result;
use clap::Subcommand;
use serde_json::{Map, Value};
use wacrm_core::contacts;
use wacrm_core::pipeline::{self, Rules};
use wacrm_core::{MAX_LISTED_ROWS, Stage};

use crate::cmd::contacts::FilterArgs;
use crate::cmd::rows;
use crate::context::Context;
use crate::output::Format;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The board: the five stages with their counts and most recently active contacts.
    ///
    /// Example: wacrm pipeline board --per-column 5
    Board {
        /// Contacts shown per column (1-1000).
        #[arg(long, default_value_t = 10, value_parser = rows(contacts::MAX_PAGE))]
        per_column: i64,
        /// Show one column's next page instead (with --after).
        #[arg(long)]
        stage: Option<Stage>,
        /// Cursor of the column's next page (printed under the board).
        #[arg(long, requires = "stage", value_name = "CURSOR")]
        after: Option<String>,
    },
    /// Move a contact to another stage (the business's rules apply; history is written on a change).
    ///
    /// Example: wacrm pipeline move 42 Interested
    Move {
        /// Contact id, or its phone starting with +.
        contact: String,
        stage: Stage,
    },
    /// Move every contact matching the filter to a stage.
    ///
    /// Example: wacrm pipeline bulk-move Engaged --tag expo-2025 --stage New
    BulkMove {
        /// The target stage.
        to: Stage,
        #[command(flatten)]
        filter: FilterArgs,
        /// Only contacts whose name or phone contains this.
        #[arg(long)]
        query: Option<String>,
        /// Move every contact of the business (required when no filter is given).
        #[arg(long)]
        all: bool,
    },
    /// Stage changes, newest first: one contact's or the business's.
    ///
    /// Example: wacrm pipeline history 42
    History {
        /// Contact id, or its phone starting with +.
        contact: Option<String>,
        /// At most this many changes (1-10000).
        #[arg(long, default_value_t = 50, value_parser = rows(MAX_LISTED_ROWS))]
        limit: i64,
    },
    /// Leads per stage, conversion funnel, win rate and time in stage; or contacts stuck in a stage.
    ///
    /// Example: wacrm pipeline metrics --stuck-days 14
    Metrics {
        /// List contacts in an open stage for more than this many days instead.
        #[arg(long, value_name = "DAYS")]
        stuck_days: Option<u32>,
        /// With --stuck-days: only this stage (Paid and Lost count too when named).
        #[arg(long, requires = "stuck_days")]
        stage: Option<Stage>,
        /// With --stuck-days: at most this many contacts (1-10000).
        #[arg(long, default_value_t = 100, value_parser = rows(MAX_LISTED_ROWS))]
        limit: i64,
    },
    /// Show or change the business's pipeline rules (changes: owners and admins).
    ///
    /// Example: wacrm pipeline rules keyword "ready to buy" Interested
    Rules {
        #[command(subcommand)]
        action: Option<RulesCommand>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Forbid moves from one stage to another.
    ///
    /// Example: wacrm pipeline rules block Paid New
    Block { from: Stage, to: Stage },
    /// Allow a blocked move again.
    ///
    /// Example: wacrm pipeline rules allow Lost Paid
    Allow { from: Stage, to: Stage },
    /// Add a keyword rule (inbound text with these words moves the contact), or change its stage.
    ///
    /// Example: wacrm pipeline rules keyword "not now" Lost
    Keyword { keyword: String, stage: Stage },
    /// Remove a keyword rule.
    ///
    /// Example: wacrm pipeline rules remove-keyword paid
    RemoveKeyword { keyword: String },
    /// Switch keyword stage updates on or off (the keywords are kept).
    ///
    /// Example: wacrm pipeline rules keywords off
    Keywords {
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
    /// Put back the defaults: Lost → Paid blocked; interested, paid, not now.
    ///
    /// Example: wacrm pipeline rules reset
    Reset,
}

pub async fn run(ctx: &Context, command: Command) -> Result<()> {
    let scope = ctx.scope().await?;
    let pool = ctx.pool().await?;
    match command {
        Command::Board { stage: Some(stage), after, per_column } => {
            let page = pipeline::column(pool, &scope, stage, after.as_deref(), per_column).await?;
            if ctx.out.format == Format::Json {
                return ctx.out.record(&page);
            }
            ctx.out.list(&page.items, &["id", "phone", "name", "stage", "tags", "last_active"])?;
            if let Some(next) = page.next {
                eprintln!("more: --stage {stage} --after '{next}'");
            }
            Ok(())
        }
        Command::Board { stage: None, per_column, .. } => {
            let board = pipeline::board(pool, &scope, per_column).await?;
            if ctx.out.format == Format::Json {
                return ctx.out.record(&board);
            }
            // One table column per stage, one row per rank in the column.
            let headers: Vec<String> = board.iter().map(|c| format!("{} ({})", c.stage, c.count)).collect();
            let depth = board.iter().map(|c| c.contacts.len()).max().unwrap_or(0);
            let rows: Vec<Value> = (0..depth)
                .map(|i| {
                    let mut row = Map::new();
                    for (column, header) in board.iter().zip(&headers) {
                        let card = column.contacts.get(i).map(|c| {
                            let who = c.name.clone().or_else(|| c.phone.clone()).unwrap_or_default();
                            format!("{} #{}", who, c.id)
                        });
                        row.insert(header.clone(), card.map_or(Value::Null, Value::String));
                    }
                    Value::Object(row)
                })
                .collect();
            let columns: Vec<&str> = headers.iter().map(String::as_str).collect();
            if ctx.out.format == Format::Table && !ctx.out.interactive {
                // Piped rows carry no header, and without one a card's column would not say its stage.
                ctx.out.line(columns.join("\t"))?;
            }
            ctx.out.list(&rows, &columns)?;
            for column in board.iter().filter(|c| c.next.is_some()) {
                if let Some(next) = &column.next {
                    eprintln!("more {}: --stage {} --after '{next}'", column.stage, column.stage);
                }
            }
            Ok(())
        }
        Command::Move { contact, stage } => {
            let id = contacts::resolve(pool, &scope, &contact).await?;
            let moved = pipeline::move_stage(pool, &scope, id, stage).await?;
            let message = match moved.outcome {
                pipeline::MoveOutcome::Moved => format!("contact {id}: {} → {}", moved.from, moved.to),
                _ => format!("contact {id} already is {}", moved.to),
            };
            ctx.out.done(&message, &moved)
        }
        Command::BulkMove { to, filter, query, all } => {
            let filter = filter.filter(query);
            let coverage = if all { pipeline::BulkCoverage::EveryContact } else { pipeline::BulkCoverage::Filtered };
            let report = pipeline::bulk_move(pool, &scope, &filter, to, coverage).await?;
            ctx.out.done(
                &format!(
                    "{} matched: {} moved to {to}, {} already there, {} blocked by the rules",
                    report.matched,
                    report.moved,
                    report.unchanged,
                    report.blocked.len()
                ),
                &report,
            )
        }
        Command::History { contact, limit } => {
            let id = match contact {
                Some(c) => Some(contacts::resolve(pool, &scope, &c).await?),
                None => None,
            };
            let rows = pipeline::history(ctx.read_pool().await?, &scope, id, limit).await?;
            ctx.out.list(&rows, &["id", "contact", "contact_name", "from", "to", "changed_at", "source"])
        }
        Command::Metrics { stuck_days: Some(days), stage, limit } => {
            let rows = pipeline::stuck(ctx.read_pool().await?, &scope, days, stage, limit).await?;
            ctx.out.list(&rows, &["id", "name", "phone", "stage", "since", "days"])
        }
        Command::Metrics { stuck_days: None, .. } => {
            let metrics = pipeline::metrics(ctx.read_pool().await?, &scope).await?;
            if ctx.out.format == Format::Json {
                return ctx.out.record(&metrics);
            }
            let rows: Vec<Value> = metrics
                .per_stage
                .iter()
                .map(|s| {
                    let step = metrics.funnel.iter().find(|f| f.stage == s.stage);
                    let time = metrics.time_in_stage.iter().find(|t| t.stage == s.stage);
                    serde_json::json!({
                        "stage": s.stage,
                        "contacts": s.count,
                        "reached": step.map(|f| f.reached),
                        "conversion": step.and_then(|f| f.from_previous).map(percent),
                        "median_hours": time.and_then(|t| t.median_hours).map(|h| format!("{h:.1}")),
                        "p90_hours": time.and_then(|t| t.p90_hours).map(|h| format!("{h:.1}")),
                    })
                })
                .collect();
            ctx.out.list(&rows, &["stage", "contacts", "reached", "conversion", "median_hours", "p90_hours"])?;
            if ctx.out.format == Format::Table {
                println!(
                    "{} contacts, win rate {}",
                    metrics.contacts,
                    metrics.win_rate.map(percent).unwrap_or_else(|| "n/a".into())
                );
            }
            Ok(())
        }
        Command::Rules { action } => {
            let rules = match action {
                None => pipeline::rules(pool, &scope).await?,
                Some(RulesCommand::Block { from, to }) => pipeline::block_transition(pool, &scope, from, to).await?,
                Some(RulesCommand::Allow { from, to }) => pipeline::allow_transition(pool, &scope, from, to).await?,
                Some(RulesCommand::Keyword { keyword, stage }) => {
                    pipeline::set_keyword(pool, &scope, &keyword, stage).await?
                }
                Some(RulesCommand::RemoveKeyword { keyword }) => {
                    pipeline::remove_keyword(pool, &scope, &keyword).await?
                }
                Some(RulesCommand::Keywords { state }) => {
                    pipeline::set_keyword_rules_enabled(pool, &scope, state == "on").await?
                }
                Some(RulesCommand::Reset) => pipeline::reset_rules(pool, &scope).await?,
            };
            print_rules(ctx, &rules)
        }
    }
}

fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

fn print_rules(ctx: &Context, rules: &Rules) -> Result<()> {
    if ctx.out.format != Format::Table {
        return ctx.out.record(rules);
    }
    let blocked: Vec<String> = rules.blocked.iter().map(|t| format!("{} → {}", t.from, t.to)).collect();
    println!("blocked moves: {}", if blocked.is_empty() { "none".into() } else { blocked.join(", ") });
    println!("keyword stage updates: {}", if rules.keyword_rules_enabled { "on" } else { "off" });
    ctx.out.list(&rules.keywords, &["keyword", "stage"])
}
