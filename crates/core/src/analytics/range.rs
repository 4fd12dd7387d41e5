//! The range and granularity every report takes: local calendar dates of the business's IANA timezone
//! (`--from`, `--to`, `--by day|week|month`), turned into exact UTC instants and local periods.
//!
//! Reports read counts per 15-minute UTC bucket and fold them into local periods here, with chrono-tz:
//! every current UTC offset is a multiple of 15 minutes, so a bucket never straddles a local midnight,
//! and a day that DST makes 23 or 25 hours long is still exactly one local day.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Days, Duration, LocalResult, Months, NaiveDate, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, input};

/// The most periods one report lists: a day-by-day report of more than about three years is a
/// mistake (or a week or month report).
pub const MAX_PERIODS: usize = 1_100;

/// The width of a rollup bucket (see migration 0036); UTC instants aligned to it.
pub const BUCKET: Duration = Duration::minutes(15);

/// A business's reporting timezone: an IANA name such as `Europe/Berlin` (never a fixed offset, which
/// is wrong for half the year wherever DST applies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timezone(Tz);

impl Timezone {
    pub const UTC: Timezone = Timezone(Tz::UTC);

    pub fn tz(self) -> Tz {
        self.0
    }

    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// Today's date in this timezone at `now`.
    pub fn today(self, now: DateTime<Utc>) -> NaiveDate {
        now.with_timezone(&self.0).date_naive()
    }

    /// The instant the local day `date` begins. Where DST skips midnight (Havana, Santiago, Beirut…),
    /// the day begins at the first local time that exists; where midnight happens twice, at the first.
    pub fn start_of_day(self, date: NaiveDate) -> DateTime<Utc> {
        let mut local = date.and_time(chrono::NaiveTime::MIN);
        loop {
            match self.0.from_local_datetime(&local) {
                LocalResult::Single(at) => return at.with_timezone(&Utc),
                LocalResult::Ambiguous(first, _) => return first.with_timezone(&Utc),
                // Inside a gap: gaps are at most a few hours and move forward in 15-minute steps.
                LocalResult::None => local += BUCKET,
            }
        }
    }

    /// The local date of an instant.
    pub fn date_of(self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.0).date_naive()
    }
}

impl FromStr for Timezone {
    type Err = Error;
    fn from_str(s: &str) -> Result<Timezone> {
        let name = s.trim();
        // Case-insensitive, as people type `europe/berlin`; stored in its canonical spelling.
        name.parse::<Tz>().or_else(|_| Tz::from_str_insensitive(name)).map(Timezone).map_err(|_| {
            Error::invalid(
                format!("{name:?} is not an IANA timezone"),
                "use a name from the tz database such as Europe/Berlin, America/Sao_Paulo, Asia/Kolkata or UTC \
                 (not an offset like +02:00, which is wrong across daylight saving time)",
            )
        })
    }
}

impl fmt::Display for Timezone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Timezone {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// How a report's series is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    #[default]
    Day,
    /// ISO weeks, Monday to Sunday.
    Week,
    Month,
}

impl Granularity {
    pub const ALL: &'static [Granularity] = &[Granularity::Day, Granularity::Week, Granularity::Month];

    pub fn as_str(self) -> &'static str {
        match self {
            Granularity::Day => "day",
            Granularity::Week => "week",
            Granularity::Month => "month",
        }
    }

    /// The first day of the period `date` is in.
    pub fn period_of(self, date: NaiveDate) -> NaiveDate {
        match self {
            Granularity::Day => date,
            Granularity::Week => date.week(Weekday::Mon).first_day(),
            Granularity::Month => date.with_day(1).unwrap_or(date),
        }
    }

    /// The first day of the period after the one starting on `start`.
    fn next(self, start: NaiveDate) -> Option<NaiveDate> {
        match self {
            Granularity::Day => start.checked_add_days(Days::new(1)),
            Granularity::Week => start.checked_add_days(Days::new(7)),
            Granularity::Month => start.checked_add_months(Months::new(1)),
        }
    }
}

impl fmt::Display for Granularity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Granularity {
    type Err = Error;
    fn from_str(s: &str) -> Result<Granularity> {
        Granularity::ALL.iter().copied().find(|g| g.as_str().eq_ignore_ascii_case(s.trim())).ok_or_else(|| {
            Error::invalid(
                format!("{s:?} is not a granularity"),
                format!("group by day, week or month ({})", input("by")),
            )
        })
    }
}

/// A date as typed on the command line: `YYYY-MM-DD`.
pub fn parse_date(input: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(input.trim(), "%Y-%m-%d")
        .map_err(|_| Error::invalid(format!("{input:?} is not a date"), "write dates as YYYY-MM-DD, e.g. 2026-03-01"))
}

/// What was asked for; unset dates take the defaults of [`Range::resolve`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RangeRequest {
    /// First local day, included (default: the first day of the current month).
    pub from: Option<NaiveDate>,
    /// Last local day, included (default: today).
    pub to: Option<NaiveDate>,
    pub by: Granularity,
}

/// A resolved range: local days `from..=to` of `timezone`, the UTC instants `[start, end)` they span,
/// and the granularity of its series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Range {
    pub timezone: Timezone,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub by: Granularity,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Range {
    /// Fills in the defaults (this month to today, in the business's timezone at `now`) and checks the
    /// request: `from` not after `to`, at most [`MAX_PERIODS`] periods.
    pub fn resolve(request: RangeRequest, timezone: Timezone, now: DateTime<Utc>) -> Result<Range> {
        let today = timezone.today(now);
        let to = request.to.unwrap_or(today);
        let from = request.from.unwrap_or_else(|| Granularity::Month.period_of(request.to.unwrap_or(today)));
        if from > to {
            return Err(Error::invalid(
                format!("the range starts ({from}) after it ends ({to})"),
                format!("give the earlier date as the start ({}; both days are included)", input("from")),
            ));
        }
        let end_day = to.checked_add_days(Days::new(1)).ok_or_else(|| {
            Error::invalid(
                format!("the range's end {to} is too far in the future"),
                "give a date before the year 262000",
            )
        })?;
        let range = Range {
            timezone,
            from,
            to,
            by: request.by,
            start: timezone.start_of_day(from),
            end: timezone.start_of_day(end_day),
        };
        let periods = range.periods().len();
        if periods > MAX_PERIODS {
            let hint = match request.by {
                Granularity::Day => format!("group by week or month ({}), or use a shorter range", input("by")),
                _ => "use a shorter range".to_string(),
            };
            return Err(Error::invalid(
                format!("{from} to {to} is {periods} {}s: a report lists at most {MAX_PERIODS}", request.by),
                hint,
            ));
        }
        Ok(range)
    }

    /// The first day of each period the range touches, in order; the first and last may be cut short
    /// by the range (a week report from a Wednesday starts its first week on that Wednesday's Monday).
    pub fn periods(&self) -> Vec<NaiveDate> {
        let mut periods = Vec::new();
        let mut start = self.by.period_of(self.from);
        while start <= self.to && periods.len() <= MAX_PERIODS {
            periods.push(start);
            match self.by.next(start) {
                Some(next) => start = next,
                None => break,
            }
        }
        periods
    }

    /// The period an instant falls in (its local date's period).
    pub fn period_of(&self, at: DateTime<Utc>) -> NaiveDate {
        self.by.period_of(self.timezone.date_of(at))
    }

    /// Whether an instant lies inside the range.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.start <= at && at < self.end
    }
}

/// One value per period of `range`, in order, every period present (zeros where nothing happened):
/// `rows` are (instant, value) pairs, typically per rollup bucket, added into their local period.
pub fn series<T: Default + Clone, V>(
    range: &Range,
    rows: impl IntoIterator<Item = (DateTime<Utc>, V)>,
    mut add: impl FnMut(&mut T, V),
) -> Vec<(NaiveDate, T)> {
    let periods = range.periods();
    let mut values = vec![T::default(); periods.len()];
    for (at, value) in rows {
        if !range.contains(at) {
            continue;
        }
        if let Ok(i) = periods.binary_search(&range.period_of(at)) {
            add(&mut values[i], value);
        }
    }
    periods.into_iter().zip(values).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tz(name: &str) -> Timezone {
        name.parse().unwrap()
    }

    fn date(s: &str) -> NaiveDate {
        parse_date(s).unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn timezones_are_iana_names_in_any_case_and_offsets_are_refused() {
        assert_eq!(tz("europe/berlin").name(), "Europe/Berlin");
        assert_eq!(tz(" UTC ").name(), "UTC");
        for bad in ["+02:00", "CEST-ish", "", "Mars/Olympus"] {
            let err = bad.parse::<Timezone>().unwrap_err();
            assert!(err.to_string().contains("not an IANA timezone"), "{bad}: {err}");
            assert!(err.hint().unwrap().contains("Europe/Berlin"));
        }
    }

    #[test]
    fn dst_days_are_23_and_25_hours_long_but_one_local_day_each() {
        let berlin = tz("Europe/Berlin");
        // 2026-03-29: clocks go 02:00 → 03:00; 2026-10-25: 03:00 → 02:00.
        let spring = berlin.start_of_day(date("2026-03-30")) - berlin.start_of_day(date("2026-03-29"));
        let autumn = berlin.start_of_day(date("2026-10-26")) - berlin.start_of_day(date("2026-10-25"));
        assert_eq!((spring.num_hours(), autumn.num_hours()), (23, 25));
        assert_eq!(berlin.start_of_day(date("2026-03-29")), utc("2026-03-28T23:00:00Z"));
        assert_eq!(berlin.start_of_day(date("2026-03-30")), utc("2026-03-29T22:00:00Z"));
    }

    #[test]
    fn a_day_whose_midnight_does_not_exist_starts_at_its_first_real_minute() {
        // Santiago springs forward at 24:00 on the first Saturday of September: 2026-09-06 starts at 01:00.
        let santiago = tz("America/Santiago");
        let start = santiago.start_of_day(date("2026-09-06"));
        assert_eq!(start.with_timezone(&santiago.tz()).format("%H:%M").to_string(), "01:00");
        assert_eq!(santiago.date_of(start), date("2026-09-06"));
        assert_eq!(santiago.date_of(start - Duration::seconds(1)), date("2026-09-05"));
    }

    #[test]
    fn defaults_are_this_local_month_to_today() {
        let tokyo = tz("Asia/Tokyo");
        // 2026-11-30 20:00 UTC is already 1 December in Tokyo.
        let range = Range::resolve(RangeRequest::default(), tokyo, utc("2026-11-30T20:00:00Z")).unwrap();
        assert_eq!((range.from, range.to), (date("2026-12-01"), date("2026-12-01")));
        assert_eq!(range.start, utc("2026-11-30T15:00:00Z"));
        assert_eq!(range.end, utc("2026-12-01T15:00:00Z"));
        let only_to = RangeRequest { to: Some(date("2026-02-10")), ..RangeRequest::default() };
        assert_eq!(Range::resolve(only_to, tokyo, utc("2026-11-30T20:00:00Z")).unwrap().from, date("2026-02-01"));
    }

    #[test]
    fn bad_ranges_are_refused_with_a_way_out() {
        let now = utc("2026-06-15T12:00:00Z");
        let backwards =
            RangeRequest { from: Some(date("2026-06-10")), to: Some(date("2026-06-01")), by: Granularity::Day };
        let err = Range::resolve(backwards, Timezone::UTC, now).unwrap_err();
        assert!(err.to_string().contains("after it ends"), "{err}");
        let long = RangeRequest { from: Some(date("2016-01-01")), to: Some(date("2026-01-01")), by: Granularity::Day };
        let err = Range::resolve(long, Timezone::UTC, now).unwrap_err();
        assert!(err.hint().unwrap().contains("group by week"), "{err}");
        assert!(Range::resolve(RangeRequest { by: Granularity::Month, ..long }, Timezone::UTC, now).is_ok());
        assert!(parse_date("2026-13-01").is_err());
        assert!("fortnight".parse::<Granularity>().is_err());
    }

    #[test]
    fn weeks_start_on_monday_and_months_on_the_first() {
        let request =
            RangeRequest { from: Some(date("2026-03-04")), to: Some(date("2026-03-17")), by: Granularity::Week };
        let range = Range::resolve(request, Timezone::UTC, utc("2026-06-01T00:00:00Z")).unwrap();
        assert_eq!(range.periods(), vec![date("2026-03-02"), date("2026-03-09"), date("2026-03-16")]);
        let months = Range { by: Granularity::Month, ..range };
        assert_eq!(months.periods(), vec![date("2026-03-01")]);
    }

    #[test]
    fn series_puts_each_instant_in_its_local_period_and_fills_gaps_with_zeros() {
        let sao_paulo = tz("America/Sao_Paulo"); // UTC-3, no DST since 2019
        let request =
            RangeRequest { from: Some(date("2026-01-31")), to: Some(date("2026-02-02")), by: Granularity::Day };
        let range = Range::resolve(request, sao_paulo, utc("2026-06-01T00:00:00Z")).unwrap();
        let rows = [
            (utc("2026-02-01T02:45:00Z"), 1),    // 31 Jan, 23:45 local: the month boundary is local
            (utc("2026-02-01T03:00:00Z"), 10),   // 1 Feb, 00:00 local
            (utc("2026-01-31T02:45:00Z"), 100),  // 30 Jan local: before the range
            (utc("2026-02-03T03:00:00Z"), 1000), // 3 Feb local: after it
        ];
        let got = series(&range, rows, |a: &mut i32, b| *a += b);
        assert_eq!(got, vec![(date("2026-01-31"), 1), (date("2026-02-01"), 10), (date("2026-02-02"), 0)]);
    }
}
