//! Driver-licence barcodes from photos: every AAMVA payload of the shared test data rendered as
//! a PDF417, then turned, tilted, blurred and JPEG-compressed the way a phone photo is, must come
//! back through `extract` as the same licence.

use std::io::Cursor;

use image::{DynamicImage, GrayImage, ImageFormat, Luma};
use rxing::Writer;
use scanpay_extract::document::{Options, extract};
use scanpay_extract::{Date, aamva, photo};

fn payloads() -> Vec<(String, String)> {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/testdata/aamva/payloads"
    );
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("shared/testdata is beside the repository")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            // A byte-order mark is an artefact of the file, not part of any barcode.
            let text = std::fs::read_to_string(&path).unwrap();
            (name, text.trim_start_matches('\u{feff}').to_string())
        })
        .collect()
}

/// The payload as a PDF417 photo: modules scaled ×3 with a quiet zone, tilted by `degrees`,
/// blurred, and saved as JPEG.
fn photograph(payload: &str, turn: u32, degrees: f32, blur: f32) -> Vec<u8> {
    let matrix = rxing::MultiFormatWriter
        .encode(payload, &rxing::BarcodeFormat::PDF_417, 0, 0)
        .expect("the payload encodes");
    let code = DynamicImage::ImageLuma8(GrayImage::from_fn(
        matrix.width(),
        matrix.height(),
        |x, y| Luma([if matrix.get(x, y) { 0 } else { 255 }]),
    ));
    let code = code.resize(
        code.width() * 3,
        code.height() * 3,
        image::imageops::FilterType::Nearest,
    );
    let mut canvas = GrayImage::from_pixel(code.width() + 120, code.height() + 120, Luma([255]));
    image::imageops::overlay(&mut canvas, &code.to_luma8(), 60, 60);
    let tilted = imageproc::geometric_transformations::rotate_about_center(
        &canvas,
        degrees.to_radians(),
        imageproc::geometric_transformations::Interpolation::Bilinear,
        Luma([255]),
    );
    let blurred = DynamicImage::ImageLuma8(image::imageops::blur(&tilted, blur));
    let turned = match turn {
        1 => blurred.rotate90(),
        2 => blurred.rotate180(),
        3 => blurred.rotate270(),
        _ => blurred,
    };
    let mut bytes = Vec::new();
    turned
        .to_rgb8()
        .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Jpeg)
        .unwrap();
    bytes
}

#[test]
fn every_licence_payload_reads_back_from_a_photo() {
    let options = Options {
        pixels_max: photo::IMAGE_PIXELS_MAX_DEFAULT,
        today: Date::new(2026, 11, 22).unwrap(),
        reader: None,
    };
    let mut failures = Vec::new();
    for (index, (name, payload)) in payloads().iter().enumerate() {
        let expected = aamva::parse(payload).expect("the payload parses");
        // Vary the damage across files: a quarter turn or none, a small tilt, some blur.
        let turn = (index % 4) as u32;
        let degrees = [0.0, 1.5, -2.0][index % 3];
        let photo = photograph(payload, turn, degrees, 0.6);
        match extract(&photo, &options) {
            Ok(found) => {
                let identity = found.identity.expect("an identity");
                let number = identity.document_number.map(|f| f.value);
                if number != expected.document_number {
                    failures.push(format!("{name}: read {number:?}"));
                }
            }
            Err(error) => failures.push(format!("{name}: {error}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 65 failed: {failures:#?}",
        failures.len()
    );
}

#[test]
fn a_photo_without_a_document_says_so() {
    let mut bytes = Vec::new();
    DynamicImage::ImageLuma8(GrayImage::from_pixel(200, 100, Luma([128])))
        .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
        .unwrap();
    let options = Options {
        pixels_max: photo::IMAGE_PIXELS_MAX_DEFAULT,
        today: Date::new(2026, 11, 22).unwrap(),
        reader: None,
    };
    let error = extract(&bytes, &options).unwrap_err();
    assert_eq!(error.code(), "document_not_found");
    assert_eq!(
        extract(b"not an image", &options).unwrap_err().code(),
        "image_not_an_image"
    );
}
