//! SimCLR-style random augmentations of cached base pictures, seeded so that
//! a training run can be replayed exactly.
//!
//! Geometry (random resized crop, rotation, translation, flip) is one inverse
//! affine map per view, sampled bilinearly straight from the base picture, so
//! no intermediate image is ever built. Samples that land outside the base
//! take the nearest edge pixel (edge clamping): for MNIST-like digits the edge
//! is the black background, so rotated corners stay black; for photos it
//! smears the border a little, which reads as natural rather than as a black
//! frame the model could learn to key on. Base pictures should be cached with
//! `image_input::shrink(p, ~size)`: bilinear sampling does not average, so a
//! base much larger than the crop would alias.
//!
//! Photometric operations (`photometric.rs`) then run on the f32 output in [0,1].

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::engine::image::distort;
use crate::engine::image::photometric::*;
use crate::engine::image::resize::LUMA_WEIGHTS;
use crate::engine::image::Picture;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AugmentOptions {
    /// Random resized crop: range of the crop's area as a fraction of the base.
    pub crop_scale: (f32, f32),
    /// Random resized crop: range of the crop's width/height ratio.
    pub crop_ratio: (f32, f32),
    pub max_rotation_deg: f32,
    /// Largest shift as a fraction of the output size, each axis.
    pub max_translate: f32,
    /// Jitter strengths: a factor is drawn from [1-s, 1+s].
    pub brightness: f32,
    pub contrast: f32,
    /// Colour jitter strengths, used for 3-channel output only.
    pub saturation: f32,
    /// Hue shift drawn from [-hue, hue], as a fraction of the full colour circle.
    pub hue: f32,
    /// Probability that brightness/contrast/saturation/hue are applied (in random order).
    pub color_jitter_prob: f32,
    /// Probability that a 3-channel view is turned gray (kept 3 channels).
    pub grayscale_prob: f32,
    /// Horizontal flip with probability 0.5.
    pub flip: bool,
    pub blur_prob: f32,
    /// Gaussian blur sigma range, in output pixels.
    pub blur_sigma: (f32, f32),
    /// Standard deviation of additive gaussian noise (0 = off).
    pub noise_std: f32,
    /// Elastic warp strength: largest displacement in output pixels (0 = off).
    #[serde(default)]
    pub elastic: f32,
    /// Probability of a solid frame around the shrunken view, and its largest
    /// width as a fraction of the side.
    #[serde(default)]
    pub border_prob: f32,
    #[serde(default)]
    pub border_max: f32,
    /// Probability of a stroke-width change (3×3 dilation or erosion).
    #[serde(default)]
    pub morph_prob: f32,
    /// Probability that a pair's second view is made from one of the image's
    /// nearest training images by gradient descriptor instead of the image itself
    /// (`engine::neighbour_positives`; needs the gradient descriptor).
    #[serde(default)]
    pub neighbour_positives: f32,
}

impl AugmentOptions {
    /// Defaults for small grayscale images such as handwritten digits: no
    /// flip (a mirrored 2 is not a 2) and no colour operations, but some
    /// rotation and shift because digits are written at varying slant.
    /// Tuned on MNIST in models/STUDY.md: at a 5-epoch budget, mild geometry beats
    /// SimCLR's strong crops; digits must never be mirrored.
    pub fn for_grayscale() -> Self {
        AugmentOptions {
            crop_scale: (0.6, 1.0),
            crop_ratio: (0.75, 1.333),
            max_rotation_deg: 10.0,
            max_translate: 0.05,
            brightness: 0.3,
            contrast: 0.3,
            saturation: 0.0,
            hue: 0.0,
            color_jitter_prob: 1.0,
            grayscale_prob: 0.0,
            flip: false,
            blur_prob: 0.2,
            blur_sigma: (0.1, 1.0),
            noise_std: 0.03,
            elastic: 3.0,
            border_prob: 0.0,
            border_max: 0.0,
            morph_prob: 0.0,
            neighbour_positives: 0.0,
        }
    }

    /// SimCLR's colour recipe with milder crops and hue/saturation jitter and an
    /// occasional frame, which find edited copies of a photo far better in
    /// models/STUDY.md (2026-11-28).
    pub fn for_color() -> Self {
        AugmentOptions {
            crop_scale: (0.5, 1.0),
            crop_ratio: (0.75, 1.333),
            max_rotation_deg: 0.0,
            max_translate: 0.0,
            brightness: 0.4,
            contrast: 0.4,
            saturation: 0.3,
            hue: 0.05,
            color_jitter_prob: 0.8,
            grayscale_prob: 0.2,
            flip: true,
            blur_prob: 0.3,
            blur_sigma: (0.1, 1.5),
            noise_std: 0.0,
            elastic: 0.0,
            border_prob: 0.2,
            border_max: 0.1,
            morph_prob: 0.0,
            neighbour_positives: 0.0,
        }
    }

    /// Stronger augmentation for long builds, where the milder defaults are learnt
    /// too well (models/STUDY.md, 2026-11-28: at about 100,000 images trained, stroke
    /// width changes lift digits from 0.93 to 0.94-0.95, and wider crops with some
    /// rotation lift colour near-duplicates from 0.79 to 0.84).
    pub fn strengthen_for_long_builds(&mut self, channels: u8) {
        if channels == 1 {
            self.morph_prob = 0.3;
        } else {
            self.crop_scale = (0.3, 1.0);
            self.max_rotation_deg = 10.0;
        }
    }

    /// Options under which `augment` only resizes (useful for tests and for
    /// checking that the geometry path matches plain preprocessing).
    #[cfg(test)]
    pub fn identity() -> Self {
        AugmentOptions {
            crop_scale: (1.0, 1.0),
            crop_ratio: (1.0, 1.0),
            max_rotation_deg: 0.0,
            max_translate: 0.0,
            brightness: 0.0,
            contrast: 0.0,
            saturation: 0.0,
            hue: 0.0,
            color_jitter_prob: 0.0,
            grayscale_prob: 0.0,
            flip: false,
            blur_prob: 0.0,
            blur_sigma: (0.0, 0.0),
            noise_std: 0.0,
            elastic: 0.0,
            border_prob: 0.0,
            border_max: 0.0,
            morph_prob: 0.0,
            neighbour_positives: 0.0,
        }
    }
}

/// One augmented view, CHW f32 in [0,1], `channels` (1 or 3) × size × size.
#[cfg_attr(not(test), allow(dead_code))] // the single-view form of augment_pairs
pub fn augment(base: &Picture, size: u32, channels: u8, opts: &AugmentOptions, rng: &mut impl Rng) -> Vec<f32> {
    let mut out = vec![0.0f32; view_len(size, channels)];
    augment_into(base, size, channels, opts, rng, &mut out);
    out
}

/// Two views per pair, N×C×size×size each, built in parallel: the first view
/// from the pair's first picture, the second from its second (the same picture,
/// or a neighbour: `engine::neighbour_positives`). Pair i gets its own RNG
/// seeded from (seed, epoch, step, i), so the batch is the same whatever the
/// thread count or scheduling.
pub fn augment_pairs(
    pairs: &[(&Picture, &Picture)],
    size: u32,
    channels: u8,
    opts: &AugmentOptions,
    seed: u64,
    epoch: u32,
    step: u32,
) -> (Vec<f32>, Vec<f32>) {
    let len = view_len(size, channels);
    let mut first = vec![0.0f32; pairs.len() * len];
    let mut second = vec![0.0f32; pairs.len() * len];
    if len == 0 {
        return (first, second);
    }
    first
        .par_chunks_mut(len)
        .zip(second.par_chunks_mut(len))
        .enumerate()
        .with_min_len(8) // a view costs microseconds; don't pay a task per view
        .for_each(|(i, (a, b))| {
            let mut rng = ChaCha8Rng::seed_from_u64(view_seed(seed, epoch, step, i as u64));
            augment_into(pairs[i].0, size, channels, opts, &mut rng, a);
            augment_into(pairs[i].1, size, channels, opts, &mut rng, b);
        });
    (first, second)
}

fn view_len(size: u32, channels: u8) -> usize {
    assert!(channels == 1 || channels == 3, "channels must be 1 or 3, got {channels}");
    channels as usize * size as usize * size as usize
}

/// SplitMix64 finaliser: spreads nearby inputs (step, step+1) to unrelated seeds.
pub(super) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn view_seed(seed: u64, epoch: u32, step: u32, index: u64) -> u64 {
    let mut h = mix64(seed ^ 0x9E37_79B9_7F4A_7C15);
    for part in [epoch as u64, step as u64, index] {
        h = mix64(h ^ part.wrapping_add(0x9E37_79B9_7F4A_7C15));
    }
    h
}

fn augment_into<R: Rng + ?Sized>(
    base: &Picture,
    size: u32,
    channels: u8,
    opts: &AugmentOptions,
    rng: &mut R,
    out: &mut [f32],
) {
    let size = size as usize;
    let plane = size * size;
    let (map, scale) = random_geometry(base, size, opts, rng);
    let warp: Option<Vec<(f32, f32)>> = (opts.elastic > 0.0).then(|| {
        // Output-pixel offsets in base pixels: the crop's base pixels per output pixel.
        distort::elastic_field(size, opts.elastic, rng)
            .into_iter()
            .map(|(dx, dy)| (dx * scale.0, dy * scale.1))
            .collect()
    });
    sample_affine(base, &map, warp.as_deref(), size, channels, out);

    if channels == 3 {
        if chance(rng, opts.color_jitter_prob) {
            color_jitter(out, plane, opts, rng);
        }
        if chance(rng, opts.grayscale_prob) {
            to_gray_in_place(out, plane);
        }
    } else if chance(rng, opts.color_jitter_prob) {
        gray_jitter(out, opts, rng);
    }
    if chance(rng, opts.border_prob) {
        distort::add_border(out, size, opts.border_max, rng);
    }
    if chance(rng, opts.morph_prob) {
        distort::change_stroke_width(out, size, rng);
    }
    if chance(rng, opts.blur_prob) {
        let sigma = uniform(rng, opts.blur_sigma.0, opts.blur_sigma.1);
        gaussian_blur(out, size, sigma);
    }
    if opts.noise_std > 0.0 {
        add_noise(out, opts.noise_std, rng);
    }
    out.iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0));
}

fn chance<R: Rng + ?Sized>(rng: &mut R, p: f32) -> bool {
    p > 0.0 && rng.random::<f32>() < p
}

/// Uniform in [lo, hi]; tolerates lo == hi or swapped bounds from hand-edited options.
pub(super) fn uniform<R: Rng + ?Sized>(rng: &mut R, lo: f32, hi: f32) -> f32 {
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
    lo + (hi - lo) * rng.random::<f32>()
}

pub(super) fn jitter_factor<R: Rng + ?Sized>(rng: &mut R, strength: f32) -> f32 {
    uniform(rng, (1.0 - strength).max(0.0), 1.0 + strength)
}

/// Output pixel (u, v) samples the base at (a·u + b·v + c, d·u + e·v + f),
/// in continuous coordinates where pixel k spans [k, k+1).
#[derive(Clone, Copy, Debug)]
struct Affine {
    a: f32,
    b: f32,
    c: f32,
    d: f32,
    e: f32,
    f: f32,
}

/// A crop of the base: centre and size in base pixels.
struct Crop {
    cx: f32,
    cy: f32,
    w: f32,
    h: f32,
}

/// torchvision's RandomResizedCrop choice, on continuous coordinates.
fn random_crop<R: Rng + ?Sized>(width: f32, height: f32, opts: &AugmentOptions, rng: &mut R) -> Crop {
    let area = width * height;
    let (log_lo, log_hi) = (opts.crop_ratio.0.max(1e-3).ln(), opts.crop_ratio.1.max(1e-3).ln());
    for _ in 0..10 {
        let target = area * uniform(rng, opts.crop_scale.0, opts.crop_scale.1);
        let ratio = uniform(rng, log_lo, log_hi).exp();
        let w = (target * ratio).sqrt();
        let h = (target / ratio).sqrt();
        if w > 0.0 && h > 0.0 && w <= width && h <= height {
            let cx = w / 2.0 + rng.random::<f32>() * (width - w);
            let cy = h / 2.0 + rng.random::<f32>() * (height - h);
            return Crop { cx, cy, w, h };
        }
    }
    // No sampled crop fitted: take the largest centred crop whose aspect is in range.
    let (ratio_lo, ratio_hi) = (opts.crop_ratio.0.min(opts.crop_ratio.1), opts.crop_ratio.0.max(opts.crop_ratio.1));
    let in_ratio = width / height;
    let (w, h) = if in_ratio < ratio_lo {
        (width, width / ratio_lo)
    } else if in_ratio > ratio_hi {
        (height * ratio_hi, height)
    } else {
        (width, height)
    };
    Crop { cx: width / 2.0, cy: height / 2.0, w, h }
}

/// The view's map from output to base pixels, and how many base pixels one output
/// pixel spans along x and y (the crop's scale, for the elastic warp).
fn random_geometry<R: Rng + ?Sized>(
    base: &Picture,
    size: usize,
    opts: &AugmentOptions,
    rng: &mut R,
) -> (Affine, (f32, f32)) {
    let crop = random_crop(base.width as f32, base.height as f32, opts, rng);
    let angle = if opts.max_rotation_deg > 0.0 {
        uniform(rng, -opts.max_rotation_deg, opts.max_rotation_deg).to_radians()
    } else {
        0.0
    };
    let (tx, ty) = if opts.max_translate > 0.0 {
        (uniform(rng, -opts.max_translate, opts.max_translate), uniform(rng, -opts.max_translate, opts.max_translate))
    } else {
        (0.0, 0.0)
    };
    let mirror = if opts.flip && rng.random::<bool>() { -1.0 } else { 1.0 };
    let (sin, cos) = angle.sin_cos();
    let n = size as f32;

    // Inverse of: crop → resize to the square → flip → rotate → translate,
    // worked in square normalised output coordinates so rotation is a true
    // rotation of the final view even when the crop's aspect differs.
    let source_of = |u: f32, v: f32| -> (f32, f32) {
        let ox = (u + 0.5) / n - 0.5 - tx;
        let oy = (v + 0.5) / n - 0.5 - ty;
        let qx = (cos * ox + sin * oy) * mirror;
        let qy = -sin * ox + cos * oy;
        (crop.cx + qx * crop.w, crop.cy + qy * crop.h)
    };
    let (c, f) = source_of(0.0, 0.0);
    let (x1, y1) = source_of(1.0, 0.0);
    let (x2, y2) = source_of(0.0, 1.0);
    (Affine { a: x1 - c, b: x2 - c, c, d: y1 - f, e: y2 - f, f }, (crop.w / n, crop.h / n))
}

/// Bilinear sampling of the base through `map` (plus `warp`, per-pixel offsets in
/// base pixels) into CHW output on [0,1], converting channel count on the way.
fn sample_affine(
    base: &Picture,
    map: &Affine,
    warp: Option<&[(f32, f32)]>,
    size: usize,
    channels: u8,
    out: &mut [f32],
) {
    // Monomorphised per channel layout so the inner loop has no branches.
    match (base.channels, channels) {
        (1, 1) => sample_into::<1>(base, map, warp, size, out, |o, i, _, [g]| o[i] = g),
        (1, _) => sample_into::<1>(base, map, warp, size, out, |o, i, plane, [g]| {
            o[i] = g;
            o[plane + i] = g;
            o[2 * plane + i] = g;
        }),
        (_, 1) => sample_into::<3>(base, map, warp, size, out, |o, i, _, [r, g, b]| {
            o[i] = LUMA_WEIGHTS[0] * r + LUMA_WEIGHTS[1] * g + LUMA_WEIGHTS[2] * b
        }),
        _ => sample_into::<3>(base, map, warp, size, out, |o, i, plane, [r, g, b]| {
            o[i] = r;
            o[plane + i] = g;
            o[2 * plane + i] = b;
        }),
    }
}

/// Fixed-point scale of sampling coordinates: 16 fractional bits is 1/65536
/// of a pixel, far finer than any visible difference.
const FIX_ONE: i64 = 1 << 16;

#[inline(always)]
fn sample_into<const BC: usize>(
    base: &Picture,
    map: &Affine,
    warp: Option<&[(f32, f32)]>,
    size: usize,
    out: &mut [f32],
    store: impl Fn(&mut [f32], usize, usize, [f32; BC]),
) {
    let plane = size * size;
    let stride = base.width as usize * BC;
    // Coordinates walk along each output row in fixed point: integer adds and
    // clamps instead of float-to-int conversions per pixel. Clamping the
    // coordinate (not the indices) gives the same edge replication.
    let to_fix = |v: f32| (v as f64 * FIX_ONE as f64).round() as i64;
    let (max_x, max_y) = ((base.width as i64 - 1) * FIX_ONE, (base.height as i64 - 1) * FIX_ONE);
    let (step_x, step_y) = ((base.width > 1) as usize, (base.height > 1) as usize);
    let (last_x0, last_y0) = (base.width as usize - 1 - step_x, base.height as usize - 1 - step_y);
    let (dx, dy) = (to_fix(map.a), to_fix(map.d));
    let px = &base.pixels[..];
    let axis = |max: i64, last0: usize, step: usize, scale: usize| {
        move |fixed: i64| {
            let c = fixed.clamp(0, max);
            // At the far edge i0 steps back one so i0+1 stays inside; the fraction then reaches 1.
            let i0 = ((c >> 16) as usize).min(last0);
            let frac = (c - ((i0 as i64) << 16)) as f32 * (1.0 / FIX_ONE as f32);
            (i0 * scale, (i0 + step) * scale, frac)
        }
    };
    let x_tap = axis(max_x, last_x0, step_x, BC);
    let y_tap = axis(max_y, last_y0, step_y, stride);
    let lerp = |xa: usize, xb: usize, fx: f32, ya: usize, yb: usize, fy: f32| {
        let (w00, w01) = ((1.0 - fx) * (1.0 - fy), fx * (1.0 - fy));
        let (w10, w11) = ((1.0 - fx) * fy, fx * fy);
        let mut value = [0.0f32; BC];
        for (c, slot) in value.iter_mut().enumerate() {
            let sum = w00 * px[ya + xa + c] as f32
                + w01 * px[ya + xb + c] as f32
                + w10 * px[yb + xa + c] as f32
                + w11 * px[yb + xb + c] as f32;
            *slot = sum * (1.0 / 255.0);
        }
        value
    };

    // -0.5 moves from continuous coordinates to pixel-centre indices.
    if let Some(warp) = warp {
        // Every pixel has its own offset: plain per-pixel coordinates.
        for v in 0..size {
            for u in 0..size {
                let (ox, oy) = warp[v * size + u];
                let (uf, vf) = (u as f32, v as f32);
                let (xa, xb, fx) = x_tap(to_fix(map.a * uf + map.b * vf + map.c - 0.5 + ox));
                let (ya, yb, fy) = y_tap(to_fix(map.d * uf + map.e * vf + map.f - 0.5 + oy));
                store(out, v * size + u, plane, lerp(xa, xb, fx, ya, yb, fy));
            }
        }
        return;
    }
    if map.b == 0.0 && map.d == 0.0 {
        // No rotation: x depends only on u and y only on v, so the taps are
        // computed once per column and once per row.
        let columns: Vec<_> = (0..size).map(|u| x_tap(to_fix(map.c - 0.5) + dx * u as i64)).collect();
        for v in 0..size {
            let (ya, yb, fy) = y_tap(to_fix(map.e * v as f32 + map.f - 0.5));
            for (u, &(xa, xb, fx)) in columns.iter().enumerate() {
                store(out, v * size + u, plane, lerp(xa, xb, fx, ya, yb, fy));
            }
        }
        return;
    }
    for v in 0..size {
        let mut x = to_fix(map.b * v as f32 + map.c - 0.5);
        let mut y = to_fix(map.e * v as f32 + map.f - 0.5);
        for u in 0..size {
            let (xa, xb, fx) = x_tap(x);
            let (ya, yb, fy) = y_tap(y);
            x += dx;
            y += dy;
            store(out, v * size + u, plane, lerp(xa, xb, fx, ya, yb, fy));
        }
    }
}

#[cfg(test)]
#[path = "augment_tests.rs"]
mod tests;
