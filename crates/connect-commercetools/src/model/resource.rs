//! [`Resource`]: what the generic client methods need to know about a
//! commercetools resource type.

use serde::de::DeserializeOwned;

use super::customer::Customer;

/// A commercetools resource type the generic client methods
/// ([`get`](crate::CommercetoolsClient::get),
/// [`find`](crate::CommercetoolsClient::find),
/// [`query`](crate::CommercetoolsClient::query),
/// [`scan`](crate::CommercetoolsClient::scan)...) read and write.
///
/// Implement it for your own model of a resource this crate does not
/// model (or use the JSON methods such as
/// [`query_json`](crate::CommercetoolsClient::query_json)).
///
/// ```
/// use connect_commercetools::{Customer, Resource};
///
/// assert_eq!(Customer::TYPE_ID, "customer");
/// assert_eq!(Customer::ENDPOINT, "customers");
/// ```
pub trait Resource: DeserializeOwned + Send + Sync + 'static {
    /// The resource type id, as in references and messages, e.g. `customer`.
    const TYPE_ID: &'static str;
    /// The endpoint under the project, e.g. `customers` for
    /// `/{projectKey}/customers`.
    const ENDPOINT: &'static str;

    /// The resource's id.
    fn id(&self) -> &str;

    /// The resource's current version.
    fn version(&self) -> u64;
}

impl Resource for Customer {
    const TYPE_ID: &'static str = "customer";
    const ENDPOINT: &'static str = "customers";

    fn id(&self) -> &str {
        &self.id
    }

    fn version(&self) -> u64 {
        self.version
    }
}
