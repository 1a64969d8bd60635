//! Durations written with a unit: `250ms`, `30s`, `5m`, `1h`.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer};

/// Parses `250ms`, `30s`, `1.5s`, `5m` or `1h`.
///
/// ```
/// use std::time::Duration;
/// use connect_core::config::parse_duration;
///
/// assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
/// assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
/// assert!(parse_duration("30").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = match unit.trim() {
        "" if !number.is_empty() => {
            return Err(format!(
                "`{text}` has no unit; write `{text}s` for seconds or `{text}ms` for milliseconds"
            ));
        }
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => {
            return Err(format!(
                "`{text}` is not a duration; write a number with a unit: `250ms`, `30s`, `5m` or `1h`"
            ));
        }
    };
    let value: f64 = number.parse().map_err(|_| {
        format!("`{text}` is not a duration; the number part `{number}` is invalid")
    })?;
    Duration::try_from_secs_f64(value * scale)
        .map_err(|_| format!("`{text}` is not a valid duration"))
}

/// Deserializes a [`Duration`] written with a unit (`250ms`, `30s`, `5m`,
/// `1h`), for `#[serde(deserialize_with = "connect_core::config::duration")]`
/// in configuration blocks of other crates. A number without a unit is an
/// error that says how to write it.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    struct DurationVisitor;
    impl Visitor<'_> for DurationVisitor {
        type Value = Duration;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration with a unit, such as `250ms`, `30s` or `5m`")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
            parse_duration(v).map_err(E::custom)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
            Err(E::custom(format_args!(
                "`{v}` has no unit; write `{v}s` for seconds or `{v}ms` for milliseconds"
            )))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
            Err(E::custom(format_args!(
                "`{v}` has no unit; write `{v}s` for seconds or `{v}ms` for milliseconds"
            )))
        }
    }
    deserializer.deserialize_str(DurationVisitor)
}

/// Like [`deserialize`], then checks the duration with `check` while the
/// value is read, so that an error has the value's line and column:
///
/// ```
/// use std::time::Duration;
/// use connect_core::config::{ConfigDocument, duration_where};
///
/// #[derive(serde::Deserialize)]
/// struct Block {
///     #[serde(deserialize_with = "positive")]
///     timeout: Duration,
/// }
///
/// fn positive<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
///     duration_where(d, |t| if t.is_zero() { Err("must be more than zero".into()) } else { Ok(()) })
/// }
///
/// let doc = ConfigDocument::from_yaml("x.yml", "block:\n  timeout: 0s\n");
/// let error = doc.section::<Block>("block").err().unwrap();
/// assert_eq!(error.to_string(), "x.yml:2:12: block.timeout: must be more than zero");
/// ```
pub fn deserialize_where<'de, D, F>(deserializer: D, check: F) -> Result<Duration, D::Error>
where
    D: Deserializer<'de>,
    F: FnOnce(Duration) -> Result<(), String>,
{
    let text = super::text_where(deserializer, |text| parse_duration(text).and_then(check))?;
    parse_duration(&text).map_err(de::Error::custom)
}

/// Like [`deserialize`], for an optional duration (absent or `null` → `None`).
pub fn deserialize_option<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    struct Wrapper(Duration);
    impl<'de> Deserialize<'de> for Wrapper {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            deserialize(d).map(Wrapper)
        }
    }
    Ok(Option::<Wrapper>::deserialize(deserializer)?.map(|w| w.0))
}
