//! Photometric operations on an augmented view (f32 CHW in [0,1]), applied after
//! the geometry of `augment`: brightness, contrast, saturation and hue jitter,
//! grayscale, Gaussian blur and noise. Each works in place on the view.
use rand::Rng;

use super::augment::{jitter_factor, mix64, uniform, AugmentOptions};
use crate::engine::image::resize::LUMA_WEIGHTS;

pub(super) fn clamp_unit(values: &mut [f32]) {
    values.iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0));
}

pub(super) fn mean_luma(out: &[f32], plane: usize) -> f32 {
    let (r, g, b) = (&out[..plane], &out[plane..2 * plane], &out[2 * plane..]);
    let sum: f32 = (0..plane).map(|i| LUMA_WEIGHTS[0] * r[i] + LUMA_WEIGHTS[1] * g[i] + LUMA_WEIGHTS[2] * b[i]).sum();
    sum / plane as f32
}

pub(super) fn adjust_contrast(values: &mut [f32], mean: f32, factor: f32) {
    values.iter_mut().for_each(|v| *v = (*v - mean) * factor + mean);
    clamp_unit(values);
}

pub(super) fn adjust_brightness(values: &mut [f32], factor: f32) {
    values.iter_mut().for_each(|v| *v *= factor);
    clamp_unit(values);
}

/// Brightness and contrast only: there is no colour to jitter.
pub(super) fn gray_jitter<R: Rng + ?Sized>(out: &mut [f32], opts: &AugmentOptions, rng: &mut R) {
    let brightness_first = rng.random::<bool>();
    let b = jitter_factor(rng, opts.brightness);
    let c = jitter_factor(rng, opts.contrast);
    let contrast = |out: &mut [f32]| {
        let mean = out.iter().sum::<f32>() / out.len() as f32;
        adjust_contrast(out, mean, c);
    };
    if brightness_first {
        adjust_brightness(out, b);
        contrast(out);
    } else {
        contrast(out);
        adjust_brightness(out, b);
    }
}

/// torchvision ColorJitter: the four adjustments in a random order, each clamped.
pub(super) fn color_jitter<R: Rng + ?Sized>(out: &mut [f32], plane: usize, opts: &AugmentOptions, rng: &mut R) {
    let mut order = [0u8, 1, 2, 3];
    for i in (1..order.len()).rev() {
        order.swap(i, rng.random_range(0..=i));
    }
    let brightness = jitter_factor(rng, opts.brightness);
    let contrast = jitter_factor(rng, opts.contrast);
    let saturation = jitter_factor(rng, opts.saturation);
    let hue = uniform(rng, -opts.hue, opts.hue);
    for op in order {
        match op {
            0 => adjust_brightness(out, brightness),
            1 => {
                let mean = mean_luma(out, plane);
                adjust_contrast(out, mean, contrast);
            }
            2 => adjust_saturation(out, plane, saturation),
            _ => rotate_hue(out, plane, hue),
        }
    }
}

pub(super) fn adjust_saturation(out: &mut [f32], plane: usize, factor: f32) {
    if factor == 1.0 {
        return;
    }
    let (r, rest) = out.split_at_mut(plane);
    let (g, b) = rest.split_at_mut(plane);
    for i in 0..plane {
        let y = LUMA_WEIGHTS[0] * r[i] + LUMA_WEIGHTS[1] * g[i] + LUMA_WEIGHTS[2] * b[i];
        r[i] = (y + (r[i] - y) * factor).clamp(0.0, 1.0);
        g[i] = (y + (g[i] - y) * factor).clamp(0.0, 1.0);
        b[i] = (y + (b[i] - y) * factor).clamp(0.0, 1.0);
    }
}

/// Hue shift as a rotation of the chroma plane in YIQ space: one 3×3 matrix
/// per view instead of a per-pixel HSV round trip.
pub(super) fn rotate_hue(out: &mut [f32], plane: usize, turns: f32) {
    if turns == 0.0 {
        return;
    }
    const TO_YIQ: [[f32; 3]; 3] = [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]];
    const FROM_YIQ: [[f32; 3]; 3] = [[1.0, 0.956, 0.621], [1.0, -0.272, -0.647], [1.0, -1.106, 1.703]];
    let (sin, cos) = (turns * std::f32::consts::TAU).sin_cos();
    let rotate = [[1.0, 0.0, 0.0], [0.0, cos, -sin], [0.0, sin, cos]];
    let m = matmul3(&FROM_YIQ, &matmul3(&rotate, &TO_YIQ));
    let (r, rest) = out.split_at_mut(plane);
    let (g, b) = rest.split_at_mut(plane);
    for i in 0..plane {
        let (x, y, z) = (r[i], g[i], b[i]);
        r[i] = (m[0][0] * x + m[0][1] * y + m[0][2] * z).clamp(0.0, 1.0);
        g[i] = (m[1][0] * x + m[1][1] * y + m[1][2] * z).clamp(0.0, 1.0);
        b[i] = (m[2][0] * x + m[2][1] * y + m[2][2] * z).clamp(0.0, 1.0);
    }
}

pub(super) fn matmul3(a: &[[f32; 3]; 3], b: &[[f32; 3]; 3]) -> [[f32; 3]; 3] {
    let mut m = [[0.0; 3]; 3];
    for (i, row) in m.iter_mut().enumerate() {
        for (j, cell) in row.iter_mut().enumerate() {
            *cell = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    m
}

pub(super) fn to_gray_in_place(out: &mut [f32], plane: usize) {
    let (r, rest) = out.split_at_mut(plane);
    let (g, b) = rest.split_at_mut(plane);
    for i in 0..plane {
        let y = LUMA_WEIGHTS[0] * r[i] + LUMA_WEIGHTS[1] * g[i] + LUMA_WEIGHTS[2] * b[i];
        (r[i], g[i], b[i]) = (y, y, y);
    }
}

/// Separable gaussian blur of every size×size plane, radius ⌈2σ⌉, edges clamped.
pub(super) fn gaussian_blur(out: &mut [f32], size: usize, sigma: f32) {
    if sigma <= 0.0 || size < 2 {
        return;
    }
    let radius = ((2.0 * sigma).ceil() as usize).clamp(1, size);
    let mut kernel: Vec<f32> = (0..=2 * radius)
        .map(|k| {
            let d = k as f32 - radius as f32;
            (-d * d / (2.0 * sigma * sigma)).exp()
        })
        .collect();
    let sum: f32 = kernel.iter().sum();
    kernel.iter_mut().for_each(|w| *w /= sum);

    // Whole-row passes over an edge-padded copy: no per-tap index clamping,
    // and the inner loops are plain axpy that the compiler vectorises.
    let mut padded = vec![0.0f32; size + 2 * radius];
    let mut rows = vec![0.0f32; size * size];
    for p in out.chunks_exact_mut(size * size) {
        for (src, dst) in p.chunks_exact(size).zip(rows.chunks_exact_mut(size)) {
            padded[..radius].fill(src[0]);
            padded[radius..radius + size].copy_from_slice(src);
            padded[radius + size..].fill(src[size - 1]);
            dst.fill(0.0);
            for (k, &w) in kernel.iter().enumerate() {
                dst.iter_mut().zip(&padded[k..k + size]).for_each(|(d, &s)| *d += w * s);
            }
        }
        for (y, dst) in p.chunks_exact_mut(size).enumerate() {
            dst.fill(0.0);
            for (k, &w) in kernel.iter().enumerate() {
                let src_row = (y + k).saturating_sub(radius).min(size - 1);
                let src = &rows[src_row * size..(src_row + 1) * size];
                dst.iter_mut().zip(src).for_each(|(d, &s)| *d += w * s);
            }
        }
    }
}

/// Approximately gaussian noise: the sum of four 16-bit uniforms (Irwin–Hall),
/// far cheaper than Box–Muller and indistinguishable for augmentation (tails
/// cut at ±3.5σ). The words come from a SplitMix64 stream seeded once from
/// `rng`: still deterministic, at a fraction of ChaCha's cost per word.
pub(super) fn add_noise<R: Rng + ?Sized>(out: &mut [f32], std: f32, rng: &mut R) {
    // Four U(0,1) sum to mean 2, variance 1/3.
    let scale = std * 3.0f32.sqrt() / 65535.0;
    let mut state = rng.next_u64();
    for v in out.iter_mut() {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let w = mix64(state);
        let sum = (w & 0xFFFF) + ((w >> 16) & 0xFFFF) + ((w >> 32) & 0xFFFF) + (w >> 48);
        *v += (sum as f32 - 2.0 * 65535.0) * scale;
    }
}
