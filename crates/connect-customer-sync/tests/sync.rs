#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Customer sync against the local commercetools and Fluent emulators:
//! retailer isolation, lookups that answer "not found" in either way,
//! values that must never be cut, impossible customer ids, and the
//! route-setup checks.

use std::sync::Arc;

use connect_commercetools::{Address, CommercetoolsClient, CustomerDraft, CustomerUpdateAction};
use connect_core::FromRoute;
use connect_core::{HandlerSetup, Message, ResourceRef, RouteConfig, Services};
use connect_customer_sync::{
    CommercetoolsCustomerUpsert, CustomerSync, CustomerSyncSettings, HANDLER_NAME, OnDelete,
    Overlong,
};
use connect_fluent::{CreateCustomerInput, FluentClient};
use connect_testkit::commercetools::CommercetoolsEmulator;
use connect_testkit::fluent::{FluentEmulator, UnknownRef};
use serde_json::json;

const ROUTE: &str = "commercetools.connect.customer.upsert";

struct Setup {
    ct: CommercetoolsEmulator,
    fluent: FluentEmulator,
    sync: CustomerSync,
}

async fn setup(settings: CustomerSyncSettings, unknown_ref: UnknownRef) -> Setup {
    let ct = CommercetoolsEmulator::start().await.unwrap();
    let fluent = FluentEmulator::builder()
        .unknown_ref(unknown_ref)
        .start()
        .await
        .unwrap();
    let sync = CustomerSync::new(
        Arc::new(CommercetoolsClient::new(ct.config()).unwrap()),
        Arc::new(FluentClient::new(fluent.config()).unwrap()),
        settings,
    );
    Setup { ct, fluent, sync }
}

fn ada(phone: &str) -> CustomerDraft {
    let mut draft = CustomerDraft::new("ada@example.com").with_name("Ada", "Lovelace");
    let mut address = Address::new("GB");
    address.phone = Some(phone.to_owned());
    draft.addresses = vec![address];
    draft.default_shipping_address = Some(0);
    draft
}

fn message(event_type: &'static str, id: &str) -> Message {
    Message::new(ROUTE)
        .with_event_type(event_type)
        .with_resource(ResourceRef::new("customer", id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_of_another_retailer_is_never_updated() {
    let s = setup(CustomerSyncSettings::default(), UnknownRef::Null).await;
    let customer = s.ct.insert_customer(ada("+44 20 7946 0000")).await.unwrap();
    // Another retailer of the account already has a customer with the
    // username the default template `{id}` gives.
    let theirs = CreateCustomerInput::new(&customer.id, "someone@else.example", false, "99");
    s.fluent.insert_customer_of_retailer(&theirs, "99").unwrap();

    let error = s
        .sync
        .handle(&message("ResourceUpdated", &customer.id))
        .await
        .unwrap_err();
    assert!(!error.is_retryable(), "unprocessable: {error}");
    let text = error.to_string();
    assert!(
        text.contains(&format!(
            "Fluent customer `{}` belongs to retailer 99, not to the configured retailer 1 (fluent.retailer-id)",
            customer.id
        )),
        "{text}"
    );
    assert!(
        text.contains("{retailerId}-{id}"),
        "says how to avoid it: {text}"
    );
    assert_eq!(s.fluent.update_count(&customer.id), 0, "nothing written");
    let untouched = s.fluent.customer(&customer.id).unwrap();
    assert_eq!(
        untouched.primary_email.as_deref(),
        Some("someone@else.example")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_of_another_retailer_is_not_marked_deleted_either() {
    let mut settings = CustomerSyncSettings::default();
    settings.on_delete = OnDelete::Deactivate;
    let s = setup(settings, UnknownRef::Null).await;
    let theirs = CreateCustomerInput::new("gone-1", "gone@else.example", false, "99");
    s.fluent.insert_customer_of_retailer(&theirs, "99").unwrap();
    let error = s
        .sync
        .handle(&message("ResourceDeleted", "gone-1"))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("belongs to retailer 99"),
        "{error}"
    );
    assert_eq!(s.fluent.update_count("gone-1"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_retailers_customer_is_updated_as_before() {
    let s = setup(CustomerSyncSettings::default(), UnknownRef::Null).await;
    let customer = s.ct.insert_customer(ada("+44 20 7946 0000")).await.unwrap();
    let outcome = s
        .sync
        .handle(&message("ResourceCreated", &customer.id))
        .await
        .unwrap();
    assert_eq!(outcome.label(), "created");
    s.ct.update_customer(
        &customer.id,
        vec![CustomerUpdateAction::SetFirstName {
            first_name: Some("Augusta".to_owned()),
        }],
    )
    .await
    .unwrap();
    let outcome = s
        .sync
        .handle(&message("ResourceUpdated", &customer.id))
        .await
        .unwrap();
    assert_eq!(outcome.label(), "updated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_ref_answered_with_not_found_creates_the_customer() {
    let s = setup(CustomerSyncSettings::default(), UnknownRef::NotFoundError).await;
    let customer = s.ct.insert_customer(ada("+44 20 7946 0000")).await.unwrap();
    let outcome = s
        .sync
        .handle(&message("ResourceCreated", &customer.id))
        .await
        .unwrap();
    assert_eq!(outcome.label(), "created");
    assert_eq!(s.fluent.create_count(&customer.id), 1);
    // And a deletion of a customer Fluent never had is simply done.
    let mut settings = CustomerSyncSettings::default();
    settings.on_delete = OnDelete::Deactivate;
    let s = setup(settings, UnknownRef::NotFoundError).await;
    let outcome = s
        .sync
        .handle(&message("ResourceDeleted", "never-synced"))
        .await
        .unwrap();
    assert_eq!(outcome.label(), "deleted");
}

const LONG_PHONE: &str = "+44 20 7946 0000 ext 12";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overlong_phone_is_left_out_never_cut_and_the_mark_cleared_once_fixed() {
    let s = setup(CustomerSyncSettings::default(), UnknownRef::Null).await;
    let customer = s.ct.insert_customer(ada(LONG_PHONE)).await.unwrap();
    let outcome = s
        .sync
        .handle(&message("ResourceCreated", &customer.id))
        .await
        .unwrap();
    assert_eq!(outcome.label(), "created");
    let fluent = s.fluent.customer(&customer.id).unwrap();
    assert_eq!(fluent.primary_phone, None, "no cut phone number in Fluent");
    assert_eq!(
        fluent.attribute("commercetools.omitted").map(|a| &a.value),
        Some(&json!("primaryPhone"))
    );
    // Mutations never carried a cut value.
    assert!(
        s.fluent
            .mutations()
            .iter()
            .all(|m| m.input.get("primaryPhone").is_none()),
        "{:?}",
        s.fluent.mutations()
    );

    let address_id = s.ct.customer(&customer.id).unwrap().addresses[0].id.clone();
    let mut fixed = Address::new("GB");
    fixed.phone = Some("+44 20 7946 0000".to_owned());
    s.ct.update_customer(
        &customer.id,
        vec![CustomerUpdateAction::ChangeAddress {
            address_id,
            address_key: None,
            address: fixed,
        }],
    )
    .await
    .unwrap();
    let outcome = s
        .sync
        .handle(&message("ResourceUpdated", &customer.id))
        .await
        .unwrap();
    assert_eq!(outcome.label(), "updated");
    let fluent = s.fluent.customer(&customer.id).unwrap();
    assert_eq!(fluent.primary_phone.as_deref(), Some("+44 20 7946 0000"));
    assert_eq!(
        fluent.attribute("commercetools.omitted").map(|a| &a.value),
        Some(&json!("")),
        "the stale mark is cleared"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_reject_an_overlong_phone_is_unprocessable() {
    let mut settings = CustomerSyncSettings::default();
    settings.overlong_fields = Overlong::Reject;
    let s = setup(settings, UnknownRef::Null).await;
    let customer = s.ct.insert_customer(ada(LONG_PHONE)).await.unwrap();
    let error = s
        .sync
        .handle(&message("ResourceCreated", &customer.id))
        .await
        .unwrap_err();
    assert!(!error.is_retryable());
    assert!(
        error
            .to_string()
            .contains("primaryPhone is 23 characters, Fluent accepts at most 20; it is never cut"),
        "{error}"
    );
    assert!(s.fluent.customer(&customer.id).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impossible_customer_ids_are_unprocessable_without_a_request() {
    let s = setup(CustomerSyncSettings::default(), UnknownRef::Null).await;
    let long = "x".repeat(100_000);
    for (id, needle) in [
        ("", "the customer id is empty"),
        (" ", "the customer id is empty"),
        (long.as_str(), "the customer id is 100000 characters long"),
        ("c\n1", "the customer id holds control characters"),
    ] {
        let error = s
            .sync
            .handle(&message("ResourceUpdated", id))
            .await
            .unwrap_err();
        assert!(!error.is_retryable(), "{error}");
        assert!(error.to_string().contains(needle), "{error}");
    }
    let stats = s.ct.stats();
    assert_eq!(
        stats.http_requests, 0,
        "commercetools was never asked: {stats:?}"
    );
}

fn route(props: serde_json::Value) -> RouteConfig {
    let mut route = RouteConfig::new(ROUTE, HANDLER_NAME);
    if let serde_json::Value::Object(props) = props {
        route.props = props;
    }
    route
}

#[test]
fn route_props_are_checked_at_setup_with_exact_messages() {
    let cases = [
        (
            json!({ "username-templat": "{id}" }),
            "route `commercetools.connect.customer.upsert` (handler `CommercetoolsCustomerUpsert`): unknown prop `username-templat`; did you mean `username-template`? customer sync reads: `name`, `username-template`, `promotion-opt-in-field`, `on-delete`, `overlong-fields`, `attribute-prefix`, `custom-fields`",
        ),
        (
            json!({ "inclusion-filters": ["ResourceCreated"] }),
            "route `commercetools.connect.customer.upsert` (handler `CommercetoolsCustomerUpsert`): unknown prop `inclusion-filters`; the inclusion filter is written `inclusion-filter:` (on the route, or under `props`); customer sync reads: `name`, `username-template`, `promotion-opt-in-field`, `on-delete`, `overlong-fields`, `attribute-prefix`, `custom-fields`",
        ),
        (
            json!({ "on-delete": "deactivate" }),
            "route `commercetools.connect.customer.upsert` (handler `CommercetoolsCustomerUpsert`): on-delete: deactivate marks customers deleted only when a deletion reaches the handler, but the route's inclusion-filter [ResourceCreated, ResourceUpdated] lets none through; add ResourceDeleted (change subscriptions) or CustomerDeleted (Message subscriptions) to its inclusion-filter, or set on-delete: acknowledge",
        ),
        (
            json!({ "on-delete": "deactivate", "username-template": "{email}" }),
            "route `commercetools.connect.customer.upsert` (handler `CommercetoolsCustomerUpsert`): on-delete: deactivate needs a username-template built only from {id} and {retailerId} (a deleted customer can no longer be read); `{email}` uses other fields",
        ),
        (
            json!({ "overlong-fields": "cut" }),
            "route `commercetools.connect.customer.upsert` (handler `CommercetoolsCustomerUpsert`): invalid props: unknown variant `cut`, expected `truncate` or `reject`",
        ),
    ];
    let services = Services::new();
    for (props, expected) in cases {
        let route =
            route(props.clone()).with_inclusion_filter(["ResourceCreated", "ResourceUpdated"]);
        let error =
            CustomerSyncSettings::from_setup(&HandlerSetup::new(&route, &services)).unwrap_err();
        assert_eq!(error.to_string(), expected, "{props}");
    }
    let fine = route(json!({ "on-delete": "deactivate" }))
        .with_inclusion_filter(["ResourceCreated", "ResourceDeleted"]);
    assert!(CustomerSyncSettings::from_setup(&HandlerSetup::new(&fine, &services)).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handler_is_built_from_its_route_with_the_same_checks() {
    let ct = CommercetoolsEmulator::start().await.unwrap();
    let fluent = FluentEmulator::start().await.unwrap();
    let services = Services::new()
        .with_arc(Arc::new(CommercetoolsClient::new(ct.config()).unwrap()))
        .with_arc(Arc::new(FluentClient::new(fluent.config()).unwrap()));
    let bad =
        route(json!({ "on-delete": "deactivate" })).with_inclusion_filter(["ResourceCreated"]);
    let error =
        CommercetoolsCustomerUpsert::from_route(&HandlerSetup::new(&bad, &services)).unwrap_err();
    assert!(error.to_string().contains("lets none through"), "{error}");
    let good = route(json!({})).with_inclusion_filter(["ResourceCreated"]);
    assert!(CommercetoolsCustomerUpsert::from_route(&HandlerSetup::new(&good, &services)).is_ok());
}
