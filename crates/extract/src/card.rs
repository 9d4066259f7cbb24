//! A payment card's fields from the text lines OCR read off its photo.
//!
//! The number is found among digit runs — grouped on one line (`4242 4242 4242 4242`), or stacked
//! as four groups on four lines — and a candidate counts only if it passes Luhn and has a length
//! its network uses; among several, the longest wins. The expiry is an `MM/YY` (or `MM/YYYY`)
//! date; with several (valid from, valid thru), the latest. The holder is the line of two to four
//! words of letters that is not a printed label. A CVV is never read: short digit groups on
//! their own are ignored, and nothing here keeps one.

use scanpay_core::card::Pan;
use serde::Serialize;

use crate::{Field, Source};

#[derive(Clone, PartialEq, Serialize)]
pub struct CardReading {
    /// Digits only. Serialized in full only by `scanpay extract` for the user's own check.
    pub card_number: Field<String>,
    pub network: Option<String>,
    pub expiry_month: Option<Field<u8>>,
    pub expiry_year: Option<Field<u16>>,
    pub holder_name: Option<Field<String>>,
}

/// Masked, as every type holding a card number prints (a `{:?}` in a log must not leak it).
impl std::fmt::Debug for CardReading {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let number = scanpay_core::card::masked_digits(&self.card_number.value);
        f.debug_struct("CardReading")
            .field("card_number", &format_args!("{number}"))
            .field("network", &self.network)
            .field("expiry_month", &self.expiry_month)
            .field("expiry_year", &self.expiry_year)
            .field("holder_name", &self.holder_name)
            .finish()
    }
}

/// Words printed on cards that are not a holder's name.
const LABELS: [&str; 24] = [
    "VALID",
    "THRU",
    "FROM",
    "GOOD",
    "UNTIL",
    "EXPIRES",
    "END",
    "MONTH",
    "YEAR",
    "VISA",
    "MASTERCARD",
    "DEBIT",
    "CREDIT",
    "BANK",
    "CARD",
    "GIFT",
    "PLATINUM",
    "GOLD",
    "CLASSIC",
    "BUSINESS",
    "DINERS",
    "CLUB",
    "INTERNATIONAL",
    "ELECTRON",
];

/// `lines` as OCR returned them, top to bottom, each with its confidence (0.0–1.0).
pub fn find_card(lines: &[(String, f32)]) -> Option<CardReading> {
    let number = find_number(lines)?;
    let pan = Pan::parse(&number.0).ok()?;
    let (expiry_month, expiry_year) = match find_expiry(lines) {
        Some((month, year, confidence)) => (
            Some(Field::new(month, confidence, Source::Ocr)),
            Some(Field::new(year, confidence, Source::Ocr)),
        ),
        None => (None, None),
    };
    Some(CardReading {
        network: pan.network().map(|n| n.code().to_string()),
        card_number: Field::new(pan.digits().to_string(), number.1, Source::Ocr),
        expiry_month,
        expiry_year,
        holder_name: find_holder(lines),
    })
}

/// Digit groups of a line, with OCR's usual letter-for-digit slips folded (O→0, I/l→1, S→5, B→8).
fn digit_groups(line: &str) -> Vec<String> {
    let folded: String = line
        .chars()
        .map(|c| match c {
            'O' | 'o' | 'D' | 'Q' => '0',
            'I' | 'l' | '|' => '1',
            'S' => '5',
            'B' => '8',
            other => other,
        })
        .collect();
    folded
        .split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .map(str::to_string)
        .collect()
}

fn valid_number(candidate: &str) -> bool {
    (12..=19).contains(&candidate.len()) && Pan::parse(candidate).is_ok()
}

fn find_number(lines: &[(String, f32)]) -> Option<(String, f32)> {
    let mut best: Option<(String, f32)> = None;
    let mut consider = |candidate: String, confidence: f32| {
        if valid_number(&candidate) && best.as_ref().is_none_or(|(b, _)| candidate.len() > b.len())
        {
            best = Some((candidate, confidence));
        }
    };
    for (line, confidence) in lines {
        let groups = digit_groups(line);
        // Every run of consecutive groups on the line: a number may share a line with a date.
        // Printed numbers come in groups of 4 to 6 digits (4-4-4-4, Amex 4-6-5, Diners 4-6-4) or
        // as one run, so shorter groups (a date's) never join one.
        for start in 0..groups.len() {
            let mut joined = String::new();
            for group in groups[start..].iter().take_while(|g| g.len() >= 4) {
                joined.push_str(group);
                if joined.len() > 19 {
                    break;
                }
                consider(joined.clone(), *confidence);
            }
        }
    }
    // Stacked: groups of 4 on consecutive lines.
    for window in lines.windows(4) {
        let groups: Vec<Vec<String>> = window.iter().map(|(l, _)| digit_groups(l)).collect();
        if groups.iter().all(|g| g.len() == 1 && g[0].len() == 4) {
            let joined: String = groups.iter().map(|g| g[0].as_str()).collect();
            let confidence = window.iter().map(|(_, c)| *c).fold(1.0, f32::min);
            consider(joined, confidence);
        }
    }
    best
}

fn find_expiry(lines: &[(String, f32)]) -> Option<(u8, u16, f32)> {
    let mut latest: Option<(u8, u16, f32)> = None;
    for (line, confidence) in lines {
        let bytes = line.as_bytes();
        for (index, _) in line.match_indices('/') {
            let before = index.checked_sub(2).and_then(|s| line.get(s..index));
            let after_four = line
                .get(index + 1..index + 5)
                .filter(|y| y.bytes().all(|b| b.is_ascii_digit()));
            let after_two = line.get(index + 1..index + 3);
            let (Some(month), Some(year)) = (before, after_four.or(after_two)) else {
                continue;
            };
            // A date inside a longer number (12/345) is not an expiry.
            let preceded_by_digit = index >= 3 && bytes[index - 3].is_ascii_digit();
            let year_end = index + 1 + year.len();
            let followed_by_digit = bytes.get(year_end).is_some_and(u8::is_ascii_digit);
            let (Ok(month), Ok(year_value)) = (month.parse::<u8>(), year.parse::<u16>()) else {
                continue;
            };
            if preceded_by_digit || followed_by_digit || !(1..=12).contains(&month) {
                continue;
            }
            let year = if year.len() == 2 {
                2000 + year_value
            } else {
                year_value
            };
            if latest.is_none_or(|(m, y, _)| (year, month) > (y, m)) {
                latest = Some((month, year, *confidence));
            }
        }
    }
    latest
}

fn find_holder(lines: &[(String, f32)]) -> Option<Field<String>> {
    lines.iter().find_map(|(line, confidence)| {
        let words: Vec<&str> = line.split_whitespace().collect();
        let name_like = (2..=4).contains(&words.len())
            && words.iter().all(|w| {
                w.len() >= 2
                    && w.chars()
                        .all(|c| c.is_ascii_uppercase() || c == '-' || c == '\'')
            })
            && !words.iter().any(|w| LABELS.contains(w));
        name_like.then(|| Field::new(words.join(" "), confidence * 0.9, Source::Ocr))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_prints_its_number_masked() {
        let reading = CardReading {
            card_number: Field::new("4111111111111111".to_string(), 0.9, Source::Ocr),
            network: Some("visa".to_string()),
            expiry_month: None,
            expiry_year: None,
            holder_name: None,
        };
        let printed = format!("{reading:?}");
        assert!(printed.contains("•••• 1111"), "{printed}");
        assert!(!printed.contains("4111111111111111"), "{printed}");
    }

    /// Number, expiry (month, year), holder.
    type Reading = (String, Option<(u8, u16)>, Option<String>);

    fn read(lines: &[&str]) -> Option<Reading> {
        let lines: Vec<(String, f32)> = lines.iter().map(|l| (l.to_string(), 0.9)).collect();
        find_card(&lines).map(|c| {
            (
                c.card_number.value,
                c.expiry_month
                    .zip(c.expiry_year)
                    .map(|(m, y)| (m.value, y.value)),
                c.holder_name.map(|h| h.value),
            )
        })
    }

    #[test]
    fn check() {
        type Expected<'a> = Option<(&'a str, Option<(u8, u16)>, Option<&'a str>)>;
        let cases: &[(&[&str], Expected)] = &[
            (
                &[
                    "BANK OF TESTING",
                    "3023 3348 7786 1104",
                    "VALID THRU 07/37",
                    "ANDREA DELACRUZ",
                ],
                Some(("3023334877861104", Some((7, 2037)), Some("ANDREA DELACRUZ"))),
            ),
            (
                &["VISA", "4242", "4242", "4242", "4242"],
                Some(("4242424242424242", None, None)),
            ),
            (
                &["4242 4242 4242 4242 08/26", "GIFT CARD RECIPIENT"],
                Some(("4242424242424242", Some((8, 2026)), None)),
            ),
            // O for 0 and S for 5, as OCR reads embossed digits.
            (
                &["5SS5 5555 5555 4444", "11/2029"],
                Some(("5555555555554444", Some((11, 2029)), None)),
            ),
            // Valid from and valid thru: the later one is the expiry.
            (
                &["4242 4242 4242 4242", "01/24 12/29"],
                Some(("4242424242424242", Some((12, 2029)), None)),
            ),
            // A number failing Luhn is not a card number.
            (&["4242 4242 4242 4241"], None),
            // A CVV alone is never a card number.
            (&["123"], None),
            (
                &["AUTHORIZED SIGNATURE", "NOT VALID UNLESS SIGNED", "737"],
                None,
            ),
        ];
        for (lines, expect) in cases {
            let expect = expect.map(|(n, e, h)| (n.to_string(), e, h.map(str::to_string)));
            assert_eq!(read(lines), expect, "{lines:?}");
        }
    }
}
