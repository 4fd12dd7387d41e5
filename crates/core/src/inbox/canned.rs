//! Canned replies: a business's saved answers, typed as `/shortcut` in a composer. A body may hold
//! `{{name}}`-style fields that the agent fills in before the text goes into the composer (nothing is
//! sent until the agent sends it).

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use sqlx::PgPool;

use crate::auth::{Area, Scope};
use crate::error::{Error, Result};
use crate::inbox::bounded_text;

/// The longest body (as long as a WhatsApp text).
pub const MAX_BODY: usize = 4096;

/// A canned reply's name: 1–32 of `a-z 0-9 _ -`, starting with a letter or digit (typed after `/`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Shortcut(String);

impl Shortcut {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Shortcut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Shortcut {
    type Err = Error;
    fn from_str(s: &str) -> Result<Shortcut> {
        let name = s.trim().trim_start_matches('/').to_ascii_lowercase();
        let valid = (1..=32).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if valid {
            Ok(Shortcut(name))
        } else {
            Err(Error::invalid(
                format!("{:?} is not a shortcut", s.trim()),
                "use 1 to 32 letters, digits, _ or -, e.g. shipping or refund-policy",
            ))
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CannedReply {
    pub shortcut: Shortcut,
    pub body: String,
    /// The `{{name}}` fields of the body, in order of first use.
    pub fields: Vec<String>,
}

impl CannedReply {
    fn new(shortcut: String, body: String) -> CannedReply {
        let fields = fields(&body);
        CannedReply { shortcut: Shortcut(shortcut), body, fields }
    }
}

/// The `{{name}}` fields of `body`, each once, in order of first use (`{{1}}`-style numbers are
/// template parameters, not fields).
pub fn fields(body: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for rest in body.split("{{").skip(1) {
        if let Some((name, _)) = rest.split_once("}}") {
            let name = name.trim();
            let usable = !name.is_empty()
                && !name.chars().all(|c| c.is_ascii_digit())
                && name.chars().all(|c| c.is_alphanumeric() || c == '_' || c == ' ');
            if usable && !names.iter().any(|n| n == name) {
                names.push(name.to_string());
            }
        }
    }
    names
}

/// `body` with each `{{name}}` replaced by its value; fields without a value stay as written.
pub fn expand(body: &str, values: &[(String, String)]) -> String {
    let mut out = body.to_string();
    for (name, value) in values {
        out = out.replace(&format!("{{{{{name}}}}}"), value);
        out = out.replace(&format!("{{{{ {name} }}}}"), value);
    }
    out
}

/// Saves a new canned reply; an existing shortcut is a conflict unless `replace`.
pub async fn add(pool: &PgPool, scope: &Scope, shortcut: &Shortcut, body: &str, replace: bool) -> Result<CannedReply> {
    scope.require(Area::Inbox)?;
    let body = bounded_text(body, "reply", MAX_BODY, "write the text the shortcut should insert")?;
    let saved = sqlx::query!(
        r#"INSERT INTO canned_replies (business_id, shortcut, body, created_by) VALUES ($1, $2, $3, $4)
           ON CONFLICT (business_id, shortcut) DO UPDATE SET body = EXCLUDED.body
           WHERE $5
           RETURNING shortcut, body"#,
        scope.business().0,
        shortcut.as_str(),
        body,
        scope.user().map(|u| u.0),
        replace
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| {
        Error::conflict(format!("/{shortcut} already exists"), "replace it explicitly, or remove it first")
    })?;
    Ok(CannedReply::new(saved.shortcut, saved.body))
}

/// Every canned reply of the business, by shortcut.
pub async fn list(pool: &PgPool, scope: &Scope) -> Result<Vec<CannedReply>> {
    scope.require(Area::Inbox)?;
    let rows = sqlx::query!(
        "SELECT shortcut, body FROM canned_replies WHERE business_id = $1 ORDER BY shortcut",
        scope.business().0
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| CannedReply::new(r.shortcut, r.body)).collect())
}

/// Deletes a canned reply.
pub async fn remove(pool: &PgPool, scope: &Scope, shortcut: &Shortcut) -> Result<()> {
    scope.require(Area::Inbox)?;
    let done = sqlx::query!(
        "DELETE FROM canned_replies WHERE business_id = $1 AND shortcut = $2",
        scope.business().0,
        shortcut.as_str()
    )
    .execute(pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found(format!("canned reply /{shortcut}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortcuts_are_lowercase_names() {
        assert_eq!("/Shipping".parse::<Shortcut>().unwrap().as_str(), "shipping");
        assert_eq!("refund-policy_2".parse::<Shortcut>().unwrap().as_str(), "refund-policy_2");
        for bad in ["", "/", "-x", "two words", "ünïcode", &"x".repeat(33)] {
            assert!(bad.parse::<Shortcut>().is_err(), "{bad}");
        }
    }

    #[test]
    fn fields_are_named_once_in_order_and_expand() {
        let body = "Hi {{name}}, order {{ order }} ships {{day}}. Thanks {{name}}! {{1}} {{}}";
        assert_eq!(fields(body), vec!["name", "order", "day"]);
        let values = [("name".to_string(), "Ana".to_string()), ("order".to_string(), "4411".to_string())];
        assert_eq!(expand(body, &values), "Hi Ana, order 4411 ships {{day}}. Thanks Ana! {{1}} {{}}");
    }
}
