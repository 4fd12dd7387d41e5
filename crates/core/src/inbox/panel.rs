//! The contact beside a chat: what an agent checks before answering (stage, tags, whether marketing
//! may be sent, the last campaign they got, how many notes the team left).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::auth::{Area, Scope};
use crate::error::Result;
use crate::inbox::conversations::no_conversation;
use crate::types::{ContactId, Stage};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContactPanel {
    pub contact_id: ContactId,
    /// The name the customer set in WhatsApp, when known.
    pub profile_name: Option<String>,
    pub stage: Stage,
    pub tags: Vec<String>,
    pub opted_out_at: Option<DateTime<Utc>>,
    /// How they opted out (a STOP keyword, WhatsApp's marketing preference, by hand, …).
    pub opt_out_source: Option<String>,
    pub last_campaign: Option<String>,
    pub last_campaign_at: Option<DateTime<Utc>>,
    pub notes: i64,
}

pub async fn contact_panel(pool: &PgPool, scope: &Scope, contact: ContactId) -> Result<ContactPanel> {
    scope.require(Area::Inbox)?;
    sqlx::query_as!(
        ContactPanel,
        r#"SELECT c.id AS "contact_id: ContactId", c.profile_name, c.stage AS "stage!: Stage",
                  ARRAY(SELECT t.tag FROM contact_tags t WHERE t.business_id = $1 AND t.contact_id = c.id
                        ORDER BY lower(t.tag)) AS "tags!",
                  c.opted_out_at, c.opt_out_source,
                  last.name AS "last_campaign?", last.sent_at AS "last_campaign_at?",
                  (SELECT count(*) FROM conversation_notes n WHERE n.business_id = $1 AND n.contact_id = c.id)
                      AS "notes!"
           FROM contacts c
           LEFT JOIN LATERAL (
               SELECT k.name, m.sent_at FROM messages m
               JOIN campaigns k ON k.business_id = m.business_id AND k.id = m.campaign_id
               WHERE m.business_id = $1 AND m.contact_id = c.id AND m.campaign_id IS NOT NULL
               ORDER BY m.sent_at DESC LIMIT 1
           ) last ON true
           WHERE c.business_id = $1 AND c.id = $2"#,
        scope.business().0,
        contact.0
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| no_conversation(contact))
}
