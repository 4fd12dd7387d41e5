//! A campaign from the shell: created with a dry run, started, sent by `wacrm jobs run --once` through
//! the fake Graph API, inspected with `--json`, and refused with the documented exit codes.

use sqlx::{Connection, PgConnection};
use wacrm_core::whatsapp::fake::FakeGraph;
use wacrm_e2e::{TestDb, wacrm};

// Multi-threaded: the fake answers while the test thread waits for the binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_goes_out_once_from_the_shell() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let fake = FakeGraph::start().await?;
    wacrm(&db, &["business", "create", "--name", "Shop", "--email", "owner@shop.test"]).ok()?;
    let b = ["--business", "owner@shop.test"];
    let run = |args: &[&str]| wacrm(&db, &[&b[..], args].concat());
    run(&[
        "accounts",
        "add",
        "--phone",
        "+14155550100",
        "--phone-number-id",
        "106540352242922",
        "--token",
        "secret-token",
        "--api-base-url",
        fake.base_url(),
    ])
    .ok()?;
    let mut conn = PgConnection::connect(&db.url).await?;
    sqlx::query(
        "INSERT INTO message_templates (business_id, name, content, status)
         SELECT id, 'spring_sale', 'Hi {{1}}!', 'approved' FROM businesses WHERE email = 'owner@shop.test'",
    )
    .execute(&mut conn)
    .await?;
    for (phone, name) in [("+447946000001", "Ann Lee"), ("+447946000002", "Bo Chen"), ("+447946000003", "Cy Diaz")] {
        run(&["contacts", "add", "--phone", phone, "--name", name, "--tag", "vip"]).ok()?;
    }
    run(&["contacts", "opt-out", "+447946000003"]).ok()?;

    let create = ["broadcast", "create", "--name", "Spring", "--template", "spring_sale", "--tag", "vip"];
    let planned = run(&[&["--json"][..], &create, &["--param", "1=@first_name", "--dry-run"]].concat()).ok()?.json()?;
    assert_eq!((planned["reachable"].as_i64(), planned["opted_out"].as_i64()), (Some(2), Some(1)), "{planned}");
    let created = run(&[&["--json"][..], &create, &["--param", "1=@first_name"]].concat()).ok()?.json()?;
    let id = created["id"].to_string();
    assert_eq!(created["status"], "draft");
    run(&["broadcast", "start", &id]).ok()?;
    assert_eq!(run(&["broadcast", "start", &id]).code, 4, "a second start is a conflict");
    assert_eq!(run(&["broadcast", "show", "999"]).code, 3);

    wacrm(&db, &["jobs", "run", "--once"]).ok()?;
    let shown = run(&["--json", "broadcast", "show", &id]).ok()?.json()?;
    assert_eq!(shown["status"], "completed", "{shown}");
    assert_eq!((shown["stats"]["sent"].as_i64(), shown["stats"]["skipped"].as_i64()), (Some(2), Some(1)));
    let mut to: Vec<String> = fake.requests().iter().filter_map(|r| r.to().map(str::to_string)).collect();
    to.sort();
    assert_eq!(to, ["447946000001", "447946000002"]);
    let failed = run(&["--json", "broadcast", "recipients", &id, "--state", "skipped"]).ok()?.json()?;
    assert_eq!(failed[0]["detail"], "opted out");
    Ok(())
}
