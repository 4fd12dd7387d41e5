//! The one error type at core's boundary. Faces map its variants to exit codes (CLI) and status codes
//! (webhookd); every variant carries a message a person can act on.

use std::fmt;

mod wording;
pub use wording::{Plain, Wording, input, op, word};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The named thing does not exist in the acting business (or at all): the two are never told apart,
    /// so one tenant cannot probe another's ids.
    #[error("{what} not found")]
    NotFound { what: String },
    /// The change clashes with existing data (a duplicate phone, an e-mail in use, ...).
    #[error("{message}")]
    Conflict { message: String, hint: Option<String> },
    /// The input is wrong; `hint` says how to fix it.
    #[error("{message}")]
    Invalid { message: String, hint: Option<String> },
    /// A billing limit or an inactive subscription blocks the action.
    #[error("{message}")]
    LimitReached { message: String, hint: Option<String> },
    /// The acting user's role does not allow this; `hint` says what to do instead when asking an owner
    /// or admin is not it.
    #[error("{message}")]
    Forbidden { message: String, hint: Option<String> },
    /// The WhatsApp Cloud API refused or failed the request.
    #[error("WhatsApp API error {code}: {message}")]
    WhatsApp { code: i64, message: String, retryable: bool },
    /// The WhatsApp Cloud API could not be reached, or its answer was lost (the send may have happened).
    #[error("{message}")]
    WhatsAppUnreachable { message: String, hint: Option<String> },
    /// No database could be reached or started.
    #[error("database unavailable: {message}")]
    Unavailable { message: String, hint: Option<String> },
    /// Anything else from the database: a bug or an outage, never bad input.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// A broken invariant inside wacrm: a bug to report, never the user's input.
    #[error("internal error: {message}")]
    Internal { message: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub fn not_found(what: impl fmt::Display) -> Error {
        Error::NotFound { what: what.to_string() }
    }

    pub fn invalid(message: impl Into<String>, hint: impl Into<String>) -> Error {
        Error::Invalid { message: message.into(), hint: Some(hint.into()) }
    }

    pub fn conflict(message: impl Into<String>, hint: impl Into<String>) -> Error {
        Error::Conflict { message: message.into(), hint: Some(hint.into()) }
    }

    pub fn limit(message: impl Into<String>, hint: impl Into<String>) -> Error {
        Error::LimitReached { message: message.into(), hint: Some(hint.into()) }
    }

    pub fn forbidden(message: impl Into<String>) -> Error {
        Error::Forbidden { message: message.into(), hint: None }
    }

    pub fn unavailable(message: impl Into<String>, hint: impl Into<String>) -> Error {
        Error::Unavailable { message: message.into(), hint: Some(hint.into()) }
    }

    pub fn internal(message: impl Into<String>) -> Error {
        Error::Internal { message: message.into() }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io { context: context.into(), source }
    }

    /// How to fix it, when there is something to say, in the face's words.
    pub fn hint_in(&self, wording: &dyn Wording) -> Option<String> {
        let hint = match self {
            Error::Conflict { hint, .. }
            | Error::Invalid { hint, .. }
            | Error::LimitReached { hint, .. }
            | Error::WhatsAppUnreachable { hint, .. }
            | Error::Unavailable { hint, .. } => hint.as_deref()?,
            Error::NotFound { .. } => "check the id (the lists show them) and the acting business",
            Error::WhatsApp { code, retryable, .. } => whatsapp_hint(*code, *retryable),
            Error::Forbidden { hint: Some(hint), .. } => hint,
            Error::Forbidden { hint: None, .. } => "ask an owner or admin of the business",
            _ => return None,
        };
        Some(word(hint, wording))
    }

    #[cfg(test)]
    pub(crate) fn hint(&self) -> Option<String> {
        self.hint_in(&Plain)
    }

    /// The message and its hint in [`Plain`] words, for text that is kept or logged.
    pub fn with_hint(&self) -> String {
        match self.hint_in(&Plain) {
            Some(hint) => format!("{self} (hint: {hint})"),
            None => self.to_string(),
        }
    }
}

/// What to do about a Cloud API error code (the families in Meta's error-code reference).
fn whatsapp_hint(code: i64, retryable: bool) -> &'static str {
    match code {
        131047 => "the customer has not written for 24 hours: send an approved template instead",
        131026 => "the number cannot receive WhatsApp messages; check it with the customer",
        131050 => "the customer stopped marketing messages; only transactional templates or replies reach them",
        131048 | 131049 | 131064 => "WhatsApp is limiting this number's messages; slow down and review message quality",
        190 | 0 => "the access token is invalid or expired: reconnect the number with a fresh system-user token",
        132000..=132999 => "the template or its parameters are wrong; check its name, language and parameters",
        _ if retryable => "a temporary WhatsApp problem: try again in a minute",
        _ => "see Meta's error-code reference for this code",
    }
}

/// Known constraint names and what a person should be told when a write violates them (the hints'
/// references are written as [`op`] writes them, since a `const` cannot call it).
const CONSTRAINT_MESSAGES: &[(&str, &str, &str)] = &[
    (
        "contacts_business_id_phone_key",
        "a contact with this phone already exists in this business",
        "find it by searching the contacts for the phone (⟦op:contacts search⟧) and edit that contact instead",
    ),
    ("contacts_business_bsuid_key", "a contact with this WhatsApp user id already exists", "edit the existing contact"),
    (
        "businesses_email_key",
        "a business with this e-mail already exists",
        "use another e-mail or the existing business",
    ),
    (
        "users_business_id_email_key",
        "a user with this e-mail already exists in this business",
        "list users (⟦op:users list⟧)",
    ),
    (
        "whatsapp_accounts_phone_number_key",
        "this WhatsApp number is already connected",
        "list the connected numbers (⟦op:accounts list⟧)",
    ),
    (
        "whatsapp_accounts_phone_number_id_key",
        "this Cloud API phone_number_id is already connected",
        "list the connected numbers (⟦op:accounts list⟧)",
    ),
    ("plans_name_key", "a plan with this name already exists", "list the plans (⟦op:billing plans list⟧)"),
    ("plans_name_lower_key", "a plan with this name already exists", "list the plans (⟦op:billing plans list⟧)"),
    (
        "subscriptions_one_live",
        "the business already has a live subscription",
        "change its plan (⟦op:billing upgrade⟧ or ⟦op:billing downgrade⟧)",
    ),
];

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Error {
        match &err {
            sqlx::Error::Database(db) => {
                if let Some(constraint) = db.constraint()
                    && let Some((_, message, hint)) = CONSTRAINT_MESSAGES.iter().find(|(name, ..)| *name == constraint)
                {
                    return Error::conflict(*message, *hint);
                }
                match db.code().as_deref() {
                    // invalid_text_representation: a bad enum label, e.g. a stage that does not exist.
                    Some("22P02") => {
                        Error::invalid(db.message().to_string(), "check the value against the allowed ones")
                    }
                    // character_not_in_repertoire: PostgreSQL text cannot hold a NUL character.
                    Some("22021") => Error::invalid(
                        format!("the text contains a character that cannot be stored (a NUL, \\0): {}", db.message()),
                        "remove the NUL characters from the input",
                    ),
                    // Any other data exception (a value too long, out of range, malformed): the input's fault.
                    Some(code) if code.starts_with("22") => {
                        Error::invalid(db.message().to_string(), "check the value: its length, range or format")
                    }
                    Some("23505") => Error::conflict(db.message().to_string(), "the value is already in use"),
                    Some("23503") => Error::invalid(db.message().to_string(), "the referenced record does not exist"),
                    Some("23514") => Error::invalid(db.message().to_string(), "the value breaks a rule of the schema"),
                    // A deadlock or serialization failure: transient, the same work succeeds when retried.
                    Some("40P01" | "40001") => Error::unavailable(
                        db.message().to_string(),
                        "a concurrent change got in the way; run the command again",
                    ),
                    // Too many connections, shutting down, cannot connect now.
                    Some("53300" | "57P01" | "57P03") => {
                        Error::unavailable(db.message().to_string(), "try again shortly")
                    }
                    _ => Error::Database(err),
                }
            }
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) => {
                Error::unavailable(
                    err.to_string(),
                    "check that PostgreSQL is running (⟦op:db status⟧) and the database URL is right",
                )
            }
            _ => Error::Database(err),
        }
    }
}
