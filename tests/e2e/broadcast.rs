//! A campaign from the shell: created with a dry run, started, sent by `wacrm jobs run --once` through
//! the fake Graph API, inspected with `--json`, and refused with the documented exit codes; and a
//! campaign whose daemon is killed half-way.

use std::time::Duration;

use sqlx::{Connection, PgConnection};
use wacrm_core::whatsapp::fake::{FakeGraph, StatusWebhooks};
use wacrm_e2e::{TestDb, Webhookd, eventually, shop, wacrm};

/// The shop's approved MARKETING template `spring_sale` ("Hi {{1}}!"), as Meta's sync would leave it.
async fn approved_template(db: &TestDb) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(&db.url).await?;
    sqlx::query(
        "INSERT INTO message_templates (business_id, name, content, status)
         SELECT id, 'spring_sale', 'Hi {{1}}!', 'approved' FROM businesses WHERE email = 'owner@shop.test'",
    )
    .execute(&mut conn)
    .await?;
    Ok(())
}

// Multi-threaded: the fake answers while the test thread waits for the binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_goes_out_once_from_the_shell() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let fake = FakeGraph::start().await?;
    let b = shop(&db, &fake)?;
    let run = |args: &[&str]| wacrm(&db, &[&b[..], args].concat());
    approved_template(&db).await?;
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
    let account = run(&["--json", "accounts", "list"]).ok()?.json()?[0]["id"].to_string();
    run(&["accounts", "edit", &account, "--messaging-tier", "TIER_2K"]).ok()?;
    assert_eq!(run(&["accounts", "edit", &account, "--messaging-tier", "5K"]).code, 2, "not a tier");
    // Two UK marketing messages at the shipped 0.0529; both open a conversation and use the limit.
    let plan = run(&["--json", "broadcast", "plan", &id]).ok()?.json()?;
    assert_eq!(plan["cost"]["total"].as_str(), Some("0.1058"), "{plan}");
    assert_eq!(plan["billing"]["would_open"].as_i64(), Some(2), "{plan}");
    assert_eq!(
        (plan["messaging_limit"]["tier"].as_str(), plan["messaging_limit"]["left"].as_i64()),
        (Some("2K"), Some(2000))
    );
    let shown = run(&["broadcast", "plan", &id]).ok()?.stdout;
    assert!(shown.contains("United Kingdom") && shown.contains("2K per 24 h"), "{shown}");
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
    // Piped, `status` prints the progress once instead of drawing a bar.
    let progress = run(&["--json", "broadcast", "status", &id]).ok()?.json()?;
    assert_eq!((progress["status"].as_str(), progress["sent"].as_i64()), (Some("completed"), Some(2)), "{progress}");
    let plain = run(&["broadcast", "status", &id]).ok()?.stdout;
    assert!(plain.lines().any(|l| l.starts_with("sent\t2")), "{plain}");
    let failed = run(&["--json", "broadcast", "recipients", &id, "--state", "skipped"]).ok()?.json()?;
    assert_eq!(failed[0]["detail"], "opted out");
    Ok(())
}

/// A campaign whose daemon dies by `kill -9` half-way resumes after a restart: the fake Graph API sees
/// every recipient exactly once. The fake plays Meta after each accepted send (signed status webhooks
/// to the daemon, retried while it is down, as Meta retries), so a send whose answer died with the
/// daemon is settled from its status, not sent again, once the reconcile window has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_killed_half_way_resumes_with_every_recipient_sent_once() -> anyhow::Result<()> {
    // Within the default plan's 250 conversations a month (more would pause the campaign on billing).
    const RECIPIENTS: usize = 200;
    const SECRET: &str = "kill-test-secret";
    let db = TestDb::new().await?;
    let fake = FakeGraph::start().await?;
    let b = shop(&db, &fake)?;
    let run = |args: &[&str]| wacrm(&db, &[&b[..], args].concat());
    approved_template(&db).await?;
    let list = std::env::temp_dir().join(format!("wacrm-e2e-kill-{}.csv", std::process::id()));
    let rows: Vec<String> = (0..RECIPIENTS).map(|i| format!("+4479460{i:05},Customer {i},bulk")).collect();
    std::fs::write(&list, format!("phone,name,tags\n{}\n", rows.join("\n")))?;
    run(&["contacts", "import", &list.display().to_string()]).ok()?;
    let _ = std::fs::remove_file(&list);

    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    // Slow enough to be killed half-way; a one-minute window for sends whose answer died with it.
    let env = [("WACRM_BROADCAST_RATE", "25"), ("WACRM_BROADCAST_RECONCILE_MINUTES", "1")];
    let daemon = Webhookd::start_on(&db, SECRET, port, &env).await?;
    fake.deliver_statuses(StatusWebhooks {
        url: format!("{}/webhook", daemon.base_url),
        app_secret: SECRET.into(),
        waba_id: "102290129340398".into(),
        display_phone_number: "14155550100".into(),
        delay: Duration::from_millis(20),
    });
    let create = ["--json", "broadcast", "create", "--name", "Spring", "--template", "spring_sale", "--tag", "bulk"];
    let created = run(&[&create[..], &["--param", "1=@first_name"]].concat()).ok()?.json()?;
    let id = created["id"].to_string();
    run(&["broadcast", "start", &id]).ok()?;

    let sends = || fake.requests().iter().filter(|r| r.to().is_some()).count();
    let half = eventually(Duration::from_secs(60), || (sends() >= RECIPIENTS / 2).then_some(())).await;
    assert!(half.is_some(), "the campaign did not get half-way: {} sends", sends());
    drop(daemon); // SIGKILL, mid-send
    let at_kill = sends();
    assert!(at_kill < RECIPIENTS, "the campaign finished before the kill: the test proves nothing");

    let _daemon = Webhookd::start_on(&db, SECRET, port, &env).await?;
    let mut status = String::new();
    for _ in 0..360 {
        let shown = run(&["--json", "broadcast", "show", &id]).ok()?.json()?;
        status = shown["status"].as_str().unwrap_or_default().to_string();
        if status == "completed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(status, "completed", "the campaign did not complete after the restart");
    let mut to: Vec<String> = fake.requests().iter().filter_map(|r| r.to().map(str::to_string)).collect();
    to.sort();
    let sent = to.len();
    to.dedup();
    assert_eq!((sent, to.len()), (RECIPIENTS, RECIPIENTS), "every recipient exactly once (killed at {at_kill})");
    Ok(())
}
