//! Subscription payloads, shaped like `fixtures/commercetools/*.json`.

use chrono::{DateTime, SecondsFormat, Utc};
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
    /// `CustomerFirstNameSet`, ..., `CustomerDeleted`; `CategoryCreated`,
    /// `CategorySlugChanged`), one per update action that has a Message
    /// type, with per-resource `sequenceNumber`s. Writes
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

/// The resource a write changed, as notifications name it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Changed {
    /// `customer`, `category`, ...
    pub(super) type_id: String,
    /// `customers`, `categories`, ...
    pub(super) endpoint: String,
    pub(super) id: String,
    pub(super) version: u64,
    /// `resourceUserProvidedIdentifiers`.
    pub(super) identifiers: Map<String, Value>,
}

/// The user-provided identifiers commercetools names in notifications
/// (`key`, `externalId`, `orderNumber`, `customerNumber`, `sku`, `slug`) that
/// `resource` has.
pub(super) fn identifiers(resource: &Value) -> Map<String, Value> {
    [
        "key",
        "externalId",
        "orderNumber",
        "customerNumber",
        "sku",
        "slug",
    ]
    .into_iter()
    .filter_map(|name| {
        let value = resource.get(name)?;
        (!value.is_null()).then(|| (name.to_owned(), value.clone()))
    })
    .collect()
}

/// One successful write, with everything its notifications need.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Event {
    pub(super) kind: ChangeKind,
    /// The resource after the write (as it was, for a deletion).
    pub(super) resource: Changed,
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

fn resource(changed: &Changed) -> Value {
    json!({ "typeId": changed.type_id, "id": changed.id })
}

fn change(event: &Event, project_key: &str) -> Value {
    let changed = &event.resource;
    let mut payload = Map::new();
    payload.insert(
        "notificationType".to_owned(),
        json!(event.kind.notification_type()),
    );
    payload.insert("projectKey".to_owned(), json!(project_key));
    payload.insert("resource".to_owned(), resource(changed));
    payload.insert(
        "resourceUserProvidedIdentifiers".to_owned(),
        Value::Object(changed.identifiers.clone()),
    );
    payload.insert("version".to_owned(), json!(changed.version));
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
    let changed = &event.resource;
    let at = datetime::format(&event.at);
    let mut payload = Map::new();
    payload.insert("notificationType".to_owned(), json!("Message"));
    payload.insert("projectKey".to_owned(), json!(project_key));
    payload.insert("id".to_owned(), json!(pending.id));
    payload.insert("version".to_owned(), json!(1));
    payload.insert("sequenceNumber".to_owned(), json!(pending.sequence_number));
    payload.insert("resource".to_owned(), resource(changed));
    payload.insert("resourceVersion".to_owned(), json!(changed.version));
    payload.insert(
        "resourceUserProvidedIdentifiers".to_owned(),
        Value::Object(changed.identifiers.clone()),
    );
    payload.insert("type".to_owned(), json!(pending.type_name));
    payload.extend(pending.fields.clone());
    payload.insert("createdAt".to_owned(), json!(at));
    payload.insert("lastModifiedAt".to_owned(), json!(at));
    Value::Object(payload)
}

fn cloud_event(event: &Event, project_key: &str) -> Value {
    let Changed {
        type_id,
        endpoint,
        id,
        ..
    } = &event.resource;
    json!({
        "specversion": "1.0",
        "id": uuid::Uuid::new_v4().to_string(),
        "type": format!("com.commercetools.{type_id}.change.{}", event.kind.notification_type()),
        "source": format!("/{project_key}/{endpoint}"),
        "subject": id,
        "time": datetime::format(&event.at),
        "dataref": format!("/{project_key}/{endpoint}/{id}"),
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
