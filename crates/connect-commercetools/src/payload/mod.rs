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
//! Two payloads are not about one resource, and [`Notification::parse`]
//! tells them apart instead of failing on them:
//!
//! - the **subscription check**: when a Subscription is created,
//!   commercetools sends its destination a `ResourceCreated` notification
//!   whose resource is the Subscription itself (`typeId: "subscription"`),
//!   to prove the destination works;
//! - **Event** (beta) payloads (`notificationType: "Event"`, e.g. Import API
//!   events), which name a `resourceType` but carry no `resource`.
//!
//! A resource id that is empty, longer than [`MAX_RESOURCE_ID_CHARS`] or
//! holds control characters is refused ([`PayloadError::InvalidResourceId`]):
//! commercetools ids are UUIDs, and such an id would otherwise address the
//! wrong endpoint (an empty id turns `GET /customers/{id}` into the list) or
//! fail as if the network were down.
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

/// The `notificationType` of Event (beta) payloads.
pub const EVENT: &str = "Event";

/// The `resource.typeId` of the check sent when a Subscription is created.
pub const SUBSCRIPTION_TYPE_ID: &str = "subscription";

/// The longest resource id accepted, in characters. commercetools ids are
/// UUIDs (36 characters); this leaves room for any other identifier while
/// keeping request URLs well under every server's limit.
pub const MAX_RESOURCE_ID_CHARS: usize = 256;

/// What a subscription payload is, once read.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Notification {
    /// A Message or change notification about one resource.
    Resource(SubscriptionEvent),
    /// The check commercetools sends when a Subscription is created: a
    /// `ResourceCreated` notification about the Subscription itself.
    SubscriptionCheck {
        /// How it was delivered.
        format: PayloadFormat,
        /// The id of the Subscription that was created.
        subscription_id: String,
        /// The project, when the payload names it.
        project_key: Option<String>,
    },
    /// An Event (beta) payload: about an API, not one resource.
    Event {
        /// How it was delivered.
        format: PayloadFormat,
        /// The Event `type`, e.g. `ImportContainerCreated`.
        event_type: String,
        /// The `resourceType`, e.g. `import-api`.
        resource_type: Option<String>,
        /// The project, when the payload names it.
        project_key: Option<String>,
    },
}

impl Notification {
    /// Reads a raw body in any delivery format.
    ///
    /// ```
    /// use connect_commercetools::payload::Notification;
    ///
    /// let check = r#"{"notificationType": "ResourceCreated", "projectKey": "shop",
    ///     "resource": {"typeId": "subscription", "id": "0f1e"}, "version": 1,
    ///     "modifiedAt": "2024-01-30T08:00:00.000Z"}"#;
    /// assert!(matches!(Notification::parse(check)?, Notification::SubscriptionCheck { .. }));
    /// let event = r#"{"id": "3b36", "notificationType": "Event", "resourceType": "import-api",
    ///     "type": "ImportContainerCreated", "data": {}, "createdAt": "2025-03-26T17:28:20.397Z"}"#;
    /// assert!(matches!(Notification::parse(event)?, Notification::Event { .. }));
    /// # Ok::<(), connect_commercetools::payload::PayloadError>(())
    /// ```
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

    /// The project the payload names, if any.
    pub fn project_key(&self) -> Option<&str> {
        match self {
            Self::Resource(event) => event.project_key.as_deref(),
            Self::SubscriptionCheck { project_key, .. } | Self::Event { project_key, .. } => {
                project_key.as_deref()
            }
        }
    }

    /// Applies what an envelope says: its event id, and the project and
    /// subscription it names when the inner payload does not.
    fn with_envelope(
        mut self,
        event_id: Option<&str>,
        project: Option<String>,
        subscription: Option<String>,
    ) -> Self {
        match &mut self {
            Self::Resource(event) => {
                if let Some(id) = event_id {
                    event.event_id = Some(id.to_owned());
                }
                if event.project_key.is_none() {
                    event.project_key = project;
                }
                event.subscription_key = subscription;
            }
            Self::SubscriptionCheck { project_key, .. } | Self::Event { project_key, .. } => {
                if project_key.is_none() {
                    *project_key = project;
                }
            }
        }
        self
    }
}

/// Refuses an id no commercetools resource can have.
fn check_resource_id(format: PayloadFormat, id: &str) -> Result<(), PayloadError> {
    let problem = if id.trim().is_empty() {
        "is empty".to_owned()
    } else if id.chars().count() > MAX_RESOURCE_ID_CHARS {
        format!(
            "is {} characters long (at most {MAX_RESOURCE_ID_CHARS}; commercetools ids are 36-character UUIDs)",
            id.chars().count()
        )
    } else if id.chars().any(char::is_control) {
        "holds control characters".to_owned()
    } else {
        return Ok(());
    };
    Err(PayloadError::InvalidResourceId { format, problem })
}

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
    /// Reads a raw body and detects its format. A payload that is not about
    /// one resource (the subscription check, an Event) is
    /// [`PayloadError::NotAboutAResource`]; use [`Notification::parse`] to
    /// tell those apart.
    pub fn parse(body: &str) -> Result<Self, PayloadError> {
        match Notification::parse(body)? {
            Notification::Resource(event) => Ok(event),
            Notification::SubscriptionCheck { .. } => Err(PayloadError::NotAboutAResource(
                "the check commercetools sends when a Subscription is created",
            )),
            Notification::Event { .. } => Err(PayloadError::NotAboutAResource(
                "an Event payload (notificationType `Event`)",
            )),
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
) -> Result<Notification, PayloadError> {
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
    /// `resource.id` cannot be a commercetools id.
    #[error(
        "the {format} payload's `resource.id` {problem}; a commercetools resource id is a UUID such as 14a4ef54-957d-4148-b0be-de8d0fbc411d: check what else writes to the CT queue"
    )]
    InvalidResourceId {
        /// The detected format.
        format: PayloadFormat,
        /// What is wrong with the id.
        problem: String,
    },
    /// The payload is valid but about no single resource (see
    /// [`Notification`]).
    #[error("the payload is {0}, not about one resource")]
    NotAboutAResource(&'static str),
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
