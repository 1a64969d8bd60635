//! Sizes written with a unit: `512B`, `64KiB`, `1MiB`.

use std::fmt;

use serde::{Deserialize, Deserializer};

/// A number of bytes, written in the configuration with a unit (`B`,
/// `KiB` or `MiB`).
///
/// ```
/// use connect_webhook::ByteSize;
///
/// assert_eq!(ByteSize::parse("1MiB"), Ok(ByteSize(1024 * 1024)));
/// assert_eq!(ByteSize::parse("64 KiB"), Ok(ByteSize(64 * 1024)));
/// assert!(ByteSize::parse("1MB").unwrap_err().contains("`1MiB`"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Bytes.
    pub const fn bytes(n: u64) -> Self {
        Self(n)
    }

    /// Kibibytes (1024 bytes).
    pub const fn kib(n: u64) -> Self {
        Self(n * 1024)
    }

    /// Mebibytes (1024 KiB).
    pub const fn mib(n: u64) -> Self {
        Self(n * 1024 * 1024)
    }

    /// The size in bytes.
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// The size in bytes, as a `usize` (saturating).
    pub fn as_usize(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }

    /// Parses `512B`, `64KiB` or `1MiB` (a whole number and a unit; spaces
    /// between them are allowed). The error says what to write.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let unit = unit.trim();
        if number.is_empty() {
            return Err(format!(
                "`{text}` is not a size; write a whole number with a unit: `512B`, `64KiB` or `1MiB`"
            ));
        }
        let scale: u64 = match unit {
            "" => {
                return Err(format!(
                    "`{text}` has no unit; write `{number}B` for bytes, `{number}KiB` or `{number}MiB`"
                ));
            }
            "B" => 1,
            "KiB" => 1024,
            "MiB" => 1024 * 1024,
            "K" | "KB" | "kB" | "k" | "kb" => {
                return Err(format!(
                    "`{text}`: write `{number}KiB` (units are B, KiB and MiB, powers of 1024)"
                ));
            }
            "M" | "MB" | "m" | "mb" | "Mb" => {
                return Err(format!(
                    "`{text}`: write `{number}MiB` (units are B, KiB and MiB, powers of 1024)"
                ));
            }
            other => {
                return Err(format!(
                    "`{text}`: unknown unit `{other}`; write a whole number with `B`, `KiB` or `MiB`, e.g. `1MiB`"
                ));
            }
        };
        number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(scale))
            .map(Self)
            .ok_or_else(|| format!("`{text}` is too large"))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MIB: u64 = 1024 * 1024;
        match self.0 {
            n if n >= MIB && n % MIB == 0 => write!(f, "{}MiB", n / MIB),
            n if n >= 1024 && n % 1024 == 0 => write!(f, "{}KiB", n / 1024),
            n => write!(f, "{n}B"),
        }
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = connect_core::config::text_where(deserializer, |t| Self::parse(t).map(|_| ()))?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sizes_parse_with_their_unit_and_print_back() {
        assert_eq!(ByteSize::parse("100B").unwrap(), ByteSize(100));
        assert_eq!(ByteSize::parse("2KiB").unwrap(), ByteSize(2048));
        assert_eq!(ByteSize::parse(" 3 MiB ").unwrap(), ByteSize::mib(3));
        assert_eq!(ByteSize::mib(1).to_string(), "1MiB");
        assert_eq!(ByteSize::kib(3).to_string(), "3KiB");
        assert_eq!(ByteSize(1000).to_string(), "1000B");
    }

    #[test]
    fn mistakes_say_what_to_write() {
        assert!(ByteSize::parse("1024").unwrap_err().contains("`1024B`"));
        assert!(ByteSize::parse("1MB").unwrap_err().contains("`1MiB`"));
        assert!(ByteSize::parse("5kb").unwrap_err().contains("`5KiB`"));
        assert!(
            ByteSize::parse("1GiB")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(ByteSize::parse("MiB").unwrap_err().contains("whole number"));
        assert!(
            ByteSize::parse("1.5MiB")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(
            ByteSize::parse("99999999999999999999MiB")
                .unwrap_err()
                .contains("too large")
        );
    }
}
