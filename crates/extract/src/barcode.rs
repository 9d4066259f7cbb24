//! Two-dimensional barcodes in a photo: PDF417 (driver licences, AAMVA) and QR codes, read by
//! `rxing` (a Rust port of ZXing).
//!
//! rxing reads a PDF417 byte-exactly but not on its side, and not always upside down: a photo
//! that yields none is tried again turned by 90°, 180° and 270°. A QR code reads at any rotation.

use image::{DynamicImage, imageops};
use rxing::BarcodeFormat;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Symbology {
    Pdf417,
    Qr,
}

/// One decoded barcode.
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
pub struct Barcode {
    pub symbology: Symbology,
    pub text: String,
}

/// Without its text: a licence's barcode holds its holder's number, name and address.
impl std::fmt::Debug for Barcode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Barcode")
            .field("symbology", &self.symbology)
            .field(
                "text",
                &format_args!("<{} characters>", self.text.chars().count()),
            )
            .finish()
    }
}

/// Every PDF417 and QR code found in `image` (at most one of each).
pub fn read(image: &DynamicImage) -> Vec<Barcode> {
    // Grey once, and turned as grey: a turn of the photo in colour, then its conversion, cost
    // three times the bytes (60-70 ms a search on a 1,000-pixel page, beside the OCR).
    let luma = image.to_luma8();
    let mut found = Vec::new();
    for (symbology, format, turns) in [
        (Symbology::Pdf417, BarcodeFormat::PDF_417, 4),
        (Symbology::Qr, BarcodeFormat::QR_CODE, 1),
    ] {
        for turn in 0..turns {
            let turned = match turn {
                0 => luma.clone(),
                1 => imageops::rotate90(&luma),
                2 => imageops::rotate180(&luma),
                _ => imageops::rotate270(&luma),
            };
            // Luma bytes, not rxing's image feature: that one pulls every image codec (an AVIF
            // encoder among them) into the build.
            let (width, height) = turned.dimensions();
            if let Ok(result) =
                rxing::helpers::detect_in_luma(turned.into_raw(), width, height, Some(format))
            {
                found.push(Barcode {
                    symbology,
                    text: result.getText().to_string(),
                });
                break;
            }
        }
    }
    found
}
