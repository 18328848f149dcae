//! Augmentations beyond SimCLR's list that measured well in models/STUDY.md
//! (2026-11-28): an elastic warp (a smooth random displacement, the way one
//! person's handwriting varies from another's), a solid frame around a shrunken
//! view (the borders people add to photos) and stroke-width changes (3×3 grey
//! dilation or erosion). They mirror `models/quality_harness.py:augment_batch`.
use rand::Rng;

/// Points of the elastic warp's random grid per side; the displacement between
/// them is bilinear, so the warp is smooth at the scale of a quarter of the view.
pub const ELASTIC_GRID: usize = 4;

/// A smooth random displacement per output pixel, in output pixels: a grid of
/// `ELASTIC_GRID`² offsets drawn from [-alpha, alpha] for x and y, bilinearly
/// interpolated over the size×size view. Row-major, (dx, dy) per pixel.
pub fn elastic_field<R: Rng + ?Sized>(size: usize, alpha: f32, rng: &mut R) -> Vec<(f32, f32)> {
    let k = ELASTIC_GRID;
    let knots: Vec<(f32, f32)> = (0..k * k)
        .map(|_| (alpha * rng.random_range(-1.0..=1.0f32), alpha * rng.random_range(-1.0..=1.0f32)))
        .collect();
    // Where each output row/column falls between the knots, as (lower knot, fraction).
    let taps: Vec<(usize, f32)> = (0..size)
        .map(|i| {
            let t = (((i as f32 + 0.5) / size as f32) * (k - 1) as f32).clamp(0.0, (k - 1) as f32);
            let lower = (t.floor() as usize).min(k - 2);
            (lower, t - lower as f32)
        })
        .collect();
    let mut field = Vec::with_capacity(size * size);
    for &(y0, fy) in &taps {
        for &(x0, fx) in &taps {
            let at = |y: usize, x: usize| knots[y * k + x];
            let lerp = |a: (f32, f32), b: (f32, f32), f: f32| (a.0 + (b.0 - a.0) * f, a.1 + (b.1 - a.1) * f);
            let top = lerp(at(y0, x0), at(y0, x0 + 1), fx);
            let bottom = lerp(at(y0 + 1, x0), at(y0 + 1, x0 + 1), fx);
            field.push(lerp(top, bottom, fy));
        }
    }
    field
}

/// Shrinks the CHW view into a solid frame of a random colour whose width is a
/// random 2 %..`max_fraction` of the side (nearest-neighbour shrink, like the
/// Python reference). Views too small to keep 4 inner pixels are left alone.
pub fn add_border<R: Rng + ?Sized>(out: &mut [f32], size: usize, max_fraction: f32, rng: &mut R) {
    let fraction = rng.random_range(0.02f32..=max_fraction.max(0.02));
    let width = ((fraction * size as f32).round() as usize).max(1);
    let plane = size * size;
    let channels = out.len() / plane;
    let colour: Vec<f32> = (0..channels).map(|_| rng.random::<f32>()).collect();
    let Some(inner) = size.checked_sub(2 * width).filter(|&k| k >= 4) else { return };
    let source: Vec<usize> =
        (0..inner).map(|j| (((j as f32 + 0.5) * size as f32 / inner as f32) as usize).min(size - 1)).collect();
    for (p, &c) in out.chunks_exact_mut(plane).zip(&colour) {
        let view = p.to_vec();
        p.fill(c);
        for (i, &sy) in source.iter().enumerate() {
            let row = &mut p[(width + i) * size + width..(width + i) * size + width + inner];
            for (dst, &sx) in row.iter_mut().zip(&source) {
                *dst = view[sy * size + sx];
            }
        }
    }
}

/// Thickens (dilation: the 3×3 maximum) or thins (erosion: the minimum) strokes,
/// each with probability one half, edges replicated.
pub fn change_stroke_width<R: Rng + ?Sized>(out: &mut [f32], size: usize, rng: &mut R) {
    let dilate = rng.random::<bool>();
    let plane = size * size;
    for p in out.chunks_exact_mut(plane) {
        let view = p.to_vec();
        for y in 0..size {
            for x in 0..size {
                let mut value = view[y * size + x];
                for ny in y.saturating_sub(1)..=(y + 1).min(size - 1) {
                    for nx in x.saturating_sub(1)..=(x + 1).min(size - 1) {
                        let v = view[ny * size + nx];
                        value = if dilate { value.max(v) } else { value.min(v) };
                    }
                }
                p[y * size + x] = value;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn the_elastic_field_is_smooth_bounded_and_seeded() {
        let field = elastic_field(28, 3.0, &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(field.len(), 28 * 28);
        assert!(field.iter().all(|&(dx, dy)| dx.abs() <= 3.0 && dy.abs() <= 3.0));
        // Neighbouring pixels move nearly together: at most 2·alpha over a knot spacing of 9 px.
        for y in 0..28 {
            for x in 1..28 {
                let (a, b) = (field[y * 28 + x - 1], field[y * 28 + x]);
                assert!((a.0 - b.0).abs() <= 6.0 / 9.0 + 1e-5 && (a.1 - b.1).abs() <= 6.0 / 9.0 + 1e-5);
            }
        }
        assert_eq!(field, elastic_field(28, 3.0, &mut ChaCha8Rng::seed_from_u64(1)));
        assert_ne!(field, elastic_field(28, 3.0, &mut ChaCha8Rng::seed_from_u64(2)));
    }

    #[test]
    fn a_border_frames_a_shrunken_view() {
        let size = 20;
        let mut view: Vec<f32> = (0..size * size).map(|i| (i % size) as f32 / size as f32).collect();
        add_border(&mut view, size, 0.1, &mut ChaCha8Rng::seed_from_u64(3));
        let corner = view[0];
        assert!((0..size).all(|x| view[x] == corner && view[(size - 1) * size + x] == corner), "top and bottom rows");
        let middle = &view[10 * size..11 * size];
        assert!(middle.windows(2).filter(|w| w[1] > w[0]).count() >= 10, "the gradient survives inside: {middle:?}");
    }

    #[test]
    fn stroke_width_changes_grow_or_shrink_a_dot() {
        let size = 7;
        let dot = |v: &mut Vec<f32>| v[3 * size + 3] = 1.0;
        let (mut grown, mut shrunk) = (0, 0);
        for seed in 0..20 {
            let mut view = vec![0.0f32; size * size];
            dot(&mut view);
            change_stroke_width(&mut view, size, &mut ChaCha8Rng::seed_from_u64(seed));
            match view.iter().filter(|&&v| v == 1.0).count() {
                9 => grown += 1,
                0 => shrunk += 1,
                n => panic!("a one-pixel dot became {n} pixels"),
            }
        }
        assert!(grown > 0 && shrunk > 0);
    }
}
