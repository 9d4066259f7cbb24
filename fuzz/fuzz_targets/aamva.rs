//! Any barcode payload to the AAMVA licence parser: a licence or a typed error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scanpay_extract::aamva;

fuzz_target!(|data: &[u8]| {
    // A PDF417 decoder hands text over byte for character (ISO 8859-1).
    let text: String = data.iter().map(|&b| char::from(b)).collect();
    if let Ok(licence) = aamva::parse(&text) {
        let _ = licence.identity();
    }
});
