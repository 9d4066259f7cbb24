//! Decoding untrusted image bytes, with limits checked before any pixel is decoded.
//!
//! A photo is refused when it is not a JPEG or PNG, when its file is larger than
//! [`IMAGE_BYTES_MAX`], or when its header declares more pixels than the caller allows (a
//! decompression bomb declares billions of pixels in a few kilobytes). The decoder's own memory
//! limit is set too, as a second fence.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, ImageReader, Limits};

/// A file of an image is at most this large.
pub const IMAGE_BYTES_MAX: usize = 25 * 1024 * 1024;
/// Pixels an image may have unless the caller sets another limit (a 48-megapixel phone photo).
pub const IMAGE_PIXELS_MAX_DEFAULT: u64 = 48_000_000;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("the file is not a JPEG or PNG image")]
    NotAnImage,
    #[error("the image is larger than allowed ({reason})")]
    TooLarge { reason: String },
    #[error("the image is damaged or truncated: {0}")]
    Unreadable(String),
}

impl ImageError {
    pub fn code(&self) -> &'static str {
        match self {
            ImageError::NotAnImage => "image_not_an_image",
            ImageError::TooLarge { .. } => "image_too_large",
            ImageError::Unreadable(_) => "image_unreadable",
        }
    }
}

/// Decodes `bytes` as a JPEG or PNG of at most `pixels_max` pixels.
pub fn decode(bytes: &[u8], pixels_max: u64) -> Result<DynamicImage, ImageError> {
    if bytes.len() > IMAGE_BYTES_MAX {
        return Err(ImageError::TooLarge {
            reason: format!("{} bytes, at most {IMAGE_BYTES_MAX}", bytes.len()),
        });
    }
    let format = image::guess_format(bytes).map_err(|_| ImageError::NotAnImage)?;
    if !matches!(format, ImageFormat::Jpeg | ImageFormat::Png) {
        return Err(ImageError::NotAnImage);
    }
    let reader = ImageReader::with_format(Cursor::new(bytes), format);
    let (width, height) = reader
        .into_dimensions()
        .map_err(|e| ImageError::Unreadable(e.to_string()))?;
    let pixels = u64::from(width) * u64::from(height);
    if pixels > pixels_max {
        return Err(ImageError::TooLarge {
            reason: format!("{width}×{height} pixels, at most {pixels_max}"),
        });
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    // RGBA at 4 bytes a pixel, plus room for the decoder's own buffers.
    limits.max_alloc = Some(pixels.saturating_mul(8).max(1 << 20));
    reader.limits(limits);
    let image = reader
        .decode()
        .map_err(|e| ImageError::Unreadable(e.to_string()))?;
    // Eight bits a channel from here on: a 16-bit photo (8 bytes a pixel as RGBA) would hold
    // twice the memory through every later copy (the upside-down reading, the readers' own
    // conversions) for detail no reader uses.
    Ok(match image {
        DynamicImage::ImageLuma8(_)
        | DynamicImage::ImageLumaA8(_)
        | DynamicImage::ImageRgb8(_)
        | DynamicImage::ImageRgba8(_) => image,
        wider => DynamicImage::ImageRgb8(wider.to_rgb8()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = image::GrayImage::from_pixel(width, height, image::Luma([200]));
        let mut bytes = Vec::new();
        image::DynamicImage::ImageLuma8(image)
            .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
            .unwrap();
        bytes
    }

    #[test]
    fn check() {
        assert_eq!(
            decode(&png(30, 20), 1_000).map(|i| (i.width(), i.height())),
            Ok((30, 20))
        );
        assert_eq!(
            decode(b"hello, not an image", 1_000),
            Err(ImageError::NotAnImage)
        );
        assert_eq!(decode(b"", 1_000), Err(ImageError::NotAnImage));
        assert_eq!(
            decode(&png(40, 30), 1_000).unwrap_err().code(),
            "image_too_large"
        );
        let mut truncated = png(30, 20);
        truncated.truncate(truncated.len() / 2);
        assert_eq!(
            decode(&truncated, 1_000).unwrap_err().code(),
            "image_unreadable"
        );
        // A 16-bit photo comes back at 8 bits a channel.
        let deep = image::ImageBuffer::<image::Rgba<u16>, _>::from_pixel(
            30,
            20,
            image::Rgba([65_535, 0, 0, 65_535]),
        );
        let mut bytes = Vec::new();
        image::DynamicImage::ImageRgba16(deep)
            .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
            .unwrap();
        let decoded = decode(&bytes, 1_000).unwrap();
        assert_eq!(decoded.color(), image::ColorType::Rgb8);
        assert_eq!(decoded.to_rgb8().get_pixel(3, 4).0, [255, 0, 0]);
        // A GIF header: a real image, but not one we take.
        assert_eq!(
            decode(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", 1_000),
            Err(ImageError::NotAnImage)
        );
    }

    /// CRC-32 (IEEE), as PNG chunks carry it.
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    /// A small photo-like image (a gradient with a bar), as PNG or JPEG.
    fn encoded(format: ImageFormat) -> Vec<u8> {
        let image = image::RgbImage::from_fn(48, 32, |x, y| {
            let bar = (10..14).contains(&y);
            image::Rgb([(x * 5) as u8, (y * 7) as u8, if bar { 0 } else { 220 }])
        });
        let mut bytes = Vec::new();
        image::DynamicImage::ImageRgb8(image)
            .write_to(&mut Cursor::new(&mut bytes), format)
            .unwrap();
        bytes
    }

    proptest::proptest! {
        /// The photo entry point on damaged files: bytes overwritten, the file cut short, or
        /// both; a decoded image or a typed error, never a panic, and never more pixels than
        /// the limit. (scripts/fuzz runs libFuzzer on the same entry point for longer.)
        #[test]
        fn a_damaged_photo_is_an_image_or_a_typed_error(
            jpeg in proptest::bool::ANY,
            edits in proptest::collection::vec((proptest::prelude::any::<proptest::sample::Index>(), proptest::num::u8::ANY), 0..12),
            cut in proptest::option::of(proptest::prelude::any::<proptest::sample::Index>()),
        ) {
            let mut bytes = encoded(if jpeg { ImageFormat::Jpeg } else { ImageFormat::Png });
            for (at, byte) in edits {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            if let Some(cut) = cut {
                bytes.truncate(cut.index(bytes.len()));
            }
            match decode(&bytes, 10_000) {
                Ok(image) => proptest::prop_assert!(u64::from(image.width()) * u64::from(image.height()) <= 10_000),
                Err(error) => proptest::prop_assert!(error.code().starts_with("image_")),
            }
        }

        #[test]
        fn any_bytes_are_an_image_or_a_typed_error(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            if let Err(error) = decode(&bytes, 10_000) {
                proptest::prop_assert!(error.code().starts_with("image_"));
            }
        }
    }

    #[test]
    fn a_decompression_bomb_is_refused_from_its_header() {
        // A PNG header that declares 100,000 × 100,000 pixels, with no pixel data at all.
        let mut bomb = png(1, 1);
        bomb[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        bomb[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        // A valid header checksum, so the size (not damage) is what refuses it.
        let crc = crc32(&bomb[12..29]);
        bomb[29..33].copy_from_slice(&crc.to_be_bytes());
        let error = decode(&bomb, IMAGE_PIXELS_MAX_DEFAULT).unwrap_err();
        assert_eq!(error.code(), "image_too_large", "{error}");
    }
}
