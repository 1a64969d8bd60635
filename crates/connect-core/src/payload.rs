//! [`Payload`]: a message's JSON payload, kept as text until someone reads it.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// A message's payload: valid JSON text, kept as it arrived.
///
/// Routing needs a few fields, which listeners read while they translate;
/// most handlers then need none of the payload (customer sync fetches the
/// current customer instead). So the payload is not turned into a
/// [`serde_json::Value`] tree up front: call [`json`](Payload::json) or
/// [`parse`](Payload::parse) when you need it. It serializes as the JSON it
/// holds, not as a string.
///
/// ```
/// use connect_core::Payload;
///
/// let payload = Payload::from_json(r#"{"resource": {"id": "c-1"}}"#.to_owned())?;
/// assert_eq!(payload.json()?["resource"]["id"], "c-1");
///
/// #[derive(serde::Deserialize)]
/// struct Resource<'a> { id: &'a str }
/// #[derive(serde::Deserialize)]
/// struct Event<'a> { #[serde(borrow)] resource: Resource<'a> }
/// assert_eq!(payload.parse::<Event<'_>>()?.resource.id, "c-1");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct Payload(Option<Box<str>>);

impl Payload {
    /// No payload (`null`).
    pub fn null() -> Self {
        Self(None)
    }

    /// A payload from JSON text; fails if the text is not JSON.
    pub fn from_json(text: String) -> Result<Self, serde_json::Error> {
        serde_json::from_str::<&RawValue>(&text)?;
        Ok(Self::from_json_unchecked(text))
    }

    /// A payload from text the caller has just parsed as JSON (a listener
    /// that read its fields), without checking it again. Text that is not
    /// JSON is not unsafe: [`json`](Self::json) and serialization then
    /// return an error.
    pub fn from_json_unchecked(text: String) -> Self {
        if text.trim() == "null" {
            Self(None)
        } else {
            Self(Some(text.into_boxed_str()))
        }
    }

    /// A payload holding `value`.
    pub fn from_value(value: &serde_json::Value) -> Self {
        match value {
            serde_json::Value::Null => Self(None),
            value => Self(Some(value.to_string().into_boxed_str())),
        }
    }

    /// The JSON text (`null` when empty).
    pub fn as_str(&self) -> &str {
        self.0.as_deref().unwrap_or("null")
    }

    /// `true` when there is no payload.
    pub fn is_null(&self) -> bool {
        self.0.is_none()
    }

    /// The payload as a JSON value tree.
    pub fn json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_str(self.as_str())
    }

    /// The payload as `T`, which may borrow from it.
    pub fn parse<'a, T: Deserialize<'a>>(&'a self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.as_str())
    }

    /// The payload as an owned `T`.
    pub fn parse_owned<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.as_str())
    }
}

impl From<Box<RawValue>> for Payload {
    fn from(raw: Box<RawValue>) -> Self {
        if raw.get() == "null" {
            Self(None)
        } else {
            // Takes the text over without copying it.
            Self(Some(Box::<str>::from(raw)))
        }
    }
}

impl From<&RawValue> for Payload {
    fn from(raw: &RawValue) -> Self {
        Self::from_json_unchecked(raw.get().to_owned())
    }
}

impl From<serde_json::Value> for Payload {
    fn from(value: serde_json::Value) -> Self {
        Self::from_value(&value)
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Some(text) => serde_json::from_str::<&RawValue>(text)
                .map_err(|e| {
                    serde::ser::Error::custom(format_args!("the payload is not JSON: {e}"))
                })?
                .serialize(serializer),
            None => serializer.serialize_unit(),
        }
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Ok(Self::from(raw))
    }
}
