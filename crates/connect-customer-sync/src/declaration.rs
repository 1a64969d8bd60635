//! [`CUSTOMER_SYNC`]: what the bundled customer sync syncs (commercetools
//! customers, through [`CUSTOMER_ROUTE`](crate::CUSTOMER_ROUTE)), the scope
//! it needs and how a backfill scans it, registered at link time so that
//! `connect backfill customers` and `connect handlers` know it.

use connect_commercetools::sync::ResourceSync;

/// The customer sync's declaration: resource `customer` (plural
/// `customers`), route [`CUSTOMER_ROUTE`](crate::CUSTOMER_ROUTE), handler
/// [`HANDLER_NAME`](crate::HANDLER_NAME), scope `view_customers`, scanned by
/// id on `/customers`.
pub const CUSTOMER_SYNC: ResourceSync = ResourceSync::new(
    connect_commercetools::names::CUSTOMER,
    "customers",
    crate::CUSTOMER_ROUTE,
    crate::HANDLER_NAME,
)
.scopes(&["view_customers"]);

connect_commercetools::register_sync!(CUSTOMER_SYNC);

#[cfg(test)]
mod tests {
    use connect_commercetools::sync::{SyncRegistry, outcome as shared};

    use super::*;
    use crate::outcome;

    #[test]
    fn the_customer_sync_is_linked_and_reports_the_shared_outcome_labels() {
        let linked = SyncRegistry::linked();
        let sync = linked.find("customers");
        assert_eq!(sync.map(|s| s.type_id), Some("customer"));
        assert_eq!(sync.map(|s| s.handler), Some(crate::HANDLER_NAME));
        assert_eq!(CUSTOMER_SYNC.scopes, ["view_customers"]);
        assert_eq!(
            [
                outcome::CREATED,
                outcome::UPDATED,
                outcome::UNCHANGED,
                outcome::STALE,
                outcome::DELETED,
                outcome::DEACTIVATED
            ],
            [
                shared::CREATED,
                shared::UPDATED,
                shared::UNCHANGED,
                shared::STALE,
                shared::DELETED,
                shared::DEACTIVATED
            ]
        );
    }
}
