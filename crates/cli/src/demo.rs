//! `scanpay demo documents --out DIR`: images a newcomer can register with.
//!
//! For each named customer of the seed file it renders the identity document the bank knows them
//! by — a passport with a machine-readable zone (ICAO 9303 TD3, check digits computed), or a
//! driver licence with an AAMVA PDF417 barcode — valid for ten years from today, and each of their
//! cards with its number, expiry and holder. The images are plain renderings (no photo noise):
//! they exercise the same extraction as phone photos. Text is drawn with OCR-B when the Debian
//! package `fonts-ocr-b` is installed, else DejaVu Sans Mono (`fonts-dejavu-core`, which
//! `scripts/setup` installs); `SCANPAY_FONT` names another font file.

use std::path::{Path, PathBuf};

use ab_glyph::{Font, FontVec, PxScale, ScaleFont};
use anyhow::{Context, bail};
use image::{Rgb, RgbImage};
use rxing::Writer;
use scanpay_bank::seed::{SeedCard, SeedCustomer, SeedFile};
use scanpay_core::registration::Day;

/// Fonts tried in order when `SCANPAY_FONT` is not set.
const FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/ocr-b/OCRB.ttf",
    "/usr/share/fonts/opentype/ocr-b/OCRB.otf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
];

pub(crate) fn font() -> anyhow::Result<FontVec> {
    font_and_path().map(|(font, _)| font)
}

/// [`font`] and the file it was read from (the first of [`FONTS`] installed: a bench says which,
/// as its numbers depend on it).
pub(crate) fn font_and_path() -> anyhow::Result<(FontVec, PathBuf)> {
    let candidates: Vec<PathBuf> = match std::env::var_os("SCANPAY_FONT") {
        Some(path) => vec![PathBuf::from(path)],
        None => FONTS.iter().map(PathBuf::from).collect(),
    };
    for path in &candidates {
        if let Ok(bytes) = std::fs::read(path) {
            let font = FontVec::try_from_vec(bytes)
                .with_context(|| format!("{} is not a font we can read", path.display()))?;
            return Ok((font, path.clone()));
        }
    }
    bail!(
        "no font found (tried {}): install fonts-dejavu-core (scripts/setup does) or set SCANPAY_FONT",
        candidates
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Draws `text` with its top-left corner at (x, y), `size` pixels tall.
pub(crate) fn text(
    image: &mut RgbImage,
    font: &FontVec,
    x: f32,
    y: f32,
    size: f32,
    ink: Rgb<u8>,
    text: &str,
) {
    let scaled = font.as_scaled(PxScale::from(size));
    let mut caret = x;
    let baseline = y + scaled.ascent();
    let mut previous = None;
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(before) = previous {
            caret += scaled.kern(before, id);
        }
        let glyph = id.with_scale_and_position(size, ab_glyph::point(caret, baseline));
        caret += scaled.h_advance(id);
        previous = Some(id);
        let Some(outline) = font.outline_glyph(glyph) else {
            continue;
        };
        let bounds = outline.px_bounds();
        outline.draw(|gx, gy, coverage| {
            let (px, py) = (
                bounds.min.x as i64 + i64::from(gx),
                bounds.min.y as i64 + i64::from(gy),
            );
            if px < 0 || py < 0 || px >= i64::from(image.width()) || py >= i64::from(image.height())
            {
                return;
            }
            let pixel = image.get_pixel_mut(px as u32, py as u32);
            for channel in 0..3 {
                let under = f32::from(pixel[channel]);
                let over = f32::from(ink[channel]);
                pixel[channel] = (under + (over - under) * coverage.min(1.0)).round() as u8;
            }
        });
    }
}

fn rectangle(image: &mut RgbImage, x: u32, y: u32, width: u32, height: u32, colour: Rgb<u8>) {
    for py in y..(y + height).min(image.height()) {
        for px in x..(x + width).min(image.width()) {
            image.put_pixel(px, py, colour);
        }
    }
}

/// `YYMMDD` of a `YYYY-MM-DD` date.
fn yymmdd(day: Day) -> String {
    format!("{:02}{:02}{:02}", day.year % 100, day.month, day.day)
}

fn check(field: &str) -> anyhow::Result<char> {
    let digit = scanpay_extract::mrz::check_digit(field)
        .with_context(|| format!("{field:?} holds a character an MRZ cannot"))?;
    Ok(char::from(b'0' + digit))
}

/// Letters, digits and `<` only, upper case: what an MRZ may hold.
fn mrz_text(text: &str) -> String {
    text.to_uppercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '<' })
        .collect()
}

/// The two lines of a TD3 (passport) machine-readable zone.
pub fn td3(
    country: &str,
    full_name: &str,
    number: &str,
    birth: Day,
    sex: char,
    expiry: Day,
) -> anyhow::Result<[String; 2]> {
    let mut words = full_name.split_whitespace();
    let surname = mrz_text(words.next().context("a name")?);
    let given = mrz_text(&words.collect::<Vec<_>>().join(" "));
    let mut line1 = format!("P<{}{surname}<<{given}", mrz_text(country));
    line1.truncate(44);
    let line1 = format!("{line1:<<44}");
    let number = format!("{:<<9}", mrz_text(number));
    anyhow::ensure!(
        number.len() == 9,
        "a passport number is at most 9 characters"
    );
    let number_part = format!("{number}{}", check(&number)?);
    let birth_part = format!("{}{}", yymmdd(birth), check(&yymmdd(birth))?);
    let expiry_part = format!("{}{}", yymmdd(expiry), check(&yymmdd(expiry))?);
    let personal = "<".repeat(14);
    let personal_part = format!("{personal}{}", check(&personal)?);
    let composite = format!("{number_part}{birth_part}{expiry_part}{personal_part}");
    let line2 = format!(
        "{number_part}{}{birth_part}{sex}{expiry_part}{personal_part}{}",
        mrz_text(country),
        check(&composite)?
    );
    anyhow::ensure!(line2.len() == 44, "a TD3 line is 44 characters");
    Ok([line1, line2])
}

fn parse_day(text: &str) -> anyhow::Result<Day> {
    Day::parse(text).with_context(|| format!("{text:?} is not YYYY-MM-DD"))
}

fn passport(font: &FontVec, customer: &SeedCustomer, expiry: Day) -> anyhow::Result<RgbImage> {
    passport_page(font, customer, expiry, true)
}

/// The passport page with its machine-readable zone covered (a sticker, a thumb, a scan cut
/// short): only its printed fields tell who holds it.
pub fn passport_without_zone(customer: &SeedCustomer, expiry: Day) -> anyhow::Result<RgbImage> {
    passport_page(&font()?, customer, expiry, false)
}

fn passport_page(
    font: &FontVec,
    customer: &SeedCustomer,
    expiry: Day,
    zone: bool,
) -> anyhow::Result<RgbImage> {
    let birth = parse_day(&customer.birth_date)?;
    let country = if customer.address.eq_ignore_ascii_case("utopia") {
        "UTO"
    } else {
        "USA"
    };
    let sex = '<';
    let lines = td3(
        country,
        &customer.full_name,
        &customer.id_document_number,
        birth,
        sex,
        expiry,
    )?;
    let mut image = RgbImage::from_pixel(1500, 1050, Rgb([238, 232, 214]));
    let ink = Rgb([30, 30, 40]);
    rectangle(&mut image, 0, 0, 1500, 110, Rgb([120, 30, 40]));
    text(
        &mut image,
        font,
        60.0,
        28.0,
        56.0,
        Rgb([250, 250, 250]),
        "PASSPORT",
    );
    rectangle(&mut image, 60, 170, 340, 440, Rgb([200, 200, 200]));
    let mut words = customer.full_name.split_whitespace();
    let surname = words.next().unwrap_or_default().to_string();
    let given = words.collect::<Vec<_>>().join(" ");
    let fields = [
        ("Type / Code", format!("P / {country}")),
        ("Passport No.", customer.id_document_number.clone()),
        ("Surname", surname),
        ("Given names", given),
        ("Date of birth", customer.birth_date.clone()),
        (
            "Date of expiry",
            format!("{}-{:02}-{:02}", expiry.year, expiry.month, expiry.day),
        ),
    ];
    for (index, (label, value)) in fields.iter().enumerate() {
        let y = 170.0 + index as f32 * 72.0;
        text(&mut image, font, 460.0, y, 22.0, Rgb([90, 90, 100]), label);
        text(&mut image, font, 460.0, y + 26.0, 34.0, ink, value);
    }
    rectangle(&mut image, 0, 780, 1500, 270, Rgb([250, 250, 250]));
    if !zone {
        return Ok(image);
    }
    for (index, line) in lines.iter().enumerate() {
        text(
            &mut image,
            font,
            40.0,
            810.0 + index as f32 * 105.0,
            54.0,
            ink,
            line,
        );
    }
    Ok(image)
}

/// An AAMVA (2016 standard, version 8) driver-licence payload with the licence's DL subfile.
pub fn aamva_payload(customer: &SeedCustomer, expiry: Day) -> anyhow::Result<String> {
    let birth = parse_day(&customer.birth_date)?;
    let mut words = customer.full_name.split_whitespace();
    let surname = words.next().context("a name")?.to_uppercase();
    let first = words.next().unwrap_or_default().to_uppercase();
    let middle = words.collect::<Vec<_>>().join(" ").to_uppercase();
    let mmddccyy = |d: Day| format!("{:02}{:02}{:04}", d.month, d.day, d.year);
    let address = customer.address.to_uppercase();
    let street = address
        .split(',')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    let fields = [
        ("DCA", "D".to_string()),
        ("DCB", "NONE".to_string()),
        ("DCD", "NONE".to_string()),
        ("DBA", mmddccyy(expiry)),
        ("DCS", surname),
        ("DAC", first),
        ("DAD", middle),
        (
            "DBD",
            mmddccyy(Day {
                year: expiry.year - 8,
                ..expiry
            }),
        ),
        ("DBB", mmddccyy(birth)),
        ("DBC", "1".to_string()),
        ("DAY", "BRO".to_string()),
        ("DAU", "070 IN".to_string()),
        ("DAG", street),
        ("DAI", "RICHMOND".to_string()),
        ("DAJ", "VA".to_string()),
        ("DAK", "232690000  ".to_string()),
        ("DAQ", customer.id_document_number.to_uppercase()),
        ("DCF", "SCANPAYDEMO0001".to_string()),
        ("DCG", "USA".to_string()),
        ("DDE", "N".to_string()),
        ("DDF", "N".to_string()),
        ("DDG", "N".to_string()),
    ];
    let mut subfile = String::from("DL");
    for (index, (element, value)) in fields.iter().enumerate() {
        if index > 0 {
            subfile.push('\n');
        }
        subfile.push_str(element);
        subfile.push_str(value);
    }
    subfile.push('\r');
    // "@\n\x1e\rANSI " + IIN + version + jurisdiction version + entries, then one designator.
    let head = "@\n\u{1e}\rANSI 636000080001";
    let offset = head.len() + 10;
    Ok(format!("{head}DL{offset:04}{:04}{subfile}", subfile.len()))
}

fn licence(font: &FontVec, customer: &SeedCustomer, expiry: Day) -> anyhow::Result<RgbImage> {
    let payload = aamva_payload(customer, expiry)?;
    let matrix = rxing::MultiFormatWriter
        .encode(&payload, &rxing::BarcodeFormat::PDF_417, 0, 0)
        .map_err(|e| anyhow::anyhow!("encoding the PDF417: {e}"))?;
    let scale = 3;
    let (code_width, code_height) = (matrix.width() * scale, matrix.height() * scale);
    let width = (code_width + 160).max(1400);
    let mut image = RgbImage::from_pixel(width, 560 + code_height + 80, Rgb([236, 242, 250]));
    let ink = Rgb([20, 30, 60]);
    rectangle(&mut image, 0, 0, width, 100, Rgb([20, 60, 120]));
    text(
        &mut image,
        font,
        50.0,
        26.0,
        48.0,
        Rgb([250, 250, 250]),
        "DRIVER LICENSE",
    );
    rectangle(&mut image, 50, 140, 280, 340, Rgb([200, 205, 215]));
    let fields = [
        ("DL", customer.id_document_number.clone()),
        ("NAME", customer.full_name.clone()),
        ("DOB", customer.birth_date.clone()),
        (
            "EXP",
            format!("{}-{:02}-{:02}", expiry.year, expiry.month, expiry.day),
        ),
        ("ADDRESS", customer.address.clone()),
    ];
    for (index, (label, value)) in fields.iter().enumerate() {
        let y = 140.0 + index as f32 * 66.0;
        text(&mut image, font, 380.0, y, 20.0, Rgb([90, 100, 120]), label);
        text(&mut image, font, 380.0, y + 24.0, 30.0, ink, value);
    }
    let (left, top) = ((width - code_width) / 2, 540);
    rectangle(
        &mut image,
        left - 40,
        top - 40,
        code_width + 80,
        code_height + 80,
        Rgb([255, 255, 255]),
    );
    for y in 0..matrix.height() {
        for x in 0..matrix.width() {
            if matrix.get(x, y) {
                rectangle(
                    &mut image,
                    left + x * scale,
                    top + y * scale,
                    scale,
                    scale,
                    Rgb([0, 0, 0]),
                );
            }
        }
    }
    Ok(image)
}

fn card(font: &FontVec, customer: &SeedCustomer, card: &SeedCard) -> RgbImage {
    // Dark print on a light card: what the OCR models read best.
    let mut image = RgbImage::from_pixel(1012, 638, Rgb([214, 226, 240]));
    let white = Rgb([20, 30, 60]);
    rectangle(&mut image, 0, 0, 1012, 130, Rgb([24, 62, 120]));
    rectangle(&mut image, 80, 200, 130, 100, Rgb([212, 180, 90]));
    text(
        &mut image,
        font,
        80.0,
        40.0,
        44.0,
        Rgb([245, 245, 245]),
        "SCANPAY DEMO BANK",
    );
    let digits: String = card
        .card_number
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let grouped = digits
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).expect("digits"))
        .collect::<Vec<_>>()
        .join(" ");
    text(&mut image, font, 80.0, 340.0, 66.0, white, &grouped);
    text(&mut image, font, 520.0, 440.0, 22.0, white, "VALID THRU");
    text(
        &mut image,
        font,
        520.0,
        468.0,
        40.0,
        white,
        &format!("{:02}/{:02}", card.expiry_month, card.expiry_year % 100),
    );
    text(
        &mut image,
        font,
        80.0,
        540.0,
        40.0,
        white,
        &customer.full_name.to_uppercase(),
    );
    image
}

fn slug(name: &str) -> String {
    name.split_whitespace()
        .map(|w| w.to_lowercase())
        .collect::<Vec<_>>()
        .join("-")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect()
}

/// One rendered image: where it is and what it shows.
pub struct Rendered {
    pub path: PathBuf,
    pub what: String,
}

/// Renders the identity documents and cards of the seed file's named customers into `out`.
pub fn documents(out: &Path, seed: &SeedFile, today: Day) -> anyhow::Result<Vec<Rendered>> {
    let font = font()?;
    std::fs::create_dir_all(out).with_context(|| format!("making {}", out.display()))?;
    let expiry = Day {
        year: today.year + 10,
        day: today.day.min(28),
        ..today
    };
    let mut rendered = Vec::new();
    for bank in &seed.bank {
        for customer in &bank.customer {
            let name = slug(&customer.full_name);
            let (kind, image) = match customer.id_document_type.as_str() {
                "passport" => ("passport", passport(&font, customer, expiry)?),
                "driver_license" => ("licence", licence(&font, customer, expiry)?),
                _ => continue,
            };
            let path = out.join(format!("{name}-{kind}.png"));
            image
                .save(&path)
                .with_context(|| format!("writing {}", path.display()))?;
            rendered.push(Rendered {
                path,
                what: format!("{}'s {kind} (bank {})", customer.full_name, bank.id),
            });
            for (index, c) in customer.card.iter().enumerate() {
                let suffix = if index == 0 {
                    String::new()
                } else {
                    format!("-{}", index + 1)
                };
                let path = out.join(format!("{name}-card{suffix}.png"));
                card(&font, customer, c)
                    .save(&path)
                    .with_context(|| format!("writing {}", path.display()))?;
                rendered.push(Rendered {
                    path,
                    what: {
                        let digits: Vec<char> =
                            c.card_number.chars().filter(char::is_ascii_digit).collect();
                        let last4: String =
                            digits[digits.len().saturating_sub(4)..].iter().collect();
                        format!("{}'s card ending {last4}", customer.full_name)
                    },
                });
            }
        }
    }
    Ok(rendered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_td3_zone_passes_its_own_parser() {
        let birth = Day {
            year: 1974,
            month: 8,
            day: 12,
        };
        let expiry = Day {
            year: 2036,
            month: 11,
            day: 22,
        };
        let lines = td3(
            "UTO",
            "ERIKSSON ANNA MARIA",
            "L898902C3",
            birth,
            '<',
            expiry,
        )
        .unwrap();
        assert_eq!(lines[0], "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<");
        let today = scanpay_extract::Date::new(2026, 11, 22).unwrap();
        let mrz = scanpay_extract::mrz::parse(&lines.join("\n"), today).unwrap();
        assert!(mrz.all_checks_pass(), "{lines:?}");
        let identity = mrz.identity();
        assert_eq!(identity.document_number.unwrap().value, "L898902C3");
    }

    /// The demo seed's passport holder.
    fn passport_holder(seed: &SeedFile) -> &SeedCustomer {
        seed.bank
            .iter()
            .flat_map(|bank| &bank.customer)
            .find(|c| c.id_document_type == "passport")
            .expect("the demo seed has a passport holder")
    }

    /// `image` as a PNG read by `extract` with the real OCR models, on 4 December 2026.
    fn read_back(
        image: RgbImage,
        ocr: &scanpay_extract::ocr::Ocr,
    ) -> scanpay_extract::document::Extraction {
        let mut png = Vec::new();
        image
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let options = scanpay_extract::document::Options {
            pixels_max: 40_000_000,
            today: scanpay_extract::Date::new(2026, 12, 4).unwrap(),
            reader: Some(ocr),
        };
        scanpay_extract::document::extract(&png, &options).unwrap()
    }

    fn ocr() -> scanpay_extract::ocr::Ocr {
        scanpay_extract::ocr::Ocr::load(&scanpay_extract::ocr::default_models_dir()).unwrap()
    }

    /// The page with its zone covered reads from its printed fields, through the real OCR
    /// models: every field the page prints, none from an MRZ.
    #[test]
    fn the_passport_page_without_its_zone_reads_from_its_printed_fields() {
        let seed = SeedFile::parse(scanpay_bank::seed::DEMO).unwrap();
        let customer = passport_holder(&seed);
        let expiry = Day {
            year: 2036,
            month: 7,
            day: 9,
        };
        let read = read_back(passport_without_zone(customer, expiry).unwrap(), &ocr());
        assert!(read.mrz_checks.is_empty());
        let identity = read.identity.expect("an identity from the printed fields");
        let text = |f: Option<scanpay_extract::Field<String>>| f.map(|f| (f.value, f.source));
        let ocr_source = scanpay_extract::Source::Ocr;
        let mut words = customer.full_name.split_whitespace();
        let surname = words.next().unwrap().to_string();
        let given = words.collect::<Vec<_>>().join(" ");
        assert_eq!(text(identity.surname), Some((surname, ocr_source)));
        assert_eq!(text(identity.given_names), Some((given, ocr_source)));
        assert_eq!(
            text(identity.document_number),
            Some((customer.id_document_number.clone(), ocr_source))
        );
        assert_eq!(
            text(identity.document_type),
            Some(("passport".to_string(), ocr_source))
        );
        assert_eq!(
            identity.birth_date.map(|f| f.value.iso()).as_deref(),
            Some(customer.birth_date.as_str())
        );
        assert_eq!(
            identity.expiry_date.map(|f| f.value.iso()).as_deref(),
            Some("2036-07-09")
        );
    }

    /// The MRZ changes with the day the passport is rendered (its expiry is ten years on): the
    /// rendering must read back whatever the day. One day of each month, days spread over the
    /// month, through the real OCR models.
    #[test]
    fn the_rendered_passport_reads_back_whatever_the_day() {
        let seed = SeedFile::parse(scanpay_bank::seed::DEMO).unwrap();
        let customer = passport_holder(&seed);
        let ocr = ocr();
        let font = font().unwrap();
        let mut failed = Vec::new();
        for month in 1..=12u8 {
            let expiry = Day {
                year: 2036,
                month,
                day: 1 + 2 * month,
            };
            let read = read_back(passport(&font, customer, expiry).unwrap(), &ocr);
            let passed = read.mrz_checks_pass();
            let number = read
                .identity
                .and_then(|id| id.document_number)
                .map(|f| f.value);
            if !passed || number.as_deref() != Some(customer.id_document_number.as_str()) {
                failed.push((expiry, number, read.mrz_checks));
            }
        }
        assert!(failed.is_empty(), "{failed:?}");
    }

    #[test]
    fn an_aamva_payload_passes_its_own_parser() {
        let customer = SeedCustomer {
            full_name: "SAMPLE MICHAEL JOHN".into(),
            id_document_type: "driver_license".into(),
            id_document_number: "T64235789".into(),
            birth_date: "1986-06-06".into(),
            address: "2300 WEST BROAD STREET, RICHMOND, VA 23269".into(),
            phone: String::new(),
            card: Vec::new(),
        };
        let expiry = Day {
            year: 2036,
            month: 11,
            day: 22,
        };
        let licence =
            scanpay_extract::aamva::parse(&aamva_payload(&customer, expiry).unwrap()).unwrap();
        assert_eq!(licence.document_number.as_deref(), Some("T64235789"));
        assert_eq!(licence.surname.as_deref(), Some("SAMPLE"));
        assert_eq!(
            licence.expiry_date,
            scanpay_extract::Date::new(2036, 11, 22)
        );
    }
}
