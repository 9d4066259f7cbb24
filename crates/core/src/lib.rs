//! The pure domain of scanpay.
//!
//! Money, card numbers, card-range routing and the ledger's decision step live here. Nothing in
//! this crate does I/O, reads a clock or draws randomness: time (`now_ms`) and new ids are passed
//! in, so every decision can be replayed in a test. Start reading at [`ledger`]: it is the part
//! that moves money.
//!
//! Deliberately not here: HTTP, SQL, async, serialization formats of the wire (see
//! `scanpay-proto`), persistence (see `scanpay-store`).

pub mod card;
pub mod code;
pub mod ledger;
pub mod matching;
pub mod money;
pub mod payment;
pub mod registration;
pub mod routing;
