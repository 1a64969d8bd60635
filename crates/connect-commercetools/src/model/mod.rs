//! The commercetools resources this crate reads and writes.

mod category;
mod common;
mod customer;
pub mod datetime;
mod draft;
mod localized;
mod order;
mod query;
mod resource;
mod update;

pub use crate::error::{ErrorObject, ErrorResponse};
pub use category::{Category, CategoryDraft, CategoryUpdateAction};
pub use common::{CustomFields, CustomFieldsDraft, KeyReference, Reference, ResourceIdentifier};
pub use customer::{Address, AuthenticationMode, Customer, CustomerGroupAssignment};
pub use draft::CustomerDraft;
pub use localized::LocalizedString;
pub use order::{Order, OrderState, OrderUpdateAction, PaymentState, ShipmentState, UnknownState};
pub use query::{
    CustomerQuery, CustomerScan, MAX_LIMIT, MAX_OFFSET, PagedQueryResponse, Query, Scan, ScanKey,
    ScanOrder, string_literal,
};
pub use resource::Resource;
pub use update::{CustomerUpdate, CustomerUpdateAction};
