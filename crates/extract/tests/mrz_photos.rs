//! Hard photos of real specimen documents through `extract`, compared field by field with the
//! transcription in `data/mrz-truth.tsv`: a page photographed sideways whose zone the detector
//! finds only in pieces, a page at a slant, a zone whose filler run the detector cuts short,
//! lines read a character or more short, and a small identity card.

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

fn ocr() -> Ocr {
    Ocr::load(&default_models_dir()).expect("the OCR models: run scripts/models")
}

fn options(ocr: &Ocr) -> Options<'_> {
    Options {
        pixels_max: scanpay_extract::photo::IMAGE_PIXELS_MAX_DEFAULT,
        today: TODAY,
        reader: Some(ocr),
    }
}

/// The shared test data, beside the repository.
const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/testdata");

fn photo(path: &str) -> Vec<u8> {
    std::fs::read(format!("{TESTDATA}/{path}")).expect("shared/testdata is beside the repository")
}

/// `photo` turned over, as a PNG.
fn upside_down(path: &str) -> Vec<u8> {
    let turned = image::load_from_memory(&photo(path)).unwrap().rotate180();
    let mut bytes = Vec::new();
    turned
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
    bytes
}

/// Reads `bytes` and checks the zone against the transcription of `file`.
fn reads_as_transcribed(ocr: &Ocr, file: &str, bytes: &[u8]) {
    let read = extract(bytes, &options(ocr)).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert!(read.mrz_checks_pass(), "{file}: {:?}", read.mrz_checks);
    let identity = read.identity.unwrap();
    assert_eq!(identity.values(), truth(file).values(), "{file}");
}

#[test]
fn hard_photos_read_field_for_field() {
    let ocr = ocr();
    for file in [
        "0_pass-lva.jpg",
        "62_pass-aus.png",
        "43_pass-fra.jpg",
        "100_id-che.jpg",
        // Their first lines' long filler runs collapse at the line's own width (country and
        // names shifted); read again one and a half times wider (the first) or twice as wide
        // (the second) they come back whole.
        "43_pass-twn.jpg",
        "100_pass-chn.jpg",
        // A line one character short (`SPEIMEN`; a country `SI` read as `1`), read again one
        // and a half times wider.
        "100_pass-cze.jpg",
        "100_id-si.jpg",
        // Its second look reads the second line right and the first worse: each row keeps its
        // better reading.
        "25_pass-uto.jpg",
        // A second line read whole but unsure (0.70), its `CAN` as `0A2`: twice as wide, `CAN`.
        "79_pass-can.jpg",
    ] {
        reads_as_transcribed(&ocr, file, &photo(&format!("mrz/images/{file}")));
    }
}

/// A first line one short whose wider reading turns its fillers into letters
/// (`…MEULENDIJKKKLOES<ALBERTINEK<KKKK…`) keeps the reading it had. (Its surname's M is read
/// as N either way: no check digit covers it.)
#[test]
fn a_wider_reading_does_not_trade_fillers_for_letters() {
    let ocr = ocr();
    let read = extract(&photo("mrz/images/98_pass-nld.jpg"), &options(&ocr)).unwrap();
    let identity = read.identity.unwrap();
    assert_eq!(identity.given_names.unwrap().value, "LOES ALBERTINE");
    assert_eq!(identity.surname.unwrap().value.len(), "MEULENDIJK".len());
}

/// A page or a card photographed upside down reads as the same: its lines lie level either way
/// up, so the reading that finds no document is tried again turned over.
#[test]
fn upside_down_photos_read_as_the_same_page() {
    let ocr = ocr();
    for file in ["62_pass-aus.png", "100_id-che.jpg"] {
        reads_as_transcribed(&ocr, file, &upside_down(&format!("mrz/images/{file}")));
    }
    let card = extract(&upside_down("cards/ocr_card_numbers.png"), &options(&ocr))
        .expect("the card upside down");
    assert_eq!(card.card.unwrap().card_number.value, "3023334877861104");
}

/// Passport pages scanned at about 270 × 185 pixels (five pixels a character): the detector
/// finds no zone even enlarged, so their rows of ink are read directly, also stretched to twice
/// their width (at their own width the GBR page's filler runs collapsed and it was not read at
/// all). Every check digit passes; fields no check digit covers may still be misread at this size
/// (a surname's M as H, GBR's nationality as GBZ), so only the checked fields are compared.
#[test]
fn tiny_scans_are_read_from_their_rows_of_ink() {
    let ocr = ocr();
    for file in ["24_pass-egy.jpg", "27_pass-gbr.jpg"] {
        let read = extract(&photo(&format!("mrz/images/{file}")), &options(&ocr))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(read.mrz_checks_pass(), "{file}: {:?}", read.mrz_checks);
        let checked = ["document_number", "birth_date", "expiry_date", "sex"];
        let pick = |identity: &Identity| {
            identity
                .values()
                .into_iter()
                .filter(|(name, _)| checked.contains(name))
                .collect::<Vec<_>>()
        };
        assert_eq!(pick(&read.identity.unwrap()), pick(&truth(file)), "{file}");
    }
}
