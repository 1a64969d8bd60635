//! A Fluent webhook's body, checked, and the connect [`Message`] it becomes.

use connect_core::{Message, Payload, ResourceRef, attributes};
use serde_json::{Map, Value};

/// The `source` attribute of messages from Fluent webhooks.
pub const SOURCE: &str = "fluent-webhook";

/// The `source` attribute of messages from the external endpoint.
pub const EXTERNAL_SOURCE: &str = "external-webhook";

/// The fields every Fluent webhook has, all strings.
pub const REQUIRED_FIELDS: [&str; 7] = [
    "id",
    "name",
    "accountId",
    "retailerId",
    "entityId",
    "entityRef",
    "entityType",
];

/// Attribute keys of messages made from webhooks (besides
/// [`attributes::SOURCE`] and [`attributes::CORRELATION_ID`], which is the
/// webhook id).
pub mod attribute {
    /// The webhook `name`, e.g. `OrderStatus`.
    pub const WEBHOOK_NAME: &str = "webhook-name";
    /// The webhook `id`.
    pub const WEBHOOK_ID: &str = "webhook-id";
    /// The webhook `type`, e.g. `NORMAL`.
    pub const WEBHOOK_TYPE: &str = "webhook-type";
    /// The Fluent account (`accountId`).
    pub const ACCOUNT: &str = "fluent-account";
    /// The Fluent retailer (`retailerId`).
    pub const RETAILER: &str = "fluent-retailer";
    /// The entity's `entityRef`, e.g. the order ref.
    pub const ENTITY_REF: &str = "entity-ref";
    /// The entity's `entitySubtype`.
    pub const ENTITY_SUBTYPE: &str = "entity-subtype";
    /// The entity's `entityStatus`.
    pub const ENTITY_STATUS: &str = "entity-status";
    /// The root entity's `rootEntityId`.
    pub const ROOT_ENTITY_ID: &str = "root-entity-id";
    /// The root entity's `rootEntityType`.
    pub const ROOT_ENTITY_TYPE: &str = "root-entity-type";
    /// The root entity's `rootEntityRef`.
    pub const ROOT_ENTITY_REF: &str = "root-entity-ref";
}

/// Why a body is not a Fluent webhook (answered 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The body is not JSON (or not UTF-8).
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    /// The body is JSON but not an object.
    #[error("the body is not a JSON object")]
    NotObject,
    /// A required field is absent (or `null`).
    #[error("the required field `{0}` is missing")]
    Missing(&'static str),
    /// A field that must be a string is not one.
    #[error("the field `{0}` must be a string")]
    NotString(&'static str),
}

impl BodyError {
    /// The field the error is about, if any.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::Missing(field) | Self::NotString(field) => Some(field),
            Self::NotJson(_) | Self::NotObject => None,
        }
    }
}

/// A Fluent webhook whose required fields are present and strings; the
/// body is kept as it arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct FluentWebhook {
    /// The top-level string fields, in body order (read once, straight
    /// into owned strings: no JSON tree is built on the hot path).
    fields: Vec<(String, String)>,
    body: String,
}

impl FluentWebhook {
    /// Parses and checks a body.
    ///
    /// ```
    /// use connect_webhook::FluentWebhook;
    ///
    /// let body = br#"{"id":"5f7f","name":"OrderStatus","accountId":"ACME","retailerId":"1",
    ///   "entityId":"3786","entityRef":"HD_387_56","entityType":"ORDER","entityStatus":"COMPLETE"}"#;
    /// let webhook = FluentWebhook::parse(body).unwrap();
    /// assert_eq!(webhook.name(), "OrderStatus");
    /// let message = webhook.into_message("fluent.connect.order.status");
    /// assert_eq!(message.event_type.as_deref(), Some("COMPLETE"));
    /// assert_eq!(message.resource_id(), Some("3786"));
    /// assert_eq!(message.attribute("entity-ref"), Some("HD_387_56"));
    ///
    /// let error = FluentWebhook::parse(br#"{"id":"1"}"#).unwrap_err();
    /// assert_eq!(error.to_string(), "the required field `name` is missing");
    /// ```
    pub fn parse(body: &[u8]) -> Result<Self, BodyError> {
        let text = std::str::from_utf8(body)
            .map_err(|_| BodyError::NotJson("it is not UTF-8".to_owned()))?;
        let fields = string_fields(text)?;
        for field in REQUIRED_FIELDS {
            match fields.iter().rev().find(|(key, _)| key == field) {
                None => return Err(BodyError::Missing(field)),
                Some((_, FieldValue::Null)) => return Err(BodyError::Missing(field)),
                Some((_, FieldValue::String(_))) => {}
                Some((_, FieldValue::Other)) => return Err(BodyError::NotString(field)),
            }
        }
        let mut strings: Vec<(String, String)> = Vec::with_capacity(fields.len());
        for (key, value) in fields {
            // A repeated key: the last one counts, as in any JSON reader.
            strings.retain(|(k, _)| *k != key);
            if let FieldValue::String(value) = value {
                strings.push((key, value));
            }
        }
        Ok(Self {
            fields: strings,
            body: text.to_owned(),
        })
    }

    /// The string field `key`, if it is one.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, value)| value.as_str())
    }

    fn required(&self, key: &str) -> &str {
        self.field(key).unwrap_or_default()
    }

    /// `id`.
    pub fn id(&self) -> &str {
        self.required("id")
    }

    /// `name`: what the webhook is about, mapped to a route.
    pub fn name(&self) -> &str {
        self.required("name")
    }

    /// `accountId`.
    pub fn account_id(&self) -> &str {
        self.required("accountId")
    }

    /// `retailerId`.
    pub fn retailer_id(&self) -> &str {
        self.required("retailerId")
    }

    /// The event type inclusion filters see: `entityStatus` when present,
    /// else `name`.
    pub fn event_type(&self) -> &str {
        self.field("entityStatus").unwrap_or_else(|| self.name())
    }

    /// The body as it arrived.
    pub fn body(&self) -> &str {
        &self.body
    }

    /// The message for `route`: id = the webhook id (Fluent's retries of one
    /// webhook share it), resource = `entityType`/`entityId`, event type =
    /// `entityStatus` or `name`, payload = the whole body, and the main
    /// fields as attributes (see [`attribute`]).
    pub fn into_message(mut self, route: &str) -> Message {
        let mut take = |key: &str| {
            self.fields
                .iter()
                .position(|(k, _)| k == key)
                .map(|at| self.fields.swap_remove(at).1)
        };
        let id = take("id").unwrap_or_default();
        let name = take("name").unwrap_or_default();
        let entity_type = take("entityType").unwrap_or_default();
        let entity_id = take("entityId").unwrap_or_default();
        let status = take("entityStatus");
        let mut message = Message::identified(route, id.clone())
            .with_event_type(status.clone().unwrap_or_else(|| name.clone()))
            .with_resource(ResourceRef::new(entity_type, entity_id));
        let attrs = &mut message.attributes;
        attrs.insert(attributes::SOURCE, SOURCE);
        attrs.insert(attributes::CORRELATION_ID, id.clone());
        attrs.insert(attribute::WEBHOOK_ID, id);
        attrs.insert(attribute::WEBHOOK_NAME, name);
        if let Some(status) = status {
            attrs.insert(attribute::ENTITY_STATUS, status);
        }
        for (key, field) in [
            (attribute::WEBHOOK_TYPE, "type"),
            (attribute::ACCOUNT, "accountId"),
            (attribute::RETAILER, "retailerId"),
            (attribute::ENTITY_REF, "entityRef"),
            (attribute::ENTITY_SUBTYPE, "entitySubtype"),
            (attribute::ROOT_ENTITY_ID, "rootEntityId"),
            (attribute::ROOT_ENTITY_TYPE, "rootEntityType"),
            (attribute::ROOT_ENTITY_REF, "rootEntityRef"),
        ] {
            if let Some(value) = take(field) {
                attrs.insert(key, value);
            }
        }
        // The text was parsed above: it is JSON.
        message.payload = Payload::from_json_unchecked(self.body);
        message
    }
}

/// A top-level value, as far as the checks need to know it.
enum FieldValue {
    String(String),
    Null,
    Other,
}

/// Every top-level field of a JSON object, with string values read into
/// owned strings and other values skipped without building them.
fn string_fields(text: &str) -> Result<Vec<(String, FieldValue)>, BodyError> {
    use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

    struct Field(FieldValue);
    impl<'de> serde::Deserialize<'de> for Field {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Field;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("any JSON value")
                }
                fn visit_str<E>(self, v: &str) -> Result<Field, E> {
                    Ok(Field(FieldValue::String(v.to_owned())))
                }
                fn visit_string<E>(self, v: String) -> Result<Field, E> {
                    Ok(Field(FieldValue::String(v)))
                }
                fn visit_unit<E>(self) -> Result<Field, E> {
                    Ok(Field(FieldValue::Null))
                }
                fn visit_none<E>(self) -> Result<Field, E> {
                    Ok(Field(FieldValue::Null))
                }
                fn visit_bool<E>(self, _: bool) -> Result<Field, E> {
                    Ok(Field(FieldValue::Other))
                }
                fn visit_i64<E>(self, _: i64) -> Result<Field, E> {
                    Ok(Field(FieldValue::Other))
                }
                fn visit_u64<E>(self, _: u64) -> Result<Field, E> {
                    Ok(Field(FieldValue::Other))
                }
                fn visit_f64<E>(self, _: f64) -> Result<Field, E> {
                    Ok(Field(FieldValue::Other))
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(
                    self,
                    mut seq: A,
                ) -> Result<Field, A::Error> {
                    while seq.next_element::<IgnoredAny>()?.is_some() {}
                    Ok(Field(FieldValue::Other))
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Field, A::Error> {
                    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                    Ok(Field(FieldValue::Other))
                }
            }
            d.deserialize_any(V)
        }
    }

    struct Fields(Option<Vec<(String, FieldValue)>>);
    impl<'de> serde::Deserialize<'de> for Fields {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Fields;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
                    let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(16));
                    while let Some(key) = map.next_key::<String>()? {
                        let Field(value) = map.next_value()?;
                        fields.push((key, value));
                    }
                    Ok(Fields(Some(fields)))
                }
                // Any other JSON value: valid JSON, but not an object.
                fn visit_str<E>(self, _: &str) -> Result<Fields, E> {
                    Ok(Fields(None))
                }
                fn visit_unit<E>(self) -> Result<Fields, E> {
                    Ok(Fields(None))
                }
                fn visit_bool<E>(self, _: bool) -> Result<Fields, E> {
                    Ok(Fields(None))
                }
                fn visit_i64<E>(self, _: i64) -> Result<Fields, E> {
                    Ok(Fields(None))
                }
                fn visit_u64<E>(self, _: u64) -> Result<Fields, E> {
                    Ok(Fields(None))
                }
                fn visit_f64<E>(self, _: f64) -> Result<Fields, E> {
                    Ok(Fields(None))
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(
                    self,
                    mut seq: A,
                ) -> Result<Fields, A::Error> {
                    while seq.next_element::<IgnoredAny>()?.is_some() {}
                    Ok(Fields(None))
                }
            }
            d.deserialize_any(V)
        }
    }

    match serde_json::from_str::<Fields>(text) {
        Ok(Fields(Some(fields))) => Ok(fields),
        Ok(Fields(None)) => Err(BodyError::NotObject),
        Err(error) => Err(BodyError::NotJson(error.to_string())),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ExternalWebhook {
    fields: Map<String, Value>,
    body: String,
}

impl ExternalWebhook {
    pub(crate) fn parse(body: &[u8]) -> Result<Self, BodyError> {
        let text = std::str::from_utf8(body)
            .map_err(|_| BodyError::NotJson("it is not UTF-8".to_owned()))?;
        let value: Value =
            serde_json::from_str(text).map_err(|e| BodyError::NotJson(e.to_string()))?;
        let Value::Object(fields) = value else {
            return Err(BodyError::NotObject);
        };
        match fields.get("name") {
            None | Some(Value::Null) => return Err(BodyError::Missing("name")),
            Some(Value::String(_)) => {}
            Some(_) => return Err(BodyError::NotString("name")),
        }
        for field in ["id", "entityType", "entityId", "entityStatus"] {
            if fields
                .get(field)
                .is_some_and(|v| !v.is_string() && !v.is_null())
            {
                return Err(BodyError::NotString(field));
            }
        }
        Ok(Self {
            fields,
            body: text.to_owned(),
        })
    }

    fn field(&self, key: &str) -> Option<&str> {
        self.fields.get(key).and_then(Value::as_str)
    }

    pub(crate) fn name(&self) -> &str {
        self.field("name").unwrap_or_default()
    }

    pub(crate) fn into_message(self, route: &str) -> Message {
        let mut message = match self.field("id") {
            Some(id) => Message::identified(route, id),
            None => Message::new(route),
        };
        message.event_type = Some(
            self.field("entityStatus")
                .unwrap_or_else(|| self.name())
                .to_owned()
                .into(),
        );
        if let (Some(kind), Some(id)) = (self.field("entityType"), self.field("entityId")) {
            message.resource = Some(ResourceRef::new(kind.to_owned(), id));
        }
        message
            .attributes
            .insert(attributes::SOURCE, EXTERNAL_SOURCE);
        message
            .attributes
            .insert(attribute::WEBHOOK_NAME, self.name().to_owned());
        message.payload = Payload::from_json_unchecked(self.body);
        message
    }
}
