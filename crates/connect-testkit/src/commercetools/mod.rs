//! Local commercetools emulator (see the module docs once built).
