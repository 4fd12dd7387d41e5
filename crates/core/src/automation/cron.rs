//! The `schedule` trigger's cron expression: the five classic fields (minute, hour, day of month,
//! month, day of week), each `*`, a number, a range `a-b`, a list `a,b` and a step `*/n` or `a-b/n`.
//! Matched against local time in the business's IANA timezone, so "9 every weekday" stays 9 across
//! daylight-saving changes.

use chrono::{Datelike, NaiveDateTime, Timelike};

use super::rules::Problem;

/// A parsed cron expression: for each field, the set of values it allows (as a bit mask).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    /// Day of month and day of week both restricted: classic cron fires when either matches.
    either_day: bool,
}

const FIELDS: [(&str, u32, u32); 5] =
    [("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7)];

impl Cron {
    /// Parses `expression`; a problem names the field at `path` and the fix.
    pub fn parse(expression: &str, path: &str) -> Result<Cron, Problem> {
        let fields: Vec<&str> = expression.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(Problem::new(
                path,
                format!("a cron expression has 5 fields, {expression:?} has {}", fields.len()),
                r#"write minute hour day-of-month month day-of-week, e.g. "0 9 * * 1-5" (09:00 on weekdays)"#,
            ));
        }
        let mut masks = [0u64; 5];
        for (i, (field, (name, low, high))) in fields.iter().zip(FIELDS).enumerate() {
            masks[i] = mask(field, low, high).ok_or_else(|| {
                Problem::new(
                    path,
                    format!("the {name} field {field:?} is not valid"),
                    format!("use *, a number {low}-{high}, a range a-b, a list a,b or a step */n"),
                )
            })?;
        }
        // Sunday is 0 or 7.
        let weekdays = ((masks[4] | (masks[4] >> 7)) & 0x7f) as u8;
        Ok(Cron {
            minutes: masks[0],
            hours: masks[1] as u32,
            days: masks[2] as u32,
            months: masks[3] as u16,
            weekdays,
            either_day: fields[2] != "*" && fields[4] != "*",
        })
    }

    /// Whether the expression fires at the local minute `at`.
    pub fn matches(&self, at: NaiveDateTime) -> bool {
        let day = self.days & (1 << at.day()) != 0;
        let weekday = self.weekdays & (1 << at.weekday().num_days_from_sunday()) != 0;
        let day_ok = if self.either_day { day || weekday } else { day && weekday };
        self.minutes & (1 << at.minute()) != 0
            && self.hours & (1 << at.hour()) != 0
            && self.months & (1 << at.month()) != 0
            && day_ok
    }
}

/// The values one field allows, as bits; `None` when the field is malformed or out of range.
fn mask(field: &str, low: u32, high: u32) -> Option<u64> {
    let mut bits = 0u64;
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => (range, step.parse::<u32>().ok().filter(|s| *s > 0)?),
            None => (part, 1),
        };
        let (from, to) = match range {
            "*" => (low, high),
            _ => match range.split_once('-') {
                Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
                None => {
                    let n = range.parse().ok()?;
                    (n, if part.contains('/') { high } else { n })
                }
            },
        };
        if from < low || to > high || from > to {
            return None;
        }
        bits |= (from..=to).step_by(step as usize).fold(0, |acc, v| acc | (1u64 << v));
    }
    Some(bits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d).unwrap().and_hms_opt(h, min, 0).unwrap()
    }

    #[test]
    fn fields_ranges_lists_and_steps() {
        let weekdays_at_nine = Cron::parse("0 9 * * 1-5", "$.cron").unwrap();
        assert!(weekdays_at_nine.matches(at(2026, 12, 7, 9, 0)), "a Monday");
        assert!(!weekdays_at_nine.matches(at(2026, 12, 6, 9, 0)), "a Sunday");
        assert!(!weekdays_at_nine.matches(at(2026, 12, 7, 9, 1)));
        let quarter = Cron::parse("*/15 8-10,14 * * *", "$.cron").unwrap();
        assert!(quarter.matches(at(2026, 1, 1, 14, 45)));
        assert!(!quarter.matches(at(2026, 1, 1, 11, 0)));
        let sunday = Cron::parse("30 18 * * 7", "$.cron").unwrap();
        assert!(sunday.matches(at(2026, 12, 6, 18, 30)));
        let first_or_friday = Cron::parse("0 0 1 * 5", "$.cron").unwrap();
        assert!(first_or_friday.matches(at(2026, 12, 1, 0, 0)), "the 1st, a Tuesday");
        assert!(first_or_friday.matches(at(2026, 12, 4, 0, 0)), "a Friday");
    }

    #[test]
    fn malformed_expressions_name_the_field() {
        for (bad, field) in
            [("0 9 * *", "5 fields"), ("61 9 * * *", "minute"), ("0 9 * 13 *", "month"), ("0 */0 * * *", "hour")]
        {
            let p = Cron::parse(bad, "$.cron").unwrap_err();
            assert!(p.message.contains(field), "{bad}: {}", p.message);
            assert_eq!(p.path, "$.cron");
        }
    }
}
