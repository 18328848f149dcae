//! Image bytes and files to `Picture`s, and `Picture`s to normalised tensors.
//!
//! Everything here is pure Rust: the extension hands in bytes or a path and
//! gets back either a `Picture` or an `ImageError` whose text is fit to show
//! to a SQL user as is.

use std::fs::File;
use std::io::{Cursor, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageFormat, ImageReader};

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

/// A decoded picture, 8-bit, either 1 channel (gray) or 3 (RGB), row-major HWC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Picture {
    pub width: u32,
    pub height: u32,
    pub channels: u8,
    pub pixels: Vec<u8>,
}

impl Picture {
    /// Builds a picture, checking that it is non-empty and that the buffer
    /// matches the shape, so later indexing cannot go out of bounds.
    pub fn new(width: u32, height: u32, channels: u8, pixels: Vec<u8>) -> Picture {
        assert!(width > 0 && height > 0, "a picture cannot be empty ({width}x{height})");
        assert!(channels == 1 || channels == 3, "channels must be 1 or 3, got {channels}");
        assert_eq!(
            pixels.len(),
            width as usize * height as usize * channels as usize,
            "pixel buffer does not match {width}x{height}x{channels}"
        );
        Picture { width, height, channels, pixels }
    }
}

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
/// and animations yield their first frame. `label` names the image in errors
/// (a path, or [`BYTEA_LABEL`]).
pub fn decode_bytes(bytes: &[u8], label: &str, limits: &DecodeLimits) -> Result<Picture, ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::EmptyData(label.to_string()));
    }
    let format = detect_format(bytes, label)?;
    let (width, height) = header_dimensions(bytes, format, label)?;
    check_dimensions(width, height, label, limits)?;

    // Third-party decoders are not guaranteed panic-free; a panic inside a
    // Postgres backend is far worse than an error message, so contain it.
    let decoded = catch_unwind(AssertUnwindSafe(|| decode_full(bytes, format, width, height)))
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
    Ok(to_picture(decoded))
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

fn decode_full(bytes: &[u8], format: ImageFormat, width: u32, height: u32) -> image::ImageResult<DynamicImage> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    // Second fence behind the header check: the decoder may not produce a
    // frame larger than the header promised, nor allocate much beyond the
    // widest pixel layout (RGBA f32 = 16 bytes/pixel) plus working room.
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    limits.max_alloc = Some(width as u64 * height as u64 * 16 + 64 * 1024 * 1024);
    reader.limits(limits);
    reader.decode()
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

/// Rec.601 luma weights, the convention of both PIL and torchvision grayscale.
pub const LUMA_WEIGHTS: [f32; 3] = [0.299, 0.587, 0.114];

/// Resizes to exactly `size`×`size` as a CHW f32 tensor in [0,1].
///
/// The shorter side is scaled to `size` and the longer side centre-cropped,
/// so the subject is never distorted (a squash would change shapes the model
/// learns from) at the cost of losing the edges of very wide/tall images.
/// `channels` 1 takes Rec.601 luma of colour input; 3 replicates gray input.
/// Panics if `size` is 0 or `channels` is not 1 or 3 (caller bugs, not input).
pub fn to_tensor(p: &Picture, size: u32, channels: u8) -> Vec<f32> {
    assert!(size > 0, "tensor size must be positive");
    assert!(channels == 1 || channels == 3, "channels must be 1 or 3, got {channels}");
    let side = p.width.min(p.height) as f64;
    let region = Region { x: (p.width as f64 - side) / 2.0, y: (p.height as f64 - side) / 2.0, w: side, h: side };
    let hwc = if p.width == size && p.height == size {
        p.pixels.iter().map(|&v| v as f32).collect()
    } else {
        resample_region(p, region, size, size)
    };
    hwc_to_chw_unit(&hwc, p.channels, size as usize * size as usize, channels)
}

/// Converts HWC samples on a 0..255 scale to CHW in [0,1] with the wanted
/// number of channels.
fn hwc_to_chw_unit(hwc: &[f32], src_channels: u8, plane: usize, channels: u8) -> Vec<f32> {
    let mut out = vec![0.0f32; plane * channels as usize];
    match (src_channels, channels) {
        (1, 1) => out.iter_mut().zip(hwc).for_each(|(o, &v)| *o = v / 255.0),
        (1, _) => {
            for c in 0..3 {
                out[c * plane..(c + 1) * plane].iter_mut().zip(hwc).for_each(|(o, &v)| *o = v / 255.0);
            }
        }
        (_, 1) => {
            for (o, px) in out.iter_mut().zip(hwc.chunks_exact(3)) {
                let y = LUMA_WEIGHTS[0] * px[0] + LUMA_WEIGHTS[1] * px[1] + LUMA_WEIGHTS[2] * px[2];
                *o = (y / 255.0).clamp(0.0, 1.0);
            }
        }
        _ => {
            for (i, px) in hwc.chunks_exact(3).enumerate() {
                for c in 0..3 {
                    out[c * plane + i] = px[c] / 255.0;
                }
            }
        }
    }
    out
}

/// Downscales so the shorter side is at most `max_side`, keeping the aspect
/// ratio and never upscaling. Training caches these small "base" pictures so
/// each augmentation samples a few thousand pixels instead of megapixels.
pub fn shrink(p: &Picture, max_side: u32) -> Picture {
    let max_side = max_side.max(1);
    let short = p.width.min(p.height);
    if short <= max_side {
        return p.clone();
    }
    let ratio = max_side as f64 / short as f64;
    let scaled = |len: u32| ((len as f64 * ratio).round() as u32).max(1);
    let (w, h) = if p.width <= p.height { (max_side, scaled(p.height)) } else { (scaled(p.width), max_side) };
    resize(p, w, h)
}

/// Resizes the whole picture to exactly `width`×`height` (aspect not kept).
pub fn resize(p: &Picture, width: u32, height: u32) -> Picture {
    assert!(width > 0 && height > 0, "resize target must be non-empty");
    if width == p.width && height == p.height {
        return p.clone();
    }
    let region = Region { x: 0.0, y: 0.0, w: p.width as f64, h: p.height as f64 };
    let hwc = resample_region(p, region, width, height);
    let pixels = hwc.iter().map(|&v| v.round().clamp(0.0, 255.0) as u8).collect();
    Picture::new(width, height, p.channels, pixels)
}

/// A rectangle of the source in continuous pixel coordinates (pixel k spans [k, k+1)).
#[derive(Clone, Copy, Debug)]
struct Region {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

/// The source samples feeding one output sample, with normalised weights.
struct Taps {
    start: usize,
    weights: Vec<f32>,
}

/// Triangle-filter taps for resampling `span` source pixels starting at
/// `start` onto `out_len` outputs. When shrinking, the triangle is widened to
/// the scale factor so every source pixel contributes (area-like averaging,
/// no aliasing); when enlarging it is plain bilinear interpolation.
fn triangle_taps(src_len: u32, start: f64, span: f64, out_len: u32) -> Vec<Taps> {
    let scale = span / out_len as f64;
    let radius = scale.max(1.0);
    let last = src_len as i64 - 1;
    (0..out_len)
        .map(|i| {
            let center = start + (i as f64 + 0.5) * scale;
            let lo = ((center - radius).floor() as i64).clamp(0, last);
            let hi = ((center + radius).ceil() as i64).clamp(0, last);
            let mut weights: Vec<f32> =
                (lo..=hi).map(|j| (1.0 - ((j as f64 + 0.5 - center) / radius).abs()).max(0.0) as f32).collect();
            let sum: f32 = weights.iter().sum();
            if sum > 0.0 {
                weights.iter_mut().for_each(|w| *w /= sum);
            } else {
                // Only reachable for a centre outside the image: take the edge.
                weights.iter_mut().for_each(|w| *w = 0.0);
                weights[0] = 1.0;
            }
            Taps { start: lo as usize, weights }
        })
        .collect()
}

/// Separable resampling of `region` to `out_w`×`out_h`; HWC f32 on a 0..255 scale.
fn resample_region(p: &Picture, region: Region, out_w: u32, out_h: u32) -> Vec<f32> {
    let ch = p.channels as usize;
    let x_taps = triangle_taps(p.width, region.x, region.w, out_w);
    let y_taps = triangle_taps(p.height, region.y, region.h, out_h);
    let row_lo = y_taps.iter().map(|t| t.start).min().unwrap_or(0);
    let row_hi = y_taps.iter().map(|t| t.start + t.weights.len()).max().unwrap_or(0);
    let out_w = out_w as usize;

    // Horizontal pass only over the rows the vertical pass will read.
    let src_stride = p.width as usize * ch;
    let mut rows = vec![0.0f32; (row_hi - row_lo) * out_w * ch];
    for (r, y) in (row_lo..row_hi).enumerate() {
        let src = &p.pixels[y * src_stride..(y + 1) * src_stride];
        let dst = &mut rows[r * out_w * ch..(r + 1) * out_w * ch];
        for (x, taps) in x_taps.iter().enumerate() {
            for c in 0..ch {
                let mut acc = 0.0f32;
                for (k, &w) in taps.weights.iter().enumerate() {
                    acc += w * src[(taps.start + k) * ch + c] as f32;
                }
                dst[x * ch + c] = acc;
            }
        }
    }

    let row_len = out_w * ch;
    let mut out = vec![0.0f32; out_h as usize * row_len];
    for (y, taps) in y_taps.iter().enumerate() {
        let dst = &mut out[y * row_len..(y + 1) * row_len];
        for (k, &w) in taps.weights.iter().enumerate() {
            let r = taps.start + k - row_lo;
            let src = &rows[r * row_len..(r + 1) * row_len];
            dst.iter_mut().zip(src).for_each(|(d, &s)| *d += w * s);
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use image::{GrayImage, ImageBuffer, Luma, LumaA, Rgb, RgbImage, Rgba};

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

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }

    /// A valid-looking PNG whose IHDR claims a huge size over a tiny payload.
    fn png_bomb(width: u32, height: u32) -> Vec<u8> {
        let mut png = encode(&DynamicImage::ImageLuma8(GrayImage::new(1, 1)), ImageFormat::Png);
        // IHDR data starts after signature(8) + length(4) + type(4).
        png[16..20].copy_from_slice(&width.to_be_bytes());
        png[20..24].copy_from_slice(&height.to_be_bytes());
        let crc = crc32(&png[12..29]);
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
        for format in [
            ImageFormat::Png,
            ImageFormat::Jpeg,
            ImageFormat::Gif,
            ImageFormat::Bmp,
            ImageFormat::WebP,
            ImageFormat::Tiff,
        ] {
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
        for format in [
            ImageFormat::Png,
            ImageFormat::Jpeg,
            ImageFormat::Gif,
            ImageFormat::Bmp,
            ImageFormat::WebP,
            ImageFormat::Tiff,
        ] {
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
    fn read_path_reports_file_problems() {
        let dir = std::env::temp_dir().join(format!("imgcore_read_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
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
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn same_size_gray_tensor_is_an_exact_copy() {
        let pixels: Vec<u8> = (0..28 * 28).map(|i| (i * 7 % 256) as u8).collect();
        let pic = Picture::new(28, 28, 1, pixels.clone());
        let t = to_tensor(&pic, 28, 1);
        let expect: Vec<f32> = pixels.iter().map(|&v| v as f32 / 255.0).collect();
        assert_eq!(t, expect);
    }

    #[test]
    fn to_tensor_centre_crops_the_longer_side() {
        // 6x2: left third black, middle white, right third black. The centre
        // crop keeps columns 2..4 only, so everything is white.
        let pixels = (0..12).map(|i| if (2..4).contains(&(i % 6)) { 255 } else { 0 }).collect();
        let pic = Picture::new(6, 2, 1, pixels);
        assert!(to_tensor(&pic, 2, 1).iter().all(|&v| v == 1.0));
    }

    #[test]
    fn to_tensor_converts_channels_and_layout() {
        let pic = Picture::new(2, 2, 3, vec![255, 0, 0, 0, 0, 255, 0, 255, 0, 255, 255, 255]);
        let chw = to_tensor(&pic, 2, 3);
        assert_eq!(chw, vec![1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0]);
        let luma = to_tensor(&pic, 2, 1);
        for (got, want) in luma.iter().zip([0.299, 0.114, 0.587, 1.0]) {
            assert!((got - want).abs() < 1e-5, "{luma:?}");
        }
        let gray = Picture::new(1, 1, 1, vec![51]);
        assert_eq!(to_tensor(&gray, 1, 3), vec![0.2; 3]);
    }

    #[test]
    fn shrink_keeps_aspect_and_never_upscales() {
        let pic = Picture::new(40, 20, 1, vec![9; 800]);
        let s = shrink(&pic, 10);
        assert_eq!((s.width, s.height), (20, 10));
        assert_eq!(shrink(&pic, 64), pic);
        // A fine checkerboard averages to mid-gray instead of aliasing.
        let checker =
            Picture::new(64, 64, 1, (0..64 * 64).map(|i| if (i % 64 + i / 64) % 2 == 0 { 255 } else { 0 }).collect());
        let s = shrink(&checker, 8);
        assert!(s.pixels.iter().all(|&v| (120..=135).contains(&v)), "{:?}", s.pixels);
    }

    #[test]
    #[ignore = "micro-benchmark; run with --release --ignored --nocapture"]
    fn bench_resampling() {
        use std::time::Instant;
        let big = Picture::new(3000, 2000, 3, (0..3000 * 2000 * 3).map(|i| (i % 251) as u8).collect());
        let start = Instant::now();
        let small = shrink(&big, 96);
        println!(
            "shrink 3000x2000 RGB -> {}x{}: {:.1} ms",
            small.width,
            small.height,
            start.elapsed().as_secs_f64() * 1e3
        );
        let start = Instant::now();
        let t = to_tensor(&big, 224, 3);
        println!("to_tensor 3000x2000 RGB -> 3x224x224: {:.1} ms ({})", start.elapsed().as_secs_f64() * 1e3, t.len());
        let digit = Picture::new(28, 28, 1, vec![7; 784]);
        let start = Instant::now();
        for _ in 0..10_000 {
            std::hint::black_box(to_tensor(&digit, 32, 1));
        }
        println!("to_tensor 28x28 -> 32x32: {:.0} ns", start.elapsed().as_nanos() as f64 / 10_000.0);
    }
}
