//! What sends led to: delivered, read, replied, converted. The campaign, template and automation
//! reports count sends the same way (the definitions of SQL functions `wacrm_reply_after` and
//! `wacrm_paid_after`, migration 0060), so their figures agree with one another. A send's reply time
//! is stored on it (`messages.replied_at`, migration 0075) by `analytics refresh`; for contacts whose
//! messages changed since, the reports look it up live, so figures are exact either way. Conversions
//! are a hash join of the sends with the business's moves to Paid (a few per cent of its history)
//! instead of a lookup per send.

use serde::Serialize;

use crate::analytics::ratio;

/// A reply is the customer's first message within this many hours after a send: broadcast's own
/// attribution window, so a campaign's replies here are those `broadcast stats` counts.
/// Replies counted after a send: the campaigns' default window.
pub use crate::broadcast::DEFAULT_REPLY_WINDOW_HOURS as REPLY_WINDOW_HOURS;

/// A conversion is a move to Paid within this many days after a reply (or after an automated action).
pub const CONVERSION_WINDOW_DAYS: i32 = 30;

/// Meta's "limited by Meta" error: the per-user marketing message limit (131049), a send Meta refused
/// to protect the customer's experience, not a fault of the number or the template. The send outcomes
/// rollup (migration 0090) counts it by this code, written there as a literal.
pub const META_LIMIT_CODE: i32 = 131049;

/// The outcomes of a set of outbound messages and their rates.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SendOutcomes {
    /// Outbound messages, including those still being sent.
    pub messages: i64,
    /// Handed to Meta (every message but those still being sent): the rates' base.
    pub sent: i64,
    pub failed: i64,
    /// Of the failed, refused by Meta's per-user marketing limit (131049).
    pub limited_by_meta: i64,
    /// Delivered (read messages were delivered too).
    pub delivered: i64,
    pub read: i64,
    /// Sends the customer answered within [`REPLY_WINDOW_HOURS`].
    pub replied: i64,
    /// Replied sends whose contact moved to Paid within [`CONVERSION_WINDOW_DAYS`] of the reply.
    pub converted: i64,
    /// delivered / sent
    pub delivery_rate: Option<f64>,
    /// read / delivered
    pub read_rate: Option<f64>,
    /// replied / delivered
    pub reply_rate: Option<f64>,
    /// converted / replied
    pub conversion_rate: Option<f64>,
}

impl SendOutcomes {
    /// The outcomes of these counts, in the order of the fields, with their rates.
    pub(crate) fn counted(counts: [i64; 8]) -> SendOutcomes {
        let [messages, sent, failed, limited_by_meta, delivered, read, replied, converted] = counts;
        SendOutcomes {
            messages,
            sent,
            failed,
            limited_by_meta,
            delivered,
            read,
            replied,
            converted,
            delivery_rate: ratio(delivered, sent),
            read_rate: ratio(read, delivered),
            reply_rate: ratio(replied, delivered),
            conversion_rate: ratio(converted, replied),
        }
    }

    fn counts(&self) -> [i64; 8] {
        [
            self.messages,
            self.sent,
            self.failed,
            self.limited_by_meta,
            self.delivered,
            self.read,
            self.replied,
            self.converted,
        ]
    }

    /// The outcomes of both sets of sends together.
    pub fn plus(&self, other: &SendOutcomes) -> SendOutcomes {
        let (a, b) = (self.counts(), other.counts());
        SendOutcomes::counted(std::array::from_fn(|i| a[i] + b[i]))
    }

    /// All of them together (zeros for none).
    pub fn total<'a>(all: impl IntoIterator<Item = &'a SendOutcomes>) -> SendOutcomes {
        all.into_iter().fold(SendOutcomes::counted([0; 8]), |sum, o| sum.plus(o))
    }
}

#[cfg(test)]
mod tests {
    use super::SendOutcomes;

    #[test]
    fn rates_have_their_own_base_and_none_without_one() {
        let o = SendOutcomes::counted([10, 8, 2, 1, 5, 4, 2, 1]);
        assert_eq!(
            (o.delivery_rate, o.read_rate, o.reply_rate, o.conversion_rate),
            (Some(0.625), Some(0.8), Some(0.4), Some(0.5))
        );
        let none = SendOutcomes::total([]);
        assert_eq!((none.messages, none.delivery_rate, none.conversion_rate), (0, None, None));
        let both = o.plus(&o);
        assert_eq!((both.sent, both.converted, both.delivery_rate), (16, 2, Some(0.625)));
    }
}
