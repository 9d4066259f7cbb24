//! Card numbers: Luhn checksum, card-network identification by IIN range, and
//! [`Pan`], a validated primary account number that is hard to leak.
//!
//! This module deliberately is not a BIN database, an issuer lookup (see
//! `routing` for that), or a vault: it knows only the public, network-level
//! IIN ranges, and it keeps a PAN in memory as plain digits. `Pan` has no
//! `Display` and no `Serialize`, and its `Debug` shows only the masked form,
//! so the full number leaves a `Pan` only through an explicit
//! [`Pan::digits`] call that a reviewer can see.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Shortest and longest PAN under ISO/IEC 7812.
pub const PAN_LENGTH_MIN: usize = 12;
pub const PAN_LENGTH_MAX: usize = 19;

/// Most leading digits [`Pan::bin`] will reveal. PCI DSS allows at most the
/// first eight and last four digits to be shown, so a longer request is
/// clamped rather than turning `bin` into a second way to read the PAN.
pub const BIN_LENGTH_MAX: usize = 8;

const MASK_BULLETS: &str = "\u{2022}\u{2022}\u{2022}\u{2022}";

/// Why a card number was refused. Closed; clients see [`CardError::code`].
/// Messages never include the digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    #[error("card number may contain only digits, spaces and hyphens")]
    PanInvalid,
    #[error("card number has the wrong number of digits")]
    PanLengthInvalid,
    #[error("card number fails the Luhn check")]
    LuhnFailed,
}

impl CardError {
    /// Stable machine-readable code; part of the public API contract.
    pub fn code(&self) -> &'static str {
        match self {
            CardError::PanInvalid => "card_number_invalid",
            CardError::PanLengthInvalid => "card_number_length_invalid",
            CardError::LuhnFailed => "card_number_luhn_failed",
        }
    }
}

/// True when `digits` is non-empty, all ASCII digits, and passes the Luhn
/// (mod 10) check. Separators are not skipped: callers normalise first.
pub fn luhn_valid(digits: &str) -> bool {
    is_digits(digits) && luhn_sum(digits, false).is_multiple_of(10)
}

/// The digit that, appended to `partial`, makes a Luhn-valid number.
/// `None` if `partial` contains anything but ASCII digits. Used to build
/// demo and test numbers, never to "repair" customer input.
pub fn luhn_check_digit(partial: &str) -> Option<u8> {
    if !partial.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Appending a digit shifts every position left by one, so the digits
    // doubled are the ones in even positions from the right of `partial`.
    let sum = luhn_sum(partial, true);
    Some(((10 - sum % 10) % 10) as u8)
}

/// Luhn sum of ASCII digits, doubling every second digit from the right
/// starting with the rightmost when `double_first` is set.
fn luhn_sum(digits: &str, double_first: bool) -> u32 {
    digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if (i % 2 == 0) == double_first {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum()
}

fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// Card networks (schemes) we recognise from the number alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    Visa,
    Mastercard,
    Amex,
    UnionPay,
    Jcb,
    Discover,
    DinersClub,
    Maestro,
    RuPay,
    Mir,
}

impl Network {
    pub const ALL: [Network; 10] = [
        Network::Visa,
        Network::Mastercard,
        Network::Amex,
        Network::UnionPay,
        Network::Jcb,
        Network::Discover,
        Network::DinersClub,
        Network::Maestro,
        Network::RuPay,
        Network::Mir,
    ];

    /// Stable machine-readable code; identical to the serde form.
    pub fn code(&self) -> &'static str {
        match self {
            Network::Visa => "visa",
            Network::Mastercard => "mastercard",
            Network::Amex => "amex",
            Network::UnionPay => "union_pay",
            Network::Jcb => "jcb",
            Network::Discover => "discover",
            Network::DinersClub => "diners_club",
            Network::Maestro => "maestro",
            Network::RuPay => "ru_pay",
            Network::Mir => "mir",
        }
    }

    /// Human-readable brand name for receipts and UIs.
    pub fn name(&self) -> &'static str {
        match self {
            Network::Visa => "Visa",
            Network::Mastercard => "Mastercard",
            Network::Amex => "American Express",
            Network::UnionPay => "UnionPay",
            Network::Jcb => "JCB",
            Network::Discover => "Discover",
            Network::DinersClub => "Diners Club",
            Network::Maestro => "Maestro",
            Network::RuPay => "RuPay",
            Network::Mir => "Mir",
        }
    }

    /// PAN lengths the network issues. Kept apart from the IIN table so
    /// that identification works on a partial number while typing.
    pub fn valid_lengths(&self) -> &'static [u8] {
        match self {
            Network::Visa => &[13, 16, 19],
            Network::Mastercard | Network::RuPay => &[16],
            Network::Amex => &[15],
            Network::DinersClub => &[14, 15, 16, 17, 18, 19],
            Network::Maestro => &[12, 13, 14, 15, 16, 17, 18, 19],
            Network::UnionPay | Network::Jcb | Network::Discover | Network::Mir => {
                &[16, 17, 18, 19]
            }
        }
    }
}

/// Public IIN ranges as inclusive `(low, high, network)` prefixes; `low` and
/// `high` have equal length, so comparing them as strings against a prefix of
/// the same length is numeric comparison.
///
/// Overlaps are resolved by the longest matching prefix, and the table has no
/// two entries of the same length that overlap (a test enforces it):
/// - `6011` Discover beats `60` RuPay.
/// - `6521`–`6522` RuPay beat `65` Discover.
/// - `622126`–`622925` is UnionPay-issued and only co-accepted on Discover's
///   network, so it stays UnionPay via `62`. We identify the issuing scheme,
///   not every network that may carry the card.
/// - RuPay/JCB co-badged `353`/`356` stay JCB under `3528`–`3589`, for the
///   same reason; the issuing bank routes them either way.
/// - `81` is UnionPay's newer range; RuPay's use of `81`/`82` is not listed.
/// - Visa is the whole of `4`; schemes issuing inside it (e.g. Elo) are out
///   of scope and read as Visa.
static IIN_RANGES: &[(&str, &str, Network)] = &[
    ("4", "4", Network::Visa),
    ("51", "55", Network::Mastercard),
    ("2221", "2720", Network::Mastercard),
    ("34", "34", Network::Amex),
    ("37", "37", Network::Amex),
    ("300", "305", Network::DinersClub),
    ("3095", "3095", Network::DinersClub),
    ("36", "36", Network::DinersClub),
    ("38", "39", Network::DinersClub),
    ("6011", "6011", Network::Discover),
    ("644", "649", Network::Discover),
    ("65", "65", Network::Discover),
    ("3528", "3589", Network::Jcb),
    ("62", "62", Network::UnionPay),
    ("81", "81", Network::UnionPay),
    ("5018", "5018", Network::Maestro),
    ("5020", "5020", Network::Maestro),
    ("5038", "5038", Network::Maestro),
    ("5893", "5893", Network::Maestro),
    ("6304", "6304", Network::Maestro),
    ("6759", "6759", Network::Maestro),
    ("6761", "6763", Network::Maestro),
    ("60", "60", Network::RuPay),
    ("508", "508", Network::RuPay),
    ("6521", "6522", Network::RuPay),
    ("2200", "2204", Network::Mir),
];

/// The network whose IIN range has the longest prefix matching `pan_digits`.
/// Works on partial numbers ("4" is Visa). `None` for unknown prefixes and
/// for anything that is not all ASCII digits.
pub fn identify_network(pan_digits: &str) -> Option<Network> {
    if !is_digits(pan_digits) {
        return None;
    }
    IIN_RANGES
        .iter()
        .filter(|(low, high, _)| {
            pan_digits
                .get(..low.len())
                .is_some_and(|prefix| *low <= prefix && prefix <= *high)
        })
        .max_by_key(|(low, _, _)| low.len())
        .map(|&(_, _, network)| network)
}

/// A card number's digits as receipts, views and logs show them: "•••• 4242" (the last four;
/// fewer when there are fewer). For a [`Pan`], and for a number read but not yet validated.
pub fn masked_digits(digits: &str) -> String {
    let last4 = digits.get(digits.len().saturating_sub(4)..).unwrap_or("");
    format!("{MASK_BULLETS} {last4}")
}

/// A validated primary account number: 12–19 ASCII digits, Luhn-valid, and
/// of a length its network issues when the network is known.
///
/// No `Display`, no `Serialize`; `Debug` is masked. See the module docs.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Pan(String);

impl Pan {
    /// Parses customer input. Only spaces and hyphens are stripped, the two
    /// separators people actually type; anything else is an error rather
    /// than being guessed at. Length is checked before Luhn so a missing
    /// digit is reported as a length problem, which is the likelier cause.
    pub fn parse(input: &str) -> Result<Pan, CardError> {
        let digits: String = input.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CardError::PanInvalid);
        }
        if !(PAN_LENGTH_MIN..=PAN_LENGTH_MAX).contains(&digits.len()) {
            return Err(CardError::PanLengthInvalid);
        }
        if let Some(network) = identify_network(&digits) {
            // Length is 12..=19 here, so the cast is exact.
            if !network.valid_lengths().contains(&(digits.len() as u8)) {
                return Err(CardError::PanLengthInvalid);
            }
        }
        if !luhn_valid(&digits) {
            return Err(CardError::LuhnFailed);
        }
        Ok(Pan(digits))
    }

    /// The full number. Every call site is a deliberate boundary crossing
    /// (to a bank, to a vault); keep them few and greppable.
    pub fn digits(&self) -> &str {
        &self.0
    }

    pub fn last4(&self) -> &str {
        &self.0[self.0.len() - 4..]
    }

    /// `None` when the number is valid but from a range we do not know.
    pub fn network(&self) -> Option<Network> {
        identify_network(&self.0)
    }

    /// Display form for receipts and logs: "•••• 4242".
    pub fn masked(&self) -> String {
        masked_digits(&self.0)
    }

    /// The first `length` digits, clamped to [`BIN_LENGTH_MAX`] (see there).
    pub fn bin(&self, length: usize) -> &str {
        &self.0[..length.min(BIN_LENGTH_MAX)]
    }
}

impl fmt::Debug for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pan({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::IntoDeserializer;
    use serde::de::value::{Error as ValueError, StrDeserializer};

    /// What a caller of `Pan::parse` sees: network code and last four on
    /// success, error code otherwise.
    type Outcome = Result<(Option<&'static str>, &'static str), &'static str>;

    fn check(input: &str, expect: Outcome) {
        let got = Pan::parse(input)
            .map(|pan| (pan.network().map(|n| n.code()), pan.last4().to_owned()))
            .map_err(|e| e.code());
        let expect = expect.map(|(network, last4)| (network, last4.to_owned()));
        assert_eq!(got, expect, "Pan::parse({input:?})");
    }

    #[test]
    fn pan_parse_table() {
        let cases: &[(&str, Outcome)] = &[
            ("4242424242424242", Ok((Some("visa"), "4242"))),
            ("4242 4242 4242 4242", Ok((Some("visa"), "4242"))),
            ("4242-4242-4242-4242", Ok((Some("visa"), "4242"))),
            (" 4242 4242-4242 4242 ", Ok((Some("visa"), "4242"))),
            ("4222222222222", Ok((Some("visa"), "2222"))), // 13-digit Visa
            ("5555555555554444", Ok((Some("mastercard"), "4444"))),
            ("2223003122003222", Ok((Some("mastercard"), "3222"))),
            ("378282246310005", Ok((Some("amex"), "0005"))),
            ("6011111111111117", Ok((Some("discover"), "1117"))),
            ("3530111333300000", Ok((Some("jcb"), "0000"))),
            ("30569309025904", Ok((Some("diners_club"), "5904"))),
            ("3023334877861104", Ok((Some("diners_club"), "1104"))),
            ("6200000000000005", Ok((Some("union_pay"), "0005"))),
            ("6521000000000007", Ok((Some("ru_pay"), "0007"))),
            ("2200000000000004", Ok((Some("mir"), "0004"))),
            ("501800000009", Ok((Some("maestro"), "0009"))), // 12-digit Maestro
            // Unknown network is allowed as long as length and Luhn hold.
            ("9000000000000001", Ok((None, "0001"))),
            ("4242424242424241", Err("card_number_luhn_failed")),
            ("5555555555554445", Err("card_number_luhn_failed")),
            ("9000000000000002", Err("card_number_luhn_failed")),
            ("", Err("card_number_length_invalid")),
            ("   ", Err("card_number_length_invalid")),
            ("42424242424", Err("card_number_length_invalid")), // 11
            ("42424242424242424242", Err("card_number_length_invalid")), // 20
            ("424242424242424", Err("card_number_length_invalid")), // 15-digit Visa
            ("37828224631000", Err("card_number_length_invalid")), // 14-digit Amex
            ("555555555555444", Err("card_number_length_invalid")), // 15-digit MC
            ("4242.4242.4242.4242", Err("card_number_invalid")),
            ("4242_4242_4242_4242", Err("card_number_invalid")),
            ("4242\t4242424242424", Err("card_number_invalid")),
            ("424242424242424x", Err("card_number_invalid")),
            (
                "４２４２４２４２４２４２４２４２",
                Err("card_number_invalid"),
            ), // full-width
        ];
        for &(input, expect) in cases {
            check(input, expect);
        }
    }

    #[test]
    fn identify_network_table() {
        let cases: &[(&str, Option<Network>)] = &[
            ("4", Some(Network::Visa)),
            ("4000", Some(Network::Visa)),
            ("51", Some(Network::Mastercard)),
            ("55", Some(Network::Mastercard)),
            ("50", None),
            ("56", None),
            ("2221", Some(Network::Mastercard)),
            ("2720", Some(Network::Mastercard)),
            ("2220", None),
            ("2721", None),
            ("22", None), // too short to tell Mir from Mastercard
            ("2200", Some(Network::Mir)),
            ("2204", Some(Network::Mir)),
            ("2205", None),
            ("34", Some(Network::Amex)),
            ("37", Some(Network::Amex)),
            ("35", None),
            ("300", Some(Network::DinersClub)),
            ("305", Some(Network::DinersClub)),
            ("306", None),
            ("3095", Some(Network::DinersClub)),
            ("3096", None),
            ("36", Some(Network::DinersClub)),
            ("38", Some(Network::DinersClub)),
            ("39", Some(Network::DinersClub)),
            ("3527", None),
            ("3528", Some(Network::Jcb)),
            ("3589", Some(Network::Jcb)),
            ("3590", None),
            ("6011", Some(Network::Discover)), // beats 60 RuPay
            ("6012", Some(Network::RuPay)),
            ("60", Some(Network::RuPay)),
            ("644", Some(Network::Discover)),
            ("649", Some(Network::Discover)),
            ("643", None),
            ("65", Some(Network::Discover)),
            ("6520", Some(Network::Discover)),
            ("6521", Some(Network::RuPay)), // beats 65 Discover
            ("6522", Some(Network::RuPay)),
            ("6523", Some(Network::Discover)),
            ("62", Some(Network::UnionPay)),
            ("622126", Some(Network::UnionPay)), // co-branded: issuer scheme wins
            ("622925", Some(Network::UnionPay)),
            ("81", Some(Network::UnionPay)),
            ("5018", Some(Network::Maestro)),
            ("5020", Some(Network::Maestro)),
            ("5038", Some(Network::Maestro)),
            ("5893", Some(Network::Maestro)),
            ("6304", Some(Network::Maestro)),
            ("6759", Some(Network::Maestro)),
            ("6761", Some(Network::Maestro)),
            ("6763", Some(Network::Maestro)),
            ("6760", None),
            ("508", Some(Network::RuPay)),
            ("5080", Some(Network::RuPay)),
            ("1", None),
            ("", None),
            ("4x", None),
            ("-4", None),
        ];
        for &(input, expect) in cases {
            assert_eq!(
                identify_network(input),
                expect,
                "identify_network({input:?})"
            );
        }
    }

    #[test]
    fn iin_table_has_no_same_length_conflicts() {
        for (i, &(low, high, network)) in IIN_RANGES.iter().enumerate() {
            assert_eq!(low.len(), high.len(), "{low}-{high}");
            assert!(is_digits(low) && low <= high, "{low}-{high}");
            for &(other_low, other_high, other) in &IIN_RANGES[i + 1..] {
                let overlap =
                    other_low.len() == low.len() && other_low <= high && low <= other_high;
                assert!(
                    !overlap || other == network,
                    "{low}-{high} {network:?} overlaps {other_low}-{other_high} {other:?}"
                );
            }
        }
    }

    #[test]
    fn luhn_valid_table() {
        let cases: &[(&str, bool)] = &[
            ("0", true),
            ("18", true),
            ("79927398713", true),
            ("79927398710", false),
            ("4242424242424242", true),
            ("4242424242424243", false),
            ("", false),
            ("4242 4242 4242 4242", false),
            ("42a2", false),
            ("-18", false),
        ];
        for &(input, expect) in cases {
            assert_eq!(luhn_valid(input), expect, "luhn_valid({input:?})");
        }
    }

    #[test]
    fn luhn_check_digit_table() {
        let cases: &[(&str, Option<u8>)] = &[
            ("", Some(0)),
            ("7992739871", Some(3)),
            ("424242424242424", Some(2)),
            ("555555555555444", Some(4)),
            ("37828224631000", Some(5)),
            ("620000000000000", Some(5)),
            ("12a", None),
            ("12 3", None),
        ];
        for &(input, expect) in cases {
            assert_eq!(
                luhn_check_digit(input),
                expect,
                "luhn_check_digit({input:?})"
            );
        }
    }

    #[test]
    fn luhn_check_digit_always_completes_a_valid_number() {
        let mut partial = String::new();
        for i in 0..40_u32 {
            partial.push(char::from(b'0' + ((i * 7 + 3) % 10) as u8));
            let digit = luhn_check_digit(&partial).unwrap();
            let complete = format!("{partial}{digit}");
            assert!(luhn_valid(&complete), "{complete}");
            for wrong in (0..10).filter(|d| *d != digit) {
                assert!(!luhn_valid(&format!("{partial}{wrong}")));
            }
        }
    }

    #[test]
    fn pan_accessors() {
        let pan = Pan::parse("4242 4242 4242 4242").unwrap();
        assert_eq!(pan.digits(), "4242424242424242");
        assert_eq!(pan.last4(), "4242");
        assert_eq!(pan.masked(), "\u{2022}\u{2022}\u{2022}\u{2022} 4242");
        assert_eq!(pan.masked(), "•••• 4242");
        assert_eq!(pan.bin(6), "424242");
        assert_eq!(pan.bin(0), "");
        assert_eq!(pan.bin(8), "42424242");
        assert_eq!(pan.bin(19), "42424242", "clamped to BIN_LENGTH_MAX");
        let short = Pan::parse("501800000009").unwrap();
        assert_eq!(short.bin(100), "50180000");
    }

    #[test]
    fn pan_debug_never_shows_digits() {
        let pan = Pan::parse("5555555555554444").unwrap();
        let debug = format!("{pan:?}");
        let pretty = format!("{:#?}", Some(&pan));
        assert_eq!(debug, "Pan(•••• 4444)");
        for shown in [debug, pretty] {
            assert!(!shown.contains("555555"), "{shown}");
            assert!(!shown.contains(pan.bin(6)), "{shown}");
        }
        // Errors carry no input either.
        let error = Pan::parse("5555555555554445").unwrap_err();
        assert!(!format!("{error} {error:?}").contains("5555"));
    }

    #[test]
    fn network_lengths_are_within_pan_bounds() {
        for network in Network::ALL {
            let lengths = network.valid_lengths();
            assert!(!lengths.is_empty());
            assert!(lengths.windows(2).all(|w| w[0] < w[1]), "{network:?}");
            for &length in lengths {
                assert!((PAN_LENGTH_MIN..=PAN_LENGTH_MAX).contains(&usize::from(length)));
            }
        }
    }

    #[test]
    fn network_code_matches_serde_name() {
        for network in Network::ALL {
            let de: StrDeserializer<'_, ValueError> = network.code().into_deserializer();
            assert_eq!(Network::deserialize(de), Ok(network));
            assert!(!network.name().is_empty());
        }
        let de: StrDeserializer<'_, ValueError> = "Visa".into_deserializer();
        assert!(Network::deserialize(de).is_err());
    }

    #[test]
    fn every_network_is_reachable_from_the_table() {
        for network in Network::ALL {
            assert!(
                IIN_RANGES
                    .iter()
                    .any(|&(low, _, n)| n == network && identify_network(low) == Some(network)),
                "{network:?}"
            );
        }
    }

    #[test]
    fn error_codes_are_stable() {
        let cases = [
            (CardError::PanInvalid, "card_number_invalid"),
            (CardError::PanLengthInvalid, "card_number_length_invalid"),
            (CardError::LuhnFailed, "card_number_luhn_failed"),
        ];
        for (error, code) in cases {
            assert_eq!(error.code(), code);
        }
    }
}
