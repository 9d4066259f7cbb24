//! Money: supported currencies and amounts in integer minor units.
//!
//! An amount is always an `i64` count of the currency's minor unit (cents for
//! USD, yen for JPY, fils for KWD). Text in major units ("12.34") is converted
//! at the boundary with integer arithmetic only, so no amount ever passes
//! through a float.
//!
//! This module is deliberately not a currency-conversion or rounding library:
//! there are no exchange rates, no arithmetic across currencies, and no
//! rounding modes. Input with more precision than the currency has is
//! rejected rather than rounded, because silently dropping value is worse than
//! refusing a request.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Largest amount one movement may carry, in minor units (10^15).
///
/// Far above any real payment, yet small enough that sums of many movements
/// stay well inside `i64`, so ledger totals cannot overflow in practice.
pub const AMOUNT_MINOR_MAX: i64 = 1_000_000_000_000_000;

/// Why money text or an amount was refused. Closed: callers match on it and
/// clients see [`MoneyError::code`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("currency is not a supported ISO 4217 code")]
    CurrencyUnknown,
    #[error("amount is not a plain decimal number")]
    AmountInvalid,
    #[error("amount must be greater than zero")]
    AmountNotPositive,
    #[error("amount has more than {fraction_digits_max} fractional digits for this currency")]
    AmountPrecisionTooHigh { fraction_digits_max: u32 },
    #[error("amount exceeds the maximum of {AMOUNT_MINOR_MAX} minor units")]
    AmountTooLarge,
}

impl MoneyError {
    /// Stable machine-readable code; part of the public API contract.
    pub fn code(&self) -> &'static str {
        match self {
            MoneyError::CurrencyUnknown => "currency_unknown",
            MoneyError::AmountInvalid => "amount_invalid",
            MoneyError::AmountNotPositive => "amount_not_positive",
            MoneyError::AmountPrecisionTooHigh { .. } => "amount_precision_too_high",
            MoneyError::AmountTooLarge => "amount_too_large",
        }
    }
}

/// A currency we support. Only obtainable from the table below, so holding a
/// `Currency` proves the code is known and carries its exponent with it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    code: &'static str,
    exponent: u8,
}

const fn currency(code: &'static str, exponent: u8) -> Currency {
    Currency { code, exponent }
}

/// ISO 4217 currencies we accept, with their minor-unit exponent. Adding a
/// currency is a deliberate act: every downstream bank must be able to settle
/// it, so the list is closed rather than the full ISO table.
static CURRENCIES_SUPPORTED: [Currency; 41] = [
    currency("USD", 2),
    currency("EUR", 2),
    currency("GBP", 2),
    currency("CHF", 2),
    currency("SEK", 2),
    currency("NOK", 2),
    currency("DKK", 2),
    currency("PLN", 2),
    currency("CZK", 2),
    currency("HUF", 2),
    currency("JPY", 0),
    currency("KRW", 0),
    currency("CNY", 2),
    currency("HKD", 2),
    currency("SGD", 2),
    currency("INR", 2),
    currency("BRL", 2),
    currency("MXN", 2),
    currency("CAD", 2),
    currency("AUD", 2),
    currency("NZD", 2),
    currency("ZAR", 2),
    currency("THB", 2),
    currency("RUB", 2),
    currency("TRY", 2),
    currency("AED", 2),
    currency("SAR", 2),
    currency("KWD", 3),
    currency("BHD", 3),
    currency("JOD", 3),
    currency("OMR", 3),
    currency("TND", 3),
    currency("CLP", 0),
    currency("ISK", 0),
    currency("VND", 0),
    currency("IDR", 2),
    currency("PHP", 2),
    currency("MYR", 2),
    currency("KES", 2),
    currency("NGN", 2),
    currency("EGP", 2),
];

impl Currency {
    pub const USD: Currency = currency("USD", 2);
    pub const EUR: Currency = currency("EUR", 2);
    pub const GBP: Currency = currency("GBP", 2);
    pub const JPY: Currency = currency("JPY", 0);
    pub const KWD: Currency = currency("KWD", 3);

    /// Exact match on the uppercase three-letter code. Lowercase is refused
    /// rather than normalised so that one currency has exactly one spelling
    /// on the wire.
    pub fn parse(text: &str) -> Result<Currency, MoneyError> {
        CURRENCIES_SUPPORTED
            .iter()
            .find(|c| c.code == text)
            .copied()
            .ok_or(MoneyError::CurrencyUnknown)
    }

    /// Every supported currency, in table order.
    pub fn supported() -> &'static [Currency] {
        &CURRENCIES_SUPPORTED
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Number of decimal digits between the major and minor unit
    /// (2 for USD, 0 for JPY, 3 for KWD).
    pub fn minor_unit_exponent(&self) -> u32 {
        u32::from(self.exponent)
    }

    /// Minor units in one major unit: 10^exponent. Exponents are at most 3.
    fn minor_per_major(&self) -> i64 {
        10_i64.pow(self.minor_unit_exponent())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.code)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

impl FromStr for Currency {
    type Err = MoneyError;

    fn from_str(text: &str) -> Result<Currency, MoneyError> {
        Currency::parse(text)
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code)
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Currency, D::Error> {
        deserializer.deserialize_str(CurrencyVisitor)
    }
}

struct CurrencyVisitor;

impl Visitor<'_> for CurrencyVisitor {
    type Value = Currency;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a supported uppercase ISO 4217 currency code")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Currency, E> {
        Currency::parse(text).map_err(|_| E::invalid_value(de::Unexpected::Str(text), &self))
    }
}

/// Converts major-unit text ("12.34") to minor units of `currency`.
///
/// Accepted grammar: `-?DIGITS(.DIGITS)?`. No whitespace, no `+`, no
/// thousands separators, no exponent, no bare "." edges: anything looser
/// invites locale ambiguity ("1,000" vs "1,5"). The sign is part of the
/// grammar only so that "-5" reports `AmountNotPositive` instead of the less
/// helpful `AmountInvalid`.
///
/// Checks run syntax, then precision, then value, so each input gets the most
/// specific error that applies.
pub fn parse_major(text: &str, currency: Currency) -> Result<i64, MoneyError> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (unsigned, ""),
    };
    let has_point = unsigned.contains('.');
    if !is_digits(whole) || (has_point && !is_digits(fraction)) {
        return Err(MoneyError::AmountInvalid);
    }

    let exponent = currency.minor_unit_exponent();
    // Exponents are at most 3, so the cast cannot truncate.
    let fraction_digits = fraction.len() as u32;
    if fraction_digits > exponent {
        return Err(MoneyError::AmountPrecisionTooHigh {
            fraction_digits_max: exponent,
        });
    }

    // `None` means the value overflowed i64, which is certainly too large;
    // the sign check still comes first so "-99999999999999999999" reports
    // the sign problem.
    let amount_minor = digits_value(whole)
        .and_then(|w| w.checked_mul(currency.minor_per_major()))
        .and_then(|w| {
            let scale = 10_i64.pow(exponent - fraction_digits);
            digits_value(fraction)
                .and_then(|f| f.checked_mul(scale))
                .and_then(|f| w.checked_add(f))
        });
    if negative || amount_minor == Some(0) {
        return Err(MoneyError::AmountNotPositive);
    }
    match amount_minor {
        Some(amount) if amount <= AMOUNT_MINOR_MAX => Ok(amount),
        _ => Err(MoneyError::AmountTooLarge),
    }
}

/// Renders minor units as major-unit text with exactly the currency's number
/// of fractional digits. Total over all `i64`, including negatives (ledger
/// balances can be negative), so display code never has to handle an error.
pub fn format_major(amount_minor: i64, currency: Currency) -> String {
    let sign = if amount_minor < 0 { "-" } else { "" };
    // unsigned_abs keeps i64::MIN representable.
    let magnitude = amount_minor.unsigned_abs();
    let exponent = currency.minor_unit_exponent();
    if exponent == 0 {
        return format!("{sign}{magnitude}");
    }
    let scale = 10_u64.pow(exponent);
    let whole = magnitude / scale;
    let fraction = magnitude % scale;
    let width = exponent as usize;
    format!("{sign}{whole}.{fraction:0width$}")
}

/// An amount with its currency code for people, `12.34 USD`; a code we do not know shows the
/// minor units as they are.
pub fn display(amount_minor: i64, code: &str) -> String {
    match Currency::parse(code) {
        Ok(currency) => format!(
            "{} {}",
            format_major(amount_minor, currency),
            currency.code()
        ),
        Err(_) => format!("{amount_minor} {code}"),
    }
}

/// Checks an amount already in minor units (e.g. from a JSON integer field).
pub fn validate_amount_minor(amount_minor: i64) -> Result<(), MoneyError> {
    if amount_minor <= 0 {
        Err(MoneyError::AmountNotPositive)
    } else if amount_minor > AMOUNT_MINOR_MAX {
        Err(MoneyError::AmountTooLarge)
    } else {
        Ok(())
    }
}

fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// Value of an ASCII digit string (empty is 0), or `None` on overflow.
/// Checked arithmetic means arbitrarily many leading zeros are harmless.
fn digits_value(text: &str) -> Option<i64> {
    text.bytes().try_fold(0_i64, |acc, b| {
        acc.checked_mul(10)?.checked_add(i64::from(b - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::IntoDeserializer;
    use serde::de::value::{Error as ValueError, StrDeserializer};

    fn cur(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    /// Amount text and currency code.
    type Input = (&'static str, &'static str);

    fn check(input: Input, expect: Result<i64, &str>) {
        let (text, code) = input;
        let got = parse_major(text, cur(code)).map_err(|e| e.code());
        assert_eq!(got, expect, "parse_major({text:?}, {code})");
    }

    #[test]
    fn parse_major_table() {
        let max_usd = "10000000000000.00"; // 10^15 cents exactly
        let over_usd = "10000000000000.01";
        let cases: &[(Input, Result<i64, &str>)] = &[
            (("12.34", "USD"), Ok(1234)),
            (("12", "USD"), Ok(1200)),
            (("0.5", "USD"), Ok(50)),
            (("0.05", "USD"), Ok(5)),
            (("0.01", "USD"), Ok(1)),
            (("007.10", "USD"), Ok(710)),
            (("100", "JPY"), Ok(100)),
            (("1.234", "KWD"), Ok(1234)),
            (("1.2", "KWD"), Ok(1200)),
            ((max_usd, "USD"), Ok(AMOUNT_MINOR_MAX)),
            (("1000000000000000", "JPY"), Ok(AMOUNT_MINOR_MAX)),
            (("100.5", "JPY"), Err("amount_precision_too_high")),
            (("100.0", "JPY"), Err("amount_precision_too_high")),
            (("12.345", "USD"), Err("amount_precision_too_high")),
            (("12.340", "USD"), Err("amount_precision_too_high")),
            (("1.2345", "KWD"), Err("amount_precision_too_high")),
            (("-1.234", "USD"), Err("amount_precision_too_high")),
            (("", "USD"), Err("amount_invalid")),
            (("-", "USD"), Err("amount_invalid")),
            ((".", "USD"), Err("amount_invalid")),
            ((".5", "USD"), Err("amount_invalid")),
            (("5.", "USD"), Err("amount_invalid")),
            (("1.2.3", "USD"), Err("amount_invalid")),
            (("+5", "USD"), Err("amount_invalid")),
            ((" 5", "USD"), Err("amount_invalid")),
            (("5 ", "USD"), Err("amount_invalid")),
            (("1,000", "USD"), Err("amount_invalid")),
            (("1e3", "USD"), Err("amount_invalid")),
            (("1E3", "USD"), Err("amount_invalid")),
            (("abc", "USD"), Err("amount_invalid")),
            (("--5", "USD"), Err("amount_invalid")),
            (("١٢", "USD"), Err("amount_invalid")), // non-ASCII digits
            (("NaN", "USD"), Err("amount_invalid")),
            (("0", "USD"), Err("amount_not_positive")),
            (("0.00", "USD"), Err("amount_not_positive")),
            (("-0", "USD"), Err("amount_not_positive")),
            (("-5", "USD"), Err("amount_not_positive")),
            (("-12.34", "USD"), Err("amount_not_positive")),
            (
                ("-99999999999999999999999", "USD"),
                Err("amount_not_positive"),
            ),
            ((over_usd, "USD"), Err("amount_too_large")),
            (("1000000000000001", "JPY"), Err("amount_too_large")),
            (("9223372036854775807", "JPY"), Err("amount_too_large")),
            (("9223372036854775808", "JPY"), Err("amount_too_large")),
            (("99999999999999999999999", "USD"), Err("amount_too_large")),
            (("92233720368547758.07", "USD"), Err("amount_too_large")),
        ];
        for (input, expect) in cases {
            check(*input, *expect);
        }
    }

    #[test]
    fn format_major_table() {
        let cases: &[(i64, &str, &str)] = &[
            (1234, "USD", "12.34"),
            (-5, "USD", "-0.05"),
            (0, "USD", "0.00"),
            (100, "USD", "1.00"),
            (100, "JPY", "100"),
            (-100, "JPY", "-100"),
            (1234, "KWD", "1.234"),
            (5, "KWD", "0.005"),
            (AMOUNT_MINOR_MAX, "USD", "10000000000000.00"),
            (i64::MIN, "USD", "-92233720368547758.08"),
            (i64::MAX, "USD", "92233720368547758.07"),
        ];
        for &(amount, code, expect) in cases {
            assert_eq!(format_major(amount, cur(code)), expect, "{amount} {code}");
        }
    }

    #[test]
    fn format_then_parse_round_trips() {
        for currency in Currency::supported() {
            for amount in [1, 7, 10, 99, 100, 12_345, 1_000_001, AMOUNT_MINOR_MAX] {
                let text = format_major(amount, *currency);
                assert_eq!(
                    parse_major(&text, *currency),
                    Ok(amount),
                    "{text} {currency}"
                );
            }
        }
    }

    #[test]
    fn validate_amount_minor_table() {
        let cases: &[(i64, Result<(), &str>)] = &[
            (1, Ok(())),
            (AMOUNT_MINOR_MAX, Ok(())),
            (0, Err("amount_not_positive")),
            (-1, Err("amount_not_positive")),
            (i64::MIN, Err("amount_not_positive")),
            (AMOUNT_MINOR_MAX + 1, Err("amount_too_large")),
            (i64::MAX, Err("amount_too_large")),
        ];
        for &(amount, expect) in cases {
            assert_eq!(
                validate_amount_minor(amount).map_err(|e| e.code()),
                expect,
                "{amount}"
            );
        }
    }

    #[test]
    fn currency_parse_table() {
        let cases: &[(&str, Option<(&str, u32)>)] = &[
            ("USD", Some(("USD", 2))),
            ("EUR", Some(("EUR", 2))),
            ("JPY", Some(("JPY", 0))),
            ("KRW", Some(("KRW", 0))),
            ("CLP", Some(("CLP", 0))),
            ("ISK", Some(("ISK", 0))),
            ("VND", Some(("VND", 0))),
            ("KWD", Some(("KWD", 3))),
            ("BHD", Some(("BHD", 3))),
            ("JOD", Some(("JOD", 3))),
            ("OMR", Some(("OMR", 3))),
            ("TND", Some(("TND", 3))),
            ("EGP", Some(("EGP", 2))),
            ("usd", None),
            ("Usd", None),
            ("US", None),
            ("USDD", None),
            (" USD", None),
            ("", None),
            ("XXX", None),
            ("XAU", None),
        ];
        for &(text, expect) in cases {
            let got = Currency::parse(text).map(|c| (c.code(), c.minor_unit_exponent()));
            match expect {
                Some(want) => assert_eq!(got, Ok(want), "{text:?}"),
                None => assert_eq!(got, Err(MoneyError::CurrencyUnknown), "{text:?}"),
            }
        }
    }

    #[test]
    fn currency_table_is_well_formed() {
        let table = Currency::supported();
        assert_eq!(table.len(), 41);
        for (i, c) in table.iter().enumerate() {
            assert!(c.code.len() == 3 && c.code.bytes().all(|b| b.is_ascii_uppercase()));
            assert!(c.exponent <= 3, "{c}: exponent bounds minor_per_major");
            assert!(
                table[..i].iter().all(|d| d.code != c.code),
                "{c} listed twice"
            );
            assert_eq!(Currency::parse(c.code), Ok(*c));
        }
        for named in [
            Currency::USD,
            Currency::EUR,
            Currency::GBP,
            Currency::JPY,
            Currency::KWD,
        ] {
            assert_eq!(
                Currency::parse(named.code()),
                Ok(named),
                "constant drifted from table"
            );
        }
    }

    #[test]
    fn currency_deserializes_only_known_codes() {
        let de = |text: &'static str| -> Result<Currency, ValueError> {
            let d: StrDeserializer<'_, ValueError> = text.into_deserializer();
            Currency::deserialize(d)
        };
        assert_eq!(de("EUR").unwrap(), Currency::EUR);
        assert!(de("eur").is_err());
        assert!(de("ZZZ").is_err());
        assert!(de("").is_err());
        let owned: serde::de::value::StringDeserializer<ValueError> =
            String::from("KWD").into_deserializer();
        assert_eq!(Currency::deserialize(owned).unwrap(), Currency::KWD);
    }

    #[test]
    fn currency_displays_as_code() {
        assert_eq!(Currency::USD.to_string(), "USD");
        assert_eq!(format!("{:?}", Currency::JPY), "Currency(JPY)");
        assert_eq!("GBP".parse::<Currency>(), Ok(Currency::GBP));
    }

    #[test]
    fn error_codes_are_stable() {
        let cases = [
            (MoneyError::CurrencyUnknown, "currency_unknown"),
            (MoneyError::AmountInvalid, "amount_invalid"),
            (MoneyError::AmountNotPositive, "amount_not_positive"),
            (
                MoneyError::AmountPrecisionTooHigh {
                    fraction_digits_max: 2,
                },
                "amount_precision_too_high",
            ),
            (MoneyError::AmountTooLarge, "amount_too_large"),
        ];
        for (error, code) in cases {
            assert_eq!(error.code(), code);
        }
    }

    #[test]
    fn display_shows_the_code() {
        assert_eq!(display(1234, "USD"), "12.34 USD");
        assert_eq!(display(1234, "JPY"), "1234 JPY");
        assert_eq!(display(-5, "KWD"), "-0.005 KWD");
        assert_eq!(display(1234, "XYZ"), "1234 XYZ");
    }
}
