//! Any text as OCR might hand it to the MRZ parser: it returns a zone or a typed error, in
//! bounded time, and never panics. A zone it returns satisfies its own invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scanpay_extract::{Date, mrz};

const TODAY: Date = Date {
    year: 2026,
    month: 12,
    day: 4,
};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(zone) = mrz::parse(&text, TODAY) {
        // Check digits are reported for the fields the format has, and the identity derived
        // from the zone never claims more than certainty.
        assert!(!zone.checks.is_empty());
        let identity = zone.identity();
        for confidence in [
            identity.document_number.map(|f| f.confidence),
            identity.surname.map(|f| f.confidence),
            identity.birth_date.map(|f| f.confidence),
        ]
        .into_iter()
        .flatten()
        {
            assert!((0.0..=1.0).contains(&confidence));
        }
    }
});
