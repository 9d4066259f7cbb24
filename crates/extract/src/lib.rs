//! Document extraction: from what a camera saw to typed identity fields.
//!
//! Start at [`document::extract`]: a photo is decoded within limits ([`photo`]), its barcodes are
//! read ([`barcode`]) and a licence's payload parsed ([`aamva`]); text is read by OCR ([`ocr`]),
//! a machine-readable zone parsed from it ([`mrz`]) and a card's fields found ([`card`]); a
//! document with neither zone nor barcode is read from its labelled printed fields ([`viz`]).
//! Every field carries a confidence and its [`Source`].
//!
//! Deliberately not here: matching an identity against a bank's records (`scanpay-core`), I/O.

use scanpay_core::matching::masked_number;
use serde::{Deserialize, Serialize};

pub mod aamva;
pub mod barcode;
pub mod card;
pub mod document;
pub mod mrz;
pub mod ocr;
pub mod photo;
pub mod viz;

/// Where a field was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Mrz,
    Barcode,
    Ocr,
}

impl Source {
    /// The same word as the serialized form: `mrz`, `barcode`, `ocr`.
    pub fn code(self) -> &'static str {
        match self {
            Source::Mrz => "mrz",
            Source::Barcode => "barcode",
            Source::Ocr => "ocr",
        }
    }
}

/// A calendar date, as documents print it (no time zone).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

impl Date {
    /// A valid Gregorian date, or `None`.
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        let leap =
            (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        (day >= 1 && day <= days).then_some(Date { year, month, day })
    }

    /// ISO 8601: `YYYY-MM-DD`.
    pub fn iso(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.iso())
    }
}

/// One extracted value with how sure we are of it (0.0–1.0) and where it came from. A value whose
/// check digit passed has confidence 1.0.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Field<T> {
    pub value: T,
    pub confidence: f32,
    pub source: Source,
}

impl<T> Field<T> {
    pub fn new(value: T, confidence: f32, source: Source) -> Field<T> {
        Field {
            value,
            confidence,
            source,
        }
    }
}

/// What an identity document says about its holder. Absent fields were not on the document or
/// could not be read.
#[derive(Clone, Default, PartialEq, Serialize)]
pub struct Identity {
    /// `passport`, `id_card`, `visa` or `driver_license`.
    pub document_type: Option<Field<String>>,
    pub document_number: Option<Field<String>>,
    /// ISO 3166-1 alpha-3 (or an ICAO code such as `UTO`, `D`).
    pub issuing_country: Option<Field<String>>,
    pub surname: Option<Field<String>>,
    pub given_names: Option<Field<String>>,
    pub nationality: Option<Field<String>>,
    pub birth_date: Option<Field<Date>>,
    /// `M`, `F` or `X`.
    pub sex: Option<Field<String>>,
    pub expiry_date: Option<Field<Date>>,
    pub address: Option<Field<String>>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let number = self
            .document_number
            .as_ref()
            .map(|n| masked_number(&n.value));
        f.debug_struct("Identity")
            .field("document_type", &self.document_type)
            .field("document_number", &number)
            .field("issuing_country", &self.issuing_country)
            .field("surname", &self.surname)
            .field("given_names", &self.given_names)
            .field("nationality", &self.nationality)
            .field("birth_date", &self.birth_date)
            .field("sex", &self.sex)
            .field("expiry_date", &self.expiry_date)
            .field("address", &self.address)
            .finish()
    }
}

impl Identity {
    /// Every field by name with its value as text (`Debug`, `-` when absent), for comparing two
    /// readings field by field (benchmarks, tests).
    pub fn values(&self) -> [(&'static str, String); 10] {
        fn text<T: std::fmt::Debug>(field: &Option<Field<T>>) -> String {
            field
                .as_ref()
                .map_or_else(|| "-".to_string(), |f| format!("{:?}", f.value))
        }
        [
            ("document_type", text(&self.document_type)),
            ("document_number", text(&self.document_number)),
            ("issuing_country", text(&self.issuing_country)),
            ("surname", text(&self.surname)),
            ("given_names", text(&self.given_names)),
            ("nationality", text(&self.nationality)),
            ("birth_date", text(&self.birth_date)),
            ("sex", text(&self.sex)),
            ("expiry_date", text(&self.expiry_date)),
            ("address", text(&self.address)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(
            Date::new(2024, 2, 29).map(|d| d.iso()),
            Some("2024-02-29".to_string())
        );
        assert_eq!(Date::new(2023, 2, 29), None);
        assert_eq!(Date::new(1900, 2, 29), None);
        assert!(Date::new(2000, 2, 29).is_some());
        assert_eq!(Date::new(2024, 13, 1), None);
        assert_eq!(Date::new(2024, 4, 31), None);
    }
}
