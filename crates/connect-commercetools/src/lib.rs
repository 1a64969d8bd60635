//! commercetools API client, subscription payload model and CT queue listener.
