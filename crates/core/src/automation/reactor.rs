//! The engine's reaction time. The minute tick ([`super::AutomationTick`]) alone would answer a customer
//! up to a minute late; PostgreSQL announces every committed event on [`events::live::CHANNEL`], so a
//! runner also passes over the new events the moment they commit, and carries out what they claimed as
//! each batch commits ([`claimed::serve`]), beside the next batch's evaluation: a reply waits neither
//! for other events nor for other sends. Announcements that arrive during a pass make one more pass,
//! not one each, so a burst of inbound messages costs a pass per batch of events. The tick stays:
//! delays, schedules, and any announcement missed while the listener was reconnecting.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::Notify;

use super::claimed;
use super::engine::{Engine, Options};
use crate::error::Result;
use crate::events;
use crate::inbox::send::Sender;

/// Events evaluated in one transaction: their claimed actions start when it commits.
const BATCH: i64 = 100;
/// The pause before looking again after a pass that found no event, doubled each time up to the last.
const FIRST_PAUSE: Duration = Duration::from_millis(50);
const LAST_PAUSE: Duration = Duration::from_secs(1);
/// How long passes go on after the last one that found events.
const WATCH_FOR: Duration = Duration::from_secs(30);

/// Passes over new events as they are announced; returns only when the listener cannot be set up.
pub async fn react(pool: &PgPool, sender: &Sender, options: &Options) -> Result<()> {
    let mut listener = events::live::listen(pool).await?;
    let wake = Arc::new(Notify::new());
    // Events committed before the listener was up were announced to nobody: the first pass is now.
    wake.notify_one();
    let claimed = Notify::new();
    let announced = {
        let wake = wake.clone();
        async move {
            loop {
                // An error is a lost connection, which the next `recv` makes again: announcements
                // may have been missed meanwhile, so it wakes the engine too.
                if listener.recv().await.is_err() {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                wake.notify_one();
            }
        }
    };
    let passes = async {
        // One engine for every pass: its rule cache is checked against the rules' stamp at each event.
        let mut engine = Engine::default();
        loop {
            wake.notified().await;
            // An announced event is not always consumable at once: a transaction that began before it
            // and is still open (in any database of the cluster: transaction ids are the cluster's) holds
            // the commit-safe horizon back, for as long as a bulk import runs. So passes go on, further
            // apart up to a second, until none has found an event for [`WATCH_FOR`].
            let mut pause = FIRST_PAUSE;
            let mut found_at = Instant::now();
            while found_at.elapsed() < WATCH_FOR {
                match pass(pool, &mut engine, &claimed).await {
                    Ok(0) => {
                        tokio::select! {
                            _ = tokio::time::sleep(pause) => {}
                            _ = wake.notified() => {}
                        }
                        pause = (pause * 2).min(LAST_PAUSE);
                    }
                    Ok(_) => (pause, found_at) = (FIRST_PAUSE, Instant::now()),
                    Err(e) => {
                        tracing::warn!(error = %e, "an automation pass on new events failed; the minute tick retries");
                        break;
                    }
                }
            }
        }
    };
    // None ends: a lost connection is made again, a failed pass waits for the next announcement, a
    // failed send is recorded and the next one starts.
    tokio::join!(announced, passes, claimed::serve(pool, sender, options, &claimed));
    Ok(())
}

/// Evaluates the events not yet consumed a batch at a time, announcing each batch's claimed actions to
/// the sends as it commits; the events read.
async fn pass(pool: &PgPool, engine: &mut Engine, claimed: &Notify) -> Result<usize> {
    let mut read = 0;
    loop {
        let n = events::consume(pool, engine, BATCH).await?;
        if n == 0 {
            return Ok(read);
        }
        claimed.notify_one();
        read += n;
    }
}
