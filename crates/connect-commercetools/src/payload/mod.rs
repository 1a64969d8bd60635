//! Subscription payloads: what commercetools delivers to the CT queue.
//!
//! [`SubscriptionEvent::parse`] reads only the fields it needs, borrowing
//! them from the body (no JSON tree is built), detects the delivery format,
//! and keeps the Platform payload as JSON text in a
//! [`Payload`](connect_core::Payload) for handlers that want it:
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
mod document;
mod eventbridge;
mod platform;

use std::borrow::Cow;
use std::fmt;

use connect_core::Payload;
use serde_json::Value;
use serde_json::value::RawValue;

use document::Document;

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
    /// The Platform payload (for CloudEvents and EventBridge: the inner one),
    /// as JSON text.
    pub payload: Payload,
}

impl SubscriptionEvent {
    /// Reads a raw body and detects its format.
    pub fn parse(body: &str) -> Result<Self, PayloadError> {
        let document: Document<'_> =
            serde_json::from_str(body).map_err(|error| PayloadError::from_json(body, error))?;
        if document.specversion.is_some() {
            cloudevents::parse(&document)
        } else if document.detail_type.is_some() || is_eventbridge(&document) {
            eventbridge::parse(&document)
        } else {
            // The whole body is the Platform payload: keep it as it came
            // (just parsed, so known to be JSON).
            let payload = Payload::from_json_unchecked(body.to_owned());
            platform::parse(PayloadFormat::Platform, &document, payload)
        }
    }

    /// `true` for a Platform Message (rather than a change notification).
    pub fn is_message(&self) -> bool {
        self.notification_type == MESSAGE
    }
}

fn is_eventbridge(document: &Document<'_>) -> bool {
    document.detail.is_some()
        && document
            .source
            .as_deref()
            .is_some_and(|s| s.starts_with(eventbridge::SOURCE_PREFIX))
}

/// Reads the Platform payload inside an envelope (`data` or `detail`).
fn inner<'a>(
    format: PayloadFormat,
    raw: Option<&'a RawValue>,
    field: &'static str,
) -> Result<SubscriptionEvent, PayloadError> {
    let raw = raw.ok_or(PayloadError::missing(format, field))?;
    let document: Document<'a> = serde_json::from_str(raw.get()).map_err(|_| {
        PayloadError::missing(
            format,
            "Platform payload object (`data`/`detail` is not an object)",
        )
    })?;
    platform::parse(format, &document, Payload::from(raw))
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

/// `name` as a `Cow`, borrowed (no allocation) when it is a name that
/// occurs in almost every payload.
fn intern(name: &str) -> Cow<'static, str> {
    let known: &'static str = match name {
        "customer" => "customer",
        "order" => "order",
        "cart" => "cart",
        "payment" => "payment",
        "product" => "product",
        "category" => "category",
        "customer-group" => "customer-group",
        "inventory-entry" => "inventory-entry",
        "store" => "store",
        "business-unit" => "business-unit",
        "shopping-list" => "shopping-list",
        "Message" => "Message",
        "ResourceCreated" => "ResourceCreated",
        "ResourceUpdated" => "ResourceUpdated",
        "ResourceDeleted" => "ResourceDeleted",
        "CustomerCreated" => "CustomerCreated",
        "CustomerDeleted" => "CustomerDeleted",
        "CustomerEmailChanged" => "CustomerEmailChanged",
        "CustomerEmailVerified" => "CustomerEmailVerified",
        "CustomerFirstNameSet" => "CustomerFirstNameSet",
        "CustomerLastNameSet" => "CustomerLastNameSet",
        "CustomerTitleSet" => "CustomerTitleSet",
        "CustomerDateOfBirthSet" => "CustomerDateOfBirthSet",
        "CustomerCompanyNameSet" => "CustomerCompanyNameSet",
        "CustomerAddressAdded" => "CustomerAddressAdded",
        "CustomerAddressChanged" => "CustomerAddressChanged",
        "CustomerAddressRemoved" => "CustomerAddressRemoved",
        "CustomerGroupSet" => "CustomerGroupSet",
        "CustomerExternalIdSet" => "CustomerExternalIdSet",
        "CustomerDefaultShippingAddressSet" => "CustomerDefaultShippingAddressSet",
        "CustomerDefaultBillingAddressSet" => "CustomerDefaultBillingAddressSet",
        "CustomerShippingAddressAdded" => "CustomerShippingAddressAdded",
        "CustomerShippingAddressRemoved" => "CustomerShippingAddressRemoved",
        "CustomerBillingAddressAdded" => "CustomerBillingAddressAdded",
        "CustomerBillingAddressRemoved" => "CustomerBillingAddressRemoved",
        "CustomerPasswordUpdated" => "CustomerPasswordUpdated",
        "CustomerCustomFieldAdded" => "CustomerCustomFieldAdded",
        "CustomerCustomFieldChanged" => "CustomerCustomFieldChanged",
        "CustomerCustomFieldRemoved" => "CustomerCustomFieldRemoved",
        "CustomerCustomTypeSet" => "CustomerCustomTypeSet",
        "CustomerCustomTypeRemoved" => "CustomerCustomTypeRemoved",
        _ => return Cow::Owned(name.to_owned()),
    };
    Cow::Borrowed(known)
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
    /// A field has the wrong type.
    #[error(
        "the payload has a field of the wrong type ({0}); expected a commercetools Message, change notification, CloudEvent or EventBridge event"
    )]
    Invalid(#[source] serde_json::Error),
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

    /// Explains why `body` could not be read (this path may parse again).
    fn from_json(body: &str, error: serde_json::Error) -> Self {
        if !error.is_data() {
            return Self::NotJson(error);
        }
        match serde_json::from_str::<Value>(body) {
            Ok(Value::Object(_)) => Self::Invalid(error),
            Ok(other) => Self::NotAnObject(json_kind(&other)),
            Err(error) => Self::NotJson(error),
        }
    }
}
