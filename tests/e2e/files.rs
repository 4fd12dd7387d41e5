//! The CLI's files and state as a user leaves them: `db status` starts nothing, the demo leaves a
//! business to act for, and an account's Graph API settings can be changed after `accounts add`.

use wacrm_e2e::{ConfigDir, TestDb, wacrm, wacrm_with_env};

#[tokio::test]
async fn db_status_reports_a_stopped_embedded_cluster_without_starting_it() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let data = ConfigDir::new();
    let data_dir = data.0.join("cluster");
    let data_dir = data_dir.display().to_string();
    // An empty --database-url selects the embedded cluster, here one that was never started.
    let status =
        wacrm_with_env(&db, &["--database-url", "", "--json", "db", "status"], &[("WACRM_DATA_DIR", &data_dir)])
            .ok()?
            .json()?;
    assert_eq!((status["source"].as_str(), status["running"].as_bool()), (Some("embedded"), Some(false)), "{status}");
    assert!(status["migrations_applied"].is_null(), "{status}");
    assert!(!data.0.join("cluster").join("data").exists(), "db status initialised a cluster");
    Ok(())
}

#[tokio::test]
async fn after_the_demo_the_next_command_acts_for_the_demo_business() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let dir = ConfigDir::new();
    let config = dir.config();
    let env = [("WACRM_CONFIG", config.as_str())];
    let demo = wacrm_with_env(&db, &["--json", "demo"], &env).ok()?;
    let saved = demo.json()?["default_business_saved_in"].clone();
    assert_eq!(saved.as_str(), Some(config.as_str()), "{}", demo.stdout);
    assert!(demo.stderr.is_empty(), "--json keeps stderr for errors: {}", demo.stderr);
    let inbox = wacrm_with_env(&db, &["--json", "inbox", "list"], &env).ok()?.json()?;
    assert!(inbox["items"].as_array().is_some_and(|rows| !rows.is_empty()), "inbox list --json: no items");
    // Once configured, it is left alone (and not written twice).
    let again = wacrm_with_env(&db, &["demo"], &env).ok()?;
    assert!(!again.stderr.contains("default business"), "{}", again.stderr);
    assert_eq!(std::fs::read_to_string(&config)?.matches("business =").count(), 1);
    Ok(())
}

#[tokio::test]
async fn an_account_s_graph_api_settings_token_and_status_can_be_edited() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    wacrm(&db, &["business", "create", "--name", "Acme", "--email", "owner@acme.test"]).ok()?;
    let acme = ["--json", "--business", "owner@acme.test", "accounts"];
    let add = ["add", "--phone", "+15550281234", "--phone-number-id", "106540352242922", "--token", "first-token"];
    let added = wacrm(&db, &[&acme[..], &add].concat()).ok()?.json()?;
    assert_eq!(added["phone_number"], "+15550281234", "Meta's test numbers are accepted as given");
    let id = added["id"].to_string();
    let edit = |extra: &[&str]| wacrm(&db, &[&acme[..], &["edit", id.as_str()], extra].concat());
    let edited = edit(&["--api-base-url", "http://127.0.0.1:9", "--api-version", "v25.0", "--status", "inactive"])
        .ok()?
        .json()?;
    assert_eq!(
        (edited["api_base_url"].as_str(), edited["api_version"].as_str(), edited["status"].as_str()),
        (Some("http://127.0.0.1:9"), Some("v25.0"), Some("inactive"))
    );
    let reset = edit(&["--api-base-url", "", "--token", "second-token", "--status", "active"]).ok()?.json()?;
    assert!(reset["api_base_url"].is_null() && reset["api_version"] == "v25.0" && reset["status"] == "active");
    assert!(!reset.to_string().contains("token"), "tokens are never printed: {reset}");
    assert_eq!(edit(&["--api-base-url", "ftp://x"]).code, 2);
    assert_eq!(edit(&["--token", " "]).code, 2);
    assert_eq!(wacrm(&db, &[&acme[..], &["edit", "999", "--status", "active"]].concat()).code, 3);
    Ok(())
}

#[tokio::test]
async fn a_newcomer_off_a_terminal_is_told_what_to_do() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let dir = ConfigDir::new();
    let config = dir.config();
    let env = [("WACRM_CONFIG", config.as_str())];
    let who = wacrm_with_env(&db, &["--json", "whoami"], &env).ok()?.json()?;
    assert_eq!(who["logged_in"], false, "{who}");
    let said = wacrm_with_env(&db, &["whoami"], &env).ok()?;
    assert!(said.stdout.contains("nobody is logged in"), "{}", said.stdout);

    // No terminal to ask for the password on, and none in the environment: a usage error with the way out.
    let login = wacrm_with_env(&db, &["login", "--email", "ana@acme.test"], &env);
    assert_eq!(login.code, 2, "{}", login.stderr);
    assert!(login.stderr.contains("hint:") && login.stderr.contains("WACRM_PASSWORD"), "{}", login.stderr);

    // Piped, the board's first line names the stage of each column.
    wacrm(&db, &["business", "create", "--name", "Acme", "--email", "owner@acme.test"]).ok()?;
    let board = wacrm(&db, &["--business", "owner@acme.test", "pipeline", "board"]).ok()?;
    let header = board.stdout.lines().next().unwrap_or_default();
    assert_eq!(
        header.split('\t').collect::<Vec<_>>(),
        ["New (0)", "Engaged (0)", "Interested (0)", "Paid (0)", "Lost (0)"]
    );
    Ok(())
}

#[tokio::test]
async fn with_a_token_key_configured_access_tokens_are_stored_encrypted() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    wacrm(&db, &["business", "create", "--name", "Acme", "--email", "owner@acme.test"]).ok()?;
    let add = [
        "--business",
        "owner@acme.test",
        "accounts",
        "add",
        "--phone",
        "+15550281234",
        "--phone-number-id",
        "106540352242922",
        "--token",
        "EAAG-very-secret",
    ];
    let key = "3c".repeat(32);
    wacrm_with_env(&db, &add, &[("WACRM_TOKEN_KEY", key.as_str())]).ok()?;
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url).await?;
    let stored: String = sqlx::query_scalar("SELECT api_token FROM whatsapp_accounts").fetch_one(&mut conn).await?;
    assert!(stored.starts_with("enc:v1:") && !stored.contains("very-secret"), "{stored}");
    let bad =
        wacrm_with_env(&db, &["--business", "owner@acme.test", "accounts", "list"], &[("WACRM_TOKEN_KEY", "abc")]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("WACRM_TOKEN_KEY") && bad.stderr.contains("openssl rand -hex 32"), "{}", bad.stderr);
    Ok(())
}
