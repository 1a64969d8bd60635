#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The order status sync against the local Fluent and commercetools
//! emulators, messages fed directly: convergence of reordered webhooks, a
//! 409 in the middle of an update, unmapped statuses, missing orders.

mod common;

use std::time::Duration;

use common::*;
use connect_commercetools::{OrderState, ShipmentState};
use connect_order_sync::{OrderLookup, OrderStatusSettings, outcome};
use connect_testkit::Fault;
use connect_testkit::fluent::{FluentEmulator, UnknownRef};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_current_fluent_status_is_written_and_only_what_differs() {
    let s = Systems::start().await;
    let sync = s.sync(OrderStatusSettings::default());
    let (fluent_id, ct_id) = s.order_pair("HD_1", "BOOKED").await;

    let outcome = sync.handle(&order_message(&fluent_id)).await.unwrap();
    assert_eq!(outcome.label(), outcome::UPDATED);
    let order = s.ct_order_now(&ct_id);
    assert_eq!(
        (order.order_state, order.shipment_state),
        (OrderState::Confirmed, None)
    );
    assert_eq!(order.version, 2, "one update");

    // Again: nothing differs, nothing is posted.
    let updates = s.ct.resource_stats("orders").updates;
    let outcome = sync.handle(&order_message(&fluent_id)).await.unwrap();
    assert_eq!(outcome.label(), outcome::UNCHANGED);
    assert_eq!(s.ct.resource_stats("orders").updates, updates);

    // COMPLETE maps into two states: both written in one update.
    s.fluent.set_order_status(&fluent_id, "COMPLETE").unwrap();
    sync.handle(&order_message(&fluent_id)).await.unwrap();
    let order = s.ct_order_now(&ct_id);
    assert_eq!(
        (order.order_state, order.shipment_state, order.version),
        (OrderState::Complete, Some(ShipmentState::Delivered), 3)
    );
    assert_eq!(s.ct.resource_stats("orders").updates, updates + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_webhooks_converge_on_fluents_current_status() {
    let s = Systems::start().await;
    let sync = s.sync(OrderStatusSettings::default());
    let (fluent_id, ct_id) = s.order_pair("HD_2", "RECEIVED").await;
    // The workflow moves on: each step would send a webhook...
    let mut webhooks = Vec::new();
    for status in ["BOOKED", "PICK_PACK", "SHIPPED"] {
        s.fluent.set_order_status(&fluent_id, status).unwrap();
        webhooks.push(s.fluent.order_webhook(&fluent_id).unwrap());
    }
    // ...and they arrive newest first: SHIPPED, PICK_PACK, BOOKED.
    let mut labels = Vec::new();
    for webhook in webhooks.iter().rev() {
        let message = connect_webhook::FluentWebhook::parse(&webhook.body())
            .unwrap()
            .into_message(connect_order_sync::ORDER_STATUS_ROUTE);
        labels.push(sync.handle(&message).await.unwrap().label().to_owned());
    }
    assert_eq!(labels, ["updated", "unchanged", "unchanged"]);
    let order = s.ct_order_now(&ct_id);
    // Trusting the webhooks would have ended at Confirmed / Pending.
    assert_eq!(order.shipment_state, Some(ShipmentState::Shipped));
    assert_eq!(
        order.order_state,
        OrderState::Open,
        "SHIPPED maps no order state"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_409_in_the_middle_of_an_update_is_re_read_and_converges() {
    let s = Systems::start().await;
    let sync = s.sync(OrderStatusSettings::default());
    let (fluent_id, ct_id) = s.order_pair("HD_3", "COMPLETE").await;
    s.ct_client.authenticate().await.unwrap();
    // The read passes, the write waits long enough for another writer to
    // change the order first.
    let path = format!("/{}/orders", s.ct.project_key());
    s.ct.faults()
        .inject_for(&path, Fault::Delay(Duration::ZERO), 1);
    s.ct.faults()
        .inject_for(&path, Fault::Delay(Duration::from_secs(2)), 1);
    let before = s.ct.stats().http_requests;
    let handling = {
        let sync = sync.clone();
        let message = order_message(&fluent_id);
        tokio::spawn(async move { sync.handle(&message).await })
    };
    tokio::time::timeout(WAIT, async {
        while s.ct.stats().http_requests < before + 2 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .expect("the read and the write reached commercetools");
    // Another writer cancels the order and sets a shipment state meanwhile.
    s.ct.modify_resource("order", &ct_id, |order| {
        order["orderState"] = json!("Cancelled");
        order["shipmentState"] = json!("Delayed");
    })
    .await
    .unwrap();
    let outcome = handling.await.unwrap().unwrap();
    assert_eq!(outcome.label(), outcome::UPDATED);
    let stats = s.ct.resource_stats("orders");
    assert_eq!(
        stats.updates, 2,
        "the stale write (409) and the re-planned one"
    );
    assert_eq!(stats.key_gets, 2, "read, and re-read after the 409");
    let order = s.ct_order_now(&ct_id);
    assert_eq!(
        (order.order_state, order.shipment_state),
        (OrderState::Complete, Some(ShipmentState::Delivered)),
        "Fluent's current status wins over the concurrent change"
    );
    assert_eq!(order.version, 3, "created, modified, updated once");
}

#[tokio::test]
async fn an_unmapped_status_is_acknowledged_with_one_warn_per_status() {
    let (warnings, _guard) = Warnings::capture();
    let s = Systems::start().await;
    let sync = s.sync(OrderStatusSettings::default());
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(s.order_pair(&format!("HD_U{n}"), "AWAITING_PAYMENT").await);
    }
    let (other, _) = s.order_pair("HD_U9", "ON_HOLD").await;
    for (fluent_id, _) in &ids {
        for _ in 0..2 {
            let outcome = sync.handle(&order_message(fluent_id)).await.unwrap();
            assert_eq!(outcome.label(), outcome::UNMAPPED);
        }
    }
    assert_eq!(
        sync.handle(&order_message(&other)).await.unwrap().label(),
        outcome::UNMAPPED
    );
    let warned = warnings.all();
    assert_eq!(warned.len(), 2, "{warned:?}");
    assert!(
        warned[0].contains("AWAITING_PAYMENT") && warned[0].contains("logged once per status"),
        "{warned:?}"
    );
    assert!(warned[1].contains("ON_HOLD"), "{warned:?}");
    for (_, ct_id) in &ids {
        assert_eq!(s.ct_order_now(ct_id).version, 1, "nothing written");
    }
    assert_eq!(
        s.ct.resource_stats("orders").key_gets,
        0,
        "commercetools not even read"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_orders_are_unprocessable_and_say_what_to_check() {
    for unknown in [UnknownRef::Null, UnknownRef::NotFoundError] {
        let s = Systems::start_with(FluentEmulator::builder().unknown_ref(unknown)).await;
        let sync = s.sync(OrderStatusSettings::default());

        let error = sync.handle(&order_message("999")).await.unwrap_err();
        assert!(!error.is_retryable(), "{error}");
        assert!(
            error
                .to_string()
                .contains("Fluent has no order with id `999`"),
            "{error}"
        );

        let only_in_fluent = s
            .fluent
            .insert_order(&connect_testkit::fluent::NewOrder::new("HD_404", "BOOKED"))
            .unwrap();
        let error = sync
            .handle(&order_message(only_in_fluent["id"].as_str().unwrap()))
            .await
            .unwrap_err();
        assert!(!error.is_retryable(), "{error}");
        assert!(
            error
                .to_string()
                .contains("commercetools has no order with order number `HD_404`")
                && error.to_string().contains("order-lookup: order-number"),
            "{error}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_lookup_id_reads_the_commercetools_order_by_the_fluent_ref() {
    let s = Systems::start().await;
    let mut settings = OrderStatusSettings::default();
    settings.order_lookup = OrderLookup::Id;
    let sync = s.sync(settings);
    let ct_id = s.ct_order("CT-NUMBER-1");
    let fluent = s
        .fluent
        .insert_order(&connect_testkit::fluent::NewOrder::new(&ct_id, "CANCELLED"))
        .unwrap();
    let outcome = sync
        .handle(&order_message(fluent["id"].as_str().unwrap()))
        .await
        .unwrap();
    assert_eq!(outcome.label(), outcome::UPDATED);
    assert_eq!(s.ct_order_now(&ct_id).order_state, OrderState::Cancelled);
    assert_eq!(s.ct.resource_stats("orders").gets, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_not_about_an_order_are_unprocessable() {
    let s = Systems::start().await;
    let sync = s.sync(OrderStatusSettings::default());
    let fulfilment = connect_core::Message::new(connect_order_sync::ORDER_STATUS_ROUTE)
        .with_resource(connect_core::ResourceRef::new("FULFILMENT", "7"));
    let error = sync.handle(&fulfilment).await.unwrap_err();
    assert!(error.to_string().contains("not an ORDER"), "{error}");
    let bare = connect_core::Message::new(connect_order_sync::ORDER_STATUS_ROUTE);
    assert!(!sync.handle(&bare).await.unwrap_err().is_retryable());
    assert!(
        sync.handle(&order_message(" "))
            .await
            .unwrap_err()
            .to_string()
            .contains("empty")
    );
}
