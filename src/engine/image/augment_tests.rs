//! Tests of `augment`: determinism, geometry, photometric ranges and the
//! agreement with models/study.py's reference augmentations.
use super::*;
use crate::engine::image::resize::to_tensor;

fn gradient_gray(w: u32, h: u32) -> Picture {
    Picture::new(w, h, 1, (0..w * h).map(|i| ((i % w) * 255 / (w - 1)) as u8).collect())
}

fn colour_picture(w: u32, h: u32) -> Picture {
    let pixels = (0..w * h)
        .flat_map(|i| {
            let (x, y) = (i % w, i / w);
            [(x * 255 / (w - 1)) as u8, (y * 255 / (h - 1)) as u8, 90]
        })
        .collect();
    Picture::new(w, h, 3, pixels)
}

/// Left half bright, right half dark.
fn left_bright(size: u32) -> Picture {
    Picture::new(size, size, 1, (0..size * size).map(|i| if i % size < size / 2 { 255 } else { 0 }).collect())
}

fn halves(view: &[f32], size: usize) -> (f32, f32) {
    let (mut left, mut right) = (0.0, 0.0);
    for (i, v) in view[..size * size].iter().enumerate() {
        if i % size < size / 2 {
            left += v
        } else {
            right += v
        }
    }
    (left, right)
}

/// Each picture paired with itself: SimCLR's two views of one image.
fn pairs_of<'a>(bases: &[&'a Picture]) -> Vec<(&'a Picture, &'a Picture)> {
    bases.iter().map(|&b| (b, b)).collect()
}

#[test]
fn a_pairs_second_view_comes_from_its_second_picture() {
    let (a, b) = (gradient_gray(28, 28), left_bright(28));
    let opts = AugmentOptions::identity();
    let (first, second) = augment_pairs(&[(&a, &b), (&b, &b)], 28, 1, &opts, 7, 0, 0);
    assert_eq!(first[..784], augment(&a, 28, 1, &opts, &mut ChaCha8Rng::seed_from_u64(0))[..]);
    assert_eq!(second[..784], augment(&b, 28, 1, &opts, &mut ChaCha8Rng::seed_from_u64(0))[..]);
    assert_eq!(first[784..], second[784..]);
}

#[test]
fn same_seed_gives_identical_batch_and_shapes() {
    let (a, b) = (gradient_gray(28, 28), colour_picture(40, 30));
    let bases = [&a, &b, &a];
    let opts = AugmentOptions::for_color();
    let one = augment_pairs(&pairs_of(&bases), 32, 3, &opts, 7, 1, 2);
    let two = augment_pairs(&pairs_of(&bases), 32, 3, &opts, 7, 1, 2);
    assert_eq!(one, two);
    assert_eq!(one.0.len(), 3 * 3 * 32 * 32);
    assert_eq!(one.1.len(), 3 * 3 * 32 * 32);
    assert_ne!(one.0, one.1, "the two views should differ");
    assert!(one.0.iter().chain(&one.1).all(|v| (0.0..=1.0).contains(v)));
}

#[test]
fn result_does_not_depend_on_thread_count() {
    let a = colour_picture(36, 36);
    let bases: Vec<&Picture> = vec![&a; 40];
    let opts = AugmentOptions::for_color();
    let parallel = augment_pairs(&pairs_of(&bases), 16, 3, &opts, 3, 0, 5);
    let single = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| augment_pairs(&pairs_of(&bases), 16, 3, &opts, 3, 0, 5));
    assert_eq!(parallel, single);
}

#[test]
fn different_step_epoch_or_seed_changes_views() {
    let a = gradient_gray(28, 28);
    let opts = AugmentOptions::for_grayscale();
    let base = augment_pairs(&[(&a, &a)], 28, 1, &opts, 1, 0, 0);
    assert_ne!(base, augment_pairs(&[(&a, &a)], 28, 1, &opts, 1, 0, 1));
    assert_ne!(base, augment_pairs(&[(&a, &a)], 28, 1, &opts, 1, 1, 0));
    assert_ne!(base, augment_pairs(&[(&a, &a)], 28, 1, &opts, 2, 0, 0));
}

#[test]
fn identity_options_reproduce_to_tensor() {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let gray = gradient_gray(28, 28);
    let view = augment(&gray, 28, 1, &AugmentOptions::identity(), &mut rng);
    let plain = to_tensor(&gray, 28, 1);
    assert!(view.iter().zip(&plain).all(|(a, b)| (a - b).abs() < 1e-5));
    let colour = colour_picture(20, 20);
    let view = augment(&colour, 20, 3, &AugmentOptions::identity(), &mut rng);
    let plain = to_tensor(&colour, 20, 3);
    assert!(view.iter().zip(&plain).all(|(a, b)| (a - b).abs() < 1e-6));
    // Upscaling differs only by filter details.
    let up = augment(&gray, 56, 1, &AugmentOptions::identity(), &mut rng);
    let plain = to_tensor(&gray, 56, 1);
    assert!(up.iter().zip(&plain).all(|(a, b)| (a - b).abs() < 0.02));
}

#[test]
fn channel_conversion_in_views() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let gray = gradient_gray(8, 8);
    let view = augment(&gray, 8, 3, &AugmentOptions::identity(), &mut rng);
    assert_eq!(&view[..64], &view[64..128]);
    assert_eq!(&view[..64], &view[128..]);
    let colour = colour_picture(8, 8);
    let view = augment(&colour, 8, 1, &AugmentOptions::identity(), &mut rng);
    let luma = to_tensor(&colour, 8, 1);
    assert!(view.iter().zip(&luma).all(|(a, b)| (a - b).abs() < 1e-5));
}

#[test]
fn flip_turns_left_bright_into_right_bright() {
    let base = left_bright(16);
    let opts = AugmentOptions { flip: true, ..AugmentOptions::identity() };
    let mut flipped = 0;
    for seed in 0..32 {
        let view = augment(&base, 16, 1, &opts, &mut ChaCha8Rng::seed_from_u64(seed));
        let (left, right) = halves(&view, 16);
        if right > left {
            flipped += 1;
            let mirrored: Vec<f32> = to_tensor(&base, 16, 1)
                .chunks(16)
                .flat_map(|row| row.iter().rev().copied().collect::<Vec<_>>())
                .collect();
            assert_eq!(view, mirrored);
        }
    }
    assert!((8..=24).contains(&flipped), "flipped {flipped} of 32");
}

#[test]
fn grayscale_defaults_never_flip() {
    let base = left_bright(28);
    let opts = AugmentOptions::for_grayscale();
    let (one, two) = augment_pairs(&vec![(&base, &base); 64], 28, 1, &opts, 11, 0, 0);
    for view in one.chunks(784).chain(two.chunks(784)) {
        let (left, right) = halves(view, 28);
        assert!(left > right, "left {left} right {right}");
    }
}

#[test]
fn rotation_moves_content_and_keeps_black_background() {
    // A vertical white bar on black, clear of the edges. Corners sample
    // outside the base and must stay black (edge clamping of a black border).
    let size = 20u32;
    let in_bar = |i: u32| (9..11).contains(&(i % size)) && (2..18).contains(&(i / size));
    let bar = Picture::new(size, size, 1, (0..size * size).map(|i| if in_bar(i) { 255 } else { 0 }).collect());
    let opts = AugmentOptions { max_rotation_deg: 90.0, ..AugmentOptions::identity() };
    let mut moved = false;
    for seed in 0..50 {
        let view = augment(&bar, size, 1, &opts, &mut ChaCha8Rng::seed_from_u64(seed));
        assert!(view[0] < 0.05 && view[view.len() - 1] < 0.05);
        // Near the top, a tilted bar leaves its original columns.
        let top_row = &view[3 * size as usize..4 * size as usize];
        moved |= top_row.iter().enumerate().any(|(x, &v)| v > 0.5 && !(8..12).contains(&x));
    }
    assert!(moved, "rotation never moved the bar");
}

#[test]
fn photometric_ops_stay_in_range_and_change_values() {
    let base = colour_picture(24, 24);
    let opts = AugmentOptions {
        color_jitter_prob: 1.0,
        grayscale_prob: 0.0,
        blur_prob: 1.0,
        noise_std: 0.1,
        ..AugmentOptions::for_color()
    };
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for _ in 0..20 {
        let view = augment(&base, 24, 3, &opts, &mut rng);
        assert!(view.iter().all(|v| (0.0..=1.0).contains(v)));
    }
    let gray_opts = AugmentOptions { grayscale_prob: 1.0, ..AugmentOptions::identity() };
    let view = augment(&base, 24, 3, &gray_opts, &mut rng);
    assert_eq!(&view[..576], &view[576..1152]);
    assert_eq!(&view[..576], &view[1152..]);
}

#[test]
fn hue_rotation_by_a_full_turn_is_identity_and_half_turn_changes_colour() {
    let mut px = vec![0.8, 0.2, 0.3, 0.5, 0.4, 0.9];
    let orig = px.clone();
    rotate_hue(&mut px, 2, 1.0);
    assert!(px.iter().zip(&orig).all(|(a, b)| (a - b).abs() < 1e-3), "{px:?}");
    rotate_hue(&mut px, 2, 0.5);
    assert!(px[0] < px[2], "red should move towards blue/cyan: {px:?}");
}

#[test]
fn blur_smooths_an_edge_and_keeps_mean() {
    let mut view = to_tensor(&left_bright(16), 16, 1);
    let before: f32 = view.iter().sum();
    gaussian_blur(&mut view, 16, 1.0);
    let after: f32 = view.iter().sum();
    assert!((before - after).abs() < 1e-3);
    assert!(view[7] < 1.0 && view[8] > 0.0);
}

#[test]
fn noise_has_roughly_the_requested_spread() {
    let mut values = vec![0.5f32; 20_000];
    add_noise(&mut values, 0.1, &mut ChaCha8Rng::seed_from_u64(9));
    let mean = values.iter().sum::<f32>() / values.len() as f32;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / values.len() as f32;
    assert!((mean - 0.5).abs() < 0.005 && (var.sqrt() - 0.1).abs() < 0.005, "mean {mean} sd {}", var.sqrt());
}

#[test]
fn options_roundtrip_through_json() {
    let opts = AugmentOptions::for_color();
    let json = serde_json::to_string(&opts).unwrap();
    assert_eq!(serde_json::from_str::<AugmentOptions>(&json).unwrap(), opts);
}

/// `opts` with the stronger augmentation of long builds, the default at 100,000 images.
fn long_build(mut opts: AugmentOptions, channels: u8) -> AugmentOptions {
    opts.strengthen_for_long_builds(channels);
    opts
}

#[test]
#[ignore = "micro-benchmark; run with --ignored --nocapture in release"]
fn bench_views() {
    use std::time::Instant;
    let cases = [
        ("28x28 gray", gradient_gray(28, 28), 28u32, 1u8, AugmentOptions::for_grayscale()),
        ("32x32 colour", colour_picture(36, 36), 32, 3, AugmentOptions::for_color()),
        ("96x96 colour", colour_picture(110, 110), 96, 3, AugmentOptions::for_color()),
        ("32x32 colour, long build", colour_picture(58, 58), 32, 3, long_build(AugmentOptions::for_color(), 3)),
        ("28x28 gray, long build", gradient_gray(28, 28), 28, 1, long_build(AugmentOptions::for_grayscale(), 1)),
    ];
    for (name, base, size, channels, opts) in &cases {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let n = 20_000u32;
        let start = Instant::now();
        for _ in 0..n {
            std::hint::black_box(augment(base, *size, *channels, opts, &mut rng));
        }
        let single = start.elapsed().as_nanos() as f64 / n as f64;
        let bases = vec![(base, base); 256];
        let rounds = 50u32;
        let start = Instant::now();
        for step in 0..rounds {
            std::hint::black_box(augment_pairs(&bases, *size, *channels, opts, 0, 0, step));
        }
        let batch = start.elapsed().as_secs_f64() * 1e3 / rounds as f64;
        println!(
            "{name}: {single:.0} ns/view single-threaded; 512 views via augment_pairs: {batch:.2} ms on {} threads",
            rayon::current_num_threads()
        );
    }
}
