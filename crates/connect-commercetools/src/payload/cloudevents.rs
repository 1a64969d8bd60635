//! The CloudEvents format: `specversion`, `id`, `type`, `subject`, and the
//! Platform payload in `data`.

use serde_json::{Map, Value};

use super::{PayloadError, PayloadFormat, SubscriptionEvent, platform, string};

pub(super) fn parse(mut document: Map<String, Value>) -> Result<SubscriptionEvent, PayloadError> {
    let format = PayloadFormat::CloudEvents;
    let id = string(&document, "id");
    // `source` is `/{projectKey}/{resource type}`.
    let project_from_source = document
        .get("source")
        .and_then(Value::as_str)
        .and_then(|s| s.trim_start_matches('/').split('/').next())
        .filter(|p| !p.is_empty())
        .map(str::to_owned);
    let data = document.remove("data").ok_or(PayloadError::missing(
        format,
        "`data` (the commercetools payload)",
    ))?;
    let mut event = platform::parse(format, data)?;
    if id.is_some() {
        event.event_id = id;
    }
    if event.project_key.is_none() {
        event.project_key = project_from_source;
    }
    Ok(event)
}
