//! Resampling `Picture`s: the model input tensor (shorter side scaled, centre
//! crop), shrinking for the training cache, and exact resizes for the image grid.
//! One triangle (bilinear) filter that widens when it shrinks, so large photos
//! are averaged, not aliased.
use super::Picture;

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
    to_tensor_framed(p, Frame { width: size, height: size, stretch: false, crop_fraction: 1.0 }, channels)
}

/// What part of a picture becomes a model input of `width`×`height`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    /// Squash the whole picture (aspect ratio not kept) instead of cutting the
    /// largest centred region of the input's aspect ratio.
    pub stretch: bool,
    /// The centred part of that region kept, along each side: 1 keeps it all;
    /// 0.875 is ImageNet's evaluation crop (shorter side to 256, centre 224).
    pub crop_fraction: f64,
}

impl Frame {
    /// The source region, in continuous pixel coordinates, that fills the input.
    fn region(&self, p: &Picture) -> Region {
        let (pw, ph) = (p.width as f64, p.height as f64);
        let (w, h) = if self.stretch {
            (pw, ph)
        } else if p.width as u64 * self.height as u64 >= p.height as u64 * self.width as u64 {
            // The picture is wider than the input: full height, width cut.
            (ph * self.width as f64 / self.height as f64, ph)
        } else {
            (pw, pw * self.height as f64 / self.width as f64)
        };
        let (w, h) = (w * self.crop_fraction, h * self.crop_fraction);
        Region { x: (pw - w) / 2.0, y: (ph - h) / 2.0, w, h }
    }
}

/// The input tensor of `frame`: CHW f32 in [0,1] with `channels` channels.
/// Panics on an empty frame or `channels` other than 1 or 3 (caller bugs, not input).
pub fn to_tensor_framed(p: &Picture, frame: Frame, channels: u8) -> Vec<f32> {
    let (width, height) = (frame.width, frame.height);
    assert!(width > 0 && height > 0, "tensor size must be positive");
    assert!(channels == 1 || channels == 3, "channels must be 1 or 3, got {channels}");
    let hwc = if p.width == width && p.height == height && frame.crop_fraction == 1.0 {
        p.pixels.iter().map(|&v| v as f32).collect()
    } else {
        resample_region(p, frame.region(p), width, height)
    };
    hwc_to_chw_unit(&hwc, p.channels, width as usize * height as usize, channels)
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
mod tests {
    use super::*;

    /// Issue 13 asked whether `image::imageops::resize` (Triangle) should replace this
    /// file's resampler. Timing both on the same shrinks (run with `cargo test
    /// --release --lib resize_speed -- --ignored --nocapture`; BENCHMARKS.md).
    #[test]
    #[ignore]
    fn resize_speed_against_the_image_crate() {
        use image::{imageops, RgbImage};
        let (w, h) = (4000u32, 3000u32);
        let pixels: Vec<u8> = (0..w * h * 3).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
        let pic = Picture::new(w, h, 3, pixels.clone());
        let img = RgbImage::from_raw(w, h, pixels).unwrap();
        for (label, out_w, out_h) in [("4000x3000 -> 224x168", 224, 168), ("4000x3000 -> 32x24", 32, 24)] {
            let runs = 5;
            let started = std::time::Instant::now();
            for _ in 0..runs {
                std::hint::black_box(resize(&pic, out_w, out_h));
            }
            let ours = started.elapsed().as_secs_f64() * 1000.0 / runs as f64;
            let started = std::time::Instant::now();
            for _ in 0..runs {
                std::hint::black_box(imageops::resize(&img, out_w, out_h, imageops::FilterType::Triangle));
            }
            let theirs = started.elapsed().as_secs_f64() * 1000.0 / runs as f64;
            println!("{label}: this file {ours:.1} ms, image::imageops::resize (Triangle) {theirs:.1} ms");
        }
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
    fn crop_fraction_keeps_the_centre_of_the_shorter_side() {
        // 8x8 gray: a white 4x4 square in the middle of black. Keeping the centre
        // half of each side leaves only the white square.
        let pixels = (0..64).map(|i| if (2..6).contains(&(i % 8)) && (2..6).contains(&(i / 8)) { 255 } else { 0 });
        let pic = Picture::new(8, 8, 1, pixels.collect());
        let frame = |crop_fraction| Frame { width: 4, height: 4, stretch: false, crop_fraction };
        assert!(to_tensor_framed(&pic, frame(0.5), 1).iter().all(|&v| v == 1.0));
        assert!(to_tensor_framed(&pic, frame(1.0), 1).iter().any(|&v| v < 0.5));
        // ImageNet's convention: 256 -> centre 224 of a 256-pixel side is 0.875.
        let region = Frame { width: 224, height: 224, stretch: false, crop_fraction: 0.875 }.region(&Picture::new(
            384,
            256,
            1,
            vec![0; 384 * 256],
        ));
        assert_eq!((region.x, region.y, region.w, region.h), (80.0, 16.0, 224.0, 224.0));
        // With stretch it trims the whole picture's sides by the same fraction.
        let region = Frame { width: 10, height: 10, stretch: true, crop_fraction: 0.5 }.region(&Picture::new(
            40,
            20,
            1,
            vec![0; 800],
        ));
        assert_eq!((region.x, region.y, region.w, region.h), (10.0, 5.0, 20.0, 10.0));
    }

    #[test]
    fn non_square_inputs_cut_the_inputs_aspect_ratio() {
        // A 3:2 input from a square picture: full width, the middle two thirds of the height.
        let frame = Frame { width: 6, height: 4, stretch: false, crop_fraction: 1.0 };
        let region = frame.region(&Picture::new(12, 12, 1, vec![0; 144]));
        assert_eq!((region.x, region.y, region.w, region.h), (0.0, 2.0, 12.0, 8.0));
        // From a panorama: full height, the centre of the width.
        let region = frame.region(&Picture::new(30, 8, 1, vec![0; 240]));
        assert_eq!((region.x, region.y, region.w, region.h), (9.0, 0.0, 12.0, 8.0));
        // Rows are `width` long: a picture of the input's size is copied as is.
        let pixels: Vec<u8> = (0..24).map(|i| i * 10).collect();
        let t = to_tensor_framed(&Picture::new(6, 4, 1, pixels.clone()), frame, 1);
        assert_eq!(t, pixels.iter().map(|&v| v as f32 / 255.0).collect::<Vec<f32>>());
        // A left-to-right gradient stays one, resampled to 6 columns.
        let gradient = Picture::new(60, 40, 1, (0..2400).map(|i| (i % 60 * 4) as u8).collect());
        let t = to_tensor_framed(&gradient, frame, 1);
        assert_eq!(t.len(), 24);
        let rows_equal = t[..6].iter().zip(&t[18..]).all(|(a, b)| (a - b).abs() < 1e-6);
        assert!(t[..6].windows(2).all(|w| w[0] < w[1]) && rows_equal, "{t:?}");
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
