//! Helpers for talking to Postgres through SPI.
pub mod rows;
