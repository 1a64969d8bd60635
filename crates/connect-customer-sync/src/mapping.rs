//! commercetools customer → Fluent customer (DESIGN §6 defaults).

use connect_commercetools::{Address, Customer};
use connect_fluent::{AttributeInput, CreateCustomerInput, UpdateCustomerInput};
use serde_json::Value;

use crate::settings::{CustomerSyncSettings, Field, Overlong};

/// Fluent's documented maximum lengths, in characters.
pub mod limits {
    /// `username` (also the `ref`).
    pub const USERNAME: usize = 250;
    /// `primaryEmail`.
    pub const PRIMARY_EMAIL: usize = 250;
    /// `firstName`.
    pub const FIRST_NAME: usize = 50;
    /// `lastName`.
    pub const LAST_NAME: usize = 50;
    /// `title`.
    pub const TITLE: usize = 50;
    /// `country`.
    pub const COUNTRY: usize = 100;
    /// `primaryPhone`.
    pub const PRIMARY_PHONE: usize = 20;
    /// `timezone`.
    pub const TIMEZONE: usize = 32;
}

/// Attribute names (after the configured prefix).
pub mod attribute {
    /// The commercetools customer id.
    pub const ID: &str = "id";
    /// The customer key.
    pub const KEY: &str = "key";
    /// The customer number.
    pub const CUSTOMER_NUMBER: &str = "customerNumber";
    /// The external id.
    pub const EXTERNAL_ID: &str = "externalId";
    /// The commercetools version of the last write (never regressed).
    pub const VERSION: &str = "version";
    /// Custom fields are `custom.<name>`.
    pub const CUSTOM: &str = "custom.";
    /// Fields that were cut to Fluent's limits, comma-separated.
    pub const TRUNCATED: &str = "truncated";
    /// Fields left out because they were over Fluent's limits and a cut
    /// would have made them wrong (phone, country), comma-separated.
    pub const OMITTED: &str = "omitted";
    /// `true` once the customer was deleted in commercetools.
    pub const DELETED: &str = "deleted";
}

/// Why a customer cannot be mapped; always unprocessable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// The username template needs a value the customer lacks.
    #[error(
        "customer {customer_id} has no {field}, which username-template `{template}` needs; set it in commercetools or change the template"
    )]
    MissingField {
        /// The customer id.
        customer_id: String,
        /// The missing placeholder.
        field: &'static str,
        /// The template.
        template: String,
    },
    /// A value is longer than Fluent accepts and may not be cut (or
    /// `overlong-fields: reject` is set).
    #[error(
        "customer {customer_id}: {field} is {length} characters, Fluent accepts at most {limit}{hint}"
    )]
    TooLong {
        /// The customer id.
        customer_id: String,
        /// The Fluent field.
        field: &'static str,
        /// The value's length in characters.
        length: usize,
        /// Fluent's limit.
        limit: usize,
        /// What to do.
        hint: &'static str,
    },
}

/// The Fluent customer a commercetools customer maps to. Partner handlers
/// can change it before it is written (see [`CustomerSync::handle_with`](crate::CustomerSync::handle_with)).
#[derive(Debug, Clone, PartialEq)]
pub struct FluentCustomerDraft {
    /// The Fluent identity (and `ref`).
    pub username: String,
    /// The email.
    pub primary_email: String,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Title.
    pub title: Option<String>,
    /// Country (ISO code of the chosen address).
    pub country: Option<String>,
    /// Phone of the chosen address.
    pub primary_phone: Option<String>,
    /// Time zone.
    pub timezone: Option<String>,
    /// Promotion opt-in.
    pub promotion_opt_in: bool,
    /// Attributes, each replacing the Fluent attribute of the same name.
    pub attributes: Vec<AttributeInput>,
    /// The commercetools version this draft was mapped from.
    pub version: u64,
    /// Fields cut to Fluent's limits (names and titles only).
    pub truncated: Vec<&'static str>,
    /// Fields left out of every write because they were over Fluent's
    /// limits and cutting them would have made them wrong (a cut phone
    /// number is a wrong phone number): Fluent keeps what it has.
    pub omitted: Vec<&'static str>,
}

impl FluentCustomerDraft {
    /// Adds or replaces an attribute.
    pub fn set_attribute(&mut self, attribute: AttributeInput) {
        match self
            .attributes
            .iter_mut()
            .find(|a| a.name == attribute.name)
        {
            Some(existing) => *existing = attribute,
            None => self.attributes.push(attribute),
        }
    }

    /// The attribute named `name`.
    pub fn attribute(&self, name: &str) -> Option<&AttributeInput> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// The `createCustomer` input.
    pub fn to_create(&self, retailer_id: &str) -> CreateCustomerInput {
        let mut input = CreateCustomerInput::new(
            &self.username,
            &self.primary_email,
            self.promotion_opt_in,
            retailer_id,
        );
        input.first_name.clone_from(&self.first_name);
        input.last_name.clone_from(&self.last_name);
        input.title.clone_from(&self.title);
        input.country.clone_from(&self.country);
        input.primary_phone.clone_from(&self.primary_phone);
        input.timezone.clone_from(&self.timezone);
        input.attributes = (!self.attributes.is_empty()).then(|| self.attributes.clone());
        input
    }

    /// The `updateCustomer` input that brings `existing` to this draft:
    /// only changed fields and attributes, nothing when nothing changed. A
    /// field cleared in commercetools is cleared with an empty string; a
    /// field in [`omitted`](Self::omitted) is not written at all. The
    /// version attribute is written only along with a real change.
    pub fn diff(
        &self,
        existing: &connect_fluent::Customer,
        version_attribute: &str,
    ) -> UpdateCustomerInput {
        fn changed(wanted: &Option<String>, current: &Option<String>) -> Option<String> {
            let wanted = wanted.as_deref().unwrap_or("");
            (wanted != current.as_deref().unwrap_or("")).then(|| wanted.to_owned())
        }
        let mut update = UpdateCustomerInput::new(&self.username);
        update.first_name = changed(&self.first_name, &existing.first_name);
        update.last_name = changed(&self.last_name, &existing.last_name);
        update.title = changed(&self.title, &existing.title);
        if !self.omitted.contains(&"country") {
            update.country = changed(&self.country, &existing.country);
        }
        if !self.omitted.contains(&"primaryPhone") {
            update.primary_phone = changed(&self.primary_phone, &existing.primary_phone);
        }
        update.timezone = changed(&self.timezone, &existing.timezone);
        if existing.primary_email.as_deref() != Some(self.primary_email.as_str()) {
            update.primary_email = Some(self.primary_email.clone());
        }
        if existing.promotion_opt_in.unwrap_or(false) != self.promotion_opt_in {
            update.promotion_opt_in = Some(self.promotion_opt_in);
        }
        let attributes: Vec<AttributeInput> = self
            .attributes
            .iter()
            .filter(|a| a.name != version_attribute)
            .filter(|a| {
                existing
                    .attribute(&a.name)
                    .is_none_or(|e| e.value != a.value || e.kind != a.kind)
            })
            .cloned()
            .collect();
        if !attributes.is_empty() {
            update.attributes = Some(attributes);
        }
        if !update.is_empty()
            && let Some(version) = self.attribute(version_attribute)
        {
            update
                .attributes
                .get_or_insert_with(Vec::new)
                .push(version.clone());
        }
        update
    }
}

/// Maps customers with a route's settings.
#[derive(Debug, Clone)]
pub struct CustomerMapper {
    settings: CustomerSyncSettings,
    retailer_id: String,
}

impl CustomerMapper {
    /// A mapper for `settings`, writing to `retailer_id`.
    pub fn new(settings: CustomerSyncSettings, retailer_id: impl Into<String>) -> Self {
        Self {
            settings,
            retailer_id: retailer_id.into(),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &CustomerSyncSettings {
        &self.settings
    }

    /// The full name of attribute `name` (with the prefix).
    pub fn attribute_name(&self, name: &str) -> String {
        format!("{}{name}", self.settings.attribute_prefix)
    }

    /// The Fluent username of the commercetools customer `id`, when the
    /// template needs nothing else (see
    /// [`UsernameTemplate::survives_deletion`](crate::UsernameTemplate::survives_deletion)).
    pub fn username_for_id(&self, id: &str) -> Option<String> {
        self.settings
            .username_template
            .render(|field| match field {
                Field::Id => Some(id.to_owned()),
                Field::RetailerId => Some(self.retailer_id.clone()),
                _ => None,
            })
            .ok()
    }

    /// Maps `customer`.
    pub fn map(&self, customer: &Customer) -> Result<FluentCustomerDraft, MappingError> {
        let username = self
            .settings
            .username_template
            .render(|field| match field {
                Field::Id => Some(customer.id.clone()),
                Field::Key => customer.key.clone(),
                Field::Email => Some(customer.email.clone()),
                Field::CustomerNumber => customer.customer_number.clone(),
                Field::ExternalId => customer.external_id.clone(),
                Field::RetailerId => Some(self.retailer_id.clone()),
            })
            .map_err(|field| MappingError::MissingField {
                customer_id: customer.id.clone(),
                field: field.name(),
                template: self.settings.username_template.to_string(),
            })?;
        let identity = |field: &'static str, value: &str, limit: usize| {
            let length = value.chars().count();
            if length > limit {
                Err(MappingError::TooLong {
                    customer_id: customer.id.clone(),
                    field,
                    length,
                    limit,
                    hint: "; identity fields are never truncated (it would merge different customers)",
                })
            } else {
                Ok(())
            }
        };
        identity("username", &username, limits::USERNAME)?;
        identity("primaryEmail", &customer.email, limits::PRIMARY_EMAIL)?;

        let address = contact_address(customer);
        let mut marks = Marks::default();
        let mut fit = |field: &'static str, value: Option<&str>, limit: usize, cut: Cut| {
            self.fit(&customer.id, field, value, limit, cut, &mut marks)
        };
        let first_name = fit(
            "firstName",
            customer.first_name.as_deref(),
            limits::FIRST_NAME,
            Cut::Allowed,
        )?;
        let last_name = fit(
            "lastName",
            customer.last_name.as_deref(),
            limits::LAST_NAME,
            Cut::Allowed,
        )?;
        let title = fit(
            "title",
            customer.title.as_deref(),
            limits::TITLE,
            Cut::Allowed,
        )?;
        let country = fit(
            "country",
            address
                .map(|a| a.country.as_str())
                .filter(|c| !c.is_empty()),
            limits::COUNTRY,
            Cut::Destroys,
        )?;
        let phone = address.and_then(|a| a.phone.as_deref().or(a.mobile.as_deref()));
        let primary_phone = fit("primaryPhone", phone, limits::PRIMARY_PHONE, Cut::Destroys)?;
        let Marks { truncated, omitted } = marks;

        let mut draft = FluentCustomerDraft {
            username,
            primary_email: customer.email.clone(),
            first_name,
            last_name,
            title,
            country,
            primary_phone,
            timezone: None,
            promotion_opt_in: self.promotion_opt_in(customer),
            attributes: Vec::new(),
            version: customer.version,
            truncated,
            omitted,
        };
        self.add_attributes(customer, &mut draft);
        Ok(draft)
    }

    fn fit(
        &self,
        customer_id: &str,
        field: &'static str,
        value: Option<&str>,
        limit: usize,
        cut: Cut,
        marks: &mut Marks,
    ) -> Result<Option<String>, MappingError> {
        let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let length = value.chars().count();
        if length <= limit {
            return Ok(Some(value.to_owned()));
        }
        match (self.settings.overlong_fields, cut) {
            (Overlong::Reject, Cut::Allowed) => Err(MappingError::TooLong {
                customer_id: customer_id.to_owned(),
                field,
                length,
                limit,
                hint: "; shorten it in commercetools, or set `overlong-fields: truncate`",
            }),
            (Overlong::Reject, Cut::Destroys) => Err(MappingError::TooLong {
                customer_id: customer_id.to_owned(),
                field,
                length,
                limit,
                hint: "; it is never cut (a cut value would be a wrong value): correct it in commercetools, or set `overlong-fields: truncate` to leave it out",
            }),
            (Overlong::Truncate, Cut::Allowed) => {
                tracing::warn!(
                    customer_id,
                    field,
                    length,
                    limit,
                    "value longer than Fluent accepts; truncated"
                );
                marks.truncated.push(field);
                Ok(Some(value.chars().take(limit).collect()))
            }
            (Overlong::Truncate, Cut::Destroys) => {
                tracing::warn!(
                    customer_id,
                    field,
                    length,
                    limit,
                    "value longer than Fluent accepts, and cutting it would make it wrong; left out of the write"
                );
                marks.omitted.push(field);
                Ok(None)
            }
        }
    }

    fn promotion_opt_in(&self, customer: &Customer) -> bool {
        let Some(field) = &self.settings.promotion_opt_in_field else {
            return false;
        };
        match customer.custom_field(field) {
            Some(Value::Bool(opt_in)) => *opt_in,
            Some(Value::String(text)) if text.eq_ignore_ascii_case("true") => true,
            Some(Value::String(text)) if text.eq_ignore_ascii_case("false") => false,
            None | Some(Value::Null) => false,
            Some(other) => {
                tracing::warn!(customer_id = %customer.id, field, value = %other, "promotion opt-in field is not a boolean; using false");
                false
            }
        }
    }

    fn add_attributes(&self, customer: &Customer, draft: &mut FluentCustomerDraft) {
        let name = |n: &str| self.attribute_name(n);
        draft.set_attribute(AttributeInput::string(name(attribute::ID), &customer.id));
        for (attr, value) in [
            (attribute::KEY, &customer.key),
            (attribute::CUSTOMER_NUMBER, &customer.customer_number),
            (attribute::EXTERNAL_ID, &customer.external_id),
        ] {
            if let Some(value) = value {
                draft.set_attribute(AttributeInput::string(name(attr), value));
            }
        }
        draft.set_attribute(AttributeInput::new(
            name(attribute::VERSION),
            "INTEGER",
            customer.version,
        ));
        if let Some(custom) = &customer.custom {
            for (field, value) in &custom.fields {
                if self.settings.custom_fields.includes(field) {
                    let attr_name = name(&format!("{}{field}", attribute::CUSTOM));
                    draft.set_attribute(typed_attribute(attr_name, value));
                }
            }
        }
        if !draft.truncated.is_empty() {
            draft.set_attribute(AttributeInput::string(
                name(attribute::TRUNCATED),
                draft.truncated.join(","),
            ));
        }
        if !draft.omitted.is_empty() {
            draft.set_attribute(AttributeInput::string(
                name(attribute::OMITTED),
                draft.omitted.join(","),
            ));
        }
    }
}

/// Whether a value over its limit may be cut.
#[derive(Debug, Clone, Copy)]
enum Cut {
    /// A cut name or title is still the start of the right one.
    Allowed,
    /// A cut phone number or country code is a wrong one.
    Destroys,
}

/// Fields cut and fields left out while mapping one customer.
#[derive(Debug, Default)]
struct Marks {
    truncated: Vec<&'static str>,
    omitted: Vec<&'static str>,
}

/// The address whose phone and country represent the customer: the default
/// shipping address, else the default billing address, else the first.
pub fn contact_address(customer: &Customer) -> Option<&Address> {
    customer
        .default_shipping_address()
        .or_else(|| customer.default_billing_address())
        .or_else(|| customer.addresses.first())
}

fn typed_attribute(name: String, value: &Value) -> AttributeInput {
    match value {
        Value::String(text) => AttributeInput::string(name, text),
        Value::Bool(flag) => AttributeInput::new(name, "BOOLEAN", *flag),
        Value::Number(number) if number.is_i64() || number.is_u64() => {
            AttributeInput::new(name, "INTEGER", number.clone())
        }
        Value::Number(number) => AttributeInput::new(name, "FLOAT", number.clone()),
        other => AttributeInput::json(name, other.clone()),
    }
}
