//! The fields of a subscription payload, borrowed from the body.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;

use serde::de::{IgnoredAny, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// Every top-level field any delivery format uses; unknown fields are
/// skipped without being copied. Strings borrow from the body unless they
/// contain escapes.
#[derive(Deserialize)]
pub(super) struct Document<'a> {
    /// CloudEvents: present on every CloudEvent.
    pub(super) specversion: Option<IgnoredAny>,
    /// EventBridge: the detail type.
    #[serde(rename = "detail-type")]
    pub(super) detail_type: Option<IgnoredAny>,
    /// EventBridge: the commercetools payload.
    #[serde(borrow)]
    pub(super) detail: Option<&'a RawValue>,
    /// CloudEvents: the commercetools payload.
    #[serde(borrow)]
    pub(super) data: Option<&'a RawValue>,
    /// CloudEvents / EventBridge: who sent it.
    #[serde(borrow, default)]
    pub(super) source: Option<Text<'a>>,
    /// The Message id, CloudEvent id or EventBridge event id.
    #[serde(borrow, default)]
    pub(super) id: Option<Text<'a>>,
    /// `Message`, `ResourceCreated`, ...
    #[serde(borrow, default, rename = "notificationType")]
    pub(super) notification_type: Option<Text<'a>>,
    /// The Message type, e.g. `CustomerCreated`.
    #[serde(borrow, default, rename = "type")]
    pub(super) kind: Option<Text<'a>>,
    /// Event payloads: the API the event is about, e.g. `import-api`.
    #[serde(borrow, default, rename = "resourceType")]
    pub(super) resource_type: Option<Text<'a>>,
    /// The project.
    #[serde(borrow, default, rename = "projectKey")]
    pub(super) project_key: Option<Text<'a>>,
    /// The resource the event is about.
    #[serde(borrow, default)]
    pub(super) resource: Option<Resource<'a>>,
    /// Change notifications: the resource version (EventBridge reuses the
    /// name for its own `"0"`, so it is read lazily).
    #[serde(borrow, default)]
    pub(super) version: Option<&'a RawValue>,
    /// Messages: the resource version.
    #[serde(default, rename = "resourceVersion")]
    pub(super) resource_version: Option<u64>,
    /// Messages: the per-resource sequence number.
    #[serde(default, rename = "sequenceNumber")]
    pub(super) sequence_number: Option<u64>,
    /// Messages too large to deliver carry this instead of their payload.
    #[serde(borrow, default, rename = "payloadNotIncluded")]
    pub(super) payload_not_included: Option<NotIncluded<'a>>,
}

impl Document<'_> {
    /// `version` when it is a number.
    pub(super) fn version(&self) -> Option<u64> {
        self.version.and_then(|raw| raw.get().parse().ok())
    }
}

/// `resource`: a reference.
#[derive(Deserialize)]
pub(super) struct Resource<'a> {
    /// e.g. `customer`.
    #[serde(borrow, default, rename = "typeId")]
    pub(super) type_id: Option<Text<'a>>,
    /// The resource id.
    #[serde(borrow, default)]
    pub(super) id: Option<Text<'a>>,
}

/// `payloadNotIncluded`.
#[derive(Deserialize)]
pub(super) struct NotIncluded<'a> {
    /// The Message type that was too large.
    #[serde(borrow, default, rename = "payloadType")]
    pub(super) payload_type: Option<Text<'a>>,
}

/// A string borrowed from the body, or owned when it contained escapes.
pub(super) struct Text<'a>(Cow<'a, str>);

impl Deref for Text<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(TextVisitor(std::marker::PhantomData))
    }
}
