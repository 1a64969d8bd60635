//! Subscription payloads: what commercetools delivers to the CT queue.
//!
//! [`SubscriptionEvent::parse`] detects the delivery format by looking at
//! the document once it is parsed (the body is parsed exactly once, into a
//! [`serde_json::Value`], and fields are read by lookup):
//!
//! | format | recognised by | the Platform payload is |
//! | --- | --- | --- |
//! | [`Platform`](PayloadFormat::Platform) | `notificationType` at the top | the document |
//! | [`CloudEvents`](PayloadFormat::CloudEvents) | `specversion` | `data` |
//! | [`EventBridge`](PayloadFormat::EventBridge) | `detail-type` / `detail` | `detail` |
//!
//! Inside, the Platform payload is a **Message** (`notificationType:
//! "Message"`, with a `type` such as `CustomerCreated`, any type accepted,
//! `payloadNotIncluded` tolerated) or a **change notification**
//! (`ResourceCreated`, `ResourceUpdated`, `ResourceDeleted`, and any future
//! notification type, taken as the event type).
//!
//! ```
//! use connect_commercetools::payload::{PayloadFormat, SubscriptionEvent};
//!
//! let body = r#"{"notificationType": "ResourceUpdated", "projectKey": "shop",
//!     "resource": {"typeId": "customer", "id": "c-1"}, "version": 3, "oldVersion": 2,
//!     "modifiedAt": "2024-01-31T09:12:44.210Z"}"#;
//! let event = SubscriptionEvent::parse(body)?;
//! assert_eq!(event.format, PayloadFormat::Platform);
//! assert_eq!(event.event_type, "ResourceUpdated");
//! assert_eq!((event.type_id.as_ref(), event.resource_id.as_str(), event.version), ("customer", "c-1", Some(3)));
//! # Ok::<(), connect_commercetools::payload::PayloadError>(())
//! ```

mod cloudevents;
mod eventbridge;
mod platform;

use std::borrow::Cow;
use std::fmt;

use serde_json::{Map, Value};

/// The delivery format of a subscription payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayloadFormat {
    /// commercetools' own format (SQS, Google Pub/Sub, ... with `format: Platform`).
    Platform,
    /// CloudEvents 1.0 (`format: CloudEvents`); the Platform payload is in `data`.
    CloudEvents,
    /// The EventBridge envelope as delivered to SQS by an EventBridge rule;
    /// the Platform payload is in `detail`.
    EventBridge,
}

impl PayloadFormat {
    /// `platform`, `cloudevents` or `eventbridge` (the `format` attribute).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Platform => "platform",
            Self::CloudEvents => "cloudevents",
            Self::EventBridge => "eventbridge",
        }
    }
}

impl fmt::Display for PayloadFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `notificationType` of Messages.
pub const MESSAGE: &str = "Message";

/// A subscription payload, understood.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SubscriptionEvent {
    /// How it was delivered.
    pub format: PayloadFormat,
    /// `notificationType`: `Message`, `ResourceCreated`, `ResourceUpdated`,
    /// `ResourceDeleted`, or a type added later.
    pub notification_type: Cow<'static, str>,
    /// What inclusion filters match: the message `type` for Messages (e.g.
    /// `CustomerCreated`), the `notificationType` otherwise.
    pub event_type: Cow<'static, str>,
    /// `projectKey` (or the project named by the envelope).
    pub project_key: Option<String>,
    /// `resource.typeId`, e.g. `customer`.
    pub type_id: Cow<'static, str>,
    /// `resource.id`.
    pub resource_id: String,
    /// The resource version the event describes (change notifications:
    /// `version`; Messages: `resourceVersion`).
    pub version: Option<u64>,
    /// Messages: the per-resource `sequenceNumber`.
    pub sequence_number: Option<u64>,
    /// The upstream event id: the Message `id`, the CloudEvent `id` or the
    /// EventBridge event `id`. Change notifications in Platform format have none.
    pub event_id: Option<String>,
    /// `false` when a Message arrived with `payloadNotIncluded` (too large).
    pub payload_included: bool,
    /// EventBridge: the subscription key from `source`.
    pub subscription_key: Option<String>,
    /// The Platform payload (for CloudEvents and EventBridge: the inner one).
    pub payload: Value,
}

impl SubscriptionEvent {
    /// Parses a raw body (once) and detects its format.
    pub fn parse(body: &str) -> Result<Self, PayloadError> {
        let value: Value = serde_json::from_str(body).map_err(PayloadError::NotJson)?;
        Self::from_value(value)
    }

    /// Detects the format of an already parsed document. The inner payload
    /// is moved, not copied.
    pub fn from_value(value: Value) -> Result<Self, PayloadError> {
        let Value::Object(document) = value else {
            return Err(PayloadError::NotAnObject(json_kind(&value)));
        };
        if document.contains_key("specversion") {
            cloudevents::parse(document)
        } else if document.contains_key("detail-type") || is_eventbridge(&document) {
            eventbridge::parse(document)
        } else {
            platform::parse(PayloadFormat::Platform, Value::Object(document))
        }
    }

    /// `true` for a Platform Message (rather than a change notification).
    pub fn is_message(&self) -> bool {
        self.notification_type == MESSAGE
    }
}

fn is_eventbridge(document: &Map<String, Value>) -> bool {
    document.contains_key("detail")
        && document
            .get("source")
            .and_then(Value::as_str)
            .is_some_and(|s| s.starts_with(eventbridge::SOURCE_PREFIX))
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Names that occur in almost every payload, kept without allocating.
const KNOWN_NAMES: &[&str] = &[
    "customer",
    "order",
    "cart",
    "payment",
    "product",
    "category",
    "customer-group",
    "inventory-entry",
    "store",
    "business-unit",
    "shopping-list",
    "Message",
    "ResourceCreated",
    "ResourceUpdated",
    "ResourceDeleted",
    "CustomerCreated",
    "CustomerDeleted",
    "CustomerEmailChanged",
    "CustomerEmailVerified",
    "CustomerFirstNameSet",
    "CustomerLastNameSet",
    "CustomerTitleSet",
    "CustomerDateOfBirthSet",
    "CustomerCompanyNameSet",
    "CustomerAddressAdded",
    "CustomerAddressChanged",
    "CustomerAddressRemoved",
    "CustomerGroupSet",
    "CustomerExternalIdSet",
    "CustomerDefaultShippingAddressSet",
    "CustomerDefaultBillingAddressSet",
    "CustomerShippingAddressAdded",
    "CustomerShippingAddressRemoved",
    "CustomerBillingAddressAdded",
    "CustomerBillingAddressRemoved",
    "CustomerPasswordUpdated",
    "CustomerCustomFieldAdded",
    "CustomerCustomFieldChanged",
    "CustomerCustomFieldRemoved",
    "CustomerCustomTypeSet",
    "CustomerCustomTypeRemoved",
];

/// `name` as a `Cow`, borrowed when it is a well-known name.
fn intern(name: &str) -> Cow<'static, str> {
    KNOWN_NAMES
        .iter()
        .find(|known| **known == name)
        .map_or_else(
            || Cow::Owned(name.to_owned()),
            |known| Cow::Borrowed(*known),
        )
}

fn string(map: &Map<String, Value>, key: &str) -> Option<String> {
    map.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// A payload that is not a commercetools subscription payload. The message
/// names what is missing; the listener dead-letters the raw body with it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// The body is not JSON.
    #[error(
        "the payload is not JSON ({0}); commercetools subscriptions deliver JSON documents: check what else writes to the CT queue"
    )]
    NotJson(#[source] serde_json::Error),
    /// The body is JSON but not an object.
    #[error(
        "the payload is {0}, not a JSON object; expected a commercetools Message, change notification, CloudEvent or EventBridge event"
    )]
    NotAnObject(&'static str),
    /// A required field is missing or has the wrong type.
    #[error(
        "the {format} payload has no {field}; expected a commercetools Message, change notification, CloudEvent or EventBridge event"
    )]
    Missing {
        /// The detected format.
        format: PayloadFormat,
        /// The field, e.g. `` `resource.typeId` ``.
        field: &'static str,
    },
}

impl PayloadError {
    fn missing(format: PayloadFormat, field: &'static str) -> Self {
        Self::Missing { format, field }
    }
}
