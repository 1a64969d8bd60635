//! The CloudEvents format: `specversion`, `id`, `type`, `subject`, and the
//! Platform payload in `data`.

use super::document::Document;
use super::{Notification, PayloadError, PayloadFormat, inner};

pub(super) fn parse(document: &Document<'_>) -> Result<Notification, PayloadError> {
    // `source` is `/{projectKey}/{resource type}`.
    let envelope_project = document
        .source
        .as_deref()
        .and_then(|s| s.trim_start_matches('/').split('/').next())
        .filter(|p| !p.is_empty())
        .map(str::to_owned);
    // `type` is `com.commercetools.{resource}.{message|change|event}.{Type}`;
    // an Event's `data` is the event data, not a Platform payload.
    if let Some(kind) = document.kind.as_deref()
        && let Some(rest) = kind.strip_prefix("com.commercetools.")
        && let [resource_type, "event", event_type] = rest.splitn(3, '.').collect::<Vec<_>>()[..]
    {
        return Ok(Notification::Event {
            format: PayloadFormat::CloudEvents,
            event_type: event_type.to_owned(),
            resource_type: Some(resource_type.to_owned()),
            project_key: envelope_project,
        });
    }
    let notification = inner(
        PayloadFormat::CloudEvents,
        document.data,
        "`data` (the commercetools payload)",
    )?;
    Ok(notification.with_envelope(document.id.as_deref(), envelope_project, None))
}
