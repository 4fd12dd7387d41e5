//! Pacing bulk sends per business phone number: a token bucket (governor's GCRA) keyed by the number's
//! `phone_number_id`. Meta allows a number 80 messages per second by default and up to 1,000 once
//! upgraded (shared/whatsapp-cloud-api.md §5); going past it costs 130429 answers, not more throughput.
//!
//! One bucket per rate per process, shared by every campaign tick the job queue's workers run at once,
//! so two campaigns on one number split its rate instead of each taking all of it. Separate daemons
//! keep separate buckets: run one sending daemon per number, or give each a share of the rate.

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, OnceLock};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::{Error, Result};

/// Messages per second per number when nothing is configured: Meta's default throughput.
pub const DEFAULT_RATE: u32 = 80;
/// The most Meta lets a number send per second (upgraded throughput).
pub const MAX_RATE: u32 = 1_000;

type Buckets = DefaultKeyedRateLimiter<String>;

/// A handle on the process's buckets for one rate.
#[derive(Clone)]
pub struct Pacer {
    rate: u32,
    buckets: Arc<Buckets>,
}

impl fmt::Debug for Pacer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pacer({}/s per number)", self.rate)
    }
}

impl Pacer {
    /// The process's pacer for `rate` messages per second per number (1 to [`MAX_RATE`]).
    pub fn shared(rate: u32) -> Result<Pacer> {
        let per_second = NonZeroU32::new(rate).filter(|_| rate <= MAX_RATE).ok_or_else(|| {
            Error::invalid(
                format!("a send rate of {rate} messages per second per number is outside 1 to {MAX_RATE}"),
                format!(
                    "set broadcast_rate between 1 and {MAX_RATE} (Meta's default throughput is {DEFAULT_RATE}, \
                     1,000 after an upgrade) in the config file or WACRM_BROADCAST_RATE"
                ),
            )
        })?;
        static ALL: OnceLock<Mutex<HashMap<u32, Arc<Buckets>>>> = OnceLock::new();
        let mut all = ALL.get_or_init(Mutex::default).lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let buckets = all
            .entry(rate)
            .or_insert_with(|| {
                // A tenth of a second of burst: smooth enough to leave the number room for replies, large
                // enough that the scheduler's jitter does not cost throughput.
                let burst = NonZeroU32::new((rate / 10).max(1)).unwrap_or(NonZeroU32::MIN);
                Arc::new(RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)))
            })
            .clone();
        Ok(Pacer { rate, buckets })
    }

    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Waits until the number may send one more message, and takes that token.
    pub async fn until_ready(&self, phone_number_id: &str) {
        self.buckets.until_key_ready(&phone_number_id.to_string()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_number_spends_its_own_bucket_shared_by_every_handle_of_the_rate() {
        // At 10 per second the burst is one token: the next one is 100 ms away.
        Pacer::shared(10).unwrap().until_ready("111").await;
        let again = Pacer::shared(10).unwrap();
        assert!(again.buckets.check_key(&"111".to_string()).is_err(), "a second handle shares the spent bucket");
        assert!(again.buckets.check_key(&"222".to_string()).is_ok(), "another number has its own bucket");
        assert!(Pacer::shared(0).is_err());
        assert!(Pacer::shared(MAX_RATE + 1).is_err());
        assert_eq!(Pacer::shared(MAX_RATE).unwrap().rate(), MAX_RATE);
    }
}
