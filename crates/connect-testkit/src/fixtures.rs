//! The payloads the SDK was written against, as constants.
//!
//! `commercetools` holds real-shaped subscription payloads in every delivery
//! format, a full customer, an error body and a token response; `fluent`
//! holds Fluent's customer, category and order schema subsets, a GraphQL
//! error and a token.

/// commercetools payloads.
pub mod commercetools {
    /// Change notification `ResourceCreated` for a customer.
    pub const CHANGE_RESOURCE_CREATED: &str =
        include_str!("../fixtures/commercetools/change-resource-created.json");
    /// Change notification `ResourceUpdated` (with `oldVersion`).
    pub const CHANGE_RESOURCE_UPDATED: &str =
        include_str!("../fixtures/commercetools/change-resource-updated.json");
    /// Change notification `ResourceDeleted`.
    pub const CHANGE_RESOURCE_DELETED: &str =
        include_str!("../fixtures/commercetools/change-resource-deleted.json");
    /// A change notification in CloudEvents format.
    pub const CLOUDEVENTS_RESOURCE_UPDATED: &str =
        include_str!("../fixtures/commercetools/cloudevents-resource-updated.json");
    /// A change notification inside an EventBridge envelope.
    pub const EVENTBRIDGE_RESOURCE_CREATED: &str =
        include_str!("../fixtures/commercetools/eventbridge-resource-created.json");
    /// Platform Message `CustomerCreated` (with the customer payload).
    pub const PLATFORM_MESSAGE_CUSTOMER_CREATED: &str =
        include_str!("../fixtures/commercetools/platform-message-customer-created.json");
    /// Platform Message `CustomerDeleted`.
    pub const PLATFORM_MESSAGE_CUSTOMER_DELETED: &str =
        include_str!("../fixtures/commercetools/platform-message-customer-deleted.json");
    /// A full customer resource.
    pub const CUSTOMER: &str = include_str!("../fixtures/commercetools/customer.json");
    /// A 404 error body.
    pub const ERROR_404: &str = include_str!("../fixtures/commercetools/error-404.json");
    /// A client-credentials token response.
    pub const OAUTH_TOKEN: &str = include_str!("../fixtures/commercetools/oauth-token.json");

    /// Every subscription payload fixture with its file name.
    pub const SUBSCRIPTION_PAYLOADS: &[(&str, &str)] = &[
        ("change-resource-created.json", CHANGE_RESOURCE_CREATED),
        ("change-resource-updated.json", CHANGE_RESOURCE_UPDATED),
        ("change-resource-deleted.json", CHANGE_RESOURCE_DELETED),
        (
            "cloudevents-resource-updated.json",
            CLOUDEVENTS_RESOURCE_UPDATED,
        ),
        (
            "eventbridge-resource-created.json",
            EVENTBRIDGE_RESOURCE_CREATED,
        ),
        (
            "platform-message-customer-created.json",
            PLATFORM_MESSAGE_CUSTOMER_CREATED,
        ),
        (
            "platform-message-customer-deleted.json",
            PLATFORM_MESSAGE_CUSTOMER_DELETED,
        ),
    ];
}

/// Fluent OMS payloads.
pub mod fluent {
    /// The customer subset of Fluent's GraphQL schema, served by the emulator.
    pub const SCHEMA_CUSTOMER: &str = include_str!("../fixtures/fluent/schema-customer.graphql");
    /// The category subset of Fluent's GraphQL schema (`createCategory`,
    /// `updateCategory`, `category(ref:, catalogue:)`), served by the
    /// emulator after [`SCHEMA_CUSTOMER`], whose types it uses.
    pub const SCHEMA_CATEGORY: &str = include_str!("../fixtures/fluent/schema-category.graphql");
    /// The order subset of Fluent's GraphQL schema (`orderById(id:)`,
    /// `order(ref:)`, `Order` with its fulfilments), served by the emulator
    /// after [`SCHEMA_CUSTOMER`], whose types it uses.
    pub const SCHEMA_ORDER: &str = include_str!("../fixtures/fluent/schema-order.graphql");
    /// The Setting subset of Fluent's GraphQL schema (`settings`,
    /// `createSetting`, `updateSetting`; job state in Fluent Settings),
    /// served by the emulator after [`SCHEMA_CUSTOMER`], whose `Json` and
    /// `PageInfo` it uses.
    pub const SCHEMA_SETTING: &str = include_str!("../fixtures/fluent/schema-setting.graphql");
    /// A GraphQL error response (max-length violation).
    pub const GRAPHQL_ERROR: &str = include_str!("../fixtures/fluent/graphql-error.json");
    /// A password-grant token response.
    pub const OAUTH_TOKEN: &str = include_str!("../fixtures/fluent/oauth-token.json");
}
