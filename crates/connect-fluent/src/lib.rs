//! Fluent Commerce OMS client: OAuth, GraphQL, customer operations.
