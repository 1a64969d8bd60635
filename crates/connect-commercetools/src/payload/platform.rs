//! The Platform payload: a Message or a change notification.

use std::borrow::Cow;

use connect_core::Payload;

use super::document::Document;
use super::{
    EVENT, MESSAGE, Notification, PayloadError, PayloadFormat, SUBSCRIPTION_TYPE_ID,
    SubscriptionEvent, check_resource_id, intern,
};

/// Reads a Platform payload (possibly from inside an envelope, `format`).
pub(super) fn parse(
    format: PayloadFormat,
    document: &Document<'_>,
    payload: Payload,
) -> Result<Notification, PayloadError> {
    let notification_type = document
        .notification_type
        .as_deref()
        .ok_or(PayloadError::missing(format, "`notificationType`"))?;
    let project_key = document.project_key.as_deref().map(str::to_owned);
    if notification_type == EVENT {
        // Event (beta) payloads are about an API (`resourceType`), not a
        // resource: they carry no `resource`.
        return Ok(Notification::Event {
            format,
            event_type: document.kind.as_deref().unwrap_or_default().to_owned(),
            resource_type: document.resource_type.as_deref().map(str::to_owned),
            project_key,
        });
    }
    let resource = document
        .resource
        .as_ref()
        .ok_or(PayloadError::missing(format, "`resource` object"))?;
    let type_id = resource
        .type_id
        .as_deref()
        .ok_or(PayloadError::missing(format, "`resource.typeId`"))?;
    let resource_id = resource
        .id
        .as_deref()
        .ok_or(PayloadError::missing(format, "`resource.id`"))?;
    if type_id == SUBSCRIPTION_TYPE_ID && notification_type == "ResourceCreated" {
        // The check commercetools sends to a new Subscription's destination.
        return Ok(Notification::SubscriptionCheck {
            format,
            subscription_id: resource_id.to_owned(),
            project_key,
        });
    }
    check_resource_id(format, resource_id)?;
    let event = if notification_type == MESSAGE {
        let not_included = document.payload_not_included.as_ref();
        let message_type = document
            .kind
            .as_deref()
            .or_else(|| not_included.and_then(|p| p.payload_type.as_deref()))
            .ok_or(PayloadError::missing(
                format,
                "message `type` (nor `payloadNotIncluded.payloadType`)",
            ))?;
        SubscriptionEvent {
            format,
            notification_type: Cow::Borrowed(MESSAGE),
            event_type: intern(message_type),
            project_key,
            type_id: intern(type_id),
            resource_id: resource_id.to_owned(),
            version: document.resource_version,
            sequence_number: document.sequence_number,
            event_id: document.id.as_deref().map(str::to_owned),
            payload_included: not_included.is_none(),
            subscription_key: None,
            payload,
        }
    } else {
        let notification_type = intern(notification_type);
        SubscriptionEvent {
            format,
            event_type: notification_type.clone(),
            notification_type,
            project_key,
            type_id: intern(type_id),
            resource_id: resource_id.to_owned(),
            version: document.version(),
            sequence_number: None,
            event_id: None,
            payload_included: true,
            subscription_key: None,
            payload,
        }
    };
    Ok(Notification::Resource(event))
}
