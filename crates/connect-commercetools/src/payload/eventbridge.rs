//! The EventBridge envelope (`version`, `id`, `detail-type`, `source`,
//! `time`, `region`, `resources`, optional `account`) with the Platform
//! payload in `detail`, as an EventBridge rule delivers it to SQS.

use super::document::Document;
use super::{PayloadError, PayloadFormat, SubscriptionEvent, inner};

/// `source` is `aws.partner/commercetools.com/{projectKey}/{subscriptionKey}`.
pub(super) const SOURCE_PREFIX: &str = "aws.partner/commercetools.com/";

pub(super) fn parse(document: &Document<'_>) -> Result<SubscriptionEvent, PayloadError> {
    let mut event = inner(
        PayloadFormat::EventBridge,
        document.detail,
        "`detail` (the commercetools payload)",
    )?;
    let (project, subscription) = document
        .source
        .as_deref()
        .and_then(|s| s.strip_prefix(SOURCE_PREFIX))
        .map(|rest| {
            let mut parts = rest.splitn(2, '/');
            let project = parts.next().filter(|p| !p.is_empty()).map(str::to_owned);
            let subscription = parts.next().filter(|p| !p.is_empty()).map(str::to_owned);
            (project, subscription)
        })
        .unwrap_or_default();
    if let Some(id) = &document.id {
        event.event_id = Some((**id).to_owned());
    }
    if event.project_key.is_none() {
        event.project_key = project;
    }
    event.subscription_key = subscription;
    Ok(event)
}
