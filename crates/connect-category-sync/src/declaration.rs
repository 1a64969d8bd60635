//! [`CATEGORY_SYNC`]: what the bundled category sync syncs (commercetools
//! categories, through [`CATEGORY_ROUTE`](crate::CATEGORY_ROUTE)), the scope
//! it needs and how a backfill scans it, registered at link time so that
//! `connect backfill categories` and `connect handlers` know it.

use connect_commercetools::sync::ResourceSync;

/// The category sync's declaration: resource `category` (plural
/// `categories`), route [`CATEGORY_ROUTE`](crate::CATEGORY_ROUTE), handler
/// [`HANDLER_NAME`](crate::HANDLER_NAME), scope `view_categories`, scanned
/// by id on `/categories` (children may come before their parents: the
/// handler retries them, see `docs/mapping.md`).
pub const CATEGORY_SYNC: ResourceSync = ResourceSync::new(
    "category",
    "categories",
    crate::CATEGORY_ROUTE,
    crate::HANDLER_NAME,
)
.scopes(&["view_categories"]);

connect_commercetools::register_sync!(CATEGORY_SYNC);

#[cfg(test)]
mod tests {
    use connect_commercetools::sync::SyncRegistry;

    use super::*;

    #[test]
    fn the_category_sync_is_linked_by_plural_and_type_id() {
        let linked = SyncRegistry::linked();
        for name in ["categories", "category"] {
            let sync = linked.find(name);
            assert_eq!(sync.map(|s| s.type_id), Some("category"), "{name}");
            assert_eq!(sync.map(|s| s.handler), Some(crate::HANDLER_NAME));
            assert_eq!(sync.map(|s| s.route), Some(crate::CATEGORY_ROUTE));
        }
        assert_eq!(CATEGORY_SYNC.scopes, ["view_categories"]);
    }
}
