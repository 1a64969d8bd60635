//! The EventBridge envelope (`version`, `id`, `detail-type`, `source`,
//! `time`, `region`, `resources`, optional `account`) with the Platform
//! payload in `detail`, as an EventBridge rule delivers it to SQS.

use serde_json::{Map, Value};

use super::{PayloadError, PayloadFormat, SubscriptionEvent, platform, string};

/// `source` is `aws.partner/commercetools.com/{projectKey}/{subscriptionKey}`.
pub(super) const SOURCE_PREFIX: &str = "aws.partner/commercetools.com/";

pub(super) fn parse(mut document: Map<String, Value>) -> Result<SubscriptionEvent, PayloadError> {
    let format = PayloadFormat::EventBridge;
    let id = string(&document, "id");
    let (project, subscription) = document
        .get("source")
        .and_then(Value::as_str)
        .and_then(|s| s.strip_prefix(SOURCE_PREFIX))
        .map(|rest| {
            let mut parts = rest.splitn(2, '/');
            let project = parts.next().filter(|p| !p.is_empty()).map(str::to_owned);
            let subscription = parts.next().filter(|p| !p.is_empty()).map(str::to_owned);
            (project, subscription)
        })
        .unwrap_or_default();
    let detail = document.remove("detail").ok_or(PayloadError::missing(
        format,
        "`detail` (the commercetools payload)",
    ))?;
    let mut event = platform::parse(format, detail)?;
    if id.is_some() {
        event.event_id = id;
    }
    if event.project_key.is_none() {
        event.project_key = project;
    }
    event.subscription_key = subscription;
    Ok(event)
}
