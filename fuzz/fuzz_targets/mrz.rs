//! Any text as OCR might hand it to the MRZ parser, with any doubts the recogniser might have
//! had about its characters: it returns a zone or a typed error, in bounded time, and never
//! panics. A zone it returns satisfies its own invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scanpay_extract::ocr::Alternative;
use scanpay_extract::{Date, mrz};

const TODAY: Date = Date {
    year: 2026,
    month: 12,
    day: 4,
};

/// Characters a doubt may name: the usual confusions, a filler, full width, one off the MRZ.
const DOUBTED: [char; 16] = [
    '0', 'O', '1', 'I', '5', 'S', '8', 'B', '2', 'Z', 'C', 'D', '<', '０', 'Ｏ', '€',
];

fuzz_target!(|data: &[u8]| {
    // The first byte: how many doubts follow, three bytes each (character index, which
    // character, odds in 255ths — 0 and odds above 1 included); the rest is the text.
    let (&count, rest) = data.split_first().unwrap_or((&0, &[]));
    let split = (usize::from(count % 16) * 3).min(rest.len());
    let (doubts, text) = rest.split_at(split);
    let alternatives: Vec<Alternative> = doubts
        .chunks_exact(3)
        .map(|d| Alternative {
            index: usize::from(d[0]),
            character: DOUBTED[usize::from(d[1] % 16)],
            odds: f32::from(d[2]) / 200.0,
        })
        .collect();
    let text = String::from_utf8_lossy(text);
    // The same doubts as missed characters too.
    let read = text
        .lines()
        .map(|line| (line, alternatives.as_slice(), alternatives.as_slice()));
    if let Ok(zone) = mrz::parse_read(read, TODAY) {
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
