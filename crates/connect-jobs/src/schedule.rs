//! [`Schedule`]: `every 15m` or a 5-field cron expression, in UTC.
//!
//! The parser is written here rather than taken from a crate: the `cron`
//! crate reads 6 or 7 fields (seconds first), so `*/15 * * * *` means
//! something else there, and the grammar needed (five fields, `*`, lists,
//! ranges, steps, month and weekday names) is small enough to own, test and
//! give errors that say what to write.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Datelike, Duration as ChronoDuration, NaiveDate, TimeZone, Timelike, Utc};
use serde::{Deserialize, Deserializer};

/// What every schedule error ends with.
const HINT: &str = "write `every 15m` or a 5-field cron expression like `*/15 * * * *` (minute hour day-of-month month day-of-week, UTC)";

/// When a job runs: a fixed interval or a cron expression, in UTC.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use connect_jobs::Schedule;
///
/// let every: Schedule = "every 15m".parse()?;
/// let at = Utc.with_ymd_and_hms(2026, 3, 1, 10, 7, 0).unwrap();
/// assert_eq!(every.next_after(at), Utc.with_ymd_and_hms(2026, 3, 1, 10, 15, 0).unwrap());
///
/// let cron: Schedule = "30 2 * * MON-FRI".parse()?;
/// // 2026-03-01 is a Sunday: the next weekday run is Monday 02:30.
/// assert_eq!(cron.next_after(at), Utc.with_ymd_and_hms(2026, 3, 2, 2, 30, 0).unwrap());
/// # Ok::<(), connect_jobs::ScheduleError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Schedule {
    text: String,
    kind: Kind,
}

#[derive(Clone, PartialEq, Eq)]
enum Kind {
    Every(Duration),
    Cron(Box<Cron>),
}

/// A schedule that cannot be read: what is wrong and what to write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schedule `{text}`: {problem}; {HINT}")]
pub struct ScheduleError {
    /// The schedule as written.
    pub text: String,
    /// What is wrong with it.
    pub problem: String,
}

impl Schedule {
    /// Parses `every <n><s|m|h|d>` or a 5-field cron expression.
    pub fn parse(text: &str) -> Result<Self, ScheduleError> {
        let trimmed = text.trim();
        let error = |problem: String| ScheduleError {
            text: trimmed.to_owned(),
            problem,
        };
        if trimmed.is_empty() {
            return Err(error("it is empty".to_owned()));
        }
        let kind = match trimmed.strip_prefix("every") {
            Some(rest) if rest.is_empty() || rest.starts_with(char::is_whitespace) => {
                Kind::Every(parse_interval(rest.trim()).map_err(error)?)
            }
            _ => Kind::Cron(Box::new(Cron::parse(trimmed).map_err(error)?)),
        };
        Ok(Self {
            text: trimmed.to_owned(),
            kind,
        })
    }

    /// A schedule running every `interval` (at least one second), on
    /// multiples of it counted from 1970-01-01T00:00:00Z.
    pub fn every(interval: Duration) -> Result<Self, ScheduleError> {
        let seconds = interval.as_secs();
        if seconds == 0 {
            return Err(ScheduleError {
                text: format!("{interval:?}"),
                problem: "the interval must be at least 1s".to_owned(),
            });
        }
        Ok(Self {
            text: format!("every {seconds}s"),
            kind: Kind::Every(Duration::from_secs(seconds)),
        })
    }

    /// The schedule as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The interval of an `every` schedule; for a cron expression, `None`.
    pub fn interval(&self) -> Option<Duration> {
        match &self.kind {
            Kind::Every(interval) => Some(*interval),
            Kind::Cron(_) => None,
        }
    }

    /// The first run strictly after `after`.
    ///
    /// `every` schedules run on multiples of their interval since the Unix
    /// epoch, so every replica computes the same instants. Cron expressions
    /// run at whole minutes; one that can match (checked when parsed) always
    /// has a next run.
    pub fn next_after(&self, after: DateTime<Utc>) -> DateTime<Utc> {
        match &self.kind {
            Kind::Every(interval) => next_multiple(after, *interval),
            Kind::Cron(cron) => cron.next_after(after).unwrap_or(DateTime::<Utc>::MAX_UTC),
        }
    }
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Schedule").field(&self.text).finish()
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Schedule {
    type Err = ScheduleError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl<'de> Deserialize<'de> for Schedule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = connect_core::config::text_where(deserializer, |text| {
            Schedule::parse(text).map(drop).map_err(|e| e.to_string())
        })?;
        Schedule::parse(&text).map_err(serde::de::Error::custom)
    }
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    if text.is_empty() {
        return Err("`every` needs an interval with a unit (s, m, h or d)".to_owned());
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if number.is_empty() {
        return Err(format!(
            "the interval `{text}` is not a whole number with a unit (s, m, h or d)"
        ));
    }
    let scale: u64 = match unit.trim() {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "" => return Err(format!("the interval `{text}` has no unit (s, m, h or d)")),
        other => {
            return Err(format!(
                "`{other}` is not a unit of `every`; use s, m, h or d"
            ));
        }
    };
    let count: u64 = number
        .parse()
        .map_err(|_| format!("the interval `{text}` is not a whole number with a unit"))?;
    if count == 0 {
        return Err("the interval must be more than 0".to_owned());
    }
    count
        .checked_mul(scale)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("the interval `{text}` is too long"))
}

/// The first multiple of `interval` since the epoch strictly after `after`.
fn next_multiple(after: DateTime<Utc>, interval: Duration) -> DateTime<Utc> {
    let step = i64::try_from(interval.as_secs()).unwrap_or(i64::MAX).max(1);
    let seconds = after.timestamp();
    let next = seconds
        .div_euclid(step)
        .saturating_add(1)
        .saturating_mul(step);
    Utc.timestamp_opt(next, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A parsed cron expression: one bit set per field.
#[derive(Clone, PartialEq, Eq)]
struct Cron {
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    /// Day of month was not `*`.
    days_restricted: bool,
    /// Day of week was not `*`.
    weekdays_restricted: bool,
}

/// One cron field's range and names.
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: Field = Field {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: Field = Field {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DAY: Field = Field {
    name: "day-of-month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
};
const WEEKDAY: Field = Field {
    name: "day-of-week",
    min: 0,
    max: 7,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
};

/// How far ahead a run is looked for (Feb 29 recurs within 8 years).
const SEARCH_YEARS: i32 = 9;

impl Cron {
    fn parse(text: &str) -> Result<Self, String> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "a cron expression has 5 fields, this one has {}",
                fields.len()
            ));
        }
        let mut weekdays = parse_field(fields[4], &WEEKDAY)?;
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays | 1) & !(1 << 7); // 7 is Sunday too
        }
        let cron = Self {
            minutes: parse_field(fields[0], &MINUTE)?,
            hours: parse_field(fields[1], &HOUR)?,
            days: parse_field(fields[2], &DAY)?,
            months: parse_field(fields[3], &MONTH)?,
            weekdays,
            days_restricted: fields[2] != "*",
            weekdays_restricted: fields[4] != "*",
        };
        let probe = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).single();
        if probe.and_then(|start| cron.next_after(start)).is_none() {
            return Err("it never matches a date (e.g. day 30 in February only)".to_owned());
        }
        Ok(cron)
    }

    fn day_matches(&self, date: NaiveDate) -> bool {
        let day = bit(&self.days, date.day());
        let weekday = bit(&self.weekdays, date.weekday().num_days_from_sunday());
        match (self.days_restricted, self.weekdays_restricted) {
            // Both restricted: either one (as cron has always done).
            (true, true) => day || weekday,
            (true, false) => day,
            (false, true) => weekday,
            (false, false) => true,
        }
    }

    fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let start = after.with_second(0)?.with_nanosecond(0)? + ChronoDuration::minutes(1);
        let limit = start.year() + SEARCH_YEARS;
        let mut date = start.date_naive();
        let mut first_day = true;
        while date.year() <= limit {
            if !bit(&self.months, date.month()) {
                date = first_of_next_month(date)?;
                first_day = false;
                continue;
            }
            if self.day_matches(date) {
                let (from_hour, from_minute) = if first_day {
                    (start.hour(), start.minute())
                } else {
                    (0, 0)
                };
                if let Some((hour, minute)) = self.time_from(from_hour, from_minute) {
                    return Utc
                        .from_utc_datetime(&date.and_hms_opt(hour, minute, 0)?)
                        .into();
                }
            }
            date = date.succ_opt()?;
            first_day = false;
        }
        None
    }

    /// The first (hour, minute) at or after `hour:minute` that matches.
    fn time_from(&self, hour: u32, minute: u32) -> Option<(u32, u32)> {
        (hour..24).filter(|h| bit(&self.hours, *h)).find_map(|h| {
            let from = if h == hour { minute } else { 0 };
            (from..60).find(|m| bit(&self.minutes, *m)).map(|m| (h, m))
        })
    }
}

fn first_of_next_month(date: NaiveDate) -> Option<NaiveDate> {
    let (year, month) = if date.month() == 12 {
        (date.year() + 1, 1)
    } else {
        (date.year(), date.month() + 1)
    };
    NaiveDate::from_ymd_opt(year, month, 1)
}

fn bit(set: &u64, value: u32) -> bool {
    set & (1 << value) != 0
}

/// One field: a comma-separated list of `*`, `N`, `A-B`, each optionally
/// with `/STEP`.
fn parse_field(text: &str, field: &Field) -> Result<u64, String> {
    let mut set = 0_u64;
    for part in text.split(',') {
        if part.is_empty() {
            return Err(format!(
                "the {} field `{text}` has an empty list item",
                field.name
            ));
        }
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step.parse().map_err(|_| {
                    format!(
                        "the step `{step}` in the {} field is not a number",
                        field.name
                    )
                })?;
                if step == 0 {
                    return Err(format!(
                        "the step in the {} field must be more than 0",
                        field.name
                    ));
                }
                (range, Some(step))
            }
            None => (part, None),
        };
        let (low, high) = if range == "*" {
            (field.min, field.max)
        } else if let Some((low, high)) = range.split_once('-') {
            let (low, high) = (value(low, field)?, value(high, field)?);
            if low > high {
                return Err(format!(
                    "the range `{range}` in the {} field runs backwards; write the lower value first",
                    field.name
                ));
            }
            (low, high)
        } else {
            let low = value(range, field)?;
            // `5/15` is "from 5 to the end, every 15".
            (low, if step.is_some() { field.max } else { low })
        };
        let step = step.unwrap_or(1);
        let mut v = low;
        while v <= high {
            set |= 1 << v;
            v += step;
        }
    }
    Ok(set)
}

fn value(text: &str, field: &Field) -> Result<u32, String> {
    let upper = text.to_ascii_uppercase();
    if let Some(index) = field.names.iter().position(|name| *name == upper) {
        let offset = if field.min == 1 { 1 } else { 0 };
        return u32::try_from(index)
            .map(|i| i + offset)
            .map_err(|e| e.to_string());
    }
    let number: u32 = text.parse().map_err(|_| {
        let names = if field.names.is_empty() {
            String::new()
        } else {
            format!(" or a name like {}", field.names[1])
        };
        format!(
            "`{text}` is not a valid {} value (a number {}-{}{names})",
            field.name, field.min, field.max
        )
    })?;
    if number < field.min || number > field.max {
        return Err(format!(
            "{number} is out of range for the {} field ({}-{})",
            field.name, field.min, field.max
        ));
    }
    Ok(number)
}
