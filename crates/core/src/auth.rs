//! Users, roles and the acting context ([`Scope`]) that every core operation takes.

use std::fmt;
use std::str::FromStr;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::error::{Error, Result, input, op};
use crate::types::{BusinessId, UserId, email_address, plain_name};

/// A team member's role. Agents work the inbox, contacts and pipeline; admins and owners everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Agent,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Agent => "agent",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Role> {
        match s.trim().to_ascii_lowercase().as_str() {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "agent" => Ok(Role::Agent),
            _ => Err(Error::invalid(format!("{s:?} is not a role"), "use one of: owner, admin, agent")),
        }
    }
}

/// The dashboards and administrative areas a role may or may not reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Inbox,
    Contacts,
    Pipeline,
    Automation,
    Broadcast,
    Templates,
    Analytics,
    Billing,
    /// Users, WhatsApp accounts, business settings.
    Admin,
}

impl Area {
    fn allowed_for(self, role: Role) -> bool {
        match role {
            Role::Owner | Role::Admin => true,
            Role::Agent => matches!(self, Area::Inbox | Area::Contacts | Area::Pipeline),
        }
    }
}

/// Who is acting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Actor {
    /// An administrator or cron job acting for a business by naming it (`--business`), or the webhook
    /// daemon acting for the business that owns the receiving number.
    System,
    /// A logged-in team member.
    User { id: UserId, role: Role },
}

/// The acting context: which business the operation is on, and who does it. Only core builds one,
/// after checking that the business (and user) exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    business: BusinessId,
    actor: Actor,
}

impl Scope {
    /// A system scope for a business known to exist (the caller just read it from the database).
    pub(crate) fn system(business: BusinessId) -> Scope {
        Scope { business, actor: Actor::System }
    }

    pub fn business(&self) -> BusinessId {
        self.business
    }

    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The acting user, if a person (not the system) acts.
    pub fn user(&self) -> Option<UserId> {
        match self.actor {
            Actor::User { id, .. } => Some(id),
            Actor::System => None,
        }
    }

    /// Fails with `Forbidden` unless the actor may work in `area`.
    pub fn require(&self, area: Area) -> Result<()> {
        match self.actor {
            Actor::System => Ok(()),
            Actor::User { role, .. } if area.allowed_for(role) => Ok(()),
            Actor::User { role, .. } => Err(Error::forbidden(format!("a user with role {role} may not use {area:?}"))),
        }
    }

    /// A system scope for `business` after checking it exists.
    pub async fn for_business(pool: &PgPool, business: BusinessId) -> Result<Scope> {
        let found =
            sqlx::query_scalar!("SELECT id FROM businesses WHERE id = $1", business.0).fetch_optional(pool).await?;
        found.map(|id| Scope::system(BusinessId(id))).ok_or_else(|| Error::not_found(format!("business {business}")))
    }

    /// Resolves `--business` as given by a person: an id or the business's e-mail.
    pub async fn for_business_ref(pool: &PgPool, reference: &str) -> Result<Scope> {
        let reference = reference.trim();
        if let Ok(id) = reference.parse::<BusinessId>() {
            return Scope::for_business(pool, id).await;
        }
        let found = sqlx::query_scalar!("SELECT id FROM businesses WHERE lower(email) = lower($1)", reference)
            .fetch_optional(pool)
            .await?;
        found.map(|id| Scope::system(BusinessId(id))).ok_or_else(|| Error::not_found(format!("business {reference:?}")))
    }

    /// Checks a business named alongside a login (`--business`, `WACRM_BUSINESS`, the config file): a
    /// logged-in user acts as themselves, so the name may only be their own business (its id or
    /// e-mail). Any other is refused — never a switch to the system's rights, and an unknown business
    /// gets the same answer as another tenant's, so a user cannot probe which businesses exist.
    pub async fn require_named_business(&self, pool: &PgPool, reference: &str) -> Result<()> {
        let Actor::User { .. } = self.actor else { return Ok(()) };
        match Scope::for_business_ref(pool, reference).await {
            Ok(named) if named.business == self.business => Ok(()),
            Ok(_) | Err(Error::NotFound { .. }) => Err(Error::Forbidden {
                message: format!(
                    "you are logged in to business {}, so you cannot act for business {:?}",
                    self.business,
                    reference.trim()
                ),
                hint: Some(format!(
                    "drop the acting business ({}, WACRM_BUSINESS, or `business` in the config file) to act as \
                     yourself, or log out first ({}) to act for a business as its administrator",
                    input("business"),
                    op("logout")
                )),
            }),
            Err(other) => Err(other),
        }
    }

    /// The scope of a user of a business, after checking the user still exists there (roles can change
    /// between a login and a command).
    pub async fn for_user(pool: &PgPool, business: BusinessId, user: UserId) -> Result<Scope> {
        let row = sqlx::query!("SELECT role FROM users WHERE business_id = $1 AND id = $2", business.0, user.0)
            .fetch_optional(pool)
            .await?
            .ok_or_else(|| Error::not_found(format!("user {user}")))?;
        let role = stored_role(row.role).parse()?;
        Ok(Scope { business, actor: Actor::User { id: user, role } })
    }
}

/// A user's role as stored. The seed's column is nullable; a NULL role gets the least privilege rather
/// than the column's default of owner, so a damaged row never grants more than it should.
fn stored_role(role: Option<String>) -> String {
    role.unwrap_or_else(|| Role::Agent.as_str().into())
}

/// A team member as listed.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: UserId,
    pub name: String,
    pub email: String,
    pub role: String,
    pub created_at: Option<DateTime<Utc>>,
}

/// Hashing is deliberately slow (argon2), so it runs off the async runtime.
async fn hash_password(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| Error::invalid(format!("cannot hash the password: {e}"), "use another password"))
    })
    .await
    .map_err(|e| Error::io("password hashing task", std::io::Error::other(e)))?
}

async fn password_matches(password: String, stored_hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored_hash)
            .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

pub const MIN_PASSWORD_LEN: usize = 8;

/// Adds a team member (admin only). The password is stored as an argon2 hash.
pub async fn add_user(
    pool: &PgPool,
    scope: &Scope,
    name: &str,
    email: &str,
    password: &str,
    role: Role,
) -> Result<User> {
    scope.require(Area::Admin)?;
    let name = plain_name("user's name", name)?;
    let name = name.as_str();
    if name.is_empty() {
        return Err(Error::invalid(
            "the user's name is empty",
            format!("give the user's full name ({})", input("name")),
        ));
    }
    let email = email_address(email)?;
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(Error::invalid(
            format!("the password is shorter than {MIN_PASSWORD_LEN} characters"),
            "choose a longer password",
        ));
    }
    let hash = hash_password(password.to_string()).await?;
    let row = sqlx::query!(
        r#"INSERT INTO users (business_id, name, email, password_hash, role)
           VALUES ($1, $2, $3, $4, $5)
           RETURNING id, created_at"#,
        scope.business().0,
        name,
        email,
        hash,
        role.as_str()
    )
    .fetch_one(pool)
    .await?;
    Ok(User { id: UserId(row.id), name: name.to_string(), email, role: role.to_string(), created_at: row.created_at })
}

/// A team member a conversation can be assigned to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Teammate {
    pub id: UserId,
    pub name: String,
}

/// The business's users by name, for whoever works the inbox (assigning needs no admin rights).
pub async fn teammates(pool: &PgPool, scope: &Scope) -> Result<Vec<Teammate>> {
    scope.require(Area::Inbox)?;
    let rows = sqlx::query!("SELECT id, name FROM users WHERE business_id = $1 ORDER BY name, id", scope.business().0)
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(|r| Teammate { id: UserId(r.id), name: r.name }).collect())
}

pub async fn list_users(pool: &PgPool, scope: &Scope) -> Result<Vec<User>> {
    scope.require(Area::Admin)?;
    let rows = sqlx::query!(
        r#"SELECT id, name, email, role, created_at FROM users WHERE business_id = $1 ORDER BY id"#,
        scope.business().0
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| User {
            id: UserId(r.id),
            name: r.name,
            email: r.email,
            role: stored_role(r.role),
            created_at: r.created_at,
        })
        .collect())
}

/// Who logged in, and where.
#[derive(Debug, Clone, Serialize)]
pub struct Login {
    pub business: BusinessId,
    pub business_name: String,
    pub user: UserId,
    pub user_name: String,
    pub role: String,
}

/// Failed logins an e-mail may have within [`FAILED_LOGIN_WINDOW_MINUTES`]; past them every login with
/// it is refused, the right password included, until the window has moved on.
pub const MAX_FAILED_LOGINS: i64 = 10;
pub const FAILED_LOGIN_WINDOW_MINUTES: i32 = 15;

/// Checks an e-mail and password against `users.password_hash`. The same e-mail may belong to users
/// of several businesses; `business` picks one, otherwise the password decides (the first match).
/// A wrong e-mail and a wrong password give the same answer, in the same time (an unknown e-mail is
/// checked against a stand-in hash), and failures are limited per e-mail ([`MAX_FAILED_LOGINS`]).
pub async fn verify_login(pool: &PgPool, email: &str, password: &str, business: Option<BusinessId>) -> Result<Login> {
    let key = email.trim().to_lowercase();
    let recent_failures = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM login_failures
           WHERE email = $1 AND failed_at > NOW() - make_interval(mins => $2)"#,
        key,
        FAILED_LOGIN_WINDOW_MINUTES
    )
    .fetch_one(pool)
    .await?;
    if recent_failures >= MAX_FAILED_LOGINS {
        return Err(Error::Forbidden {
            message: format!("too many failed logins for {key}: logins with it are paused"),
            hint: Some(format!(
                "wait {FAILED_LOGIN_WINDOW_MINUTES} minutes and try again, or ask an admin to check the e-mail"
            )),
        });
    }
    let login = check_password(pool, &key, password, business).await?;
    match &login {
        Some(_) => sqlx::query!("DELETE FROM login_failures WHERE email = $1", key).execute(pool).await?,
        None => {
            sqlx::query!(
                r#"WITH pruned AS (
                       DELETE FROM login_failures
                       WHERE email = $1 AND failed_at <= NOW() - make_interval(mins => $2)
                   )
                   INSERT INTO login_failures (email) VALUES ($1)"#,
                key,
                FAILED_LOGIN_WINDOW_MINUTES
            )
            .execute(pool)
            .await?
        }
    };
    login.ok_or_else(|| Error::forbidden("wrong e-mail or password"))
}

/// The user `email` and `password` name, if any; always at least one argon2 verification, so an
/// unknown e-mail takes as long to refuse as a wrong password.
async fn check_password(
    pool: &PgPool,
    email: &str,
    password: &str,
    business: Option<BusinessId>,
) -> Result<Option<Login>> {
    let candidates = sqlx::query!(
        r#"SELECT u.id, u.business_id, u.name, u.role, u.password_hash, b.business_name
           FROM users u JOIN businesses b ON b.id = u.business_id
           WHERE lower(u.email) = lower($1) AND ($2::int IS NULL OR u.business_id = $2)
           ORDER BY u.business_id"#,
        email,
        business.map(|b| b.0)
    )
    .fetch_all(pool)
    .await?;
    if candidates.is_empty() {
        password_matches(password.to_string(), STAND_IN_HASH.to_string()).await;
        return Ok(None);
    }
    for c in candidates {
        if password_matches(password.to_string(), c.password_hash).await {
            return Ok(Some(Login {
                business: BusinessId(c.business_id),
                business_name: c.business_name,
                user: UserId(c.id),
                user_name: c.name,
                role: stored_role(c.role),
            }));
        }
    }
    Ok(None)
}

/// A hash made the way users' are (argon2's defaults), of a throwaway password, to verify
/// unknown e-mails against (the outcome is ignored) in the time a known one takes. A constant: hashing one per `wacrm login`
/// process would make unknown e-mails the slower ones.
const STAND_IN_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$zAxulleV3/qXbhD7w39yfg$KP0gB8mVZUHDNLV9cNBwSvYkrYT+vqf8QlUgjNJMomI";

/// How long a login lasts unused; every command made with it pushes the expiry forward again.
pub const SESSION_IDLE_DAYS: i32 = 30;

/// A login's bearer secret: `wacrm_` and 64 hex digits of randomness. Only its SHA-256 is stored.
fn new_session_token() -> SecretString {
    SecretString::from(format!("wacrm_{}", hex::encode(rand::random::<[u8; 32]>())))
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.trim().as_bytes()).to_vec()
}

/// Checks an e-mail and password ([`verify_login`]) and opens a session for that user. The returned
/// token is shown to nobody: the CLI stores it in the user's config dir and presents it on each command.
pub async fn login(
    pool: &PgPool,
    email: &str,
    password: &str,
    business: Option<BusinessId>,
) -> Result<(Login, SecretString)> {
    let login = verify_login(pool, email, password, business).await?;
    let token = new_session_token();
    sqlx::query!(
        r#"INSERT INTO user_sessions (business_id, user_id, token_hash, expires_at)
           VALUES ($1, $2, $3, NOW() + make_interval(days => $4))"#,
        login.business.0,
        login.user.0,
        token_hash(token.expose_secret()),
        SESSION_IDLE_DAYS
    )
    .execute(pool)
    .await?;
    Ok((login, token))
}

/// The scope of the session a token names, re-reading the user's current role, and renewing the
/// session's expiry. An unknown, ended or expired token, or a removed user, is refused alike.
pub async fn session_scope(pool: &PgPool, token: &str) -> Result<Scope> {
    let row = sqlx::query!(
        r#"UPDATE user_sessions s
           SET last_used_at = NOW(), expires_at = NOW() + make_interval(days => $2)
           FROM users u
           WHERE s.token_hash = $1 AND s.expires_at > NOW()
             AND u.business_id = s.business_id AND u.id = s.user_id
           RETURNING s.business_id, s.user_id, u.role"#,
        token_hash(token),
        SESSION_IDLE_DAYS
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| Error::forbidden("the saved login has expired or was ended"))?;
    let role = stored_role(row.role).parse()?;
    Ok(Scope { business: BusinessId(row.business_id), actor: Actor::User { id: UserId(row.user_id), role } })
}

/// Ends the session a token names. Returns false when there was none (already logged out or expired).
pub async fn logout(pool: &PgPool, token: &str) -> Result<bool> {
    let deleted = sqlx::query!("DELETE FROM user_sessions WHERE token_hash = $1", token_hash(token))
        .execute(pool)
        .await?
        .rows_affected();
    Ok(deleted > 0)
}

/// Who acts, for `wacrm whoami` and the TUI's status bar.
#[derive(Debug, Clone, Serialize)]
pub struct Identity {
    pub business: BusinessId,
    pub business_name: String,
    /// `system` (acting by `--business`) or `user` (logged in).
    pub actor: &'static str,
    pub user: Option<UserId>,
    pub user_name: Option<String>,
    pub email: Option<String>,
    pub role: Option<Role>,
}

impl Identity {
    /// Who, in a few words: the user's name and role, or "system".
    pub fn label(&self) -> String {
        match (&self.user_name, self.role) {
            (Some(name), Some(role)) => format!("{name} ({role})"),
            _ => "system".into(),
        }
    }
}

/// Names the scope's business and user.
pub async fn identity(pool: &PgPool, scope: &Scope) -> Result<Identity> {
    let row = sqlx::query!(
        r#"SELECT b.business_name, u.name AS "user_name?", u.email AS "email?"
           FROM businesses b LEFT JOIN users u ON u.business_id = b.id AND u.id = $2
           WHERE b.id = $1"#,
        scope.business().0,
        scope.user().map(|u| u.0)
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| Error::not_found(format!("business {}", scope.business())))?;
    let role = match scope.actor {
        Actor::User { role, .. } => Some(role),
        Actor::System => None,
    };
    Ok(Identity {
        business: scope.business(),
        business_name: row.business_name,
        actor: if role.is_some() { "user" } else { "system" },
        user: scope.user(),
        user_name: row.user_name,
        email: row.email,
        role,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_stand_in_hash_costs_what_a_user_s_hash_costs() {
        let fresh = hash_password("anything at all".into()).await.unwrap();
        let params = |phc: &str| phc.rsplitn(3, '$').nth(2).map(str::to_string);
        assert_eq!(params(STAND_IN_HASH), params(&fresh), "{STAND_IN_HASH} vs {fresh}");
        assert!(!password_matches("a guess".into(), STAND_IN_HASH.into()).await);
    }

    #[test]
    fn agents_reach_only_the_working_dashboards() {
        let agent = Scope { business: BusinessId(1), actor: Actor::User { id: UserId(2), role: Role::Agent } };
        assert!(agent.require(Area::Inbox).is_ok());
        assert!(agent.require(Area::Pipeline).is_ok());
        assert!(matches!(agent.require(Area::Billing), Err(Error::Forbidden { .. })));
        assert!(matches!(agent.require(Area::Admin), Err(Error::Forbidden { .. })));
        let admin = Scope { business: BusinessId(1), actor: Actor::User { id: UserId(3), role: Role::Admin } };
        assert!(admin.require(Area::Billing).is_ok());
    }
}
