//! Does a scanned identity belong to the customer a bank saved? (seed 000, claim 6)
//!
//! Scans come from OCR and cameras, so matching is approximate where errors are likely and exact
//! where a near value means another person:
//!
//! - **Names**: normalised (upper case, diacritics folded, punctuation dropped, tokens sorted so
//!   that "ERIKSSON ANNA MARIA" and "Anna-Maria Eriksson" compare equal), then Jaro–Winkler.
//!   ≥ [`NAME_MATCH_MIN`] matches; ≥ [`NAME_NEAR_MIN`] is a near miss; below is a mismatch.
//! - **Document number**: exact after folding the characters OCR confuses (O/0, I/1/L, S/5, B/8,
//!   Z/2, G/6) on both sides; one edit away is a near miss (ask the user to check it).
//! - **Birth date**: exact; one wrong digit or day and month swapped is a near miss.
//!
//! Any mismatch rejects; otherwise any near miss asks the user to correct the named fields.
//!
//! Deliberately not here: where the saved identity comes from (the hub asks the bank).

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Names this similar (Jaro–Winkler on normalised names) or more are the same person's.
pub const NAME_MATCH_MIN: f64 = 0.94;
/// Names this similar but below [`NAME_MATCH_MIN`] are a near miss: ask the user to check.
pub const NAME_NEAR_MIN: f64 = 0.80;

/// What the scan says, or what the bank saved. Dates are `YYYY-MM-DD`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct IdentityToMatch {
    pub full_name: String,
    pub document_number: String,
    pub birth_date: String,
}

/// Personal data: the document number masked, nothing else.
impl std::fmt::Debug for IdentityToMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityToMatch")
            .field("document_number", &masked_number(&self.document_number))
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldMatch {
    Match,
    NearMiss,
    Mismatch,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatchReport {
    pub verdict: FieldMatch,
    pub full_name: FieldMatch,
    /// Jaro–Winkler similarity of the normalised names, 0.0–1.0.
    pub name_similarity: f64,
    pub document_number: FieldMatch,
    pub birth_date: FieldMatch,
}

/// Mismatch over near miss over match.
pub fn rank(m: FieldMatch) -> u8 {
    match m {
        FieldMatch::Match => 0,
        FieldMatch::NearMiss => 1,
        FieldMatch::Mismatch => 2,
    }
}

impl MatchReport {
    /// Both reports at once: each field (and the verdict) the worse of the two, the name
    /// similarity the lower. A document checked against two records must pass both, and the
    /// user is asked about every field either disagrees on.
    pub fn merge(self, other: &MatchReport) -> MatchReport {
        let worse = |a: FieldMatch, b: FieldMatch| if rank(b) > rank(a) { b } else { a };
        MatchReport {
            verdict: worse(self.verdict, other.verdict),
            full_name: worse(self.full_name, other.full_name),
            name_similarity: self.name_similarity.min(other.name_similarity),
            document_number: worse(self.document_number, other.document_number),
            birth_date: worse(self.birth_date, other.birth_date),
        }
    }

    /// The fields the user should look at again (near misses and mismatches).
    pub fn fields_to_check(&self) -> Vec<&'static str> {
        let mut fields = Vec::new();
        for (name, result) in [
            ("full_name", self.full_name),
            ("document_number", self.document_number),
            ("birth_date", self.birth_date),
        ] {
            if result != FieldMatch::Match {
                fields.push(name);
            }
        }
        fields
    }
}

pub fn compare(scanned: &IdentityToMatch, saved: &IdentityToMatch) -> MatchReport {
    let (a, b) = (
        normalise_name(&scanned.full_name),
        normalise_name(&saved.full_name),
    );
    // A name with no Latin letter (another script) cannot be compared: a mismatch, not the 1.0
    // two empty strings score.
    let name_similarity = if a.is_empty() || b.is_empty() {
        0.0
    } else {
        strsim::jaro_winkler(&a, &b)
    };
    let full_name = if name_similarity >= NAME_MATCH_MIN {
        FieldMatch::Match
    } else if name_similarity >= NAME_NEAR_MIN {
        FieldMatch::NearMiss
    } else {
        FieldMatch::Mismatch
    };
    let document_number =
        compare_document_numbers(&scanned.document_number, &saved.document_number);
    let birth_date = compare_dates(&scanned.birth_date, &saved.birth_date);
    let results = [full_name, document_number, birth_date];
    let verdict = if results.contains(&FieldMatch::Mismatch) {
        FieldMatch::Mismatch
    } else if results.contains(&FieldMatch::NearMiss) {
        FieldMatch::NearMiss
    } else {
        FieldMatch::Match
    };
    MatchReport {
        verdict,
        full_name,
        name_similarity,
        document_number,
        birth_date,
    }
}

/// Upper case, Latin diacritics folded, anything but letters dropped, tokens sorted.
pub fn normalise_name(name: &str) -> String {
    let mut tokens: Vec<String> = name
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '-' | '<' | '.' | '\''))
        .map(|token| {
            token
                .chars()
                .flat_map(fold_char)
                .filter(|c| c.is_ascii_alphabetic())
                .map(|c| c.to_ascii_uppercase())
                .collect::<String>()
        })
        .filter(|t| !t.is_empty())
        .collect();
    tokens.sort_unstable();
    tokens.join(" ")
}

/// A letter without its diacritics (`É` → `E`, `Ș` → `S`, `ầ` → `a`: its compatibility
/// decomposition without combining marks), the letters that do not decompose to their base
/// (`Ø`, `Ł`, `Đ`, `ı`) and the ligatures a passport spells out (`ß` → `SS`); any other
/// character as it is.
pub fn fold_char(c: char) -> Vec<char> {
    let spelled: &[char] = match c {
        'ß' => &['S', 'S'],
        'Æ' | 'æ' => &['A', 'E'],
        'Œ' | 'œ' => &['O', 'E'],
        'Þ' | 'þ' => &['T', 'H'],
        'Ø' | 'ø' => &['O'],
        'Ł' | 'ł' => &['L'],
        'Đ' | 'đ' => &['D'],
        'ı' => &['I'],
        _ if c.is_ascii() => return vec![c],
        _ => {
            return std::iter::once(c)
                .nfkd()
                .filter(|d| !is_combining_mark(*d))
                .collect();
        }
    };
    spelled.to_vec()
}

/// Maps the characters OCR confuses to one representative, so that both sides compare equal.
pub fn fold_confusions(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| match c.to_ascii_uppercase() {
            'O' | 'Q' | 'D' => '0',
            'I' | 'L' => '1',
            'S' => '5',
            'B' => '8',
            'Z' => '2',
            'G' => '6',
            other => other,
        })
        .collect()
}

fn compare_document_numbers(scanned: &str, saved: &str) -> FieldMatch {
    let (a, b) = (fold_confusions(scanned), fold_confusions(saved));
    if a.is_empty() || b.is_empty() {
        return FieldMatch::Mismatch;
    }
    match strsim::levenshtein(&a, &b) {
        0 => FieldMatch::Match,
        1 => FieldMatch::NearMiss,
        _ => FieldMatch::Mismatch,
    }
}

fn compare_dates(scanned: &str, saved: &str) -> FieldMatch {
    if scanned == saved && !scanned.is_empty() {
        return FieldMatch::Match;
    }
    let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
    let (a, b) = (digits(scanned), digits(saved));
    if a.len() != 8 || b.len() != 8 {
        return FieldMatch::Mismatch;
    }
    let differing = a.chars().zip(b.chars()).filter(|(x, y)| x != y).count();
    if differing == 0 {
        // The same day written another way (`+1974-08-12`, `1974/08/12`).
        return FieldMatch::Match;
    }
    // YYYYMMDD with month and day swapped: a classic of US versus European order.
    let swapped = format!("{}{}{}", &a[..4], &a[6..8], &a[4..6]) == b;
    if differing == 1 || swapped {
        FieldMatch::NearMiss
    } else {
        FieldMatch::Mismatch
    }
}

/// A document number as views and logs show it: its last three characters, the rest dots
/// (at least three).
pub fn masked_number(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    let shown = chars.len().min(3);
    let hidden = chars.len() - shown;
    let tail: String = chars[hidden..].iter().collect();
    format!("{}{tail}", "•".repeat(hidden.max(3)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_shows_its_last_three_characters() {
        assert_eq!(masked_number("L898902C3"), "••••••2C3");
        assert_eq!(masked_number("AB"), "•••AB");
        assert_eq!(masked_number(""), "•••");
    }

    #[test]
    fn merged_reports_keep_every_field_either_disagrees_on() {
        let who = |name: &str, number: &str, birth: &str| IdentityToMatch {
            full_name: name.to_string(),
            document_number: number.to_string(),
            birth_date: birth.to_string(),
        };
        let scanned = who("SAMPLE MICHAEL JOHN", "T64235789", "1986-06-06");
        let bank = compare(
            &scanned,
            &who("SAMPLE MICHAEL JOHN", "T64235789", "1986-06-08"),
        );
        let wallet = compare(
            &scanned,
            &who("SIMPLE MIKAEL JON", "T64235789", "1986-06-06"),
        );
        assert_eq!(bank.fields_to_check(), ["birth_date"]);
        let both = bank.merge(&wallet);
        assert_eq!(both.verdict, FieldMatch::NearMiss);
        assert!(both.fields_to_check().contains(&"birth_date"));
        assert!(both.fields_to_check().contains(&"full_name"), "{both:?}");
        assert_eq!(wallet.full_name, FieldMatch::NearMiss, "{wallet:?}");
        assert_eq!(both.name_similarity, wallet.name_similarity);
    }

    fn identity(name: &str, number: &str, birth: &str) -> IdentityToMatch {
        IdentityToMatch {
            full_name: name.to_string(),
            document_number: number.to_string(),
            birth_date: birth.to_string(),
        }
    }

    fn check(
        scanned: (&str, &str, &str),
        expect: (FieldMatch, FieldMatch, FieldMatch, FieldMatch),
    ) {
        let saved = identity("ERIKSSON ANNA MARIA", "L898902C3", "1974-08-12");
        let report = compare(&identity(scanned.0, scanned.1, scanned.2), &saved);
        assert_eq!(
            (
                report.verdict,
                report.full_name,
                report.document_number,
                report.birth_date
            ),
            expect,
            "{scanned:?}: similarity {}",
            report.name_similarity
        );
    }

    #[test]
    fn table() {
        use FieldMatch::{Match as M, Mismatch as X, NearMiss as N};
        check(
            ("ERIKSSON ANNA MARIA", "L898902C3", "1974-08-12"),
            (M, M, M, M),
        );
        check(
            ("Anna-Maria Eriksson", "L898902C3", "1974-08-12"),
            (M, M, M, M),
        );
        check(
            ("ERIKSSON ANNA MARIA", "L8989O2C3", "1974-08-12"),
            (M, M, M, M),
        );
        check(
            ("ERIKSSÖN ANNA MARIA", "1898902C3", "1974-08-12"),
            (M, M, M, M),
        );
        check(
            ("ERIKSON ANNA MARIA", "L898902C3", "1974-08-12"),
            (M, M, M, M),
        );
        check(("ERIKSSON ANNA", "L898902C3", "1974-08-12"), (N, N, M, M));
        check(
            ("ERIKSSON ANNA MARIA", "L898902C4", "1974-08-12"),
            (N, M, N, M),
        );
        check(
            ("ERIKSSON ANNA MARIA", "L898902C3", "1974-08-13"),
            (N, M, M, N),
        );
        check(
            ("ERIKSSON ANNA MARIA", "L898902C3", "1974-12-08"),
            (N, M, M, N),
        );
        check(("SMITH JOHN", "L898902C3", "1974-08-12"), (X, X, M, M));
        check(
            ("ERIKSSON ANNA MARIA", "X12345678", "1974-08-12"),
            (X, M, X, M),
        );
        check(
            ("ERIKSSON ANNA MARIA", "L898902C3", "1980-01-01"),
            (X, M, M, X),
        );
        check(("ERIKSSON ANNA MARIA", "", "1974-08-12"), (X, M, X, M));
        check(("", "L898902C3", ""), (X, X, M, X));
        // The same day written with the sign ISO 8601 allows.
        check(
            ("ERIKSSON ANNA MARIA", "L898902C3", "+1974-08-12"),
            (M, M, M, M),
        );
    }

    #[test]
    fn names_without_latin_letters_do_not_match() {
        let report = compare(
            &identity("Петров Пётр", "L898902C3", "1974-08-12"),
            &identity("Иванов Иван", "L898902C3", "1974-08-12"),
        );
        assert_eq!(report.full_name, FieldMatch::Mismatch);
        assert_eq!(report.verdict, FieldMatch::Mismatch);
        assert_eq!(report.name_similarity, 0.0);
    }

    #[test]
    fn names_normalise() {
        assert_eq!(
            normalise_name("Müller-Lüdenscheidt, Hans"),
            "HANS LUDENSCHEIDT MULLER"
        );
        assert_eq!(
            normalise_name("ERIKSSON<<ANNA<MARIA"),
            "ANNA ERIKSSON MARIA"
        );
        assert_eq!(normalise_name("O'Brien  Seán"), "BRIEN O SEAN");
        assert_eq!(normalise_name("Straße"), "STRASSE");
        // Letters the decomposition folds: Vietnamese, Romanian comma below, Baltic cedillas.
        assert_eq!(normalise_name("Trần Thị Ngọc Hương"), "HUONG NGOC THI TRAN");
        assert_eq!(normalise_name("Ștefan Țurcanu"), "STEFAN TURCANU");
        assert_eq!(normalise_name("Ģirts Ķeniņš"), "GIRTS KENINS");
        assert_eq!(normalise_name("Łukasz Øster Đorđe"), "DORDE LUKASZ OSTER");
    }

    #[test]
    fn fields_to_check_names_the_near_misses() {
        let report = compare(
            &identity("ERIKSSON ANNA MARIA", "L898902C4", "1974-08-13"),
            &identity("ERIKSSON ANNA MARIA", "L898902C3", "1974-08-12"),
        );
        assert_eq!(report.fields_to_check(), ["document_number", "birth_date"]);
    }
}
