//! Distance kernels over `f32` slices, written as plain chunked loops so that
//! the compiler vectorises them (eight independent accumulators per loop).
//! No Postgres here: the SQL operators in `src/embedding/` are thin wrappers (and
//! `fast_calls.rs` inlines these kernels into its entry points, hence `#[inline]`).

const LANES: usize = 8;

/// Sums of `a·b`, `a·a` and `b·b`; every cosine metric below is built from these.
/// One pass that loads each row's floats once, with three 8-lane accumulators each
/// summed in the same lane order as `inner_product`, so the three sums are bit-identical
/// to three `inner_product` calls (unit test below). Written with AVX intrinsics where
/// the build has AVX: LLVM's vectoriser turns the same loop in plain Rust into scalar
/// and 2-wide code (checked with objdump), and three separate passes touch the row
/// twice and compute the query's norm again for every row.
#[inline]
fn dot_and_norms(a: &[f32], b: &[f32]) -> (f32, f32, f32) {
    debug_assert_eq!(a.len(), b.len());
    #[cfg(all(target_arch = "x86_64", target_feature = "avx"))]
    {
        // SAFETY: the build enables AVX (cfg above); loads stay inside the chunks.
        unsafe { dot_and_norms_avx(a, b) }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx")))]
    {
        (inner_product(a, b), inner_product(a, a), inner_product(b, b))
    }
}

#[cfg(all(target_arch = "x86_64", target_feature = "avx"))]
#[inline]
unsafe fn dot_and_norms_avx(a: &[f32], b: &[f32]) -> (f32, f32, f32) {
    use std::arch::x86_64::*;
    let (ca, ra) = a.as_chunks::<LANES>();
    let (cb, rb) = b.as_chunks::<LANES>();
    let (mut ab, mut aa, mut bb) = (_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps());
    for (x, y) in ca.iter().zip(cb) {
        let x = _mm256_loadu_ps(x.as_ptr());
        let y = _mm256_loadu_ps(y.as_ptr());
        // Multiply, then add: no FMA, so each lane rounds exactly as `inner_product`'s does.
        ab = _mm256_add_ps(ab, _mm256_mul_ps(x, y));
        aa = _mm256_add_ps(aa, _mm256_mul_ps(x, x));
        bb = _mm256_add_ps(bb, _mm256_mul_ps(y, y));
    }
    let lanes = |v: __m256| {
        let mut out = [0f32; LANES];
        _mm256_storeu_ps(out.as_mut_ptr(), v);
        out.iter().sum::<f32>()
    };
    let rest = |f: fn(f32, f32) -> f32| ra.iter().zip(rb).map(|(x, y)| f(*x, *y)).sum::<f32>();
    (lanes(ab) + rest(|x, y| x * y), lanes(aa) + rest(|x, _| x * x), lanes(bb) + rest(|_, y| y * y))
}

#[inline]
pub fn inner_product(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let (ca, ra) = a.as_chunks::<LANES>();
    let (cb, rb) = b.as_chunks::<LANES>();
    for (x, y) in ca.iter().zip(cb) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + ra.iter().zip(rb).map(|(x, y)| x * y).sum::<f32>()
}

#[inline]
pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let (ca, ra) = a.as_chunks::<LANES>();
    let (cb, rb) = b.as_chunks::<LANES>();
    for (x, y) in ca.iter().zip(cb) {
        for i in 0..LANES {
            let d = x[i] - y[i];
            acc[i] += d * d;
        }
    }
    acc.iter().sum::<f32>() + ra.iter().zip(rb).map(|(x, y)| (x - y) * (x - y)).sum::<f32>()
}

/// Sum of absolute differences (taxicab distance), accumulated in f32 like pgvector's.
#[inline]
pub fn l1_distance(a: &[f32], b: &[f32]) -> f64 {
    let mut acc = [0f32; LANES];
    let (ca, ra) = a.as_chunks::<LANES>();
    let (cb, rb) = b.as_chunks::<LANES>();
    for (x, y) in ca.iter().zip(cb) {
        for i in 0..LANES {
            acc[i] += (x[i] - y[i]).abs();
        }
    }
    (acc.iter().sum::<f32>() + ra.iter().zip(rb).map(|(x, y)| (x - y).abs()).sum::<f32>()) as f64
}

#[inline]
pub fn l2_distance(a: &[f32], b: &[f32]) -> f64 {
    (l2_squared(a, b) as f64).sqrt()
}

/// Cosine similarity in [-1, 1]; NaN when either vector is all zeros, as in pgvector,
/// because a zero vector has no direction.
#[inline]
pub fn cosine_similarity(a: &[f32], b: &[f32]) -> f64 {
    let (ab, aa, bb) = dot_and_norms(a, b);
    let sim = ab as f64 / ((aa as f64) * (bb as f64)).sqrt();
    if sim.is_nan() {
        sim
    } else {
        sim.clamp(-1.0, 1.0)
    }
}

#[inline]
pub fn cosine_distance(a: &[f32], b: &[f32]) -> f64 {
    1.0 - cosine_similarity(a, b)
}

/// Euclidean length, summed in f64 as pgvector does: an f32 sum of squares would
/// overflow to infinity for components above ~1e19 and flush to zero below ~1e-19,
/// which made l2_normalize return all zeros or the unchanged input.
pub fn norm(a: &[f32]) -> f64 {
    let mut acc = [0f64; LANES];
    let (chunks, rest) = a.as_chunks::<LANES>();
    for x in chunks {
        for i in 0..LANES {
            acc[i] += x[i] as f64 * x[i] as f64;
        }
    }
    (acc.iter().sum::<f64>() + rest.iter().map(|x| *x as f64 * *x as f64).sum::<f64>()).sqrt()
}

/// Unit-length copy; a zero vector stays zero (it has no direction to keep).
pub fn l2_normalize(a: &[f32]) -> Vec<f32> {
    let n = norm(a);
    if n == 0.0 {
        return a.to_vec();
    }
    a.iter().map(|x| (*x as f64 / n) as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_cos(a: &[f32], b: &[f32]) -> f64 {
        let ab: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
        let aa: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum();
        let bb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum();
        ab / (aa * bb).sqrt()
    }

    #[test]
    fn kernels_match_naive_sums_for_odd_lengths() {
        for n in [1usize, 3, 7, 8, 9, 17, 128, 131] {
            let a: Vec<f32> = (0..n).map(|i| ((i * 7919) % 13) as f32 - 6.0).collect();
            let b: Vec<f32> = (0..n).map(|i| ((i * 104729) % 11) as f32 - 4.5).collect();
            let ip: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
            assert!((inner_product(&a, &b) as f64 - ip).abs() < 1e-3, "n={n}");
            let l2: f64 = a.iter().zip(&b).map(|(x, y)| ((x - y) as f64).powi(2)).sum::<f64>().sqrt();
            assert!((l2_distance(&a, &b) - l2).abs() < 1e-3, "n={n}");
            let l1: f64 = a.iter().zip(&b).map(|(x, y)| ((x - y) as f64).abs()).sum();
            assert!((l1_distance(&a, &b) - l1).abs() < 1e-3, "n={n}");
            assert!((cosine_similarity(&a, &b) - naive_cos(&a, &b)).abs() < 1e-5, "n={n}");
        }
    }

    /// A seeded xorshift64 generator's top 24 bits: reproducible test data without a crate.
    fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state >> 40
        }
    }

    #[test]
    fn fused_sums_are_bit_identical_to_three_inner_products() {
        let mut bits = xorshift(0x9e37_79b9_7f4a_7c15);
        let mut next = move || bits() as f32 / (1u64 << 20) as f32 - 8.0;
        for n in [0usize, 1, 5, 8, 13, 64, 128, 131, 512] {
            for _ in 0..50 {
                let a: Vec<f32> = (0..n).map(|_| next()).collect();
                let b: Vec<f32> = (0..n).map(|_| next()).collect();
                let (ab, aa, bb) = dot_and_norms(&a, &b);
                assert_eq!(ab.to_bits(), inner_product(&a, &b).to_bits(), "n={n}");
                assert_eq!(aa.to_bits(), inner_product(&a, &a).to_bits(), "n={n}");
                assert_eq!(bb.to_bits(), inner_product(&b, &b).to_bits(), "n={n}");
            }
        }
    }

    #[test]
    fn cosine_of_a_vector_with_itself_is_one_and_zero_vectors_are_nan() {
        let a = [0.3f32, -1.0, 2.5];
        assert!((cosine_similarity(&a, &a) - 1.0).abs() < 1e-7);
        assert!(cosine_distance(&a, &[0.0, 0.0, 0.0]).is_nan());
    }

    #[test]
    fn normalize_gives_unit_length() {
        let v = l2_normalize(&[3.0, 4.0]);
        assert_eq!(v, vec![0.6, 0.8]);
        assert_eq!(l2_normalize(&[0.0, 0.0]), vec![0.0, 0.0]);
        // Squares of these over- or underflow f32; the norm must not.
        assert!((norm(&[3e20, 4e20]) / 5e20 - 1.0).abs() < 1e-6);
        let big = l2_normalize(&[3e20, 4e20]);
        assert!((big[0] - 0.6).abs() < 1e-6 && (big[1] - 0.8).abs() < 1e-6, "{big:?}");
        let tiny = l2_normalize(&[3e-25, 4e-25]);
        assert!((tiny[0] - 0.6).abs() < 1e-6 && (tiny[1] - 0.8).abs() < 1e-6, "{tiny:?}");
    }

    /// Microbenchmark, not a test: `cargo test --release --lib distance -- --ignored --nocapture`.
    /// Times 1M cosine distances between a 128-d query and 128-d rows, once over 1M
    /// distinct rows (512 MB, memory-bound like a table scan) and once over a 4096-row
    /// block reused 244 times (2 MB, cache-resident: the pure arithmetic speed).
    /// FLOPs per 128-d cosine: 3 multiply-adds per component = 6 * 128 = 768.
    #[test]
    #[ignore]
    fn bench_cosine_1m_x_128() {
        use std::time::Instant;
        const DIM: usize = 128;
        const N: usize = 1_000_000;
        let mut bits = xorshift(0x2545_f491_4f6c_dd1d);
        let mut next = move || bits() as f32 / (1u64 << 24) as f32 - 0.5;
        let rows: Vec<f32> = (0..N * DIM).map(|_| next()).collect();
        let query: Vec<f32> = (0..DIM).map(|_| next()).collect();
        let report = |label: &str, count: usize, secs: f64, checksum: f64| {
            let ns = secs * 1e9 / count as f64;
            let gflops = count as f64 * 6.0 * DIM as f64 / secs / 1e9;
            println!("{label}: {count} distances in {:.1} ms = {ns:.1} ns/distance, {gflops:.2} GFLOP/s (checksum {checksum:.3})", secs * 1e3);
        };
        for round in 0..3 {
            let t = Instant::now();
            let mut sum = 0.0;
            for row in rows.chunks_exact(DIM) {
                sum += cosine_distance(std::hint::black_box(row), &query);
            }
            report(&format!("round {round} streaming 1M distinct rows"), N, t.elapsed().as_secs_f64(), sum);

            let block = &rows[..4096 * DIM];
            let reps = N / 4096;
            let t = Instant::now();
            let mut sum = 0.0;
            for _ in 0..reps {
                for row in block.chunks_exact(DIM) {
                    sum += cosine_distance(std::hint::black_box(row), &query);
                }
            }
            report(
                &format!("round {round} cached 4096-row block x {reps}"),
                reps * 4096,
                t.elapsed().as_secs_f64(),
                sum,
            );
        }
    }
}
