//! The Platform payload: a Message or a change notification.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::{MESSAGE, PayloadError, PayloadFormat, SubscriptionEvent, intern, string};

/// Reads a Platform payload (possibly from inside an envelope, `format`).
pub(super) fn parse(
    format: PayloadFormat,
    payload: Value,
) -> Result<SubscriptionEvent, PayloadError> {
    let Some(map) = payload.as_object() else {
        return Err(PayloadError::missing(
            format,
            "Platform payload object (`data`/`detail` is not an object)",
        ));
    };
    let fields = Fields::read(format, map)?;
    Ok(SubscriptionEvent {
        format,
        notification_type: fields.notification_type,
        event_type: fields.event_type,
        project_key: fields.project_key,
        type_id: fields.type_id,
        resource_id: fields.resource_id,
        version: fields.version,
        sequence_number: fields.sequence_number,
        event_id: fields.event_id,
        payload_included: fields.payload_included,
        subscription_key: None,
        payload,
    })
}

/// The fields read from a Platform payload.
struct Fields {
    notification_type: Cow<'static, str>,
    event_type: Cow<'static, str>,
    project_key: Option<String>,
    type_id: Cow<'static, str>,
    resource_id: String,
    version: Option<u64>,
    sequence_number: Option<u64>,
    event_id: Option<String>,
    payload_included: bool,
}

impl Fields {
    fn read(format: PayloadFormat, map: &Map<String, Value>) -> Result<Self, PayloadError> {
        let notification_type = map
            .get("notificationType")
            .and_then(Value::as_str)
            .ok_or(PayloadError::missing(format, "`notificationType`"))?;
        let resource = map
            .get("resource")
            .and_then(Value::as_object)
            .ok_or(PayloadError::missing(format, "`resource` object"))?;
        let type_id = resource
            .get("typeId")
            .and_then(Value::as_str)
            .ok_or(PayloadError::missing(format, "`resource.typeId`"))?;
        let resource_id = resource
            .get("id")
            .and_then(Value::as_str)
            .ok_or(PayloadError::missing(format, "`resource.id`"))?;
        let project_key = string(map, "projectKey");
        if notification_type == MESSAGE {
            let not_included = map.get("payloadNotIncluded");
            let message_type = map.get("type").and_then(Value::as_str).or_else(|| {
                not_included
                    .and_then(|p| p.get("payloadType"))
                    .and_then(Value::as_str)
            });
            let message_type = message_type.ok_or(PayloadError::missing(
                format,
                "message `type` (nor `payloadNotIncluded.payloadType`)",
            ))?;
            Ok(Self {
                notification_type: Cow::Borrowed(MESSAGE),
                event_type: intern(message_type),
                project_key,
                type_id: intern(type_id),
                resource_id: resource_id.to_owned(),
                version: map.get("resourceVersion").and_then(Value::as_u64),
                sequence_number: map.get("sequenceNumber").and_then(Value::as_u64),
                event_id: string(map, "id"),
                payload_included: not_included.is_none(),
            })
        } else {
            let notification_type = intern(notification_type);
            Ok(Self {
                event_type: notification_type.clone(),
                notification_type,
                project_key,
                type_id: intern(type_id),
                resource_id: resource_id.to_owned(),
                version: map.get("version").and_then(Value::as_u64),
                sequence_number: None,
                event_id: None,
                payload_included: true,
            })
        }
    }
}
