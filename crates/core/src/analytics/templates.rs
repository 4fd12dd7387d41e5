//! Template analytics (seed Template Manager, issue 21): per template, its sends in the range by any
//! sender (the inbox, campaigns, automation rules), delivered, read, replied and the conversions after
//! a reply, counted as the campaign report counts them.
//!
//! A send names its template in its payload (name and language, as Meta receives it), so a template
//! deleted since keeps its figures under its name, without an id. Counted through the rollup of send
//! outcomes (module `sends`), which the campaign report shares.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::PgPool;

use crate::analytics::outcomes::{CONVERSION_WINDOW_DAYS, REPLY_WINDOW_HOURS, SendOutcomes};
use crate::analytics::range::Range;
use crate::analytics::sends;
use crate::auth::{Area, Scope};
use crate::error::Result;
use crate::types::TemplateId;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TemplateRow {
    /// None for a template deleted since (or never known to wacrm).
    pub template: Option<TemplateId>,
    pub name: String,
    pub language: String,
    /// Of the messages, those sent by campaigns.
    pub campaign_messages: i64,
    #[serde(flatten)]
    pub outcomes: SendOutcomes,
}

#[derive(Debug, Clone, Serialize)]
pub struct TemplatesReport {
    pub range: Range,
    pub reply_window_hours: i32,
    pub conversion_window_days: i32,
    pub total: SendOutcomes,
    /// Every template of the business (zeros when unused in the range) and any other template sent in
    /// the range; most messages first, then by name.
    pub templates: Vec<TemplateRow>,
}

/// One template name and language's sends: those of campaigns, and the outcomes of all.
#[derive(Debug, Clone, Default)]
struct Counted {
    campaign_messages: i64,
    counts: [i64; 8],
}

pub async fn report(pool: &PgPool, scope: &Scope, range: &Range) -> Result<TemplatesReport> {
    scope.require(Area::Analytics)?;
    let business = scope.business().0;
    // Per template name and language: its campaign messages and its outcomes.
    let mut counted: BTreeMap<(String, Option<String>), Counted> = BTreeMap::new();
    for group in sends::groups(pool, business, range).await? {
        let Some(name) = group.template_name else { continue };
        let sum = counted.entry((name, group.template_language)).or_default();
        if group.campaign.is_some() {
            sum.campaign_messages += group.counts[0];
        }
        for (s, n) in sum.counts.iter_mut().zip(group.counts) {
            *s += n;
        }
    }
    let counted: Vec<_> = counted.into_iter().collect();
    let names: Vec<&str> = counted.iter().map(|((name, _), _)| name.as_str()).collect();
    let languages: Vec<Option<&str>> = counted.iter().map(|((_, language), _)| language.as_deref()).collect();
    let messages: Vec<i64> = counted.iter().map(|(_, sum)| sum.counts[0]).collect();
    // Joined with the business's templates and sorted in SQL, so names sort by the database's collation.
    let rows = sqlx::query!(
        r#"WITH known AS (
               SELECT id, name, language FROM message_templates WHERE business_id = $1 AND deleted_at IS NULL
           )
           SELECT k.id AS "template?: TemplateId", coalesce(n.name, k.name) AS "name!",
                  coalesce(n.language, k.language, '') AS "language!", n.i AS "index?"
           FROM unnest($2::text[], $3::text[], $4::bigint[]) WITH ORDINALITY AS n (name, language, messages, i)
           FULL JOIN known k ON k.name = n.name AND k.language = n.language
           ORDER BY coalesce(n.messages, 0) DESC, 2, 3"#,
        business,
        &names as &[&str],
        &languages as &[Option<&str>],
        &messages
    )
    .fetch_all(pool)
    .await?;
    let templates: Vec<TemplateRow> = rows
        .into_iter()
        .map(|r| {
            // WITH ORDINALITY counts from 1.
            let sum = r.index.map(|i| &counted[i as usize - 1].1).cloned().unwrap_or_default();
            TemplateRow {
                template: r.template,
                name: r.name,
                language: r.language,
                campaign_messages: sum.campaign_messages,
                outcomes: SendOutcomes::counted(sum.counts),
            }
        })
        .collect();
    Ok(TemplatesReport {
        range: *range,
        reply_window_hours: REPLY_WINDOW_HOURS,
        conversion_window_days: CONVERSION_WINDOW_DAYS,
        total: SendOutcomes::total(templates.iter().map(|t| &t.outcomes)),
        templates,
    })
}
