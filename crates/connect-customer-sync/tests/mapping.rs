#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `CustomerMapper::map` and `FluentCustomerDraft::diff`, table by table:
//! what is mapped where, what may be cut, what is never cut.

use connect_commercetools::Customer;
use connect_customer_sync::{
    CustomFieldSelection, CustomerMapper, CustomerSyncSettings, MappingError, OnDelete, Overlong,
    UsernameTemplate,
};
use connect_fluent::AttributeInput;
use serde_json::{Value, json};

const FIXTURE: &str = include_str!("../../connect-testkit/fixtures/commercetools/customer.json");

fn customer(edit: impl FnOnce(&mut Value)) -> Customer {
    let mut value: Value = serde_json::from_str(FIXTURE).unwrap();
    edit(&mut value);
    serde_json::from_value(value).unwrap()
}

fn settings(edit: impl FnOnce(&mut CustomerSyncSettings)) -> CustomerSyncSettings {
    let mut settings = CustomerSyncSettings::default();
    edit(&mut settings);
    settings
}

fn mapper(edit: impl FnOnce(&mut CustomerSyncSettings)) -> CustomerMapper {
    CustomerMapper::new(settings(edit), "7")
}

fn attr(draft: &connect_customer_sync::FluentCustomerDraft, name: &str) -> Option<Value> {
    draft.attribute(name).map(|a| a.value.clone())
}

#[test]
fn the_fixture_maps_field_by_field() {
    let draft = mapper(|s| s.promotion_opt_in_field = Some("marketingOptIn".into()))
        .map(&customer(|_| {}))
        .unwrap();
    assert_eq!(draft.username, "14a4ef54-957d-4148-b0be-de8d0fbc411d");
    assert_eq!(draft.primary_email, "ada.lovelace@example.com");
    assert_eq!(draft.first_name.as_deref(), Some("Ada"));
    assert_eq!(draft.last_name.as_deref(), Some("Lovelace"));
    assert_eq!(draft.title.as_deref(), Some("Dr"));
    assert_eq!(draft.country.as_deref(), Some("GB"));
    assert_eq!(draft.primary_phone.as_deref(), Some("+44 20 7946 0000"));
    assert_eq!(draft.timezone, None);
    assert!(draft.promotion_opt_in);
    assert_eq!(draft.version, 3);
    assert!(draft.truncated.is_empty() && draft.omitted.is_empty());
    for (name, value) in [
        (
            "commercetools.id",
            json!("14a4ef54-957d-4148-b0be-de8d0fbc411d"),
        ),
        ("commercetools.key", json!("cust-1001")),
        ("commercetools.customerNumber", json!("1001")),
        ("commercetools.externalId", json!("crm-77")),
        ("commercetools.version", json!(3)),
        ("commercetools.custom.loyaltyTier", json!("gold")),
        ("commercetools.custom.marketingOptIn", json!(true)),
    ] {
        assert_eq!(attr(&draft, name), Some(value), "{name}");
    }
    assert_eq!(attr(&draft, "commercetools.truncated"), None);
    assert_eq!(attr(&draft, "commercetools.omitted"), None);
    let create = draft.to_create("7");
    assert_eq!(create.retailer.id, "7");
    assert_eq!(create.primary_phone.as_deref(), Some("+44 20 7946 0000"));
}

#[test]
fn usernames_follow_the_template() {
    let cases = [
        ("{id}", "14a4ef54-957d-4148-b0be-de8d0fbc411d"),
        (
            "{retailerId}-{id}",
            "7-14a4ef54-957d-4148-b0be-de8d0fbc411d",
        ),
        ("{retailerId}_{email}", "7_ada.lovelace@example.com"),
        ("ct-{customerNumber}", "ct-1001"),
        ("{key}", "cust-1001"),
        ("{externalId}", "crm-77"),
    ];
    for (template, expected) in cases {
        let draft = mapper(|s| s.username_template = UsernameTemplate::parse(template).unwrap())
            .map(&customer(|_| {}))
            .unwrap();
        assert_eq!(draft.username, expected, "{template}");
    }
    let error = mapper(|s| s.username_template = UsernameTemplate::parse("{key}").unwrap())
        .map(&customer(|c| c["key"] = Value::Null))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "customer 14a4ef54-957d-4148-b0be-de8d0fbc411d has no key, which username-template `{key}` needs; set it in commercetools or change the template"
    );
}

/// A phone of 23 characters: over Fluent's 20.
const LONG_PHONE: &str = "+44 20 7946 0000 ext 12";

#[test]
fn overlong_values_are_cut_only_where_a_cut_keeps_them_right() {
    struct Case {
        name: &'static str,
        edit: fn(&mut Value),
        policy: Overlong,
        expected: Result<Expected, &'static str>,
    }
    #[derive(Debug, PartialEq)]
    struct Expected {
        first_name: Option<String>,
        phone: Option<String>,
        country: Option<String>,
        truncated: Vec<&'static str>,
        omitted: Vec<&'static str>,
    }
    let long_name = "Bartholomew-Maximilian-Alexander-Konstantin-Friedrich-Wilhelm";
    let cut_name: String = long_name.chars().take(50).collect();
    let cases = vec![
        Case {
            name: "a long name is cut under truncate",
            edit: |c| {
                c["firstName"] =
                    json!("Bartholomew-Maximilian-Alexander-Konstantin-Friedrich-Wilhelm");
            },
            policy: Overlong::Truncate,
            expected: Ok(Expected {
                first_name: Some(cut_name.clone()),
                phone: Some("+44 20 7946 0000".into()),
                country: Some("GB".into()),
                truncated: vec!["firstName"],
                omitted: vec![],
            }),
        },
        Case {
            name: "a long phone is left out under truncate, never cut",
            edit: |c| c["addresses"][0]["phone"] = json!(LONG_PHONE),
            policy: Overlong::Truncate,
            expected: Ok(Expected {
                first_name: Some("Ada".into()),
                phone: None,
                country: Some("GB".into()),
                truncated: vec![],
                omitted: vec!["primaryPhone"],
            }),
        },
        Case {
            name: "a long country is left out under truncate, never cut",
            edit: |c| c["addresses"][0]["country"] = json!("X".repeat(101)),
            policy: Overlong::Truncate,
            expected: Ok(Expected {
                first_name: Some("Ada".into()),
                phone: Some("+44 20 7946 0000".into()),
                country: None,
                truncated: vec![],
                omitted: vec!["country"],
            }),
        },
        Case {
            name: "a phone of exactly 20 characters fits",
            edit: |c| c["addresses"][0]["phone"] = json!("+44 20 7946 0000 123"),
            policy: Overlong::Reject,
            expected: Ok(Expected {
                first_name: Some("Ada".into()),
                phone: Some("+44 20 7946 0000 123".into()),
                country: Some("GB".into()),
                truncated: vec![],
                omitted: vec![],
            }),
        },
        Case {
            name: "a long phone is unprocessable under reject",
            edit: |c| c["addresses"][0]["phone"] = json!(LONG_PHONE),
            policy: Overlong::Reject,
            expected: Err(
                "customer 14a4ef54-957d-4148-b0be-de8d0fbc411d: primaryPhone is 23 characters, Fluent accepts at most 20; it is never cut (a cut value would be a wrong value): correct it in commercetools, or set `overlong-fields: truncate` to leave it out",
            ),
        },
        Case {
            name: "a long name is unprocessable under reject",
            edit: |c| c["lastName"] = json!("L".repeat(51)),
            policy: Overlong::Reject,
            expected: Err(
                "customer 14a4ef54-957d-4148-b0be-de8d0fbc411d: lastName is 51 characters, Fluent accepts at most 50; shorten it in commercetools, or set `overlong-fields: truncate`",
            ),
        },
        Case {
            name: "a long email is unprocessable even under truncate",
            edit: |c| c["email"] = json!(format!("{}@example.com", "a".repeat(240))),
            policy: Overlong::Truncate,
            expected: Err(
                "customer 14a4ef54-957d-4148-b0be-de8d0fbc411d: primaryEmail is 252 characters, Fluent accepts at most 250; identity fields are never truncated (it would merge different customers)",
            ),
        },
        Case {
            name: "the mobile stands in for a missing phone",
            edit: |c| c["addresses"][0]["phone"] = Value::Null,
            policy: Overlong::Reject,
            expected: Ok(Expected {
                first_name: Some("Ada".into()),
                phone: Some("+44 7700 900123".into()),
                country: Some("GB".into()),
                truncated: vec![],
                omitted: vec![],
            }),
        },
        Case {
            name: "multi-byte characters are counted as characters",
            edit: |c| c["firstName"] = json!("é".repeat(50)),
            policy: Overlong::Reject,
            expected: Ok(Expected {
                first_name: Some("é".repeat(50)),
                phone: Some("+44 20 7946 0000".into()),
                country: Some("GB".into()),
                truncated: vec![],
                omitted: vec![],
            }),
        },
    ];
    for case in cases {
        let result = mapper(|s| s.overlong_fields = case.policy)
            .map(&customer(case.edit))
            .map(|d| Expected {
                first_name: d.first_name.clone(),
                phone: d.primary_phone.clone(),
                country: d.country.clone(),
                truncated: d.truncated.clone(),
                omitted: d.omitted.clone(),
            })
            .map_err(|e: MappingError| e.to_string());
        assert_eq!(
            result,
            case.expected.map_err(str::to_owned),
            "{}",
            case.name
        );
    }
}

#[test]
fn left_out_and_cut_fields_are_recorded_as_attributes() {
    let draft = mapper(|_| {})
        .map(&customer(|c| {
            c["addresses"][0]["phone"] = json!(LONG_PHONE);
            c["title"] = json!("T".repeat(60));
        }))
        .unwrap();
    assert_eq!(
        attr(&draft, "commercetools.omitted"),
        Some(json!("primaryPhone"))
    );
    assert_eq!(
        attr(&draft, "commercetools.truncated"),
        Some(json!("title"))
    );
    let create = draft.to_create("7");
    assert_eq!(create.primary_phone, None, "never sent, never cut");
    let json = serde_json::to_value(&create).unwrap();
    assert!(json.get("primaryPhone").is_none(), "{json}");
}

#[test]
fn custom_fields_and_opt_in_follow_the_settings() {
    let only = mapper(|s| s.custom_fields = CustomFieldSelection::Only(vec!["loyaltyTier".into()]))
        .map(&customer(|_| {}))
        .unwrap();
    assert!(attr(&only, "commercetools.custom.loyaltyTier").is_some());
    assert!(attr(&only, "commercetools.custom.marketingOptIn").is_none());
    let none = mapper(|s| {
        s.custom_fields = CustomFieldSelection::None;
        s.attribute_prefix = "ct.".into();
    })
    .map(&customer(|_| {}))
    .unwrap();
    assert!(none.attributes.iter().all(|a| !a.name.contains("custom.")));
    assert_eq!(
        attr(&none, "ct.id"),
        Some(json!("14a4ef54-957d-4148-b0be-de8d0fbc411d"))
    );
    for (value, expected) in [
        (json!(true), true),
        (json!("TRUE"), true),
        (json!("false"), false),
        (json!(1), false),
        (Value::Null, false),
    ] {
        let draft = mapper(|s| s.promotion_opt_in_field = Some("marketingOptIn".into()))
            .map(&customer(|c| {
                c["custom"]["fields"]["marketingOptIn"] = value.clone();
            }))
            .unwrap();
        assert_eq!(draft.promotion_opt_in, expected, "{value}");
    }
}

/// A Fluent customer as the fixture maps it, so that `diff` starts equal.
fn fluent_twin(draft: &connect_customer_sync::FluentCustomerDraft) -> connect_fluent::Customer {
    serde_json::from_value(fluent_twin_json(draft)).unwrap()
}

/// [`fluent_twin`] as the JSON Fluent answers, to edit before reading it.
fn fluent_twin_json(draft: &connect_customer_sync::FluentCustomerDraft) -> Value {
    let attributes: Vec<Value> = draft
        .attributes
        .iter()
        .map(|a| json!({ "name": a.name, "type": a.kind, "value": a.value }))
        .collect();
    json!({
        "id": "1",
        "ref": draft.username,
        "username": draft.username,
        "firstName": draft.first_name,
        "lastName": draft.last_name,
        "title": draft.title,
        "country": draft.country,
        "primaryEmail": draft.primary_email,
        "primaryPhone": draft.primary_phone,
        "promotionOptIn": draft.promotion_opt_in,
        "retailer": { "id": "7" },
        "attributes": attributes,
    })
}

#[test]
fn diff_sends_only_what_changed_and_the_version_only_with_a_change() {
    let mapper = mapper(|_| {});
    let base = mapper.map(&customer(|_| {})).unwrap();
    let existing = fluent_twin(&base);

    let same = mapper.map(&customer(|c| c["version"] = json!(4))).unwrap();
    assert!(
        same.diff(&existing, "commercetools.version").is_empty(),
        "a new version alone is no change"
    );

    struct Case {
        name: &'static str,
        edit: fn(&mut Value),
        expected: Value,
    }
    let cases = [
        Case {
            name: "a changed last name",
            edit: |c| c["lastName"] = json!("Byron"),
            expected: json!({ "username": "14a4ef54-957d-4148-b0be-de8d0fbc411d", "lastName": "Byron",
                "attributes": [{ "name": "commercetools.version", "type": "INTEGER", "value": 3 }] }),
        },
        Case {
            name: "a cleared title is cleared with an empty string",
            edit: |c| c["title"] = Value::Null,
            expected: json!({ "username": "14a4ef54-957d-4148-b0be-de8d0fbc411d", "title": "",
                "attributes": [{ "name": "commercetools.version", "type": "INTEGER", "value": 3 }] }),
        },
        Case {
            name: "a changed email",
            edit: |c| c["email"] = json!("ada@analytical.engines"),
            expected: json!({ "username": "14a4ef54-957d-4148-b0be-de8d0fbc411d", "primaryEmail": "ada@analytical.engines",
                "attributes": [{ "name": "commercetools.version", "type": "INTEGER", "value": 3 }] }),
        },
        Case {
            name: "a changed custom field",
            edit: |c| c["custom"]["fields"]["loyaltyTier"] = json!("platinum"),
            expected: json!({ "username": "14a4ef54-957d-4148-b0be-de8d0fbc411d",
                "attributes": [
                    { "name": "commercetools.custom.loyaltyTier", "type": "STRING", "value": "platinum" },
                    { "name": "commercetools.version", "type": "INTEGER", "value": 3 }
                ] }),
        },
        Case {
            name: "an overlong phone leaves Fluent's phone alone and records why",
            edit: |c| c["addresses"][0]["phone"] = json!(LONG_PHONE),
            expected: json!({ "username": "14a4ef54-957d-4148-b0be-de8d0fbc411d",
                "attributes": [
                    { "name": "commercetools.omitted", "type": "STRING", "value": "primaryPhone" },
                    { "name": "commercetools.version", "type": "INTEGER", "value": 3 }
                ] }),
        },
    ];
    for case in cases {
        let draft = mapper.map(&customer(case.edit)).unwrap();
        let update = draft.diff(&existing, "commercetools.version");
        assert_eq!(
            serde_json::to_value(&update).unwrap(),
            case.expected,
            "{}",
            case.name
        );
    }
}

#[test]
fn set_attribute_replaces_by_name() {
    let mut draft = mapper(|_| {}).map(&customer(|_| {})).unwrap();
    let before = draft.attributes.len();
    draft.set_attribute(AttributeInput::string("commercetools.key", "other"));
    draft.set_attribute(AttributeInput::string("partner.tier", "gold"));
    assert_eq!(draft.attributes.len(), before + 1);
    assert_eq!(attr(&draft, "commercetools.key"), Some(json!("other")));
}

#[test]
fn settings_combinations_are_checked_against_the_inclusion_filter() {
    let deactivate = settings(|s| s.on_delete = OnDelete::Deactivate);
    let filter = |types: &[&str]| types.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>();
    assert!(
        deactivate.validate_with_filter(None).is_ok(),
        "no filter: every event passes"
    );
    for passes in [
        filter(&["ResourceCreated", "ResourceDeleted"]),
        filter(&["CustomerCreated", "CustomerDeleted"]),
    ] {
        assert!(
            deactivate.validate_with_filter(Some(&passes)).is_ok(),
            "{passes:?}"
        );
    }
    assert_eq!(
        deactivate
            .validate_with_filter(Some(&filter(&["ResourceCreated", "ResourceUpdated"])))
            .unwrap_err(),
        "on-delete: deactivate marks customers deleted only when a deletion reaches the handler, but the route's inclusion-filter [ResourceCreated, ResourceUpdated] lets none through; add ResourceDeleted (change subscriptions) or CustomerDeleted (Message subscriptions) to its inclusion-filter, or set on-delete: acknowledge"
    );
    let acknowledge = settings(|_| {});
    assert!(
        acknowledge
            .validate_with_filter(Some(&filter(&["ResourceCreated"])))
            .is_ok()
    );
}

/// A second address, for billing, in France.
fn add_billing_address(c: &mut Value) {
    c["addresses"].as_array_mut().unwrap().push(json!({
        "id": "addr-bill-1",
        "country": "FR",
        "phone": "+33 1 23 45 67 89",
    }));
    c["defaultBillingAddressId"] = json!("addr-bill-1");
}

#[test]
fn map_picks_the_contact_address_and_trims_blank_values() {
    struct Case {
        name: &'static str,
        edit: fn(&mut Value),
        /// First name, country, phone.
        expected: (
            Option<&'static str>,
            Option<&'static str>,
            Option<&'static str>,
        ),
    }
    let cases = [
        Case {
            name: "the default shipping address wins over the default billing one",
            edit: add_billing_address,
            expected: (Some("Ada"), Some("GB"), Some("+44 20 7946 0000")),
        },
        Case {
            name: "without a default shipping address, the default billing one",
            edit: |c| {
                add_billing_address(c);
                c["defaultShippingAddressId"] = Value::Null;
            },
            expected: (Some("Ada"), Some("FR"), Some("+33 1 23 45 67 89")),
        },
        Case {
            name: "without defaults, the first address",
            edit: |c| {
                add_billing_address(c);
                c["addresses"].as_array_mut().unwrap().reverse();
                c["defaultShippingAddressId"] = Value::Null;
                c["defaultBillingAddressId"] = Value::Null;
            },
            expected: (Some("Ada"), Some("FR"), Some("+33 1 23 45 67 89")),
        },
        Case {
            name: "without addresses, no country and no phone",
            edit: |c| {
                c["addresses"] = json!([]);
                c["defaultShippingAddressId"] = Value::Null;
                c["defaultBillingAddressId"] = Value::Null;
            },
            expected: (Some("Ada"), None, None),
        },
        Case {
            name: "an empty country is no country",
            edit: |c| c["addresses"][0]["country"] = json!(""),
            expected: (Some("Ada"), None, Some("+44 20 7946 0000")),
        },
        Case {
            name: "neither phone nor mobile: no phone",
            edit: |c| {
                c["addresses"][0]["phone"] = Value::Null;
                c["addresses"][0]["mobile"] = Value::Null;
            },
            expected: (Some("Ada"), Some("GB"), None),
        },
        Case {
            name: "a name of blanks is no name",
            edit: |c| c["firstName"] = json!("   "),
            expected: (None, Some("GB"), Some("+44 20 7946 0000")),
        },
        Case {
            name: "values are trimmed",
            edit: |c| {
                c["firstName"] = json!("  Ada ");
                c["addresses"][0]["phone"] = json!(" +44 20 7946 0000 ");
            },
            expected: (Some("Ada"), Some("GB"), Some("+44 20 7946 0000")),
        },
    ];
    let mapper = mapper(|_| {});
    for case in cases {
        let draft = mapper.map(&customer(case.edit)).unwrap();
        assert_eq!(
            (
                draft.first_name.as_deref(),
                draft.country.as_deref(),
                draft.primary_phone.as_deref()
            ),
            case.expected,
            "{}",
            case.name
        );
        assert!(
            draft.truncated.is_empty() && draft.omitted.is_empty(),
            "{}",
            case.name
        );
    }
}

#[test]
fn map_writes_identifiers_and_custom_fields_as_typed_attributes() {
    struct Case {
        name: &'static str,
        edit: fn(&mut Value),
        attribute: &'static str,
        /// `(type, value)`, or `None` when the attribute is left out.
        expected: Option<(&'static str, Value)>,
    }
    let cases = [
        Case {
            name: "a string custom field",
            edit: |_| {},
            attribute: "commercetools.custom.loyaltyTier",
            expected: Some(("STRING", json!("gold"))),
        },
        Case {
            name: "a boolean custom field",
            edit: |_| {},
            attribute: "commercetools.custom.marketingOptIn",
            expected: Some(("BOOLEAN", json!(true))),
        },
        Case {
            name: "an integer custom field",
            edit: |c| c["custom"]["fields"]["points"] = json!(1200),
            attribute: "commercetools.custom.points",
            expected: Some(("INTEGER", json!(1200))),
        },
        Case {
            name: "a decimal custom field",
            edit: |c| c["custom"]["fields"]["ratio"] = json!(0.25),
            attribute: "commercetools.custom.ratio",
            expected: Some(("FLOAT", json!(0.25))),
        },
        Case {
            name: "an object custom field",
            edit: |c| {
                c["custom"]["fields"]["money"] =
                    json!({ "centAmount": 100, "currencyCode": "EUR" });
            },
            attribute: "commercetools.custom.money",
            expected: Some(("JSON", json!({ "centAmount": 100, "currencyCode": "EUR" }))),
        },
        Case {
            name: "the version, as an integer",
            edit: |c| c["version"] = json!(42),
            attribute: "commercetools.version",
            expected: Some(("INTEGER", json!(42))),
        },
        Case {
            name: "no key: no key attribute",
            edit: |c| c["key"] = Value::Null,
            attribute: "commercetools.key",
            expected: None,
        },
        Case {
            name: "no customer number: no customer number attribute",
            edit: |c| c["customerNumber"] = Value::Null,
            attribute: "commercetools.customerNumber",
            expected: None,
        },
        Case {
            name: "no external id: no external id attribute",
            edit: |c| c["externalId"] = Value::Null,
            attribute: "commercetools.externalId",
            expected: None,
        },
        Case {
            name: "no custom fields: no custom attributes",
            edit: |c| c["custom"] = Value::Null,
            attribute: "commercetools.custom.loyaltyTier",
            expected: None,
        },
    ];
    let mapper = mapper(|_| {});
    for case in cases {
        let draft = mapper.map(&customer(case.edit)).unwrap();
        let found = draft
            .attribute(case.attribute)
            .map(|a| (a.kind.as_str(), a.value.clone()));
        let expected = case
            .expected
            .as_ref()
            .map(|(kind, value)| (*kind, value.clone()));
        assert_eq!(found, expected, "{}", case.name);
    }
}

#[test]
fn diff_compares_every_field_and_attribute_with_what_fluent_has() {
    struct Case {
        name: &'static str,
        customer: fn(&mut Value),
        fluent: fn(&mut Value),
        expected: Value,
    }
    const USERNAME: &str = "14a4ef54-957d-4148-b0be-de8d0fbc411d";
    let version = json!({ "name": "commercetools.version", "type": "INTEGER", "value": 3 });
    let cases = [
        Case {
            name: "nothing changed: an empty update",
            customer: |_| {},
            fluent: |_| {},
            expected: json!({ "username": USERNAME }),
        },
        Case {
            name: "a value Fluent holds as an empty string equals no value",
            customer: |c| c["title"] = Value::Null,
            fluent: |f| f["title"] = json!(""),
            expected: json!({ "username": USERNAME }),
        },
        Case {
            name: "a changed first name",
            customer: |c| c["firstName"] = json!("Augusta"),
            fluent: |_| {},
            expected: json!({ "username": USERNAME, "firstName": "Augusta", "attributes": [version.clone()] }),
        },
        Case {
            name: "a changed country",
            customer: |c| c["addresses"][0]["country"] = json!("FR"),
            fluent: |_| {},
            expected: json!({ "username": USERNAME, "country": "FR", "attributes": [version.clone()] }),
        },
        Case {
            name: "a changed phone",
            customer: |c| c["addresses"][0]["phone"] = json!("+44 20 0000 0000"),
            fluent: |_| {},
            expected: json!({ "username": USERNAME, "primaryPhone": "+44 20 0000 0000", "attributes": [version.clone()] }),
        },
        Case {
            name: "a phone changed in Fluent is brought back",
            customer: |_| {},
            fluent: |f| f["primaryPhone"] = json!("+1 555 0100"),
            expected: json!({ "username": USERNAME, "primaryPhone": "+44 20 7946 0000", "attributes": [version.clone()] }),
        },
        Case {
            name: "an overlong country leaves Fluent's country alone, even when it differs",
            customer: |c| c["addresses"][0]["country"] = json!("X".repeat(101)),
            fluent: |f| f["country"] = json!("DE"),
            expected: json!({ "username": USERNAME, "attributes": [
                { "name": "commercetools.omitted", "type": "STRING", "value": "country" },
                version.clone(),
            ] }),
        },
        Case {
            name: "Fluent without a promotion opt-in is opted out",
            customer: |_| {},
            fluent: |f| f["promotionOptIn"] = Value::Null,
            expected: json!({ "username": USERNAME }),
        },
        Case {
            name: "a promotion opt-in Fluent has but commercetools has not is withdrawn",
            customer: |_| {},
            fluent: |f| f["promotionOptIn"] = json!(true),
            expected: json!({ "username": USERNAME, "promotionOptIn": false, "attributes": [version.clone()] }),
        },
        Case {
            name: "an attribute of the same value but another type is written again",
            customer: |_| {},
            fluent: |f| {
                for attribute in f["attributes"].as_array_mut().unwrap() {
                    if attribute["name"] == "commercetools.custom.marketingOptIn" {
                        attribute["type"] = json!("STRING");
                    }
                }
            },
            expected: json!({ "username": USERNAME, "attributes": [
                { "name": "commercetools.custom.marketingOptIn", "type": "BOOLEAN", "value": true },
                version.clone(),
            ] }),
        },
        Case {
            name: "an attribute Fluent lacks is added",
            customer: |_| {},
            fluent: |f| {
                f["attributes"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|a| a["name"] != "commercetools.key");
            },
            expected: json!({ "username": USERNAME, "attributes": [
                { "name": "commercetools.key", "type": "STRING", "value": "cust-1001" },
                version.clone(),
            ] }),
        },
        Case {
            name: "a Fluent attribute the mapping does not write is left alone",
            customer: |_| {},
            fluent: |f| {
                f["attributes"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({ "name": "partner.note", "type": "STRING", "value": "vip" }));
            },
            expected: json!({ "username": USERNAME }),
        },
        Case {
            name: "an older version in Fluent alone is no change",
            customer: |_| {},
            fluent: |f| {
                for attribute in f["attributes"].as_array_mut().unwrap() {
                    if attribute["name"] == "commercetools.version" {
                        attribute["value"] = json!(1);
                    }
                }
            },
            expected: json!({ "username": USERNAME }),
        },
    ];
    let mapper = mapper(|_| {});
    let base = mapper.map(&customer(|_| {})).unwrap();
    for case in cases {
        let mut fluent = fluent_twin_json(&base);
        (case.fluent)(&mut fluent);
        let existing: connect_fluent::Customer = serde_json::from_value(fluent).unwrap();
        let draft = mapper.map(&customer(case.customer)).unwrap();
        let update = draft.diff(&existing, "commercetools.version");
        assert_eq!(
            serde_json::to_value(&update).unwrap(),
            case.expected,
            "{}",
            case.name
        );
    }
}
