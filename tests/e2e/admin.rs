//! An admin setting a business up from the shell, and the CLI's contract with scripts: JSON output,
//! exit codes, errors on stderr with a hint.

use wacrm_e2e::{TestDb, wacrm, wacrm_with_env};

#[tokio::test]
async fn an_admin_sets_up_a_business_from_the_shell() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let created =
        wacrm(&db, &["--json", "business", "create", "--name", "Acme", "--email", "owner@acme.test"]).ok()?.json()?;
    assert_eq!(created["email"], "owner@acme.test");
    let business = created["id"].to_string();

    let plans = wacrm(&db, &["--json", "billing", "plans"]).ok()?.json()?;
    assert!(plans.as_array().is_some_and(|p| p.len() >= 3), "{plans}");
    let subscription = wacrm(&db, &["--json", "--business", &business, "billing", "subscription"]).ok()?.json()?;
    assert_eq!(subscription["status"], "active");

    let user = wacrm_with_env(
        &db,
        &["--json", "--business", "owner@acme.test", "users", "add", "--name", "Ana", "--email", "ana@acme.test"],
        &[("WACRM_PASSWORD", "a long password")],
    )
    .ok()?
    .json()?;
    assert_eq!(user["role"], "agent");

    let account = wacrm(
        &db,
        &[
            "--json",
            "--business",
            &business,
            "accounts",
            "add",
            "--phone",
            "+14155550100",
            "--phone-number-id",
            "106540352242922",
            "--waba-id",
            "102290129340398",
            "--token",
            "secret-token",
        ],
    )
    .ok()?
    .json()?;
    assert_eq!(account["phone_number"], "+14155550100");
    let listed = wacrm(&db, &["--csv", "--business", &business, "accounts", "list"]).ok()?;
    assert!(listed.stdout.starts_with("id,phone_number,"), "{}", listed.stdout);
    assert!(!listed.stdout.contains("secret-token"), "tokens are never printed");
    Ok(())
}

#[tokio::test]
async fn errors_have_distinct_exit_codes_and_a_hint_on_stderr() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    wacrm(&db, &["business", "create", "--name", "Acme", "--email", "owner@acme.test"]).ok()?;

    let conflict = wacrm(&db, &["business", "create", "--name", "Again", "--email", "owner@acme.test"]);
    assert_eq!(conflict.code, 4, "{conflict:?}");
    assert!(conflict.stderr.contains("error: a business with this e-mail already exists"), "{}", conflict.stderr);
    assert!(conflict.stderr.contains("hint: "), "{}", conflict.stderr);
    assert!(conflict.stdout.is_empty());

    let missing = wacrm(&db, &["--business", "nobody@acme.test", "accounts", "list"]);
    assert_eq!(missing.code, 3, "{missing:?}");

    let invalid = wacrm(&db, &["business", "create", "--name", "X", "--email", "not-an-email"]);
    assert_eq!(invalid.code, 2, "{invalid:?}");

    let usage = wacrm(&db, &["business", "frobnicate"]);
    assert_eq!(usage.code, 2, "{usage:?}");

    let no_business = wacrm(&db, &["accounts", "list"]);
    assert_eq!(no_business.code, 2, "{no_business:?}");
    assert!(no_business.stderr.contains("--business"), "{}", no_business.stderr);

    let unreachable =
        wacrm_with_env(&db, &["--database-url", "postgres://nobody@127.0.0.1:1/none", "business", "list"], &[]);
    assert_eq!(unreachable.code, 6, "{unreachable:?}");
    Ok(())
}

/// The one JSON object a failing `--json` command prints on stderr.
fn json_error(run: &wacrm_e2e::Run) -> serde_json::Value {
    assert!(run.stdout.is_empty(), "a failure prints no data: {}", run.stdout);
    assert_eq!(run.stderr.trim_end().lines().count(), 1, "one line on stderr: {}", run.stderr);
    let value: serde_json::Value =
        serde_json::from_str(&run.stderr).unwrap_or_else(|e| panic!("stderr is not JSON ({e}): {}", run.stderr));
    assert_eq!(value["error"]["exit_code"], run.code, "{value}");
    assert!(value["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{value}");
    value["error"].clone()
}

#[tokio::test]
async fn json_errors_are_one_object_on_stderr_with_the_same_exit_codes() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    wacrm(&db, &["business", "create", "--name", "Acme", "--email", "owner@acme.test"]).ok()?;

    let conflict = wacrm(&db, &["--json", "business", "create", "--name", "Again", "--email", "owner@acme.test"]);
    assert_eq!(conflict.code, 4, "{conflict:?}");
    let error = json_error(&conflict);
    assert_eq!(error["code"], "conflict");
    assert_eq!(error["message"], "a business with this e-mail already exists");
    assert!(error["hint"].as_str().is_some_and(|h| !h.is_empty()), "{error}");

    let missing = wacrm(&db, &["--json", "--business", "nobody@acme.test", "accounts", "list"]);
    assert_eq!(missing.code, 3, "{missing:?}");
    assert_eq!(json_error(&missing)["code"], "not_found");

    // A context and its cause: the message says both, the causes list them.
    let no_business = wacrm(&db, &["--json", "accounts", "list"]);
    assert_eq!(no_business.code, 2, "{no_business:?}");
    let error = json_error(&no_business);
    assert_eq!(error["code"], "usage");
    assert!(error["message"].as_str().is_some_and(|m| m.contains("nobody logged in")), "{error}");
    assert_eq!(error["causes"].as_array().map(Vec::len), Some(1), "{error}");
    assert!(error["hint"].as_str().is_some_and(|h| h.contains("--business")), "{error}");

    // Arguments clap refuses are reported the same way, wherever --json stands.
    let bad_limit = wacrm(&db, &["--business", "owner@acme.test", "contacts", "list", "--limit", "0", "--json"]);
    assert_eq!(bad_limit.code, 2, "{bad_limit:?}");
    let error = json_error(&bad_limit);
    assert_eq!(error["code"], "usage");
    assert!(error["message"].as_str().is_some_and(|m| m.contains("use 1 to 1000")), "{error}");
    let typo = wacrm(&db, &["--json", "business", "lst"]);
    assert_eq!(typo.code, 2, "{typo:?}");
    assert!(json_error(&typo)["hint"].as_str().is_some_and(|h| h.contains("list")), "{typo:?}");

    let unreachable =
        wacrm(&db, &["--json", "--database-url", "postgres://nobody@127.0.0.1:1/none", "business", "list"]);
    assert_eq!(unreachable.code, 6, "{unreachable:?}");
    assert_eq!(json_error(&unreachable)["code"], "database_unreachable");

    // Without --json people still read plain text, and --json --help is still help.
    let plain = wacrm(&db, &["--business", "nobody@acme.test", "accounts", "list"]);
    assert_eq!(plain.code, 3);
    assert!(plain.stderr.starts_with("error: business \"nobody@acme.test\" not found\n"), "{}", plain.stderr);
    assert!(plain.stderr.contains("\nhint: "), "{}", plain.stderr);
    assert!(serde_json::from_str::<serde_json::Value>(&plain.stderr).is_err());
    let plain_usage = wacrm(&db, &["contacts", "list", "--limit", "0"]);
    assert_eq!(plain_usage.code, 2);
    assert!(plain_usage.stderr.starts_with("error: invalid value '0'"), "{}", plain_usage.stderr);
    let help = wacrm(&db, &["--json", "--help"]).ok()?;
    assert!(help.stdout.contains("Exit codes:"), "{}", help.stdout);
    Ok(())
}

#[tokio::test]
async fn the_demo_is_idempotent_and_prints_every_dashboard_when_piped() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let first = wacrm(&db, &["--json", "demo"]).ok()?.json()?;
    assert_eq!(first["tenant"]["created"], true);
    assert_eq!(first["dashboards"].as_array().map(Vec::len), Some(8));
    let second = wacrm(&db, &["demo"]).ok()?;
    assert!(second.stdout.contains("using existing business"), "{}", second.stdout);
    for dashboard in ["Inbox", "Contacts", "Pipeline", "Automation", "Broadcast", "Templates", "Analytics", "Billing"] {
        assert!(second.stdout.contains(dashboard), "{dashboard} missing from:\n{}", second.stdout);
    }
    Ok(())
}
