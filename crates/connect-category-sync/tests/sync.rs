#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Category sync against the local commercetools and Fluent emulators: one
//! write per real change, no regression to an older version, deletion,
//! parents that are not in Fluent yet, and the route-setup checks.

use std::sync::Arc;

use connect_category_sync::{
    CATEGORY_ROUTE, CategorySync, CategorySyncSettings, CommercetoolsCategoryUpsert, HANDLER_NAME,
    OnDelete, RefTemplate,
};
use connect_commercetools::CommercetoolsClient;
use connect_core::{FromRoute, HandlerSetup, Message, Payload, ResourceRef, RouteConfig, Services};
use connect_fluent::FluentClient;
use connect_testkit::commercetools::CommercetoolsEmulator;
use connect_testkit::fluent::FluentEmulator;
use serde_json::{Value, json};

struct Setup {
    ct: CommercetoolsEmulator,
    fluent: FluentEmulator,
    sync: CategorySync,
    catalogue: String,
}

async fn setup(change: impl FnOnce(&mut CategorySyncSettings)) -> Setup {
    let ct = CommercetoolsEmulator::start().await.unwrap();
    let fluent = FluentEmulator::start().await.unwrap();
    let catalogue = fluent.default_catalogue();
    let mut settings = CategorySyncSettings::new(&catalogue);
    change(&mut settings);
    let sync = CategorySync::new(
        Arc::new(CommercetoolsClient::new(ct.config()).unwrap()),
        Arc::new(FluentClient::new(fluent.config()).unwrap()),
        settings,
    );
    Setup {
        ct,
        fluent,
        sync,
        catalogue,
    }
}

fn draft(key: &str, parent: Option<&str>) -> Value {
    let mut draft = json!({
        "key": key,
        "name": { "en": format!("Name of {key}") },
        "slug": { "en": key },
        "orderHint": "0.1"
    });
    if let Some(parent) = parent {
        draft["parent"] = json!({ "typeId": "category", "id": parent });
    }
    draft
}

fn message(event_type: &'static str, id: &str) -> Message {
    Message::new(CATEGORY_ROUTE)
        .with_event_type(event_type)
        .with_resource(ResourceRef::new("category", id))
}

fn id_of(resource: &Value) -> String {
    resource["id"].as_str().unwrap().to_owned()
}

fn attribute(category: &Value, name: &str) -> Value {
    category["attributes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["name"] == name)
        .map_or(Value::Null, |a| a["value"].clone())
}

async fn handle(s: &Setup, id: &str) -> String {
    let outcome = s
        .sync
        .handle(&message("ResourceUpdated", id))
        .await
        .unwrap();
    outcome.label().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_write_per_real_change_and_the_last_version_wins() {
    let s = setup(|_| {}).await;
    let root =
        s.ct.insert_resource("category", draft("apparel", None))
            .await
            .unwrap();
    let id = id_of(&root);
    assert_eq!(handle(&s, &id).await, "created");
    assert_eq!(
        handle(&s, &id).await,
        "unchanged",
        "a duplicate writes nothing"
    );

    let mut labels = Vec::new();
    for n in 1..=5 {
        s.ct.modify_resource("category", &id, |c| {
            c["name"]["en"] = json!(format!("Apparel {n}"));
        })
        .await
        .unwrap();
        labels.push(handle(&s, &id).await);
        labels.push(handle(&s, &id).await);
        // A change commercetools counts but the mapping does not see.
        s.ct.modify_resource("category", &id, |c| {
            c["metaTitle"] = json!({ "en": format!("t{n}") });
        })
        .await
        .unwrap();
        labels.push(handle(&s, &id).await);
    }
    assert_eq!(
        labels.iter().filter(|l| *l == "updated").count(),
        5,
        "{labels:?}"
    );
    assert_eq!(s.fluent.category_create_count(&s.catalogue, "apparel"), 1);
    assert_eq!(s.fluent.category_update_count(&s.catalogue, "apparel"), 5);
    let held = s.fluent.category(&s.catalogue, "apparel").unwrap();
    assert_eq!(held["name"], "Apparel 5");
    let last_real = s.ct.resource("category", &id).unwrap()["version"]
        .as_u64()
        .unwrap()
        - 1;
    assert_eq!(attribute(&held, "commercetools.version"), json!(last_real));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_version_never_overwrites_a_newer_one() {
    let s = setup(|_| {}).await;
    let root =
        s.ct.insert_resource("category", draft("apparel", None))
            .await
            .unwrap();
    // Fluent already holds version 99 of it, written by a later message.
    s.fluent
        .insert_category(&json!({
            "ref": "apparel", "catalogue": { "ref": s.catalogue }, "type": "STANDARD",
            "name": "Newer name",
            "attributes": [{ "name": "commercetools.version", "type": "INTEGER", "value": 99 }]
        }))
        .unwrap();
    assert_eq!(handle(&s, &id_of(&root)).await, "stale");
    assert_eq!(s.fluent.category_update_count(&s.catalogue, "apparel"), 0);
    let held = s.fluent.category(&s.catalogue, "apparel").unwrap();
    assert_eq!(held["name"], "Newer name");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_before_its_parent_is_retryable_then_lands_under_it() {
    let s = setup(|_| {}).await;
    let parent =
        s.ct.insert_resource("category", draft("apparel", None))
            .await
            .unwrap();
    let child =
        s.ct.insert_resource("category", draft("shoes", Some(&id_of(&parent))))
            .await
            .unwrap();
    let error = s
        .sync
        .handle(&message("ResourceCreated", &id_of(&child)))
        .await
        .unwrap_err();
    assert!(error.is_retryable(), "{error}");
    assert!(
        error
            .to_string()
            .contains("parent category `apparel` is not in Fluent yet"),
        "{error}"
    );
    assert!(error.retry_after().is_some());
    assert_eq!(
        s.fluent.mutation_count("createCategory"),
        0,
        "nothing written"
    );

    assert_eq!(handle(&s, &id_of(&parent)).await, "created");
    assert_eq!(handle(&s, &id_of(&child)).await, "created");
    let held = s.fluent.category(&s.catalogue, "shoes").unwrap();
    assert_eq!(held["parentCategory"]["ref"], "apparel");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_id_template_the_parent_is_not_read_from_commercetools() {
    let s = setup(|settings| settings.ref_template = RefTemplate::parse("ct-{id}").unwrap()).await;
    let parent =
        s.ct.insert_resource("category", draft("apparel", None))
            .await
            .unwrap();
    let child =
        s.ct.insert_resource("category", draft("shoes", Some(&id_of(&parent))))
            .await
            .unwrap();
    assert_eq!(handle(&s, &id_of(&parent)).await, "created");
    let before = s.ct.resource_stats("categories").gets;
    assert_eq!(handle(&s, &id_of(&child)).await, "created");
    let gets = s.ct.resource_stats("categories").gets - before;
    assert_eq!(
        gets, 1,
        "the child only: its parent's ref is built from the id"
    );
    let held = s
        .fluent
        .category(&s.catalogue, &format!("ct-{}", id_of(&child)))
        .unwrap();
    assert_eq!(
        held["parentCategory"]["ref"],
        format!("ct-{}", id_of(&parent))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_category_is_set_inactive_with_deactivate() {
    let s = setup(|settings| settings.on_delete = OnDelete::Deactivate).await;
    let root =
        s.ct.insert_resource("category", draft("apparel", None))
            .await
            .unwrap();
    let id = id_of(&root);
    assert_eq!(handle(&s, &id).await, "created");
    s.ct.delete_resource("category", &id).await.unwrap();

    let notification = json!({
        "notificationType": "ResourceDeleted",
        "projectKey": s.ct.project_key(),
        "resource": { "typeId": "category", "id": id },
        "resourceUserProvidedIdentifiers": { "key": "apparel" },
        "version": 2, "modifiedAt": "2024-01-01T00:00:00.000Z"
    });
    let deleted = message("ResourceDeleted", &id).with_payload(Payload::from_value(&notification));
    assert_eq!(
        s.sync.handle(&deleted).await.unwrap().label(),
        "deactivated"
    );
    assert_eq!(
        s.fluent.category(&s.catalogue, "apparel").unwrap()["status"],
        "INACTIVE"
    );
    assert_eq!(s.sync.handle(&deleted).await.unwrap().label(), "unchanged");
    assert_eq!(s.fluent.category_update_count(&s.catalogue, "apparel"), 1);

    // A 404 on fetch is a deletion too; without the key, the id is the ref
    // the default template gives, which Fluent does not hold.
    let gone = s
        .sync
        .handle(&message("ResourceUpdated", &id))
        .await
        .unwrap();
    assert_eq!(gone.label(), "deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_is_acknowledged_by_default() {
    let s = setup(|_| {}).await;
    let root =
        s.ct.insert_resource("category", draft("apparel", None))
            .await
            .unwrap();
    let id = id_of(&root);
    assert_eq!(handle(&s, &id).await, "created");
    s.ct.delete_resource("category", &id).await.unwrap();
    assert_eq!(
        s.sync
            .handle(&message("ResourceDeleted", &id))
            .await
            .unwrap()
            .label(),
        "deleted"
    );
    assert_eq!(
        s.fluent.category(&s.catalogue, "apparel").unwrap()["status"],
        "CREATED"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impossible_category_ids_are_unprocessable() {
    let s = setup(|_| {}).await;
    for id in ["", " ", &"x".repeat(300), "a\nb"] {
        let error = s
            .sync
            .handle(&message("ResourceUpdated", id))
            .await
            .unwrap_err();
        assert!(!error.is_retryable(), "{id:?}: {error}");
        assert!(error.to_string().contains("the category id"), "{error}");
    }
}

fn route(props: Value) -> RouteConfig {
    let mut route = RouteConfig::new(CATEGORY_ROUTE, HANDLER_NAME);
    if let Value::Object(props) = props {
        route.props = props;
    }
    route
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handler_is_built_from_its_route_and_a_missing_catalogue_is_a_startup_error() {
    let ct = CommercetoolsEmulator::start().await.unwrap();
    let fluent = FluentEmulator::start().await.unwrap();
    let services = Services::new()
        .with_arc(Arc::new(CommercetoolsClient::new(ct.config()).unwrap()))
        .with_arc(Arc::new(FluentClient::new(fluent.config()).unwrap()));
    let missing = route(json!({ "name": "category" }));
    let error = CommercetoolsCategoryUpsert::from_route(&HandlerSetup::new(&missing, &services))
        .unwrap_err();
    assert!(
        error.to_string().contains("needs the prop `catalogue-ref`"),
        "{error}"
    );
    let good = route(json!({ "catalogue-ref": "DEFAULT:1" }));
    let handler =
        CommercetoolsCategoryUpsert::from_route(&HandlerSetup::new(&good, &services)).unwrap();
    assert!(connect_core::MessageHandler::coalesce(&handler));
}
