#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Schedules: what parses, what is refused with which hint, and the next
//! run across minute, hour, day, month, year and leap-day boundaries (UTC,
//! so no daylight-saving gaps).

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use connect_jobs::Schedule;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

#[test]
fn every_parses_units_and_refuses_the_rest() {
    let cases = [
        ("every 30s", 30),
        ("every 15m", 900),
        ("every 2h", 7_200),
        ("every 1d", 86_400),
        ("  every   5m  ", 300),
    ];
    for (text, seconds) in cases {
        let schedule = Schedule::parse(text).unwrap();
        assert_eq!(
            schedule.interval(),
            Some(Duration::from_secs(seconds)),
            "{text}"
        );
        assert_eq!(schedule.as_str(), text.trim());
    }
    let refused = [
        ("every", "`every` needs an interval"),
        ("every 0m", "must be more than 0"),
        ("every 15", "has no unit"),
        ("every 15w", "`w` is not a unit"),
        ("every -5m", "not a whole number"),
        ("every 1.5h", "`.5h` is not a unit"),
        ("", "it is empty"),
    ];
    for (text, problem) in refused {
        let error = Schedule::parse(text).unwrap_err().to_string();
        assert!(error.contains(problem), "{text}: {error}");
        assert!(
            error.ends_with("write `every 15m` or a 5-field cron expression like `*/15 * * * *` (minute hour day-of-month month day-of-week, UTC)"),
            "{text}: {error}"
        );
    }
}

#[test]
fn cron_errors_name_the_field_and_say_what_to_write() {
    let refused = [
        ("* * * *", "has 5 fields, this one has 4"),
        ("0 0 * * * *", "has 5 fields, this one has 6"),
        (
            "60 * * * *",
            "60 is out of range for the minute field (0-59)",
        ),
        ("* 24 * * *", "24 is out of range for the hour field (0-23)"),
        (
            "* * 0 * *",
            "0 is out of range for the day-of-month field (1-31)",
        ),
        (
            "* * * 13 *",
            "13 is out of range for the month field (1-12)",
        ),
        (
            "* * * * 8",
            "8 is out of range for the day-of-week field (0-7)",
        ),
        (
            "*/0 * * * *",
            "the step in the minute field must be more than 0",
        ),
        ("10-5 * * * *", "runs backwards"),
        ("a * * * *", "`a` is not a valid minute value"),
        (
            "* * * FOO *",
            "`FOO` is not a valid month value (a number 1-12 or a name like FEB)",
        ),
        ("1,,2 * * * *", "empty list item"),
        ("0 0 30 2 *", "never matches"),
    ];
    for (text, problem) in refused {
        let error = Schedule::parse(text).unwrap_err().to_string();
        assert!(error.contains(problem), "{text}: {error}");
        assert!(error.contains("like `*/15 * * * *`"), "{text}: {error}");
    }
}

#[test]
fn every_runs_on_multiples_of_its_interval() {
    let schedule = Schedule::parse("every 15m").unwrap();
    let cases = [
        ("2026-03-01T10:07:00Z", "2026-03-01T10:15:00Z"),
        ("2026-03-01T10:15:00Z", "2026-03-01T10:30:00Z"), // strictly after
        ("2026-03-01T10:14:59.999Z", "2026-03-01T10:15:00Z"),
        ("2026-12-31T23:50:00Z", "2027-01-01T00:00:00Z"),
    ];
    for (after, next) in cases {
        assert_eq!(schedule.next_after(at(after)), at(next), "after {after}");
    }
    // A day is counted from midnight UTC, so every replica agrees.
    let daily = Schedule::parse("every 1d").unwrap();
    assert_eq!(
        daily.next_after(at("2026-02-28T13:00:00Z")),
        at("2026-03-01T00:00:00Z")
    );
    let seconds = Schedule::every(Duration::from_secs(45)).unwrap();
    assert_eq!(seconds.as_str(), "every 45s");
    assert!(Schedule::every(Duration::from_millis(10)).is_err());
}

#[test]
fn cron_next_after_crosses_boundaries() {
    let cases = [
        // (expression, after, next)
        (
            "*/15 * * * *",
            "2026-03-01T10:07:30Z",
            "2026-03-01T10:15:00Z",
        ),
        (
            "*/15 * * * *",
            "2026-03-01T10:45:00Z",
            "2026-03-01T11:00:00Z",
        ),
        ("* * * * *", "2026-03-01T10:07:30Z", "2026-03-01T10:08:00Z"),
        ("0 * * * *", "2026-03-01T23:00:00Z", "2026-03-02T00:00:00Z"),
        ("30 2 * * *", "2026-03-01T02:30:00Z", "2026-03-02T02:30:00Z"),
        // End of a 30-day month, end of February, end of the year.
        ("0 0 * * *", "2026-04-30T12:00:00Z", "2026-05-01T00:00:00Z"),
        ("0 0 * * *", "2026-02-28T00:00:00Z", "2026-03-01T00:00:00Z"),
        ("0 0 * * *", "2028-02-28T00:00:00Z", "2028-02-29T00:00:00Z"),
        (
            "59 23 31 12 *",
            "2026-06-01T00:00:00Z",
            "2026-12-31T23:59:00Z",
        ),
        ("0 0 1 1 *", "2026-12-31T23:59:00Z", "2027-01-01T00:00:00Z"),
        // Day 31 skips months without one.
        (
            "0 12 31 * *",
            "2026-04-01T00:00:00Z",
            "2026-05-31T12:00:00Z",
        ),
        // Leap day only: the next one is in 2028.
        ("0 0 29 2 *", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z"),
        // Names, ranges, lists, steps.
        (
            "30 2 * * MON-FRI",
            "2026-03-01T00:00:00Z",
            "2026-03-02T02:30:00Z",
        ), // Sunday → Monday
        (
            "30 2 * * mon-fri",
            "2026-03-06T03:00:00Z",
            "2026-03-09T02:30:00Z",
        ), // Friday after → Monday
        (
            "0 9 * JAN,JUL *",
            "2026-02-01T00:00:00Z",
            "2026-07-01T09:00:00Z",
        ),
        (
            "0 8-18/5 * * *",
            "2026-03-01T08:00:00Z",
            "2026-03-01T13:00:00Z",
        ),
        (
            "5/20 * * * *",
            "2026-03-01T10:26:00Z",
            "2026-03-01T10:45:00Z",
        ),
        (
            "0,30 * * * *",
            "2026-03-01T10:29:59Z",
            "2026-03-01T10:30:00Z",
        ),
        // 7 is Sunday too.
        ("0 0 * * 7", "2026-03-02T00:00:00Z", "2026-03-08T00:00:00Z"),
        (
            "0 0 * * SUN",
            "2026-03-02T00:00:00Z",
            "2026-03-08T00:00:00Z",
        ),
        // Day of month and day of week both restricted: either matches.
        (
            "0 0 13 * FRI",
            "2026-03-01T00:00:00Z",
            "2026-03-06T00:00:00Z",
        ),
        (
            "0 0 13 * FRI",
            "2026-03-06T00:00:00Z",
            "2026-03-13T00:00:00Z",
        ),
    ];
    for (expression, after, next) in cases {
        let schedule = Schedule::parse(expression).unwrap();
        assert_eq!(schedule.interval(), None);
        assert_eq!(
            schedule.next_after(at(after)),
            at(next),
            "`{expression}` after {after}"
        );
    }
}

#[test]
fn consecutive_runs_of_a_cron_schedule_ascend_and_match() {
    let schedule = Schedule::parse("*/7 3-5 * * TUE").unwrap();
    let mut t = at("2026-01-01T00:00:00Z");
    for _ in 0..200 {
        let next = schedule.next_after(t);
        assert!(next > t);
        use chrono::{Datelike, Timelike};
        assert_eq!(next.minute() % 7, 0, "{next}");
        assert!((3..=5).contains(&next.hour()), "{next}");
        assert_eq!(next.weekday(), chrono::Weekday::Tue, "{next}");
        assert_eq!(next.second(), 0);
        t = next;
    }
    let _ = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0);
}
