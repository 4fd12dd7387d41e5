//! The README's "Using it" examples run as written, in order, in one shell (so its `export` carries
//! over), against a fresh database with the built binaries on the PATH. Every line must succeed, except
//! the few adapted below, each with its reason.

use std::process::Command;

use anyhow::{Context, Result};
use wacrm_e2e::{ConfigDir, TestDb, binary};

/// Lines run differently from the README, by their start: what is done and why.
const ADAPTED: &[(&str, Adapted)] = &[
    // A daemon serves until stopped: it must still be serving after a few seconds.
    ("WACRM_APP_SECRET=… WACRM_VERIFY_TOKEN=… wacrm-webhookd", Adapted::Serves),
    // Follows events until interrupted: stopped after a few seconds, the pipe ends cleanly.
    ("wacrm events tail", Adapted::Serves),
    // The examples name conversation 12, which a fresh business does not have: refused as not found.
    ("wacrm inbox snooze 12", Adapted::NotFound),
    ("wacrm inbox note 12", Adapted::NotFound),
    // A crontab line: the command after the five schedule fields.
    ("* * * * * ", Adapted::CronLine),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Adapted {
    Serves,
    NotFound,
    CronLine,
}

/// The README's example session: the shell block that starts with `wacrm business create`.
fn examples() -> Result<Vec<String>> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))?;
    let mut blocks = readme.split("```sh\n").skip(1).map(|rest| rest.split("```").next().unwrap_or(""));
    let block =
        blocks.find(|b| b.starts_with("wacrm business create")).context("the README's example session is missing")?;
    Ok(block.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect())
}

#[tokio::test]
async fn the_readme_examples_run_as_written() -> Result<()> {
    let db = TestDb::new().await?;
    let config = ConfigDir::new();
    let work = ConfigDir::new();
    std::fs::write(work.0.join("leads.csv"), "phone,name,tags\n+447700900456,Bea Jones,vip\n+447700900789,Cal,\n")?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let bin = binary("wacrm");
    let bin_dir = bin.parent().context("binary dir")?;

    let lines = examples()?;
    assert!(lines.len() >= 15, "{lines:?}");
    let mut script = String::from("exec 2>&1\n");
    let mut expected = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let adapted = ADAPTED.iter().find(|(start, _)| line.starts_with(start)).map(|(_, a)| *a);
        let command = match adapted {
            // `env` runs a line that starts with variable assignments.
            Some(Adapted::Serves) => format!("timeout 3 env {line}"),
            Some(Adapted::CronLine) => line.splitn(6, ' ').nth(5).unwrap_or_default().to_string(),
            _ => line.clone(),
        };
        script.push_str(&format!("echo '>>> {n}'\nSECONDS=0\n{command}\necho \"<<< {n} $? ${{SECONDS}}s\"\n"));
        expected.push((n, line, adapted));
    }
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&work.0)
        .env("PATH", format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default()))
        .env("WACRM_DATABASE_URL", &db.url)
        .env("WACRM_CONFIG", config.config())
        .env("WACRM_WEBHOOK_LISTEN", format!("127.0.0.1:{port}"))
        .env("WA_TOKEN", "EAAG-test-token")
        // What the agent types at the login prompt (off a terminal, the documented variable).
        .env("WACRM_PASSWORD", "s3cret-pass")
        .env("NO_COLOR", "1")
        .env_remove("DATABASE_URL")
        .env_remove("WACRM_BUSINESS")
        .output()?;
    let transcript = String::from_utf8_lossy(&out.stdout);
    for (n, line, adapted) in expected {
        let status = transcript
            .lines()
            .find_map(|l| l.strip_prefix(&format!("<<< {n} ")))
            .and_then(|code| code.split_whitespace().next()?.parse::<i32>().ok())
            .with_context(|| format!("line {n} did not finish: {line}\n{transcript}"))?;
        let output = transcript.split(&format!(">>> {n}\n")).nth(1).and_then(|rest| rest.split("<<< ").next());
        let ok = match adapted {
            Some(Adapted::Serves) => status == 124 || status == 0,
            Some(Adapted::NotFound) => status == 3 && output.is_some_and(|o| o.contains("not found")),
            _ => status == 0,
        };
        let timings: Vec<&str> = transcript.lines().filter(|l| l.starts_with("<<< ")).collect();
        assert!(
            ok,
            "README line {n} `{line}` exited {status}:\n{}\n(line, exit, time: {timings:?})",
            output.unwrap_or("")
        );
    }
    // The session did what it says.
    assert!(transcript.contains("saved /ship (fields: name)"), "{transcript}");
    let session = std::fs::read_dir(&config.0)?.filter_map(|e| e.ok()).any(|e| e.file_name() == "session.json");
    assert!(session, "the closing login saved a session");
    Ok(())
}
