//! Hard photos of real specimen documents through `extract`, compared field by field with the
//! transcription in `data/mrz-truth.tsv`: a page photographed sideways whose zone the detector
//! finds only in pieces, a page at a slant, a zone whose filler run the detector cuts short,
//! and a small identity card.

use scanpay_extract::document::{Options, extract};
use scanpay_extract::ocr::{Ocr, default_models_dir};
use scanpay_extract::{Date, Identity, mrz};

const TODAY: Date = Date {
    year: 2026,
    month: 12,
    day: 4,
};

fn truth(file: &str) -> Identity {
    let text = include_str!("data/mrz-truth.tsv");
    let line = text
        .lines()
        .find(|l| l.split('\t').next() == Some(file))
        .unwrap_or_else(|| panic!("{file} is transcribed"));
    let zone = line.split('\t').nth(4).unwrap().replace('|', "\n");
    mrz::parse(&zone, TODAY).unwrap().identity()
}

fn values(id: &Identity) -> Vec<String> {
    fn v<T: std::fmt::Debug>(f: &Option<scanpay_extract::Field<T>>) -> String {
        format!("{:?}", f.as_ref().map(|f| &f.value))
    }
    vec![
        v(&id.document_type),
        v(&id.document_number),
        v(&id.issuing_country),
        v(&id.surname),
        v(&id.given_names),
        v(&id.nationality),
        v(&id.birth_date),
        v(&id.sex),
        v(&id.expiry_date),
    ]
}

#[test]
fn hard_photos_read_field_for_field() {
    let ocr = Ocr::load(&default_models_dir()).expect("the OCR models: run scripts/models");
    let options = Options {
        pixels_max: scanpay_extract::photo::IMAGE_PIXELS_MAX_DEFAULT,
        today: TODAY,
        reader: Some(&ocr),
    };
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/testdata/mrz/images"
    );
    for file in [
        "0_pass-lva.jpg",
        "62_pass-aus.png",
        "43_pass-fra.jpg",
        "100_id-che.jpg",
    ] {
        let bytes = std::fs::read(format!("{dir}/{file}"))
            .expect("shared/testdata is beside the repository");
        let read = extract(&bytes, &options).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(
            !read.mrz_checks.is_empty() && read.mrz_checks.iter().all(|c| c.passed),
            "{file}: {:?}",
            read.mrz_checks
        );
        let identity = read.identity.unwrap();
        assert_eq!(values(&identity), values(&truth(file)), "{file}");
    }
}
