//! [`QueueInfo`]: what `GetQueueAttributes` says about a queue.

use std::collections::BTreeMap;
use std::time::Duration;

/// A queue's attributes, as far as the connector cares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueInfo {
    /// The queue's ARN.
    pub arn: Option<String>,
    /// Messages available for receive (`ApproximateNumberOfMessages`).
    pub visible: u64,
    /// Messages received and not yet deleted or visible again
    /// (`ApproximateNumberOfMessagesNotVisible`).
    pub in_flight: u64,
    /// Messages not yet visible because of a send delay
    /// (`ApproximateNumberOfMessagesDelayed`).
    pub delayed: u64,
    /// The queue's default visibility timeout.
    pub visibility_timeout: Option<Duration>,
    /// The largest message the queue accepts, in bytes.
    pub max_message_size: Option<usize>,
    /// How long messages are kept.
    pub retention: Option<Duration>,
    /// Where SQS moves messages received too often, if anywhere.
    pub redrive_policy: Option<RedrivePolicy>,
    /// Every attribute as SQS returned it.
    pub raw: BTreeMap<String, String>,
}

/// A queue's redrive policy: after `max_receive_count` receives without a
/// delete, SQS moves a message to the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedrivePolicy {
    /// The dead-letter queue's ARN.
    pub dead_letter_target_arn: String,
    /// Receives before a message is moved.
    pub max_receive_count: u32,
}

impl RedrivePolicy {
    /// Parses the `RedrivePolicy` attribute (JSON; `maxReceiveCount` may be
    /// a number or a string).
    pub fn parse(text: &str) -> Option<Self> {
        let value: serde_json::Value = serde_json::from_str(text).ok()?;
        let max_receive_count = match value.get("maxReceiveCount")? {
            serde_json::Value::Number(n) => u32::try_from(n.as_u64()?).ok()?,
            serde_json::Value::String(s) => s.trim().parse().ok()?,
            _ => return None,
        };
        Some(Self {
            dead_letter_target_arn: value
                .get("deadLetterTargetArn")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            max_receive_count,
        })
    }
}

impl QueueInfo {
    pub(crate) fn from_attributes(raw: BTreeMap<String, String>) -> Self {
        let number = |key: &str| raw.get(key).and_then(|v| v.trim().parse::<u64>().ok());
        Self {
            arn: raw.get("QueueArn").cloned(),
            visible: number("ApproximateNumberOfMessages").unwrap_or(0),
            in_flight: number("ApproximateNumberOfMessagesNotVisible").unwrap_or(0),
            delayed: number("ApproximateNumberOfMessagesDelayed").unwrap_or(0),
            visibility_timeout: number("VisibilityTimeout").map(Duration::from_secs),
            max_message_size: number("MaximumMessageSize").and_then(|n| usize::try_from(n).ok()),
            retention: number("MessageRetentionPeriod").map(Duration::from_secs),
            redrive_policy: raw
                .get("RedrivePolicy")
                .and_then(|p| RedrivePolicy::parse(p)),
            raw,
        }
    }

    /// `true` when no message is visible, in flight or delayed.
    pub fn is_empty(&self) -> bool {
        self.visible == 0 && self.in_flight == 0 && self.delayed == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redrive_policy_accepts_numbers_and_strings() {
        let a = RedrivePolicy::parse(r#"{"deadLetterTargetArn":"arn:x","maxReceiveCount":5}"#);
        let b = RedrivePolicy::parse(r#"{"deadLetterTargetArn":"arn:x","maxReceiveCount":"5"}"#);
        assert_eq!(a, b);
        assert_eq!(a.map(|p| p.max_receive_count), Some(5));
        assert_eq!(RedrivePolicy::parse("{}"), None);
        assert_eq!(RedrivePolicy::parse("not json"), None);
    }

    #[test]
    fn attributes_are_read() {
        let raw: BTreeMap<String, String> = [
            ("ApproximateNumberOfMessages", "3"),
            ("ApproximateNumberOfMessagesNotVisible", "1"),
            ("MaximumMessageSize", "1048576"),
            ("VisibilityTimeout", "30"),
            (
                "RedrivePolicy",
                r#"{"deadLetterTargetArn":"arn:d","maxReceiveCount":4}"#,
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let info = QueueInfo::from_attributes(raw);
        assert_eq!((info.visible, info.in_flight, info.delayed), (3, 1, 0));
        assert_eq!(info.max_message_size, Some(1_048_576));
        assert_eq!(info.visibility_timeout, Some(Duration::from_secs(30)));
        assert_eq!(info.redrive_policy.map(|p| p.max_receive_count), Some(4));
        assert!(QueueInfo::default().redrive_policy.is_none());
    }
}
