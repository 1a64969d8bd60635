//! Puts a line and column on a problem found after parsing.
//!
//! Checks that compare several values (a route-mapping entry against the
//! routes, `backoff.initial` against `backoff.max`) run on the parsed
//! configuration, where positions are gone. [`locate`] walks the document
//! again to the node the problem is about and raises the message *there*, so
//! the YAML parser attaches that node's line and column, exactly as it does
//! for the errors it finds itself.

use std::fmt;

use serde::Deserializer;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// One step into the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// The value of a mapping key.
    Key(String),
    /// An element of a sequence.
    Index(usize),
}

impl Step {
    pub(crate) fn key(key: impl Into<String>) -> Self {
        Self::Key(key.into())
    }
}

/// A problem and the node it is about: the value at `path`, or, with
/// `at_key`, the last key of `path` itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub(crate) path: Vec<Step>,
    pub(crate) at_key: bool,
    pub(crate) message: String,
}

impl Problem {
    /// A problem with the value at `path`.
    pub(crate) fn at(path: Vec<Step>, message: impl Into<String>) -> Self {
        Self {
            path,
            at_key: false,
            message: message.into(),
        }
    }

    /// A problem with the key that ends `path` (e.g. a misspelt key).
    pub(crate) fn at_key(path: Vec<Step>, message: impl Into<String>) -> Self {
        Self {
            path,
            at_key: true,
            message: message.into(),
        }
    }
}

/// Raises `problem` at its node of the YAML `text`; the returned error
/// carries the node's position (or the position of the deepest enclosing
/// node that exists, when the path leads nowhere).
pub(crate) fn locate(text: &str, problem: &Problem) -> serde_norway::Error {
    let seed = Locate {
        path: &problem.path,
        at_key: problem.at_key,
        message: &problem.message,
    };
    match seed.deserialize(serde_norway::Deserializer::from_str(text)) {
        Err(error) => error,
        // Unreachable: every path through `Locate` ends in an error.
        Ok(()) => de::Error::custom(&problem.message),
    }
}

struct Locate<'p> {
    path: &'p [Step],
    at_key: bool,
    message: &'p str,
}

impl<'de> DeserializeSeed<'de> for Locate<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        match self.path.first() {
            None => deserializer.deserialize_any(Fail(self.message)),
            Some(Step::Key(_)) => deserializer.deserialize_map(self),
            Some(Step::Index(_)) => deserializer.deserialize_seq(self),
        }
    }
}

impl<'de> Visitor<'de> for Locate<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping or a list")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((Step::Key(wanted), rest)) = self.path.split_first() else {
            return Err(de::Error::custom(self.message));
        };
        let last = rest.is_empty();
        let fail_on_key = self.at_key && last;
        while let Some(key) = map.next_key_seed(KeyText {
            fail_if: fail_on_key.then_some((wanted.as_str(), self.message)),
        })? {
            if key == *wanted {
                return map.next_value_seed(Locate {
                    path: rest,
                    at_key: self.at_key,
                    message: self.message,
                });
            }
            map.next_value::<IgnoredAny>()?;
        }
        Err(de::Error::custom(self.message))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((Step::Index(wanted), rest)) = self.path.split_first() else {
            return Err(de::Error::custom(self.message));
        };
        for _ in 0..*wanted {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Err(de::Error::custom(self.message));
            }
        }
        match seq.next_element_seed(Locate {
            path: rest,
            at_key: self.at_key,
            message: self.message,
        })? {
            Some(()) | None => Err(de::Error::custom(self.message)),
        }
    }
}

/// Reads a mapping key as text; fails on it when it is the one wanted.
struct KeyText<'p> {
    fail_if: Option<(&'p str, &'p str)>,
}

impl<'de> DeserializeSeed<'de> for KeyText<'_> {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeyText<'_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        match self.fail_if {
            Some((wanted, message)) if wanted == v => Err(E::custom(message)),
            _ => Ok(v.to_owned()),
        }
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        self.visit_str("null")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<String, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(String::new())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<String, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(String::new())
    }
}

/// Fails on whatever node it is given, with the problem's message.
struct Fail<'p>(&'p str);

impl<'de> Visitor<'de> for Fail<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(E::custom(self.0))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(E::custom(self.0))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(E::custom(self.0))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(E::custom(self.0))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(E::custom(self.0))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(self.0))
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(self.0))
    }
    fn visit_some<D: Deserializer<'de>>(self, _: D) -> Result<(), D::Error> {
        Err(de::Error::custom(self.0))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(self.0))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(self.0))
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(self.0))
    }
}
