//! Following the outbox as it is committed: `LISTEN`/`NOTIFY` for open terminals, which want each
//! event the moment its transaction commits and never need to resume.

use std::collections::VecDeque;

use futures::Stream;
use sqlx::PgPool;
use sqlx::postgres::PgListener;

use super::Recorded;
use crate::auth::Scope;
use crate::error::{Error, Result};
use crate::types::{BusinessId, ContactId};

/// The `LISTEN`/`NOTIFY` channel.
pub const CHANNEL: &str = "wacrm_events";

/// What a notification on [`CHANNEL`] says: these events of this business were committed.
#[derive(serde::Deserialize)]
struct Notice {
    business_id: BusinessId,
    ids: Vec<i64>,
}

/// Events of the scope's business with an id above `after`, in id order: the tests' way of seeing the
/// outbox. Ids are not commit order; a reader that resumes uses [`super::after`].
pub async fn list_since(pool: &PgPool, scope: &Scope, after: i64, limit: i64) -> Result<Vec<Recorded>> {
    Ok(sqlx::query_as!(
        Recorded,
        r#"SELECT id, kind, business_id AS "business_id: BusinessId", contact_id AS "contact_id: ContactId",
                  payload, created_at
           FROM events WHERE business_id = $1 AND id > $2 ORDER BY id LIMIT $3"#,
        scope.business().0,
        after,
        limit
    )
    .fetch_all(pool)
    .await?)
}

async fn load(pool: &PgPool, business: BusinessId, ids: &[i64]) -> Result<Vec<Recorded>> {
    Ok(sqlx::query_as!(
        Recorded,
        r#"SELECT id, kind, business_id AS "business_id: BusinessId", contact_id AS "contact_id: ContactId",
                  payload, created_at
           FROM events WHERE business_id = $1 AND id = ANY($2) ORDER BY id"#,
        business.0,
        ids
    )
    .fetch_all(pool)
    .await?)
}

/// A listener on [`CHANNEL`].
pub(crate) async fn listen(pool: &PgPool) -> Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Live events of the scope's business in commit order, pushed by PostgreSQL (no polling). The stream
/// ends only on a connection error, which it yields.
pub async fn subscribe(pool: &PgPool, scope: &Scope) -> Result<impl Stream<Item = Result<Recorded>> + use<>> {
    let listener = listen(pool).await?;
    let business = scope.business();
    let state = (listener, pool.clone(), VecDeque::new());
    Ok(futures::stream::unfold(state, move |(mut listener, pool, mut ready)| async move {
        loop {
            if let Some(event) = ready.pop_front() {
                return Some((Ok(event), (listener, pool, ready)));
            }
            let notification = match listener.recv().await {
                Ok(n) => n,
                Err(e) => return Some((Err(Error::from(e)), (listener, pool, ready))),
            };
            let Ok(notice) = serde_json::from_str::<Notice>(notification.payload()) else {
                continue;
            };
            if notice.business_id != business {
                continue;
            }
            match load(&pool, business, &notice.ids).await {
                Ok(events) => ready.extend(events),
                Err(e) => return Some((Err(e), (listener, pool, ready))),
            }
        }
    }))
}
