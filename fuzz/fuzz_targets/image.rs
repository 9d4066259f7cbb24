//! Any bytes as an uploaded photo: decoding within a pixel limit, then the barcode search,
//! returns fields or a typed error and never panics (OCR is left out: it is the models' own
//! arithmetic, and too slow to fuzz).
#![no_main]

use libfuzzer_sys::fuzz_target;
use scanpay_extract::Date;
use scanpay_extract::document::{Options, extract};

fuzz_target!(|data: &[u8]| {
    let options = Options {
        // Small, so that a fuzzed header cannot make one run allocate gigabytes.
        pixels_max: 4_000_000,
        today: Date {
            year: 2026,
            month: 12,
            day: 4,
        },
        reader: None,
    };
    if let Err(error) = extract(data, &options) {
        assert!(!error.code().is_empty());
    }
});
