//! One photo in, every field found out: the entry point that `scanpay extract` and the hub use.
//!
//! The photo is decoded within limits ([`crate::photo`]); barcodes are read ([`crate::barcode`])
//! and a PDF417 licence is parsed ([`crate::aamva`]); when a text reader (OCR) is available, a
//! machine-readable zone is parsed from its lines ([`crate::mrz`]) and a payment card's fields
//! are found ([`crate::card`]). Several documents in one photo are allowed: an identity and a
//! card are both reported.

use image::DynamicImage;
use serde::Serialize;

use crate::barcode::{self, Barcode, Symbology};
use crate::card::{self, CardReading};
use crate::mrz::{self, Check};
use crate::photo::{self, ImageError};
use crate::{Date, Identity, aamva};

/// Reads text lines off a photo: the OCR engine, behind a seam so extraction is testable
/// without models.
/// Says whether the lines read so far are enough (see [`TextReader::read_lines_staged`]).
pub type Enough<'a> = &'a dyn Fn(&[(String, f32)]) -> bool;

pub trait TextReader {
    /// Lines top to bottom, each with its confidence (0.0–1.0).
    fn read_lines(&self, image: &DynamicImage) -> Result<Vec<(String, f32)>, String>;

    /// Like [`TextReader::read_lines`], but may first read only the wide lines and stop there
    /// when `enough` accepts them. The default reads everything.
    fn read_lines_staged(
        &self,
        image: &DynamicImage,
        enough: Enough<'_>,
    ) -> Result<Vec<(String, f32)>, String> {
        let _ = enough;
        self.read_lines(image)
    }

    /// A second reading of a small photo, enlarged, when the first found no document; `None`
    /// when the reader has no such reading or the photo is not small. The default has none.
    fn read_lines_enlarged(
        &self,
        image: &DynamicImage,
        enough: Enough<'_>,
    ) -> Result<Option<Vec<(String, f32)>>, String> {
        let _ = (image, enough);
        Ok(None)
    }
}

/// `enough` as the OCR's staged reading asks it, about its own lines.
fn on_lines(enough: Enough<'_>) -> impl Fn(&[crate::ocr::Line]) -> bool + '_ {
    move |lines| {
        enough(
            &lines
                .iter()
                .map(|l| (l.text.clone(), l.confidence))
                .collect::<Vec<_>>(),
        )
    }
}

fn pairs(lines: Vec<crate::ocr::Line>) -> Vec<(String, f32)> {
    lines.into_iter().map(|l| (l.text, l.confidence)).collect()
}

impl TextReader for crate::ocr::Ocr {
    fn read_lines(&self, image: &DynamicImage) -> Result<Vec<(String, f32)>, String> {
        crate::ocr::Ocr::read_lines(self, image)
            .map(pairs)
            .map_err(|e| e.to_string())
    }

    fn read_lines_staged(
        &self,
        image: &DynamicImage,
        enough: Enough<'_>,
    ) -> Result<Vec<(String, f32)>, String> {
        let enough = on_lines(enough);
        crate::ocr::Ocr::read_lines_staged(self, image, &enough)
            .map(pairs)
            .map_err(|e| e.to_string())
    }

    fn read_lines_enlarged(
        &self,
        image: &DynamicImage,
        enough: Enough<'_>,
    ) -> Result<Option<Vec<(String, f32)>>, String> {
        let enough = on_lines(enough);
        crate::ocr::Ocr::read_lines_staged_enlarged(self, image, &enough)
            .map(|lines| lines.map(pairs))
            .map_err(|e| e.to_string())
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

/// An MRZ line: long, mostly capitals, digits and fillers, with at least two fillers.
fn mrz_like(line: &str) -> bool {
    let compact: String = line.chars().filter(|c| !c.is_whitespace()).collect();
    compact.len() >= 28
        && compact.matches('<').count() >= 2
        && compact
            .chars()
            .filter(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '<')
            .count()
            * 10
            >= compact.chars().count() * 8
}

/// The machine-readable zone among `lines`, if one parses.
fn mrz_in(lines: &[(String, f32)], today: Date) -> Option<mrz::Mrz> {
    let zone: Vec<&str> = lines
        .iter()
        .map(|(text, _)| text.as_str())
        .filter(|text| mrz_like(text))
        .collect();
    if zone.is_empty() {
        return None;
    }
    mrz::parse(&zone.join("\n"), today).ok()
}

/// A card among the lines that are not part of a machine-readable zone.
fn card_in(lines: &[(String, f32)]) -> Option<card::CardReading> {
    let others: Vec<(String, f32)> = lines
        .iter()
        .filter(|(text, _)| !mrz_like(text))
        .cloned()
        .collect();
    card::find_card(&others)
}

pub fn extract(bytes: &[u8], options: &Options<'_>) -> Result<Extraction, ExtractError> {
    let image = photo::decode(bytes, options.pixels_max)?;
    let barcodes = barcode::read(&image);
    let mut identity = barcodes
        .iter()
        .filter(|b| b.symbology == Symbology::Pdf417)
        .find_map(|b| aamva::parse(&b.text).ok())
        .map(|licence| licence.identity());
    let mut mrz_checks = Vec::new();
    let mut card = None;
    let mut text_lines = 0;
    if let Some(reader) = options.reader {
        // With an identity from a barcode, or an MRZ whose every check digit passes among the
        // wide lines, the rest of a passport page need not be read (and cannot yield a false
        // card number). A photo of both a passport and a card then yields the passport only;
        // the wallet sends one carrier at a time.
        let have_identity = identity.is_some();
        let enough = |lines: &[(String, f32)]| {
            have_identity || mrz_in(lines, options.today).is_some_and(|m| m.all_checks_pass())
        };
        let mut lines = reader
            .read_lines_staged(&image, &enough)
            .map_err(ExtractError::Ocr)?;
        // No complete MRZ and no card on a small photo (a low-resolution scan): read it again
        // enlarged, and keep that reading if it found more.
        if !enough(&lines)
            && card_in(&lines).is_none()
            && let Some(again) = reader
                .read_lines_enlarged(&image, &enough)
                .map_err(ExtractError::Ocr)?
        {
            let found =
                |l: &[(String, f32)]| mrz_in(l, options.today).is_some() || card_in(l).is_some();
            if enough(&again) || (found(&again) && !found(&lines)) {
                lines = again;
            }
        }
        text_lines = lines.len();
        let mut mrz_complete = false;
        if identity.is_none()
            && let Some(parsed) = mrz_in(&lines, options.today)
        {
            mrz_complete = parsed.all_checks_pass();
            mrz_checks = parsed.checks.clone();
            identity = Some(parsed.identity());
        }
        if !have_identity && !mrz_complete {
            card = card_in(&lines);
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
