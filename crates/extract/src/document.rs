//! One photo in, every field found out: the entry point that `scanpay extract` and the hub use.
//!
//! The photo is decoded within limits ([`crate::photo`]); barcodes are read ([`crate::barcode`])
//! and a PDF417 licence is parsed ([`crate::aamva`]); when a text reader (OCR) is available, a
//! machine-readable zone is parsed from its lines ([`crate::mrz`]) and a payment card's fields
//! are found ([`crate::card`]). Several documents in one photo are allowed: an identity and a
//! card are both reported.

use std::sync::atomic::{AtomicBool, Ordering};

use image::DynamicImage;
use serde::Serialize;

use crate::barcode::{self, Barcode, Symbology};
use crate::card::{self, CardReading};
use crate::mrz::{self, Check};
use crate::ocr::Alternative;
use crate::photo::{self, ImageError};
use crate::{Date, Identity, aamva, viz};

pub use crate::ocr::{Goal, Line};

/// Reads text lines off a photo: the OCR engine, behind a seam so extraction is testable
/// without models.
pub trait TextReader {
    /// Lines top to bottom, each with its confidence (0.0–1.0) and box.
    fn read_lines(&self, image: &DynamicImage) -> Result<Vec<Line>, String>;

    /// Like [`TextReader::read_lines`], but may first read only the wide lines and stop there
    /// when the goal is met, and may look again at a zone's lines. The default reads
    /// everything.
    fn read_lines_staged(
        &self,
        image: &DynamicImage,
        goal: &Goal<'_>,
    ) -> Result<Vec<Line>, String> {
        let _ = goal;
        self.read_lines(image)
    }

    /// A second reading of a small photo, enlarged, when the first found no document; `None`
    /// when the reader has no such reading or the photo is not small. The default has none.
    fn read_lines_enlarged(
        &self,
        image: &DynamicImage,
        goal: &Goal<'_>,
    ) -> Result<Option<Vec<Line>>, String> {
        let _ = (image, goal);
        Ok(None)
    }
}

impl TextReader for crate::ocr::Ocr {
    fn read_lines(&self, image: &DynamicImage) -> Result<Vec<Line>, String> {
        crate::ocr::Ocr::read_lines(self, image).map_err(|e| e.to_string())
    }

    fn read_lines_staged(
        &self,
        image: &DynamicImage,
        goal: &Goal<'_>,
    ) -> Result<Vec<Line>, String> {
        crate::ocr::Ocr::read_lines_staged(self, image, goal).map_err(|e| e.to_string())
    }

    fn read_lines_enlarged(
        &self,
        image: &DynamicImage,
        goal: &Goal<'_>,
    ) -> Result<Option<Vec<Line>>, String> {
        crate::ocr::Ocr::read_lines_staged_enlarged(self, image, goal).map_err(|e| e.to_string())
    }
}

pub struct Options<'a> {
    pub pixels_max: u64,
    /// For two-digit MRZ years.
    pub today: Date,
    /// `None`: barcodes only.
    pub reader: Option<&'a dyn TextReader>,
}

#[derive(Debug, Serialize)]
pub struct Extraction {
    pub width: u32,
    pub height: u32,
    pub identity: Option<Identity>,
    pub card: Option<CardReading>,
    pub barcodes: Vec<Barcode>,
    /// The MRZ's check digits, when one was read: a failing one names the field to re-scan.
    pub mrz_checks: Vec<Check>,
    /// Lines the text reader returned (0 without one).
    pub text_lines: usize,
}

impl Extraction {
    /// True when an MRZ was read and every one of its check digits passed.
    pub fn mrz_checks_pass(&self) -> bool {
        !self.mrz_checks.is_empty() && self.mrz_checks.iter().all(|c| c.passed)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("{0}")]
    Image(#[from] ImageError),
    #[error("no identity document or payment card was found in the photo")]
    NoDocument,
    /// A document was found (a machine-readable zone, a licence's barcode) but not read: the
    /// fields that failed.
    #[error("a document was found in the photo but not read: {}", fields.join(", "))]
    Unreadable { fields: Vec<&'static str> },
    #[error("reading text failed: {0}")]
    Ocr(String),
}

impl ExtractError {
    pub fn code(&self) -> &'static str {
        match self {
            ExtractError::Image(e) => e.code(),
            ExtractError::NoDocument => "document_not_found",
            ExtractError::Unreadable { .. } => "document_unreadable",
            ExtractError::Ocr(_) => "ocr_failed",
        }
    }
}

/// An MRZ line: mostly capitals, digits and fillers; long, with a filler or many digits (the
/// second line of a visa may have no filler at all), or a shorter first line cut short (a
/// document code, fillers).
fn mrz_like(line: &str) -> bool {
    let compact: Vec<char> = line.chars().filter(|c| !c.is_whitespace()).collect();
    let count = |f: fn(&char) -> bool| compact.iter().filter(|c| f(c)).count();
    let alphabet = count(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '<');
    let fillers = count(|c| *c == '<');
    let digits = count(char::is_ascii_digit);
    let len = compact.len();
    if len >= 28 {
        (alphabet * 10 >= len * 8 && fillers >= 1) || (alphabet * 20 >= len * 19 && digits >= 6)
    } else {
        len >= 10
            && alphabet * 10 >= len * 9
            && fillers >= 2
            && matches!(compact.first(), Some('P' | 'I' | 'A' | 'C' | 'V'))
    }
}

/// The machine-readable zone among `lines`, if one parses.
fn mrz_in(lines: &[Line], today: Date) -> Option<mrz::Mrz> {
    mrz_parsed(lines, today)?.ok()
}

/// The machine-readable zone among `lines` parsed, or why it does not parse; `None` when no
/// line looks like one.
fn mrz_parsed(lines: &[Line], today: Date) -> Option<Result<mrz::Mrz, mrz::MrzError>> {
    let zone = zone_like(lines);
    if zone.is_empty() {
        return None;
    }
    Some(mrz::parse_read(zone, today))
}

/// The lines that look like a zone's, as the MRZ parser takes them.
fn zone_like(lines: &[Line]) -> Vec<(&str, &[Alternative], &[Alternative])> {
    lines
        .iter()
        .filter(|line| mrz_like(&line.text))
        .map(|line| {
            let text = line.text.as_str();
            (text, line.alternatives.as_slice(), line.missed.as_slice())
        })
        .collect()
}

/// Of the lines that look like a zone's (0 for the first), those holding a country code no
/// state has, in the zone the lines hold; `None` when they hold none ([`Goal::doubtful`]).
fn lines_with_unknown_codes(lines: &[Line], today: Date) -> Option<Vec<usize>> {
    let (mrz, sources) = mrz::parse_read_from(zone_like(lines), today).ok()?;
    let lines = mrz.lines_with_unknown_codes();
    Some(lines.into_iter().map(|k| sources[k]).collect())
}

/// The text lines of a photo: read until a complete MRZ is among them or `licence_found` is set
/// (by the barcode search), or an MRZ whose checks pass but that is not complete has had its
/// second look; a small photo with nothing found is read again enlarged, and a photo whose text
/// holds no document is read again upside down.
fn read_text(
    reader: &dyn TextReader,
    image: &DynamicImage,
    today: Date,
    licence_found: &AtomicBool,
) -> Result<Vec<Line>, ExtractError> {
    let enough = |lines: &[Line]| {
        licence_found.load(Ordering::Relaxed) || mrz_in(lines, today).is_some_and(|m| m.complete())
    };
    let zone_read = |lines: &[Line]| mrz_in(lines, today).is_some_and(|m| m.all_checks_pass());
    let doubtful = |lines: &[Line]| lines_with_unknown_codes(lines, today);
    let goal = Goal {
        enough: &enough,
        zone_read: &zone_read,
        zone_line: &mrz_like,
        doubtful: &doubtful,
    };
    let mut lines = reader
        .read_lines_staged(image, &goal)
        .map_err(ExtractError::Ocr)?;
    // No MRZ whose checks pass and no card on a small photo (a low-resolution scan): read it
    // again enlarged, and keep that reading if it found more.
    if !enough(&lines)
        && !zone_read(&lines)
        && card_in(&lines).is_none()
        && let Some(again) = reader
            .read_lines_enlarged(image, &goal)
            .map_err(ExtractError::Ocr)?
        && (enough(&again) || (found(&again, today) && !found(&lines, today)))
    {
        lines = again;
    }
    // Text, but neither a zone nor a card in it: the page may be upside down. Its lines lie level
    // either way up, so only reading tells; this costs a second reading, and only here.
    if !lines.is_empty() && !found(&lines, today) && !licence_found.load(Ordering::Relaxed) {
        let turned = reader
            .read_lines_staged(&image.rotate180(), &goal)
            .map_err(ExtractError::Ocr)?;
        if found(&turned, today) {
            lines = turned;
        }
    }
    Ok(lines)
}

/// Whether the lines hold a machine-readable zone, a card or a visual zone's identity.
fn found(lines: &[Line], today: Date) -> bool {
    mrz_in(lines, today).is_some()
        || card_in(lines).is_some()
        || viz::identity(lines, today).is_some()
}

/// Whether a page with a labelled identity and a number that passes as a card's is an identity
/// document: an ID number of 12 or more digits passes the card checks one time in ten (Luhn,
/// with any length for a range no network claims). A card prints no birth date, and its number is
/// no document number.
fn identity_page(visual: &Identity, card: &CardReading) -> bool {
    let digits = |text: &str| -> String { text.chars().filter(char::is_ascii_digit).collect() };
    visual.birth_date.is_some()
        || visual
            .document_number
            .as_ref()
            .is_some_and(|n| digits(&n.value) == card.card_number.value)
}

/// A card among the lines that are not part of a machine-readable zone.
fn card_in(lines: &[Line]) -> Option<card::CardReading> {
    let others: Vec<(String, f32)> = lines
        .iter()
        .filter(|line| !mrz_like(&line.text))
        .map(|line| (line.text.clone(), line.confidence))
        .collect();
    card::find_card(&others)
}

pub fn extract(bytes: &[u8], options: &Options<'_>) -> Result<Extraction, ExtractError> {
    let image = photo::decode(bytes, options.pixels_max)?;
    // Barcodes are looked for on a thread of their own while the text is read: a licence's
    // barcode, once found, stops the reading (below), and a passport page's text does not wait
    // for four turns of a barcode search that finds nothing.
    let licence_found = AtomicBool::new(false);
    let (barcodes, text) = std::thread::scope(|scope| {
        let barcodes = scope.spawn(|| {
            let barcodes = barcode::read(&image);
            let licences: Vec<_> = barcodes
                .iter()
                .filter(|b| b.symbology == Symbology::Pdf417)
                .map(|b| aamva::parse(&b.text))
                .collect();
            let truncated = licences
                .iter()
                .any(|l| matches!(l, Err(aamva::AamvaError::Truncated)));
            let licence = licences.into_iter().find_map(Result::ok);
            licence_found.store(licence.is_some(), Ordering::Relaxed);
            (barcodes, licence, truncated)
        });
        let text = options
            .reader
            .map(|reader| read_text(reader, &image, options.today, &licence_found))
            .transpose();
        let barcodes = barcodes.join().unwrap_or_default();
        (barcodes, text)
    });
    let (barcodes, licence, truncated_licence) = barcodes;
    // A licence read from its barcode stands even when reading the text failed.
    let text = match text {
        Err(_) if licence.is_some() => None,
        text => text?,
    };
    let from_barcode = licence.is_some();
    // What was found but not read, for the error when nothing else was.
    let mut unreadable: Vec<&'static str> = Vec::new();
    if truncated_licence {
        unreadable.push("licence_barcode");
    }
    let mut identity = licence.map(|licence| licence.identity());
    let mut mrz_checks = Vec::new();
    let mut card = None;
    let mut text_lines = 0;
    if let Some(lines) = text {
        text_lines = lines.len();
        let mut mrz_complete = false;
        match mrz_parsed(&lines, options.today) {
            Some(Ok(parsed)) if identity.is_none() => {
                mrz_complete = parsed.all_checks_pass();
                mrz_checks = parsed.checks.clone();
                identity = Some(parsed.identity());
            }
            Some(Err(mrz::MrzError::Unreadable { fields })) => unreadable.extend(fields),
            _ => {}
        }
        // With an identity from a barcode or a complete MRZ, the lines of the page cannot hold a
        // card (and a passport page's numbers would make a false one). A photo of both a passport
        // and a card yields the passport only; the wallet sends one carrier at a time.
        if !from_barcode && !mrz_complete {
            card = card_in(&lines);
        }
        // Neither barcode nor zone: the fields printed for people, if labelled.
        if identity.is_none()
            && let Some(visual) = viz::identity(&lines, options.today)
        {
            match &card {
                None => identity = Some(visual),
                Some(found) if identity_page(&visual, found) => {
                    card = None;
                    identity = Some(visual);
                }
                // A card whose holder and expiry are labelled: the card it is.
                Some(_) => {}
            }
        }
    }
    if identity.is_none() && card.is_none() {
        return Err(if unreadable.is_empty() {
            ExtractError::NoDocument
        } else {
            ExtractError::Unreadable { fields: unreadable }
        });
    }
    Ok(Extraction {
        width: image.width(),
        height: image.height(),
        identity,
        card,
        barcodes,
        mrz_checks,
        text_lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that "reads" the same lines off any photo (the OCR is not what is tested).
    struct Reads(Result<Vec<&'static str>, &'static str>);

    impl TextReader for Reads {
        fn read_lines(&self, _: &DynamicImage) -> Result<Vec<Line>, String> {
            let lines = self.0.clone().map_err(str::to_string)?;
            Ok(lines
                .into_iter()
                .enumerate()
                .map(|(i, text)| Line {
                    text: text.to_string(),
                    confidence: 0.9,
                    bbox: (0, 20 * i as u32, 400, 18),
                    alternatives: Vec::new(),
                    missed: Vec::new(),
                })
                .collect())
        }
    }

    fn blank_png() -> Vec<u8> {
        let mut png = Vec::new();
        DynamicImage::new_rgb8(64, 48)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        png
    }

    fn extract_with(reader: &Reads) -> Result<Extraction, ExtractError> {
        let options = Options {
            pixels_max: 1_000_000,
            today: Date::new(2026, 12, 6).unwrap(),
            reader: Some(reader),
        };
        extract(&blank_png(), &options)
    }

    #[test]
    fn an_extraction_prints_no_document_number() {
        let zone = Reads(Ok(vec![
            "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
            "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
        ]));
        let extraction = extract_with(&zone).expect("the ICAO specimen's zone");
        let identity = extraction.identity.as_ref().expect("an identity");
        assert_eq!(
            identity.document_number.as_ref().unwrap().value,
            "L898902C3"
        );
        let printed = format!("{extraction:?}");
        assert!(!printed.contains("L898902C3"), "{printed}");
        assert!(printed.contains("•••2C3"), "{printed}");
        let mrz = mrz::parse(
            &zone.0.clone().unwrap().join("\n"),
            Date::new(2010, 1, 1).unwrap(),
        );
        let printed = format!("{:?}", mrz.unwrap());
        assert!(
            !printed.contains("L898902C3") && !printed.contains("ZE184226B"),
            "{printed}"
        );
        let licence = Barcode {
            symbology: Symbology::Pdf417,
            text: "@\n\u{1e}\rANSI 636000090002DL00410278ZV03190008DLDAQT64235789\n".to_string(),
        };
        assert!(!format!("{licence:?}").contains("T64235789"));
    }

    #[test]
    fn an_id_number_that_passes_as_a_card_number_stays_an_id_number() {
        // A 12-digit ID number in groups of four that passes Luhn, in no network's range.
        assert!(scanpay_core::card::Pan::parse("938475610284").is_ok());
        let page = Reads(Ok(vec![
            "IDENTITY CARD",
            "Surname: DOE",
            "Given names: JANE",
            "Date of birth: 1980-05-12",
            "9384 7561 0284",
        ]));
        let extraction = extract_with(&page).expect("an identity");
        assert!(extraction.card.is_none(), "{extraction:?}");
        let identity = extraction.identity.expect("the visual zone's identity");
        assert_eq!(identity.surname.unwrap().value, "DOE");
        // The same number on a card (a holder, no birth date) is the card's.
        let card = Reads(Ok(vec!["9384 7561 0284", "VALID THRU 08/29", "JANE DOE"]));
        let extraction = extract_with(&card).expect("a card");
        assert_eq!(extraction.card.unwrap().card_number.value, "938475610284");
    }

    #[test]
    fn a_zone_found_but_not_read_says_which_fields_failed() {
        let zone = Reads(Ok(vec![
            "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
            // Zone-like (a filler run), but no date or check digit in it.
            "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX<<<<<",
        ]));
        let error = extract_with(&zone).expect_err("nothing read");
        assert_eq!(error.code(), "document_unreadable");
        assert!(
            matches!(&error, ExtractError::Unreadable { fields } if fields.contains(&"birth_date")),
            "{error:?}"
        );
        // No zone at all: not found.
        let prose = Reads(Ok(vec!["Nothing to see here", "Just some words"]));
        let error = extract_with(&prose).expect_err("no document");
        assert_eq!(error.code(), "document_not_found");
        // The reader failing, with no licence to fall back on.
        let failing = Reads(Err("the model broke"));
        assert_eq!(extract_with(&failing).unwrap_err().code(), "ocr_failed");
    }
}
