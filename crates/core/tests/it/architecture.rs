//! The architecture's rules, checked over the code itself: every query on tenant data is scoped by
//! business, and every table is written only by its owner module.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use sqlx::PgPool;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The checked queries, from the offline cache every build uses.
fn cached_queries() -> Vec<(String, String)> {
    let dir = workspace().join(".sqlx");
    let mut queries = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("the .sqlx query cache") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let file: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            queries.push((name, file["query"].as_str().unwrap().split_whitespace().collect::<Vec<_>>().join(" ")));
        }
    }
    assert!(queries.len() > 100, "the cache looks empty: {}", queries.len());
    queries
}

/// The tables read or written by a statement (FROM, JOIN, INTO, UPDATE).
fn tables(sql: &str) -> BTreeSet<String> {
    let words: Vec<&str> = sql.split(|c: char| c.is_whitespace() || c == '(' || c == ',').collect();
    words
        .windows(2)
        .filter(|w| ["FROM", "JOIN", "INTO", "UPDATE"].contains(&w[0].to_uppercase().as_str()))
        .map(|w| w[1].trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '_').to_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

/// Whether a statement is scoped by business: a condition on business_id, or an insert that sets it.
fn scoped(sql: &str) -> bool {
    let lower = sql.to_lowercase();
    let condition = ["business_id =", "business_id=", "business_id in (", "business_id <>", "using (business_id"]
        .iter()
        .any(|pattern| lower.contains(pattern));
    let insert_sets_it = lower.split("insert into ").skip(1).any(|rest| {
        rest.split_once('(').is_some_and(|(_, columns)| columns.split(')').next().unwrap_or("").contains("business_id"))
    });
    condition || insert_sets_it
}

/// Statements on tenant tables that are rightly not scoped by one business, each with its reason.
const UNSCOPED: &[(&str, &str)] = &[
    ("webhook_events", "the raw webhook log: not tenant data until an event is routed to its business"),
    ("FROM whatsapp_accounts WHERE phone_number_id", "routing: which business a webhook's number belongs to"),
    ("FROM whatsapp_accounts WHERE waba_id", "routing: which business a template webhook's WABA belongs to"),
    ("DELETE FROM user_sessions WHERE token_hash", "logout: the secret session token names its own business"),
    (
        "FROM subscriptions WHERE status IN ('trialing', 'active', 'past_due') AND renews_at <= $1",
        "the renewal sweep over every business",
    ),
    ("FROM billing_trials WHERE waba_id", "a free trial is granted once per WABA, whichever business had it"),
    ("FROM events WHERE (tx, id) >", "durable consumers read every business's events"),
    ("UPDATE event_consumers", "a consumer's position, set from the event it reached"),
    (
        "FROM whatsapp_accounts WHERE api_token IS NOT NULL AND api_token <> '' AND api_token NOT LIKE 'enc:%'",
        "sealing, at start-up, the access tokens of every business stored before encryption existed",
    ),
    (
        "SELECT DISTINCT business_id AS \"business_id!\" FROM whatsapp_accounts",
        "the recurring template sync over every business with a WABA",
    ),
    ("FROM waba_owners WHERE waba_id", "the WABA ownership registry: which one business a WABA belongs to"),
    (
        "FROM message_template_history WHERE waba_id",
        "Meta's creation limit counts per WABA, and a WABA belongs to one business (waba_owners)",
    ),
    ("FROM automation_pending WHERE status = 'pending' AND due_at <= now()", "the automation sweep of due delays"),
    ("FROM automation_actions WHERE status = 'pending' OR", "the automation sweep of claimed sends"),
    ("WHERE r.enabled AND r.trigger = 'schedule'", "the automation clock's sweep of schedule rules"),
    (
        "FROM analytics_dirty_contacts ORDER BY",
        "the recurring analytics refresh: which businesses have marked contacts",
    ),
];

/// Every query in `.sqlx/` that touches a table with a `business_id` column filters by it (the named
/// exceptions aside): the tenant isolation rule, and what distributing the tenant tables by
/// business_id (Citus) needs.
#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn every_query_on_tenant_tables_is_scoped_by_business(pool: PgPool) {
    let tenant: BTreeSet<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.columns
         WHERE table_schema = 'public' AND column_name = 'business_id'",
    )
    .fetch_all(&pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    assert!(tenant.contains("contacts") && tenant.contains("messages"), "{tenant:?}");
    let mut unscoped = Vec::new();
    for (file, sql) in cached_queries() {
        let touched: Vec<String> = tables(&sql).into_iter().filter(|t| tenant.contains(t)).collect();
        if touched.is_empty() || scoped(&sql) || UNSCOPED.iter().any(|(pattern, _)| sql.contains(pattern)) {
            continue;
        }
        unscoped.push(format!("{file} ({}): {}", touched.join(", "), &sql[..sql.len().min(160)]));
    }
    assert!(unscoped.is_empty(), "queries on tenant tables without a business_id filter:\n{}", unscoped.join("\n"));
}

/// Which module of core owns (alone writes) each table.
const OWNERS: &[(&str, &str)] = &[
    ("businesses", "business.rs"),
    ("waba_owners", "business.rs"),
    ("whatsapp_accounts", "business.rs"),
    ("users", "auth.rs"),
    ("user_sessions", "auth.rs"),
    ("login_failures", "auth.rs"),
    ("contacts", "contacts/"),
    ("contact_tags", "contacts/"),
    ("contact_import_rows", "contacts/"),
    ("contact_import_seen", "contacts/"),
    ("messages", "inbox/"),
    ("canned_replies", "inbox/"),
    ("conversation_notes", "inbox/"),
    ("webhook_events", "inbox/"),
    ("webhook_pending", "inbox/"),
    ("pipeline_history", "pipeline"),
    ("pipeline_blocked_transitions", "pipeline"),
    ("pipeline_keyword_rules", "pipeline"),
    ("pipeline_settings", "pipeline"),
    ("plans", "billing/"),
    ("subscriptions", "billing/"),
    ("subscription_periods", "billing/"),
    ("billing_trials", "billing/"),
    ("usage_logs", "billing/"),
    ("message_pricing", "billing/"),
    ("events", "events/"),
    ("event_consumers", "events/"),
    ("message_templates", "templates"),
    ("message_template_history", "templates"),
    ("analytics_message_counts", "analytics"),
    ("analytics_usage_counts", "analytics"),
    ("analytics_waits", "analytics"),
    ("analytics_dirty_contacts", "analytics"),
    ("analytics_wait_days", "analytics"),
    ("analytics_stage_counts", "analytics"),
    ("analytics_lead_counts", "analytics"),
    ("analytics_funnel_days", "analytics"),
    ("analytics_stay_days", "analytics"),
    ("analytics_send_outcomes", "analytics"),
    ("analytics_automation_sends", "analytics"),
    ("analytics_automation_counts", "analytics"),
    ("campaigns", "broadcast"),
    ("campaign_logs", "broadcast"),
    ("campaign_recipients", "broadcast/"),
    ("notifications", "notifications.rs"),
    ("automation_rules", "automation"),
    ("automation_runs", "automation/"),
    ("automation_actions", "automation/"),
    ("automation_pending", "automation/"),
    ("automation_schedule_slots", "automation/"),
    ("automation_assign_cursor", "automation/"),
];

/// Writes outside the owner, each with its reason: (table, file, reason).
const FOREIGN_WRITES: &[(&str, &str, &str)] = &[
    ("*", "demo.rs", "the benchmark tenant (1,000,000 messages) is generated set-based in one pass"),
    (
        "contacts",
        "inbox/",
        "a conversation is the contact row's conversation columns (unread count, last message, assignee, \
         resolved), which the inbox owns; inbound contacts are upserted in the batched ingest statement",
    ),
    ("contacts", "pipeline", "the pipeline owns the stage column, changed only by pipeline::move_stage_on"),
    (
        "messages",
        "analytics/sends.rs",
        "a repair of the automation sends rollup links each send action's message to its action again \
         (messages.automation_action_id, which only analytics' triggers and this repair write)",
    ),
    (
        "whatsapp_accounts",
        "secrets.rs",
        "sealing, at start-up, the access tokens stored in plain text before encryption existed",
    ),
];

/// The tables a source file writes (INSERT INTO, UPDATE, DELETE FROM inside its SQL).
fn writes(source: &str) -> BTreeSet<String> {
    let flat = source.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut written = BTreeSet::new();
    for verb in ["INSERT INTO ", "UPDATE ", "DELETE FROM "] {
        for rest in flat.split(verb).skip(1) {
            let table: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            // `ON CONFLICT ... DO UPDATE SET` updates the row being inserted, not another table.
            if !table.is_empty() && table != "SET" && table.chars().all(|c| !c.is_ascii_uppercase()) {
                written.insert(table);
            }
        }
    }
    written
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// Each table is written only by its owner module (the named exceptions aside): other dashboards call
/// the owner's `*_on(&mut conn)` functions, so work from several dashboards shares one transaction.
#[test]
fn every_table_is_written_only_by_its_owner() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut foreign = Vec::new();
    for path in files {
        let relative = path.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/");
        let source = std::fs::read_to_string(&path).unwrap();
        for table in writes(&source) {
            let Some((_, owner)) = OWNERS.iter().find(|(t, _)| *t == table) else {
                foreign.push(format!("{relative}: writes {table}, which has no owner in OWNERS"));
                continue;
            };
            let excused =
                FOREIGN_WRITES.iter().any(|(t, file, _)| (*t == table || *t == "*") && relative.starts_with(file));
            if !relative.starts_with(owner) && !excused {
                foreign.push(format!("{relative}: writes {table}, owned by {owner}"));
            }
        }
    }
    assert!(foreign.is_empty(), "writes outside the owner module:\n{}", foreign.join("\n"));
}

#[test]
fn the_lints_recognise_what_they_look_for() {
    assert_eq!(
        tables("SELECT 1 FROM contacts c JOIN messages m ON true WHERE x IN (SELECT 1 FROM users)"),
        ["contacts", "messages", "users"].into_iter().map(String::from).collect()
    );
    assert!(scoped("UPDATE contacts SET x = 1 WHERE business_id = $1"));
    assert!(scoped("INSERT INTO waba_owners (waba_id, business_id) VALUES ($1, $2)"));
    assert!(!scoped("SELECT business_id FROM contacts WHERE id = $1"));
    assert_eq!(
        writes("sqlx::query!(\"INSERT INTO contact_tags (a) ON CONFLICT DO UPDATE SET a = 1\"); UPDATE contacts SET"),
        ["contact_tags", "contacts"].into_iter().map(String::from).collect()
    );
}

/// Places where core's text names a command-line flag or command on purpose, each with its reason.
const FACE_WORDS_ALLOWED: &[(&str, &str, &str)] = &[
    ("db/cluster.rs", "\"--", "the embedded server's own command lines (initdb's flags)"),
    ("db/cluster.rs", "\"postgres --version\"", "the embedded server's own command line, named in its error"),
    ("templates/status.rs", "run `wacrm templates sync`", "a daemon log line, read by the operator at a shell"),
];

/// Words of one face in a line of core: a `wacrm` command or a `--flag` outside a hint's `op`/`input`.
fn names_a_face(line: &str) -> bool {
    let code = line.trim_start();
    if code.starts_with("//") || code.contains("op(") || code.contains("input(") {
        return false;
    }
    let flag = line.match_indices("--").any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + 2..].chars().next();
        matches!(before, Some(' ' | '"' | '(' | '`')) && after.is_some_and(|c| c.is_ascii_lowercase())
    });
    flag || line.contains("`wacrm ")
}

/// Core's hints say what to do and each face words it (issue 18): the CLI as a command and its flags, the
/// TUI as a tab or a field. A hint that spells a CLI flag would show it in the TUI too.
#[test]
fn core_text_names_no_flag_or_command_of_a_face() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut found = Vec::new();
    for path in files {
        let relative = path.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/");
        let source = std::fs::read_to_string(&path).unwrap();
        // Unit tests may spell what a face shows.
        let code = source.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
        for (number, line) in code.lines().enumerate() {
            let allowed = FACE_WORDS_ALLOWED.iter().any(|(file, words, _)| relative == *file && line.contains(words));
            if names_a_face(line) && !allowed {
                found.push(format!("{relative}:{}: {}", number + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "core text naming a face's flag or command (use error::op/input):\n{}", found.join("\n"));
}

#[test]
fn the_face_words_lint_finds_flags_and_commands() {
    assert!(names_a_face(r#"    "pass --lang, e.g. en_US","#));
    assert!(names_a_face(r#"    "see `wacrm templates list`","#));
    assert!(!names_a_face(r#"    format!("give the language ({})", input("lang")),"#));
    assert!(!names_a_face("    // pass --lang"));
    assert!(!names_a_face(r#"    "a 2--3 range""#));
}
