//! The EventBridge envelope (`version`, `id`, `detail-type`, `source`,
//! `time`, `region`, `resources`, optional `account`) with the Platform
//! payload in `detail`, as an EventBridge rule delivers it to SQS.

use super::document::Document;
use super::{Notification, PayloadError, PayloadFormat, inner};

/// `source` is `aws.partner/commercetools.com/{projectKey}/{subscriptionKey}`.
pub(super) const SOURCE_PREFIX: &str = "aws.partner/commercetools.com/";

pub(super) fn parse(document: &Document<'_>) -> Result<Notification, PayloadError> {
    let notification = inner(
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
    Ok(notification.with_envelope(document.id.as_deref(), project, subscription))
}
