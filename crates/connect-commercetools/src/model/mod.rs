//! The commercetools resources this crate reads and writes.

mod common;
mod customer;
pub mod datetime;
mod draft;
mod query;
mod resource;
mod update;

pub use crate::error::{ErrorObject, ErrorResponse};
pub use common::{CustomFields, CustomFieldsDraft, KeyReference, Reference, ResourceIdentifier};
pub use customer::{Address, AuthenticationMode, Customer, CustomerGroupAssignment};
pub use draft::CustomerDraft;
pub use query::{
    CustomerQuery, CustomerScan, MAX_LIMIT, MAX_OFFSET, PagedQueryResponse, Query, Scan,
    string_literal,
};
pub use resource::Resource;
pub use update::{CustomerUpdate, CustomerUpdateAction};
