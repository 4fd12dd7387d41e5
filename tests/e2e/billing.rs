//! `wacrm billing` from the shell: plans and payments are the operator's (exit 8 for a logged-in
//! user), and `billing check` gives cron its three exit codes.

use wacrm_e2e::{ConfigDir, TestDb, wacrm, wacrm_with_env};

#[tokio::test]
async fn plans_and_payments_are_the_operators_and_the_check_gives_cron_three_exit_codes() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let acme = wacrm(&db, &["--json", "business", "create", "--name", "Acme", "--email", "owner@acme.test"])
        .ok()?
        .json()?["id"]
        .to_string();
    let password = ("WACRM_PASSWORD", "a long password");
    let add = ["--business", "owner@acme.test", "users", "add", "--name", "Olga", "--email", "olga@acme.test"];
    wacrm_with_env(&db, &[&add[..], &["--role", "owner"]].concat(), &[password]).ok()?;
    let dir = ConfigDir::new();
    let config = dir.config();
    let as_olga = |args: &[&str]| wacrm_with_env(&db, args, &[("WACRM_CONFIG", config.as_str()), password]);
    as_olga(&["login", "--email", "olga@acme.test"]).ok()?;
    for args in [
        &["billing", "plans", "create", "Tiny", "--limit", "10", "--price", "0"][..],
        &["billing", "plans", "update", "Free", "--limit", "10"][..],
        &["billing", "mark-paid"][..],
        &["billing", "renew"][..],
    ] {
        let refused = as_olga(args);
        assert_eq!(refused.code, 8, "{args:?}: {refused:?}");
        assert!(refused.stderr.contains("operator"), "{}", refused.stderr);
    }
    // The owner sees the status of her own business.
    let status = as_olga(&["--json", "billing", "status"]).ok()?.json()?;
    assert_eq!((status["plan"].as_str(), status["conversation_limit"].as_i64()), (Some("Free"), Some(250)));

    // The operator (nobody logged in) shrinks the free plan to 10 conversations a month.
    let plan = wacrm(&db, &["--json", "billing", "plans", "update", "Free", "--limit", "10"]).ok()?.json()?;
    assert_eq!(plan["conversation_limit"], 10);
    let check =
        |db: &TestDb| wacrm(db, &["--json", "--business", &acme, "billing", "check", "--warn", "80", "--fail", "95"]);
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url).await?;
    let mut levels = Vec::new();
    for add in [7, 1, 2] {
        sqlx::query(
            "INSERT INTO usage_logs (business_id, conversation_id, cost)
             SELECT $1, gen_random_uuid()::text, 0.05 FROM generate_series(1, $2)",
        )
        .bind(acme.parse::<i32>()?)
        .bind(add)
        .execute(&mut conn)
        .await?;
        let run = check(&db);
        levels.push((run.code, run.json()?["level"].as_str().unwrap_or_default().to_string()));
    }
    assert_eq!(levels, [(0, "ok".to_string()), (10, "warn".to_string()), (5, "fail".to_string())]);
    Ok(())
}
