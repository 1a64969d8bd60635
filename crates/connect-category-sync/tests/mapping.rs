#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The pure commercetools → Fluent category mapping: every field rule, the
//! ref template, locales, the diff, and the route-setup checks.

use connect_category_sync::{
    CATEGORY_ROUTE, CategoryMapper, CategorySyncSettings, HANDLER_NAME, Identifiers, MappingError,
    OnDelete, RefTemplate,
};
use connect_commercetools::{Category, LocalizedString};
use connect_core::{HandlerSetup, RouteConfig, Services};
use serde_json::json;

fn category(value: serde_json::Value) -> Category {
    let mut base = json!({
        "id": "c-1", "version": 3,
        "name": { "en": "Shoes", "de": "Schuhe" },
        "slug": { "en": "shoes", "de": "schuhe" },
        "ancestors": [],
        "createdAt": "2024-01-01T00:00:00.000Z",
        "lastModifiedAt": "2024-01-02T00:00:00.000Z"
    });
    if let (Some(base), serde_json::Value::Object(extra)) = (base.as_object_mut(), value) {
        base.extend(extra);
    }
    serde_json::from_value(base).unwrap()
}

fn mapper(change: impl FnOnce(&mut CategorySyncSettings)) -> CategoryMapper {
    let mut settings = CategorySyncSettings::new("DEFAULT:1");
    change(&mut settings);
    CategoryMapper::new(settings)
}

fn attribute(draft: &connect_category_sync::FluentCategoryDraft, name: &str) -> serde_json::Value {
    draft
        .attribute(&format!("commercetools.{name}"))
        .map_or(serde_json::Value::Null, |a| a.value.clone())
}

#[test]
fn every_field_rule_of_the_default_mapping() {
    let c = category(json!({
        "key": "shoes", "orderHint": "0.5",
        "description": { "en": "All shoes" },
        "parent": { "typeId": "category", "id": "p-1" }
    }));
    let draft = mapper(|_| {}).map(&c, Some("apparel".into())).unwrap();
    assert_eq!(draft.reference, "shoes", "the key, by default");
    assert_eq!(draft.catalogue_ref, "DEFAULT:1");
    assert_eq!(draft.kind, "STANDARD");
    assert_eq!(draft.name, "Shoes");
    assert_eq!(draft.summary.as_deref(), Some("All shoes"));
    assert_eq!(draft.parent_ref.as_deref(), Some("apparel"));
    assert_eq!(draft.version, 3);
    assert_eq!(attribute(&draft, "id"), "c-1");
    assert_eq!(attribute(&draft, "key"), "shoes");
    assert_eq!(attribute(&draft, "version"), 3);
    assert_eq!(attribute(&draft, "slug"), "shoes");
    assert_eq!(attribute(&draft, "orderHint"), "0.5");
    let version = draft.attribute("commercetools.version").unwrap();
    assert_eq!(version.kind, "INTEGER");

    let create = serde_json::to_value(draft.to_create()).unwrap();
    assert_eq!(create["ref"], "shoes");
    assert_eq!(create["catalogue"], json!({ "ref": "DEFAULT:1" }));
    assert_eq!(create["type"], "STANDARD");
    assert_eq!(create["parentCategory"], json!({ "ref": "apparel" }));
    assert!(create.get("status").is_none(), "no status on create");
}

#[test]
fn without_a_key_the_ref_is_the_id_and_absent_values_are_not_written() {
    let draft = mapper(|_| {}).map(&category(json!({})), None).unwrap();
    assert_eq!(draft.reference, "c-1");
    assert_eq!(draft.summary, None);
    assert_eq!(draft.parent_ref, None);
    assert_eq!(attribute(&draft, "key"), serde_json::Value::Null);
    assert_eq!(attribute(&draft, "orderHint"), serde_json::Value::Null);
    let create = serde_json::to_value(draft.to_create()).unwrap();
    assert!(create.get("parentCategory").is_none() && create.get("summary").is_none());
}

#[test]
fn templates_type_and_prefix_are_configurable() {
    let m = mapper(|s| {
        s.ref_template = RefTemplate::parse("ct-{id}").unwrap();
        s.category_type = "NAVIGATION".into();
        s.attribute_prefix = "ct.".into();
    });
    let draft = m.map(&category(json!({ "key": "shoes" })), None).unwrap();
    assert_eq!(draft.reference, "ct-c-1");
    assert_eq!(draft.kind, "NAVIGATION");
    assert!(draft.attribute("ct.id").is_some());
    assert!(m.reference_needs_only_id());
    assert!(
        !mapper(|_| {}).reference_needs_only_id(),
        "{{key|id}} needs the key"
    );

    let by_key = mapper(|s| s.ref_template = RefTemplate::parse("{key}").unwrap());
    let error = by_key.map(&category(json!({})), None).unwrap_err();
    assert!(matches!(
        error,
        MappingError::MissingField { field: "key", .. }
    ));
    assert!(
        error.to_string().contains("ref-template `{key}`"),
        "{error}"
    );

    let long = "k".repeat(101);
    let error = mapper(|_| {})
        .map(&category(json!({ "key": long })), None)
        .unwrap_err();
    assert!(matches!(
        error,
        MappingError::RefTooLong {
            length: 101,
            limit: 100,
            ..
        }
    ));
}

#[test]
fn names_follow_the_locale_then_the_fallbacks_then_any() {
    let m = mapper(|s| {
        s.locale = "fr".into();
        s.locale_fallback = vec!["de-CH".into(), "de".into()];
    });
    let draft = m.map(&category(json!({})), None).unwrap();
    assert_eq!(draft.name, "Schuhe", "first fallback present");
    assert_eq!(attribute(&draft, "slug"), "schuhe");
    let only_it = category(json!({ "name": { "it": "Scarpe" }, "slug": { "it": "scarpe" } }));
    assert_eq!(m.map(&only_it, None).unwrap().name, "Scarpe", "else any");
    let empty = category(json!({ "name": { "fr": "" }, "slug": {} }));
    let draft = m.map(&empty, None).unwrap();
    assert_eq!(draft.name, "c-1", "no name at all: the ref");
    assert_eq!(attribute(&draft, "slug"), serde_json::Value::Null);
    let text = LocalizedString::from_pairs([("fr", ""), ("de", "x")]);
    assert_eq!(
        m.localized(&text),
        Some("x"),
        "an empty value counts as absent"
    );
}

#[test]
fn the_diff_names_only_what_changed_and_the_version_only_with_it() {
    let m = mapper(|_| {});
    let c = category(json!({ "key": "shoes", "orderHint": "0.5", "description": { "en": "All" } }));
    let draft = m.map(&c, Some("apparel".into())).unwrap();
    let held: connect_fluent::Category = serde_json::from_value(json!({
        "id": "9", "ref": "shoes", "type": "STANDARD", "status": "CREATED",
        "name": "Shoes", "summary": "All",
        "catalogue": { "id": "1", "ref": "DEFAULT:1" },
        "parentCategory": { "id": "2", "ref": "apparel" },
        "attributes": [
            { "name": "commercetools.id", "type": "STRING", "value": "c-1" },
            { "name": "commercetools.key", "type": "STRING", "value": "shoes" },
            { "name": "commercetools.version", "type": "INTEGER", "value": 1 },
            { "name": "commercetools.slug", "type": "STRING", "value": "shoes" },
            { "name": "commercetools.orderHint", "type": "STRING", "value": "0.5" }
        ]
    }))
    .unwrap();
    let cleared = m.clearable_attributes();
    let version = m.attribute_name("version");
    assert!(
        draft.diff(&held, &version, &cleared).is_empty(),
        "only the version differs: no write"
    );

    let renamed = category(json!({ "key": "shoes", "name": { "en": "Footwear" }, "parent": null }));
    let update = m
        .map(&renamed, Some("sale".into()))
        .unwrap()
        .diff(&held, &version, &cleared);
    let json = serde_json::to_value(&update).unwrap();
    assert_eq!(json["name"], "Footwear");
    assert_eq!(json["summary"], "", "a removed description is cleared");
    assert_eq!(json["parentCategory"], json!({ "ref": "sale" }));
    assert!(json.get("type").is_none() && json.get("status").is_none());
    let names: Vec<&str> = json["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["commercetools.orderHint", "commercetools.version"],
        "the removed order hint is emptied, and the version goes with the change"
    );

    let root = m.map(&c, None).unwrap();
    assert!(
        root.diff(&held, &version, &cleared).is_empty(),
        "a removed parent is not written: Fluent cannot remove one"
    );
}

#[test]
fn identifiers_of_a_deleted_category_build_its_ref() {
    let m = mapper(|_| {});
    let with_key = Identifiers {
        id: "c-1",
        key: Some("shoes"),
        external_id: None,
    };
    assert_eq!(m.reference(with_key).unwrap(), "shoes");
    let without = Identifiers {
        id: "c-1",
        key: None,
        external_id: None,
    };
    assert_eq!(m.reference(without).unwrap(), "c-1");
}

fn route(props: serde_json::Value) -> RouteConfig {
    let mut route = RouteConfig::new(CATEGORY_ROUTE, HANDLER_NAME);
    if let serde_json::Value::Object(props) = props {
        route.props = props;
    }
    route
}

#[test]
fn route_props_are_checked_at_setup_with_exact_messages() {
    let prefix =
        "route `commercetools.connect.category.upsert` (handler `CommercetoolsCategoryUpsert`): ";
    let cases = [
        (
            json!({ "category-type": "STANDARD" }),
            "category sync needs the prop `catalogue-ref`: the ref of the Fluent product catalogue the categories are written to, e.g. `catalogue-ref: DEFAULT:1` (or `${FLUENT_CATALOGUE}`)",
        ),
        (
            json!({ "catalogue-ref": "DEFAULT:1", "locale-fallbak": ["de"] }),
            "unknown prop `locale-fallbak`; did you mean `locale-fallback`? category sync reads: `name`, `catalogue-ref`, `category-type`, `locale`, `locale-fallback`, `ref-template`, `on-delete`, `attribute-prefix`",
        ),
        (
            json!({ "catalogue-ref": "DEFAULT:1", "ref-template": "{slug}" }),
            "invalid props: ref-template `{slug}` uses unknown placeholder `slug`; use {id}, {key}, {externalId}, or alternatives such as {key|id}",
        ),
        (
            json!({ "catalogue-ref": "DEFAULT:1", "on-delete": "deactivate" }),
            "on-delete: deactivate marks categories inactive only when a deletion reaches the handler, but the route's inclusion-filter [ResourceCreated, ResourceUpdated] lets none through; add ResourceDeleted (change subscriptions) or CategoryDeleted (Message subscriptions), or set on-delete: acknowledge",
        ),
    ];
    let services = Services::new();
    for (props, expected) in cases {
        let route =
            route(props.clone()).with_inclusion_filter(["ResourceCreated", "ResourceUpdated"]);
        let error =
            CategorySyncSettings::from_setup(&HandlerSetup::new(&route, &services)).unwrap_err();
        let text = error.to_string();
        assert!(text.starts_with(prefix), "{text}");
        assert!(text.contains(expected), "{props}: {text}");
    }
    let fine = route(
        json!({ "catalogue-ref": "DEFAULT:1", "on-delete": "ignore", "locale-fallback": ["de"] }),
    );
    let settings = CategorySyncSettings::from_setup(&HandlerSetup::new(&fine, &services)).unwrap();
    assert_eq!(
        settings.on_delete,
        OnDelete::Acknowledge,
        "`ignore` is `acknowledge`"
    );
    assert_eq!(settings.locales().collect::<Vec<_>>(), ["en", "de"]);
}
