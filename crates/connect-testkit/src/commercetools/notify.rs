//! Subscription payloads, shaped like `fixtures/commercetools/*.json`.

use chrono::{DateTime, SecondsFormat, Utc};
use connect_commercetools::Customer;
use connect_commercetools::model::datetime;
use serde_json::{Map, Value, json};

/// What a subscription delivers, and in which envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NotificationFormat {
    /// Change notifications (`ResourceCreated`, `ResourceUpdated`,
    /// `ResourceDeleted`) in Platform format, one per write.
    ChangeNotifications,
    /// Platform Messages (`CustomerCreated`, `CustomerEmailChanged`,
    /// `CustomerFirstNameSet`, ..., `CustomerDeleted`), one per update action
    /// that has a Message type, with per-customer `sequenceNumber`s. Writes
    /// that only touch fields without a Message type (`setMiddleName`,
    /// `setSalutation`, `setVatId`, `setLocale`, `setKey`,
    /// `setCustomerNumber`) deliver nothing, as in the real API.
    Messages,
    /// Change notifications in CloudEvents format (`data` holds the Platform payload).
    CloudEvents,
    /// Change notifications in the EventBridge envelope, as an EventBridge
    /// rule delivers them to SQS (`detail` holds the Platform payload).
    EventBridge,
}

/// A Message produced by a write, before it is rendered.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct PendingMessage {
    pub(super) id: String,
    pub(super) sequence_number: u64,
    pub(super) type_name: &'static str,
    pub(super) fields: Map<String, Value>,
}

/// What kind of write happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ChangeKind {
    Created,
    Updated { old_version: u64 },
    Deleted,
}

impl ChangeKind {
    fn notification_type(self) -> &'static str {
        match self {
            Self::Created => "ResourceCreated",
            Self::Updated { .. } => "ResourceUpdated",
            Self::Deleted => "ResourceDeleted",
        }
    }
}

/// One successful write, with everything its notifications need.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Event {
    pub(super) kind: ChangeKind,
    /// The customer after the write (as it was, for a deletion).
    pub(super) customer: Customer,
    pub(super) at: DateTime<Utc>,
    pub(super) messages: Vec<PendingMessage>,
}

/// Where payloads are rendered for.
pub(super) struct Target<'a> {
    pub(super) project_key: &'a str,
    pub(super) subscription_key: &'a str,
    pub(super) region: &'a str,
    pub(super) account: &'a str,
}

/// The payloads `event` delivers to a subscription in `format`, in order.
pub(super) fn render(event: &Event, format: NotificationFormat, target: &Target<'_>) -> Vec<Value> {
    match format {
        NotificationFormat::ChangeNotifications => vec![change(event, target.project_key)],
        NotificationFormat::Messages => event
            .messages
            .iter()
            .map(|m| message(event, m, target.project_key))
            .collect(),
        NotificationFormat::CloudEvents => vec![cloud_event(event, target.project_key)],
        NotificationFormat::EventBridge => vec![eventbridge(event, target)],
    }
}

fn resource(customer: &Customer) -> Value {
    json!({ "typeId": "customer", "id": customer.id })
}

fn identifiers(customer: &Customer) -> Value {
    let mut ids = Map::new();
    if let Some(key) = &customer.key {
        ids.insert("key".to_owned(), Value::String(key.clone()));
    }
    if let Some(number) = &customer.customer_number {
        ids.insert("customerNumber".to_owned(), Value::String(number.clone()));
    }
    Value::Object(ids)
}

fn change(event: &Event, project_key: &str) -> Value {
    let customer = &event.customer;
    let mut payload = Map::new();
    payload.insert(
        "notificationType".to_owned(),
        json!(event.kind.notification_type()),
    );
    payload.insert("projectKey".to_owned(), json!(project_key));
    payload.insert("resource".to_owned(), resource(customer));
    payload.insert(
        "resourceUserProvidedIdentifiers".to_owned(),
        identifiers(customer),
    );
    payload.insert("version".to_owned(), json!(customer.version));
    match event.kind {
        ChangeKind::Updated { old_version } => {
            payload.insert("oldVersion".to_owned(), json!(old_version));
        }
        ChangeKind::Deleted => {
            payload.insert("dataErasure".to_owned(), json!(false));
        }
        ChangeKind::Created => {}
    }
    payload.insert("modifiedAt".to_owned(), json!(datetime::format(&event.at)));
    Value::Object(payload)
}

fn message(event: &Event, pending: &PendingMessage, project_key: &str) -> Value {
    let customer = &event.customer;
    let at = datetime::format(&event.at);
    let mut payload = Map::new();
    payload.insert("notificationType".to_owned(), json!("Message"));
    payload.insert("projectKey".to_owned(), json!(project_key));
    payload.insert("id".to_owned(), json!(pending.id));
    payload.insert("version".to_owned(), json!(1));
    payload.insert("sequenceNumber".to_owned(), json!(pending.sequence_number));
    payload.insert("resource".to_owned(), resource(customer));
    payload.insert("resourceVersion".to_owned(), json!(customer.version));
    payload.insert(
        "resourceUserProvidedIdentifiers".to_owned(),
        identifiers(customer),
    );
    payload.insert("type".to_owned(), json!(pending.type_name));
    payload.extend(pending.fields.clone());
    payload.insert("createdAt".to_owned(), json!(at));
    payload.insert("lastModifiedAt".to_owned(), json!(at));
    Value::Object(payload)
}

fn cloud_event(event: &Event, project_key: &str) -> Value {
    let id = &event.customer.id;
    json!({
        "specversion": "1.0",
        "id": uuid::Uuid::new_v4().to_string(),
        "type": format!("com.commercetools.customer.change.{}", event.kind.notification_type()),
        "source": format!("/{project_key}/customers"),
        "subject": id,
        "time": datetime::format(&event.at),
        "dataref": format!("/{project_key}/customers/{id}"),
        "data": change(event, project_key),
    })
}

fn eventbridge(event: &Event, target: &Target<'_>) -> Value {
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": event.kind.notification_type(),
        "source": format!("aws.partner/commercetools.com/{}/{}", target.project_key, target.subscription_key),
        "account": target.account,
        "time": event.at.to_rfc3339_opts(SecondsFormat::Secs, true),
        "region": target.region,
        "resources": [],
        "detail": change(event, target.project_key),
    })
}
