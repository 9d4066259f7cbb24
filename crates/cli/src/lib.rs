//! The `scanpay` binary's library: starting the system and benchmarking it. `main.rs` only parses
//! arguments and calls in here, so tests start services exactly as the binary does.

pub mod bench;
pub mod bench_pay;
pub mod bench_settlement;
pub mod client;
pub mod demo;
pub mod extract;
pub mod merchant;
pub mod settings;
pub mod synthetic;
pub mod system;
pub mod wallet;
