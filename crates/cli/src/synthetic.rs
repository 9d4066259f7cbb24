//! Synthetic machine-readable zones for `scanpay bench extract --synthetic N`: random TD1, TD2
//! and TD3 zones with valid check digits, drawn in OCR-B (Debian's `fonts-ocr-b`, which
//! scripts/setup installs; DejaVu Sans Mono otherwise) on a page, then photographed badly at one
//! of five levels: noise, blur, a slant and a perspective that grow with the level. Each image
//! comes with the zone it shows, so every field can be compared.

use ab_glyph::FontVec;
use image::{Rgb, RgbImage};
use imageproc::geometric_transformations::{Interpolation, Projection, warp_into};

use crate::demo;

/// Levels of damage, 0 (a clean scan) to `LEVELS - 1`.
pub const LEVELS: u32 = 5;

/// xorshift64*: reproducible images from a seed, no dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Uniform in `-1.0..1.0`.
    fn signed(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len() as u64) as usize]
    }
}

const SYLLABLES: &[&str] = &[
    "AN", "BER", "CA", "DI", "EL", "FOR", "GA", "HAN", "IN", "JO", "KA", "LIN", "MAR", "NO", "OS",
    "PER", "QUI", "RO", "SAN", "TA", "UL", "VEN", "WEI", "XA", "YO", "ZEN",
];
const COUNTRIES: &[&str] = &[
    "UTO", "D", "FRA", "NLD", "CAN", "USA", "GBR", "POL", "CHE", "ESP",
];

fn word(rng: &mut Rng) -> String {
    (0..2 + rng.below(2)).map(|_| rng.pick(SYLLABLES)).collect()
}

fn digits(rng: &mut Rng, n: usize) -> String {
    (0..n)
        .map(|_| char::from(b'0' + rng.below(10) as u8))
        .collect()
}

fn alnum(rng: &mut Rng, n: usize) -> String {
    const SET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    (0..n)
        .map(|_| char::from(SET[rng.below(SET.len() as u64) as usize]))
        .collect()
}

fn date(rng: &mut Rng, years: std::ops::Range<u64>) -> String {
    format!(
        "{:02}{:02}{:02}",
        (years.start + rng.below(years.end - years.start)) % 100,
        1 + rng.below(12),
        1 + rng.below(28)
    )
}

fn cd(field: &str) -> char {
    let digit = scanpay_extract::mrz::check_digit(field).expect("MRZ characters only");
    char::from(b'0' + digit)
}

fn pad(text: &str, width: usize) -> String {
    let mut out: String = text.chars().take(width).collect();
    while out.len() < width {
        out.push('<');
    }
    out
}

/// The random numbers of `bench extract --synthetic count` at damage `level`: each set and
/// level draws its own zones, the same each run.
pub fn bench_rng(level: u32, count: usize) -> Rng {
    Rng::new(u64::from(level) * 1_000_003 + count as u64)
}

/// A random valid zone: its lines (TD3, TD2 or TD1 in turn by `index`).
pub fn zone(rng: &mut Rng, index: usize) -> Vec<String> {
    let country = pad(rng.pick(COUNTRIES), 3);
    let nationality = pad(rng.pick(COUNTRIES), 3);
    let names = format!("{}<<{}<{}", word(rng), word(rng), word(rng));
    let number = alnum(rng, 9);
    let birth = date(rng, 1940..2010);
    let expiry = date(rng, 2027..2037);
    let sex = ["M", "F", "<"][rng.below(3) as usize];
    // A field followed by its check digit.
    let with_cd = |field: &str| format!("{field}{}", cd(field));
    let (head, birth_cd, expiry_cd) = (with_cd(&number), with_cd(&birth), with_cd(&expiry));
    match index % 3 {
        0 => {
            let optional_cd = with_cd(&pad(&digits(rng, 9), 14));
            let line1 = pad(&format!("P<{country}{names}"), 44);
            let composite = cd(&format!("{head}{birth_cd}{expiry_cd}{optional_cd}"));
            let line2 =
                format!("{head}{nationality}{birth_cd}{sex}{expiry_cd}{optional_cd}{composite}");
            vec![line1, line2]
        }
        1 => {
            let optional = pad(&digits(rng, 4), 7);
            let line1 = pad(&format!("I<{country}{names}"), 36);
            let composite = cd(&format!("{head}{birth_cd}{expiry_cd}{optional}"));
            let line2 =
                format!("{head}{nationality}{birth_cd}{sex}{expiry_cd}{optional}{composite}");
            vec![line1, line2]
        }
        _ => {
            let optional1 = pad(&digits(rng, 7), 15);
            let optional2 = pad("", 11);
            let line1 = format!("I<{country}{head}{optional1}");
            let composite = cd(&format!(
                "{}{birth_cd}{expiry_cd}{optional2}",
                &line1[5..30]
            ));
            let line2 = format!("{birth_cd}{sex}{expiry_cd}{nationality}{optional2}{composite}");
            let line3 = pad(&names, 30);
            vec![line1, line2, line3]
        }
    }
}

/// `lines` drawn as the lower part of a document page, then damaged at `level`.
pub fn photograph(font: &FontVec, lines: &[String], level: u32, rng: &mut Rng) -> RgbImage {
    let size = 40.0;
    let chars = lines.iter().map(|l| l.len()).max().unwrap_or(44) as f32;
    let (width, height) = ((chars * size * 0.62 + 120.0) as u32, (size * 9.0) as u32);
    let paper = Rgb([
        225 + rng.below(25) as u8,
        220 + rng.below(30) as u8,
        205 + rng.below(40) as u8,
    ]);
    let ink = Rgb([25, 25, 35]);
    let mut page = RgbImage::from_pixel(width, height, paper);
    demo::text(
        &mut page,
        font,
        60.0,
        30.0,
        26.0,
        Rgb([90, 90, 100]),
        "Surname / Nom",
    );
    demo::text(&mut page, font, 60.0, 62.0, 32.0, ink, &word(rng));
    let top = height as f32 - size * 1.5 * lines.len() as f32 - 40.0;
    for (index, line) in lines.iter().enumerate() {
        demo::text(
            &mut page,
            font,
            60.0,
            top + index as f32 * size * 1.5,
            size,
            ink,
            line,
        );
    }
    let level = level.min(LEVELS - 1) as f32;
    // A slant and a perspective: each corner moved by up to 1.5% of the width a level, the
    // whole turned by up to 2 degrees a level, on a grey table.
    let jitter = 0.015 * level * width as f32;
    let (w, h) = (width as f32, height as f32);
    let from = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)];
    let turn = (2.0 * level * rng.signed()).to_radians();
    let (sin, cos) = turn.sin_cos();
    let (cx, cy) = (w / 2.0, h / 2.0);
    let margin = 0.08 * w;
    let to = from.map(|(x, y)| {
        let (x, y) = (x + jitter * rng.signed(), y + jitter * rng.signed());
        let (dx, dy) = (x - cx, y - cy);
        (
            cx + dx * cos - dy * sin + margin,
            cy + dx * sin + dy * cos + margin,
        )
    });
    let mut photo = match Projection::from_control_points(from, to) {
        Some(projection) => {
            let table = Rgb([110, 110, 110]);
            let (canvas_w, canvas_h) = (width + 2 * margin as u32, height + 2 * margin as u32);
            let mut canvas = RgbImage::from_pixel(canvas_w, canvas_h, table);
            warp_into(
                &page,
                &projection,
                Interpolation::Bilinear,
                table,
                &mut canvas,
            );
            canvas
        }
        None => page,
    };
    if level > 0.0 {
        photo = image::imageops::blur(&photo, 0.6 * level);
    }
    // Sensor noise: a sum of uniforms, about 5 grey levels of deviation a level.
    let spread = 5.0 * level;
    for pixel in photo.pixels_mut() {
        let noise = (rng.signed() + rng.signed() + rng.signed()) * spread;
        for channel in pixel.0.iter_mut() {
            *channel = (f32::from(*channel) + noise).clamp(0.0, 255.0) as u8;
        }
    }
    photo
}

/// The font the zones are drawn in, and its file.
pub fn font() -> anyhow::Result<(FontVec, std::path::PathBuf)> {
    demo::font_and_path()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_zones_pass_their_own_parser() {
        let mut rng = Rng::new(7);
        let today = scanpay_extract::Date::new(2026, 12, 4).unwrap();
        for index in 0..30 {
            let lines = zone(&mut rng, index);
            let mrz = scanpay_extract::mrz::parse(&lines.join("\n"), today)
                .unwrap_or_else(|e| panic!("{e}: {lines:?}"));
            assert!(
                mrz.all_checks_pass() && mrz.complete(),
                "{lines:?}: {mrz:?}"
            );
            assert_eq!(mrz.corrected, 0, "{lines:?}");
        }
    }

    /// The bench's day.
    fn today() -> scanpay_extract::Date {
        scanpay_extract::Date::new(2026, 12, 4).unwrap()
    }

    /// The real models.
    fn reader() -> scanpay_extract::ocr::Ocr {
        scanpay_extract::ocr::Ocr::load(&scanpay_extract::ocr::default_models_dir()).unwrap()
    }

    /// `photo` through the whole extraction, as PNG.
    fn extract(
        ocr: &scanpay_extract::ocr::Ocr,
        photo: &RgbImage,
    ) -> scanpay_extract::document::Extraction {
        let options = scanpay_extract::document::Options {
            pixels_max: 40_000_000,
            today: today(),
            reader: Some(ocr),
        };
        let mut png = Vec::new();
        photo
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        scanpay_extract::document::extract(&png, &options).unwrap()
    }

    /// Zones of `bench extract --synthetic` the recogniser alone reads wrong, all read exactly.
    /// Clean ones (level 0 of 30, 60 and 90): two document numbers holding an `O` it reads as
    /// `0` with full confidence (one where the check digit cannot tell which `0` it was, one
    /// where two `0`s for `O`s pass it) and a nationality whose first letter it loses, which
    /// only the glyphs tell (`ocr/glyphs.rs`: their heights, and a glyph under no character);
    /// two second lines with digits read as their full-width forms (`Ａ46G5PXNW２…`, no zone
    /// before `ocr::narrow`); a nationality's `C` read `℃`; a given name's lost `Y`, which no
    /// check digit covers (a glyph under no character on a line of capitals alone, put back
    /// before a filler: `mrz::LIKELY_MISSED_ODDS`). Slanted and blurred (level 2 of 30): a
    /// zone whose lines were read unsure and no zone found, read right one and a half times as
    /// wide (`ocr::UNSURE_WIDE_LINE_STRETCH`). Level 2 of 60 and 90: TD1 document numbers whose
    /// `I`s the recogniser reads as `1`s, where another usual change would pass the check digit
    /// too (`HZY51SF3I`: `S` → `5` passes as well), told by their feet (`ocr/glyphs.rs`); a
    /// document number's `C` read `0` (`101I9F0VC`), told by its open right side; a given
    /// name's lost `Q` (`GF1MQF1ON`'s zone) and, at level 3, a nationality's lost `C`
    /// (`TDA91Q0OH`'s), on zone lines read short whose heights blur left too rough to trust.
    #[test]
    fn what_the_recogniser_alone_misreads_is_read() {
        let ocr = reader();
        let (font, path) = font().unwrap();
        // Heights tell OCR-B's letters from its digits (`scripts/setup` installs the font; the
        // fallback's digits stand as tall as its capitals).
        assert!(path.ends_with("OCRB.otf"), "not OCR-B: {}", path.display());
        // The bench's sets and levels (each seeded by both), and the zones' numbers.
        for (count, level, mut wanted) in [
            (30, 0, vec!["3R3KOWOS6", "ZEXR70VYO"]),
            (
                60,
                0,
                vec!["GENKMQB94", "A46G5PXNW", "4Z0T6C7FN", "5S9SEOERY"],
            ),
            (90, 0, vec!["EWQPCWKSX"]),
            (30, 2, vec!["WWERP28D2"]),
            (60, 2, vec!["HZY51SF3I"]),
            (90, 2, vec!["NGII9SP7S", "101I9F0VC", "GF1MQF1ON"]),
            (60, 3, vec!["TDA91Q0OH"]),
        ] {
            let mut rng = bench_rng(level, count);
            for index in 0..count {
                if wanted.is_empty() {
                    break;
                }
                let lines = zone(&mut rng, index);
                let photo = photograph(&font, &lines, level, &mut rng);
                let want = scanpay_extract::mrz::parse(&lines.join("\n"), today())
                    .unwrap()
                    .identity();
                let number = want.document_number.as_ref().map(|f| f.value.clone());
                let Some(at) = wanted.iter().position(|w| Some(*w) == number.as_deref()) else {
                    continue;
                };
                wanted.remove(at);
                let read = extract(&ocr, &photo);
                assert!(read.mrz_checks_pass(), "{lines:?}: {:?}", read.mrz_checks);
                assert_eq!(
                    read.identity.unwrap_or_default().values(),
                    want.values(),
                    "{lines:?}"
                );
            }
            assert!(wanted.is_empty(), "zones not drawn: {wanted:?}");
        }
    }

    /// Images the test makes itself, through the whole extraction with the real models: a
    /// lightly damaged photo (level 1) of each format, twice, reads with every check digit
    /// passing and the fields they vouch for exact.
    #[test]
    fn lightly_damaged_zones_read_back() {
        let ocr = reader();
        let today = today();
        let (font, _) = font().unwrap();
        let mut rng = Rng::new(1_000_015);
        let mut failed = Vec::new();
        for index in 0..6 {
            let lines = zone(&mut rng, index);
            let read = extract(&ocr, &photograph(&font, &lines, 1, &mut rng));
            let want = scanpay_extract::mrz::parse(&lines.join("\n"), today)
                .unwrap()
                .identity();
            let checked = |id: &scanpay_extract::Identity| {
                id.values()
                    .into_iter()
                    .filter(|(field, _)| scanpay_extract::mrz::CHECKED_FIELDS.contains(field))
                    .collect::<Vec<_>>()
            };
            let got = checked(&read.identity.clone().unwrap_or_default());
            if !read.mrz_checks_pass() || got != checked(&want) {
                failed.push((lines, got, read.mrz_checks));
            }
        }
        assert!(failed.is_empty(), "{failed:#?}");
    }
}
