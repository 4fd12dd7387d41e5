//! Templates as an admin scripts them: `wacrm templates lint` in CI (exit codes, JSON findings), a
//! template created and submitted from the shell to the (fake) Graph API, Meta's signed approval webhook
//! through wacrm-webhookd, and the locks and the delete that follow.

use std::time::Duration;

use serde_json::json;
use wacrm_core::whatsapp::fake::FakeGraph;
use wacrm_e2e::{TestDb, Webhookd, eventually, shop, wacrm};

const APP_SECRET: &str = "e2e-app-secret";
const WABA_ID: &str = "102290129340398";

/// Writes `text` to a fresh file under the temporary directory; its path.
fn file(name: &str, text: &str) -> anyhow::Result<String> {
    let dir = std::env::temp_dir().join(format!("wacrm-e2e-templates-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(name);
    std::fs::write(&path, text)?;
    Ok(path.display().to_string())
}

#[tokio::test]
async fn lint_checks_files_offline_with_an_exit_code_for_ci() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let good = file(
        "good.toml",
        "name = \"order_update\"\nlanguage = \"en_US\"\ncategory = \"UTILITY\"\n[[components]]\ntype = \"BODY\"\n\
         text = \"Hi {{1}}, your order {{2}} is on its way.\"\nexample = { body_text = [[\"Ana\", \"4411\"]] }\n",
    )?;
    let bad = file(
        "bad.json",
        &json!({"name": "Order Update", "language": "en_US", "category": "UTILITY",
                "components": [{"type": "BODY", "text": "Hi {{1}} {{2}}"}]})
        .to_string(),
    )?;
    let passing = wacrm(&db, &["templates", "lint", &good]).ok()?;
    assert!(passing.stdout.contains("1 file(s) pass"), "{}", passing.stdout);

    let failing = wacrm(&db, &["--json", "templates", "lint", &good, &bad]);
    assert_eq!(failing.code, 2, "{failing:?}");
    let findings = failing.json()?;
    let rules: Vec<&str> = findings.as_array().unwrap().iter().filter_map(|f| f["rule"].as_str()).collect();
    assert_eq!(rules, ["name-charset", "parameter-at-end", "parameters-adjacent", "example-missing"], "{findings}");
    assert!(findings.as_array().unwrap().iter().all(|f| f["file"] == bad.as_str() && f["fix"].is_string()));
    assert!(failing.stderr.contains("\"exit_code\":2"), "{}", failing.stderr);
    Ok(())
}

// Multi-threaded: the fake Graph API serves from this runtime while the test blocks on `wacrm` runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_goes_from_the_shell_to_meta_and_back() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let fake = FakeGraph::start().await?;
    // The shop's number sits on WABA_ID at the fake.
    let b = shop(&db, &fake)?;
    let daemon = Webhookd::start(&db, APP_SECRET).await?;

    let create = [
        "--json",
        "templates",
        "create",
        "--name",
        "order_update",
        "--lang",
        "en_US",
        "--category",
        "UTILITY",
        "--body",
        "Hi {{1}}, your order {{2}} is on its way.",
        "--body-example",
        "Ana",
        "--body-example",
        "4411",
        "--submit",
    ];
    let submitted = wacrm(&db, &[&b[..], &create[..]].concat()).ok()?.json()?;
    assert_eq!(submitted["template"]["status"], "pending", "{submitted}");
    let meta_id = submitted["template"]["meta_id"].as_str().unwrap().to_string();
    assert_eq!(fake.templates().len(), 1);

    // Meta approves it: a signed webhook routed by the WABA id.
    let approved = json!({"object": "whatsapp_business_account", "entry": [{"id": WABA_ID,
        "time": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() + 1,
        "changes": [{"field": "message_template_status_update", "value": {"event": "APPROVED",
            "message_template_id": meta_id.parse::<i64>()?, "message_template_name": "order_update",
            "message_template_language": "en_US", "reason": null}}]}]});
    assert_eq!(daemon.post_signed(&approved.to_string(), APP_SECRET).await?, 200);
    let listed = eventually(Duration::from_secs(10), || {
        let list = wacrm(&db, &[&b[..], &["--json", "templates", "list"][..]].concat()).ok().ok()?.json().ok()?;
        (list[0]["status"] == "approved").then_some(list)
    })
    .await
    .expect("the approval reaches `wacrm templates list`");
    assert_eq!(listed[0]["category"], "UTILITY");

    // Approved: locked, with the way forward.
    let edit = [
        "templates",
        "edit",
        "order_update",
        "--body",
        "Hello {{1}}, order {{2}} shipped.",
        "--body-example",
        "A",
        "--body-example",
        "B",
    ];
    let locked = wacrm(&db, &[&b[..], &edit[..]].concat());
    assert_eq!(locked.code, 4, "{locked:?}");
    assert!(
        locked.stderr.contains("order_update_v2") && locked.stderr.contains("--use-edit-slot"),
        "{}",
        locked.stderr
    );

    // Deleted at Meta, with the name lock said on stderr.
    let removed = wacrm(&db, &[&b[..], &["templates", "rm", "order_update"][..]].concat()).ok()?;
    assert!(removed.stderr.contains("30 days"), "{}", removed.stderr);
    assert!(fake.templates().is_empty());
    Ok(())
}
