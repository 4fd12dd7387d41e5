//! The business's pipeline rules: blocked transitions and keyword rules (an inbound message naming a
//! stage moves the contact there).

use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use super::{MoveOutcome, MoveSource, move_stage_on};
use crate::auth::{Area, Scope};
use crate::error::{Error, Result};
use crate::types::{BusinessId, ContactId, Stage, plain_name};

/// A keyword rule: inbound text containing `keyword` (whole words, any case) moves the contact to `stage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeywordRule {
    pub keyword: String,
    pub stage: Stage,
}

/// The stage the text asks for under `rules`, if any. Whole words only ("unpaid" does not say "paid");
/// when several keywords occur, the longest phrase wins ("not interested" beats "interested"), then the
/// one said last.
pub fn keyword_stage(rules: &[KeywordRule], text: &str) -> Option<Stage> {
    let words = words(text);
    rules
        .iter()
        .filter_map(|rule| {
            let phrase = self::words(&rule.keyword);
            if phrase.is_empty() || phrase.len() > words.len() {
                return None;
            }
            let last = words.windows(phrase.len()).rposition(|w| w == phrase.as_slice())?;
            Some((phrase.len(), last, rule.stage))
        })
        .max_by_key(|(len, last, _)| (*len, *last))
        .map(|(.., stage)| stage)
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// Keyword stage updates for an inbound message (seed Pipeline FLOW 5), on the inbound message's own
/// transaction. Does nothing when the business switched keyword rules off, no keyword matches, or the
/// move is blocked by the business's transition rules; otherwise moves through [`move_stage_on`].
pub async fn apply_keyword_rules(
    conn: &mut PgConnection,
    business: BusinessId,
    contact: ContactId,
    text: &str,
) -> Result<()> {
    let rules = active_keyword_rules(conn, business).await?;
    if let Some(stage) = keyword_stage(&rules, text) {
        let moved = move_stage_on(conn, &Scope::system(business), contact, stage, MoveSource::Keyword).await?;
        if moved.outcome == MoveOutcome::Blocked {
            tracing::debug!(%contact, from = %moved.from, to = %moved.to, "keyword stage update blocked by rules");
        }
    }
    Ok(())
}

/// The business's keyword rules when they are switched on, none otherwise.
pub(crate) async fn active_keyword_rules(conn: &mut PgConnection, business: BusinessId) -> Result<Vec<KeywordRule>> {
    Ok(sqlx::query_as!(
        KeywordRule,
        r#"SELECT r.keyword, r.stage AS "stage: Stage"
           FROM pipeline_keyword_rules r
           JOIN pipeline_settings s ON s.business_id = r.business_id
           WHERE r.business_id = $1 AND s.keyword_rules_enabled
           ORDER BY r.id"#,
        business.0
    )
    .fetch_all(conn)
    .await?)
}

/// A blocked move: from one stage to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Transition {
    pub from: Stage,
    pub to: Stage,
}

/// A business's pipeline rules: blocked transitions (everything else is allowed) and keyword rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rules {
    pub keyword_rules_enabled: bool,
    pub blocked: Vec<Transition>,
    pub keywords: Vec<KeywordRule>,
}

/// The business's rules. New businesses start with the seed's: Lost → Paid blocked; "interested",
/// "paid" and "not now" as keywords, switched on.
pub async fn rules(pool: &PgPool, scope: &Scope) -> Result<Rules> {
    scope.require(Area::Pipeline)?;
    let business = scope.business().0;
    let enabled =
        sqlx::query_scalar!("SELECT keyword_rules_enabled FROM pipeline_settings WHERE business_id = $1", business)
            .fetch_optional(pool)
            .await?
            .unwrap_or(false);
    let blocked = sqlx::query_as!(
        Transition,
        r#"SELECT from_stage AS "from: Stage", to_stage AS "to: Stage" FROM pipeline_blocked_transitions
           WHERE business_id = $1 ORDER BY from_stage, to_stage"#,
        business
    )
    .fetch_all(pool)
    .await?;
    let keywords = sqlx::query_as!(
        KeywordRule,
        r#"SELECT keyword, stage AS "stage: Stage" FROM pipeline_keyword_rules WHERE business_id = $1 ORDER BY id"#,
        business
    )
    .fetch_all(pool)
    .await?;
    Ok(Rules { keyword_rules_enabled: enabled, blocked, keywords })
}

/// Forbids moving contacts from `from` to `to` (admins only).
pub async fn block_transition(pool: &PgPool, scope: &Scope, from: Stage, to: Stage) -> Result<Rules> {
    scope.require(Area::Admin)?;
    if from == to {
        return Err(Error::invalid(format!("{from} → {to} is not a move"), "name two different stages"));
    }
    sqlx::query!(
        r#"INSERT INTO pipeline_blocked_transitions (business_id, from_stage, to_stage) VALUES ($1, $2, $3)
           ON CONFLICT DO NOTHING"#,
        scope.business().0,
        from as Stage,
        to as Stage
    )
    .execute(pool)
    .await?;
    rules(pool, scope).await
}

/// Allows a transition blocked before (admins only); allowing an allowed one is `NotFound`.
pub async fn allow_transition(pool: &PgPool, scope: &Scope, from: Stage, to: Stage) -> Result<Rules> {
    scope.require(Area::Admin)?;
    let done = sqlx::query!(
        "DELETE FROM pipeline_blocked_transitions WHERE business_id = $1 AND from_stage = $2 AND to_stage = $3",
        scope.business().0,
        from as Stage,
        to as Stage
    )
    .execute(pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found(format!("blocked transition {from} → {to}")));
    }
    rules(pool, scope).await
}

/// Adds a keyword rule, or points an existing keyword (any case) at another stage (admins only).
pub async fn set_keyword(pool: &PgPool, scope: &Scope, keyword: &str, stage: Stage) -> Result<Rules> {
    scope.require(Area::Admin)?;
    let keyword = words(&plain_name("keyword", keyword)?).join(" ");
    if keyword.is_empty() {
        return Err(Error::invalid("the keyword has no letters or digits", "give a word or phrase, e.g. \"not now\""));
    }
    sqlx::query!(
        r#"INSERT INTO pipeline_keyword_rules (business_id, keyword, stage) VALUES ($1, $2, $3)
           ON CONFLICT (business_id, lower(keyword)) DO UPDATE SET stage = EXCLUDED.stage"#,
        scope.business().0,
        keyword,
        stage as Stage
    )
    .execute(pool)
    .await?;
    rules(pool, scope).await
}

/// Removes a keyword rule (admins only).
pub async fn remove_keyword(pool: &PgPool, scope: &Scope, keyword: &str) -> Result<Rules> {
    scope.require(Area::Admin)?;
    let keyword = words(keyword).join(" ");
    let done = sqlx::query!(
        "DELETE FROM pipeline_keyword_rules WHERE business_id = $1 AND lower(keyword) = $2",
        scope.business().0,
        keyword
    )
    .execute(pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found(format!("keyword rule {keyword:?}")));
    }
    rules(pool, scope).await
}

/// Switches keyword stage updates on or off, keeping the keywords (admins only).
pub async fn set_keyword_rules_enabled(pool: &PgPool, scope: &Scope, enabled: bool) -> Result<Rules> {
    scope.require(Area::Admin)?;
    sqlx::query!(
        r#"INSERT INTO pipeline_settings (business_id, keyword_rules_enabled) VALUES ($1, $2)
           ON CONFLICT (business_id) DO UPDATE SET keyword_rules_enabled = EXCLUDED.keyword_rules_enabled"#,
        scope.business().0,
        enabled
    )
    .execute(pool)
    .await?;
    rules(pool, scope).await
}

/// Puts back the default rules (admins only).
pub async fn reset_rules(pool: &PgPool, scope: &Scope) -> Result<Rules> {
    scope.require(Area::Admin)?;
    sqlx::query!("SELECT wacrm_pipeline_default_rules($1)", scope.business().0).execute(pool).await?;
    rules(pool, scope).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Vec<KeywordRule> {
        [("interested", Stage::Interested), ("paid", Stage::Paid), ("not now", Stage::Lost)]
            .into_iter()
            .map(|(k, s)| KeywordRule { keyword: k.into(), stage: s })
            .collect()
    }

    #[test]
    fn keywords_match_whole_words_in_any_case() {
        let rules = defaults();
        assert_eq!(keyword_stage(&rules, "I'm INTERESTED!"), Some(Stage::Interested));
        assert_eq!(keyword_stage(&rules, "Paid, thanks"), Some(Stage::Paid));
        assert_eq!(keyword_stage(&rules, "Not   now, sorry"), Some(Stage::Lost));
        assert_eq!(keyword_stage(&rules, "unpaid invoice"), None);
        assert_eq!(keyword_stage(&rules, "now not"), None);
        assert_eq!(keyword_stage(&rules, ""), None);
    }

    #[test]
    fn longer_phrase_then_later_mention_wins() {
        let rules = defaults();
        assert_eq!(keyword_stage(&rules, "interested, but not now"), Some(Stage::Lost));
        assert_eq!(keyword_stage(&rules, "paid? yes, interested"), Some(Stage::Interested));
    }
}
