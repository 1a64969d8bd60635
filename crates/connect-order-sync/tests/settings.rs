#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The route props, checked when the route is built (what `connect
//! validate` runs): every mistake fails with the prop key and what is
//! allowed.

mod common;

use common::*;
use connect_core::{HandlerRegistry, Router};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_props_fail_the_route_build_with_the_allowed_values() {
    let s = Systems::start().await;
    let prefix = "route `fluent.connect.order.status` (handler `FluentOrderStatusUpdate`): ";
    let cases = [
        (
            "{ order-state-mapping: { SHIPPED: Sent } }",
            "`order-state-mapping.SHIPPED`: `Sent` is not a commercetools order state; use one of: Open, Confirmed, Complete, Cancelled",
        ),
        (
            "{ shipment-state-mapping: { SHIPPED: shipped } }",
            "`shipment-state-mapping.SHIPPED`: `shipped` is not a commercetools shipment state; use one of: Shipped, Ready, Pending, Delayed, Partial, Backorder, Delivered",
        ),
        (
            "{ payment-state-mapping: { PAID: Settled } }",
            "`payment-state-mapping.PAID`: `Settled` is not a commercetools payment state; use one of: BalanceDue, Failed, Pending, CreditOwed, Paid",
        ),
        (
            "{ payment-state-mapping: { PAID: 1 } }",
            "`payment-state-mapping.PAID` must be a commercetools state name, not a number",
        ),
        (
            "{ order-state-mapping: [BOOKED] }",
            "`order-state-mapping` must be a mapping of Fluent status to commercetools state (e.g. `{ SHIPPED: Shipped }`; `{}` maps nothing), not a list",
        ),
        (
            "{ order-lookup: number }",
            "`order-lookup` must be `order-number` (the Fluent order ref is the commercetools orderNumber) or `id` (it is the commercetools order id), not `number`",
        ),
        (
            "{ order-state-maping: {} }",
            "unknown prop `order-state-maping`; did you mean `order-state-mapping`? the order status sync reads: `name`, `order-lookup`, `order-state-mapping`, `shipment-state-mapping`, `payment-state-mapping`",
        ),
        (
            "{ order-state-mapping: {}, shipment-state-mapping: {} }",
            "`order-state-mapping`, `shipment-state-mapping` and `payment-state-mapping` are all empty, so no Fluent status would change anything; map at least one status (or remove the route)",
        ),
    ];
    for (props, expected) in cases {
        let error = Router::build(&connector(props), &HandlerRegistry::linked(), &s.services())
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(&format!("{prefix}{expected}")),
            "{props}\n got: {error}\nwant: {expected}"
        );
    }
    // The defaults, written out, and an empty payment mapping.
    let fine = "{ order-lookup: order-number, order-state-mapping: { RECEIVED: Open, BOOKED: Confirmed, COMPLETE: Complete, CANCELLED: Cancelled }, shipment-state-mapping: { PICK_PACK: Pending, SHIPPED: Shipped, COMPLETE: Delivered }, payment-state-mapping: {} }";
    let router = router(&s, fine);
    assert!(
        router
            .route(connect_order_sync::ORDER_STATUS_ROUTE)
            .is_some_and(|route| route.coalesces()),
        "the handler coalesces"
    );
}

#[test]
fn settings_from_props_match_the_defaults_when_written_out() {
    let written: serde_json::Value = serde_json::json!({
        "order-lookup": "order-number",
        "order-state-mapping": { "RECEIVED": "Open", "BOOKED": "Confirmed", "COMPLETE": "Complete", "CANCELLED": "Cancelled" },
        "shipment-state-mapping": { "PICK_PACK": "Pending", "SHIPPED": "Shipped", "COMPLETE": "Delivered" },
        "payment-state-mapping": {}
    });
    let settings =
        connect_order_sync::OrderStatusSettings::from_props(written.as_object().unwrap()).unwrap();
    assert_eq!(settings, connect_order_sync::OrderStatusSettings::default());
}
