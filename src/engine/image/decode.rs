//! Image bytes and files to `Picture`s.
//!
//! Everything here is pure Rust: the extension hands in bytes or a path and
//! gets back either a `Picture` or an `ImageError` whose text is fit to show
//! to a SQL user as is.

use std::fs::File;
use std::io::{Cursor, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageFormat, ImageReader};

use super::{jpeg_dc, orientation};
use image::metadata::Orientation;
use image::ImageDecoder;

/// Caps that keep a hostile or mistaken input from exhausting the backend's memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeLimits {
    pub max_pixels: u64,
    pub max_file_bytes: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits { max_pixels: 40_000_000, max_file_bytes: 256 * 1024 * 1024 }
    }
}

/// Label used in error messages for images that arrive as a bytea value.
pub const BYTEA_LABEL: &str = "<bytea>";

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("image file \"{}\" does not exist", .0.display())]
    FileNotFound(PathBuf),
    #[error("\"{}\" is a directory, not an image file", .0.display())]
    IsDirectory(PathBuf),
    // Devices and FIFOs could block forever or never end, so they are refused.
    #[error("\"{}\" is not a regular file", .0.display())]
    NotRegularFile(PathBuf),
    #[error("image file \"{}\" is empty (0 bytes)", .0.display())]
    EmptyFile(PathBuf),
    #[error("image file \"{}\" is {size} bytes, over the limit of {limit} bytes (image_search.max_image_file_bytes)", .path.display())]
    FileTooLarge { path: PathBuf, size: u64, limit: u64 },
    #[error("could not read image file \"{}\": {source}", .path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("image \"{0}\" is empty (0 bytes)")]
    EmptyData(String),
    #[error("\"{0}\" is not a recognised image format")]
    NotAnImage(String),
    #[error(
        "\"{label}\" is a {format} image, which image_search cannot read (supported: PNG, JPEG, GIF, BMP, WebP, TIFF)"
    )]
    UnsupportedFormat { label: String, format: String },
    #[error("image \"{label}\" uses a feature image_search cannot decode: {message}")]
    UnsupportedFeature { label: String, message: String },
    #[error("image \"{label}\" is corrupt or truncated: {message}")]
    Corrupt { label: String, message: String },
    #[error("image \"{label}\" has zero width or height ({width}x{height})")]
    ZeroSize { label: String, width: u32, height: u32 },
    #[error(
        "image \"{label}\" is {width}x{height} = {pixels} pixels, over the limit of {limit} (image_search.max_image_pixels)"
    )]
    TooManyPixels { label: String, width: u32, height: u32, pixels: u64, limit: u64 },
    #[error("image \"{label}\" needs more memory to decode than allowed: {message}")]
    OverMemoryLimit { label: String, message: String },
}

pub use super::Picture;

/// Reads an image file into memory, checking what can be checked before reading
/// so that the common mistakes get a message naming the actual problem.
pub fn read_path(path: &Path, limits: &DecodeLimits) -> Result<Vec<u8>, ImageError> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ImageError::FileNotFound(path.to_path_buf()),
        _ => read_error(path, e),
    })?;
    if meta.is_dir() {
        return Err(ImageError::IsDirectory(path.to_path_buf()));
    }
    if !meta.is_file() {
        return Err(ImageError::NotRegularFile(path.to_path_buf()));
    }
    check_file_size(path, meta.len(), limits)?;

    let file = File::open(path).map_err(|e| read_error(path, e))?;
    // The file may grow between stat and read; reading one byte past the limit
    // is how we notice without trusting the earlier size.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limits.max_file_bytes.saturating_add(1)).read_to_end(&mut bytes).map_err(|e| read_error(path, e))?;
    check_file_size(path, bytes.len() as u64, limits)?;
    Ok(bytes)
}

/// Reads and decodes a file; the path is used as the label in decode errors.
pub fn load_path(path: &Path, limits: &DecodeLimits) -> Result<Picture, ImageError> {
    let bytes = read_path(path, limits)?;
    decode_bytes(&bytes, &path.display().to_string(), limits)
}

/// `load_path` for a consumer that needs a shorter side of at least `min_side`
/// pixels (see `decode_bytes_at_least`).
pub fn load_path_at_least(path: &Path, limits: &DecodeLimits, min_side: u32) -> Result<Picture, ImageError> {
    let bytes = read_path(path, limits)?;
    decode_bytes_at_least(&bytes, &path.display().to_string(), limits, min_side)
}

fn read_error(path: &Path, source: std::io::Error) -> ImageError {
    ImageError::Read { path: path.to_path_buf(), source }
}

fn check_file_size(path: &Path, size: u64, limits: &DecodeLimits) -> Result<(), ImageError> {
    if size == 0 {
        return Err(ImageError::EmptyFile(path.to_path_buf()));
    }
    if size > limits.max_file_bytes {
        return Err(ImageError::FileTooLarge { path: path.to_path_buf(), size, limit: limits.max_file_bytes });
    }
    Ok(())
}

/// Decodes image bytes (format detected from content, never from a name).
///
/// Grayscale sources give 1 channel, everything else 3 (RGB); alpha is
/// composited over white, 16-bit and float samples are reduced to 8 bits,
/// and animations yield their first frame; an EXIF Orientation tag is applied
/// (`orientation`), so the picture is the way up it is meant to be shown.
/// `label` names the image in errors (a path, or [`BYTEA_LABEL`]).
pub fn decode_bytes(bytes: &[u8], label: &str, limits: &DecodeLimits) -> Result<Picture, ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::EmptyData(label.to_string()));
    }
    let format = detect_format(bytes, label)?;
    let (width, height) = header_dimensions(bytes, format, label)?;
    check_dimensions(width, height, label, limits)?;

    // Third-party decoders are not guaranteed panic-free; a panic inside a
    // Postgres backend is far worse than an error message, so contain it.
    let (decoded, orientation) = catch_unwind(AssertUnwindSafe(|| decode_full(bytes, format, width, height)))
        .map_err(|_| ImageError::Corrupt {
            label: label.to_string(),
            message: "the decoder crashed on this input".to_string(),
        })?
        .map_err(|e| classify_decode_error(e, label))?;
    if decoded.width() != width || decoded.height() != height {
        return Err(ImageError::Corrupt {
            label: label.to_string(),
            message: format!("header says {width}x{height} but decoded {}x{}", decoded.width(), decoded.height()),
        });
    }
    Ok(orientation::apply(to_picture(decoded), orientation))
}

/// `decode_bytes` for a consumer that resizes the picture to a shorter side of
/// `min_side` pixels or less (a model's input, the training cache): a JPEG whose
/// shorter side is at least 8 × `min_side` is decoded at 1/8 scale from its DC
/// coefficients (`jpeg_dc`), many times faster for large photos, and the same
/// as a full decode shrunk by 8×8 block means up to rounding and chroma
/// upsampling (and turned by its EXIF orientation, as a full decode is). Everything else, and any JPEG `jpeg_dc` does not read, is
/// decoded in full by `decode_bytes`, errors included.
pub fn decode_bytes_at_least(
    bytes: &[u8],
    label: &str,
    limits: &DecodeLimits,
    min_side: u32,
) -> Result<Picture, ImageError> {
    match eighth_scale_jpeg(bytes, limits, min_side) {
        Some(picture) => Ok(picture),
        None => decode_bytes(bytes, label, limits),
    }
}

fn eighth_scale_jpeg(bytes: &[u8], limits: &DecodeLimits, min_side: u32) -> Option<Picture> {
    let (width, height) = jpeg_dc::dimensions(bytes)?;
    let pixels = width as u64 * height as u64;
    if pixels == 0 || pixels > limits.max_pixels || width.min(height).div_ceil(8) < min_side.max(1) {
        return None;
    }
    // A panic would be a bug, but it must not reach Postgres; the full decoder then decides.
    let picture = catch_unwind(AssertUnwindSafe(|| jpeg_dc::decode_eighth(bytes))).ok()?.ok()?;
    Some(orientation::apply(picture, orientation::from_exif(jpeg_dc::exif(bytes))))
}

fn detect_format(bytes: &[u8], label: &str) -> Result<ImageFormat, ImageError> {
    let format = image::guess_format(bytes).map_err(|_| ImageError::NotAnImage(label.to_string()))?;
    if !format.reading_enabled() {
        return Err(ImageError::UnsupportedFormat {
            label: label.to_string(),
            format: format!("{format:?}").to_uppercase(),
        });
    }
    Ok(format)
}

/// Reads only the header, so a decompression bomb is refused before any
/// pixel buffer is allocated.
fn header_dimensions(bytes: &[u8], format: ImageFormat, label: &str) -> Result<(u32, u32), ImageError> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.no_limits();
    catch_unwind(AssertUnwindSafe(|| reader.into_dimensions()))
        .map_err(|_| ImageError::Corrupt {
            label: label.to_string(),
            message: "the decoder crashed reading the header".to_string(),
        })?
        .map_err(|e| classify_decode_error(e, label))
}

fn check_dimensions(width: u32, height: u32, label: &str, limits: &DecodeLimits) -> Result<(), ImageError> {
    if width == 0 || height == 0 {
        return Err(ImageError::ZeroSize { label: label.to_string(), width, height });
    }
    let pixels = width as u64 * height as u64;
    if pixels > limits.max_pixels {
        return Err(ImageError::TooManyPixels {
            label: label.to_string(),
            width,
            height,
            pixels,
            limit: limits.max_pixels,
        });
    }
    Ok(())
}

/// The picture as stored, and the orientation its metadata gives for showing it.
fn decode_full(
    bytes: &[u8],
    format: ImageFormat,
    width: u32,
    height: u32,
) -> image::ImageResult<(DynamicImage, Orientation)> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    // Second fence behind the header check: the decoder may not produce a
    // frame larger than the header promised, nor allocate much beyond the
    // widest pixel layout (RGBA f32 = 16 bytes/pixel) plus working room.
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    limits.max_alloc = Some(width as u64 * height as u64 * 16 + 64 * 1024 * 1024);
    reader.limits(limits.clone());
    let mut decoder = reader.into_decoder()?;
    // As `ImageReader::decode` does: the picture's buffer counts against the allowance.
    limits.reserve(decoder.total_bytes())?;
    decoder.set_limits(limits)?;
    // Unreadable metadata is no reason to refuse the pixels: shown as stored.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    Ok((DynamicImage::from_decoder(decoder)?, orientation))
}

fn classify_decode_error(e: image::ImageError, label: &str) -> ImageError {
    let label = label.to_string();
    match e {
        image::ImageError::Limits(l) => ImageError::OverMemoryLimit { label, message: l.to_string() },
        image::ImageError::Unsupported(u) => ImageError::UnsupportedFeature { label, message: u.to_string() },
        other => ImageError::Corrupt { label, message: other.to_string() },
    }
}

fn to_picture(img: DynamicImage) -> Picture {
    let (width, height) = (img.width(), img.height());
    let color = img.color();
    let (channels, pixels) = match (color.has_color(), color.has_alpha()) {
        (false, false) => (1, img.into_luma8().into_raw()),
        (false, true) => (1, flatten_alpha(&img.into_luma_alpha8().into_raw(), 1)),
        (true, false) => (3, img.into_rgb8().into_raw()),
        (true, true) => (3, flatten_alpha(&img.into_rgba8().into_raw(), 3)),
    };
    Picture::new(width, height, channels, pixels)
}

/// Composites interleaved colour+alpha samples over white, so transparent
/// regions look like the page they would be shown on rather than black.
fn flatten_alpha(samples: &[u8], colour_channels: usize) -> Vec<u8> {
    let stride = colour_channels + 1;
    let mut out = Vec::with_capacity(samples.len() / stride * colour_channels);
    for px in samples.chunks_exact(stride) {
        let alpha = px[colour_channels] as u32;
        for &c in &px[..colour_channels] {
            let blended = (c as u32 * alpha + 255 * (255 - alpha) + 127) / 255;
            out.push(blended as u8);
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::engine::image::resize::to_tensor;
    use image::{GrayImage, ImageBuffer, Luma, LumaA, Rgb, RgbImage, Rgba};

    /// The formats Cargo.toml enables in the `image` crate.
    const ENABLED_FORMATS: [ImageFormat; 6] =
        [ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::Gif, ImageFormat::Bmp, ImageFormat::WebP, ImageFormat::Tiff];

    pub(crate) fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut buf = Cursor::new(Vec::new());
        img.write_to(&mut buf, format).expect("encode test image");
        buf.into_inner()
    }

    fn limits() -> DecodeLimits {
        DecodeLimits::default()
    }

    fn gradient_rgb(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| Rgb([(x * 255 / w.max(2).saturating_sub(1)) as u8, (y * 40) as u8, 200]))
    }

    /// A valid-looking PNG whose IHDR claims a huge size over a tiny payload.
    fn png_bomb(width: u32, height: u32) -> Vec<u8> {
        let mut png = encode(&DynamicImage::ImageLuma8(GrayImage::new(1, 1)), ImageFormat::Png);
        // IHDR data starts after signature(8) + length(4) + type(4).
        png[16..20].copy_from_slice(&width.to_be_bytes());
        png[20..24].copy_from_slice(&height.to_be_bytes());
        let crc = crc32fast::hash(&png[12..29]);
        png[29..33].copy_from_slice(&crc.to_be_bytes());
        png
    }

    #[test]
    fn png_rgb_roundtrips_exactly() {
        let img = gradient_rgb(5, 3);
        let pic = decode_bytes(&encode(&img.clone().into(), ImageFormat::Png), "t", &limits()).unwrap();
        assert_eq!((pic.width, pic.height, pic.channels), (5, 3, 3));
        assert_eq!(pic.pixels, img.into_raw());
    }

    #[test]
    fn grayscale_sources_give_one_channel() {
        let gray = GrayImage::from_fn(4, 4, |x, y| Luma([(x * 60 + y) as u8]));
        let pic = decode_bytes(&encode(&gray.clone().into(), ImageFormat::Png), "t", &limits()).unwrap();
        assert_eq!(pic.channels, 1);
        assert_eq!(pic.pixels, gray.into_raw());

        let g16: ImageBuffer<Luma<u16>, Vec<u16>> =
            ImageBuffer::from_fn(2, 1, |x, _| Luma([if x == 0 { 65535 } else { 0 }]));
        let pic = decode_bytes(&encode(&g16.into(), ImageFormat::Png), "t", &limits()).unwrap();
        assert_eq!((pic.channels, pic.pixels.clone()), (1, vec![255, 0]));
    }

    #[test]
    fn alpha_is_composited_over_white() {
        let la: ImageBuffer<LumaA<u8>, Vec<u8>> = ImageBuffer::from_vec(3, 1, vec![0, 0, 0, 255, 0, 128]).unwrap();
        let pic = decode_bytes(&encode(&la.into(), ImageFormat::Png), "t", &limits()).unwrap();
        assert_eq!(pic.channels, 1);
        assert_eq!(pic.pixels, vec![255, 0, 127]);

        let rgba: ImageBuffer<Rgba<u8>, Vec<u8>> =
            ImageBuffer::from_vec(2, 1, vec![255, 0, 0, 0, 255, 0, 0, 255]).unwrap();
        let pic = decode_bytes(&encode(&rgba.into(), ImageFormat::Png), "t", &limits()).unwrap();
        assert_eq!(pic.channels, 3);
        assert_eq!(pic.pixels, vec![255, 255, 255, 255, 0, 0]);
    }

    #[test]
    fn sixteen_bit_rgb_is_reduced_to_eight() {
        let img: ImageBuffer<Rgb<u16>, Vec<u16>> = ImageBuffer::from_vec(1, 1, vec![65535, 0, 32896]).unwrap();
        let pic = decode_bytes(&encode(&img.into(), ImageFormat::Png), "t", &limits()).unwrap();
        assert_eq!(pic.pixels, vec![255, 0, 128]);
    }

    #[test]
    fn every_enabled_format_decodes() {
        let img = DynamicImage::ImageRgb8(gradient_rgb(16, 8));
        for format in ENABLED_FORMATS {
            let pic = decode_bytes(&encode(&img, format), "t", &limits()).unwrap_or_else(|e| panic!("{format:?}: {e}"));
            assert_eq!((pic.width, pic.height, pic.channels), (16, 8, 3), "{format:?}");
            let blue_avg = pic.pixels.chunks(3).map(|p| p[2] as u32).sum::<u32>() / 128;
            assert!((blue_avg as i32 - 200).abs() < 12, "{format:?} blue {blue_avg}");
        }
    }

    #[test]
    fn jpeg_gray_is_one_channel_and_one_by_one_works() {
        let gray = DynamicImage::ImageLuma8(GrayImage::from_pixel(1, 1, Luma([77])));
        let pic = decode_bytes(&encode(&gray, ImageFormat::Jpeg), "t", &limits()).unwrap();
        assert_eq!((pic.width, pic.height, pic.channels), (1, 1, 1));
        assert!((pic.pixels[0] as i32 - 77).abs() <= 2);
        let t = to_tensor(&pic, 4, 3);
        assert_eq!(t.len(), 48);
        assert!(t.iter().all(|&v| (v - t[0]).abs() < 1e-6));
    }

    /// A hand-assembled 8×8 baseline JPEG with four components (CMYK, Adobe
    /// inverted convention: 255 = no ink) and one flat block each, since the
    /// `image` crate cannot encode CMYK.
    fn cmyk_jpeg(cmyk: [u8; 4]) -> Vec<u8> {
        let segment = |marker: u8, body: &[u8]| {
            let mut seg = vec![0xFF, marker];
            seg.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
            seg.extend_from_slice(body);
            seg
        };
        let mut jpeg = vec![0xFF, 0xD8];
        jpeg.extend(segment(0xDB, &[[0u8].as_slice(), &[1u8; 64]].concat())); // all-ones quantiser
        let mut sof = vec![8, 0, 8, 0, 8, 4];
        for id in 1..=4 {
            sof.extend_from_slice(&[id, 0x11, 0]);
        }
        jpeg.extend(segment(0xC0, &sof));
        // DC table: 2-bit codes 00, 01, 10 for categories 0, 10, 11. AC table: EOB only.
        let mut dc = vec![0x00, 0, 3];
        dc.extend_from_slice(&[0; 14]);
        dc.extend_from_slice(&[0, 10, 11]);
        jpeg.extend(segment(0xC4, &dc));
        let mut ac = vec![0x10, 1];
        ac.extend_from_slice(&[0; 15]);
        ac.push(0x00);
        jpeg.extend(segment(0xC4, &ac));
        let mut sos = vec![4];
        for id in 1..=4 {
            sos.extend_from_slice(&[id, 0x00]);
        }
        sos.extend_from_slice(&[0, 63, 0]);
        jpeg.extend(segment(0xDA, &sos));

        let mut bits: Vec<bool> = Vec::new();
        let mut put = |value: u32, len: u32| (0..len).rev().for_each(|i| bits.push(value >> i & 1 == 1));
        for v in cmyk {
            // Flat block: DC coefficient 8·(v−128) under a unit quantiser.
            let dc = 8 * (v as i32 - 128);
            match dc {
                0 => put(0b00, 2),
                d if d.unsigned_abs() < 1024 => {
                    put(0b01, 2);
                    put(if d > 0 { d as u32 } else { (d + 1023) as u32 }, 10);
                }
                d => {
                    put(0b10, 2);
                    put(if d > 0 { d as u32 } else { (d + 2047) as u32 }, 11);
                }
            }
            put(0, 1); // EOB
        }
        while !bits.len().is_multiple_of(8) {
            bits.push(true);
        }
        for byte in bits.chunks(8).map(|b| b.iter().fold(0u8, |acc, &bit| acc << 1 | bit as u8)) {
            jpeg.push(byte);
            if byte == 0xFF {
                jpeg.push(0x00); // byte stuffing
            }
        }
        jpeg.extend_from_slice(&[0xFF, 0xD9]);
        jpeg
    }

    #[test]
    fn cmyk_jpeg_becomes_rgb() {
        let cyan = decode_bytes(&cmyk_jpeg([0, 255, 255, 255]), "cmyk.jpg", &limits()).unwrap();
        assert_eq!((cyan.width, cyan.height, cyan.channels), (8, 8, 3));
        let px = &cyan.pixels[..3];
        assert!(px[0] < 10 && px[1] > 245 && px[2] > 245, "{px:?}");
        let black = decode_bytes(&cmyk_jpeg([255, 255, 255, 0]), "k.jpg", &limits()).unwrap();
        assert!(black.pixels.iter().all(|&v| v < 10), "{:?}", &black.pixels[..3]);
    }

    #[test]
    fn animated_gif_gives_first_frame() {
        use image::codecs::gif::GifEncoder;
        use image::{Delay, Frame, RgbaImage};
        let frame = |c: [u8; 4]| {
            Frame::from_parts(RgbaImage::from_pixel(4, 4, Rgba(c)), 0, 0, Delay::from_numer_denom_ms(100, 1))
        };
        let mut bytes = Vec::new();
        {
            let mut enc = GifEncoder::new(&mut bytes);
            enc.encode_frames(vec![frame([255, 0, 0, 255]), frame([0, 0, 255, 255])]).unwrap();
        }
        let pic = decode_bytes(&bytes, "anim.gif", &limits()).unwrap();
        assert_eq!(pic.channels, 3);
        assert!(pic.pixels.chunks(3).all(|p| p[0] > 200 && p[2] < 50), "{:?}", &pic.pixels[..3]);
    }

    #[test]
    fn decompression_bomb_is_refused_from_header() {
        let bomb = png_bomb(20000, 20000);
        let err = decode_bytes(&bomb, "/x/bomb.png", &limits()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "image \"/x/bomb.png\" is 20000x20000 = 400000000 pixels, over the limit of 40000000 (image_search.max_image_pixels)"
        );
        // Under a generous limit the same header passes the check and the
        // truncated payload is reported as corrupt, not panicked on.
        let small = png_bomb(300, 300);
        let err = decode_bytes(&small, "b", &limits()).unwrap_err();
        assert!(matches!(err, ImageError::Corrupt { .. }), "{err}");
    }

    #[test]
    fn messages_name_the_problem() {
        let err = decode_bytes(&[], BYTEA_LABEL, &limits()).unwrap_err();
        assert_eq!(err.to_string(), "image \"<bytea>\" is empty (0 bytes)");
        let err = decode_bytes(b"hello, this is a text file\n", "/x/a.txt", &limits()).unwrap_err();
        assert_eq!(err.to_string(), "\"/x/a.txt\" is not a recognised image format");
        let err = decode_bytes(b"P3\n1 1\n255\n0 0 0\n", "a.ppm", &limits()).unwrap_err();
        assert!(matches!(err, ImageError::UnsupportedFormat { .. }), "{err}");
        let png = encode(&DynamicImage::ImageRgb8(gradient_rgb(8, 8)), ImageFormat::Png);
        let err = decode_bytes(&png[..png.len() / 2], "/x/cut.png", &limits()).unwrap_err();
        assert!(err.to_string().starts_with("image \"/x/cut.png\" is corrupt or truncated: "), "{err}");
    }

    #[test]
    fn no_input_makes_the_decoder_panic() {
        let img = DynamicImage::ImageRgb8(gradient_rgb(12, 10));
        let mut rng_state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            rng_state ^= rng_state << 13;
            rng_state ^= rng_state >> 7;
            rng_state ^= rng_state << 17;
            rng_state
        };
        for format in ENABLED_FORMATS {
            let good = encode(&img, format);
            let step = (good.len() / 60).max(1);
            for cut in (0..good.len()).step_by(step) {
                let _ = decode_bytes(&good[..cut], "cut", &limits());
            }
            for _ in 0..40 {
                let mut bad = good.clone();
                for _ in 0..3 {
                    let i = (next() as usize) % bad.len();
                    bad[i] ^= (next() as u8) | 1;
                }
                let _ = decode_bytes(&bad, "flipped", &limits());
            }
        }
        for len in [1usize, 2, 7, 16, 100, 5000] {
            let noise: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            assert!(decode_bytes(&noise, "noise", &limits()).is_err());
        }
    }

    #[test]
    fn large_jpegs_come_at_one_eighth_when_that_is_enough() {
        let jpeg = include_bytes!("../../../test/data/jpeg/progressive_420.jpg"); // 203x157
        let eighth = decode_bytes_at_least(jpeg, "p.jpg", &limits(), 20).unwrap();
        assert_eq!((eighth.width, eighth.height, eighth.channels), (26, 20, 3));
        let full = decode_bytes_at_least(jpeg, "p.jpg", &limits(), 21).unwrap();
        assert_eq!((full.width, full.height), (203, 157));
        // The pixel limit still applies, with the full decoder's message.
        let tight = DecodeLimits { max_pixels: 1000, ..limits() };
        assert!(matches!(decode_bytes_at_least(jpeg, "p.jpg", &tight, 1), Err(ImageError::TooManyPixels { .. })));
        // Other formats and JPEGs jpeg_dc leaves alone decode in full, as before.
        let png = encode(&DynamicImage::ImageRgb8(gradient_rgb(64, 64)), ImageFormat::Png);
        assert_eq!(decode_bytes_at_least(&png, "p.png", &limits(), 1).unwrap().width, 64);
        let cyan = decode_bytes_at_least(&cmyk_jpeg([0, 255, 255, 255]), "c.jpg", &limits(), 1).unwrap();
        assert_eq!((cyan.width, cyan.channels), (8, 3));
        // A truncated file is the full decoder's to judge (zune-jpeg shows what it has).
        let cut = &jpeg[..jpeg.len() / 2];
        let (reduced, full) = (decode_bytes_at_least(cut, "c", &limits(), 1), decode_bytes(cut, "c", &limits()));
        assert!(reduced.map_err(|e| e.to_string()) == full.map_err(|e| e.to_string()), "same result as before");
    }

    #[test]
    fn read_path_reports_file_problems() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let missing = dir.join("missing.jpg");
        assert_eq!(
            read_path(&missing, &limits()).unwrap_err().to_string(),
            format!("image file \"{}\" does not exist", missing.display())
        );
        assert_eq!(
            read_path(&dir, &limits()).unwrap_err().to_string(),
            format!("\"{}\" is a directory, not an image file", dir.display())
        );
        let empty = dir.join("empty.png");
        std::fs::write(&empty, b"").unwrap();
        assert_eq!(
            read_path(&empty, &limits()).unwrap_err().to_string(),
            format!("image file \"{}\" is empty (0 bytes)", empty.display())
        );
        let good = dir.join("good.dat"); // extension deliberately wrong
        let png = encode(&DynamicImage::ImageRgb8(gradient_rgb(3, 3)), ImageFormat::Png);
        std::fs::write(&good, &png).unwrap();
        assert_eq!(read_path(&good, &limits()).unwrap(), png);
        assert_eq!(load_path(&good, &limits()).unwrap().width, 3);
        let tight = DecodeLimits { max_file_bytes: 10, ..limits() };
        assert!(matches!(read_path(&good, &tight), Err(ImageError::FileTooLarge { .. })));
    }
}
