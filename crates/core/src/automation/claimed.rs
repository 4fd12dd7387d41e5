//! Handing the claimed actions to [`deferred`]: each contact's in the order their rules claimed them,
//! contacts concurrently, so a burst of customers does not wait on each other's Graph API round trips.
//!
//! Two ways in: [`run_claimed`] carries out what is claimed now and returns (the minute tick, `automation
//! run-once`); [`serve`] runs beside the event consumer and starts each action as soon as a consumer's
//! commit announces it, so a reply never waits for other events to be evaluated or other sends to end.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::Notify;
use tokio::task::{Id, JoinError, JoinSet};

use super::deferred::{self, ClaimedAction};
use super::engine::Options;
use crate::error::{Error, Result};
use crate::inbox::send::Sender;
use crate::types::{BusinessId, ContactId};

/// A send claimed this long ago and still `sending` was cut short by a crash: it is retried, and its
/// idempotency key makes the retry a no-op if the first attempt reached the reservation.
const STALE_MINUTES: i64 = 5;
/// Rows claimed by one statement.
const CLAIM: i64 = 100;
/// Claimed rows waiting here at most: a row waits far less than [`STALE_MINUTES`] before it starts.
const MAX_QUEUED: usize = 400;
/// Contacts whose actions are carried out at once.
const IN_FLIGHT: usize = 16;

/// Carries out the actions claimed until none is left; (done, failed).
pub(super) async fn run_claimed(pool: &PgPool, sender: &Sender, options: &Options) -> Result<(usize, usize)> {
    let mut dispatch = Dispatch::new(pool, sender, options);
    let mut more = true;
    loop {
        if more && dispatch.queued < MAX_QUEUED {
            more = dispatch.claim().await?;
        }
        dispatch.start_ready();
        match dispatch.in_flight.join_next_with_id().await {
            Some(ended) => {
                let (key, failed) = dispatch.ended(ended);
                dispatch.finished(key, failed?)
            }
            None if !more => return Ok((dispatch.done, dispatch.failed)),
            None => {}
        }
    }
}

/// Carries out claimed actions as they are announced on `claimed`, forever: errors are logged and the
/// rows they left `sending` are taken again once stale.
pub(super) async fn serve(pool: &PgPool, sender: &Sender, options: &Options, claimed: &Notify) {
    let mut dispatch = Dispatch::new(pool, sender, options);
    let mut look = true;
    loop {
        if look && dispatch.queued < MAX_QUEUED {
            match dispatch.claim().await {
                Ok(full) => look = full,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming automation actions failed; trying again in a second");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
        }
        dispatch.start_ready();
        tokio::select! {
            Some(ended) = dispatch.in_flight.join_next_with_id(), if !dispatch.in_flight.is_empty() => {
                let (key, failed) = dispatch.ended(ended);
                let failed = failed.unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "an automation action did not end cleanly; it is retried once stale");
                    true
                });
                dispatch.finished(key, failed);
            }
            _ = claimed.notified() => look = true,
        }
    }
}

/// Whose turn an action waits for: its contact's earlier actions, or nobody's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Contact(ContactId),
    Alone(i64),
}

/// The actions in flight are tasks of their own: a claim waiting for a connection must not stop them
/// from finishing with theirs (polled from here, they would hold the pool's connections unpolled).
struct Dispatch {
    pool: PgPool,
    sender: Arc<Sender>,
    options: Arc<Options>,
    /// Each key's claimed actions not yet started, in claim order; a key is here while it is ready or
    /// running.
    queues: HashMap<Key, VecDeque<ClaimedAction>>,
    /// Keys with work and no action in flight, in the order they came.
    ready: VecDeque<Key>,
    in_flight: JoinSet<Result<bool>>,
    running: HashMap<Id, Key>,
    queued: usize,
    done: usize,
    failed: usize,
}

impl Dispatch {
    fn new(pool: &PgPool, sender: &Sender, options: &Options) -> Self {
        Dispatch {
            pool: pool.clone(),
            sender: Arc::new(sender.clone()),
            options: Arc::new(options.clone()),
            queues: HashMap::new(),
            ready: VecDeque::new(),
            in_flight: JoinSet::new(),
            running: HashMap::new(),
            queued: 0,
            done: 0,
            failed: 0,
        }
    }

    /// Claims pending actions (and stale ones) of every business; whether it took as many as it could.
    async fn claim(&mut self) -> Result<bool> {
        // Every business's claimed actions: the one statement here not scoped to a business.
        let rows = sqlx::query_as!(
            ClaimedAction,
            r#"UPDATE automation_actions a SET status = 'sending', updated_at = now()
               FROM automation_runs r
               WHERE a.id IN (SELECT id FROM automation_actions
                              WHERE status = 'pending'
                                 OR (status = 'sending' AND updated_at < now() - make_interval(mins => $1))
                              ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
                 AND r.business_id = a.business_id AND r.id = a.run_id
               RETURNING a.id, a.business_id AS "business_id: BusinessId", a.contact_id AS "contact_id: ContactId",
                         a.spec, a.client_ref, r.cause"#,
            STALE_MINUTES as i32,
            CLAIM
        )
        .fetch_all(&self.pool)
        .await?;
        let full = rows.len() as i64 == CLAIM;
        // The statement returns rows in no set order: the claim order is the id order.
        let mut rows = rows;
        rows.sort_by_key(|row| row.id);
        for row in rows {
            let key = row.contact_id.map_or(Key::Alone(row.id), Key::Contact);
            // A key already here is waiting in `ready` or running: its new action follows the others.
            let queue = self.queues.entry(key).or_insert_with(|| {
                self.ready.push_back(key);
                VecDeque::new()
            });
            queue.push_back(row);
            self.queued += 1;
        }
        Ok(full)
    }

    /// Starts the next action of ready keys while there is room.
    fn start_ready(&mut self) {
        while self.in_flight.len() < IN_FLIGHT
            && let Some(key) = self.ready.pop_front()
        {
            self.start(key);
        }
    }

    fn start(&mut self, key: Key) {
        let Some(row) = self.queues.get_mut(&key).and_then(VecDeque::pop_front) else { return };
        self.queued -= 1;
        let (pool, sender, options) = (self.pool.clone(), self.sender.clone(), self.options.clone());
        let task = self.in_flight.spawn(async move { deferred::settle(&pool, &sender, &options, &row).await });
        self.running.insert(task.id(), key);
    }

    /// Whose action a task carried out, and whether it failed (a task that panicked counts as failed).
    fn ended(&mut self, ended: std::result::Result<(Id, Result<bool>), JoinError>) -> (Key, Result<bool>) {
        let (id, failed) = match ended {
            Ok((id, failed)) => (id, failed),
            Err(e) => (e.id(), Err(Error::internal(format!("the action's task ended abnormally: {e}")))),
        };
        (self.running.remove(&id).expect("every task is started with its key"), failed)
    }

    /// An action of `key` ended: the key's next action starts in its place, or the key is done.
    fn finished(&mut self, key: Key, failed: bool) {
        if failed {
            self.failed += 1;
        } else {
            self.done += 1;
        }
        if self.queues.get(&key).is_some_and(|queue| !queue.is_empty()) {
            self.start(key);
        } else {
            self.queues.remove(&key);
        }
    }
}
