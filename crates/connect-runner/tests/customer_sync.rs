#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Customer sync through the whole pipeline: commercetools emulator →
//! subscription → CT queue → listener → event queue → runtime →
//! `CommercetoolsCustomerUpsert` → Fluent emulator.

mod common;

use common::{Harness, yaml_with_filter};
use connect_commercetools::{Address, CustomerDraft, CustomerUpdateAction};
use connect_core::dead_letter::{DeadLetterStore, FailureKind};
use connect_core::queue::{MemoryQueue, RawPayload, Sink};
use connect_core::runtime::Shutdown;
use connect_runner::BackfillOptions;
use connect_testkit::Fault;
use connect_testkit::commercetools::NotificationFormat;
use connect_testkit::fixtures::commercetools as fixtures;

fn ada() -> CustomerDraft {
    let mut draft = CustomerDraft::new("ada.lovelace@example.com")
        .with_key("cust-1001")
        .with_name("Ada", "Lovelace");
    draft.title = Some("Dr".to_owned());
    draft.customer_number = Some("1001".to_owned());
    let mut address = Address::new("GB");
    address.phone = Some("+44 20 7946 0000".to_owned());
    address.city = Some("London".to_owned());
    draft.addresses = vec![address];
    draft.default_shipping_address = Some(0);
    draft
}

fn attr<'a>(customer: &'a connect_fluent::Customer, name: &str) -> Option<&'a serde_json::Value> {
    customer.attribute(name).map(|a| &a.value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_created_customer_appears_in_fluent_mapped() {
    let h = Harness::start("").await;
    let customer = h.ct.insert_customer(ada()).await.unwrap();
    let m = h.idle().await;
    assert_eq!(m.outcome("created"), 1, "{m:?}");

    let fluent = h
        .fluent
        .customer(&customer.id)
        .expect("created under username = ct id");
    assert_eq!(fluent.reference.as_deref(), Some(customer.id.as_str()));
    assert_eq!(
        fluent.primary_email.as_deref(),
        Some("ada.lovelace@example.com")
    );
    assert_eq!(fluent.first_name.as_deref(), Some("Ada"));
    assert_eq!(fluent.last_name.as_deref(), Some("Lovelace"));
    assert_eq!(fluent.title.as_deref(), Some("Dr"));
    assert_eq!(fluent.country.as_deref(), Some("GB"));
    assert_eq!(fluent.primary_phone.as_deref(), Some("+44 20 7946 0000"));
    assert_eq!(fluent.promotion_opt_in, Some(false));
    assert_eq!(
        attr(&fluent, "commercetools.id"),
        Some(&customer.id.clone().into())
    );
    assert_eq!(
        attr(&fluent, "commercetools.key"),
        Some(&"cust-1001".into())
    );
    assert_eq!(
        attr(&fluent, "commercetools.customerNumber"),
        Some(&"1001".into())
    );
    assert_eq!(
        attr(&fluent, "commercetools.version"),
        Some(&customer.version.into())
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_change_updates_the_same_fluent_customer() {
    let h = Harness::start("").await;
    let customer = h.ct.insert_customer(ada()).await.unwrap();
    h.idle().await;
    h.ct.update_customer(
        &customer.id,
        vec![CustomerUpdateAction::ChangeEmail {
            email: "ada@analytical.engines".to_owned(),
        }],
    )
    .await
    .unwrap();
    let m = h.idle().await;
    assert_eq!(m.outcome("updated"), 1, "{m:?}");
    assert_eq!(h.fluent.customers().len(), 1, "no duplicate customer");
    assert_eq!(h.fluent.create_count(&customer.id), 1);
    assert_eq!(h.fluent.update_count(&customer.id), 1);
    let fluent = h.fluent.customer(&customer.id).unwrap();
    assert_eq!(
        fluent.primary_email.as_deref(),
        Some("ada@analytical.engines")
    );
    assert_eq!(attr(&fluent, "commercetools.version"), Some(&2.into()));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_and_out_of_order_notifications_converge_without_extra_writes() {
    let h = Harness::start("").await;
    // Three writes; their notifications are then delivered again, shuffled
    // and duplicated, as at-least-once delivery may.
    let created = h.ct.insert_customer_silently(ada()).unwrap();
    for name in ["Augusta", "Ada Augusta"] {
        h.ct.update_customer(
            &created.id,
            vec![CustomerUpdateAction::SetFirstName {
                first_name: Some(name.to_owned()),
            }],
        )
        .await
        .unwrap();
    }
    h.idle().await;
    let writes_after_sync = h.fluent.mutations().len();
    let current = h.ct.customer(&created.id).unwrap();
    let notification = |kind: &str, version: u64| {
        RawPayload::new(
            serde_json::json!({
                "notificationType": kind,
                "projectKey": h.ct.project_key(),
                "resource": { "typeId": "customer", "id": created.id },
                "version": version,
                "modifiedAt": "2024-01-31T09:12:44.210Z"
            })
            .to_string(),
        )
    };
    for (kind, version) in [
        ("ResourceUpdated", 3),
        ("ResourceCreated", 1),
        ("ResourceUpdated", 2),
        ("ResourceUpdated", 3),
        ("ResourceCreated", 1),
        ("ResourceUpdated", 2),
    ] {
        h.ct_queue.send(notification(kind, version)).await.unwrap();
    }
    let m = h.idle().await;
    assert_eq!(
        h.fluent.mutations().len(),
        writes_after_sync,
        "replays wrote nothing: {m:?}"
    );
    assert_eq!(h.fluent.create_count(&created.id), 1);
    let fluent = h.fluent.customer(&created.id).unwrap();
    assert_eq!(fluent.first_name.as_deref(), Some("Ada Augusta"));
    assert_eq!(
        attr(&fluent, "commercetools.version"),
        Some(&current.version.into())
    );
    assert_eq!(m.dead_lettered, 0);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_to_unmapped_fields_writes_nothing() {
    let h = Harness::start("").await;
    let customer = h.ct.insert_customer(ada()).await.unwrap();
    h.idle().await;
    let writes = h.fluent.mutations().len();
    h.ct.update_customer(
        &customer.id,
        vec![
            CustomerUpdateAction::SetMiddleName {
                middle_name: Some("King".to_owned()),
            },
            CustomerUpdateAction::SetVatId {
                vat_id: Some("GB123456789".to_owned()),
            },
        ],
    )
    .await
    .unwrap();
    let m = h.idle().await;
    assert_eq!(m.outcome("unchanged"), 1, "{m:?}");
    assert_eq!(h.fluent.mutations().len(), writes, "no Fluent write");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_customer_is_acknowledged() {
    let h = Harness::start("").await;
    let customer = h.ct.insert_customer(ada()).await.unwrap();
    h.idle().await;
    h.ct.delete_customer(&customer.id).await.unwrap();
    // Also a notification for a customer that never existed.
    let unknown = fixtures::CHANGE_RESOURCE_UPDATED.replace(
        "\"projectKey\": \"fluent-ct-dev\"",
        &format!("\"projectKey\": \"{}\"", h.ct.project_key()),
    );
    assert_ne!(unknown, fixtures::CHANGE_RESOURCE_UPDATED);
    h.ct_queue.send(RawPayload::new(unknown)).await.unwrap();
    // And the same notification from another project: ignored, not handled
    // against this one.
    h.ct_queue
        .send(RawPayload::new(fixtures::CHANGE_RESOURCE_UPDATED))
        .await
        .unwrap();
    let m = h.idle().await;
    assert_eq!(m.outcome("deleted"), 2, "{m:?}");
    assert_eq!(h.listener.snapshot().ignored, 1);
    assert_eq!(m.dead_lettered, 0);
    assert!(h.dead_letters.is_empty());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_deactivate_a_deleted_customer_is_marked_in_fluent() {
    let h = Harness::start("      on-delete: deactivate").await;
    let customer = h.ct.insert_customer(ada()).await.unwrap();
    h.idle().await;
    h.ct.delete_customer(&customer.id).await.unwrap();
    let m = h.idle().await;
    assert_eq!(m.outcome("deactivated"), 1, "{m:?}");
    let fluent = h.fluent.customer(&customer.id).unwrap();
    assert_eq!(attr(&fluent, "commercetools.deleted"), Some(&true.into()));
    h.stop().await;
}

fn long_name() -> String {
    "Bartholomew-Maximilian-Alexander-Konstantin-Friedrich-Wilhelm".to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overlong_name_is_truncated_and_recorded_by_default() {
    let h = Harness::start("").await;
    let mut draft = ada();
    draft.first_name = Some(long_name());
    let customer = h.ct.insert_customer(draft).await.unwrap();
    let m = h.idle().await;
    assert_eq!(m.outcome("created"), 1, "{m:?}");
    let fluent = h.fluent.customer(&customer.id).unwrap();
    let first = fluent.first_name.unwrap();
    assert_eq!(first.chars().count(), 50);
    assert!(long_name().starts_with(&first));
    assert_eq!(
        attr(
            &h.fluent.customer(&customer.id).unwrap(),
            "commercetools.truncated"
        ),
        Some(&"firstName".into())
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_reject_an_overlong_name_is_dead_lettered_with_the_reason() {
    let h = Harness::start("      overlong-fields: reject").await;
    let mut draft = ada();
    draft.first_name = Some(long_name());
    let customer = h.ct.insert_customer(draft).await.unwrap();
    let m = h.idle().await;
    assert_eq!(m.dead_lettered, 1, "{m:?}");
    assert!(h.fluent.customer(&customer.id).is_none());
    let letter = &h.dead_letters.list().await.unwrap()[0];
    assert_eq!(letter.kind, FailureKind::Unprocessable);
    assert_eq!(letter.attempts, 1, "not retried");
    assert!(
        letter
            .error
            .contains("firstName is 61 characters, Fluent accepts at most 50"),
        "{}",
        letter.error
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_delivery_format_syncs_the_customer() {
    for format in [
        NotificationFormat::ChangeNotifications,
        NotificationFormat::Messages,
        NotificationFormat::CloudEvents,
        NotificationFormat::EventBridge,
    ] {
        let filter = "[ResourceCreated, ResourceUpdated, CustomerCreated, CustomerEmailChanged]";
        let h = Harness::start_yaml(yaml_with_filter(filter, ""), format).await;
        let customer = h.ct.insert_customer(ada()).await.unwrap();
        h.ct.update_customer(
            &customer.id,
            vec![CustomerUpdateAction::ChangeEmail {
                email: "ada@analytical.engines".to_owned(),
            }],
        )
        .await
        .unwrap();
        let m = h.idle().await;
        let synced = h
            .fluent
            .customer(&customer.id)
            .unwrap_or_else(|| panic!("{format:?}: {m:?}"));
        assert_eq!(
            synced.primary_email.as_deref(),
            Some("ada@analytical.engines"),
            "{format:?}"
        );
        assert_eq!(h.fluent.create_count(&customer.id), 1, "{format:?}");
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_outside_the_inclusion_filter_are_filtered() {
    // The default route listens to change notifications only: Platform
    // Messages are acknowledged and counted, never handled.
    let h = Harness::start_with("", NotificationFormat::Messages).await;
    let customer = h.ct.insert_customer(ada()).await.unwrap();
    let m = h.idle().await;
    assert!(h.fluent.customer(&customer.id).is_none());
    assert_eq!(m.filtered, 1, "{m:?}");
    assert_eq!(m.dead_lettered, 0);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_of_both_apis_are_retried_until_fluent_matches() {
    let h = Harness::start("").await;
    h.ct.faults().inject_for("/", Fault::unavailable(), 3);
    h.fluent
        .faults()
        .inject_for("/graphql", Fault::too_many_requests(1), 2);
    h.fluent
        .faults()
        .inject_for("/graphql", Fault::DropConnection, 1);
    h.fluent.expire_tokens();
    let mut ids = Vec::new();
    for i in 0..20 {
        let customer =
            h.ct.insert_customer(
                CustomerDraft::new(format!("c{i}@example.com")).with_name("C", format!("{i}")),
            )
            .await
            .unwrap();
        ids.push(customer.id);
    }
    let m = h.idle().await;
    assert_eq!(m.dead_lettered, 0, "{m:?}");
    for id in &ids {
        assert_eq!(h.fluent.create_count(id), 1, "{id} created exactly once");
    }
    assert_eq!(h.fluent.customers().len(), 20);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_pushes_every_customer_through_the_same_route() {
    let ct = connect_testkit::commercetools::CommercetoolsEmulator::start()
        .await
        .unwrap();
    let fluent = connect_testkit::fluent::FluentEmulator::start()
        .await
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..2_000 {
        let draft = CustomerDraft::new(format!("customer{i}@example.com"))
            .with_name("Backfill", format!("{i}"));
        ids.push(ct.insert_customer_silently(draft).unwrap().id);
    }
    // One customer already in Fluent and current: counted unchanged.
    let (connector, dead_letters) =
        Harness::connector(&ct, &fluent, "", MemoryQueue::new("ct", 10)).await;
    let mut reports = 0;
    let summary = connector
        .backfill(
            "customers",
            BackfillOptions {
                page_size: 300,
                ..BackfillOptions::default()
            },
            Shutdown::new(),
            |_| reports += 1,
        )
        .await
        .unwrap();
    assert_eq!(summary.scanned, 2_000);
    assert_eq!(summary.created, 2_000, "{summary:?}");
    assert_eq!(summary.failed, 0);
    assert!(reports >= 1);
    assert!(dead_letters.is_empty());
    assert_eq!(fluent.customers().len(), 2_000);
    for id in ids.iter().step_by(97) {
        assert!(fluent.customer(id).is_some(), "{id}");
    }

    // Running it again writes nothing: everything is unchanged.
    let again = connector
        .backfill(
            "customers",
            BackfillOptions::default(),
            Shutdown::new(),
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(again.unchanged, 2_000, "{again:?}");
    assert_eq!(fluent.customers().len(), 2_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_payload_is_dead_lettered_and_the_pipeline_keeps_going() {
    let h = Harness::start("").await;
    h.ct_queue.send(RawPayload::new("{not json")).await.unwrap();
    let customer = h.ct.insert_customer(ada()).await.unwrap();
    h.idle().await;
    assert!(h.fluent.customer(&customer.id).is_some());
    assert_eq!(h.listener.snapshot().dead_lettered, 1);
    let letters = h.dead_letters.list().await.unwrap();
    assert_eq!(letters[0].kind, FailureKind::Unparseable);
    assert_eq!(letters[0].raw.as_deref(), Some("{not json"));
    h.stop().await;
}
