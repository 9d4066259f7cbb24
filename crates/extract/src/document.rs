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
    #[error("reading text failed: {0}")]
    Ocr(String),
}

impl ExtractError {
    pub fn code(&self) -> &'static str {
        match self {
            ExtractError::Image(e) => e.code(),
            ExtractError::NoDocument => "document_not_found",
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
    let zone: Vec<&str> = lines
        .iter()
        .map(|line| line.text.as_str())
        .filter(|text| mrz_like(text))
        .collect();
    if zone.is_empty() {
        return None;
    }
    mrz::parse(&zone.join("\n"), today).ok()
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
    let goal = Goal {
        enough: &enough,
        zone_read: &zone_read,
        zone_line: &mrz_like,
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
            let licence = barcodes
                .iter()
                .filter(|b| b.symbology == Symbology::Pdf417)
                .find_map(|b| aamva::parse(&b.text).ok());
            licence_found.store(licence.is_some(), Ordering::Relaxed);
            (barcodes, licence)
        });
        let text = options
            .reader
            .map(|reader| read_text(reader, &image, options.today, &licence_found))
            .transpose();
        let barcodes = barcodes.join().unwrap_or_default();
        (barcodes, text)
    });
    let (barcodes, licence) = barcodes;
    let text = text?;
    let from_barcode = licence.is_some();
    let mut identity = licence.map(|licence| licence.identity());
    let mut mrz_checks = Vec::new();
    let mut card = None;
    let mut text_lines = 0;
    if let Some(lines) = text {
        text_lines = lines.len();
        let mut mrz_complete = false;
        if identity.is_none()
            && let Some(parsed) = mrz_in(&lines, options.today)
        {
            mrz_complete = parsed.all_checks_pass();
            mrz_checks = parsed.checks.clone();
            identity = Some(parsed.identity());
        }
        // With an identity from a barcode or a complete MRZ, the lines of the page cannot hold a
        // card (and a passport page's numbers would make a false one). A photo of both a passport
        // and a card yields the passport only; the wallet sends one carrier at a time.
        if !from_barcode && !mrz_complete {
            card = card_in(&lines);
        }
        // Neither barcode nor zone nor card: the fields printed for people, if labelled.
        if identity.is_none() && card.is_none() {
            identity = viz::identity(&lines, options.today);
        }
    }
    if identity.is_none() && card.is_none() {
        return Err(ExtractError::NoDocument);
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
