//! The CloudEvents format: `specversion`, `id`, `type`, `subject`, and the
//! Platform payload in `data`.

use super::document::Document;
use super::{PayloadError, PayloadFormat, SubscriptionEvent, inner};

pub(super) fn parse(document: &Document<'_>) -> Result<SubscriptionEvent, PayloadError> {
    let mut event = inner(
        PayloadFormat::CloudEvents,
        document.data,
        "`data` (the commercetools payload)",
    )?;
    if let Some(id) = &document.id {
        event.event_id = Some((**id).to_owned());
    }
    if event.project_key.is_none() {
        // `source` is `/{projectKey}/{resource type}`.
        event.project_key = document
            .source
            .as_deref()
            .and_then(|s| s.trim_start_matches('/').split('/').next())
            .filter(|p| !p.is_empty())
            .map(str::to_owned);
    }
    Ok(event)
}
