//! How tall each character of a line was drawn, and what that says about letters and digits.
//!
//! The recogniser reads a line as a whole and can be sure of a wrong character: in OCR-B (the
//! font of every machine-readable zone) it reads `O` as `0` with full confidence. The two glyphs
//! are as wide as each other, but not as tall: OCR-B's digits stand higher than its capitals
//! (at 100 px, `0`–`9` 77–80 px, `A`–`Z` 70–74 px, measured on Debian's `fonts-ocr-b`). So a
//! character the recogniser read as one of a look-alike pair (`O`/`0`, `I`/`1`, `Z`/`2`, `S`/`5`,
//! `B`/`8`, `G`/`6`) is measured against the line's scale — what its letters and digits, each
//! against its own OCR-B height, say one unit of the font is — and when it stands clearly at its
//! look-alike's height it is read as the look-alike, the recogniser's reading kept as the
//! alternative (so a check digit can still overrule the height).
//!
//! A line whose letters and digits give different scales is not drawn in OCR-B (most other
//! fonts, a card's embossing, draw digits as tall as capitals), and one whose glyphs stray from
//! the scale is measured too roughly (blur, noise, a slanted crop): both are left as read. On
//! the photos measured this leaves most real documents' zones as read and reads clean OCR-B
//! right where the recogniser was sure of the wrong character (docs/benchmarks.md).

use image::RgbImage;

use super::{Alternative, fold, otsu};

/// Glyphs of each class a line needs for its heights to be trusted.
const REFERENCES_MIN: usize = 3;
/// The line's scale from its letters and from its digits may differ by this much (relative):
/// OCR-B's digits stand 5–12% higher than its letters, so a font whose do not is told apart.
const SCALES_APART_MAX: f32 = 0.025;
/// The reference glyphs' heights may stray from the line's scale by this much (the median of
/// their relative deviations): a blurred or noisy line is measured too roughly to overrule the
/// recogniser (a clean synthetic zone strays 0.1–0.5%, the most damaged ones over 1%).
const SPREAD_MAX: f32 = 0.01;
/// How far from its own height toward its look-alike's (0 to 1) a character must stand to be
/// read as the look-alike.
const OTHER_SIDE_MIN: f32 = 0.75;
/// The odds left to the recogniser's own reading of a character read again by its height.
const OVERRULED_ODDS: f32 = 0.5;

/// A letter and the digit drawn like it.
const PAIRS: [(char, char); 6] = [
    ('O', '0'),
    ('I', '1'),
    ('Z', '2'),
    ('S', '5'),
    ('B', '8'),
    ('G', '6'),
];

/// The height, in `crop` pixels, of the ink of each character, found at `centres` (the x in
/// `crop` where the recogniser read it): the connected patch of ink under that x, if it has the
/// size of one character (`pitch` wide at most, and clear of the crop's top and bottom edges).
pub(super) fn heights(crop: &RgbImage, centres: &[f32], pitch: f32) -> Vec<Option<f32>> {
    let (width, height) = crop.dimensions();
    let height = height as usize;
    if width < 4 || height < 4 || centres.is_empty() {
        return vec![None; centres.len()];
    }
    let grey: Vec<u8> = crop
        .pixels()
        .map(|p| {
            let [r, g, b] = p.0;
            ((u32::from(r) * 299 + u32::from(g) * 587 + u32::from(b) * 114) / 1000) as u8
        })
        .collect();
    let mut histogram = [0u64; 256];
    for &g in &grey {
        histogram[usize::from(g)] += 1;
    }
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
        return vec![None; centres.len()];
    };
    let width = width as usize;
    let patches = patches(&grey, width, threshold);
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
    centres
        .iter()
        .map(|&x| -> Option<f32> {
            let patch = patches
                .iter()
                .filter(|p| (p.left as f32 - 0.5..=p.right as f32 + 0.5).contains(&x))
                .max_by_key(|p| p.pixels)?;
            let wide = (patch.right - patch.left + 1) as f32;
            let clear = patch.top > 0 && patch.bottom + 1 < height;
            (clear && wide <= pitch).then(|| {
                (patch.top - 1..=patch.bottom + 1)
                    .map(|y| darkness(patch, y))
                    .sum()
            })
        })
        .collect()
}

/// A connected patch of dark pixels: its bounding box, and how many pixels it has.
struct Patch {
    left: usize,
    right: usize,
    top: usize,
    bottom: usize,
    pixels: usize,
}

/// The 8-connected patches of pixels at or below `threshold` in `grey` (rows of `width`).
fn patches(grey: &[u8], width: usize, threshold: u8) -> Vec<Patch> {
    let mut label = vec![u32::MAX; grey.len()];
    let mut found = Vec::new();
    let mut stack = Vec::new();
    for start in 0..grey.len() {
        if grey[start] > threshold || label[start] != u32::MAX {
            continue;
        }
        let id = found.len() as u32;
        let mut patch = Patch {
            left: usize::MAX,
            right: 0,
            top: usize::MAX,
            bottom: 0,
            pixels: 0,
        };
        label[start] = id;
        stack.push(start);
        while let Some(at) = stack.pop() {
            let (x, y) = (at % width, at / width);
            patch.left = patch.left.min(x);
            patch.right = patch.right.max(x);
            patch.top = patch.top.min(y);
            patch.bottom = patch.bottom.max(y);
            patch.pixels += 1;
            for dy in [-1isize, 0, 1] {
                for dx in [-1isize, 0, 1] {
                    let (Some(nx), Some(ny)) = (x.checked_add_signed(dx), y.checked_add_signed(dy))
                    else {
                        continue;
                    };
                    let next = ny * width + nx;
                    if nx < width
                        && next < grey.len()
                        && grey[next] <= threshold
                        && label[next] == u32::MAX
                    {
                        label[next] = id;
                        stack.push(next);
                    }
                }
            }
        }
        found.push(patch);
    }
    found
}

/// The height of each of OCR-B's letters `A`–`Z` and digits `0`–`9` at a size of 100 px (Debian's
/// `fonts-ocr-b`, measured at 1000 px).
const OCR_B_LETTERS: [f32; 26] = [
    71.7, 70.1, 72.9, 70.1, 70.1, 71.1, 73.2, 72.3, 70.1, 72.9, 72.3, 71.3, 72.3, 72.3, 73.4, 71.1,
    72.6, 71.1, 73.1, 71.1, 72.6, 72.3, 72.3, 72.3, 72.3, 70.1,
];
const OCR_B_DIGITS: [f32; 10] = [78.7, 78.0, 77.3, 77.1, 78.0, 77.1, 78.3, 76.8, 78.7, 78.3];

fn ocr_b_height(c: char) -> Option<f32> {
    match c {
        'A'..='Z' => Some(OCR_B_LETTERS[usize::from(c as u8 - b'A')]),
        '0'..='9' => Some(OCR_B_DIGITS[usize::from(c as u8 - b'0')]),
        _ => None,
    }
}

/// Whether `text` could have a character read again by its height: one of a look-alike pair,
/// and enough letters and digits to measure it against.
pub(super) fn worth_measuring(text: &str) -> bool {
    let (mut letters, mut digits, mut pairs) = (0, 0, 0);
    for c in text.chars().map(fold) {
        letters += usize::from(c.is_ascii_uppercase());
        digits += usize::from(c.is_ascii_digit());
        pairs += usize::from(look_alike(c).is_some());
    }
    pairs > 0 && letters >= REFERENCES_MIN && digits >= REFERENCES_MIN
}

/// The characters of `text` (one height each, `None` where unmeasured) that stand at their
/// look-alike's height rather than their own: `(index, look-alike)`. The line's scale comes
/// from its other letters and digits, each against its OCR-B height; a line whose letters and
/// digits disagree on the scale is not drawn in OCR-B, and tells nothing.
pub(super) fn misread_classes(text: &str, heights: &[Option<f32>]) -> Vec<(usize, char)> {
    let chars: Vec<char> = text.chars().map(fold).collect();
    if chars.len() != heights.len() {
        return Vec::new();
    }
    let mut letters = Vec::new();
    let mut digits = Vec::new();
    for (&c, &h) in chars.iter().zip(heights) {
        let (Some(h), Some(drawn)) = (h, ocr_b_height(c)) else {
            continue;
        };
        if c.is_ascii_digit() {
            digits.push(h / drawn);
        } else {
            letters.push(h / drawn);
        }
    }
    if letters.len() < REFERENCES_MIN || digits.len() < REFERENCES_MIN {
        return Vec::new();
    }
    let (by_letters, by_digits) = (median(&mut letters), median(&mut digits));
    let scale = (by_letters + by_digits) / 2.0;
    if (by_letters - by_digits).abs() > SCALES_APART_MAX * scale {
        return Vec::new();
    }
    let mut deviations: Vec<f32> = letters
        .iter()
        .chain(&digits)
        .map(|r| (r / scale - 1.0).abs())
        .collect();
    let spread = median(&mut deviations);
    if spread > SPREAD_MAX {
        return Vec::new();
    }
    chars
        .iter()
        .zip(heights)
        .enumerate()
        .filter_map(|(index, (&c, &h))| {
            let other = look_alike(c)?;
            let (read, drawn) = (ocr_b_height(c)?, ocr_b_height(other)?);
            // 0 where the read character would stand, 1 where its look-alike would.
            let toward = (h? / scale - read) / (drawn - read);
            (toward >= OTHER_SIDE_MIN).then_some((index, other))
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

fn median(values: &mut [f32]) -> f32 {
    values.sort_by(f32::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

/// `text` with each of `misread` as its look-alike, and the recogniser's readings of those as
/// alternatives (at [`OVERRULED_ODDS`]) in place of whatever alternatives they had.
pub(super) fn reread(
    text: &str,
    alternatives: &mut Vec<Alternative>,
    misread: &[(usize, char)],
) -> String {
    let mut out = String::with_capacity(text.len());
    for (index, c) in text.chars().enumerate() {
        match misread.iter().find(|(i, _)| *i == index) {
            Some(&(_, other)) => {
                alternatives.retain(|a| a.index != index);
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
    alternatives.sort_by_key(|a| a.index);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(misread_classes(read, &heights), [(4, 'O'), (6, 'O')]);
        // And the other way: a digit read as a letter.
        let read = "I<UTOSB1H804LZ98541677";
        let heights = drawn(read, 0.2, &[(5, '5')]);
        assert_eq!(misread_classes(read, &heights), [(5, '5')]);
        // Drawn as read: nothing to read again.
        let read = "3R3KOWOS67FRA9802115<35080460962<<<1";
        assert_eq!(misread_classes(read, &drawn(read, 0.31, &[])), []);
    }

    #[test]
    fn heights_tell_nothing_in_another_font_or_measured_roughly() {
        let read = "3R3K0W0S67FRA9802115<35080460962<<<1";
        // Digits as tall as the capitals.
        let flat: Vec<Option<f32>> = read.chars().map(|_| Some(22.0)).collect();
        assert_eq!(misread_classes(read, &flat), []);
        // Each glyph up to 3% off its height: the two short `0`s are not read again.
        let rough: Vec<Option<f32>> = drawn(read, 0.31, &[(4, 'O'), (6, 'O')])
            .into_iter()
            .enumerate()
            .map(|(i, h)| h.map(|h| h * (1.0 + 0.03 * [1.0, -1.0, 0.5][i % 3])))
            .collect();
        assert_eq!(misread_classes(read, &rough), []);
        // Too few of either class to say.
        let read = "P<UT0ERIKSSON<<ANNA<MARIA";
        assert_eq!(misread_classes(read, &drawn(read, 0.31, &[(4, 'O')])), []);
        assert!(!worth_measuring(read));
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
        assert_eq!(kept, [(4, '0'), (6, '0'), (7, '5')]);
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
        let measured = heights(&crop, &[8.0, 28.0, 48.0, 18.0], 10.0);
        let close = |h: Option<f32>, want: f32| h.is_some_and(|h| (h - want).abs() < 0.05);
        assert!(close(measured[0], 20.0), "{measured:?}");
        assert!(close(measured[1], 22.5), "{measured:?}");
        assert_eq!(measured[2..], [None, None]);
        // Wider than a character: not one glyph.
        assert_eq!(heights(&crop, &[8.0], 5.0), [None]);
    }
}
