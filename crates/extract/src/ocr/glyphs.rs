//! A recognised line's glyphs, measured: how tall each character was drawn, and the glyphs no
//! character was read at.
//!
//! The recogniser reads a line as a whole and can be sure of a wrong character: in OCR-B (the
//! font of every machine-readable zone) it reads `O` as `0` with full confidence. The two glyphs
//! are as wide as each other, but not as tall: OCR-B's digits stand higher than its capitals
//! (at 100 px, `0`–`9` 76.8–78.7 px, `A`–`Z` 70.1–73.4 px, measured on Debian's
//! `fonts-ocr-b`). So a character the recogniser read as one of a look-alike pair (`O`/`0`,
//! `I`/`1`, `Z`/`2`, `S`/`5`, `B`/`8`, `G`/`6`) is measured against the line's scale — what its
//! letters and digits, each against its own OCR-B height, say one unit of the font is — and
//! when it stands clearly at its look-alike's height it is read as the look-alike, the
//! recogniser's reading kept as an alternative as likely as the new one: a check digit that
//! fails with the new reading and passes with the old takes the old one back (the zone parser
//! prefers a repair the reader found as likely to any other by its margin). Lower-case readings
//! are left alone (a `b` or a `g` stands as tall as a digit).
//!
//! Heights cannot tell an `I` from a `1` once blur evens them out, and the recogniser often
//! reads OCR-B's `I` as `1` (in a document number, where letters and digits mix, the check
//! digit may pass with another usual change as well). Their shapes differ where blur leaves
//! them apart: OCR-B's `I` stands on a foot as wide as its head, about three stems, its `1` on
//! its bare stem. On a line of OCR-B (its heights say so), a `1` on a foot is read as an `I`
//! and an `I` on a bare stem as a `1` ([`told_by_feet`]), the recogniser's reading kept as
//! an alternative as likely — on a line measured only loosely, only if it is a zone's (it has
//! fillers; elsewhere the foot's reading is offered as an alternative) — and for a character
//! whose foot says what it is the heights are not asked.
//!
//! A blurred OCR-B `C` is read as `0`, and `C` is no usual confusion the zone parser tries
//! where a check digit fails. A `C` opens on its right, a `0` or an `O` does not: a character
//! read `0` or `O` whose glyph opens there ([`mouth`]) is offered as a `C` as likely as the
//! reading ([`open_like_a_c`]), on any line measured, whatever its heights say (the shape is
//! the same in most fonts).
//!
//! A glyph under no character read, where the characters on either side leave room for one, is
//! a character the recogniser lost (CTC reads blanks over it); `ocr.rs::measure_glyphs` names
//! it by the recogniser's likeliest character at its steps, for the zone parser to put back.
//!
//! A line whose letters and digits give different scales is not drawn in OCR-B (most other
//! fonts, a card's embossing, draw digits as tall as capitals), and one whose glyphs stray from
//! the scale is measured too roughly (blur, noise, a slanted crop): both are left as read, but
//! for a line straying only a little, where a glyph standing a whole class off is read again,
//! and one straying more (up to 4%, and with its letters and digits up to 7% apart), where a
//! glyph standing out from the others read as it, past halfway to its look-alike's height, is
//! offered as an alternative, the text left as read: it settles a failing check digit that two
//! OCR-B confusions would each pass ([`Measure::Loosely`]). On
//! the photos measured this leaves most real documents' zones as read and reads clean OCR-B
//! right where the recogniser was sure of the wrong character or lost one
//! (docs/benchmarks.md).

use image::RgbImage;

use super::{Alternative, fold, histogram, otsu};

/// Glyphs of each class a line needs for its heights to be trusted.
const REFERENCES_MIN: usize = 3;
/// Capitals a line without digits (a zone's names) needs for its glyphs to be searched for one
/// the recogniser lost (its heights are not judged: a scale from one class cannot tell OCR-B).
const LETTERS_ALONE_MIN: usize = 8;
/// The line's scale from its letters and from its digits may differ by this much (relative):
/// OCR-B's digits stand 5–12% higher than its letters, so a font whose do not is told apart.
const SCALES_APART_MAX: f32 = 0.025;
/// The reference glyphs' heights may stray from the line's scale by this much (the median of
/// their relative deviations): a blurred or noisy line is measured too roughly to overrule the
/// recogniser (a clean synthetic zone strays 0.1–0.5%, the most damaged ones over 1%).
const SPREAD_MAX: f32 = 0.01;
/// A line straying more, up to this, is measured roughly but still tells a glyph a whole
/// class off its own height: at a capital's height of ~21 px one pixel is ~5%, and a lightly
/// blurred zone strays 1–2% (the synthetic benchmark's level 1, where `O`s read `0` stood 9%
/// under the digits on a line straying 2.05%). On such a line only a character at its
/// look-alike's height or past it ([`ROUGH_OTHER_SIDE_MIN`]) is read again, and no lost glyph
/// is searched for unless the line is a zone's read short (`ocr.rs::short_of_a_zone_line`).
/// At 2.5% the damaged level 3 got two more wrong repairs, at 2.1% one (`docs/benchmarks.md`).
const ROUGH_SPREAD_MAX: f32 = 0.021;
/// Looser still — up to this spread, and with the scales of letters and digits up to
/// [`LOOSE_APART_MAX`] apart (a blur thickens every glyph alike, which narrows the two classes'
/// gap) — a line's heights no longer say which character is which, but a glyph standing past
/// [`LOOSE_OTHER_SIDE_MIN`] toward its look-alike's height is offered to the zone parser as an
/// alternative as likely as the reading ([`OVERRULED_ODDS`]), the text left as read: when a
/// check digit fails and two OCR-B confusions would each pass it (`KHS0TK0YB`, where either `0`
/// read `O` passes; the synthetic benchmark's level 2), the one the heights lean to is taken.
const LOOSE_SPREAD_MAX: f32 = 0.04;
/// See [`LOOSE_SPREAD_MAX`]. Another font, whose digits stand as tall as its capitals, gives
/// ~8.5%.
const LOOSE_APART_MAX: f32 = 0.07;
/// [`OTHER_SIDE_MIN`] for an alternative on a line measured loosely ([`LOOSE_SPREAD_MAX`])…
const LOOSE_OTHER_SIDE_MIN: f32 = 0.5;
/// …where the glyphs past [`LOOSE_OTHER_SIDE_MIN`] must also be fewer than half of the line's
/// characters read as they were, and each stand this much further toward its look-alike than
/// the median of the others (those short of it; in the same units: the look-alike's height is
/// 1 from its own). A real document's font may differ from OCR-B in one glyph throughout
/// (`0_id-esp`'s two `1`s stand 0.4–1.1 of the way to an `I` over its readings); blur draws one
/// character alike wherever it stands. The level-2 synthetic zones' `O`s read `0` stood 0.7
/// and 1.8 beyond the median of their lines' other `0`s.
const LOOSE_APART_FROM_ITS_OWN: f32 = 0.5;
/// How far from its own height toward its look-alike's (0 to 1) a character must stand to be
/// read as the look-alike…
const OTHER_SIDE_MIN: f32 = 0.75;
/// [`OTHER_SIDE_MIN`] on a line measured roughly ([`ROUGH_SPREAD_MAX`]).
const ROUGH_OTHER_SIDE_MIN: f32 = 1.0;
/// …and at most how far: a glyph standing well past its look-alike's height is a speck on it or
/// two glyphs run together, not the look-alike.
const OTHER_SIDE_MAX: f32 = 1.5;
/// A patch wider than this many characters' pitch is not one glyph (two run together).
const GLYPH_WIDTH_MAX: f32 = 1.4;
/// A patch under no character is a glyph when at least this tall against the line's usual
/// glyph (OCR-B's filler `<` stands 0.87 of a capital).
const UNREAD_HEIGHT_MIN: f32 = 0.75;
/// Two characters read this many characters apart, or more, have room for one between them.
const SLOT_MISSING_MIN: f32 = 1.6;
/// The odds a character the recogniser lost, found as a glyph under no character, is given
/// against the blank read there: as likely, whatever the recogniser's own odds (the glyph is
/// there; which character it is, the recogniser's likeliest at its steps says).
pub(super) const UNREAD_ODDS: f32 = 1.0;
/// The odds left to the recogniser's own reading of a character read again by its height: as
/// likely as the new reading, so that when a check digit fails, going back to it is the one
/// repair the zone parser prefers by its margin (`mrz::search`: a change the reader found as
/// likely costs a tenth of one it gave no weight).
const OVERRULED_ODDS: f32 = 1.0;

/// A letter and the digit drawn like it.
const PAIRS: [(char, char); 6] = [
    ('O', '0'),
    ('I', '1'),
    ('Z', '2'),
    ('S', '5'),
    ('B', '8'),
    ('G', '6'),
];

/// A line's glyphs, measured.
pub(super) struct Measured {
    /// The height, in crop pixels, of each character's glyph.
    pub(super) heights: Vec<Option<f32>>,
    /// Glyphs under no character: `(left, right)` columns of each, left to right.
    pub(super) unread: Vec<(usize, usize)>,
    /// How wide each character's glyph stands on its foot against its stem ([`Patch::foot`]).
    pub(super) feet: Vec<Option<f32>>,
    /// How open each character's glyph is on its right ([`mouth`]).
    pub(super) mouths: Vec<Option<f32>>,
}

/// The glyphs of a line whose characters were read at `centres` (the x in `crop` where the
/// recogniser read each): a character's glyph is the connected patch of ink under its x, if it
/// has the size of one character (at most [`GLYPH_WIDTH_MAX`] of the line's `pitch`, the
/// distance from one character to the next, and clear of the crop's top and bottom edges). A
/// patch under no character that stands at least [`UNREAD_HEIGHT_MIN`] of the usual glyph's
/// height, within the line, where its neighbours leave room for it, is a glyph the recogniser
/// did not read.
pub(super) fn measure(crop: &RgbImage, centres: &[f32], pitch: f32) -> Measured {
    let nothing = || Measured {
        heights: vec![None; centres.len()],
        unread: Vec::new(),
        feet: vec![None; centres.len()],
        mouths: vec![None; centres.len()],
    };
    let (width, height) = crop.dimensions();
    let height = height as usize;
    if width < 4 || height < 4 || centres.is_empty() {
        return nothing();
    }
    let grey = image::imageops::grayscale(crop).into_raw();
    let histogram = histogram(&grey);
    let threshold = otsu(&histogram);
    // The paper's and the ink's grey: the means above and below the threshold.
    let mean = |levels: std::ops::RangeInclusive<usize>| {
        let (mut n, mut sum) = (0u64, 0u64);
        for level in levels {
            n += histogram[level];
            sum += histogram[level] * level as u64;
        }
        (n > 0).then(|| sum as f32 / n as f32)
    };
    let (Some(ink), Some(paper)) = (
        mean(0..=usize::from(threshold)),
        mean(usize::from(threshold) + 1..=255),
    ) else {
        return nothing();
    };
    let width = width as usize;
    let dark: Vec<bool> = grey.iter().map(|&g| g <= threshold).collect();
    // The patches that could be one character: clear of the crop's top and bottom (a glyph cut
    // off, or a neighbouring line's ink) and no wider than a character.
    let mut patches = Vec::new();
    super::components(&dark, width, |pixels| {
        let mut patch = Patch {
            left: usize::MAX,
            right: 0,
            top: usize::MAX,
            bottom: 0,
            pixels: pixels.len(),
            foot: None,
            mouth: None,
        };
        for &at in pixels {
            let (x, y) = (at % width, at / width);
            patch.left = patch.left.min(x);
            patch.right = patch.right.max(x);
            patch.top = patch.top.min(y);
            patch.bottom = patch.bottom.max(y);
        }
        let clear = patch.top > 0 && patch.bottom + 1 < height;
        if clear && (patch.right - patch.left + 1) as f32 <= GLYPH_WIDTH_MAX * pitch {
            patch.foot = foot(pixels, width, patch.top, patch.bottom);
            patch.mouth = mouth(pixels, width, &patch);
            patches.push(patch);
        }
    });
    // How dark a row of a patch gets (0 paper, 1 ink): a row the glyph's edge only grazes is
    // partly dark, so a patch's rows summed measure its height to a fraction of a pixel.
    let darkness = |patch: &Patch, y: usize| {
        let row = &grey[y * width..][..width];
        let darkest = row[patch.left..=patch.right]
            .iter()
            .min()
            .copied()
            .unwrap_or(255);
        ((paper - f32::from(darkest)) / (paper - ink)).clamp(0.0, 1.0)
    };
    // Pixel `p` spans `p..p + 1` of the crop's x.
    let under = |p: &Patch, x: f32| (p.left as f32..=(p.right + 1) as f32).contains(&x);
    // Each character's glyph: the largest patch under its x.
    let glyphs: Vec<Option<&Patch>> = centres
        .iter()
        .map(|&x| {
            patches
                .iter()
                .filter(|p| under(p, x))
                .max_by_key(|p| p.pixels)
        })
        .collect();
    let heights: Vec<Option<f32>> = glyphs
        .iter()
        .map(|patch| {
            let patch = (*patch)?;
            Some(
                (patch.top - 1..=patch.bottom + 1)
                    .map(|y| darkness(patch, y))
                    .sum(),
            )
        })
        .collect();
    let feet = glyphs
        .iter()
        .map(|patch| patch.and_then(|p| p.foot))
        .collect();
    let mouths = glyphs
        .iter()
        .map(|patch| patch.and_then(|p| p.mouth))
        .collect();
    // Glyphs under no character: as tall as a character (not a speck), within the line, clear
    // of every character's x by a fifth of a character (the recogniser's x is only roughly
    // where the glyph is), and where a character is missing — the characters read on either
    // side of it stand at least [`SLOT_MISSING_MIN`] characters apart (or the line ends there),
    // so that a character read off its glyph's middle does not pass for a lost one.
    let mut tall: Vec<usize> = patches
        .iter()
        .filter(|p| centres.iter().any(|&x| under(p, x)))
        .map(|p| p.bottom - p.top + 1)
        .collect();
    tall.sort_unstable();
    let usual = tall.get(tall.len() / 2).copied().unwrap_or(0) as f32;
    let slack = 0.2 * pitch;
    let (first, last) = (centres[0], centres[centres.len() - 1]);
    let mut unread: Vec<(usize, usize)> = patches
        .iter()
        .filter(|p| {
            let middle = (p.left + p.right + 1) as f32 / 2.0;
            usual > 0.0
                && (p.bottom - p.top + 1) as f32 >= UNREAD_HEIGHT_MIN * usual
                && (first - pitch..=last + pitch).contains(&middle)
                && !centres
                    .iter()
                    .any(|&x| (p.left as f32 - slack..=(p.right + 1) as f32 + slack).contains(&x))
                && {
                    let after = centres.partition_point(|&x| x < middle);
                    match (after.checked_sub(1).map(|i| centres[i]), centres.get(after)) {
                        (Some(before), Some(&next)) => next - before >= SLOT_MISSING_MIN * pitch,
                        _ => true,
                    }
                }
        })
        .map(|p| (p.left, p.right))
        .collect();
    unread.sort_unstable();
    Measured {
        heights,
        unread,
        feet,
        mouths,
    }
}

/// How open a glyph of `pixels` (indexes into rows of `width`) is on its right: the gap between
/// its right edge and its rightmost ink over its middle rows ([`MOUTH_ROWS`]), as a share of its
/// width. OCR-B's `C` opens there; its `0` and `O` are closed. `None` for a glyph too short.
fn mouth(pixels: &[usize], width: usize, patch: &Patch) -> Option<f32> {
    let rows = patch.bottom + 1 - patch.top;
    if rows < 9 {
        return None;
    }
    let middle = band(rows, MOUTH_ROWS);
    let rightmost = pixels
        .iter()
        .filter(|&&at| middle.contains(&(at / width - patch.top)))
        .map(|&at| at % width)
        .max()?;
    Some((patch.right - rightmost) as f32 / (patch.right + 1 - patch.left) as f32)
}

/// The middle rows of a glyph, as a share of its height from the top: where a `C` opens.
const MOUTH_ROWS: (f32, f32) = (0.4, 0.6);
/// A glyph read `0` or `O` this open on its right, or more, may be a `C` ([`mouth`]).
/// Measured: the specimens' glyphs read `0` or `O` and drawn so 0–0.125 of their width, the
/// `C`s read right 0.5–0.82 (but a 270-pixel scan's, 0.23–0.32), and those read `0` 0.67 (`CAN`
/// read `0A2`); the synthetic zones' `0`s and `O`s 0–0.1, `C`s 0–0.8 as blur closes them.
const MOUTH_OF_A_C_MIN: f32 = 0.3;

/// The characters of `text` read `0` or `O` whose glyphs open on the right like a `C`
/// ([`MOUTH_OF_A_C_MIN`]), each with the `C` it may be: the recogniser reads a blurred OCR-B `C`
/// as a `0`, and `C` is no usual OCR-B confusion the zone parser would try where a check fails.
pub(super) fn open_like_a_c(text: &str, mouths: &[Option<f32>]) -> Vec<(usize, char)> {
    text.chars()
        .zip(mouths)
        .enumerate()
        .filter(|(_, (c, mouth))| {
            matches!(c, '0' | 'O') && mouth.is_some_and(|m| m >= MOUTH_OF_A_C_MIN)
        })
        .map(|(index, _)| (index, 'C'))
        .collect()
}

/// How wide a glyph of `pixels` (indexes into rows of `width`, rows `top` to `bottom`) stands on
/// its foot against its stem: the widest of its lowest rows over the narrowest of its middle
/// ones (see [`FOOT_ROWS`]). OCR-B's `I` has a foot as wide as its head, some three stems; its
/// `1` stands on its bare stem. `None` for a glyph too short to have three bands of rows.
fn foot(pixels: &[usize], width: usize, top: usize, bottom: usize) -> Option<f32> {
    let rows = bottom + 1 - top;
    if rows < 9 {
        return None;
    }
    let mut counts = vec![0usize; rows];
    for &at in pixels {
        counts[at / width - top] += 1;
    }
    let foot = counts[band(rows, FOOT_ROWS)].iter().copied().max()?;
    let stem = counts[band(rows, STEM_ROWS)].iter().copied().min()?;
    (stem > 0).then(|| foot as f32 / stem as f32)
}

/// The rows of a glyph `rows` high between two shares of its height from the top (`share`),
/// counted from its top row.
fn band(rows: usize, share: (f32, f32)) -> std::ops::Range<usize> {
    let from = (share.0 * rows as f32) as usize;
    let to = (share.1 * rows as f32).ceil() as usize;
    from..to.min(rows)
}

/// The lowest rows of a glyph, as a share of its height from the top: its foot.
const FOOT_ROWS: (f32, f32) = (0.85, 1.0);
/// The middle rows of a glyph: its stem.
const STEM_ROWS: (f32, f32) = (0.35, 0.65);
/// A `1` standing on a foot this many stems wide, or wider, is an `I`. Measured (`foot`): the
/// synthetic zones' `I`s 2.75–4.0 stems, also where the recogniser read `1` (3.0–3.25; level 2
/// of the synthetic benchmark); the specimens' `I`s 1.6–6.0 (the low ones on photos under 300
/// pixels wide), their `1`s 0.5–2.2 (a Spanish card's font up to 2.1).
const FOOT_OF_AN_I_MIN: f32 = 2.5;
/// An `I` standing on a foot this narrow, or narrower, is a `1` (the synthetic zones' `1`s
/// 1.0–1.25).
const FOOT_OF_A_ONE_MAX: f32 = 1.3;

/// A connected patch of dark pixels: its bounding box, and how many pixels it has.
struct Patch {
    left: usize,
    right: usize,
    top: usize,
    bottom: usize,
    pixels: usize,
    /// See [`foot`].
    foot: Option<f32>,
    /// See [`mouth`].
    mouth: Option<f32>,
}

/// The height of each of OCR-B's letters `A`–`Z` and digits `0`–`9` at a size of 100 px (Debian's
/// `fonts-ocr-b`, measured at 1000 px).
const OCR_B_LETTERS: [f32; 26] = [
    71.7, 70.1, 72.9, 70.1, 70.1, 71.1, 73.2, 72.3, 70.1, 72.9, 72.3, 71.3, 72.3, 72.3, 73.4, 71.1,
    72.6, 71.1, 73.1, 71.1, 72.6, 72.3, 72.3, 72.3, 72.3, 70.1,
];
const OCR_B_DIGITS: [f32; 10] = [78.7, 78.0, 77.3, 77.1, 78.0, 77.1, 78.3, 76.8, 78.7, 78.3];

/// [`ocr_b_height`] of a capital or digit, for the OCR's tests that draw lines.
#[cfg(test)]
pub(super) fn test_height(c: char) -> f32 {
    ocr_b_height(c).expect("a capital or a digit")
}

fn ocr_b_height(c: char) -> Option<f32> {
    match c {
        'A'..='Z' => Some(OCR_B_LETTERS[usize::from(c as u8 - b'A')]),
        '0'..='9' => Some(OCR_B_DIGITS[usize::from(c as u8 - b'0')]),
        _ => None,
    }
}

/// Whether `text` could have a character read again by its height (one of a look-alike pair)
/// or a glyph the recogniser lost (`long_line`), and enough capitals and digits for a scale
/// ([`ocr_b_scale`]) — or, for a lost glyph, enough capitals alone ([`letters_measured_well`]:
/// a zone's names; every long line of capitals on a page is measured so). Measuring a line
/// costs a pass over its crop's pixels: only such lines are.
pub(super) fn worth_measuring(text: &str, long_line: bool) -> bool {
    let (mut letters, mut digits, mut pairs) = (0, 0, 0);
    for c in text.chars().filter_map(measurable) {
        letters += usize::from(c.is_ascii_uppercase());
        digits += usize::from(c.is_ascii_digit());
        pairs += usize::from(look_alike(c).is_some());
    }
    ((pairs > 0 || long_line) && letters >= REFERENCES_MIN && digits >= REFERENCES_MIN)
        || (long_line && letters >= LETTERS_ALONE_MIN)
}

/// A character read as a capital or a digit (the decoding has narrowed full-width forms);
/// `None` for the rest, whose heights say nothing here (a lower-case `b` stands as tall as a
/// digit).
fn measurable(c: char) -> Option<char> {
    (c.is_ascii_uppercase() || c.is_ascii_digit()).then_some(c)
}

/// The scale of a line drawn in OCR-B (a glyph's height in pixels over its height at 100 px),
/// from its capitals and digits (`heights`, one a character, `None` where unmeasured), each
/// against its OCR-B height — the doubtful ones among them too: a line has few — and how well
/// the line keeps to it ([`Measure`]). `None` when the line has too few of either, when its
/// capitals and digits disagree on the scale by more than [`LOOSE_APART_MAX`] (it is not drawn
/// in OCR-B) or when its glyphs stray from it more than [`LOOSE_SPREAD_MAX`].
pub(super) fn ocr_b_scale(text: &str, heights: &[Option<f32>]) -> Option<LineScale> {
    let (mut letters, mut digits) = against_ocr_b(text, heights)?;
    if letters.len() < REFERENCES_MIN || digits.len() < REFERENCES_MIN {
        return None;
    }
    let (by_letters, by_digits) = (median(&mut letters), median(&mut digits));
    let scale = (by_letters + by_digits) / 2.0;
    let apart = (by_letters - by_digits).abs() / scale;
    let mut all: Vec<f32> = letters.into_iter().chain(digits).collect();
    let spread = spread(&mut all, scale);
    let measure = if apart <= SCALES_APART_MAX && spread <= SPREAD_MAX {
        Measure::Well
    } else if apart <= SCALES_APART_MAX && spread <= ROUGH_SPREAD_MAX {
        Measure::Roughly
    } else if apart <= LOOSE_APART_MAX && spread <= LOOSE_SPREAD_MAX {
        Measure::Loosely
    } else {
        return None;
    };
    Some(LineScale { scale, measure })
}

/// A line's OCR-B scale ([`ocr_b_scale`]), and how well it was measured.
#[derive(Clone, Copy, Debug)]
pub(super) struct LineScale {
    pub scale: f32,
    pub measure: Measure,
}

/// How closely a line's glyphs keep to their OCR-B heights, and so what their heights may say.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Measure {
    /// Within [`SPREAD_MAX`]: a glyph standing most of the way to its look-alike's height is read
    /// as the look-alike, and a glyph the recogniser lost is searched for.
    Well,
    /// Within [`ROUGH_SPREAD_MAX`]: only a glyph a whole class off is read again.
    Roughly,
    /// Within [`LOOSE_SPREAD_MAX`]: nothing is read again; a glyph leaning to its look-alike is
    /// offered as an alternative ([`lean`]).
    Loosely,
}

/// Whether a line's capitals alone (at least [`LETTERS_ALONE_MIN`]; its digits, if any, left
/// out), each against its OCR-B height, stray from their median by no more than [`SPREAD_MAX`]:
/// measured well enough (no blur or noise to speak of) to search for a glyph the recogniser
/// lost, on a line with too few digits for [`ocr_b_scale`] (a zone's names). It does not tell
/// OCR-B from a font whose capitals all stand alike, which the search does not need.
pub(super) fn letters_measured_well(text: &str, heights: &[Option<f32>]) -> bool {
    let Some((mut letters, digits)) = against_ocr_b(text, heights) else {
        return false;
    };
    // A line with digits enough for a scale is judged by it (`ocr_b_scale`); one that gave
    // none, or only a rough one, is not OCR-B or was not measured well enough to search.
    if letters.len() < LETTERS_ALONE_MIN || digits.len() >= REFERENCES_MIN {
        return false;
    }
    let scale = median(&mut letters);
    spread(&mut letters, scale) <= SPREAD_MAX
}

/// Each measured capital's and digit's height over its OCR-B height at 100 px: `(capitals,
/// digits)`. `None` when `heights` is not one a character.
fn against_ocr_b(text: &str, heights: &[Option<f32>]) -> Option<(Vec<f32>, Vec<f32>)> {
    if text.chars().count() != heights.len() {
        return None;
    }
    let (mut letters, mut digits) = (Vec::new(), Vec::new());
    for (c, &h) in text.chars().zip(heights) {
        let (Some(c), Some(h)) = (measurable(c), h) else {
            continue;
        };
        let Some(drawn) = ocr_b_height(c) else {
            continue;
        };
        if c.is_ascii_digit() {
            digits.push(h / drawn);
        } else {
            letters.push(h / drawn);
        }
    }
    Some((letters, digits))
}

/// The median of `ratios`' relative deviations from `scale` (`ratios` overwritten).
fn spread(ratios: &mut [f32], scale: f32) -> f32 {
    for r in ratios.iter_mut() {
        *r = (*r / scale - 1.0).abs();
    }
    median(ratios)
}

/// The characters of `text` (one height each, `None` where unmeasured) that stand at their
/// look-alike's height rather than their own, on a line of OCR-B at `scale` (see
/// [`ocr_b_scale`]), as far as the line's [`Measure`] asks — on a line measured loosely, those
/// leaning to it and standing out from the others read as they were: `(index, look-alike)`.
pub(super) fn misread_classes(
    text: &str,
    heights: &[Option<f32>],
    line: LineScale,
) -> Vec<(usize, char)> {
    let scale = line.scale;
    let least = match line.measure {
        Measure::Well => OTHER_SIDE_MIN,
        Measure::Roughly => ROUGH_OTHER_SIDE_MIN,
        Measure::Loosely => LOOSE_OTHER_SIDE_MIN,
    };
    let chars: Vec<Option<char>> = text.chars().map(measurable).collect();
    // 0 where a character read `c` would stand, 1 where its look-alike would.
    let toward = |c: char, h: f32| -> Option<f32> {
        let (read, drawn) = (ocr_b_height(c)?, ocr_b_height(look_alike(c)?)?);
        Some((h / scale - read) / (drawn - read))
    };
    chars
        .iter()
        .zip(heights)
        .enumerate()
        .filter_map(|(index, (&c, &h))| {
            let c = c?;
            let at = toward(c, h?)?;
            if !(least..=OTHER_SIDE_MAX).contains(&at) {
                return None;
            }
            // Loosely measured, a glyph must also stand out from the others read as it, with
            // fewer than half of them past halfway (a font's `1` may stand short throughout, as
            // on a Spanish identity card).
            if line.measure == Measure::Loosely {
                let same: Vec<f32> = chars
                    .iter()
                    .zip(heights)
                    .filter(|&(&d, _)| d == Some(c))
                    .filter_map(|(_, &h)| toward(c, h?))
                    .collect();
                let mut own: Vec<f32> = same.iter().copied().filter(|&t| t < least).collect();
                if own.len() * 2 <= same.len() || at - median(&mut own) < LOOSE_APART_FROM_ITS_OWN {
                    return None;
                }
            }
            look_alike(c).map(|other| (index, other))
        })
        .collect()
}

/// The `I`s and `1`s of `text` whose feet say which they are (one foot a character, `None`
/// where unmeasured; see [`foot`]): on a foot as wide as an `I`'s an `I`, on a bare stem a `1`,
/// whichever the recogniser read — `(index, what it is)`. To be asked only of a line drawn in
/// OCR-B ([`ocr_b_scale`]): other fonts' `1`s have feet.
pub(super) fn told_by_feet(text: &str, feet: &[Option<f32>]) -> Vec<(usize, char)> {
    text.chars()
        .zip(feet)
        .enumerate()
        .filter(|(_, (c, _))| matches!(c, 'I' | '1'))
        .filter_map(|(index, (_, &foot))| match foot? {
            foot if foot >= FOOT_OF_AN_I_MIN => Some((index, 'I')),
            foot if foot <= FOOT_OF_A_ONE_MAX => Some((index, '1')),
            _ => None,
        })
        .collect()
}

/// The digit a letter is drawn like, or the letter a digit is.
fn look_alike(c: char) -> Option<char> {
    PAIRS.iter().find_map(|&(letter, digit)| {
        if c == letter {
            Some(digit)
        } else if c == digit {
            Some(letter)
        } else {
            None
        }
    })
}

/// The median of `values` (sorted in place); of an even count, the mean of the middle two.
pub(super) fn median(values: &mut [f32]) -> f32 {
    values.sort_by(f32::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

/// `text` with each of `misread` as its look-alike, and the recogniser's reading of each as
/// its likeliest alternative (at [`OVERRULED_ODDS`]; its other alternatives kept, but for the
/// look-alike now read, within the [`super::ALTERNATIVES_PER_CHARACTER`]).
pub(super) fn reread(
    text: &str,
    alternatives: &mut Vec<Alternative>,
    misread: &[(usize, char)],
) -> String {
    let mut out = String::with_capacity(text.len());
    for (index, c) in text.chars().enumerate() {
        match misread.iter().find(|(i, _)| *i == index) {
            Some(&(_, other)) => {
                alternatives.retain(|a| a.index != index || a.character != other);
                alternatives.push(Alternative {
                    index,
                    character: fold(c),
                    odds: OVERRULED_ODDS,
                });
                out.push(other);
            }
            None => out.push(c),
        }
    }
    keep_likeliest(alternatives);
    out
}

/// Each of `leaning` (`(index, character)`: a look-alike on a line measured loosely, a `C` for
/// a glyph open like one) offered as an alternative as likely as the character read
/// ([`OVERRULED_ODDS`]), the text left as read.
pub(super) fn lean(alternatives: &mut Vec<Alternative>, leaning: &[(usize, char)]) {
    for &(index, other) in leaning {
        let character = fold(other);
        match alternatives
            .iter_mut()
            .find(|a| a.index == index && a.character == character)
        {
            Some(seen) => seen.odds = seen.odds.max(OVERRULED_ODDS),
            None => alternatives.push(Alternative {
                index,
                character,
                odds: OVERRULED_ODDS,
            }),
        }
    }
    keep_likeliest(alternatives);
}

/// `alternatives` by character, likeliest first, at most
/// [`super::ALTERNATIVES_PER_CHARACTER`] each.
fn keep_likeliest(alternatives: &mut Vec<Alternative>) {
    alternatives.sort_by(|a, b| a.index.cmp(&b.index).then(b.odds.total_cmp(&a.odds)));
    let (mut last, mut kept) = (None, 0);
    alternatives.retain(|a| {
        if last != Some(a.index) {
            (last, kept) = (Some(a.index), 0);
        }
        kept += 1;
        kept <= super::ALTERNATIVES_PER_CHARACTER
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A glyph drawn as rows of ink `(first column, last column)`, top to bottom, on a line
    /// `width` pixels wide: its pixels' indexes, as `components` hands them over.
    fn glyph(rows: &[(usize, usize)], width: usize) -> Vec<usize> {
        rows.iter()
            .enumerate()
            .flat_map(|(y, &(first, last))| (first..=last).map(move |x| y * width + x))
            .collect()
    }

    #[test]
    fn an_i_stands_on_a_foot_and_a_one_on_its_stem() {
        let width = 20;
        // OCR-B's `I`: a head and a foot three stems wide; its `1`: a flag, and no foot.
        let mut i = vec![(2, 10); 2];
        i.extend([(5, 7); 16]);
        i.extend([(2, 10); 2]);
        let mut one = vec![(4, 7), (3, 7), (2, 7), (1, 4)];
        one.extend([(5, 7); 16]);
        let foot_of = |rows: &[(usize, usize)]| foot(&glyph(rows, width), width, 0, rows.len() - 1);
        assert_eq!(foot_of(&i), Some(3.0));
        assert_eq!(foot_of(&one), Some(1.0));
        // Too short to have a foot, a stem and a head.
        assert_eq!(foot_of(&i[..8]), None);
        // On a foot an `I`, on a bare stem a `1`, whichever was read; between, neither.
        let feet = [
            Some(3.0),
            Some(1.0),
            Some(1.8),
            Some(1.8),
            None,
            Some(3.0),
            Some(1.0),
        ];
        assert_eq!(
            told_by_feet("1I1I1I1", &feet),
            vec![(0, 'I'), (1, '1'), (5, 'I'), (6, '1')]
        );
        assert!(told_by_feet("AB", &[Some(3.0), Some(1.0)]).is_empty());
    }

    #[test]
    fn a_c_opens_on_its_right_and_a_zero_does_not() {
        let width = 20;
        // A ring's left half (its top and bottom bars, its left stroke) and its right stroke; a
        // `C` keeps only the right stroke's ends.
        let mut left = vec![(3, 9); 2];
        left.extend([(2, 3); 16]);
        left.extend([(3, 9); 2]);
        let right = glyph(&[(9, 10); 20], width);
        let ends = right
            .iter()
            .copied()
            .filter(|&at| !(5..15).contains(&(at / width)));
        let zero = [glyph(&left, width), right.clone()].concat();
        let c: Vec<usize> = glyph(&left, width).into_iter().chain(ends).collect();
        let mouth_of = |pixels: &[usize]| {
            let xs = || pixels.iter().map(|&at| at % width);
            let patch = Patch {
                left: xs().min().unwrap(),
                right: xs().max().unwrap(),
                top: 0,
                bottom: pixels.iter().map(|&at| at / width).max().unwrap(),
                pixels: pixels.len(),
                foot: None,
                mouth: None,
            };
            mouth(pixels, width, &patch)
        };
        assert_eq!(mouth_of(&zero), Some(0.0));
        // Open from its left stroke (column 3) to its right edge (10), of 9 columns.
        assert_eq!(mouth_of(&c), Some(7.0 / 9.0));
        // Too short to tell its middle from its ends.
        assert_eq!(mouth_of(&zero[..16]), None);
        // A `0` or an `O` that opens may be a `C`; nothing else is asked, nor a closed one.
        let mouths = [
            Some(0.78),
            Some(0.78),
            Some(0.78),
            Some(0.1),
            None,
            Some(0.3),
        ];
        assert_eq!(
            open_like_a_c("0OD00O", &mouths),
            [(0, 'C'), (1, 'C'), (5, 'C')]
        );
    }

    /// [`misread_classes`] at the line's own scale, if it has one.
    fn misread(text: &str, heights: &[Option<f32>]) -> Vec<(usize, char)> {
        ocr_b_scale(text, heights)
            .map_or_else(Vec::new, |scale| misread_classes(text, heights, scale))
    }

    /// `text` as OCR-B draws it at `scale` (glyph height over the font's at 100 px), with the
    /// characters at `drawn_as` drawn as another character.
    fn drawn(text: &str, scale: f32, drawn_as: &[(usize, char)]) -> Vec<Option<f32>> {
        text.chars()
            .enumerate()
            .map(|(i, c)| {
                let c = drawn_as.iter().find(|(at, _)| *at == i).map_or(c, |d| d.1);
                ocr_b_height(c).map(|h| h * scale)
            })
            .collect()
    }

    #[test]
    fn a_letter_read_as_its_digit_is_told_by_its_height() {
        // A synthetic zone's line the recogniser read with two `O`s as `0` (the check digit
        // passes either way): only the two short ones are read again.
        let read = "3R3K0W0S67FRA9802115<35080460962<<<1";
        let heights = drawn(read, 0.31, &[(4, 'O'), (6, 'O')]);
        assert_eq!(misread(read, &heights), [(4, 'O'), (6, 'O')]);
        // And the other way: a digit read as a letter.
        let read = "I<UTOSB1H804LZ98541677";
        let heights = drawn(read, 0.2, &[(5, '5')]);
        assert_eq!(misread(read, &heights), [(5, '5')]);
        // Drawn as read: nothing to read again.
        let read = "3R3KOWOS67FRA9802115<35080460962<<<1";
        assert_eq!(misread(read, &drawn(read, 0.31, &[])), []);
    }

    #[test]
    fn lower_case_and_overgrown_glyphs_are_left_as_read() {
        // A `b` stands as tall as a digit: neither read as `8` nor taken for a capital.
        let read = "3R3KbWOS67FRA9802115";
        let heights = drawn(read, 0.31, &[(4, '8')]);
        assert_eq!(misread(read, &heights), []);
        // An `O` with a speck on top, far past a digit's height.
        let read = "3R3KOWOS67FRA9802115";
        let mut heights = drawn(read, 0.31, &[]);
        heights[4] = heights[4].map(|h| h * 1.15);
        assert_eq!(misread(read, &heights), []);
    }

    /// A glyph read again wrongly (a right `O` taken for `0`) where a check digit covers it:
    /// the check fails, and going back to the recogniser's reading is the repair taken, though
    /// reading the other `0` as `O` would pass too.
    #[test]
    fn a_check_digit_takes_back_a_wrong_reading_by_height() {
        let mut alternatives = Vec::new();
        let second = reread(
            "ZEXR70VYO3GBR0809236<32110161535<<<0",
            &mut alternatives,
            &[(8, '0')],
        );
        let today = crate::Date::new(2026, 12, 4).unwrap();
        let mrz = crate::mrz::parse_read(
            [
                ("I<NLDBERTANO<<KAJOIN<TAOSBER<<<<<<<<", &[][..], &[][..]),
                (second.as_str(), &alternatives[..], &[][..]),
            ],
            today,
        )
        .unwrap();
        assert!(mrz.all_checks_pass(), "{mrz:?}");
        assert_eq!(mrz.document_number, "ZEXR70VYO");
    }

    /// The whole measure of a recognised line: glyphs drawn at OCR-B's heights (one `O` read as
    /// `0`), found at the centres of their runs of output steps.
    #[test]
    fn a_line_is_measured_where_its_characters_were_read() {
        let text = "AE0HK347";
        // The `0` at index 2 drawn as an `O`.
        let crop = bars("AEOHK347", ocr_b_height);
        // Steps of 4 px, three a character: the glyph at 9..15 read at steps 3..=3.
        let mut reading = super::super::Reading {
            text: text.to_string(),
            confidence: 1.0,
            alternatives: Vec::new(),
            missed: Vec::new(),
            steps: (0..text.len()).map(|i| (3 * i + 2, 3 * i + 3)).collect(),
        };
        super::super::measure_glyphs(&crop, &mut reading, 4.0, &[], &[]);
        assert_eq!(reading.text, "AEOHK347");
        assert_eq!(
            reading.alternatives,
            [Alternative {
                index: 2,
                character: '0',
                odds: OVERRULED_ODDS
            }]
        );
    }

    /// `drawn` as bars 6 px wide every 12 px (glyph `k` at x 12k+9..12k+15, its middle 12k+12),
    /// each as tall as its OCR-B glyph at a scale of 0.3 (a filler 0.87 of a capital), on one
    /// baseline, to a fraction of a pixel.
    fn bars(drawn: &str, font: fn(char) -> Option<f32>) -> RgbImage {
        let mut crop = RgbImage::from_pixel(12 * drawn.len() as u32 + 24, 40, image::Rgb([230; 3]));
        for (k, c) in drawn.chars().enumerate() {
            let top = 32.0 - font(c).unwrap_or(0.87 * 72.0) * 0.3;
            for x in 0..6 {
                for y in (top.floor() as u32)..32 {
                    // The top row as dark as the glyph covers it.
                    let covered = (y as f32 + 1.0 - top).min(1.0);
                    let grey = (230.0 - covered * 210.0) as u8;
                    crop.put_pixel(12 * k as u32 + 9 + x, y, image::Rgb([grey; 3]));
                }
            }
        }
        crop
    }

    /// A reading of `text` whose character `j` was read over the steps of glyphs `glyphs[j]`
    /// (4 px a step, three steps a glyph: glyph `k`'s middles at steps `3k+2` and `3k+3`), each
    /// step blank but for a spike of class 1 (0.95) at every character read, and `near` at
    /// `steps` (the class's probability there).
    fn read_over(
        text: &str,
        glyphs: &[(usize, usize)],
        classes: &[&str],
        near: &[(std::ops::Range<usize>, usize, f32)],
    ) -> (super::super::Reading, Vec<f32>, Vec<String>) {
        let classes: Vec<String> = classes.iter().map(|c| c.to_string()).collect();
        let count = 3 * (glyphs.iter().map(|g| g.1).max().unwrap_or(0) + 2);
        let mut probs = vec![0.0f32; count * classes.len()];
        for step in 0..count {
            probs[step * classes.len()] = 0.9;
        }
        let runs: Vec<(usize, usize)> = glyphs
            .iter()
            .map(|&(a, b)| (3 * a + 2, 3 * b + 3))
            .collect();
        for &(first, last) in &runs {
            for step in first..=last {
                probs[step * classes.len()] = 0.04;
                probs[step * classes.len() + 1] = 0.95;
            }
        }
        for (steps, class, p) in near {
            for step in steps.clone() {
                probs[step * classes.len() + class] = *p;
            }
        }
        let reading = super::super::Reading {
            text: text.to_string(),
            confidence: 1.0,
            alternatives: Vec::new(),
            missed: Vec::new(),
            steps: runs,
        };
        (reading, probs, classes)
    }

    /// CTC lost a nationality's first letter (`…183NLD<<` read `…183LD<<`: the synthetic
    /// benchmark's level 0): the glyph under no character is put in `missed`, as the
    /// recogniser's likeliest character at its steps (not the spikes of the characters read on
    /// either side).
    #[test]
    fn a_glyph_under_no_character_is_a_character_missed() {
        let drawn = "6207225F2802183NLD<<<<<";
        let crop = bars(drawn, ocr_b_height);
        let glyphs: Vec<(usize, usize)> = (0..drawn.len())
            .filter(|&k| k != 15)
            .map(|k| (k, k))
            .collect();
        // The `N` nearly read at the lost glyph's steps (47 and 48), well under the blank.
        let read = |crop: &RgbImage| {
            let (mut reading, mut probs, classes) = read_over(
                "6207225F2802183LD<<<<<",
                &glyphs,
                &["", "X", "N"],
                &[(47..49, 2, 0.05)],
            );
            // The `3` before the gap read on into the lost glyph's first step (47): its spike
            // there is the `3`'s, not the lost character's.
            reading.steps[14] = (44, 47);
            for step in 46..48 {
                probs[step * 3] = 0.04;
                probs[step * 3 + 1] = 0.95;
            }
            super::super::measure_glyphs(crop, &mut reading, 4.0, &probs, &classes);
            reading
        };
        // Not in OCR-B (digits as tall as capitals): not judged.
        let flat = bars(drawn, |c| c.is_ascii_alphanumeric().then_some(72.0));
        assert_eq!(read(&flat).missed, []);
        let reading = read(&crop);
        assert_eq!(reading.text, "6207225F2802183LD<<<<<");
        assert_eq!(
            reading.missed,
            [Alternative {
                index: 15,
                character: 'N',
                odds: UNREAD_ODDS
            }]
        );
        // Every glyph read, one of them off its glyph's middle by half a character (between
        // glyphs 10 and 11, clear of both): no character is missing there, though the
        // recogniser has some doubt everywhere.
        let drawn = "L898902C36UTO7408122F1204159<<<<<<<6";
        let crop = bars(drawn, ocr_b_height);
        let all: Vec<(usize, usize)> = (0..drawn.len()).map(|k| (k, k)).collect();
        let (mut reading, probs, classes) =
            read_over(drawn, &all, &["", "X", "N"], &[(0..111, 2, 0.02)]);
        super::super::measure_glyphs(&crop, &mut reading, 4.0, &probs, &classes);
        assert_eq!(reading.missed, []);
        let (mut reading, probs, classes) =
            read_over(drawn, &all, &["", "X", "N"], &[(0..111, 2, 0.02)]);
        reading.steps[10] = (33, 35);
        super::super::measure_glyphs(&crop, &mut reading, 4.0, &probs, &classes);
        assert_eq!(reading.missed, []);
    }

    /// A name's letter lost (the synthetic bench's clean `GAOS<OSYO` read `GAOS<OSO`): a line
    /// without digits has no scale to judge heights by, but its capitals alone say it was
    /// measured well, and its lost glyph is found; measured roughly, or with too few capitals,
    /// it is not searched — unless it is a zone's line read one or two short.
    #[test]
    fn a_names_lost_letter_is_found_by_its_capitals() {
        let page = "P<CANOSNO<<GAOS<OSYO<<<<<<<<";
        // The glyph at 18 read as nothing.
        let read = |page: &str, crop: &RgbImage| {
            let glyphs: Vec<(usize, usize)> = (0..page.len())
                .filter(|&k| k != 18)
                .map(|k| (k, k))
                .collect();
            let text: String = page
                .chars()
                .enumerate()
                .filter_map(|(k, c)| (k != 18).then_some(c))
                .collect();
            let (mut reading, probs, classes) =
                read_over(&text, &glyphs, &["", "X", "Y"], &[(56..58, 2, 0.05)]);
            super::super::measure_glyphs(crop, &mut reading, 4.0, &probs, &classes);
            reading.missed
        };
        let found = [Alternative {
            index: 18,
            character: 'Y',
            odds: UNREAD_ODDS,
        }];
        assert_eq!(read(page, &bars(page, ocr_b_height)), found);
        // Each capital up to 3% off its height (blur, noise): read three short of a TD1 line,
        // not searched…
        let rough = |c: char| ocr_b_height(c).map(|h| h * (0.97 + 0.03 * f32::from(c as u8 % 3)));
        assert_eq!(read(page, &bars(page, rough)), []);
        // …one short, searched.
        let longer = format!("{page}<<");
        assert_eq!(read(&longer, &bars(&longer, rough)), found);
        let text = "P<CANOSNO<<GAOS<OSO<<<<<<<<";
        assert!(letters_measured_well(text, &drawn(text, 0.3, &[])));
        let few = "P<CANO<<GA<<<<<<<<<<<<<<<<<";
        assert!(!letters_measured_well(few, &drawn(few, 0.3, &[])));
        assert!(!worth_measuring(few, true));
    }

    #[test]
    fn heights_tell_nothing_in_another_font_or_measured_roughly() {
        let read = "3R3K0W0S67FRA9802115<35080460962<<<1";
        // Digits as tall as the capitals.
        let flat: Vec<Option<f32>> = read.chars().map(|_| Some(22.0)).collect();
        assert_eq!(misread(read, &flat), []);
        // Two glyphs in three 5% off their height: no scale, and the two short `0`s are not
        // read again.
        let rough: Vec<Option<f32>> = drawn(read, 0.31, &[(4, 'O'), (6, 'O')])
            .into_iter()
            .enumerate()
            .map(|(i, h)| h.map(|h| h * (1.0 + 0.05 * [1.0, -1.0, 0.0][i % 3])))
            .collect();
        assert!(ocr_b_scale(read, &rough).is_none());
        assert_eq!(misread(read, &rough), []);
        // Too few of either class to say (its capitals alone are enough to search it for a
        // lost glyph, not to judge heights).
        let read = "P<UT0ERIKSSON<<ANNA<MARIA";
        assert_eq!(misread(read, &drawn(read, 0.31, &[(4, 'O')])), []);
        assert!(!worth_measuring(read, false));
        assert!(worth_measuring(read, true));
    }

    #[test]
    fn a_line_measured_roughly_reads_again_only_a_whole_class_off() {
        let read = "3R3K0W0S67FRA9802115<35080460962<<<1";
        // Two glyphs in three 2% off their height, up or down (a lightly blurred zone of
        // ~21 px).
        let jitter = |heights: Vec<Option<f32>>| -> Vec<Option<f32>> {
            heights
                .into_iter()
                .enumerate()
                .map(|(i, h)| {
                    let off = match i {
                        4 | 6 => 0.0,
                        _ => [1.0, -1.0, 0.0][i % 3],
                    };
                    h.map(|h| h * (1.0 + 0.02 * off))
                })
                .collect()
        };
        // The two `0`s standing `toward` of the way from a `0`'s height to an `O`'s.
        let zeros_at = |toward: f32, heights: &mut [Option<f32>]| {
            let (zero, o) = (OCR_B_DIGITS[0], OCR_B_LETTERS[usize::from(b'O' - b'A')]);
            for i in [4, 6] {
                heights[i] = Some((zero + toward * (o - zero)) * 0.31);
            }
        };
        // A little past an `O`'s height (as the level-1 zone's stood): read again.
        let mut rough = jitter(drawn(read, 0.31, &[]));
        zeros_at(1.15, &mut rough);
        let line = ocr_b_scale(read, &rough).expect("a scale");
        assert_eq!(line.measure, Measure::Roughly, "{line:?}");
        assert_eq!(misread(read, &rough), [(4, 'O'), (6, 'O')]);
        // Four fifths of the way: enough on a line measured well, not on this one.
        let mut partway = jitter(drawn(read, 0.31, &[]));
        zeros_at(0.8, &mut partway);
        assert_eq!(
            ocr_b_scale(read, &partway).expect("a scale").measure,
            Measure::Roughly
        );
        assert_eq!(misread(read, &partway), []);
        let mut clean = drawn(read, 0.31, &[]);
        clean[4] = partway[4];
        clean[6] = partway[6];
        assert_eq!(
            ocr_b_scale(read, &clean).expect("a scale").measure,
            Measure::Well
        );
        assert_eq!(misread(read, &clean), [(4, 'O'), (6, 'O')]);
    }

    /// As the synthetic benchmark's level-2 `KHS0TK0YB` (an `O` read `0`) was measured: blurred,
    /// its glyphs straying 3% from their heights, the `O` standing past halfway to an `O`'s
    /// height, the line's other `0`s at their own.
    #[test]
    fn a_line_measured_loosely_offers_its_leaning_glyphs_as_alternatives() {
        let read = "3R3K0W0S67FRA9802115<35080460962<<<1";
        let (zero, o) = (OCR_B_DIGITS[0], OCR_B_LETTERS[usize::from(b'O' - b'A')]);
        // Two glyphs in three 3% off their height; the `0` at 4 standing `toward` of the way
        // from a `0`'s height to an `O`'s, the one at 6 at its own.
        let loose = |toward: f32| -> Vec<Option<f32>> {
            let mut heights: Vec<Option<f32>> = drawn(read, 0.31, &[])
                .into_iter()
                .enumerate()
                .map(|(i, h)| h.map(|h| h * (1.0 + 0.03 * [1.0, -1.0, 0.0][i % 3])))
                .collect();
            heights[4] = Some((zero + toward * (o - zero)) * 0.31);
            heights[6] = Some(zero * 0.31);
            heights
        };
        let leaning = loose(0.6);
        let line = ocr_b_scale(read, &leaning).expect("a scale");
        assert_eq!(line.measure, Measure::Loosely, "{line:?}");
        // The `5`s at 19 and 22, drawn 3% short, past halfway to an `S` (OCR-B's `5` stands
        // only 5.5% above its `S`), are not offered: they stand as the line's other `5`s do.
        assert_eq!(misread(read, &leaning), [(4, 'O')]);
        assert_eq!(misread(read, &loose(0.4)), []);
        // Every `0` as short (a font's, not a misreading): none stands out, none is offered.
        let mut all_short = leaning.clone();
        for (i, c) in read.chars().enumerate() {
            if c == '0' {
                all_short[i] = leaning[4];
            }
        }
        let line = ocr_b_scale(read, &all_short).expect("a scale");
        assert_eq!(line.measure, Measure::Loosely, "{line:?}");
        assert_eq!(misread(read, &all_short), []);
        // Past halfway but not standing out: the other `0`s at 0.3 of the way, this one at 0.6.
        let mut near_its_own = leaning.clone();
        for (i, c) in read.chars().enumerate() {
            if c == '0' && i != 4 {
                near_its_own[i] = Some((zero + 0.3 * (o - zero)) * 0.31);
            }
        }
        let line = ocr_b_scale(read, &near_its_own).expect("a scale");
        assert_eq!(line.measure, Measure::Loosely, "{line:?}");
        assert_eq!(misread(read, &near_its_own), []);
        // Two `O`s read `0` on a line with more real `0`s: both offered (`O1S4WOUBG` read
        // `01S4W0UBG`, level 1).
        let mut two = leaning.clone();
        two[4] = Some(o * 0.31);
        two[6] = Some(o * 0.31);
        assert_eq!(misread(read, &two), [(4, 'O'), (6, 'O')]);
        // Half of them as short: the font's, none offered.
        let mut half = two.clone();
        half[15] = Some(o * 0.31);
        assert_eq!(misread(read, &half), []);
        // Offered beside what the reader nearly read there, as likely as the reading.
        let mut alternatives = vec![Alternative {
            index: 4,
            character: 'D',
            odds: 0.02,
        }];
        lean(&mut alternatives, &[(4, 'O')]);
        assert_eq!(
            alternatives,
            [
                Alternative {
                    index: 4,
                    character: 'O',
                    odds: OVERRULED_ODDS,
                },
                Alternative {
                    index: 4,
                    character: 'D',
                    odds: 0.02,
                },
            ]
        );
    }

    #[test]
    fn a_reading_overruled_stays_as_the_alternative() {
        let mut alternatives = vec![
            Alternative {
                index: 4,
                character: 'D',
                odds: 0.02,
            },
            Alternative {
                index: 7,
                character: '5',
                odds: 0.1,
            },
        ];
        let text = reread("3R3K0W0S6", &mut alternatives, &[(4, 'O'), (6, 'O')]);
        assert_eq!(text, "3R3KOWOS6");
        let kept: Vec<(usize, char)> = alternatives
            .iter()
            .map(|a| (a.index, a.character))
            .collect();
        assert_eq!(kept, [(4, '0'), (4, 'D'), (6, '0'), (7, '5')]);
    }

    #[test]
    fn glyphs_are_measured_to_a_fraction_of_a_pixel() {
        // Three bars on paper, 10 px apart: 20 px tall, 22 px with a half-dark row above, and
        // one touching the top edge (not measured). The middle of the gap falls on no ink.
        let mut crop = RgbImage::from_pixel(60, 40, image::Rgb([230, 230, 230]));
        let ink = image::Rgb([20, 20, 20]);
        let grey = image::Rgb([125, 125, 125]);
        for x in 5..11 {
            for y in 10..30 {
                crop.put_pixel(x, y, ink);
            }
            for y in 8..30 {
                crop.put_pixel(x + 20, y, ink);
            }
            crop.put_pixel(x + 20, 7, grey);
            for y in 0..30 {
                crop.put_pixel(x + 40, y, ink);
            }
        }
        let measured = measure(&crop, &[8.0, 28.0, 48.0, 18.0], 7.0).heights;
        let close = |h: Option<f32>, want: f32| h.is_some_and(|h| (h - want).abs() < 0.05);
        assert!(close(measured[0], 20.0), "{measured:?}");
        assert!(close(measured[1], 22.5), "{measured:?}");
        assert_eq!(measured[2..], [None, None]);
        // Wider than a character: not one glyph.
        assert_eq!(measure(&crop, &[8.0], 4.0).heights, [None]);
    }
}
