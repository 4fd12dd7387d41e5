//! Response times over any range without sorting its waits: counts, sums and the bin each median lies
//! in come from the per-UTC-day histogram of stored waits (`analytics_wait_days`, migration 0085),
//! then only the waits of those bins are read, and the medians are picked from them. Exact: the
//! same figures as `percentile_cont(0.5)` and `avg` over every wait of the range.
//!
//! The histogram covers the range's whole UTC days; the partial days at its ends (local midnights are
//! rarely UTC ones) are read from the stored waits. Contacts marked dirty (messages changed since the
//! last refresh) have their stored waits taken out and their live waits (`wacrm_waits`) put in.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Days, NaiveTime, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use sqlx::PgPool;

use crate::analytics::range::Range;
use crate::error::Result;

/// The waits one figure is computed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Group {
    /// Every reply.
    All,
    /// Replies to a conversation's opening message.
    Opening,
    /// One replier's replies (0: sends without a user).
    Replier(i32),
}

/// A group's replies: how many, their average and median seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Figures {
    pub replies: i64,
    pub average_seconds: Option<f64>,
    pub median_seconds: Option<f64>,
}

/// Values per bin (waits of a group, with their seconds summed; stays of a stage), enough to find the
/// bins a percentile lies in and to compute it from those bins' values alone.
#[derive(Default)]
pub(super) struct Histogram {
    bins: BTreeMap<i32, i64>,
    replies: i64,
    seconds: Decimal,
}

impl Histogram {
    pub(super) fn add(&mut self, bin: i32, waits: i64, seconds: Decimal) {
        *self.bins.entry(bin).or_default() += waits;
        self.replies += waits;
        self.seconds += seconds;
    }

    /// How many values were added.
    pub(super) fn count(&self) -> i64 {
        self.replies
    }

    /// The values' average (none without values).
    pub(super) fn average(&self) -> Option<f64> {
        (self.replies > 0).then(|| (self.seconds / Decimal::from(self.replies)).to_f64()).flatten()
    }

    /// The 0-based ranks `percentile_cont(percentile)` interpolates between, and its weight on the second.
    fn ranks(&self, percentile: f64) -> Option<(i64, i64, f64)> {
        let position = percentile * (self.replies - 1) as f64;
        (self.replies > 0).then(|| (position.floor() as i64, position.ceil() as i64, position - position.floor()))
    }

    /// The bin holding the value of `rank` (0-based, in order) and the values of earlier bins.
    fn bin_of(&self, rank: i64) -> (i32, i64) {
        let mut before = 0;
        for (&bin, &n) in &self.bins {
            if rank < before + n {
                return (bin, before);
            }
            before += n;
        }
        unreachable!("rank {rank} is below the {} values counted", self.replies)
    }

    /// Where the two values `percentile_cont(percentile)` interpolates between lie: each one's bin and
    /// its 0-based place among that bin's values in order (none without values).
    pub(super) fn percentile_places(&self, percentile: f64) -> Vec<(i32, i64)> {
        self.ranks(percentile).map_or_else(Vec::new, |(first, second, _)| vec![self.place(first), self.place(second)])
    }

    fn place(&self, rank: i64) -> (i32, i64) {
        let (bin, before) = self.bin_of(rank);
        (bin, rank - before)
    }

    /// `percentile_cont(percentile)` of the values, from the values at its places (`value_at(bin,
    /// place)`); none without values, or when a place holds none (a rollup that drifted from its rows,
    /// which `analytics verify` reports).
    pub(super) fn percentile_cont(&self, percentile: f64, value_at: impl Fn(i32, i64) -> Option<f64>) -> Option<f64> {
        let (first, second, weight) = self.ranks(percentile)?;
        let at = |rank: i64| {
            let (bin, place) = self.place(rank);
            value_at(bin, place)
        };
        let (low, high) = (at(first)?, at(second)?);
        // percentile_cont's interpolation, in its order of operations.
        Some(low + (high - low) * weight)
    }
}

/// All waits that began in the range (unanswered included), and the figures of every group with a reply.
pub(super) async fn figures(pool: &PgPool, business: i32, range: &Range) -> Result<(i64, HashMap<Group, Figures>)> {
    let (waits, groups) = histograms(pool, business, range).await?;
    // Where each group's median lies: only the waits of those bins are read.
    let bins: BTreeSet<i32> = groups.values().flat_map(|h| h.percentile_places(0.5)).map(|(bin, _)| bin).collect();
    let values = bin_values(pool, business, range, &bins.into_iter().collect::<Vec<_>>()).await?;
    let mut figures = HashMap::new();
    for (group, histogram) in &groups {
        // The group's own values of its median's bins (one or two), each sorted once.
        let bins: BTreeSet<i32> = histogram.percentile_places(0.5).into_iter().map(|(bin, _)| bin).collect();
        let own: HashMap<i32, Vec<f64>> = bins
            .into_iter()
            .map(|bin| {
                let mut own: Vec<f64> = values
                    .iter()
                    .filter(|v| v.bin == bin && v.belongs_to(*group))
                    .flat_map(|v| v.seconds.iter().copied())
                    .collect();
                own.sort_unstable_by(f64::total_cmp);
                (bin, own)
            })
            .collect();
        let value_at = |bin: i32, place: i64| own.get(&bin)?.get(usize::try_from(place).ok()?).copied();
        let Some(median) = histogram.percentile_cont(0.5, value_at) else { continue };
        figures.insert(
            *group,
            Figures { replies: histogram.replies, average_seconds: histogram.average(), median_seconds: Some(median) },
        );
    }
    Ok((waits, figures))
}

/// All waits that began in the range (unanswered included), and the histogram of every group's replies:
/// enough for counts and averages without reading a single wait of the range's whole UTC days.
pub(super) async fn histograms(
    pool: &PgPool,
    business: i32,
    range: &Range,
) -> Result<(i64, BTreeMap<Group, Histogram>)> {
    let (whole_from, whole_to) = whole_utc_days(range);
    let rows = sqlx::query!(
        r#"WITH dirty AS (
               SELECT contact_id FROM analytics_dirty_contacts WHERE business_id = $1
           ), partial AS (
               SELECT 1 AS sign, w.asked_at, w.replied_at, w.replier, w.opens FROM analytics_waits w
               WHERE w.business_id = $1
                 AND ((w.asked_at >= $2 AND w.asked_at < $4) OR (w.asked_at >= $5 AND w.asked_at < $3))
                 AND NOT EXISTS (SELECT 1 FROM dirty d WHERE d.contact_id = w.contact_id)
               UNION ALL
               SELECT -1, w.asked_at, w.replied_at, w.replier, w.opens FROM analytics_waits w
               WHERE w.business_id = $1 AND w.contact_id IN (SELECT contact_id FROM dirty)
                 AND w.asked_at >= $4 AND w.asked_at < $5
               UNION ALL
               -- Called only when some contact is dirty: planning its body costs ~2 ms even with none.
               SELECT 1, w.asked_at, w.replied_at, w.replier, w.opens
               FROM (SELECT ARRAY(SELECT contact_id FROM dirty) AS ids) d, LATERAL wacrm_waits($1, d.ids) w
               WHERE cardinality(d.ids) > 0 AND w.asked_at >= $2 AND w.asked_at < $3
           ), counted AS (
               SELECT replier, opens, bin, waits, seconds FROM analytics_wait_days
               WHERE business_id = $1 AND day >= ($4 AT TIME ZONE 'UTC')::date AND day < ($5 AT TIME ZONE 'UTC')::date
               UNION ALL
               SELECT CASE WHEN replied_at IS NULL THEN -1 ELSE coalesce(replier, 0) END, opens,
                      wacrm_wait_bin(asked_at, replied_at), sign,
                      sign * coalesce(extract(epoch FROM replied_at - asked_at), 0)
               FROM partial
           )
           SELECT replier AS "replier!", opens AS "opens!", bin AS "bin!", sum(waits)::bigint AS "waits!",
                  sum(seconds) AS "seconds!"
           FROM counted GROUP BY 1, 2, 3 HAVING sum(waits) <> 0"#,
        business,
        range.start,
        range.end,
        whole_from,
        whole_to
    )
    .fetch_all(pool)
    .await?;
    let mut waits = 0;
    let mut groups: BTreeMap<Group, Histogram> = BTreeMap::new();
    for row in rows {
        waits += row.waits;
        if row.replier < 0 {
            continue;
        }
        let mut add = |group| groups.entry(group).or_default().add(row.bin, row.waits, row.seconds);
        add(Group::All);
        add(Group::Replier(row.replier));
        if row.opens {
            add(Group::Opening);
        }
    }
    Ok((waits, groups))
}

/// The seconds of a bin's replies that fall in the same groups (one replier, opening or not).
struct Value {
    replier: i32,
    opens: bool,
    bin: i32,
    seconds: Vec<f64>,
}

impl Value {
    fn belongs_to(&self, group: Group) -> bool {
        match group {
            Group::All => true,
            Group::Opening => self.opens,
            Group::Replier(replier) => self.replier == replier,
        }
    }
}

/// Every reply of the range in these bins, grouped by bin and group key: clean contacts' stored waits
/// (an index-only scan of idx_analytics_waits_bin) and dirty contacts' live ones.
async fn bin_values(pool: &PgPool, business: i32, range: &Range, bins: &[i32]) -> Result<Vec<Value>> {
    if bins.is_empty() {
        return Ok(Vec::new());
    }
    Ok(sqlx::query_as!(
        Value,
        r#"WITH dirty AS (
               SELECT contact_id FROM analytics_dirty_contacts WHERE business_id = $1
           ), waits AS (
               SELECT w.wait_bin AS bin, w.asked_at, w.replied_at, w.replier, w.opens FROM analytics_waits w
               WHERE w.business_id = $1 AND w.wait_bin = ANY($4) AND w.asked_at >= $2 AND w.asked_at < $3
                 AND NOT EXISTS (SELECT 1 FROM dirty d WHERE d.contact_id = w.contact_id)
               UNION ALL
               SELECT b.bin, w.asked_at, w.replied_at, w.replier, w.opens
               FROM (SELECT ARRAY(SELECT contact_id FROM dirty) AS ids) d, LATERAL wacrm_waits($1, d.ids) w,
                    LATERAL (SELECT wacrm_wait_bin(w.asked_at, w.replied_at) AS bin) b
               WHERE cardinality(d.ids) > 0 AND w.asked_at >= $2 AND w.asked_at < $3 AND b.bin = ANY($4)
           )
           -- An array per bin and group key: one float8[] decodes far faster than a row per reply (tens
           -- of thousands over a long range). date_part gives float8 directly; extract's numeric is slower.
           SELECT coalesce(replier, 0) AS "replier!", opens AS "opens!", bin AS "bin!",
                  array_agg(date_part('epoch', replied_at - asked_at)) AS "seconds!"
           FROM waits GROUP BY 1, 2, 3"#,
        business,
        range.start,
        range.end,
        bins
    )
    .fetch_all(pool)
    .await?)
}

/// The whole UTC days inside the range, as instants (from the first UTC midnight at or after its start
/// to the last at or before its end); an empty span at the range's end when there is none.
pub(super) fn whole_utc_days(range: &Range) -> (DateTime<Utc>, DateTime<Utc>) {
    let midnight = |at: DateTime<Utc>| at.date_naive().and_time(NaiveTime::MIN).and_utc();
    let mut from = midnight(range.start);
    if from < range.start {
        from = from.checked_add_days(Days::new(1)).unwrap_or(range.end);
    }
    let to = midnight(range.end);
    if from < to { (from, to) } else { (range.end, range.end) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(bins: &[(i32, i64)]) -> Histogram {
        let mut h = Histogram::default();
        for &(bin, n) in bins {
            h.add(bin, n, Decimal::ZERO);
        }
        h
    }

    #[test]
    fn the_percentile_ranks_and_their_bins_follow_percentile_cont() {
        let h = histogram(&[(3, 2), (7, 1), (9, 3)]);
        assert_eq!(h.ranks(0.5), Some((2, 3, 0.5)));
        assert_eq!((h.bin_of(2), h.bin_of(3), h.bin_of(0)), ((7, 2), (9, 3), (3, 0)));
        assert_eq!(histogram(&[(1, 3)]).ranks(0.5), Some((1, 1, 0.0)));
        assert_eq!(histogram(&[]).ranks(0.5), None);
        // p90 of 6 values: 0.9 * 5 = 4.5, between the 5th and 6th (the 2nd and 3rd of bin 9).
        assert_eq!(h.percentile_places(0.9), vec![(9, 1), (9, 2)]);
        let value_at = |bin: i32, place: i64| {
            let bins: [(i32, &[f64]); 3] = [(3, &[1.0, 2.0]), (7, &[5.0]), (9, &[7.0, 8.0, 9.0])];
            bins.iter().find(|b| b.0 == bin).and_then(|b| b.1.get(place as usize)).copied()
        };
        assert_eq!(h.percentile_cont(0.5, value_at), Some(6.0));
        assert_eq!(h.percentile_cont(0.9, value_at), Some(8.5));
        // A place with no value (a drifted rollup) gives no figure, not a panic.
        assert_eq!(h.percentile_cont(0.9, |_, place| (place == 0).then_some(1.0)), None);
    }

    #[test]
    fn whole_utc_days_leave_partial_days_at_the_ends() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let range = |start: &str, end: &str| Range {
            start: at(start),
            end: at(end),
            ..Range::resolve(Default::default(), crate::analytics::Timezone::UTC, at("2026-03-10T00:00:00Z")).unwrap()
        };
        // Kathmandu's March: 18:15 UTC to 18:15 UTC.
        let march = range("2026-02-28T18:15:00Z", "2026-03-31T18:15:00Z");
        assert_eq!(whole_utc_days(&march), (at("2026-03-01T00:00:00Z"), at("2026-03-31T00:00:00Z")));
        let utc = range("2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z");
        assert_eq!(whole_utc_days(&utc), (utc.start, utc.end));
        // One local day east of UTC holds no whole UTC day: all of it is read from the waits.
        let day = range("2026-03-01T18:15:00Z", "2026-03-02T18:15:00Z");
        assert_eq!(whole_utc_days(&day), (day.end, day.end));
    }
}
