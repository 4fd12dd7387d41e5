//! `wacrm login` from the shell: the saved session is who acts, and naming a business never turns a
//! logged-in agent into the system.

use wacrm_e2e::{ConfigDir, Run, TestDb, wacrm, wacrm_with_env};

#[tokio::test]
async fn a_logged_in_agent_cannot_take_system_rights_by_naming_a_business() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let acme = wacrm(&db, &["--json", "business", "create", "--name", "Acme", "--email", "owner@acme.test"])
        .ok()?
        .json()?["id"]
        .to_string();
    let other = wacrm(&db, &["--json", "business", "create", "--name", "Other", "--email", "owner@other.test"])
        .ok()?
        .json()?["id"]
        .to_string();
    let password = ("WACRM_PASSWORD", "a long password");
    let add = ["--business", "owner@acme.test", "users", "add", "--name", "Ana", "--email", "ana@acme.test"];
    wacrm_with_env(&db, &add, &[password]).ok()?;

    let dir = ConfigDir::new();
    let config = dir.config();
    let as_ana = |args: &[&str], env: &[(&str, &str)]| -> Run {
        let mut env = env.to_vec();
        env.push(("WACRM_CONFIG", &config));
        wacrm_with_env(&db, args, &env)
    };
    as_ana(&["login", "--email", "ana@acme.test"], &[password]).ok()?;

    // Naming her own business (by e-mail or id, flag or environment) changes nothing: she is still Ana.
    for (args, env) in [
        (vec!["--json", "--business", "owner@acme.test", "whoami"], vec![]),
        (vec!["--json", "--business", acme.as_str(), "whoami"], vec![]),
        (vec!["--json", "whoami"], vec![("WACRM_BUSINESS", "owner@acme.test")]),
    ] {
        let who = as_ana(&args, &env).ok()?.json()?;
        assert_eq!((who["actor"].as_str(), who["role"].as_str()), (Some("user"), Some("agent")), "{args:?}: {who}");
    }
    // Before, this listed the team as the system: agents may not see the admin area, named business or not.
    let users = as_ana(&["--business", "owner@acme.test", "users", "list"], &[]);
    assert_eq!(users.code, 8, "{users:?}");
    assert!(users.stderr.contains("role agent"), "{}", users.stderr);
    let billing = as_ana(&["billing", "subscription"], &[("WACRM_BUSINESS", acme.as_str())]);
    assert_eq!(billing.code, 8, "{billing:?}");

    // Another business, or one that does not exist, is refused alike with what to do instead.
    for named in ["owner@other.test", other.as_str(), "nobody@nowhere.test"] {
        let refused = as_ana(&["--business", named, "contacts", "list"], &[]);
        assert_eq!(refused.code, 8, "{named}: {refused:?}");
        assert!(refused.stdout.is_empty(), "{named}: {}", refused.stdout);
        assert!(refused.stderr.contains("you are logged in to business"), "{named}: {}", refused.stderr);
        assert!(refused.stderr.contains("hint: ") && refused.stderr.contains("wacrm logout"), "{}", refused.stderr);
    }
    let by_env = as_ana(&["--json", "contacts", "list"], &[("WACRM_BUSINESS", "owner@other.test")]);
    assert_eq!(by_env.code, 8, "{by_env:?}");
    // Her own contacts she still works.
    as_ana(&["contacts", "list"], &[]).ok()?;
    // The raw webhook log spans every business: not hers to read or replay.
    for args in [vec!["webhook", "events"], vec!["webhook", "replay", "--since", "1d", "--dry-run"]] {
        let refused = as_ana(&args, &[]);
        assert_eq!(refused.code, 8, "{args:?}: {refused:?}");
        assert!(refused.stderr.contains("installation's operator"), "{}", refused.stderr);
    }

    // Logged out, naming a business is the administrators' and cron's way in, as before.
    as_ana(&["logout"], &[]).ok()?;
    let who = as_ana(&["--json", "--business", "owner@acme.test", "whoami"], &[]).ok()?.json()?;
    assert_eq!(who["actor"], "system", "{who}");
    as_ana(&["webhook", "events"], &[]).ok()?;
    Ok(())
}

/// Who may do what, walked command by command as a logged-in agent and a logged-in admin: commands that
/// reach every business (or the shared database) are the installation operator's, never a login's.
#[tokio::test]
async fn every_command_is_allowed_or_refused_by_role_as_the_table_says() -> anyhow::Result<()> {
    const FORBIDDEN: i32 = 8;
    // (command, exit code as an agent, exit code as an admin)
    let table: &[(&[&str], i32, i32)] = &[
        (&["business", "list"], FORBIDDEN, FORBIDDEN),
        (&["business", "create", "--name", "Mine", "--email", "mine@x.test"], FORBIDDEN, FORBIDDEN),
        (&["db", "stop"], FORBIDDEN, FORBIDDEN),
        (&["webhook", "events"], FORBIDDEN, FORBIDDEN),
        (&["users", "add", "--name", "Eve", "--email", "eve@acme.test", "--role", "agent"], FORBIDDEN, 0),
        (&["users", "list"], FORBIDDEN, 0),
        (&["accounts", "deactivate", "999"], FORBIDDEN, 3),
        (&["billing", "subscription"], FORBIDDEN, 0),
        (&["business", "show"], 0, 0),
        (&["inbox", "list"], 0, 0),
        (&["contacts", "list"], 0, 0),
        (&["pipeline", "board"], 0, 0),
        (&["whoami"], 0, 0),
    ];
    let db = TestDb::new().await?;
    wacrm(&db, &["business", "create", "--name", "Acme", "--email", "owner@acme.test"]).ok()?;
    let password = ("WACRM_PASSWORD", "a long password");
    for (email, role) in [("ana@acme.test", "agent"), ("bob@acme.test", "admin")] {
        let add = ["--business", "owner@acme.test", "users", "add", "--name", role, "--email", email, "--role", role];
        wacrm_with_env(&db, &add, &[password]).ok()?;
    }
    let mut wrong = Vec::new();
    for (email, role) in [("ana@acme.test", "agent"), ("bob@acme.test", "admin")] {
        let dir = ConfigDir::new();
        let config = dir.config();
        let env = [("WACRM_CONFIG", config.as_str()), password];
        wacrm_with_env(&db, &["login", "--email", email], &env).ok()?;
        for &(command, as_agent, as_admin) in table {
            let expected = if role == "agent" { as_agent } else { as_admin };
            let run = wacrm_with_env(&db, command, &env);
            if run.code != expected {
                wrong.push(format!("{role} {command:?}: exit {} not {expected}: {}", run.code, run.stderr.trim()));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    Ok(())
}
