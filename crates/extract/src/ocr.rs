//! Optical character recognition: finds lines of printed text in an image and reads them.
//!
//! It runs the PP-OCRv4 models (a DB text detector and an SVTR/CTC line recogniser, as shipped in
//! the `rapidocr-onnxruntime` 1.4.4 wheel, Apache-2.0) on the CPU through `rten`, in pure Rust.
//! The models are files on disk, installed by `scripts/models` into `models/` (see
//! [`default_models_dir`]); nothing is downloaded at run time. [`Ocr::detect`] finds text boxes,
//! [`Ocr::recognize`] reads one box (or any rectangle the caller chose, such as an MRZ band), and
//! [`Ocr::read_lines`] does both, in reading order.
//!
//! What it is not: a layout or document analyser (no paragraphs, columns or fields — the MRZ and
//! card parsers give the text meaning), a deskewer for every case (a page lying sideways or at a
//! slant is turned upright; a level page upside down is not, since its boxes look the same, and
//! `document` reads such a photo again turned over when it found nothing), or fast: detection
//! costs a few hundred milliseconds on a 640×640 input and each line some 50 ms, so crop to the
//! region of interest first and keep [`OcrConfig::max_side`] small. The recogniser knows Chinese
//! and Latin script; on clean prints it reads digits, upper-case letters and the MRZ filler `<`
//! well, but confuses `O` and `0` and may drop or merge spaces. On a line drawn in OCR-B, whose
//! digits stand higher than its capitals, a glyph's height settles such a confusion
//! (`ocr/glyphs.rs`); the MRZ parser repairs what check digits can.
//! Small, blurred or low-resolution zones are often split or missed by the detector: crop and, if
//! needed, upscale them first. A small photo whose zone the detector misses even enlarged gets a
//! last look without it: its rows of ink, read as lines ([`Ocr::read_lines_staged_enlarged`]).

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use image::imageops::{self, FilterType};
use image::{DynamicImage, GrayImage, Rgb, RgbImage, RgbaImage};
use std::sync::Arc;

use rten::{Model, RunOptions, ThreadPool};
use rten_tensor::NdTensor;
use rten_tensor::prelude::*;

mod glyphs;

/// File name of the detection model inside the models directory.
pub const DETECTION_MODEL: &str = "ch_PP-OCRv4_det_infer.onnx";
/// File name of the recognition model inside the models directory.
pub const RECOGNITION_MODEL: &str = "ch_PP-OCRv4_rec_infer.onnx";

/// Height of the recogniser's input, in pixels.
const REC_HEIGHT: u32 = 48;
/// Narrowest recogniser input (PP-OCR pads shorter lines to 320).
const REC_MIN_WIDTH: u32 = 320;
/// Widest recogniser input: 60 characters at a typical aspect ratio.
const REC_MAX_WIDTH: u32 = 3200;
/// Most text boxes one detection yields; the rest (smallest first) are dropped.
pub const BOXES_MAX: usize = 1000;
/// Most boxes one look at a photo reads (at 25–125 ms a line, two at a time: ~1.5–7.5 s): a
/// document's page has a few dozen lines, and a photo of a page of small print (up to
/// [`BOXES_MAX`] boxes) must not hold the reader for up to a minute. The wide boxes, a zone's
/// lines among them, are read first.
const LINES_READ_MAX: usize = 120;

/// Where the models are looked for when the caller does not say: `$SCANPAY_MODELS` if set, else
/// `./models` if it holds the models, else the repository's `models/` (where `scripts/models`
/// puts them).
pub fn default_models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SCANPAY_MODELS").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let local = PathBuf::from("models");
    if local.join(DETECTION_MODEL).is_file() {
        return local;
    }
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models"))
}

#[derive(Debug, thiserror::Error)]
pub enum OcrError {
    /// A model file is absent or not a model this module can run.
    #[error("OCR model {path} cannot be loaded ({reason}); run scripts/models to install it")]
    ModelsMissing { path: PathBuf, reason: String },
    /// Running a model failed, or the image cannot be processed.
    #[error("OCR failed: {0}")]
    Failed(String),
}

impl OcrError {
    /// The stable, machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            OcrError::ModelsMissing { .. } => "ocr_models_missing",
            OcrError::Failed(_) => "ocr_failed",
        }
    }
}

/// Tuning of detection; the defaults are PP-OCR's, except the input size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OcrConfig {
    /// The detector's input is scaled down so its longer side is at most this, then rounded to
    /// multiples of 32 (only the second reading of a small photo scales up, towards this).
    /// Detection time grows with its area.
    pub max_side: u32,
    /// A pixel of the probability map is text above this.
    pub pixel_threshold: f32,
    /// A box is kept when the mean probability inside it reaches this.
    pub box_threshold: f32,
    /// DB detectors predict shrunk text kernels; each box grows by
    /// `area * unclip_ratio / perimeter` on every side.
    pub unclip_ratio: f32,
}

impl Default for OcrConfig {
    fn default() -> OcrConfig {
        OcrConfig {
            max_side: 960,
            pixel_threshold: 0.3,
            box_threshold: 0.5,
            unclip_ratio: 1.6,
        }
    }
}

/// A region of text found by [`Ocr::detect`], in the image's pixel coordinates.
#[derive(Clone, Debug, PartialEq)]
pub struct TextBox {
    /// Corners of the (possibly slightly rotated) rectangle: top-left, top-right, bottom-right,
    /// bottom-left, as `(x, y)`.
    pub corners: [(f32, f32); 4],
    /// Axis-aligned bounds, clipped to the image: `(left, top, width, height)`.
    pub bbox: (u32, u32, u32, u32),
    /// Mean text probability inside the detected region (0–1).
    pub score: f32,
}

impl TextBox {
    /// A box for a rectangle the caller chose (for example an MRZ band), `(left, top, width,
    /// height)`.
    pub fn from_rect(left: u32, top: u32, width: u32, height: u32) -> TextBox {
        let (l, t) = (left as f32, top as f32);
        let (r, b) = (l + width as f32, t + height as f32);
        TextBox {
            corners: [(l, t), (r, t), (r, b), (l, b)],
            bbox: (left, top, width, height),
            score: 1.0,
        }
    }

    /// A box for the quadrilateral `corners` (tl, tr, br, bl; coordinates at least 0), its
    /// bounds rounded outwards.
    fn from_corners(corners: [(f32, f32); 4], score: f32) -> TextBox {
        let left = corners.iter().map(|c| c.0).fold(f32::MAX, f32::min).floor();
        let top = corners.iter().map(|c| c.1).fold(f32::MAX, f32::min).floor();
        let right = corners.iter().map(|c| c.0).fold(f32::MIN, f32::max).ceil();
        let bottom = corners.iter().map(|c| c.1).fold(f32::MIN, f32::max).ceil();
        TextBox {
            corners,
            bbox: (
                left.max(0.0) as u32,
                top.max(0.0) as u32,
                (right - left).max(0.0) as u32,
                (bottom - top).max(0.0) as u32,
            ),
            score,
        }
    }
}

/// One line of text read from an image.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub text: String,
    /// Mean probability of the characters read (0–1; 0 when nothing was read).
    pub confidence: f32,
    /// Where the line is: `(left, top, width, height)` in image pixels.
    pub bbox: (u32, u32, u32, u32),
    /// Characters the recogniser nearly read instead of some of `text`'s (for a reader that can
    /// tell which reading is right, such as a check digit).
    pub alternatives: Vec<Alternative>,
    /// Characters the recogniser nearly read where it read nothing (a blank between two
    /// characters): `index` is the character of `text` they would come before (`text`'s length:
    /// at its end), `odds` against the blank.
    pub missed: Vec<Alternative>,
}

/// A character the recogniser nearly read in place of one it read.
#[derive(Clone, Debug, PartialEq)]
pub struct Alternative {
    /// Which character of the line's text, counted in `char`s.
    pub index: usize,
    /// Folded (see [`fold`]): never the read character's own fold.
    pub character: char,
    /// Its probability over the read character's, at the step where it came closest (0–1].
    pub odds: f32,
}

/// Alternatives less likely than this, relative to the character read, are not kept.
const ALTERNATIVE_ODDS_MIN: f32 = 0.01;
/// At most this many alternatives per character read.
const ALTERNATIVES_PER_CHARACTER: usize = 4;
/// A character nearly read in a gap is kept when at least this likely against the blank read
/// there: CTC loses a character that way, and then says so about this strongly (a lost `3` of a
/// synthetic zone: 0.59).
const MISSED_ODDS_MIN: f32 = 0.3;

/// A full-width form (`０`, `Ｏ`, `＜`, which the recogniser's Chinese dictionary holds) as the
/// ASCII character it is; any other character as it is. Text is read through this: the
/// recogniser sometimes reads a clean OCR-B digit as its full-width form, which no parser of
/// zones or card numbers would take.
pub(crate) fn narrow(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
        c => c,
    }
}

/// A character as an alternative is kept: narrowed (see [`narrow`]), ASCII letters in upper
/// case. The recogniser's likeliest alternatives are mostly the read character in another width
/// or case: folded, they say nothing, and are not kept.
pub(crate) fn fold(c: char) -> char {
    narrow(c).to_ascii_uppercase()
}

/// A recogniser class that is one character (not a space), folded (see [`fold`]).
fn one_char(class: &str) -> Option<char> {
    let mut c = class.chars();
    match (c.next(), c.next()) {
        (Some(c), None) if !c.is_whitespace() => Some(fold(c)),
        _ => None,
    }
}

/// What the recogniser read in one crop.
struct Reading {
    text: String,
    confidence: f32,
    alternatives: Vec<Alternative>,
    missed: Vec<Alternative>,
    /// The recogniser's output steps each character of `text` was read at: first and last.
    steps: Vec<(usize, usize)>,
}

impl Reading {
    fn line(self, bbox: (u32, u32, u32, u32)) -> Line {
        Line {
            text: self.text,
            confidence: self.confidence,
            bbox,
            alternatives: self.alternatives,
            missed: self.missed,
        }
    }
}

/// An image the models can read: grey, RGB, RGBA or any decoded image.
pub trait OcrImage {
    /// The image as 8-bit RGB (borrowed when it already is).
    fn to_rgb(&self) -> Cow<'_, RgbImage>;
}

impl OcrImage for RgbImage {
    fn to_rgb(&self) -> Cow<'_, RgbImage> {
        Cow::Borrowed(self)
    }
}

impl OcrImage for GrayImage {
    fn to_rgb(&self) -> Cow<'_, RgbImage> {
        let mut rgb = RgbImage::new(self.width(), self.height());
        for (out, grey) in rgb.pixels_mut().zip(self.pixels()) {
            *out = Rgb([grey.0[0]; 3]);
        }
        Cow::Owned(rgb)
    }
}

impl OcrImage for RgbaImage {
    /// Transparent pixels become white (paper), as PP-OCR does.
    fn to_rgb(&self) -> Cow<'_, RgbImage> {
        let mut rgb = RgbImage::new(self.width(), self.height());
        for (out, px) in rgb.pixels_mut().zip(self.pixels()) {
            let [r, g, b, a] = px.0;
            let blend = |c: u8| ((c as u32 * a as u32 + 255 * (255 - a as u32)) / 255) as u8;
            *out = Rgb([blend(r), blend(g), blend(b)]);
        }
        Cow::Owned(rgb)
    }
}

impl OcrImage for DynamicImage {
    fn to_rgb(&self) -> Cow<'_, RgbImage> {
        match self {
            DynamicImage::ImageRgb8(rgb) => Cow::Borrowed(rgb),
            DynamicImage::ImageLuma8(grey) => Cow::Owned(grey.to_rgb().into_owned()),
            DynamicImage::ImageRgba8(rgba) => Cow::Owned(rgba.to_rgb().into_owned()),
            other => Cow::Owned(other.to_rgb8()),
        }
    }
}

/// The loaded detection and recognition models. Loading takes a fraction of a second; keep one
/// and share it (`&Ocr` is all the methods need, and it is `Send + Sync`).
pub struct Ocr {
    detector: Model,
    recognizer: Model,
    /// Two one-thread pools: two lines are recognised at once, one on each, which uses two
    /// cores better than one line at a time on both (the recogniser's layers are small).
    lanes: [Arc<ThreadPool>; 2],
    /// CTC classes: index 0 is the blank, then the model's character list, then a space.
    classes: Vec<String>,
    config: OcrConfig,
}

impl std::fmt::Debug for Ocr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ocr")
            .field("classes", &self.classes.len())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Ocr {
    /// Loads both models from `models_dir` (see [`default_models_dir`]) with the default
    /// [`OcrConfig`].
    pub fn load(models_dir: &Path) -> Result<Ocr, OcrError> {
        Ocr::load_with(models_dir, OcrConfig::default())
    }

    pub fn load_with(models_dir: &Path, config: OcrConfig) -> Result<Ocr, OcrError> {
        let load = |name: &str| {
            let path = models_dir.join(name);
            if !path.is_file() {
                return Err(OcrError::ModelsMissing {
                    path,
                    reason: "no such file".into(),
                });
            }
            Model::load_file(&path).map_err(|e| OcrError::ModelsMissing {
                path: path.clone(),
                reason: e.to_string(),
            })
        };
        let detector = load(DETECTION_MODEL)?;
        let recognizer = load(RECOGNITION_MODEL)?;
        let characters =
            recognizer
                .metadata()
                .get("character")
                .ok_or_else(|| OcrError::ModelsMissing {
                    path: models_dir.join(RECOGNITION_MODEL),
                    reason: "no `character` list in the model's metadata".into(),
                })?;
        let mut classes = vec![String::new()];
        classes.extend(characters.lines().map(str::to_string));
        classes.push(" ".to_string());
        Ok(Ocr {
            detector,
            recognizer,
            lanes: [(); 2].map(|()| Arc::new(ThreadPool::with_num_threads(1))),
            classes,
            config,
        })
    }

    pub fn config(&self) -> &OcrConfig {
        &self.config
    }

    /// Finds the text in `image`: one box per word or line, in no particular order.
    pub fn detect(&self, image: &impl OcrImage) -> Result<Vec<TextBox>, OcrError> {
        let rgb = image.to_rgb();
        self.detect_rgb(&rgb)
    }

    fn detect_rgb(&self, rgb: &RgbImage) -> Result<Vec<TextBox>, OcrError> {
        self.detect_rgb_enlarged(rgb, 1.0)
    }

    /// Detection with the image scaled towards [`OcrConfig::max_side`] by at most `enlarge` (1.0:
    /// only ever scaled down).
    fn detect_rgb_enlarged(&self, rgb: &RgbImage, enlarge: f32) -> Result<Vec<TextBox>, OcrError> {
        let (width, height) = rgb.dimensions();
        if width == 0 || height == 0 {
            return Err(OcrError::Failed("the image is empty".into()));
        }
        let (in_w, in_h) = detector_size(width, height, self.config.max_side, enlarge);
        let resized;
        let input_image = if (in_w, in_h) == (width, height) {
            rgb
        } else {
            resized = imageops::resize(rgb, in_w, in_h, FilterType::Triangle);
            &resized
        };
        let input = normalized_chw(input_image);
        let output = self
            .detector
            .run_one(input.into(), None)
            .map_err(|e| OcrError::Failed(format!("text detection: {e}")))?;
        let probs: NdTensor<f32, 4> = output
            .try_into()
            .map_err(|e| OcrError::Failed(format!("text detection output: {e:?}")))?;
        let [_, _, map_h, map_w] = probs.shape();
        let probs = probs.slice((0, 0)).to_vec();
        let scale = (width as f32 / map_w as f32, height as f32 / map_h as f32);
        Ok(boxes_from_map(
            &probs,
            map_w,
            map_h,
            scale,
            (width, height),
            &self.config,
        ))
    }

    /// Reads the single line of text inside `region` of `image`.
    pub fn recognize(&self, image: &impl OcrImage, region: &TextBox) -> Result<Line, OcrError> {
        let rgb = image.to_rgb();
        self.recognize_rgb(&rgb, region)
    }

    fn recognize_rgb(&self, rgb: &RgbImage, region: &TextBox) -> Result<Line, OcrError> {
        self.recognize_on(rgb, region, 1.0, None)
    }

    /// Recognises the boxes `regions`, two at a time (one on each lane).
    fn recognize_all(&self, rgb: &RgbImage, regions: &[&TextBox]) -> Result<Vec<Line>, OcrError> {
        self.recognize_all_stretched(rgb, regions, 1.0)
    }

    /// [`Ocr::recognize_all`], each box read `stretch` times as wide as it is.
    fn recognize_all_stretched(
        &self,
        rgb: &RgbImage,
        regions: &[&TextBox],
        stretch: f32,
    ) -> Result<Vec<Line>, OcrError> {
        self.in_pairs(regions, |region, lane| {
            self.recognize_on(rgb, region, stretch, lane)
        })
    }

    /// `read` of each of `items`, two at a time (one on each lane; a last one alone on the
    /// shared pool).
    fn in_pairs<T: Sync>(
        &self,
        items: &[T],
        read: impl Fn(&T, Option<&Arc<ThreadPool>>) -> Result<Line, OcrError> + Sync,
    ) -> Result<Vec<Line>, OcrError> {
        let mut lines = Vec::with_capacity(items.len());
        for pair in items.chunks(2) {
            match pair {
                [one] => lines.push(read(one, None)?),
                [a, b] => {
                    let (a, b) =
                        self.on_both_lanes(|lane| read(a, Some(lane)), |lane| read(b, Some(lane)));
                    lines.push(a?);
                    lines.push(b?);
                }
                _ => {}
            }
        }
        Ok(lines)
    }

    /// Runs `first` on one lane and `second` on the other, at once.
    fn on_both_lanes<A: Send, B: Send>(
        &self,
        first: impl FnOnce(&Arc<ThreadPool>) -> Result<A, OcrError>,
        second: impl FnOnce(&Arc<ThreadPool>) -> Result<B, OcrError> + Send,
    ) -> (Result<A, OcrError>, Result<B, OcrError>) {
        std::thread::scope(|scope| {
            let other = scope.spawn(|| second(&self.lanes[1]));
            let first = first(&self.lanes[0]);
            let second = other
                .join()
                .unwrap_or_else(|_| Err(OcrError::Failed("recognition panicked".into())));
            (first, second)
        })
    }

    /// Reads the box `region` of `rgb` (its quad, turned upright), `stretch` times as wide as
    /// it is. (A zone line found short is read again wider from its axis-aligned `bbox`
    /// instead, [`Ocr::recognize_resized`]: a [`Line`] keeps no quad.)
    fn recognize_on(
        &self,
        rgb: &RgbImage,
        region: &TextBox,
        stretch: f32,
        lane: Option<&Arc<ThreadPool>>,
    ) -> Result<Line, OcrError> {
        let mut crop = crop_quad(rgb, &region.corners)
            .ok_or_else(|| OcrError::Failed("the text region is empty".into()))?;
        if stretch != 1.0 {
            let width = (crop.width() as f32 * stretch).round() as u32;
            crop = imageops::resize(&crop, width.max(1), crop.height(), FilterType::Triangle);
        }
        Ok(self.recognize_crop(&crop, lane)?.line(region.bbox))
    }

    /// Reads the axis-aligned `bbox` of `rgb` resized to `size` with `filter`, as a line with
    /// that `bbox` (the zone lines and rows of ink read again wider or enlarged).
    fn recognize_resized(
        &self,
        rgb: &RgbImage,
        bbox: (u32, u32, u32, u32),
        (width, height): (u32, u32),
        filter: FilterType,
        lane: Option<&Arc<ThreadPool>>,
    ) -> Result<Line, OcrError> {
        let (left, top, crop_w, crop_h) = bbox;
        let crop = imageops::crop_imm(rgb, left, top, crop_w, crop_h);
        let resized = imageops::resize(&*crop, width, height, filter);
        Ok(self.recognize_crop(&resized, lane)?.line(bbox))
    }

    /// Reads the single line of text filling `crop` (upright).
    fn recognize_crop(
        &self,
        crop: &RgbImage,
        lane: Option<&Arc<ThreadPool>>,
    ) -> Result<Reading, OcrError> {
        let (crop_w, crop_h) = crop.dimensions();
        let line_w = ((REC_HEIGHT as f32 * crop_w as f32 / crop_h as f32).ceil() as u32)
            .clamp(1, REC_MAX_WIDTH);
        let line = imageops::resize(crop, line_w, REC_HEIGHT, FilterType::Triangle);
        let input_w = line_w.max(REC_MIN_WIDTH) as usize;
        let plane = REC_HEIGHT as usize * input_w;
        // Padding is 0 after normalisation, i.e. mid grey, as PP-OCR pads.
        let mut data = vec![0.0f32; 3 * plane];
        for (x, y, px) in line.enumerate_pixels() {
            let at = y as usize * input_w + x as usize;
            // The models were trained on OpenCV's BGR channel order.
            let [r, g, b] = px.0;
            data[at] = normalize(b);
            data[plane + at] = normalize(g);
            data[2 * plane + at] = normalize(r);
        }
        let input = NdTensor::from_data([1, 3, REC_HEIGHT as usize, input_w], data);
        let output = self
            .recognizer
            .run_one(
                input.into(),
                lane.map(|pool| RunOptions::default().with_thread_pool(Some(pool.clone()))),
            )
            .map_err(|e| OcrError::Failed(format!("text recognition: {e}")))?;
        let probs: NdTensor<f32, 3> = output
            .try_into()
            .map_err(|e| OcrError::Failed(format!("text recognition output: {e:?}")))?;
        let [_, steps, classes] = probs.shape();
        if classes != self.classes.len() {
            return Err(OcrError::Failed(format!(
                "the recogniser has {classes} classes but its character list {}",
                self.classes.len()
            )));
        }
        let probs = probs.to_vec();
        let mut reading = ctc_greedy(probs.chunks_exact(classes).take(steps), &self.classes);
        // Each output step stands for `input_w / steps` columns of the line; the line is the
        // crop scaled by `line_w / crop_w`.
        let scale = input_w as f32 / steps.max(1) as f32 * crop_w as f32 / line_w as f32;
        measure_glyphs(crop, &mut reading, scale, &probs, &self.classes);
        Ok(reading)
    }

    /// Detects the text in `image` and reads every box: the non-empty lines, top to bottom and
    /// left to right.
    pub fn read_lines(&self, image: &impl OcrImage) -> Result<Vec<Line>, OcrError> {
        let rgb = image.to_rgb();
        let mut boxes = self.detect_rgb(&rgb)?;
        sort_reading_order(&mut boxes);
        let regions: Vec<&TextBox> = boxes.iter().collect();
        let mut lines = self.recognize_all(&rgb, &regions)?;
        lines.retain(|line| !line.text.trim().is_empty());
        Ok(lines)
    }
}

/// How far the widths and left edges of a zone's lines may differ, as a share of the width.
const ZONE_SIBLING_SLACK: f32 = 0.06;

/// A box this many times wider than tall may be a machine-readable-zone line (30 to 44
/// characters on one line); a card number or a name is rarely as wide.
const WIDE_LINE_ASPECT_MIN: u32 = 6;

impl Ocr {
    /// Detects once, then reads the wide boxes (those alike as a zone's lines are first; see
    /// [`zone_lines_first`]) from the bottom up, two at a time, then the rest,
    /// asking `enough` after each pair, and stops as soon as it accepts the lines read (an MRZ
    /// found: it sits at the bottom of a page, and the other 30 lines of a passport page need not
    /// be read — recognition, 25–125 ms a line, is most of the time). Lines come back top to
    /// bottom, left to right.
    pub fn read_lines_staged(
        &self,
        image: &impl OcrImage,
        goal: &Goal<'_>,
    ) -> Result<Vec<Line>, OcrError> {
        self.staged(&image.to_rgb(), goal, 1.0)
    }

    /// [`Ocr::read_lines_staged`] again, for a small photo: the detector sees it enlarged up to
    /// [`SMALL_PHOTO_ENLARGE_MAX`] times (the machine-readable zone of a 270-pixel-wide scan is a
    /// few pixels high, below what the detector finds). `None` for a photo that is not small.
    pub fn read_lines_staged_enlarged(
        &self,
        image: &impl OcrImage,
        goal: &Goal<'_>,
    ) -> Result<Option<Vec<Line>>, OcrError> {
        let rgb = image.to_rgb();
        if !self.is_small(&rgb) {
            return Ok(None);
        }
        let lines = self.staged(&rgb, goal, SMALL_PHOTO_ENLARGE_MAX)?;
        if (goal.enough)(&lines) || (goal.zone_read)(&lines) {
            return Ok(Some(lines));
        }
        Ok(Some(self.read_ink_rows(&rgb, goal)?.unwrap_or(lines)))
    }

    /// Whether `rgb` is a small photo: its longer side, [`SMALL_PHOTO_ENLARGE_MIN`] times over,
    /// still fits the detector.
    fn is_small(&self, rgb: &RgbImage) -> bool {
        let longer = rgb.width().max(rgb.height());
        longer as f32 * SMALL_PHOTO_ENLARGE_MIN <= self.config.max_side as f32
    }

    /// The last look at a small photo whose zone the detector does not find even enlarged (a
    /// page scanned at five pixels a character): the lowest rows of ink across the page
    /// ([`ink_rows`]), each read enlarged with each of [`INK_ROW_FILTERS`], at its width and
    /// stretched ([`INK_ROW_STRETCHES`]), and the combination
    /// of readings that makes a zone whose check digits pass (the most confident one). `None`
    /// when no combination does.
    fn read_ink_rows(
        &self,
        rgb: &RgbImage,
        goal: &Goal<'_>,
    ) -> Result<Option<Vec<Line>>, OcrError> {
        let mut rows = ink_rows(rgb);
        rows.truncate(INK_ROWS_MAX);
        rows.reverse();
        // Each row's readings, top row first: every row, stretch and filter, two at a time (one
        // on each lane).
        let per_row = INK_ROW_STRETCHES.len() * INK_ROW_FILTERS.len();
        // A row's box, the size it is read at, and the filter that resizes it.
        type Look = ((u32, u32, u32, u32), (u32, u32), FilterType);
        let looks: Vec<Look> = rows
            .iter()
            .flat_map(|row| {
                let (_, _, width, height) = row.bbox;
                INK_ROW_STRETCHES.into_iter().flat_map(move |stretch| {
                    INK_ROW_FILTERS.into_iter().map(move |filter| {
                        let size = (width * INK_ROW_ENLARGE * stretch, height * INK_ROW_ENLARGE);
                        (row.bbox, size, filter)
                    })
                })
            })
            .collect();
        let read = self.in_pairs(&looks, |&(bbox, size, filter), lane| {
            self.recognize_resized(rgb, bbox, size, filter, lane)
        })?;
        let readings: Vec<Vec<Line>> = read.chunks(per_row).map(<[Line]>::to_vec).collect();
        // Every choice of one reading a row, for the last two rows and, for a three-line zone,
        // the three: at most 6^3 parses, no recognition.
        let mut best: Option<(f32, Vec<Line>)> = None;
        for first in 0..readings.len().saturating_sub(1) {
            let rows = &readings[first..];
            let count = rows.iter().map(Vec::len).product::<usize>();
            for choice in 0..count {
                let mut index = choice;
                let lines: Vec<Line> = rows
                    .iter()
                    .map(|read| {
                        let line = read[index % read.len()].clone();
                        index /= read.len();
                        line
                    })
                    .collect();
                if !(goal.zone_read)(&lines) && !(goal.enough)(&lines) {
                    continue;
                }
                let confidence =
                    lines.iter().map(|l| l.confidence).sum::<f32>() / lines.len() as f32;
                if best.as_ref().is_none_or(|(b, _)| confidence > *b) {
                    best = Some((confidence, lines));
                }
            }
        }
        Ok(best.map(|(_, lines)| lines))
    }

    /// Detects, turns the photo upright if its text does not run level (a page photographed
    /// sideways or at a slant), and reads the boxes as [`Ocr::read_lines_staged`] says.
    fn staged(&self, rgb: &RgbImage, goal: &Goal<'_>, enlarge: f32) -> Result<Vec<Line>, OcrError> {
        // Judged on the photo as it came, not as turned level (a larger canvas).
        let small = self.is_small(rgb);
        let boxes = self.detect_rgb_enlarged(rgb, enlarge)?;
        match lean(&boxes) {
            Lean::Level => self.read_boxes(rgb, boxes, goal, small),
            Lean::Slanted(degrees) => {
                let level = rotate(rgb, -degrees.to_radians());
                let boxes = self.detect_rgb_enlarged(&level, enlarge)?;
                self.read_boxes(&level, boxes, goal, small)
            }
            Lean::Sideways => {
                let mut turned = imageops::rotate90(rgb);
                let mut boxes = self.detect_rgb_enlarged(&turned, enlarge)?;
                // A quarter turn one way or the other: the widest line reads better upright
                // than upside down.
                if let Some(widest) = boxes.iter().max_by_key(|b| b.bbox.2) {
                    let crop = crop_quad(&turned, &widest.corners)
                        .ok_or_else(|| OcrError::Failed("the text region is empty".into()))?;
                    let flipped = imageops::rotate180(&crop);
                    let (upright, upside_down) = self.on_both_lanes(
                        |lane| self.recognize_crop(&crop, Some(lane)),
                        |lane| self.recognize_crop(&flipped, Some(lane)),
                    );
                    if upside_down?.confidence > upright?.confidence {
                        turned = imageops::rotate180(&turned);
                        boxes = self.detect_rgb_enlarged(&turned, enlarge)?;
                    }
                }
                self.read_boxes(&turned, boxes, goal, small)
            }
        }
    }

    /// Reads `boxes` as [`Ocr::read_lines_staged`] says; when the wide boxes hold zone lines
    /// but not enough of them, takes a second look at the zone's band before the rest.
    fn read_boxes(
        &self,
        rgb: &RgbImage,
        mut boxes: Vec<TextBox>,
        goal: &Goal<'_>,
        small: bool,
    ) -> Result<Vec<Line>, OcrError> {
        sort_reading_order(&mut boxes);
        let wide = |b: &TextBox| b.bbox.2 >= WIDE_LINE_ASPECT_MIN * b.bbox.3.max(1);
        let mut read: Vec<Option<Line>> = vec![None; boxes.len()];
        let in_order = |read: &[Option<Line>]| -> Vec<Line> {
            read.iter()
                .flatten()
                .filter(|l| !l.text.trim().is_empty())
                .cloned()
                .collect()
        };
        let mut bottom_up = zone_lines_first(&boxes, wide);
        bottom_up.truncate(LINES_READ_MAX);
        // Two at a time (see `lanes`): a two-line zone is read in one step.
        for indexes in bottom_up.chunks(2) {
            self.read_into(rgb, &boxes, indexes, &mut read)?;
            if let Some(lines) = self.zone_finished(rgb, in_order(&read), goal)? {
                return Ok(lines);
            }
        }
        // No zone yet: a wide line read unsure is read again wider (see
        // [`UNSURE_WIDE_LINE_STRETCH`]) and kept if surer, with no filler lost. Not on a small
        // photo: its lines are a few pixels high, and its own later looks (enlarged, rows of
        // ink) read them better (a 270-pixel scan's zone, read from a stretched box, passed its
        // checks with its names worse than its rows of ink read them).
        let unsure: Vec<usize> = if small {
            Vec::new()
        } else {
            bottom_up
                .iter()
                .copied()
                .filter(|&i| {
                    read[i]
                        .as_ref()
                        .is_some_and(|line| line.confidence < UNSURE_ZONE_LINE)
                })
                .take(UNSURE_WIDE_LINES_MAX)
                .collect()
        };
        if !unsure.is_empty() {
            let regions: Vec<&TextBox> = unsure.iter().map(|&i| &boxes[i]).collect();
            let again = self.recognize_all_stretched(rgb, &regions, UNSURE_WIDE_LINE_STRETCH)?;
            for (&i, line) in unsure.iter().zip(again) {
                if read[i].as_ref().is_some_and(|old| {
                    line.confidence > old.confidence && !fillers_lost(&line, old)
                }) {
                    read[i] = Some(line);
                }
            }
            if let Some(lines) = self.zone_finished(rgb, in_order(&read), goal)? {
                return Ok(lines);
            }
        }
        if let Some(lines) = self.second_look(rgb, &in_order(&read), goal)?
            && ((goal.enough)(&lines) || (goal.zone_read)(&lines))
        {
            return self.short_lines_stretched(rgb, lines, goal);
        }
        let rest: Vec<usize> = (0..boxes.len())
            .filter(|&i| !wide(&boxes[i]))
            .take(LINES_READ_MAX - bottom_up.len())
            .collect();
        for indexes in rest.chunks(2) {
            self.read_into(rgb, &boxes, indexes, &mut read)?;
            if (goal.enough)(&in_order(&read)) {
                break;
            }
        }
        Ok(in_order(&read))
    }

    /// `lines` finished when they hold a zone: whole (`enough`), or checked but not whole, which
    /// gets a second look first (the rest of the page cannot help); `None` when they hold no
    /// zone.
    fn zone_finished(
        &self,
        rgb: &RgbImage,
        lines: Vec<Line>,
        goal: &Goal<'_>,
    ) -> Result<Option<Vec<Line>>, OcrError> {
        if (goal.enough)(&lines) {
            return self.short_lines_stretched(rgb, lines, goal).map(Some);
        }
        if !(goal.zone_read)(&lines) {
            return Ok(None);
        }
        let lines = match self.second_look(rgb, &lines, goal)? {
            Some(better) if (goal.zone_read)(&better) => better,
            _ => lines,
        };
        self.short_lines_stretched(rgb, lines, goal).map(Some)
    }

    /// `lines`, which hold a zone `goal` accepts, with each zone line read shorter than the
    /// zone's longest read again wider (each of [`SHORT_LINE_STRETCHES`] times its width while
    /// it is still short); a reading is kept where it comes closer to the longest's length
    /// without losing fillers, and the lines still pass what they passed (`enough`, else
    /// `zone_read`). A zone's lines are all of one length; one read short has lost characters,
    /// most often part of a filler run (see [`INK_ROW_STRETCHES`]): the first line
    /// `P<TWNLIN<<MEI<HUA<<<…` of a specimen was read as `P<TNN<<ME<H<<<…`, 38 characters,
    /// shifting the country and the names. Then each zone line read whole but unsure (below
    /// [`UNSURE_ZONE_LINE`]) is read twice as wide, and kept on the same terms if surer. Then
    /// a line holding a country code no state has ([`Goal::doubtful`]) is read wider again.
    fn short_lines_stretched(
        &self,
        rgb: &RgbImage,
        mut lines: Vec<Line>,
        goal: &Goal<'_>,
    ) -> Result<Vec<Line>, OcrError> {
        let keep = if (goal.enough)(&lines) {
            goal.enough
        } else {
            goal.zone_read
        };
        let length = |text: &str| text.chars().filter(|c| !c.is_whitespace()).count();
        let zone: Vec<usize> = (0..lines.len())
            .filter(|&i| (goal.zone_line)(&lines[i].text))
            .collect();
        let Some(longest) = zone.iter().map(|&i| length(&lines[i].text)).max() else {
            return Ok(lines);
        };
        // `line` read again `stretch` times as wide.
        let wider = |line: &Line, stretch: f32| {
            let (_, _, width, height) = line.bbox;
            let size = ((width as f32 * stretch).round() as u32, height);
            self.recognize_resized(rgb, line.bbox, size, FilterType::Triangle, None)
        };
        // `line` in place of line `i` if the zone still passes what it passed.
        let put = |lines: &mut Vec<Line>, i: usize, line: Line| {
            let before = std::mem::replace(&mut lines[i], line);
            if !keep(lines) {
                lines[i] = before;
            }
        };
        let off = |line: &Line| longest.abs_diff(length(&line.text));
        // Lines read whole before any was read again: a short line's wider readings are its own.
        let whole: Vec<usize> = zone
            .iter()
            .copied()
            .filter(|&i| length(&lines[i].text) == longest)
            .collect();
        for &i in &zone {
            for (stretch, missing_min) in SHORT_LINE_STRETCHES {
                let short = longest.abs_diff(length(&lines[i].text));
                if short < missing_min {
                    break;
                }
                let line = wider(&lines[i], stretch)?;
                if longest.abs_diff(length(&line.text)) < short && !fillers_lost(&line, &lines[i]) {
                    put(&mut lines, i, line);
                }
            }
        }
        // A zone line read whole but unsure was most often given too few of the recogniser's
        // steps a character (a small line): read twice as wide, it is kept if surer, no
        // shorter, with no filler lost, and the zone still passes what it passed.
        for i in whole {
            if lines[i].confidence >= UNSURE_ZONE_LINE {
                continue;
            }
            let line = wider(&lines[i], 2.0)?;
            if line.confidence > lines[i].confidence
                && off(&line) <= off(&lines[i])
                && !fillers_lost(&line, &lines[i])
            {
                put(&mut lines, i, line);
            }
        }
        // A zone that passes with a country code that is no code lost or changed characters no
        // check digit covers (`P<FRAELUL<<` read `P<FRELUL<<`: a letter lost, the country and
        // the surname shifted, the line made whole by its filler run). The line holding the code
        // is read again wider; of the readings that leave the zone passing what it passed with
        // fewer unknown codes, the surest is kept.
        for k in (goal.doubtful)(&lines).unwrap_or_default() {
            // Another line's reading may have made this one's code known too.
            let Some(unknown) = (goal.doubtful)(&lines).filter(|now| now.contains(&k)) else {
                continue;
            };
            let Some(&i) = zone.get(k) else {
                continue;
            };
            let mut best: Option<Line> = None;
            for stretch in DOUBTFUL_LINE_STRETCHES {
                let line = wider(&lines[i], stretch)?;
                if off(&line) > off(&lines[i])
                    || fillers_lost(&line, &lines[i])
                    || best
                        .as_ref()
                        .is_some_and(|b| b.confidence >= line.confidence)
                {
                    continue;
                }
                let before = std::mem::replace(&mut lines[i], line);
                let fewer = (goal.doubtful)(&lines).is_some_and(|now| now.len() < unknown.len());
                if keep(&lines) && fewer {
                    best = Some(std::mem::replace(&mut lines[i], before));
                } else {
                    lines[i] = before;
                }
            }
            if let Some(line) = best {
                lines[i] = line;
            }
        }
        Ok(lines)
    }

    /// The lines `read` with their zone lines replaced by a reading of the zone's band (see
    /// [`Ocr::read_band`]); `None` when no line read belongs to a zone.
    fn second_look(
        &self,
        rgb: &RgbImage,
        read: &[Line],
        goal: &Goal<'_>,
    ) -> Result<Option<Vec<Line>>, OcrError> {
        let (zone, others): (Vec<&Line>, Vec<&Line>) =
            read.iter().partition(|l| (goal.zone_line)(&l.text));
        let Some(band) = zone_band(&zone, rgb.dimensions()) else {
            return Ok(None);
        };
        let band_lines = self.read_band(rgb, band)?;
        let others = others.into_iter().cloned().collect();
        Ok(Some(best_of_both_looks(others, &zone, band_lines, goal)))
    }

    /// Reads the boxes at `indexes` into their slots of `read`.
    fn read_into(
        &self,
        rgb: &RgbImage,
        boxes: &[TextBox],
        indexes: &[usize],
        read: &mut [Option<Line>],
    ) -> Result<(), OcrError> {
        let regions: Vec<&TextBox> = indexes.iter().map(|&i| &boxes[i]).collect();
        for (&index, line) in indexes.iter().zip(self.recognize_all(rgb, &regions)?) {
            read[index] = Some(line);
        }
        Ok(())
    }

    /// Every line in `band` of `rgb`, detected again on the band alone with its text brought
    /// to the detector's best height: the zone's lines whole where the page's detection split
    /// them, cut their filler runs short or missed one among small print. Top to bottom, in
    /// the photo's coordinates.
    fn read_band(&self, rgb: &RgbImage, band: Band) -> Result<Vec<Line>, OcrError> {
        let (left, top, width, height) = band.rect;
        let crop = imageops::crop_imm(rgb, left, top, width, height).to_image();
        let enlarge = (BAND_TEXT_HEIGHT / band.line_height.max(1) as f32).clamp(1.0, 4.0);
        let mut boxes = self.detect_rgb_enlarged(&crop, enlarge)?;
        sort_reading_order(&mut boxes);
        // A zone line is one run of characters: the pieces the detector found of a row are
        // read as one box spanning them (it can miss the middle of a line on a busy background).
        let rows = rows_joined(&boxes);
        // A band stretched over a whole page (zone-like lines far apart) would have every row
        // of it read: the widest rows are kept, zone lines running across the document.
        let mut regions: Vec<&TextBox> = rows.iter().collect();
        if regions.len() > BAND_ROWS_MAX {
            regions.sort_by_key(|b| std::cmp::Reverse(b.bbox.2));
            regions.truncate(BAND_ROWS_MAX);
            regions.sort_by_key(|b| b.bbox.1);
        }
        let mut lines = self.recognize_all(&crop, &regions)?;
        lines.retain(|l| !l.text.trim().is_empty());
        for line in &mut lines {
            line.bbox.0 += left;
            line.bbox.1 += top;
        }
        Ok(lines)
    }
}

/// Rows of a zone read by both looks whose readings are combined, at most: two to the power of
/// this many combinations are judged.
const ZONE_ROWS_COMBINED_MAX: usize = 3;

/// `others` and the second look's `band` lines, with each zone line of the band swapped for the
/// first look's reading of the same row where the zone, so combined, passes what the band's own
/// lines pass (`enough`, `zone_read`) with more confidence summed over its lines. The second
/// look reads the whole band again, and a line that came out right the first time may come out
/// worse: a first line, which no check digit covers, read `P<UTOERIKSSON<<ANNA<MAR1A<<<…` (0.85)
/// and then `P<UTOERIKSSONS<ANNAKMARIAKS<<<<S<S<<S<<<KSSS` (0.69), while the second look was what
/// read the second line's checks right.
fn best_of_both_looks(
    others: Vec<Line>,
    first: &[&Line],
    band: Vec<Line>,
    goal: &Goal<'_>,
) -> Vec<Line> {
    let overlap = |a: &Line, b: &Line| {
        let top = a.bbox.1.max(b.bbox.1);
        let bottom = (a.bbox.1 + a.bbox.3).min(b.bbox.1 + b.bbox.3);
        bottom.saturating_sub(top)
    };
    // (index in `band`, the first look's line of the same row); a first-look line pairs once.
    let mut rows: Vec<(usize, &Line)> = Vec::new();
    for (j, line) in band.iter().enumerate() {
        if rows.len() == ZONE_ROWS_COMBINED_MAX || !(goal.zone_line)(&line.text) {
            continue;
        }
        let same_row = first
            .iter()
            .filter(|f| overlap(f, line) > 0)
            .max_by_key(|f| overlap(f, line));
        if let Some(f) = same_row
            && !rows.iter().any(|(_, taken)| std::ptr::eq(*taken, *f))
        {
            rows.push((j, *f));
        }
    }
    let score = |lines: &[Line]| {
        let confidence: f32 = lines
            .iter()
            .filter(|l| (goal.zone_line)(&l.text))
            .map(|l| l.confidence)
            .sum();
        ((goal.enough)(lines), (goal.zone_read)(lines), confidence)
    };
    let combined = |mask: usize| {
        let mut lines = others.clone();
        lines.extend(band.iter().enumerate().map(|(j, line)| {
            rows.iter()
                .position(|&(row, _)| row == j)
                .filter(|k| mask & (1 << k) != 0)
                .map_or(line, |k| rows[k].1)
                .clone()
        }));
        lines
    };
    let mut best = combined(0);
    let (enough, zone_read, mut confidence) = score(&best);
    for mask in 1..(1usize << rows.len()) {
        let lines = combined(mask);
        let (lines_enough, lines_zone_read, lines_confidence) = score(&lines);
        // Only among combinations that pass what the band's own reading passes: more of them to
        // choose from would also mean more chances of check digits passing by coincidence (a
        // zone of heavily damaged synthetic lines passed that way with its number wrong).
        if (lines_enough, lines_zone_read) == (enough, zone_read) && lines_confidence > confidence {
            (best, confidence) = (lines, lines_confidence);
        }
    }
    best
}

/// The boxes `wide` accepts, in the order to read them: those with a zone sibling (see
/// [`zone_siblings`]) first, then the others, each from the bottom up. A zone sits at the bottom of
/// its page, but the bottom-most wide box may be a caption under the photo or a footer, and each
/// pair of lines read before the zone costs 50–150 ms (`100_visa-polx`, `79_pass-can`).
fn zone_lines_first(boxes: &[TextBox], wide: impl Fn(&TextBox) -> bool) -> Vec<usize> {
    let mut bottom_up: Vec<usize> = (0..boxes.len()).filter(|&i| wide(&boxes[i])).collect();
    bottom_up.sort_by_key(|&i| std::cmp::Reverse(boxes[i].bbox.1 + boxes[i].bbox.3));
    let zone_like = |i: usize| {
        bottom_up
            .iter()
            .any(|&j| j != i && zone_siblings(&boxes[i], &boxes[j]))
    };
    let (mut first, rest): (Vec<usize>, Vec<usize>) =
        bottom_up.iter().partition(|&&i| zone_like(i));
    first.extend(rest);
    first
}

/// Whether two boxes look like lines of one machine-readable zone: the same width and left edge
/// (within [`ZONE_SIBLING_SLACK`] of the width), one above the other, a line or two apart.
fn zone_siblings(a: &TextBox, b: &TextBox) -> bool {
    let (al, at, aw, ah) = a.bbox;
    let (bl, bt, bw, bh) = b.bbox;
    let slack = ZONE_SIBLING_SLACK * aw.max(bw) as f32;
    let height = ah.max(bh) as f32;
    let apart = at.abs_diff(bt) as f32;
    (aw.abs_diff(bw) as f32) <= slack
        && (al.abs_diff(bl) as f32) <= slack
        && apart >= 0.5 * height
        && apart <= 3.0 * height
}

/// Boxes in reading order joined row by row: one axis-aligned box spanning each row's boxes.
/// A box whose vertical centre lies within the row's first box starts no new row. Boxes not
/// clearly wider than tall (text running down the page, a stamp) join no row.
fn rows_joined(boxes: &[TextBox]) -> Vec<TextBox> {
    let mut rows: Vec<(u32, u32, u32, u32)> = Vec::new();
    let mut row_first: Option<(u32, u32)> = None;
    for b in boxes.iter().filter(|b| b.bbox.2 >= 2 * b.bbox.3) {
        let (left, top, width, height) = b.bbox;
        let centre = top + height / 2;
        match (row_first, rows.last_mut()) {
            (Some((first_top, first_bottom)), Some(row))
                if (first_top..=first_bottom).contains(&centre) =>
            {
                let right = (row.0 + row.2).max(left + width);
                let bottom = (row.1 + row.3).max(top + height);
                row.0 = row.0.min(left);
                row.1 = row.1.min(top);
                row.2 = right - row.0;
                row.3 = bottom - row.1;
            }
            _ => {
                rows.push(b.bbox);
                row_first = Some((top, top + height));
            }
        }
    }
    rows.into_iter()
        .map(|(l, t, w, h)| TextBox::from_rect(l, t, w, h))
        .collect()
}

/// A question [`Goal`] asks of the lines read so far.
pub type Judge<'a> = &'a dyn Fn(&[Line]) -> bool;

/// What a staged reading looks for (see [`Ocr::read_lines_staged`]).
pub struct Goal<'a> {
    /// The lines read hold what was wanted: stop.
    pub enough: Judge<'a>,
    /// The lines read hold a zone that is not `enough` but that the rest of the page cannot
    /// improve (its check digits pass): one second look at its band, then stop.
    pub zone_read: Judge<'a>,
    /// A line that may belong to a machine-readable zone.
    pub zone_line: &'a dyn Fn(&str) -> bool,
    /// Where the lines hold a zone that reads wrong where no check digit looks (a country code
    /// that is no code): those of the lines `zone_line` takes (0 for the first) worth reading
    /// again; `None` when the lines hold no zone.
    pub doubtful: &'a dyn Fn(&[Line]) -> Option<Vec<usize>>,
}

/// A band of the photo around the zone lines found, and their height.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Band {
    rect: (u32, u32, u32, u32),
    line_height: u32,
}

/// The height, in detector pixels, the band's text is enlarged towards (PP-OCR's detector
/// finds text best from about this height).
const BAND_TEXT_HEIGHT: f32 = 32.0;
/// Rows of a band read at most: a zone's two or three lines and what lies two line heights
/// around them fit many times over.
const BAND_ROWS_MAX: usize = 12;

/// The band of a zone: the photo's whole width (a zone line runs across the document, and
/// the piece found may be any part of it), from two line heights above its lines to two below
/// (a line not found at all).
fn zone_band(zone: &[&Line], (width, height): (u32, u32)) -> Option<Band> {
    let mut heights: Vec<u32> = zone.iter().map(|l| l.bbox.3).collect();
    heights.sort_unstable();
    let line_height = *heights.get(heights.len() / 2)?;
    let top = zone.iter().map(|l| l.bbox.1).min()?;
    let bottom = zone.iter().map(|l| l.bbox.1 + l.bbox.3).max()?;
    let top = top.saturating_sub(2 * line_height);
    let bottom = (bottom + 2 * line_height).min(height);
    (width > 0 && bottom > top).then_some(Band {
        rect: (0, top, width, bottom - top),
        line_height,
    })
}

/// How the text of a photo runs.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Lean {
    Level,
    /// Rising (negative) or falling by this many degrees, 4 to 45.
    Slanted(f32),
    /// Up or down the photo: a page photographed sideways.
    Sideways,
}

/// A lean below this many degrees is read as it is: the boxes follow it, and straightening
/// costs a second detection.
const SLANT_MIN_DEGREES: f32 = 4.0;

/// The lean of the text boxes: their long sides' angles, each weighted by its length (a line
/// counts more than a word). Boxes not clearly longer than tall say nothing and are left out.
fn lean(boxes: &[TextBox]) -> Lean {
    let mut angles: Vec<(f32, f32)> = Vec::new();
    for b in boxes {
        let [tl, tr, _, bl] = b.corners;
        let (across, down) = (distance(tl, tr), distance(tl, bl));
        let (long, short, to) = if across >= down {
            (across, down, tr)
        } else {
            (down, across, bl)
        };
        if long < 3.0 * short || long < 20.0 {
            continue;
        }
        // In -90..=90 degrees: which end of the side comes first does not matter.
        let mut degrees = (to.1 - tl.1).atan2(to.0 - tl.0).to_degrees();
        if degrees > 90.0 {
            degrees -= 180.0;
        } else if degrees <= -90.0 {
            degrees += 180.0;
        }
        angles.push((degrees, long));
    }
    let total: f32 = angles.iter().map(|a| a.1).sum();
    let upright: f32 = angles
        .iter()
        .filter(|a| a.0.abs() > 60.0)
        .map(|a| a.1)
        .sum();
    if total == 0.0 {
        return Lean::Level;
    }
    if upright * 2.0 > total {
        return Lean::Sideways;
    }
    // The weighted median of the boxes that run more across than down.
    angles.retain(|a| a.0.abs() <= 45.0);
    angles.sort_by(|a, b| a.0.total_cmp(&b.0));
    let half = angles.iter().map(|a| a.1).sum::<f32>() / 2.0;
    let mut seen = 0.0;
    let median = angles
        .iter()
        .find(|a| {
            seen += a.1;
            seen >= half
        })
        .map_or(0.0, |a| a.0);
    if median.abs() >= SLANT_MIN_DEGREES {
        Lean::Slanted(median)
    } else {
        Lean::Level
    }
}

/// `rgb` turned by `radians` (clockwise on screen for a positive angle) about its centre, on a
/// canvas grown to hold all of it; the corners it uncovers are white, like paper.
fn rotate(rgb: &RgbImage, radians: f32) -> RgbImage {
    let (w, h) = (rgb.width() as f32, rgb.height() as f32);
    let (sin, cos) = radians.sin_cos();
    let full_w = w * cos.abs() + h * sin.abs();
    let full_h = w * sin.abs() + h * cos.abs();
    // A long, thin photo turned needs a canvas many times its own size (48,000 × 1,000 pixels
    // at 10° would need 782 million): it is turned smaller instead (see `ROTATED_PIXELS_MAX`).
    let room = ROTATED_PIXELS_MAX.min(ROTATED_GROWTH_MAX * w * h);
    let scale = (room / (full_w * full_h)).sqrt().min(1.0);
    // Less a thousandth: a quarter turn's cosine is not quite 0 in floating point.
    let out_w = (full_w * scale - 1e-3).ceil().max(1.0);
    let out_h = (full_h * scale - 1e-3).ceil().max(1.0);
    let (cx, cy, ox, oy) = (w / 2.0, h / 2.0, out_w / 2.0, out_h / 2.0);
    RgbImage::from_fn(out_w as u32, out_h as u32, |x, y| {
        // Back from the output pixel's centre to the source: the inverse rotation.
        let (dx, dy) = ((x as f32 + 0.5 - ox) / scale, (y as f32 + 0.5 - oy) / scale);
        let sx = cx + dx * cos + dy * sin;
        let sy = cy - dx * sin + dy * cos;
        if sx < 0.0 || sy < 0.0 || sx > w || sy > h {
            Rgb([255, 255, 255])
        } else {
            sample(rgb, sx - 0.5, sy - 0.5)
        }
    })
}

/// The most pixels a turned photo holds, and the most times its own size: within both a photo
/// turned at any angle keeps its size (a square one needs twice its pixels at 45°).
const ROTATED_PIXELS_MAX: f32 = 24_000_000.0;
const ROTATED_GROWTH_MAX: f32 = 3.0;

/// How much wider a zone line read short is read again, each time if it is still at least so
/// many characters short ([`Ocr::short_lines_stretched`]). On the specimens one and a half times
/// brought two lines two or more short back whole and one closer to whole (its country still
/// shifted); twice, that one too; and two lines one short back whole (`SPEIMEN`, a country
/// `SI` read as `1`). No zone lost a check. A line one short gets one try (~80 ms): most lines
/// one short are whole but for a filler, which no reading changes.
const SHORT_LINE_STRETCHES: [(f32, usize); 2] = [(1.5, 1), (2.0, 2)];

/// How much wider each line of a zone that passes with an unknown country code is read again
/// ([`Ocr::short_lines_stretched`]): the line holding the code, at each width in turn.
const DOUBTFUL_LINE_STRETCHES: [f32; 2] = [1.5, 2.0];

/// A zone line's confidence below which it is read again twice as wide
/// ([`Ocr::short_lines_stretched`]). On the specimens, `79_pass-can`'s second line (0.70, its
/// nationality `CAN` read as `0A2`) read twice as wide came back right (0.92); no other count
/// of the specimens or the synthetic zones changed.
const UNSURE_ZONE_LINE: f32 = 0.75;
/// How much wider a wide box read below [`UNSURE_ZONE_LINE`] is read again when the page's wide
/// boxes hold no zone yet ([`Ocr::read_boxes`]). The recogniser reads some crops of a line as
/// garbage and the same crop a little wider right: a synthetic TD3 first line, clean but for a
/// 3° slant, cropped 1001×38, read `P9021200622` (0.28); 1.25× as wide, 0.55 and eight
/// characters wrong; 1.5×, whole and right (0.88); 2×, right (0.84).
const UNSURE_WIDE_LINE_STRETCH: f32 = 1.5;
/// At most this many unsure wide boxes are read again: two pairs, one on each lane (a zone has
/// at most three lines).
const UNSURE_WIDE_LINES_MAX: usize = 4;

/// Rows of ink a small photo's last look reads (a zone has two or three lines).
const INK_ROWS_MAX: usize = 3;
/// How much a row of ink is enlarged before the recogniser's own scaling, and the filters it is
/// enlarged with: on a five-pixel character each filter's blur misleads the recogniser somewhere
/// else, so one of the readings is often right where another is not.
const INK_ROW_ENLARGE: u32 = 4;
const INK_ROW_FILTERS: [FilterType; 3] = [
    FilterType::Triangle,
    FilterType::CatmullRom,
    FilterType::Lanczos3,
];
/// How much wider than that a row is also read. The recogniser gives a line one output step per
/// eight pixels of its 48-pixel-high input, and a run of one character needs a blank step
/// between each two: a row of ink is cut with more margin above and below than a detected box,
/// so at its natural width a zone line got ~2.5 steps a character and its filler runs collapsed
/// (`<<<<<<<<<<<<<<` read as `4444`, or as nothing). Twice as wide, they come back.
const INK_ROW_STRETCHES: [u32; 2] = [1, 2];

/// Rows of text found by their ink alone, for a photo too small for the detector: the bands of
/// rows whose dark pixels (darker than Otsu's threshold of the photo's lower half) stretch across
/// most of its width, as the lines of a machine-readable zone do. Bottom first, as boxes.
fn ink_rows(rgb: &RgbImage) -> Vec<TextBox> {
    let gray = imageops::grayscale(rgb);
    let (width, height) = gray.dimensions();
    if width < 8 || height < 8 {
        return Vec::new();
    }
    let top = height / 2;
    let threshold = otsu(&histogram(&gray.as_raw()[(top * width) as usize..]));
    let dark = |x: u32, y: u32| gray.get_pixel(x, y).0[0] <= threshold;
    // A row is inked when a twentieth of it is dark; a band of inked rows is a line when its dark
    // columns span three quarters of the width.
    let inked: Vec<bool> = (0..height)
        .map(|y| y >= top && (0..width).filter(|&x| dark(x, y)).count() as u32 * 20 >= width)
        .collect();
    let mut rows = Vec::new();
    let mut y = top;
    while y < height {
        if !inked[y as usize] {
            y += 1;
            continue;
        }
        let start = y;
        while y < height && inked[y as usize] {
            y += 1;
        }
        let columns: Vec<u32> = (0..width)
            .filter(|&x| (start..y).any(|row| dark(x, row)))
            .collect();
        let (Some(&left), Some(&right)) = (columns.first(), columns.last()) else {
            continue;
        };
        if (right - left + 1) * 4 < width * 3 || y - start < 2 {
            continue;
        }
        // Room above and below for the letters' tops and tails the threshold cut off.
        let pad = ((y - start) / 2).max(1);
        let (band_top, band_bottom) = (start.saturating_sub(pad), (y + pad).min(height));
        let (band_left, band_right) = (left.saturating_sub(pad), (right + 1 + pad).min(width));
        rows.push(TextBox::from_rect(
            band_left,
            band_top,
            band_right - band_left,
            band_bottom - band_top,
        ));
    }
    rows.reverse();
    rows
}

/// How many of `grey`'s pixels have each grey level.
fn histogram(grey: &[u8]) -> [u64; 256] {
    let mut histogram = [0u64; 256];
    for &g in grey {
        histogram[usize::from(g)] += 1;
    }
    histogram
}

/// Otsu's threshold: the grey level that best splits the histogram in two.
fn otsu(histogram: &[u64; 256]) -> u8 {
    let total: u64 = histogram.iter().sum();
    let sum: f64 = histogram
        .iter()
        .enumerate()
        .map(|(level, &n)| level as f64 * n as f64)
        .sum();
    let (mut below, mut below_sum, mut best, mut best_level) = (0u64, 0f64, 0f64, 0u8);
    for (level, &n) in histogram.iter().enumerate() {
        below += n;
        below_sum += level as f64 * n as f64;
        let above = total - below;
        if below == 0 || above == 0 {
            continue;
        }
        let mean_below = below_sum / below as f64;
        let mean_above = (sum - below_sum) / above as f64;
        let between = below as f64 * above as f64 * (mean_below - mean_above).powi(2);
        if between > best {
            best = between;
            best_level = level as u8;
        }
    }
    best_level
}

fn normalize(value: u8) -> f32 {
    (value as f32 / 255.0 - 0.5) / 0.5
}

/// A photo whose longer side, this many times over, still fits the detector is read a second
/// time enlarged when the first reading found nothing.
const SMALL_PHOTO_ENLARGE_MIN: f32 = 1.5;
/// How much a small photo is enlarged for the detector, at most.
pub const SMALL_PHOTO_ENLARGE_MAX: f32 = 4.0;

/// The detector's input size: scaled to fit `max_side` (up by at most `enlarge`; 1.0 never
/// enlarges), sides multiples of 32.
fn detector_size(width: u32, height: u32, max_side: u32, enlarge: f32) -> (u32, u32) {
    let longer = width.max(height) as f32;
    let ratio = (max_side.max(32) as f32 / longer).min(enlarge.max(1.0));
    let round32 = |side: u32| (((side as f32 * ratio) / 32.0).round() as u32).max(1) * 32;
    (round32(width), round32(height))
}

/// `[1, 3, h, w]`, BGR, each value normalised to -1..1.
fn normalized_chw(rgb: &RgbImage) -> NdTensor<f32, 4> {
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let mut data = vec![0.0f32; 3 * w * h];
    for (i, px) in rgb.pixels().enumerate() {
        let [r, g, b] = px.0;
        data[i] = normalize(b);
        data[w * h + i] = normalize(g);
        data[2 * w * h + i] = normalize(r);
    }
    NdTensor::from_data([1, 3, h, w], data)
}

/// DB post-processing: threshold, dilate, connected components, minimum-area rectangles, score
/// filter, unclip; coordinates scaled back to the image.
fn boxes_from_map(
    probs: &[f32],
    map_w: usize,
    map_h: usize,
    scale: (f32, f32),
    image_size: (u32, u32),
    config: &OcrConfig,
) -> Vec<TextBox> {
    // Threshold, then dilate with a 2×2 kernel (as PP-OCR's `use_dilation`).
    let above: Vec<bool> = probs.iter().map(|&p| p > config.pixel_threshold).collect();
    let mut mask = vec![false; map_w * map_h];
    for y in 0..map_h {
        for x in 0..map_w {
            let at =
                |dx: usize, dy: usize| x >= dx && y >= dy && above[(y - dy) * map_w + (x - dx)];
            mask[y * map_w + x] = at(0, 0) || at(1, 0) || at(0, 1) || at(1, 1);
        }
    }

    // 8-connected components; for each, its pixels and mean probability.
    let mut candidates = Vec::new();
    components(&mask, map_w, |indices| {
        let pixels: Vec<(i64, i64)> = indices
            .iter()
            .map(|&i| ((i % map_w) as i64, (i / map_w) as i64))
            .collect();
        let prob_sum: f64 = indices.iter().map(|&i| probs[i] as f64).sum();
        let count = indices.len();
        candidates.push((pixels, (prob_sum / count as f64) as f32, count));
    });
    if candidates.len() > BOXES_MAX {
        candidates.sort_by_key(|c| std::cmp::Reverse(c.2));
        candidates.truncate(BOXES_MAX);
    }

    let (image_w, image_h) = image_size;
    let mut boxes = Vec::new();
    for (points, score, _) in candidates {
        let Some(rect) = min_area_rect(&points) else {
            continue;
        };
        if rect.width.min(rect.height) < 3.0 || score < config.box_threshold {
            continue;
        }
        let (w, h) = (rect.width, rect.height);
        let grow = w * h * config.unclip_ratio / (2.0 * (w + h));
        let rect = RotatedRect {
            width: w + 2.0 * grow,
            height: h + 2.0 * grow,
            ..rect
        };
        if rect.width.min(rect.height) < 5.0 {
            continue;
        }
        let corners = order_corners(rect.corners().map(|(x, y)| {
            (
                (x * scale.0).clamp(0.0, image_w as f32),
                (y * scale.1).clamp(0.0, image_h as f32),
            )
        }));
        let text_box = TextBox::from_corners(corners, score);
        if text_box.bbox.2 <= 3 || text_box.bbox.3 <= 3 {
            continue;
        }
        boxes.push(text_box);
    }
    boxes
}

/// A rectangle of any orientation: `axis` is the unit direction of its `width`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct RotatedRect {
    center: (f32, f32),
    axis: (f32, f32),
    width: f32,
    height: f32,
}

impl RotatedRect {
    fn corners(&self) -> [(f32, f32); 4] {
        let (ux, uy) = (
            self.axis.0 * self.width / 2.0,
            self.axis.1 * self.width / 2.0,
        );
        let (vx, vy) = (
            -self.axis.1 * self.height / 2.0,
            self.axis.0 * self.height / 2.0,
        );
        let (cx, cy) = self.center;
        [
            (cx - ux - vx, cy - uy - vy),
            (cx + ux - vx, cy + uy - vy),
            (cx + ux + vx, cy + uy + vy),
            (cx - ux + vx, cy - uy + vy),
        ]
    }
}

/// Convex hull (Andrew's monotone chain, exact on integers; collinear points dropped).
fn convex_hull(points: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut points = points.to_vec();
    points.sort_unstable();
    points.dedup();
    if points.len() < 3 {
        return points;
    }
    let cross = |o: (i64, i64), a: (i64, i64), b: (i64, i64)| {
        (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
    };
    let mut hull: Vec<(i64, i64)> = Vec::with_capacity(points.len() + 1);
    let forward = points.iter();
    let backward = points.iter().rev();
    for chain in [forward.collect::<Vec<_>>(), backward.collect::<Vec<_>>()] {
        let start = hull.len();
        for &p in chain {
            while hull.len() >= start + 2
                && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0
            {
                hull.pop();
            }
            hull.push(p);
        }
        hull.pop(); // the last point of each chain is the first of the other
    }
    hull
}

/// The minimum-area rectangle around `points` (the best rectangle has a side on an edge of the
/// convex hull; hulls of text components are small, so every edge is tried). `None` for no
/// points.
fn min_area_rect(points: &[(i64, i64)]) -> Option<RotatedRect> {
    let hull = convex_hull(points);
    let first = *hull.first()?;
    let mut best = RotatedRect {
        center: (first.0 as f32, first.1 as f32),
        axis: (1.0, 0.0),
        width: 0.0,
        height: 0.0,
    };
    let mut best_area = f32::MAX;
    for (i, &a) in hull.iter().enumerate() {
        let b = hull[(i + 1) % hull.len()];
        let (dx, dy) = ((b.0 - a.0) as f32, (b.1 - a.1) as f32);
        let length = (dx * dx + dy * dy).sqrt();
        if length == 0.0 {
            continue;
        }
        let axis = (dx / length, dy / length);
        let (mut s_min, mut s_max) = (f32::MAX, f32::MIN);
        let (mut t_min, mut t_max) = (f32::MAX, f32::MIN);
        for &(x, y) in &hull {
            let (x, y) = (x as f32, y as f32);
            let s = x * axis.0 + y * axis.1;
            let t = -x * axis.1 + y * axis.0;
            (s_min, s_max) = (s_min.min(s), s_max.max(s));
            (t_min, t_max) = (t_min.min(t), t_max.max(t));
        }
        let (width, height) = (s_max - s_min, t_max - t_min);
        if width * height < best_area {
            best_area = width * height;
            let (s, t) = ((s_min + s_max) / 2.0, (t_min + t_max) / 2.0);
            best = RotatedRect {
                center: (s * axis.0 - t * axis.1, s * axis.1 + t * axis.0),
                axis,
                width,
                height,
            };
        }
    }
    Some(best)
}

/// Top-left, top-right, bottom-right, bottom-left (as PP-OCR orders them: the two leftmost
/// points are the left side).
fn order_corners(mut points: [(f32, f32); 4]) -> [(f32, f32); 4] {
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (tl, bl) = if points[0].1 <= points[1].1 {
        (points[0], points[1])
    } else {
        (points[1], points[0])
    };
    let (tr, br) = if points[2].1 <= points[3].1 {
        (points[2], points[3])
    } else {
        (points[3], points[2])
    };
    [tl, tr, br, bl]
}

fn distance(a: (f32, f32), b: (f32, f32)) -> f32 {
    ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt()
}

/// The quadrilateral `corners` (tl, tr, br, bl) straightened into an upright image at its own
/// resolution, by bilinear sampling along its top and left edges. A region more than 1.5 times
/// taller than wide is rotated to horizontal, as PP-OCR does.
fn crop_quad(rgb: &RgbImage, corners: &[(f32, f32); 4]) -> Option<RgbImage> {
    let [tl, tr, br, bl] = *corners;
    let width = distance(tl, tr).max(distance(bl, br)).round() as u32;
    let height = distance(tl, bl).max(distance(tr, br)).round() as u32;
    if width == 0 || height == 0 {
        return None;
    }
    let (w, h) = (width as f32, height as f32);
    let crop = RgbImage::from_fn(width, height, |x, y| {
        // Bilinear interpolation of the quad's corners at (u, v), pixel centres.
        let (u, v) = ((x as f32 + 0.5) / w, (y as f32 + 0.5) / h);
        let top = (tl.0 + (tr.0 - tl.0) * u, tl.1 + (tr.1 - tl.1) * u);
        let bottom = (bl.0 + (br.0 - bl.0) * u, bl.1 + (br.1 - bl.1) * u);
        let sx = top.0 + (bottom.0 - top.0) * v - 0.5;
        let sy = top.1 + (bottom.1 - top.1) * v - 0.5;
        sample(rgb, sx, sy)
    });
    Some(if height as f32 >= width as f32 * 1.5 {
        imageops::rotate90(&crop)
    } else {
        crop
    })
}

/// Bilinear sample at `(x, y)`, clamped to the image.
fn sample(rgb: &RgbImage, x: f32, y: f32) -> Rgb<u8> {
    let max_x = rgb.width() as f32 - 1.0;
    let max_y = rgb.height() as f32 - 1.0;
    let (x, y) = (x.clamp(0.0, max_x), y.clamp(0.0, max_y));
    let (x0, y0) = (x.floor(), y.floor());
    let (x1, y1) = ((x0 + 1.0).min(max_x), (y0 + 1.0).min(max_y));
    let (fx, fy) = (x - x0, y - y0);
    let px = |x: f32, y: f32| rgb.get_pixel(x as u32, y as u32).0;
    let (a, b, c, d) = (px(x0, y0), px(x1, y0), px(x0, y1), px(x1, y1));
    Rgb(std::array::from_fn(|i| {
        let top = a[i] as f32 * (1.0 - fx) + b[i] as f32 * fx;
        let bottom = c[i] as f32 * (1.0 - fx) + d[i] as f32 * fx;
        (top * (1.0 - fy) + bottom * fy).round() as u8
    }))
}

/// CTC greedy decoding: the best class at each step, repeats merged, blanks (class 0) dropped.
/// The confidence is the mean probability of the characters kept. Each character read keeps
/// the other one-character classes that came within [`ALTERNATIVE_ODDS_MIN`] of it at any step
/// of its run, the likeliest [`ALTERNATIVES_PER_CHARACTER`]. A gap keeps the character nearly
/// read in it (see [`Line::missed`]) unless that is the tail of the character before it or the
/// head of the one after.
fn ctc_greedy<'a>(steps: impl Iterator<Item = &'a [f32]>, classes: &[String]) -> Reading {
    let mut text = String::new();
    let (mut prob_sum, mut kept) = (0.0f32, 0usize);
    let mut previous = None;
    let mut alternatives: Vec<Alternative> = Vec::new();
    // Where the current character's alternatives start in `alternatives`.
    let mut run_start = 0;
    let mut missed: Vec<Alternative> = Vec::new();
    // Each character pushed to `text` so far: its run of steps (the current run's last).
    let mut spans: Vec<(usize, usize)> = Vec::new();
    // How many characters the current run's class has.
    let mut run_chars = 0usize;
    // The fold of the last character read.
    let mut last: Option<char> = None;
    for (at, step) in steps.enumerate() {
        let Some((best, &prob)) = step.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)) else {
            continue;
        };
        if best == 0 {
            previous = Some(best);
            let nearest = step
                .iter()
                .enumerate()
                .skip(1)
                .max_by(|a, b| a.1.total_cmp(b.1));
            if let Some((class, &p)) = nearest
                && prob > 0.0
                && p >= prob * MISSED_ODDS_MIN
                && let Some(character) = one_char(&classes[class])
                && Some(character) != last
            {
                let odds = p / prob;
                match missed
                    .iter_mut()
                    .find(|m| m.index == spans.len() && m.character == character)
                {
                    Some(seen) => seen.odds = seen.odds.max(odds),
                    None => missed.push(Alternative {
                        index: spans.len(),
                        character,
                        odds,
                    }),
                }
            }
            continue;
        }
        if previous != Some(best) {
            // What the gap before it nearly read may be this character's head.
            let head = one_char(&classes[best]);
            missed.retain(|m| !(m.index == spans.len() && Some(m.character) == head));
            last = head;
            limit_alternatives(&mut alternatives, run_start);
            run_start = alternatives.len();
            text.extend(classes[best].chars().map(narrow));
            run_chars = classes[best].chars().count();
            spans.extend(std::iter::repeat_n((at, at), run_chars));
            prob_sum += prob;
            kept += 1;
        }
        previous = Some(best);
        let from = spans.len() - run_chars;
        for span in &mut spans[from..] {
            span.1 = at;
        }
        // A class of one character that came close at this step, other than the read one (none
        // when the model's output is not a probability).
        if prob.is_nan() || prob <= 0.0 {
            continue;
        }
        let floor = prob * ALTERNATIVE_ODDS_MIN;
        let read = one_char(&classes[best]);
        for (class, &p) in step.iter().enumerate() {
            // A NaN from the model is no alternative.
            if p.is_nan() || p < floor || class == 0 || class == best {
                continue;
            }
            let Some(character) = one_char(&classes[class]) else {
                continue;
            };
            if Some(character) == read {
                continue;
            }
            let odds = p / prob;
            match alternatives[run_start..]
                .iter_mut()
                .find(|a| a.character == character)
            {
                Some(seen) => seen.odds = seen.odds.max(odds),
                None => alternatives.push(Alternative {
                    index: spans.len().saturating_sub(1),
                    character,
                    odds,
                }),
            }
        }
    }
    limit_alternatives(&mut alternatives, run_start);
    let confidence = if kept == 0 {
        0.0
    } else {
        prob_sum / kept as f32
    };
    Reading {
        text,
        confidence,
        alternatives,
        missed,
        steps: spans,
    }
}

/// The 8-connected components of the `true` pixels of `mask` (rows of `width`): `each` gets
/// the indices of one component's pixels.
fn components(mask: &[bool], width: usize, mut each: impl FnMut(&[usize])) {
    let height = mask.len().checked_div(width).unwrap_or(0);
    if height == 0 {
        return;
    }
    let mask = &mask[..width * height];
    let mut seen = vec![false; mask.len()];
    let mut stack = Vec::new();
    let mut pixels = Vec::new();
    for start in 0..mask.len() {
        if !mask[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        pixels.clear();
        while let Some(i) = stack.pop() {
            let (x, y) = (i % width, i / width);
            pixels.push(i);
            for ny in y.saturating_sub(1)..=(y + 1).min(height - 1) {
                for nx in x.saturating_sub(1)..=(x + 1).min(width - 1) {
                    let j = ny * width + nx;
                    if mask[j] && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        each(&pixels);
    }
}

/// Lines this long or longer (a zone's lines) are searched for glyphs the recogniser lost.
const UNREAD_LINE_MIN: usize = 20;
/// Whether `text`, of `chars` characters, is a zone's line (it has fillers) one or two
/// characters short: its lost glyphs are searched for even where blur left its heights too
/// rough to trust (the synthetic benchmark's levels 2–3, `CAN` read `AN`).
fn short_of_a_zone_line(text: &str, chars: usize) -> bool {
    text.contains('<')
        && crate::mrz::LINE_LENGTHS
            .iter()
            .any(|&length| (1..=2).contains(&length.saturating_sub(chars)))
}

/// A lost glyph is read as the recogniser's likeliest character at its steps when that had at
/// least this probability: with less, the recogniser has no idea, and the glyph is left out.
const UNREAD_PROB_MIN: f32 = 0.01;

/// What a recognised line's glyphs say that the recogniser did not (see `ocr/glyphs.rs`): a
/// character read as its look-alike, a letter where the glyph stands as tall as the line's
/// digits or the other way round, is read again (on a line measured loosely, only offered as
/// an alternative), and so is an `I` or a `1` whose foot says it is the other (on a line
/// measured loosely, only on a line with fillers, a zone's); a `0` or `O` open like a `C` is
/// offered as one; a glyph under no character read, where one is
/// missing (CTC lost it), is put in `missed`, as the character the recogniser found likeliest
/// at its steps (on a line measured well, a zone's names, or a zone's line read
/// short). `scale`: crop columns per output step; `probs`: the
/// recogniser's output, a row of `classes` per step.
fn measure_glyphs(
    crop: &RgbImage,
    reading: &mut Reading,
    scale: f32,
    probs: &[f32],
    classes: &[String],
) {
    let chars = reading.text.chars().count();
    let for_unread = chars >= UNREAD_LINE_MIN;
    if reading.steps.len() != chars
        || chars < 2
        || !glyphs::worth_measuring(&reading.text, for_unread)
    {
        return;
    }
    let centres: Vec<f32> = reading
        .steps
        .iter()
        .map(|&(first, last)| (first + last + 1) as f32 / 2.0 * scale)
        .collect();
    let mut pitches: Vec<f32> = centres.windows(2).map(|w| w[1] - w[0]).collect();
    let pitch = glyphs::median(&mut pitches);
    let measured = glyphs::measure(crop, &centres, pitch);
    // A `0` or `O` open on its right like a `C` may be one, whatever the line's font: offered,
    // never read again (rereading it on the synthetic zones' loosely measured lines mended one
    // level-3 zone and turned a level-4 one that failed its check into a wrong pass).
    let open = glyphs::open_like_a_c(&reading.text, &measured.mouths);
    if !open.is_empty() {
        glyphs::lean(&mut reading.alternatives, &open);
    }
    // Only a line measured well enough to tell a letter from a digit has characters read again
    // by their heights (on one measured roughly, only a glyph a whole class off): on a rougher
    // one a speck passes for a glyph (the synthetic benchmark's damaged levels). On one measured
    // loosely a glyph standing out toward its look-alike is only offered as an alternative.
    let line_scale = glyphs::ocr_b_scale(&reading.text, &measured.heights);
    if let Some(line_scale) = line_scale {
        // An `I` and a `1` are told apart by their feet more surely than by their heights,
        // which blur evens out: where a foot decides, the height is not asked.
        let told = glyphs::told_by_feet(&reading.text, &measured.feet);
        let misread = glyphs::misread_classes(&reading.text, &measured.heights, line_scale)
            .into_iter()
            .filter(|(index, _)| !told.iter().any(|(i, _)| i == index));
        let read: Vec<char> = reading.text.chars().collect();
        let by_feet = told.iter().copied().filter(|&(index, c)| read[index] != c);
        // Heights read a character again on a line measured well or roughly, and only offer
        // it on one measured loosely; feet read it again there too on a zone's line (drawn in
        // OCR-B whatever its heights say; its fillers tell it).
        let loosely = line_scale.measure == glyphs::Measure::Loosely;
        let (mut again, mut offered): (Vec<_>, Vec<_>) = if loosely {
            (Vec::new(), misread.collect())
        } else {
            (misread.collect(), Vec::new())
        };
        if loosely && !reading.text.contains('<') {
            offered.extend(by_feet);
        } else {
            again.extend(by_feet);
        }
        if loosely {
            glyphs::lean(&mut reading.alternatives, &offered);
        }
        if !again.is_empty() {
            reading.text = glyphs::reread(&reading.text, &mut reading.alternatives, &again);
        }
    }
    // A lost glyph is searched for on the lines measured well, and on a line with too few
    // digits for a scale (a zone's names) whose capitals alone say they were measured well.
    if !for_unread || classes.is_empty() || scale <= 0.0 {
        return;
    }
    // And on a zone's line read short, whatever its heights say: it lost a character.
    let measured_well = line_scale.is_some_and(|s| s.measure == glyphs::Measure::Well);
    if !measured_well
        && !short_of_a_zone_line(&reading.text, chars)
        && !glyphs::letters_measured_well(&reading.text, &measured.heights)
    {
        return;
    }
    let read: Vec<char> = reading.text.chars().map(fold).collect();
    let steps: Vec<&[f32]> = probs.chunks_exact(classes.len()).collect();
    // A step read as part of a character (its spike would outweigh a lost character's doubt).
    let in_a_run = |step: usize| {
        reading
            .steps
            .iter()
            .any(|&(first, last)| (first..=last).contains(&step))
    };
    for &(left, right) in &measured.unread {
        // The steps whose middle falls on the glyph, and no character was read at.
        let glyph_steps = (0..steps.len()).filter(|&step| {
            let x = (step as f32 + 0.5) * scale;
            (left as f32..(right + 1) as f32).contains(&x) && !in_a_run(step)
        });
        // The likeliest character of one letter there, if the recogniser gave it any weight.
        let Some(character) = glyph_steps
            .flat_map(|step| steps[step].iter().enumerate().skip(1))
            .filter(|(_, p)| !p.is_nan() && **p >= UNREAD_PROB_MIN)
            .filter_map(|(class, &p)| Some((one_char(&classes[class])?, p)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(c, _)| c)
        else {
            continue;
        };
        let middle = (left + right + 1) as f32 / 2.0;
        let mut index = centres.iter().filter(|&&x| x < middle).count();
        // Put back before a run of itself, not inside it: the same text either way.
        while index > 0 && read[index - 1] == character {
            index -= 1;
        }
        match reading
            .missed
            .iter_mut()
            .find(|m| m.index == index && m.character == character)
        {
            Some(seen) => seen.odds = seen.odds.max(glyphs::UNREAD_ODDS),
            None => reading.missed.push(Alternative {
                index,
                character,
                odds: glyphs::UNREAD_ODDS,
            }),
        }
    }
}

/// Keeps the likeliest [`ALTERNATIVES_PER_CHARACTER`] of `alternatives[from..]` (one
/// character's), likeliest first.
fn limit_alternatives(alternatives: &mut Vec<Alternative>, from: usize) {
    if let Some(run) = alternatives.get_mut(from..) {
        run.sort_by(|a, b| b.odds.total_cmp(&a.odds));
    }
    alternatives.truncate(from + ALTERNATIVES_PER_CHARACTER);
}

/// Whether `new`, a line read again, lost fillers `old` had: more than one fewer `<`. A line
/// read again is not kept for reading fillers as letters (`<<` as `KK`: a first line one
/// short, read wider, came back `…MEULENDIJKKKLOES<ALBERTINEK<KKKK…`; a tiny scan's first
/// line, read wider, `NABROUK<CALAAELPIN…`, where its rows of ink read the `<<`).
fn fillers_lost(new: &Line, old: &Line) -> bool {
    let fillers = |line: &Line| line.text.matches('<').count();
    fillers(new) + 1 < fillers(old)
}

/// Reading order: by top edge, then boxes whose vertical centres are within half a line height
/// of each other are one line, ordered left to right.
fn sort_reading_order(boxes: &mut [TextBox]) {
    let center = |b: &TextBox| b.bbox.1 as f32 + b.bbox.3 as f32 / 2.0;
    boxes.sort_by(|a, b| center(a).total_cmp(&center(b)));
    // Insertion pass: move a box left past the boxes of the same line that lie to its right.
    for i in 1..boxes.len() {
        let mut j = i;
        while j > 0 {
            let (prev, cur) = (&boxes[j - 1], &boxes[j]);
            let same_line =
                (center(prev) - center(cur)).abs() < prev.bbox.3.min(cur.bbox.3) as f32 / 2.0;
            if same_line && cur.bbox.0 < prev.bbox.0 {
                boxes.swap(j - 1, j);
                j -= 1;
            } else {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Date;
    use std::sync::OnceLock;
    use std::time::Instant;

    const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/testdata");
    const TODAY: Date = Date {
        year: 2026,
        month: 1,
        day: 1,
    };

    /// The models, loaded once for all tests. Missing models fail the test: run `scripts/models`.
    fn ocr() -> &'static Ocr {
        static OCR: OnceLock<Ocr> = OnceLock::new();
        OCR.get_or_init(|| {
            let dir = default_models_dir();
            Ocr::load(&dir).unwrap_or_else(|e| {
                panic!(
                    "the OCR models are not installed in {} ({e}); run scripts/models",
                    dir.display()
                )
            })
        })
    }

    /// A line drawn for `measure_glyphs`, a glyph every 20 columns on white: capitals and
    /// digits as bars at their OCR-B heights (100 px a unit; digits `digit_scale` times
    /// that), anything else (`<`) as a short bar, and the glyph of each of `shapes`
    /// (`(index, on a foot, height)`) drawn as OCR-B's `I` (a foot and head three stems wide)
    /// or `1` (a flag, a bare stem). The reading says `text`, one output step a character.
    fn drawn_line(
        text: &str,
        digit_scale: f32,
        shapes: &[(usize, bool, f32)],
    ) -> (RgbImage, Reading) {
        let mut crop = RgbImage::from_pixel(20 * text.len() as u32, 110, Rgb([255, 255, 255]));
        let mut ink = |x0: u32, x1: u32, y0: u32, y1: u32| {
            for y in y0..y1 {
                for x in x0..x1 {
                    crop.put_pixel(x, y, Rgb([0, 0, 0]));
                }
            }
        };
        let base = 100;
        for (i, c) in text.chars().enumerate() {
            let left = 20 * i as u32 + 5;
            if let Some(&(_, foot, height)) = shapes.iter().find(|(at, _, _)| *at == i) {
                let top = base - height.round() as u32;
                let band = ((base - top) as f32 * 0.15).ceil() as u32;
                ink(left + 4, left + 8, top, base);
                if foot {
                    ink(left, left + 12, top, top + band);
                    ink(left, left + 12, base - band, base);
                } else {
                    ink(left + 1, left + 8, top, top + band);
                }
                continue;
            }
            let height = match c {
                'A'..='Z' => glyphs::test_height(c),
                '0'..='9' => glyphs::test_height(c) * digit_scale,
                _ => 12.0,
            };
            ink(left, left + 10, base - height.round() as u32, base);
        }
        let steps = (0..text.len()).map(|i| (20 * i + 9, 20 * i + 10)).collect();
        let reading = Reading {
            text: text.to_string(),
            confidence: 0.9,
            alternatives: Vec::new(),
            missed: Vec::new(),
            steps,
        };
        (crop, reading)
    }

    /// A zone's line read one or two characters short (it has fillers) is searched for lost
    /// glyphs however roughly it was measured; a whole line, or one without fillers, is not.
    #[test]
    fn a_zone_line_read_short_is_searched_for_lost_glyphs() {
        let line = "4002079F3504185AN<<<<<<<<<<<9";
        for chars in [28, 29, 34, 35, 42, 43] {
            assert!(short_of_a_zone_line(line, chars), "{chars}");
        }
        for chars in [27, 30, 33, 36, 41, 44] {
            assert!(!short_of_a_zone_line(line, chars), "{chars}");
        }
        assert!(!short_of_a_zone_line("4002079F3504185ANXXXXXXXXXXX9", 29));
    }

    /// OCR-B's `I` stands on a foot, its `1` on a bare stem, and blur evens out their heights:
    /// a foot decides on a line measured well, where it also keeps the heights from undoing a
    /// reading it confirms; on a line measured loosely it decides only in a zone (fillers),
    /// and elsewhere only offers the other reading.
    #[test]
    fn feet_tell_an_i_from_a_one() {
        let measured = |text: &str, digit_scale: f32, shapes: &[(usize, bool, f32)]| {
            let (crop, mut reading) = drawn_line(text, digit_scale, shapes);
            measure_glyphs(&crop, &mut reading, 1.0, &[], &[]);
            reading
        };
        let offered = |reading: &Reading, index: usize, c: char| {
            reading
                .alternatives
                .iter()
                .any(|a| a.index == index && a.character == c)
        };
        // Read `1`, standing on a foot at a digit's height: an `I` (the heights would say `1`).
        let read = measured("ABCD1234", 1.0, &[(4, true, 78.0)]);
        assert_eq!(read.text, "ABCDI234");
        assert!(offered(&read, 4, '1'));
        // Read `1` on a bare stem at a capital's height: the heights alone would make it an
        // `I` (and leave the `I` as an alternative as likely); the foot says `1`, and the
        // heights are not asked.
        let read = measured("ABCD1234", 1.0, &[(4, false, 70.1)]);
        assert_eq!(read.text, "ABCD1234");
        assert!(!offered(&read, 4, 'I'));
        // Digits drawn 4% taller than OCR-B's against the capitals: measured loosely. Outside a
        // zone the foot is only offered; in one it decides.
        let read = measured("ABCD1234", 1.04, &[(4, true, 81.0)]);
        assert_eq!(read.text, "ABCD1234");
        assert!(offered(&read, 4, 'I'));
        let read = measured("ABCD1234<<", 1.04, &[(4, true, 81.0)]);
        assert_eq!(read.text, "ABCDI234<<");
    }

    fn open(path: &str) -> DynamicImage {
        let path = format!("{TESTDATA}/{path}");
        image::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// `read_lines`, printing what was read and how long it took (`--nocapture` shows it).
    fn read(name: &str, image: &DynamicImage) -> Vec<Line> {
        let started = Instant::now();
        let lines = ocr().read_lines(image).unwrap();
        eprintln!(
            "{name} {}x{}: {} lines in {:?}",
            image.width(),
            image.height(),
            lines.len(),
            started.elapsed()
        );
        for line in &lines {
            eprintln!("  {:.3} {:?} {:?}", line.confidence, line.bbox, line.text);
        }
        lines
    }

    fn joined(lines: &[Line]) -> String {
        let text: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        text.join("\n")
    }

    #[test]
    fn reads_a_card_number() {
        let image = open("cards/ocr_card_numbers.png");
        let lines = read("ocr_card_numbers.png", &image);
        let compact: String = joined(&lines).split_whitespace().collect();
        assert!(compact.contains("3023334877861104"), "{lines:#?}");
        assert!(compact.contains("07/37"), "{lines:#?}");
        // Boxes are in image coordinates and in reading order: the number is above the expiry.
        let number = lines.iter().find(|l| l.text.contains("3023")).unwrap();
        let expiry = lines.iter().find(|l| l.text.contains("07/37")).unwrap();
        assert!(
            number.bbox.1 + number.bbox.3 <= expiry.bbox.1 + 5,
            "{lines:#?}"
        );
        assert!(number.confidence > 0.9, "{number:?}");
    }

    #[test]
    fn reads_a_td3_passport_mrz() {
        // The whole ICAO specimen page: the zone is found among 30 other lines of text.
        let lines = read("passport-td3.png", &open("mrz/images/passport-td3.png"));
        let text = joined(&lines);
        // Read exactly but for `UTO` → `UT0` in the second line, which the MRZ parser repairs.
        assert!(
            text.contains("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<"),
            "{text}"
        );
        assert!(
            text.replace("UT0", "UTO")
                .contains("L898902C36UTO7408122F1204159ZE184226B<<<<<10"),
            "{text}"
        );
        let mrz = crate::mrz::parse(&text, TODAY).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert!(mrz.all_checks_pass(), "{mrz:#?}");
        assert_eq!(mrz.document_number, "L898902C3");
        assert_eq!(mrz.surname, "ERIKSSON");
        assert_eq!(mrz.given_names, "ANNA MARIA");
        assert_eq!(mrz.birth_date, Date::new(1974, 8, 12));
    }

    #[test]
    fn reads_a_td2_mrz_from_the_cropped_band() {
        // A JPEG specimen, cropped to its lower part first, as a caller that knows where the zone
        // is should do (detection time grows with the area).
        let image = open("mrz/images/100_pass2-uto.jpg");
        let top = image.height() * 3 / 4;
        let band = image.crop_imm(0, top, image.width(), image.height() - top);
        let lines = read("100_pass2-uto.jpg, lower quarter", &band);
        let text = joined(&lines);
        let mrz = crate::mrz::parse(&text, TODAY).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(mrz.format, crate::mrz::MrzFormat::Td2);
        assert!(mrz.all_checks_pass(), "{mrz:#?}");
        assert_eq!(mrz.document_number, "D23145890");
        assert_eq!(mrz.surname, "ERIKSSON");
    }

    #[test]
    fn recognizes_a_region_the_caller_chose() {
        // No detection: the caller passes the rectangle of the first MRZ line.
        let image = open("mrz/images/passport-td3.png").to_luma8();
        let line = ocr()
            .recognize(&image, &TextBox::from_rect(110, 655, 1080, 50))
            .unwrap();
        assert_eq!(
            line.text.trim(),
            "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<"
        );
        assert!(line.confidence > 0.8, "{line:?}");
        assert_eq!(line.bbox, (110, 655, 1080, 50));
    }

    #[test]
    fn detects_nothing_on_a_blank_image() {
        let blank = GrayImage::from_pixel(200, 100, image::Luma([255]));
        assert_eq!(ocr().detect(&blank).unwrap(), vec![]);
        assert_eq!(ocr().read_lines(&blank).unwrap(), vec![]);
        let empty = GrayImage::new(0, 0);
        assert_eq!(ocr().detect(&empty).unwrap_err().code(), "ocr_failed");
    }

    #[test]
    fn missing_models_are_reported() {
        let dir = std::env::temp_dir().join("scanpay-ocr-no-models");
        let err = Ocr::load(&dir).unwrap_err();
        assert_eq!(err.code(), "ocr_models_missing");
        assert!(err.to_string().contains("scripts/models"), "{err}");
    }

    #[test]
    fn models_dir_falls_back_to_the_repository() {
        // Only checks the fallback chain's last step; the variable is not touched (tests share
        // the process environment).
        if std::env::var_os("SCANPAY_MODELS").is_none() && !Path::new("models").is_dir() {
            assert!(default_models_dir().ends_with("../../models"));
        }
    }

    #[test]
    fn ocr_is_shareable() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Ocr>();
    }

    #[test]
    fn detector_input_is_capped_and_a_multiple_of_32() {
        assert_eq!(detector_size(600, 375, 960, 1.0), (608, 384));
        assert_eq!(detector_size(1334, 880, 960, 1.0), (960, 640));
        assert_eq!(detector_size(880, 1334, 960, 1.0), (640, 960));
        assert_eq!(detector_size(10, 5, 960, 1.0), (32, 32));
        assert_eq!(detector_size(4000, 100, 640, 1.0), (640, 32));
        // Enlarged: towards the maximum, by at most the factor given.
        assert_eq!(detector_size(272, 190, 960, 4.0), (960, 672));
        assert_eq!(detector_size(200, 100, 960, 2.0), (416, 192));
        assert_eq!(detector_size(1334, 880, 960, 4.0), (960, 640));
    }

    #[test]
    fn min_area_rect_of_a_rotated_bar() {
        // A 40×6 bar rotated by atan(1/4) ≈ 14°, drawn as integer points.
        let (ux, uy) = (4.0f32 / 17f32.sqrt(), 1.0 / 17f32.sqrt());
        let mut points = Vec::new();
        for s in 0..=40 {
            for t in 0..=6 {
                let (s, t) = (s as f32, t as f32);
                points.push((
                    (100.0 + s * ux - t * uy).round() as i64,
                    (50.0 + s * uy + t * ux).round() as i64,
                ));
            }
        }
        let rect = min_area_rect(&points).unwrap();
        let (long, short) = (rect.width.max(rect.height), rect.width.min(rect.height));
        assert!(
            (long - 40.0).abs() < 2.0 && (short - 6.0).abs() < 2.0,
            "{rect:?}"
        );
        let slope = (rect.axis.1 / rect.axis.0).abs();
        assert!(
            (slope - 0.25).abs() < 0.05 || (slope - 4.0).abs() < 0.8,
            "{rect:?}"
        );

        // Axis-aligned, with collinear points along every side.
        let grid: Vec<(i64, i64)> = (0..=10)
            .flat_map(|x| (0..=3).map(move |y| (x, y)))
            .collect();
        let rect = min_area_rect(&grid).unwrap();
        assert_eq!((rect.width * rect.height).round(), 30.0, "{rect:?}");
        let corners = order_corners(rect.corners());
        let rounded = corners.map(|(x, y)| (x.round() as i64, y.round() as i64));
        assert_eq!(rounded, [(0, 0), (10, 0), (10, 3), (0, 3)]);

        assert_eq!(min_area_rect(&[]), None);
        assert_eq!(min_area_rect(&[(5, 5)]).unwrap().width, 0.0);
        assert_eq!(convex_hull(&[(0, 0), (1, 1), (2, 2)]).len(), 2);
    }

    #[test]
    fn db_post_processing_finds_a_bar() {
        // A 40×8 map with one strong bar at x 5..35, y 2..5 and one weak speck.
        let (w, h) = (40, 8);
        let mut probs = vec![0.0f32; w * h];
        for y in 2..5 {
            for x in 5..35 {
                probs[y * w + x] = 0.9;
            }
        }
        probs[7 * w + 38] = 0.4;
        let boxes = boxes_from_map(&probs, w, h, (2.0, 2.0), (80, 16), &OcrConfig::default());
        assert_eq!(boxes.len(), 1, "{boxes:?}");
        let (left, top, width, height) = boxes[0].bbox;
        // Unclipped (grown by about 2 map pixels a side), scaled by 2, clipped to the image.
        assert!(
            (4..=8).contains(&left) && (66..=72).contains(&width),
            "{boxes:?}"
        );
        assert!(
            top <= 2 && top + height >= 12 && top + height <= 16,
            "{boxes:?}"
        );
        // The mean covers the dilated pixels too (as PP-OCR's box score does): 0.9 × 90 / 124.
        assert!((boxes[0].score - 0.653).abs() < 0.01, "{boxes:?}");
        // A bar only two map pixels high is below PP-OCR's minimum size.
        let thin: Vec<f32> = probs
            .iter()
            .enumerate()
            .map(|(i, &p)| if i / w == 4 { 0.0 } else { p })
            .collect();
        assert_eq!(
            boxes_from_map(&thin, w, h, (2.0, 2.0), (80, 16), &OcrConfig::default()),
            vec![]
        );
    }

    #[test]
    fn ctc_greedy_merges_repeats_and_drops_blanks() {
        let classes: Vec<String> = ["", "A", "B", " "].iter().map(|s| s.to_string()).collect();
        let step = |class: usize, p: f32| {
            let mut v = vec![(1.0 - p) / 3.0; 4];
            v[class] = p;
            v
        };
        let steps = [
            step(1, 0.9),
            step(1, 0.8),
            step(0, 0.9),
            step(1, 0.7),
            step(2, 1.0),
            step(3, 0.6),
        ];
        let read = ctc_greedy(steps.iter().map(Vec::as_slice), &classes);
        assert_eq!(read.text, "AAB ");
        assert!((read.confidence - (0.9 + 0.7 + 1.0 + 0.6) / 4.0).abs() < 1e-6);
        // Where each character was read: its run of steps.
        assert_eq!(read.steps, [(0, 1), (3, 3), (4, 4), (5, 5)]);
        // A class of two characters: both read over its run.
        let classes: Vec<String> = ["", "ab", "C"].iter().map(|s| s.to_string()).collect();
        let steps = [step(1, 0.9), step(1, 0.9), step(2, 0.9)];
        let classes_steps: Vec<Vec<f32>> = steps.iter().map(|s| s[..3].to_vec()).collect();
        let read = ctc_greedy(classes_steps.iter().map(Vec::as_slice), &classes);
        assert_eq!(read.text, "abC");
        assert_eq!(read.steps, [(0, 1), (0, 1), (2, 2)]);
        let empty = ctc_greedy(std::iter::empty(), &classes);
        assert_eq!((empty.text, empty.confidence), (String::new(), 0.0));
    }

    /// The recogniser reads some clean OCR-B digits as their full-width forms (`Ａ46G5PXNW２…`,
    /// seen in the synthetic bench): the text holds the ASCII character, one for one.
    #[test]
    fn ctc_reads_full_width_forms_as_ascii() {
        let classes: Vec<String> = ["", "Ａ", "２", "a", "＜", "é"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let steps: Vec<Vec<f32>> = (1..6)
            .flat_map(|class| {
                let mut v = vec![0.01; 6];
                v[class] = 0.95;
                [v, vec![0.95, 0.01, 0.01, 0.01, 0.01, 0.01]]
            })
            .collect();
        let read = ctc_greedy(steps.iter().map(Vec::as_slice), &classes);
        assert_eq!(read.text, "A2a<é");
        assert_eq!(read.steps.len(), 5);
    }

    #[test]
    fn ctc_keeps_what_each_character_nearly_was() {
        let classes: Vec<String> = ["", "A", "B", "0", "O", "ab", "C", "D", "a", "Ｏ", "o"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let steps = [
            // `a` is `A` in another case: no alternative.
            vec![0.0, 0.6, 0.3, 0.0, 0.0, 0.0, 0.0, 0.0, 0.2, 0.0, 0.0],
            vec![0.0, 0.8, 0.1, 0.02, 0.05, 0.0, 0.032, 0.012, 0.0, 0.0, 0.0],
            vec![0.9, 0.05, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            // `ab` is not one character: not an alternative; `Ｏ` and `o` are `O` folded.
            vec![0.0, 0.0, 0.0, 0.45, 0.5, 0.04, 0.0, 0.0, 0.0, 0.3, 0.2],
            // Below a hundredth of the character read: not kept; a NaN neither.
            vec![
                0.0,
                0.005,
                0.0,
                -f32::NAN,
                0.99,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
            ],
        ];
        let read = ctc_greedy(steps.iter().map(Vec::as_slice), &classes);
        assert_eq!(read.text, "AO");
        let kept: Vec<(usize, char, f32)> = read
            .alternatives
            .iter()
            .map(|a| (a.index, a.character, (a.odds * 1000.0).round() / 1000.0))
            .collect();
        // `A`: `B` at its likeliest step (0.3 / 0.6), then `O`, `C`, `0`; `D` (0.015), a fifth,
        // is dropped.
        assert_eq!(
            kept,
            [
                (0, 'B', 0.5),
                (0, 'O', 0.063),
                (0, 'C', 0.04),
                (0, '0', 0.025),
                (1, '0', 0.9)
            ]
        );
    }

    #[test]
    fn ctc_keeps_what_a_gap_nearly_read() {
        let classes: Vec<String> = ["", "A", "B", "3", " "]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let steps = [
            vec![0.05, 0.9, 0.0, 0.0, 0.0],
            // The tail of `A`: not a missed character.
            vec![0.8, 0.3, 0.0, 0.0, 0.0],
            // A `3` two thirds as likely as the gap.
            vec![0.6, 0.0, 0.0, 0.4, 0.0],
            // The head of the `B` that follows: not missed either.
            vec![0.7, 0.0, 0.35, 0.0, 0.0],
            vec![0.1, 0.0, 0.9, 0.0, 0.0],
            // A space is no character to put back; a weak `3` is below the bar.
            vec![0.5, 0.0, 0.0, 0.0, 0.45],
            vec![0.9, 0.0, 0.0, 0.2, 0.0],
        ];
        let read = ctc_greedy(steps.iter().map(Vec::as_slice), &classes);
        assert_eq!(read.text, "AB");
        let missed: Vec<(usize, char, f32)> = read
            .missed
            .iter()
            .map(|m| (m.index, m.character, (m.odds * 1000.0).round() / 1000.0))
            .collect();
        assert_eq!(missed, [(1, '3', 0.667)]);
    }

    #[test]
    fn reading_order_is_by_line_then_left_to_right() {
        let at = |x, y| TextBox::from_rect(x, y, 50, 20);
        let mut boxes = vec![
            at(300, 104),
            at(10, 100),
            at(200, 10),
            at(20, 12),
            at(150, 98),
        ];
        sort_reading_order(&mut boxes);
        let order: Vec<(u32, u32)> = boxes.iter().map(|b| (b.bbox.0, b.bbox.1)).collect();
        assert_eq!(
            order,
            [(20, 12), (200, 10), (10, 100), (150, 98), (300, 104)]
        );
    }

    /// A box of `length` by `thickness` pixels centred at `(cx, cy)`, its long side at
    /// `degrees` (clockwise on screen).
    fn bar(cx: f32, cy: f32, length: f32, thickness: f32, degrees: f32) -> TextBox {
        let (sin, cos) = degrees.to_radians().sin_cos();
        let (hx, hy) = (length / 2.0 * cos, length / 2.0 * sin);
        let (vx, vy) = (-thickness / 2.0 * sin, thickness / 2.0 * cos);
        let corners = [
            (cx - hx - vx, cy - hy - vy),
            (cx + hx - vx, cy + hy - vy),
            (cx + hx + vx, cy + hy + vy),
            (cx - hx + vx, cy - hy + vy),
        ];
        TextBox::from_corners(corners, 1.0)
    }

    #[test]
    fn the_lean_of_a_page_comes_from_its_long_boxes() {
        let page = |degrees: f32| -> Vec<TextBox> {
            (0..6)
                .map(|i| bar(300.0, 100.0 + 40.0 * i as f32, 400.0, 20.0, degrees))
                .chain([bar(100.0, 100.0, 30.0, 20.0, 50.0)]) // a stamp: not clearly long
                .collect()
        };
        assert_eq!(lean(&page(0.0)), Lean::Level);
        assert_eq!(lean(&page(2.5)), Lean::Level);
        let Lean::Slanted(degrees) = lean(&page(-18.0)) else {
            panic!("{:?}", lean(&page(-18.0)));
        };
        assert!((degrees + 18.0).abs() < 0.5, "{degrees}");
        assert_eq!(lean(&page(90.0)), Lean::Sideways);
        assert_eq!(lean(&page(-88.0)), Lean::Sideways);
        assert_eq!(lean(&[]), Lean::Level);
        // One long vertical line among many level ones (a margin note) leaves the page level.
        let mut boxes = page(0.0);
        boxes.push(bar(20.0, 300.0, 500.0, 20.0, 90.0));
        assert_eq!(lean(&boxes), Lean::Level);
    }

    #[test]
    fn a_long_thin_photo_is_turned_smaller_not_onto_a_huge_canvas() {
        let rgb = RgbImage::from_pixel(6_000, 60, Rgb([0, 0, 0]));
        // At 10 degrees its whole turned canvas would be ~5,919 × 1,101: 18 times its pixels.
        let turned = rotate(&rgb, 10f32.to_radians());
        let (w, h) = turned.dimensions();
        assert!(
            (w * h) as f32 <= ROTATED_GROWTH_MAX * 6_000.0 * 60.0 * 1.01,
            "{w} × {h}"
        );
        assert!(w > 2_000 && h > 300, "{w} × {h}");
        // Still the same picture, smaller: black along the middle, white in the corners.
        assert_eq!(turned.get_pixel(w / 2, h / 2).0, [0, 0, 0]);
        assert_eq!(turned.get_pixel(0, 0).0, [255, 255, 255]);
    }

    #[test]
    fn rotating_grows_the_canvas_and_fills_it_white() {
        let mut rgb = RgbImage::from_pixel(40, 20, Rgb([0, 0, 0]));
        rgb.put_pixel(39, 0, Rgb([255, 0, 0]));
        // A quarter turn clockwise: 20 wide, 40 tall, the top-right corner now bottom-right.
        let turned = rotate(&rgb, std::f32::consts::FRAC_PI_2);
        assert_eq!(turned.dimensions(), (20, 40));
        assert!(
            turned.get_pixel(19, 39).0[0] > 100,
            "{:?}",
            turned.get_pixel(19, 39)
        );
        assert_eq!(turned.get_pixel(10, 20).0, [0, 0, 0]);
        // 45 degrees: the corners uncovered are white.
        let slanted = rotate(&rgb, std::f32::consts::FRAC_PI_4);
        assert_eq!(slanted.dimensions(), (43, 43));
        assert_eq!(slanted.get_pixel(0, 0).0, [255, 255, 255]);
        assert_eq!(slanted.get_pixel(21, 21).0, [0, 0, 0]);
    }

    #[test]
    fn pieces_of_a_row_are_read_as_one() {
        let mut boxes = vec![
            TextBox::from_rect(200, 100, 450, 40),
            TextBox::from_rect(1130, 106, 150, 26),
            TextBox::from_rect(196, 152, 430, 40),
            TextBox::from_rect(1036, 154, 250, 36),
            // Text running down the margin spans both rows: it joins neither.
            TextBox::from_rect(5, 20, 50, 500),
        ];
        sort_reading_order(&mut boxes);
        let rows: Vec<_> = rows_joined(&boxes).iter().map(|b| b.bbox).collect();
        assert_eq!(rows, [(200, 100, 1080, 40), (196, 152, 1090, 40)]);
    }

    #[test]
    fn a_zone_band_spans_the_page_and_two_lines_each_way() {
        let line = |top, height| Line {
            text: "P<UTO".into(),
            confidence: 1.0,
            bbox: (200, top, 400, height),
            alternatives: Vec::new(),
            missed: Vec::new(),
        };
        let (a, b) = (line(500, 40), line(550, 42));
        let band = zone_band(&[&a, &b], (1000, 700)).unwrap();
        assert_eq!(band.line_height, 42);
        assert_eq!(band.rect, (0, 500 - 84, 1000, 592 + 84 - 416));
        assert_eq!(zone_band(&[], (1000, 700)), None);
    }

    /// The ICAO specimen page turned a quarter either way, and slanted, reads as it does upright.
    #[test]
    fn a_page_turned_or_slanted_is_read_upright() {
        let rgb = open("mrz/images/passport-td3.png").to_rgb8();
        let complete = |lines: &[Line]| {
            crate::mrz::parse(&joined(lines), TODAY).is_ok_and(|m| m.all_checks_pass())
        };
        let zone_line = |text: &str| text.contains("<<");
        let goal = Goal {
            enough: &complete,
            zone_read: &complete,
            zone_line: &zone_line,
            doubtful: &|_: &[Line]| None,
        };
        for (name, image) in [
            ("a quarter turn clockwise", imageops::rotate90(&rgb)),
            ("a quarter turn anticlockwise", imageops::rotate270(&rgb)),
            ("rising by 15 degrees", rotate(&rgb, -15f32.to_radians())),
        ] {
            let lines = ocr()
                .read_lines_staged(&DynamicImage::ImageRgb8(image), &goal)
                .unwrap();
            assert!(complete(&lines), "{name}: {}", joined(&lines));
        }
    }

    #[test]
    fn otsu_splits_ink_from_paper_and_rows_of_ink_are_found() {
        let mut histogram = [0u64; 256];
        histogram[30] = 100;
        histogram[40] = 50;
        histogram[200] = 900;
        histogram[220] = 400;
        let level = otsu(&histogram);
        assert!((40..200).contains(&level), "{level}");
        // A white page with two dark lines across its lower half and a short one above them
        // (a label, not a zone line: it spans too little of the width).
        let mut page = RgbImage::from_pixel(200, 100, Rgb([255, 255, 255]));
        for (y0, x1) in [(56, 60), (70, 190), (85, 185)] {
            for y in y0..y0 + 4 {
                for x in (10..x1).filter(|x| x % 4 != 0) {
                    page.put_pixel(x, y, Rgb([20, 20, 20]));
                }
            }
        }
        let rows: Vec<(u32, u32)> = ink_rows(&page)
            .iter()
            .map(|r| (r.bbox.1, r.bbox.3))
            .collect();
        assert_eq!(
            rows,
            [(83, 8), (68, 8)],
            "bottom first, padded by half a row"
        );
    }

    #[test]
    fn transparent_pixels_become_white() {
        let rgba = RgbaImage::from_pixel(2, 1, image::Rgba([0, 0, 0, 0]));
        assert_eq!(rgba.to_rgb().get_pixel(0, 0).0, [255, 255, 255]);
        let grey = GrayImage::from_pixel(1, 1, image::Luma([7]));
        assert_eq!(grey.to_rgb().get_pixel(0, 0).0, [7, 7, 7]);
    }

    #[test]
    fn a_zones_lines_are_read_before_a_wide_line_below_them() {
        let wide = |b: &TextBox| b.bbox.2 >= WIDE_LINE_ASPECT_MIN * b.bbox.3;
        // `100_visa-polx`'s boxes: a caption under the page, the zone's two lines, a field.
        let boxes = [
            TextBox::from_rect(165, 376, 208, 17),
            TextBox::from_rect(55, 316, 492, 19),
            TextBox::from_rect(54, 337, 494, 22),
            TextBox::from_rect(233, 192, 137, 17),
            TextBox::from_rect(40, 20, 30, 17),
        ];
        assert_eq!(zone_lines_first(&boxes, wide), [2, 1, 0, 3]);
        // No two alike: from the bottom up.
        assert_eq!(zone_lines_first(&boxes[..2], wide), [0, 1]);
        // Alike in width but not stacked as a zone's lines are: ten lines apart, side by side,
        // or shifted.
        let one = TextBox::from_rect(50, 300, 490, 20);
        for other in [(50, 100), (560, 300), (120, 325)] {
            let other = TextBox::from_rect(other.0, other.1, 490, 20);
            assert!(!zone_siblings(&one, &other), "{:?}", other.bbox);
        }
    }

    /// 25_pass-uto's two looks: the second read the second line's checks right and the first
    /// line, which no check digit covers, worse; the zone takes each line's better reading.
    #[test]
    fn a_zone_takes_each_rows_better_look() {
        let line = |text: &str, confidence: f32, top: u32| Line {
            text: text.to_string(),
            confidence,
            bbox: (10, top, 248, 10),
            alternatives: Vec::new(),
            missed: Vec::new(),
        };
        let zone_line = |text: &str| text.len() >= 30 && text.contains('<');
        let zone = |lines: &[Line]| {
            let zone: Vec<&str> = lines
                .iter()
                .map(|l| l.text.as_str())
                .filter(|t| zone_line(t))
                .collect();
            crate::mrz::parse(&zone.join("\n"), TODAY).ok()
        };
        let enough = |lines: &[Line]| zone(lines).is_some_and(|m| m.complete());
        let zone_read = |lines: &[Line]| zone(lines).is_some_and(|m| m.all_checks_pass());
        let goal = Goal {
            enough: &enough,
            zone_read: &zone_read,
            zone_line: &zone_line,
            doubtful: &|_: &[Line]| None,
        };
        let first = [
            line("P<UTOERIKSSON<<ANNA<MAR1A<<<<<<<<<<<<<<<<<<<", 0.85, 150),
            // `B` read as `8`: the optional data's check fails.
            line("L898902C36UT07408122F1204159ZE1842268<<<<<10", 0.92, 162),
        ];
        let band = vec![
            line("P<UTOERIKSSONS<ANNAKMARIAKS<<<<S<S<<S<<<KSSS", 0.69, 152),
            line("L898902C36UT07408122F1204159ZE184226B<<<<<10", 0.96, 165),
        ];
        let title = line("PASSPORT", 0.9, 20);
        let first_refs: Vec<&Line> = first.iter().collect();
        let lines = best_of_both_looks(vec![title.clone()], &first_refs, band.clone(), &goal);
        assert_eq!(
            lines,
            vec![title.clone(), first[0].clone(), band[1].clone()]
        );
        let mrz = zone(&lines).unwrap();
        assert_eq!(mrz.surname, "ERIKSSON");
        assert_eq!(mrz.given_names, "ANNA MARIA");

        // A more confident line that breaks the zone's checks is not taken: the band's second
        // line stays, however unsure.
        let weak_band = vec![band[0].clone(), line(&band[1].text, 0.5, 165)];
        let lines = best_of_both_looks(vec![], &first_refs, weak_band.clone(), &goal);
        assert_eq!(lines, vec![first[0].clone(), weak_band[1].clone()]);
    }
}
