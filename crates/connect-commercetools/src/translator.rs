//! [`SubscriptionTranslator`]: raw subscription payloads → connect messages.

use std::collections::BTreeMap;

use connect_core::listener::{Translate, Translation};
use connect_core::queue::RawPayload;
use connect_core::{BoxError, Message, ResourceRef, attributes};

use crate::payload::{Notification, SubscriptionEvent};

/// The `source` attribute of messages from commercetools.
pub const SOURCE: &str = "commercetools";

/// The name of the CT queue listener.
pub const CT_QUEUE_LISTENER: &str = "ct-queue";

/// Turns commercetools subscription payloads (any format, see
/// [`payload`](crate::payload)) into connect [`Message`]s routed by the
/// resource's `typeId` (the `route-mapping` of the configuration).
///
/// - `name`: the route mapped to `resource.typeId`; an unmapped type is
///   [`Translation::Ignore`]d.
/// - `event_type`: the `notificationType` of change notifications, the
///   `type` of Messages.
/// - `resource`: type id, id, version, and sequence number (Messages).
/// - `payload`: the Platform payload (unwrapped from CloudEvents/EventBridge).
/// - attributes `source=commercetools`, `project-key`, `format`.
/// - `id`: the upstream event id when there is one, else a fresh UUID.
///
/// A payload that is not JSON, misses a required field, or names a resource
/// id no commercetools resource can have (empty, over
/// [`MAX_RESOURCE_ID_CHARS`](crate::payload::MAX_RESOURCE_ID_CHARS)) is an
/// `Err` naming the problem; the [`Listener`](connect_core::listener::Listener) dead-letters it with its raw
/// body at once.
///
/// Payloads that are about no single resource are acknowledged with one
/// `INFO` line and [`Translation::Ignore`]: the check commercetools sends
/// when a Subscription is created, and Event (beta) payloads. With
/// [`with_project_key`](Self::with_project_key), a payload naming another
/// project is ignored with a `WARN` line (a Subscription of another project
/// writes to this queue: fix the Subscription).
///
/// ```
/// use std::collections::BTreeMap;
/// use connect_commercetools::SubscriptionTranslator;
/// use connect_core::listener::{Translate, Translation};
/// use connect_core::queue::RawPayload;
///
/// let translator = SubscriptionTranslator::new(BTreeMap::from([(
///     "customer".to_owned(),
///     "commercetools.connect.customer.upsert".to_owned(),
/// )]));
/// let raw = RawPayload::new(r#"{"notificationType": "ResourceCreated", "projectKey": "shop",
///     "resource": {"typeId": "customer", "id": "c-1"}, "version": 1,
///     "modifiedAt": "2024-01-30T08:00:00.000Z"}"#);
/// let Translation::Message(message) = translator.translate(&raw).unwrap() else { panic!() };
/// assert_eq!(message.route, "commercetools.connect.customer.upsert");
/// assert_eq!(message.event_type.as_deref(), Some("ResourceCreated"));
/// assert_eq!(message.attribute("project-key"), Some("shop"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct SubscriptionTranslator {
    routes: BTreeMap<String, String>,
    project_key: Option<String>,
}

impl SubscriptionTranslator {
    /// A translator with `route_mapping`: resource type id → route name.
    pub fn new(route_mapping: BTreeMap<String, String>) -> Self {
        Self {
            routes: route_mapping,
            project_key: None,
        }
    }

    /// Accepts only payloads of project `project_key` (the configuration's
    /// `commercetools.project-key`): a payload that names another project is
    /// ignored with a warning instead of being processed against this one.
    /// Payloads that name no project are accepted.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use connect_commercetools::SubscriptionTranslator;
    /// use connect_core::listener::{Translate, Translation};
    /// use connect_core::queue::RawPayload;
    ///
    /// let translator = SubscriptionTranslator::new(BTreeMap::from([(
    ///     "customer".to_owned(),
    ///     "commercetools.connect.customer.upsert".to_owned(),
    /// )]))
    /// .with_project_key("shop");
    /// let other = RawPayload::new(r#"{"notificationType": "ResourceCreated", "projectKey": "other-shop",
    ///     "resource": {"typeId": "customer", "id": "c-1"}, "version": 1,
    ///     "modifiedAt": "2024-01-30T08:00:00.000Z"}"#);
    /// assert!(matches!(translator.translate(&other).unwrap(), Translation::Ignore(_)));
    /// ```
    #[must_use]
    pub fn with_project_key(mut self, project_key: impl Into<String>) -> Self {
        self.project_key = Some(project_key.into());
        self
    }

    /// The project accepted, when set with [`with_project_key`](Self::with_project_key).
    pub fn project_key(&self) -> Option<&str> {
        self.project_key.as_deref()
    }

    /// Translates a parsed payload: a message, or why it is ignored (logged
    /// at `INFO`, or `WARN` for another project).
    pub fn translate_notification(&self, notification: Notification) -> Translation {
        if let (Some(ours), Some(theirs)) = (&self.project_key, notification.project_key())
            && ours != theirs
        {
            let reason = format!(
                "payload of commercetools project `{theirs}`, but this connector serves `{ours}`; a Subscription of `{theirs}` writes to this queue: point it elsewhere"
            );
            tracing::warn!(project_key = theirs, expected = %ours, "{reason}");
            return Translation::Ignore(reason);
        }
        match notification {
            Notification::Resource(event) => self.translate_event(event),
            Notification::SubscriptionCheck {
                subscription_id,
                format,
                ..
            } => {
                let reason = format!(
                    "subscription check for new Subscription {subscription_id} ({format}): the destination works"
                );
                tracing::info!(%subscription_id, %format, "commercetools subscription check received; acknowledged");
                Translation::Ignore(reason)
            }
            Notification::Event {
                event_type,
                resource_type,
                format,
                ..
            } => {
                let resource_type = resource_type.unwrap_or_default();
                let reason = format!(
                    "commercetools Event `{event_type}` ({resource_type}, {format}) is about no single resource; Events are not routed"
                );
                tracing::info!(%event_type, %resource_type, %format, "commercetools Event payload ignored: Events are not routed");
                Translation::Ignore(reason)
            }
        }
    }

    /// The route for resource type `type_id`.
    pub fn route_for(&self, type_id: &str) -> Option<&str> {
        self.routes.get(type_id).map(String::as_str)
    }

    /// The whole `route-mapping`: resource type id → route name.
    pub fn route_mapping(&self) -> &BTreeMap<String, String> {
        &self.routes
    }

    /// Turns a parsed event into a message (or ignores it).
    pub fn translate_event(&self, event: SubscriptionEvent) -> Translation {
        let Some(route) = self.routes.get(event.type_id.as_ref()) else {
            return Translation::Ignore(format!(
                "no route-mapping for commercetools resource type `{}` ({} {})",
                event.type_id, event.event_type, event.resource_id
            ));
        };
        // A fresh id only when the event brought none.
        let mut message = match event.event_id {
            Some(id) => Message::identified(route.as_str(), id),
            None => Message::new(route.as_str()),
        };
        message.event_type = Some(event.event_type);
        message.resource = Some(ResourceRef {
            type_id: event.type_id,
            id: event.resource_id,
            version: event.version,
            sequence_number: event.sequence_number,
        });
        message.payload = event.payload;
        let attrs = &mut message.attributes;
        attrs.insert(attributes::SOURCE, SOURCE);
        if let Some(project_key) = event.project_key {
            attrs.insert(attributes::PROJECT_KEY, project_key);
        }
        attrs.insert(attributes::FORMAT, event.format.as_str());
        Translation::Message(message)
    }
}

impl Translate for SubscriptionTranslator {
    fn translate(&self, raw: &RawPayload) -> Result<Translation, BoxError> {
        let notification = Notification::parse(&raw.body)?;
        Ok(self.translate_notification(notification))
    }
}
