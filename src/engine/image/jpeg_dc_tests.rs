//! The 1/8-scale DC decoder against the full decoder: every fixture of
//! test/data/jpeg (written by make_fixtures.py) and JPEGs from the `image`
//! crate's encoder must match the full decode averaged over 8×8 blocks.
use super::*;
use crate::engine::image::decode::{decode_bytes, DecodeLimits};
use image::{DynamicImage, GrayImage, ImageFormat, Luma, Rgb, RgbImage};

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("../../../test/data/jpeg/", $name)).as_slice()
    };
}

/// The full decode shrunk by averaging each 8×8 block (the pixels inside the image).
pub(crate) fn block_means(full: &Picture) -> Picture {
    let (w, h, c) = (full.width.div_ceil(8), full.height.div_ceil(8), full.channels as usize);
    let mut out = Vec::with_capacity((w * h) as usize * c);
    for by in 0..h {
        for bx in 0..w {
            let (x0, y0) = (bx * 8, by * 8);
            let (x1, y1) = ((x0 + 8).min(full.width), (y0 + 8).min(full.height));
            for ch in 0..c {
                let mut sum = 0u32;
                for y in y0..y1 {
                    for x in x0..x1 {
                        sum += full.pixels[((y * full.width + x) as usize) * c + ch] as u32;
                    }
                }
                let n = (x1 - x0) * (y1 - y0);
                out.push(((sum + n / 2) / n) as u8);
            }
        }
    }
    Picture::new(w, h, c as u8, out)
}

/// Peak signal-to-noise ratio in dB between two pictures of one shape.
pub(crate) fn psnr(a: &Picture, b: &Picture) -> f64 {
    assert_eq!((a.width, a.height, a.channels), (b.width, b.height, b.channels));
    let mse = a.pixels.iter().zip(&b.pixels).map(|(&x, &y)| (x as f64 - y as f64).powi(2)).sum::<f64>()
        / a.pixels.len() as f64;
    10.0 * (255.0f64 * 255.0 / mse.max(1e-9)).log10()
}

fn full(bytes: &[u8]) -> Picture {
    decode_bytes(bytes, "t", &DecodeLimits::default()).unwrap()
}

fn assert_matches_full_decode(name: &str, bytes: &[u8], min_psnr: f64) {
    let eighth = decode_eighth(bytes).unwrap_or_else(|e| panic!("{name}: {e:?}"));
    let reference = block_means(&full(bytes));
    assert_eq!((eighth.width, eighth.height, eighth.channels), (reference.width, reference.height, reference.channels));
    let db = psnr(&eighth, &reference);
    assert!(db >= min_psnr, "{name}: {db:.1} dB");
    println!("{name}: {db:.1} dB");
    assert_eq!(dimensions(bytes), Some((full(bytes).width, full(bytes).height)), "{name}");
}

/// Without chroma subsampling the DC is the block mean up to rounding (over
/// 40 dB). Subsampled chroma is upsampled differently by the two decoders
/// (linear between 1/8-scale block centres here, at full size there) and the
/// fixture's per-pixel colour noise and thin white lines make that difference
/// as large as it gets; the 40 real photos give 30.7 to 59 dB
/// (`large_photos_match_the_full_decode`). A decoding bug gives under 15 dB.
#[test]
fn fixtures_match_the_full_decode() {
    for (name, bytes, min_db) in [
        ("progressive_420.jpg", fixture!("progressive_420.jpg"), 24.0),
        ("baseline_422_restart.jpg", fixture!("baseline_422_restart.jpg"), 24.0),
        ("progressive_444_restart.jpg", fixture!("progressive_444_restart.jpg"), 40.0),
        ("progressive_gray.jpg", fixture!("progressive_gray.jpg"), 40.0),
        ("baseline_gray.jpg", fixture!("baseline_gray.jpg"), 40.0),
    ] {
        assert_matches_full_decode(name, bytes, min_db);
    }
}

#[test]
fn encoder_output_of_odd_sizes_matches() {
    for (w, h) in [(1, 1), (7, 9), (8, 8), (17, 33), (203, 157)] {
        let rgb =
            RgbImage::from_fn(w, h, |x, y| Rgb([(x * 7 % 256) as u8, (y * 5 % 256) as u8, ((x + y) % 200) as u8]));
        let jpeg = crate::engine::image::decode::tests::encode(&DynamicImage::ImageRgb8(rgb), ImageFormat::Jpeg);
        assert_matches_full_decode(&format!("{w}x{h}"), &jpeg, 30.0);
        let gray = GrayImage::from_fn(w, h, |x, y| Luma([((x * 3 + y * 11) % 256) as u8]));
        let jpeg = crate::engine::image::decode::tests::encode(&DynamicImage::ImageLuma8(gray), ImageFormat::Jpeg);
        assert_matches_full_decode(&format!("gray {w}x{h}"), &jpeg, 30.0);
    }
}

#[test]
fn other_formats_and_unusual_jpegs_are_left_to_the_full_decoder() {
    let png =
        crate::engine::image::decode::tests::encode(&DynamicImage::ImageRgb8(RgbImage::new(16, 16)), ImageFormat::Png);
    assert!(decode_eighth(&png).is_err());
    assert_eq!(dimensions(&png), None);
    let cmyk = include_bytes!("../../../test/data/cmyk.jpg");
    assert!(decode_eighth(cmyk).is_err(), "four components go to the full decoder");
    // 12-bit samples: the precision byte of the frame header.
    let mut twelve = fixture!("baseline_gray.jpg").to_vec();
    let sof = twelve.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    twelve[sof + 4] = 12;
    assert_eq!(decode_eighth(&twelve), Err(Unsupported("not 8-bit samples")));
}

#[test]
fn damaged_streams_are_errors_not_panics() {
    let good = fixture!("progressive_444_restart.jpg");
    for cut in (0..good.len()).step_by(97) {
        assert!(decode_eighth(&good[..cut]).is_err(), "cut at {cut}");
    }
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for bytes in [good, fixture!("baseline_422_restart.jpg"), fixture!("progressive_gray.jpg")] {
        for _ in 0..300 {
            let mut bad = bytes.to_vec();
            for _ in 0..1 + next() % 4 {
                let i = (next() as usize) % bad.len();
                bad[i] ^= (next() as u8) | 1;
            }
            let _ = decode_eighth(&bad);
        }
    }
}

/// The list of photos benches/large_photos.sh writes, or the file that
/// IMAGE_SEARCH_PHOTO_LIST names.
fn large_photo_list() -> String {
    let path = std::env::var("IMAGE_SEARCH_PHOTO_LIST").unwrap_or("/tmp/image_search_large_photos.txt".into());
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e} (run benches/large_photos.sh first)"))
}

/// The large photos of benches/large_photos.sh against the full decode, with
/// times: `cargo test --release --lib jpeg_dc -- --ignored --nocapture`.
#[test]
#[ignore]
fn large_photos_match_the_full_decode() {
    let list = large_photo_list();
    let (mut full_s, mut dc_s, mut worst) = (0.0, 0.0, f64::MAX);
    for path in list.lines().filter(|l| !l.is_empty()) {
        let bytes = std::fs::read(path).unwrap();
        let t = std::time::Instant::now();
        let reference = full(&bytes);
        full_s += t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        let eighth = decode_eighth(&bytes);
        let dc_ms = t.elapsed().as_secs_f64() * 1000.0;
        dc_s += dc_ms / 1000.0;
        match eighth {
            Ok(eighth) => {
                let db = psnr(&eighth, &block_means(&reference));
                worst = worst.min(db);
                println!("{db:5.1} dB {dc_ms:6.1} ms  {}x{}  {path}", reference.width, reference.height);
            }
            Err(e) => println!("full decode ({e:?})  {path}"),
        }
    }
    println!("full decode {:.1} s, 1/8 DC decode {:.2} s, worst PSNR {worst:.1} dB", full_s, dc_s);
    assert!(worst >= 30.0);
}

/// CPU time this thread has run, in ms (Linux): on a machine shared with other
/// work, wall-clock times of one thread swing with the load, CPU time much less.
fn thread_cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").expect("Linux schedstat");
    stat.split_whitespace().next().and_then(|ns| ns.parse::<f64>().ok()).expect("run time in ns") / 1e6
}

/// Only the DC decodes of the large photos, 5 passes (for `perf stat`), with
/// each photo's least CPU time and the sums for baseline and progressive files:
/// `cargo test --release --lib large_photos_dc_only -- --ignored --nocapture`.
#[test]
#[ignore]
fn large_photos_dc_only() {
    let list = large_photo_list();
    let files: Vec<(&str, Vec<u8>)> =
        list.lines().filter(|l| !l.is_empty()).map(|p| (p, std::fs::read(p).unwrap())).collect();
    let mut best = vec![f64::MAX; files.len()];
    let t = thread_cpu_ms();
    for _ in 0..5 {
        for ((_, bytes), best) in files.iter().zip(&mut best) {
            let start = thread_cpu_ms();
            decode_eighth(bytes).unwrap();
            *best = best.min(thread_cpu_ms() - start);
        }
    }
    let mean = (thread_cpu_ms() - t) / (5 * files.len()) as f64;
    let mut sums = [(0, 0.0, 0usize); 2]; // baseline, progressive: photos, ms, bytes
    for ((path, bytes), ms) in files.iter().zip(&best) {
        let mut markers = Markers { data: bytes, pos: 2 };
        let progressive = loop {
            match markers.next_segment() {
                Ok((0xC2, _)) => break true,
                Ok((0xC0 | 0xC1, _)) | Err(_) => break false,
                Ok(_) => {}
            }
        };
        let sum = &mut sums[progressive as usize];
        *sum = (sum.0 + 1, sum.1 + ms, sum.2 + bytes.len());
        let kind = if progressive { "progressive" } else { "baseline" };
        println!("{ms:6.2} ms {:6} KB {kind:11} {path}", bytes.len() / 1024);
    }
    for ((n, ms, bytes), kind) in sums.iter().zip(["baseline", "progressive"]) {
        println!(
            "{kind}: {n} photos, {:.1} ms per photo (least CPU), {:.0} MB/s",
            ms / *n as f64,
            *bytes as f64 / ms / 1000.0
        );
    }
    println!("{mean:.1} ms of CPU per photo (mean of all passes)");
}
