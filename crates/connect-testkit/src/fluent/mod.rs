//! Local Fluent OMS emulator (see the module docs once built).
