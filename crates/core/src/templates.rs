//! The templates dashboard. Creating, submitting and editing templates land with its own issue; what
//! exists now is what the inbox needs: the approved templates a chat may send once the 24-hour window
//! has closed (seed Templates FLOW 6: only approved templates are used).

use serde::Serialize;
use sqlx::PgPool;

use crate::auth::{Area, Scope};
use crate::error::Result;

#[derive(Debug, Clone, Serialize)]
pub struct Template {
    pub id: i32,
    pub name: String,
    pub content: String,
}

/// The business's approved templates, by name. Agents may read them: they send them from the inbox.
pub async fn approved(pool: &PgPool, scope: &Scope) -> Result<Vec<Template>> {
    scope.require(Area::Inbox)?;
    Ok(sqlx::query_as!(
        Template,
        "SELECT id, name, content FROM message_templates WHERE business_id = $1 AND status = 'approved' ORDER BY name",
        scope.business().0
    )
    .fetch_all(pool)
    .await?)
}

/// How many positional parameters (`{{1}}`, `{{2}}`, …) a template body takes: the highest index used.
pub fn parameter_count(content: &str) -> usize {
    content
        .split("{{")
        .skip(1)
        .filter_map(|rest| rest.split_once("}}").and_then(|(index, _)| index.trim().parse::<usize>().ok()))
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::parameter_count;

    #[test]
    fn positional_parameters_are_counted_by_their_highest_index() {
        assert_eq!(parameter_count("Hi {{1}}, your order {{2}} is on its way!"), 2);
        assert_eq!(parameter_count("No parameters"), 0);
        assert_eq!(parameter_count("{{2}} before {{1}} and {{2}} again"), 2);
        assert_eq!(parameter_count("Hi {{name}}"), 0);
    }
}
