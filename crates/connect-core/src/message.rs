//! The [`Message`]: one unit of work travelling from a listener, through the
//! event queue, to a handler.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};

use crate::payload::Payload;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Well-known attribute keys set by the SDK's listeners.
pub mod attributes {
    /// Where the message came from, e.g. `commercetools`.
    pub const SOURCE: &str = "source";
    /// The commercetools project key.
    pub const PROJECT_KEY: &str = "project-key";
    /// An id shared by every message caused by one original event.
    pub const CORRELATION_ID: &str = "correlation-id";
    /// W3C trace context (`traceparent` header value).
    pub const TRACEPARENT: &str = "traceparent";
    /// The delivery format a listener detected (`platform`, `cloudevents`,
    /// `eventbridge`).
    pub const FORMAT: &str = "format";
}

/// A reference to the resource a message is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRef {
    /// The resource type, e.g. commercetools' `customer`.
    pub type_id: Cow<'static, str>,
    /// The resource id. Messages for one id are never processed concurrently.
    pub id: String,
    /// The resource version the event describes, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// The per-resource sequence number of the event, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<u64>,
}

impl ResourceRef {
    /// A reference to `type_id`/`id` with no version information.
    pub fn new(type_id: impl Into<Cow<'static, str>>, id: impl Into<String>) -> Self {
        Self {
            type_id: type_id.into(),
            id: id.into(),
            version: None,
            sequence_number: None,
        }
    }

    /// Sets the resource version.
    #[must_use]
    pub fn with_version(mut self, version: u64) -> Self {
        self.version = Some(version);
        self
    }

    /// Sets the per-resource sequence number.
    #[must_use]
    pub fn with_sequence_number(mut self, sequence_number: u64) -> Self {
        self.sequence_number = Some(sequence_number);
        self
    }
}

/// One unit of work: routed by [`route`](Message::route), filtered by
/// [`event_type`](Message::event_type), ordered by its resource id.
///
/// ```
/// use connect_core::{Message, ResourceRef};
///
/// let message = Message::new("commercetools.connect.customer.upsert")
///     .with_event_type("ResourceUpdated")
///     .with_resource(ResourceRef::new("customer", "14a4ef54").with_version(3))
///     .with_attribute("project-key", "fluent-ct-dev");
/// assert_eq!(message.ordering_key(), "14a4ef54");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// Unique id of this message.
    pub id: String,
    /// The name of the route the message goes to (a `route:` of the
    /// configuration). Serialized as `route`; `name`, the field's former
    /// name, is accepted when reading stored or queued messages.
    #[serde(alias = "name")]
    pub route: String,
    /// The event type inclusion filters look at (commercetools change
    /// notifications: the `notificationType`; commercetools Messages: the
    /// message `type`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<Cow<'static, str>>,
    /// The resource the message is about, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceRef>,
    /// The payload, JSON kept as text (for commercetools: the subscription
    /// payload); see [`Payload`].
    #[serde(default)]
    pub payload: Payload,
    /// Free-form string attributes (see [`attributes`] for well-known keys).
    #[serde(default, skip_serializing_if = "Attributes::is_empty")]
    pub attributes: Attributes,
    /// When the message was created.
    pub created_at: DateTime<Utc>,
}

impl Message {
    /// A new message for `route` with a fresh id and an empty payload.
    pub fn new(route: impl Into<String>) -> Self {
        Self::identified(route, new_id())
    }

    /// A new message for `route` with the given `id` (for example an
    /// upstream event id) and an empty payload.
    pub fn identified(route: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            route: route.into(),
            event_type: None,
            resource: None,
            payload: Payload::null(),
            attributes: Attributes::new(),
            created_at: Utc::now(),
        }
    }

    /// Sets the event type.
    #[must_use]
    pub fn with_event_type(mut self, event_type: impl Into<Cow<'static, str>>) -> Self {
        self.event_type = Some(event_type.into());
        self
    }

    /// Sets the resource reference.
    #[must_use]
    pub fn with_resource(mut self, resource: ResourceRef) -> Self {
        self.resource = Some(resource);
        self
    }

    /// Sets the payload (a `serde_json::Value` or a [`Payload`]).
    #[must_use]
    pub fn with_payload(mut self, payload: impl Into<Payload>) -> Self {
        self.payload = payload.into();
        self
    }

    /// Adds one attribute.
    #[must_use]
    pub fn with_attribute(
        mut self,
        key: impl Into<Cow<'static, str>>,
        value: impl Into<Cow<'static, str>>,
    ) -> Self {
        self.attributes.insert(key.into(), value.into());
        self
    }

    /// The value of attribute `key`.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key)
    }

    /// The key that serialises processing: the resource id when there is a
    /// resource, otherwise the message id (no ordering constraint).
    pub fn ordering_key(&self) -> &str {
        self.resource
            .as_ref()
            .map_or(self.id.as_str(), |r| r.id.as_str())
    }

    /// The resource id, if the message has a resource.
    pub fn resource_id(&self) -> Option<&str> {
        self.resource.as_ref().map(|r| r.id.as_str())
    }
}

/// A random (version 4) UUID as a string, without a system call: ids only
/// need to be unique, and this runs once per message.
pub(crate) fn new_id() -> String {
    let uuid = uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes()).into_uuid();
    let mut buffer = uuid::Uuid::encode_buffer();
    uuid.hyphenated().encode_lower(&mut buffer).to_owned()
}

/// A message's string attributes: a small map kept in insertion order.
///
/// Messages carry a handful of attributes, so a vector beats a tree or a
/// hash map here; keys and values that are `&'static str` are stored
/// without allocating. It serializes as a JSON object.
///
/// ```
/// use connect_core::Attributes;
///
/// let mut attributes = Attributes::new();
/// attributes.insert("source", "commercetools");
/// attributes.insert("source", "eventbridge");
/// assert_eq!(attributes.get("source"), Some("eventbridge"));
/// assert_eq!(attributes.len(), 1);
/// ```
#[derive(Debug, Clone, Default, Eq)]
pub struct Attributes(Vec<(Cow<'static, str>, Cow<'static, str>)>);

impl Attributes {
    /// No attributes.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }

    /// `true` when `key` is set.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Sets `key`, returning the previous value.
    pub fn insert(
        &mut self,
        key: impl Into<Cow<'static, str>>,
        value: impl Into<Cow<'static, str>>,
    ) -> Option<Cow<'static, str>> {
        let key = key.into();
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some((_, old)) => Some(std::mem::replace(old, value)),
            None => {
                self.0.push((key, value));
                None
            }
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Cow<'static, str>> {
        let index = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(index).1)
    }

    /// The attributes in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v.as_ref()))
    }

    /// How many attributes there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `true` when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl PartialEq for Attributes {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl<K, V> FromIterator<(K, V)> for Attributes
where
    K: Into<Cow<'static, str>>,
    V: Into<Cow<'static, str>>,
{
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut attributes = Self::new();
        for (k, v) in iter {
            attributes.insert(k, v);
        }
        attributes
    }
}

impl Serialize for Attributes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k.as_ref(), v.as_ref())?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Attributes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AttributesVisitor;
        impl<'de> Visitor<'de> for AttributesVisitor {
            type Value = Attributes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of string attributes")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Attributes, A::Error> {
                let mut attributes = Attributes::new();
                while let Some((k, v)) = map.next_entry::<String, String>()? {
                    attributes.insert(k, v);
                }
                Ok(attributes)
            }
        }
        deserializer.deserialize_map(AttributesVisitor)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_route_is_written_as_route_and_read_as_route_or_name() {
        let message = Message::identified("customer.upsert", "m-1");
        let json = serde_json::to_value(&message).unwrap();
        assert_eq!(json["route"], "customer.upsert");
        assert!(json.get("name").is_none(), "{json}");
        assert!(json.get("attempt").is_none(), "{json}");

        // As stored in dead letters and queues before the field was renamed,
        // with the attempt messages used to carry.
        let stored = r#"{"id":"m-1","name":"customer.upsert","attempt":3,"createdAt":"2026-01-01T00:00:00Z"}"#;
        let read: Message = serde_json::from_str(stored).unwrap();
        assert_eq!(read.route, "customer.upsert");
        assert_eq!(read.id, "m-1");
    }
}
