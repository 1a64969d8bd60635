//! What a sync declares about the commercetools resource it syncs: the
//! resource type, its route and handler, the API scopes it needs and how to
//! scan it for a full load ([`ResourceSync`]), registered next to its
//! handler with [`register_sync!`](crate::register_sync) or explicitly
//! through a [`SyncRegistry`]. The runner's `backfill <resource>`, its
//! default scopes and `connect handlers` read these declarations, so they
//! name no resource themselves.
//!
//! ```
//! use connect_commercetools::sync::{ResourceSync, SyncRegistry};
//!
//! pub const CATEGORY_SYNC: ResourceSync = ResourceSync::new(
//!     "category",
//!     "categories",
//!     "commercetools.connect.category.upsert",
//!     "CommercetoolsCategoryUpsert",
//! )
//! .scopes(&["view_categories"]);
//!
//! connect_commercetools::register_sync!(CATEGORY_SYNC);
//!
//! let linked = SyncRegistry::linked();
//! let sync = linked.find("categories").map(|s| s.type_id);
//! assert_eq!(sync, Some("category"));
//! assert_eq!(linked.find("category").map(|s| s.endpoint), Some("categories"));
//! ```

use std::fmt;
use std::pin::Pin;

use futures_util::{Stream, StreamExt};

use crate::client::CommercetoolsClient;
use crate::error::Error;
use crate::model::{Query, Scan};

/// The outcome labels a sync reports for each resource, shared by every
/// bundled sync so that a backfill summary counts them whatever the
/// resource. A handler may report other labels too; they are counted under
/// their own name.
pub mod outcome {
    /// The resource was created in the target system.
    pub const CREATED: &str = "created";
    /// The resource was updated in the target system.
    pub const UPDATED: &str = "updated";
    /// The target already matched commercetools: no write.
    pub const UNCHANGED: &str = "unchanged";
    /// The target holds a newer commercetools version: no write.
    pub const STALE: &str = "stale";
    /// The resource no longer exists in commercetools: acknowledged.
    pub const DELETED: &str = "deleted";
    /// The resource no longer exists and was marked deleted in the target.
    pub const DEACTIVATED: &str = "deactivated";
}

/// The resources of a scan, as commercetools returns them (each has at
/// least `id` and `version`).
pub type ScanStream = Pin<Box<dyn Stream<Item = Result<serde_json::Value, Error>> + Send>>;

/// A custom full-load scan: every resource matching `request`, in ascending
/// id order (a resumed backfill starts after `request.after`).
pub type ScanFn = fn(&CommercetoolsClient, &ScanRequest) -> ScanStream;

/// What a backfill asks a scan for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanRequest {
    /// Only resources matching this predicate (besides the sync's own).
    pub predicate: Option<String>,
    /// Start after this id (exclusive).
    pub after: Option<String>,
    /// Resources per page (1 to 500).
    pub page_size: u32,
}

/// How a sync's resources are scanned for a full load.
#[derive(Clone, Copy)]
enum ScanKind {
    /// The endpoint's cursor scan by id.
    Endpoint,
    /// A function of the sync's own.
    Custom(ScanFn),
}

/// What a sync syncs and how to load all of it: declared once, next to its
/// handler, in a `const`.
///
/// [`new`](Self::new) sets the resource type id (as in subscription
/// payloads and `route-mapping`, e.g. `category`), the plural that names it
/// on the command line (`connect backfill categories`, also the API
/// endpoint unless [`endpoint`](Self::endpoint) says otherwise), the
/// default route and the handler's name.
#[derive(Clone, Copy)]
pub struct ResourceSync {
    /// The commercetools resource type id, e.g. `category`.
    pub type_id: &'static str,
    /// The plural, e.g. `categories`: `connect backfill categories`.
    pub plural: &'static str,
    /// The API endpoint under the project, e.g. `categories`.
    pub endpoint: &'static str,
    /// The route it is usually mapped to, used by a backfill when
    /// `route-mapping` does not name the type and the file defines it.
    pub route: &'static str,
    /// The name its handler is registered under.
    pub handler: &'static str,
    /// The API scopes it needs, without the project key, e.g.
    /// `view_categories`; a connector whose file writes no `scopes` asks
    /// for those of the syncs it routes to.
    pub scopes: &'static [&'static str],
    /// A predicate every scanned resource must match, e.g. `masterData(published = true)`.
    pub predicate: Option<&'static str>,
    scan: ScanKind,
}

impl fmt::Debug for ResourceSync {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceSync")
            .field("type_id", &self.type_id)
            .field("plural", &self.plural)
            .field("endpoint", &self.endpoint)
            .field("route", &self.route)
            .field("handler", &self.handler)
            .field("scopes", &self.scopes)
            .field("predicate", &self.predicate)
            .field("scan", &self.scan_description())
            .finish()
    }
}

impl ResourceSync {
    /// The sync of `type_id` (plural `plural`, which is also its endpoint),
    /// routed to `route` and handled by `handler`; no scopes, scanned by id.
    pub const fn new(
        type_id: &'static str,
        plural: &'static str,
        route: &'static str,
        handler: &'static str,
    ) -> Self {
        Self {
            type_id,
            plural,
            endpoint: plural,
            route,
            handler,
            scopes: &[],
            predicate: None,
            scan: ScanKind::Endpoint,
        }
    }

    /// The API endpoint, when it is not the plural.
    #[must_use]
    pub const fn endpoint(mut self, endpoint: &'static str) -> Self {
        self.endpoint = endpoint;
        self
    }

    /// The API scopes it needs, without the project key.
    #[must_use]
    pub const fn scopes(mut self, scopes: &'static [&'static str]) -> Self {
        self.scopes = scopes;
        self
    }

    /// A predicate every scanned resource must match.
    #[must_use]
    pub const fn predicate(mut self, predicate: &'static str) -> Self {
        self.predicate = Some(predicate);
        self
    }

    /// Scans with `scan` instead of the endpoint's cursor scan.
    #[must_use]
    pub const fn scan_with(mut self, scan: ScanFn) -> Self {
        self.scan = ScanKind::Custom(scan);
        self
    }

    /// How it is scanned, for listings: `GET /categories by id` or `custom`.
    pub fn scan_description(&self) -> String {
        match (self.scan, self.predicate) {
            (ScanKind::Custom(_), _) => "custom".to_owned(),
            (ScanKind::Endpoint, None) => format!("/{} by id", self.endpoint),
            (ScanKind::Endpoint, Some(predicate)) => {
                format!("/{} by id where {predicate}", self.endpoint)
            }
        }
    }

    /// `true` when `name` is its type id or its plural.
    pub fn is_named(&self, name: &str) -> bool {
        self.type_id == name || self.plural == name
    }

    fn predicates(&self, request: &ScanRequest) -> Vec<String> {
        self.predicate
            .map(str::to_owned)
            .into_iter()
            .chain(request.predicate.clone())
            .collect()
    }

    /// Every resource matching `request`, in ascending id order, one page
    /// in memory at a time.
    pub fn scan(&self, client: &CommercetoolsClient, request: &ScanRequest) -> ScanStream {
        match self.scan {
            ScanKind::Custom(scan) => scan(client, request),
            ScanKind::Endpoint => {
                let mut scan = Scan::all().page_size(request.page_size);
                for predicate in self.predicates(request) {
                    scan = scan.predicate(predicate);
                }
                if let Some(after) = &request.after {
                    scan = scan.after(after.clone());
                }
                client.scan_json(self.endpoint, scan).boxed()
            }
        }
    }

    /// Every resource changed at or after `since` (every resource when
    /// `None`) that matches the sync's predicate, sorted by `lastModifiedAt
    /// asc, id asc` and paged on that key (see
    /// [`ScanOrder::LastModified`](crate::ScanOrder::LastModified)), one page
    /// in memory at a time: the scan of a delta job. It reads the endpoint
    /// even for a sync with a custom full-load scan ([`scan_with`](Self::scan_with)),
    /// since only the endpoint sorts by `lastModifiedAt`. Each page is
    /// checked to ascend by that key; one that does not ends the stream
    /// with an error for which [`Error::is_out_of_order`] is `true`.
    pub fn scan_modified(
        &self,
        client: &CommercetoolsClient,
        since: Option<chrono::DateTime<chrono::Utc>>,
        page_size: u32,
    ) -> ScanStream {
        let mut scan = Scan::all().page_size(page_size).by_last_modified();
        if let Some(predicate) = self.predicate {
            scan = scan.predicate(predicate);
        }
        if let Some(since) = since {
            scan = scan.predicate(format!(
                "lastModifiedAt >= {}",
                crate::model::string_literal(&crate::model::datetime::format(&since))
            ));
        }
        client.scan_json(self.endpoint, scan).boxed()
    }

    /// How many resources `request` matches, when the endpoint says (a
    /// custom scan does not count).
    pub async fn count(
        &self,
        client: &CommercetoolsClient,
        request: &ScanRequest,
    ) -> Result<Option<u64>, Error> {
        if let ScanKind::Custom(_) = self.scan {
            return Ok(None);
        }
        let mut query = Query::new().limit(1).with_total(true);
        for predicate in self.predicates(request) {
            query = query.predicate(predicate);
        }
        if let Some(after) = &request.after {
            query = query.predicate(format!("id > {}", crate::model::string_literal(after)));
        }
        Ok(client.query_json(self.endpoint, &query).await?.total)
    }
}

/// One sync registered by [`register_sync!`](crate::register_sync),
/// collected at link time. Plumbing of the macro, not a public API.
#[doc(hidden)]
#[derive(Debug)]
pub struct SyncRegistration {
    /// The declaration.
    pub sync: ResourceSync,
}

inventory::collect!(SyncRegistration);

/// Items used by the code [`register_sync!`](crate::register_sync)
/// generates. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use super::SyncRegistration;
    pub use inventory;
}

/// Registers a [`ResourceSync`] at link time: `register_sync!(CATEGORY_SYNC)`
/// with a `const` declaration, next to the sync's `#[handler]`. The calling
/// crate needs no `inventory` dependency; a crate the final binary never
/// names is dropped by the linker (add `use that_crate as _;`).
#[macro_export]
macro_rules! register_sync {
    ($sync:expr) => {
        $crate::sync::__private::inventory::submit! {
            $crate::sync::__private::SyncRegistration { sync: $sync }
        }
    };
}

/// The syncs a connector knows, by type id and plural.
///
/// [`SyncRegistry::linked`] collects every
/// [`register_sync!`](crate::register_sync) in the binary;
/// [`with`](Self::with) adds one explicitly (tests).
#[derive(Debug, Clone, Default)]
pub struct SyncRegistry {
    syncs: Vec<ResourceSync>,
}

impl SyncRegistry {
    /// No syncs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every sync registered in this binary, by plural.
    pub fn linked() -> Self {
        let mut registry = Self::new();
        for registration in inventory::iter::<SyncRegistration> {
            registry.push(registration.sync);
        }
        registry
    }

    /// Adds `sync` (it replaces one of the same type id).
    #[must_use]
    pub fn with(mut self, sync: ResourceSync) -> Self {
        self.push(sync);
        self
    }

    fn push(&mut self, sync: ResourceSync) {
        self.syncs.retain(|s| s.type_id != sync.type_id);
        self.syncs.push(sync);
        self.syncs.sort_by(|a, b| a.plural.cmp(b.plural));
    }

    /// The sync named `name`: its type id or its plural.
    pub fn find(&self, name: &str) -> Option<&ResourceSync> {
        self.syncs.iter().find(|s| s.is_named(name))
    }

    /// The sync of resource type `type_id`.
    pub fn of_type(&self, type_id: &str) -> Option<&ResourceSync> {
        self.syncs.iter().find(|s| s.type_id == type_id)
    }

    /// Every sync, by plural.
    pub fn syncs(&self) -> &[ResourceSync] {
        &self.syncs
    }

    /// The plurals, e.g. `["categories", "customers"]`.
    pub fn names(&self) -> Vec<&'static str> {
        self.syncs.iter().map(|s| s.plural).collect()
    }

    /// `true` when no sync is registered.
    pub fn is_empty(&self) -> bool {
        self.syncs.is_empty()
    }

    /// The error for a name no sync has: it lists the registered ones.
    pub fn unknown(&self, name: &str) -> String {
        if self.syncs.is_empty() {
            return format!(
                "no sync can backfill `{name}`: none is registered; link the crates that declare them (`use that_crate as _;`)"
            );
        }
        let names = self
            .names()
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let hint = connect_core::config::did_you_mean(name, self.names());
        format!("no sync can backfill `{name}`{hint}; the registered ones are {names}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDERS: ResourceSync =
        ResourceSync::new("order", "orders", "orders.route", "OrderHandler")
            .scopes(&["view_orders"])
            .predicate("orderState = \"Open\"");

    #[test]
    fn a_sync_is_found_by_type_id_or_plural_and_an_unknown_name_lists_them() {
        let registry = SyncRegistry::new().with(ORDERS);
        assert_eq!(registry.find("orders").map(|s| s.type_id), Some("order"));
        assert_eq!(registry.find("order").map(|s| s.plural), Some("orders"));
        assert!(registry.find("orderz").is_none());
        let message = registry.unknown("orderz");
        assert!(message.contains("`orders`"), "{message}");
        assert_eq!(
            ORDERS.scan_description(),
            "/orders by id where orderState = \"Open\""
        );
        let request = ScanRequest {
            predicate: Some("version > 1".to_owned()),
            ..ScanRequest::default()
        };
        assert_eq!(
            ORDERS.predicates(&request),
            ["orderState = \"Open\"", "version > 1"]
        );
    }
}
