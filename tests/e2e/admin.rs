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

    let planned = wacrm(&db, &["--business", "owner@acme.test", "broadcast", "list"]);
    assert_ne!(planned.code, 0);
    assert!(planned.stderr.contains("not built yet"), "{}", planned.stderr);

    let unreachable =
        wacrm_with_env(&db, &["--database-url", "postgres://nobody@127.0.0.1:1/none", "business", "list"], &[]);
    assert_eq!(unreachable.code, 6, "{unreachable:?}");
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
