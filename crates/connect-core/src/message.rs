//! The [`Message`]: one unit of work travelling from a listener, through the
//! event queue, to a handler.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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
    pub type_id: String,
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
    pub fn new(type_id: impl Into<String>, id: impl Into<String>) -> Self {
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

/// One unit of work: routed by [`name`](Message::name), filtered by
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
    /// The route the message goes to.
    pub name: String,
    /// The event type inclusion filters look at (commercetools change
    /// notifications: the `notificationType`; commercetools Messages: the
    /// message `type`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    /// The resource the message is about, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceRef>,
    /// The payload as JSON (for commercetools: the subscription payload).
    #[serde(default)]
    pub payload: serde_json::Value,
    /// Free-form string attributes (see [`attributes`] for well-known keys).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// The delivery attempt this message is on, starting at 1 when delivered.
    #[serde(default)]
    pub attempt: u32,
    /// When the message was created.
    pub created_at: DateTime<Utc>,
}

impl Message {
    /// A new message for route `name` with a fresh id and an empty payload.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.into(),
            event_type: None,
            resource: None,
            payload: serde_json::Value::Null,
            attributes: BTreeMap::new(),
            attempt: 0,
            created_at: Utc::now(),
        }
    }

    /// Sets the id (for example to reuse an upstream event id).
    #[must_use]
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// Sets the event type.
    #[must_use]
    pub fn with_event_type(mut self, event_type: impl Into<String>) -> Self {
        self.event_type = Some(event_type.into());
        self
    }

    /// Sets the resource reference.
    #[must_use]
    pub fn with_resource(mut self, resource: ResourceRef) -> Self {
        self.resource = Some(resource);
        self
    }

    /// Sets the JSON payload.
    #[must_use]
    pub fn with_payload(mut self, payload: serde_json::Value) -> Self {
        self.payload = payload;
        self
    }

    /// Adds one attribute.
    #[must_use]
    pub fn with_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.insert(key.into(), value.into());
        self
    }

    /// The value of attribute `key`.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
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
