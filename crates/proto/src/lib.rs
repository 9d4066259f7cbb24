//! What crosses a process boundary: the HTTP API types of the hub and the bank, the table of
//! stable error codes, and the signing of hub → bank requests.
//!
//! "If a type is serializable, it is part of a boundary": every type here is a promise to a
//! client. Add fields and codes; never rename or remove one.
//!
//! Deliberately not here: decisions (see `scanpay-core`), handlers (see the service crates).

pub mod bank;
pub mod error;
pub mod hub;
pub mod otp;
pub mod signing;

pub use error::{ErrorBody, ErrorCode};
