//! `wacrm login` sessions: tokens are stored hashed, re-check the user and role on every use, and end on
//! logout or when the user goes.

use secrecy::ExposeSecret;
use sqlx::PgPool;
use wacrm_core::auth::{self, Role};
use wacrm_core::{Actor, Area, Error, Scope, business};

use crate::wording::ShellHint;

async fn tenant_with_agent(pool: &PgPool) -> Scope {
    let (b, _) = business::create(pool, "Session Co", "owner@session.test", "US").await.unwrap();
    let system = Scope::for_business(pool, b.id).await.unwrap();
    auth::add_user(pool, &system, "Ana Agent", "ana@session.test", "correct-horse", Role::Agent).await.unwrap();
    system
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn login_gives_a_token_that_resolves_to_the_user_scope(pool: PgPool) {
    let system = tenant_with_agent(&pool).await;
    let (login, token) = auth::login(&pool, "ANA@session.test", "correct-horse", None).await.unwrap();
    assert_eq!(login.business, system.business());
    assert!(token.expose_secret().starts_with("wacrm_"));

    let scope = auth::session_scope(&pool, token.expose_secret()).await.unwrap();
    assert_eq!(scope.business(), system.business());
    assert_eq!(scope.actor(), &Actor::User { id: login.user, role: Role::Agent });
    assert!(scope.require(Area::Inbox).is_ok());
    assert!(matches!(scope.require(Area::Billing), Err(Error::Forbidden { .. })));

    let who = auth::identity(&pool, &scope).await.unwrap();
    assert_eq!(who.business_name, "Session Co");
    assert_eq!(who.label(), "Ana Agent (agent)");
    assert_eq!(auth::identity(&pool, &system).await.unwrap().label(), "system");

    let stored: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM user_sessions").fetch_one(&pool).await.unwrap();
    assert!(!stored.windows(6).any(|w| w == b"wacrm_"), "the token itself must not be stored");
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_wrong_password_opens_no_session(pool: PgPool) {
    tenant_with_agent(&pool).await;
    let err = auth::login(&pool, "ana@session.test", "wrong-horse", None).await.unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err}");
    let sessions: i64 = sqlx::query_scalar("SELECT count(*) FROM user_sessions").fetch_one(&pool).await.unwrap();
    assert_eq!(sessions, 0);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn role_changes_apply_to_open_sessions(pool: PgPool) {
    tenant_with_agent(&pool).await;
    let (_, token) = auth::login(&pool, "ana@session.test", "correct-horse", None).await.unwrap();
    sqlx::query("UPDATE users SET role = 'admin' WHERE email = 'ana@session.test'").execute(&pool).await.unwrap();
    let scope = auth::session_scope(&pool, token.expose_secret()).await.unwrap();
    assert!(scope.require(Area::Billing).is_ok());
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn logout_expiry_and_user_removal_end_the_session(pool: PgPool) {
    tenant_with_agent(&pool).await;
    let (_, token) = auth::login(&pool, "ana@session.test", "correct-horse", None).await.unwrap();
    assert!(auth::logout(&pool, token.expose_secret()).await.unwrap());
    assert!(!auth::logout(&pool, token.expose_secret()).await.unwrap());
    let err = auth::session_scope(&pool, token.expose_secret()).await.unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err}");

    let (_, expired) = auth::login(&pool, "ana@session.test", "correct-horse", None).await.unwrap();
    sqlx::query("UPDATE user_sessions SET expires_at = NOW() - INTERVAL '1 second'").execute(&pool).await.unwrap();
    assert!(auth::session_scope(&pool, expired.expose_secret()).await.is_err());

    let (_, live) = auth::login(&pool, "ana@session.test", "correct-horse", None).await.unwrap();
    sqlx::query("DELETE FROM users WHERE email = 'ana@session.test'").execute(&pool).await.unwrap();
    assert!(auth::session_scope(&pool, live.expose_secret()).await.is_err());
    assert!(auth::session_scope(&pool, "wacrm_garbage").await.is_err());
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_logged_in_user_may_name_only_their_own_business(pool: PgPool) {
    let system = tenant_with_agent(&pool).await;
    let (other, _) = business::create(&pool, "Other Co", "owner@other.test", "US").await.unwrap();
    let (_, token) = auth::login(&pool, "ana@session.test", "correct-horse", None).await.unwrap();
    let agent = auth::session_scope(&pool, token.expose_secret()).await.unwrap();

    for own in ["owner@session.test", " OWNER@Session.test ", &system.business().to_string()] {
        agent.require_named_business(&pool, own).await.unwrap_or_else(|e| panic!("{own:?}: {e}"));
    }
    // Another tenant and a business that does not exist get the same refusal: nothing to probe.
    let mut refusals = Vec::new();
    for foreign in ["owner@other.test", &other.id.to_string(), "nobody@nowhere.test", "424242"] {
        match agent.require_named_business(&pool, foreign).await {
            Err(err @ Error::Forbidden { .. }) => {
                assert!(err.hint().is_some_and(|h| h.contains("wacrm logout")), "{err}");
                refusals.push(err.to_string().replace(foreign, "<named>"));
            }
            other => panic!("{foreign:?}: {other:?}"),
        }
    }
    assert!(refusals.windows(2).all(|w| w[0] == w[1]), "{refusals:?}");
    // The check leaves the user a user: their role still decides.
    assert!(matches!(agent.require(Area::Admin), Err(Error::Forbidden { .. })));
    // Without a login the named business is simply whom the system acts for.
    let foreign = Scope::for_business(&pool, other.id).await.unwrap();
    assert!(foreign.require_named_business(&pool, "owner@session.test").await.is_ok());
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn failed_logins_are_limited_per_e_mail_and_a_success_clears_them(pool: PgPool) {
    tenant_with_agent(&pool).await;
    let attempt = |email: &'static str, password: &'static str| {
        let pool = pool.clone();
        async move { auth::verify_login(&pool, email, password, None).await }
    };
    // One short of the limit, then the right password: the count starts again.
    for _ in 1..auth::MAX_FAILED_LOGINS {
        assert!(attempt("ana@session.test", "guess").await.is_err());
    }
    attempt("Ana@Session.test", "correct-horse").await.unwrap();
    for _ in 0..auth::MAX_FAILED_LOGINS {
        let wrong = attempt("ana@session.test", "guess").await.unwrap_err();
        assert_eq!(wrong.to_string(), "wrong e-mail or password");
    }
    // Past the limit even the right password is refused, with how long to wait; other e-mails are not.
    let paused = attempt("ANA@session.test", "correct-horse").await.unwrap_err();
    assert!(matches!(paused, Error::Forbidden { .. }), "{paused:?}");
    assert!(paused.to_string().contains("too many failed logins"), "{paused}");
    assert!(paused.hint().is_some_and(|h| h.contains("15 minutes")), "{paused:?}");
    // Unknown e-mails are counted (and answered) the same way as known ones.
    for _ in 0..auth::MAX_FAILED_LOGINS {
        assert_eq!(attempt("nobody@session.test", "guess").await.unwrap_err().to_string(), "wrong e-mail or password");
    }
    assert!(attempt("nobody@session.test", "guess").await.unwrap_err().to_string().contains("too many"));
    auth::add_user(
        &pool,
        &Scope::for_business_ref(&pool, "owner@session.test").await.unwrap(),
        "Bo",
        "bo@session.test",
        "another-horse",
        Role::Agent,
    )
    .await
    .unwrap();
    attempt("bo@session.test", "another-horse").await.unwrap();
}
