//! Automation from the shell: `wacrm automation edit` in $EDITOR (checked on save, re-opened on an
//! error), and a `kill -9` of the process running the rules between the claim and the send: no
//! duplicate, no loss.

use std::time::{Duration, Instant};

use chrono::Utc;
use sqlx::{Connection, PgConnection};
use wacrm_core::events::{self, Cause, Event};
use wacrm_core::whatsapp::fake::FakeGraph;
use wacrm_core::{AccountId, BusinessId, ContactId, MessageId};
use wacrm_e2e::{ConfigDir, TestDb, binary, shop, wacrm, wacrm_with_env};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edit_checks_on_save_and_reopens_the_editor_on_an_error() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let fake = FakeGraph::start().await?;
    let b = shop(&db, &fake)?;
    let rule = ConfigDir::new();
    let file = rule.0.join("rule.json");
    std::fs::write(
        &file,
        r#"{"name": "mover", "trigger": "message_received", "action": {"move_stage": "Interested"}}"#,
    )?;
    wacrm(&db, &[&b[..], &["automation", "add", &file.display().to_string()]].concat()).ok()?;

    // The first save names a stage that does not exist; the second, in the re-opened editor, fixes it.
    let script = rule.0.join("editor.sh");
    let counter = rule.0.join("opened");
    std::fs::write(
        &script,
        r#"n=$(cat "$COUNTER" 2>/dev/null || echo 0); n=$((n + 1)); echo $n > "$COUNTER"
if [ $n = 1 ]; then sed -i 's/"Interested"/"Won"/' "$1"; else sed -i 's/"Won"/"Engaged"/' "$1"; fi
"#,
    )?;
    let editor = format!("sh {}", script.display());
    let env = [("EDITOR", editor.as_str()), ("VISUAL", ""), ("COUNTER", &counter.display().to_string())];
    let edited = wacrm_with_env(&db, &[&b[..], &["automation", "edit", "mover"]].concat(), &env).ok()?;
    assert!(edited.stderr.contains("$.action") && edited.stderr.contains("Won"), "{}", edited.stderr);
    assert!(edited.stdout.contains("saved"), "{}", edited.stdout);
    assert_eq!(std::fs::read_to_string(&counter)?.trim(), "2", "the editor opened twice");
    let shown = wacrm(&db, &[&b[..], &["--json", "automation", "show", "mover"]].concat()).ok()?.json()?;
    assert_eq!(shown["action"]["move_stage"], "Engaged", "{shown}");

    // An editor that saves nothing new changes nothing.
    let unchanged = wacrm_with_env(&db, &[&b[..], &["automation", "edit", "mover"]].concat(), &[("EDITOR", "true")]);
    assert!(unchanged.ok()?.stdout.contains("not changed"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_between_claim_and_send_neither_duplicates_nor_loses_the_reply() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let fake = FakeGraph::start().await?;
    let b = shop(&db, &fake)?;
    wacrm(&db, &[&b[..], &["contacts", "add", "--phone", "+14155550001", "--name", "Ann Lee"]].concat()).ok()?;
    let dir = ConfigDir::new();
    let file = dir.0.join("rule.json");
    std::fs::write(
        &file,
        r#"{"name": "thanks", "trigger": "message_received", "condition": {"contains": "price"},
            "action": {"send_text": "Thanks! Our prices start at 10 USD."}}"#,
    )?;
    wacrm(&db, &[&b[..], &["automation", "add", &file.display().to_string()]].concat()).ok()?;

    // The customer writes (as ingest records it: the window opens, the event is written).
    let pool = wacrm_core::db::connect_url(&db.url).await?;
    let (business, contact): (i32, i32) = sqlx::query_as(
        "UPDATE contacts SET last_inbound_at = now() WHERE phone = '+14155550001' RETURNING business_id, id",
    )
    .fetch_one(&pool)
    .await?;
    let mut tx = pool.begin().await?;
    let message = Event::MessageReceived {
        message_id: MessageId(1),
        wamid: "wamid.in.1".into(),
        account_id: AccountId(1),
        kind: "text".into(),
        text: "what is the price?".into(),
        context_wamid: None,
        sent_at: Utc::now(),
    };
    events::emit(&mut tx, BusinessId(business), Some(ContactId(contact)), message, Cause::customer()).await?;
    tx.commit().await?;

    // The send locks the contact first: holding that lock stops the runner right after its claim.
    let mut holder = PgConnection::connect(&db.url).await?;
    let mut lock = holder.begin().await?;
    sqlx::query("SELECT id FROM contacts WHERE id = $1 FOR UPDATE").bind(contact).execute(&mut *lock).await?;
    let config = ConfigDir::new();
    let spawn = || {
        std::process::Command::new(binary("wacrm"))
            .args(["--database-url", &db.url, "automation", "run-once"])
            .env_remove("DATABASE_URL")
            .env("WACRM_CONFIG", config.config())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
    };
    let mut runner = spawn()?;
    // A pass hands over only events older than every open transaction on the server (other tests'
    // too): a pass that ended without the event is followed by another, until one claims the send.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut claimed = false;
    while !claimed && Instant::now() < deadline {
        let status: Option<String> = sqlx::query_scalar("SELECT status FROM automation_actions WHERE business_id = $1")
            .bind(business)
            .fetch_optional(&pool)
            .await?;
        claimed = status.as_deref() == Some("sending");
        if !claimed && runner.try_wait()?.is_some() {
            runner = spawn()?;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(claimed, "the runner claimed the send");
    runner.kill()?; // SIGKILL
    runner.wait()?;
    lock.rollback().await?;
    assert!(fake.requests().is_empty(), "killed before the send");

    // Later (the claim goes stale), the next pass sends it, once; further passes send nothing.
    sqlx::query("UPDATE automation_actions SET updated_at = now() - interval '1 hour' WHERE business_id = $1")
        .bind(business)
        .execute(&pool)
        .await?;
    for _ in 0..2 {
        wacrm(&db, &["automation", "run-once"]).ok()?;
    }
    let sent: Vec<String> = fake.requests().iter().filter_map(|r| r.to().map(str::to_string)).collect();
    assert_eq!(sent, ["14155550001"], "no loss, no duplicate");
    let runs = wacrm(&db, &[&b[..], &["--json", "automation", "runs"]].concat()).ok()?.json()?;
    assert_eq!(runs[0]["actions"][0]["status"], "done", "{runs}");
    Ok(())
}
