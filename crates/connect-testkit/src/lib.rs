//! Local emulators of commercetools and Fluent OMS, and fixtures, for tests and examples.
