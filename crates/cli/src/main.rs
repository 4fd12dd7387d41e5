//! `wacrm`: the WhatsApp CRM from the shell. Admins script it, cron drives it, agents open `wacrm tui`.
//! This face parses arguments, calls one core operation and renders the result; exit codes are in
//! [`exit`].

mod cmd;
mod context;
mod exit;
mod output;
mod wording;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use wacrm_core::config::Overrides;

use crate::context::Context;
use crate::output::{Failure, Format, Output};

/// WhatsApp CRM for small businesses: inbox, contacts, pipeline, automation, broadcasts, templates,
/// analytics and billing on PostgreSQL.
///
/// With no database configured, wacrm runs its own private PostgreSQL cluster in your data directory.
#[derive(Debug, Parser)]
#[command(name = "wacrm", version, propagate_version = true, after_long_help = exit::HELP)]
struct Cli {
    /// PostgreSQL URL (else WACRM_DATABASE_URL, DATABASE_URL, the config file, or the embedded default).
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    /// The business to act for: its id or e-mail (else WACRM_BUSINESS or the config file). When logged
    /// in, you act as yourself and only your own business may be named.
    #[arg(long, global = true, value_name = "ID|EMAIL")]
    business: Option<String>,
    /// Print JSON (stable field names) instead of a table.
    #[arg(long, global = true, conflicts_with = "csv")]
    json: bool,
    /// Print CSV with a header row instead of a table.
    #[arg(long, global = true)]
    csv: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// 1 Inbox: conversations, chat history, replies.
    #[command(subcommand)]
    Inbox(cmd::inbox::Command),
    /// 2 Contacts: create, edit, tag, search, import, export.
    #[command(subcommand)]
    Contacts(cmd::contacts::Command),
    /// 3 Sales pipeline: board, stage moves, history, metrics.
    #[command(subcommand)]
    Pipeline(cmd::pipeline::Command),
    /// 4 Automation: JSON rules on events, run log, rules as code.
    #[command(subcommand)]
    Automation(cmd::automation::Command),
    /// 5 Broadcast campaigns: create, schedule, start, pause, recipients, delivery funnel.
    #[command(subcommand)]
    Broadcast(cmd::broadcast::Command),
    /// 6 Message templates: lint, create, submit, sync, edit, delete, render.
    #[command(subcommand)]
    Templates(cmd::templates::Command),
    /// 7 Analytics: leads, pipeline, messages and usage over local days; a summary alone.
    Analytics(cmd::analytics::Command),
    /// 8 Billing: plans and subscription.
    #[command(subcommand)]
    Billing(cmd::billing::Command),
    /// Canned replies for the inbox: `/shortcut` in the TUI's composer.
    #[command(subcommand)]
    Canned(cmd::canned::Command),
    /// In-app notifications: rule alerts and usage alerts.
    #[command(subcommand)]
    Notifications(cmd::notifications::Command),
    /// Businesses (tenants).
    #[command(subcommand)]
    Business(cmd::business::Command),
    /// Team members and roles.
    #[command(subcommand)]
    Users(cmd::users::Command),
    /// Connected WhatsApp numbers.
    #[command(subcommand)]
    Accounts(cmd::accounts::Command),
    /// The database: migrate, status, the embedded cluster.
    #[command(subcommand)]
    Db(cmd::db::Command),
    Demo(cmd::demo::Command),
    /// Effective configuration.
    #[command(subcommand)]
    Config(cmd::config::Command),
    /// The job queue: run due jobs (cron), list, show, retry, cancel.
    #[command(subcommand)]
    Jobs(cmd::jobs::Command),
    /// Raw webhook events: list and replay.
    #[command(subcommand)]
    Webhook(cmd::webhook::Command),
    // Undocumented variants take their help, examples included, from their argument structs.
    Tui(cmd::tui::Command),
    /// Live events: new messages, delivery statuses, stage changes.
    #[command(subcommand)]
    Events(cmd::events::Command),
    Login(cmd::session::Login),
    Logout(cmd::session::Logout),
    Whoami(cmd::session::Whoami),
    Completions(cmd::completions::Completions),
    Man(cmd::completions::Man),
}

impl Cli {
    fn format(&self) -> Format {
        if self.json {
            Format::Json
        } else if self.csv {
            Format::Csv
        } else {
            Format::Table
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(&err),
    };
    let format = cli.format();
    // The TUI owns the screen: its logs go to a file.
    if matches!(cli.command, Command::Tui(_)) {
        wacrm_tui::init_logging();
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_env("WACRM_LOG").unwrap_or_else(|_| "warn,sqlx=error".into()),
            )
            .with_writer(std::io::stderr)
            // Colour codes only for a person: a script or a log file gets plain text.
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            let err = anyhow::Error::new(e).context("cannot start the async runtime");
            failure(&err).print(format);
            return ExitCode::from(exit::FAILURE);
        }
    };
    match runtime.block_on(run(cli, format)) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(err) if is_broken_pipe(&err) => ExitCode::from(exit::OK),
        Err(ref err) if let Some(&exit::Quiet(code)) = err.downcast_ref::<exit::Quiet>() => ExitCode::from(code),
        Err(err) => {
            let failure = failure(&err);
            failure.print(format);
            ExitCode::from(failure.exit_code)
        }
    }
}

async fn run(cli: Cli, format: Format) -> anyhow::Result<()> {
    let overrides = Overrides { database_url: cli.database_url, business: cli.business, ..Default::default() };
    let ctx = Context::new(&overrides, Output::new(format))?;
    let result = match cli.command {
        Command::Inbox(c) => cmd::inbox::run(&ctx, c).await,
        Command::Canned(c) => cmd::canned::run(&ctx, c).await,
        Command::Notifications(c) => cmd::notifications::run(&ctx, c).await,
        Command::Contacts(c) => cmd::contacts::run(&ctx, c).await,
        Command::Pipeline(c) => cmd::pipeline::run(&ctx, c).await,
        Command::Automation(c) => cmd::automation::run(&ctx, c).await,
        Command::Broadcast(c) => cmd::broadcast::run(&ctx, c).await,
        Command::Templates(c) => cmd::templates::run(&ctx, c).await,
        Command::Analytics(c) => cmd::analytics::run(&ctx, c).await,
        Command::Billing(c) => cmd::billing::run(&ctx, c).await,
        Command::Business(c) => cmd::business::run(&ctx, c).await,
        Command::Users(c) => cmd::users::run(&ctx, c).await,
        Command::Accounts(c) => cmd::accounts::run(&ctx, c).await,
        Command::Db(c) => cmd::db::run(&ctx, c).await,
        Command::Demo(c) => cmd::demo::run(&ctx, c).await,
        Command::Config(c) => cmd::config::run(&ctx, c).await,
        Command::Jobs(c) => cmd::jobs::run(&ctx, c).await,
        Command::Webhook(c) => cmd::webhook::run(&ctx, c).await,
        Command::Tui(c) => cmd::tui::run(&ctx, c).await,
        Command::Events(c) => cmd::events::run(&ctx, c).await,
        Command::Login(c) => cmd::session::login(&ctx, c).await,
        Command::Logout(c) => cmd::session::logout(&ctx, c).await,
        Command::Whoami(c) => cmd::session::whoami(&ctx, c).await,
        Command::Completions(c) => cmd::completions::completions(c),
        Command::Man(c) => cmd::completions::man(c),
    };
    ctx.close().await;
    result
}

/// What went wrong, its causes, how to fix it and the exit code that says which kind of failure it was.
fn failure(err: &anyhow::Error) -> Failure {
    let exit_code = exit::code_for(err);
    Failure {
        message: err.to_string(),
        causes: err.chain().skip(1).map(ToString::to_string).collect(),
        hint: err.chain().find_map(|e| e.downcast_ref::<wacrm_core::Error>()).and_then(wording::hint),
        code: exit::name(exit_code),
        exit_code,
    }
}

/// Arguments clap refused. Help and version requests print as clap prints them (exit 0); a mistake is
/// reported as clap words it, or under `--json` as the same object as every other failure (exit 2).
fn usage_error(err: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let asked_for_json = std::env::args_os().skip(1).take_while(|a| a != "--").any(|a| a == "--json");
    let shows_help = matches!(
        err.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if shows_help || !asked_for_json {
        let _ = err.print();
        return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(exit::USAGE));
    }
    let text = err.to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let message = lines.next().unwrap_or("bad arguments");
    let tips: Vec<&str> = lines.filter_map(|l| l.strip_prefix("tip: ")).collect();
    let hint = if tips.is_empty() { "run the command with --help for its arguments".into() } else { tips.join("; ") };
    Failure {
        message: message.strip_prefix("error: ").unwrap_or(message).to_string(),
        causes: Vec::new(),
        hint: Some(hint),
        code: exit::name(exit::USAGE),
        exit_code: exit::USAGE,
    }
    .print(Format::Json);
    ExitCode::from(exit::USAGE)
}

/// A closed pipe (`wacrm contacts list | head`) is a quiet success, as in ripgrep. serde_json and csv
/// wrap the write's io::Error without exposing it as their source, so each is asked for its kind.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == BrokenPipe)
            || e.downcast_ref::<serde_json::Error>().is_some_and(|e| e.io_error_kind() == Some(BrokenPipe))
            || e.downcast_ref::<csv::Error>()
                .is_some_and(|e| matches!(e.kind(), csv::ErrorKind::Io(io) if io.kind() == BrokenPipe))
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// A writer whose reader has gone, as `| head -1` leaves stdout.
    struct ClosedPipe;

    impl std::io::Write for ClosedPipe {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
    }

    #[test]
    fn a_closed_pipe_is_a_quiet_success_whichever_writer_met_it() {
        let json = serde_json::to_writer_pretty(ClosedPipe, &serde_json::json!([{"id": 1}])).unwrap_err();
        assert!(is_broken_pipe(&anyhow::Error::new(json).context("printing the contacts")));
        let mut csv = csv::Writer::from_writer(ClosedPipe);
        let csv = csv.write_record(["id"]).and_then(|()| csv.flush().map_err(csv::Error::from)).unwrap_err();
        assert!(is_broken_pipe(&anyhow::Error::new(csv)));
        let plain = std::io::Write::write_all(&mut ClosedPipe, b"x").unwrap_err();
        assert!(is_broken_pipe(&anyhow::Error::new(plain)));
        assert!(!is_broken_pipe(&anyhow::anyhow!("Broken pipe")));
    }

    #[test]
    fn dashboards_come_first_in_core_s_order_and_numbered() {
        let command = Cli::command();
        let first: Vec<_> = command.get_subcommands().take(wacrm_core::Dashboard::ALL.len()).collect();
        for (dashboard, sub) in wacrm_core::Dashboard::ALL.into_iter().zip(first) {
            assert_eq!(sub.get_name(), dashboard.command());
            let about = sub.get_about().map(ToString::to_string).unwrap_or_default();
            assert!(about.starts_with(&format!("{} ", dashboard.number())), "{about}");
        }
    }

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Every row-count flag, the most it takes, and the help text that documents that.
    const ROW_FLAGS: &[(&[&str], &str, i64)] = &[
        (&["inbox", "list"], "--limit", wacrm_core::inbox::conversations::MAX_PAGE),
        (&["inbox", "show", "42"], "--limit", wacrm_core::inbox::conversations::MAX_PAGE),
        (&["contacts", "list"], "--limit", wacrm_core::contacts::MAX_PAGE),
        (&["pipeline", "board"], "--per-column", wacrm_core::contacts::MAX_PAGE),
        (&["pipeline", "history"], "--limit", wacrm_core::MAX_LISTED_ROWS),
        (&["pipeline", "metrics", "--stuck-days", "7"], "--limit", wacrm_core::MAX_LISTED_ROWS),
        (&["webhook", "events"], "--limit", wacrm_core::MAX_LISTED_ROWS),
    ];

    /// `wacrm <command> <flag>=<value>` (the `=` keeps a negative number a value, not a flag).
    fn parse(command: &[&str], flag: &str, value: &str) -> Result<Cli, clap::Error> {
        let flag = format!("{flag}={value}");
        Cli::try_parse_from(["wacrm"].iter().chain(command).copied().chain([flag.as_str()]))
    }

    #[test]
    fn row_counts_out_of_range_are_refused_with_the_range_not_bounded() {
        for &(command, flag, max) in ROW_FLAGS {
            for good in [1, max] {
                assert!(parse(command, flag, &good.to_string()).is_ok(), "{command:?} {flag} {good}");
            }
            for bad in ["0".to_string(), (max + 1).to_string(), "999999".into(), "-5".into(), "ten".into()] {
                let err = parse(command, flag, &bad).map(|_| ()).unwrap_err();
                assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation, "{command:?} {flag} {bad}: {err}");
                assert_eq!(err.exit_code(), i32::from(exit::USAGE), "{command:?} {flag} {bad}");
                let message = err.to_string();
                assert!(message.contains(&format!("use 1 to {max}")), "{command:?} {flag} {bad}: {message}");
            }
        }
    }

    #[test]
    fn row_count_ranges_are_documented_in_the_help() {
        for &(command, flag, max) in ROW_FLAGS {
            let mut cli = Cli::command();
            let mut sub = &mut cli;
            for name in command.iter().take_while(|a| !a.starts_with('-') && a.parse::<i64>().is_err()) {
                sub = sub.find_subcommand_mut(name).unwrap_or_else(|| panic!("no subcommand {name}"));
            }
            let arg = sub.get_arguments().find(|a| a.get_long() == flag.strip_prefix("--")).expect(flag);
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            assert!(help.ends_with(&format!("(1-{max})")), "{command:?} {flag}: {help:?}");
        }
    }
}
