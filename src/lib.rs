//! connect-sdk: build connectors that move commercetools data into Fluent
//! Commerce OMS.
