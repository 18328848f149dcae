//! 8-bit scalar quantisation ("sq8") for the first pass of an `ann` scan over format-2
//! indexes: each component of a row becomes one byte, `code = round((x - offset) / scale)`
//! clamped to 0..=255, with a per-dimension `offset` (the sample's minimum) and `scale`
//! ((maximum - minimum) / 255) fixed at build time from the k-means sample.
//!
//! The scan ranks the probed rows by an approximate distance between the float query and
//! the decoded codes (asymmetric: the query is not quantised) and re-ranks the best of them
//! by the exact vectors, so the codes only decide which rows are re-ranked, never the
//! order or the distances returned. Rows outside the sample's range are clamped: a worse
//! approximation for them, not a wrong answer.
//!
//! Cosine codes encode the row divided by its norm (the sample's ranges too), so the
//! approximate cosine distance is `1 - <q/|q|, decoded>` with no per-row norm stored.
//!
//! The query is pre-scaled once per scan (`QueryCodes::new`) so that the inner loop is a
//! dot product (or, for L2, a sum of squares) of f32 weights with u8 codes.
use super::Metric;

/// Per-dimension offset and scale of the codes.
#[derive(Clone, Debug, PartialEq)]
pub struct Sq8 {
    pub offset: Vec<f32>,
    pub scale: Vec<f32>,
}

/// Bytes of codes per row of `dim` components.
pub fn code_bytes(dim: usize) -> usize {
    dim
}

/// The vector whose components are quantised for `metric`: unit length for cosine (a zero
/// vector stays zero).
fn prepared(metric: Metric, v: &[f32]) -> std::borrow::Cow<'_, [f32]> {
    if metric == Metric::Cosine {
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 && norm.is_finite() {
            return std::borrow::Cow::Owned(v.iter().map(|x| x / norm).collect());
        }
    }
    std::borrow::Cow::Borrowed(v)
}

impl Sq8 {
    /// The ranges of `rows` (row-major, `dim` per row), as `metric` quantises them. A
    /// dimension with a single value (or no rows) gets scale 1 so that codes stay finite.
    pub fn from_sample(rows: &[f32], dim: usize, metric: Metric) -> Sq8 {
        let mut lo = vec![f32::INFINITY; dim];
        let mut hi = vec![f32::NEG_INFINITY; dim];
        for row in rows.chunks_exact(dim) {
            let row = prepared(metric, row);
            for ((l, h), &x) in lo.iter_mut().zip(hi.iter_mut()).zip(row.iter()) {
                if x.is_finite() {
                    *l = l.min(x);
                    *h = h.max(x);
                }
            }
        }
        let mut offset = Vec::with_capacity(dim);
        let mut scale = Vec::with_capacity(dim);
        for (l, h) in lo.into_iter().zip(hi) {
            if l.is_finite() && h.is_finite() && h > l {
                offset.push(l);
                // In f64: h - l may overflow f32 (values near ±3.4e38) or the step may
                // round to 0 (subnormal ranges); either would make the index unreadable.
                let step = (h as f64 - l as f64) / 255.0;
                scale.push((step as f32).clamp(f32::MIN_POSITIVE, f32::MAX));
            } else {
                offset.push(if l.is_finite() { l } else { 0.0 });
                scale.push(1.0);
            }
        }
        Sq8 { offset, scale }
    }

    pub fn dim(&self) -> usize {
        self.offset.len()
    }

    /// Whether the parameters can be used: every offset finite, every scale finite and > 0
    /// (a check of what was read back from the index's pages).
    pub fn is_sound(&self) -> bool {
        self.offset.len() == self.scale.len()
            && self.offset.iter().all(|o| o.is_finite())
            && self.scale.iter().all(|s| s.is_finite() && *s > 0.0)
    }

    /// The codes of `v` (clamped to the sample's range; NaN becomes 0).
    pub fn encode_into(&self, metric: Metric, v: &[f32], out: &mut [u8]) {
        let v = prepared(metric, v);
        for (((c, &x), &o), &s) in out.iter_mut().zip(v.iter()).zip(&self.offset).zip(&self.scale) {
            // `as u8` saturates and maps NaN to 0.
            *c = ((x - o) / s).round().clamp(0.0, 255.0) as u8;
        }
    }

    pub fn encode(&self, metric: Metric, v: &[f32]) -> Vec<u8> {
        let mut out = vec![0u8; self.dim()];
        self.encode_into(metric, v, &mut out);
        out
    }

    /// The vector the codes stand for (tests and checks).
    pub fn decode(&self, codes: &[u8]) -> Vec<f32> {
        codes.iter().zip(&self.offset).zip(&self.scale).map(|((&c, &o), &s)| o + s * c as f32).collect()
    }
}

/// A query prepared for the approximate distance to codes.
pub enum QueryCodes {
    /// `-(base + <w, c>)` (inner product) or `1 - (base + <w, c>)` (cosine)
    Dot { w: Vec<f32>, base: f32, cosine: bool },
    /// `sum (r - s c)^2` with `r = q - offset`, `s = scale`
    L2 { r: Vec<f32>, s: Vec<f32> },
}

impl QueryCodes {
    pub fn new(sq8: &Sq8, metric: Metric, query: &[f32]) -> QueryCodes {
        match metric {
            Metric::L2 => {
                QueryCodes::L2 { r: query.iter().zip(&sq8.offset).map(|(q, o)| q - o).collect(), s: sq8.scale.clone() }
            }
            Metric::InnerProduct | Metric::Cosine => {
                let cosine = metric == Metric::Cosine;
                let q = if cosine {
                    // A zero query: every exact distance is NaN; rank by anything (zeros).
                    let norm = query.iter().map(|x| x * x).sum::<f32>().sqrt();
                    let k = if norm > 0.0 && norm.is_finite() { 1.0 / norm } else { 0.0 };
                    query.iter().map(|x| x * k).collect::<Vec<f32>>()
                } else {
                    query.to_vec()
                };
                let w = q.iter().zip(&sq8.scale).map(|(q, s)| q * s).collect();
                let base = q.iter().zip(&sq8.offset).map(|(q, o)| q * o).sum();
                QueryCodes::Dot { w, base, cosine }
            }
        }
    }

    /// The approximate distance of the row with `codes` (same order as the exact one, up to
    /// the quantisation error).
    #[inline]
    pub fn distance(&self, codes: &[u8]) -> f32 {
        match self {
            QueryCodes::Dot { w, base, cosine } => {
                let dot = base + dot_u8(w, codes);
                if *cosine {
                    1.0 - dot
                } else {
                    -dot
                }
            }
            QueryCodes::L2 { r, s } => l2_u8(r, s, codes),
        }
    }
}

/// Lanes of the portable kernels' accumulator (LLVM turns 16 into one 512-bit register or
/// two 256-bit ones; 32 it split into 128-bit pieces loaded a lane at a time, objdump showed).
#[cfg(not(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma")))]
const LANES: usize = 16;

/// Sum of the lanes as a tree (halves added together): vector adds, where a plain
/// `iter().sum()` is 16 dependent scalar additions (a third of a row's time, perf showed).
#[cfg(not(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma")))]
#[inline(always)]
fn sum_lanes(mut acc: [f32; LANES]) -> f32 {
    let mut n = LANES;
    while n > 1 {
        n /= 2;
        for i in 0..n {
            acc[i] += acc[i + n];
        }
    }
    acc[0]
}

/// `sum w[i] * c[i]`.
#[inline]
pub fn dot_u8(w: &[f32], c: &[u8]) -> f32 {
    assert_eq!(w.len(), c.len());
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
    {
        // SAFETY: the build enables AVX2 and FMA (cfg above); equal lengths (assert above).
        unsafe { simd::dot_u8(w, c) }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma")))]
    {
        let mut acc = [0f32; LANES];
        let (cw, rw) = w.as_chunks::<LANES>();
        let (cc, rc) = c.as_chunks::<LANES>();
        for (w, c) in cw.iter().zip(cc) {
            for i in 0..LANES {
                acc[i] += w[i] * c[i] as f32;
            }
        }
        sum_lanes(acc) + rw.iter().zip(rc).map(|(w, c)| w * *c as f32).sum::<f32>()
    }
}

/// `sum (r[i] - s[i] * c[i])^2`.
#[inline]
pub fn l2_u8(r: &[f32], s: &[f32], c: &[u8]) -> f32 {
    assert!(r.len() == c.len() && s.len() == c.len());
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
    {
        // SAFETY: as in dot_u8.
        unsafe { simd::l2_u8(r, s, c) }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma")))]
    {
        let mut acc = [0f32; LANES];
        let (cr, rr) = r.as_chunks::<LANES>();
        let (cs, rs) = s.as_chunks::<LANES>();
        let (cc, rc) = c.as_chunks::<LANES>();
        for ((r, s), c) in cr.iter().zip(cs).zip(cc) {
            for i in 0..LANES {
                let t = r[i] - s[i] * c[i] as f32;
                acc[i] += t * t;
            }
        }
        let tail = rr.iter().zip(rs).zip(rc).map(|((r, s), c)| (r - s * *c as f32).powi(2)).sum::<f32>();
        sum_lanes(acc) + tail
    }
}

/// AVX2 + FMA kernels: 16 codes per step widened to two 8-float vectors, two independent
/// accumulators, one horizontal sum per row.
#[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
mod simd {
    use std::arch::x86_64::*;

    #[inline(always)]
    unsafe fn codes16(c: *const u8) -> (__m256, __m256) {
        let bytes = _mm_loadu_si128(c as *const __m128i);
        let lo = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes));
        let hi = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128::<8>(bytes)));
        (lo, hi)
    }

    #[inline(always)]
    unsafe fn hsum(a: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps::<1>(a));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps::<1>(s, s)))
    }

    /// Callers: equal lengths.
    #[inline]
    pub unsafe fn dot_u8(w: &[f32], c: &[u8]) -> f32 {
        let n = c.len();
        let (mut a0, mut a1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let mut i = 0;
        while i + 16 <= n {
            let (c0, c1) = codes16(c.as_ptr().add(i));
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w.as_ptr().add(i)), c0, a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w.as_ptr().add(i + 8)), c1, a1);
            i += 16;
        }
        let mut sum = hsum(_mm256_add_ps(a0, a1));
        while i < n {
            sum += w[i] * c[i] as f32;
            i += 1;
        }
        sum
    }

    /// Callers: equal lengths.
    #[inline]
    pub unsafe fn l2_u8(r: &[f32], s: &[f32], c: &[u8]) -> f32 {
        let n = c.len();
        let (mut a0, mut a1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let mut i = 0;
        while i + 16 <= n {
            let (c0, c1) = codes16(c.as_ptr().add(i));
            let t0 = _mm256_fnmadd_ps(_mm256_loadu_ps(s.as_ptr().add(i)), c0, _mm256_loadu_ps(r.as_ptr().add(i)));
            let t1 =
                _mm256_fnmadd_ps(_mm256_loadu_ps(s.as_ptr().add(i + 8)), c1, _mm256_loadu_ps(r.as_ptr().add(i + 8)));
            a0 = _mm256_fmadd_ps(t0, t0, a0);
            a1 = _mm256_fmadd_ps(t1, t1, a1);
            i += 16;
        }
        let mut sum = hsum(_mm256_add_ps(a0, a1));
        while i < n {
            let t = r[i] - s[i] * c[i] as f32;
            sum += t * t;
            i += 1;
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn rows(n: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n * dim).map(|_| rng.random_range(-2.0f32..3.0)).collect()
    }

    #[test]
    fn codes_round_trip_within_half_a_step() {
        let dim = 37; // not a multiple of the lanes
        let sample = rows(500, dim, 1);
        for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
            let sq8 = Sq8::from_sample(&sample, dim, metric);
            assert!(sq8.is_sound());
            for row in sample.chunks_exact(dim).take(50) {
                let want = prepared(metric, row);
                let back = sq8.decode(&sq8.encode(metric, row));
                for i in 0..dim {
                    assert!((back[i] - want[i]).abs() <= sq8.scale[i] * 0.5001, "{metric:?} dim {i}");
                }
            }
        }
    }

    #[test]
    fn out_of_range_and_nan_components_are_clamped() {
        let sq8 = Sq8::from_sample(&[0.0, 1.0, 2.0, 3.0], 2, Metric::L2);
        assert_eq!(sq8.encode(Metric::L2, &[-5.0, 100.0]), vec![0, 255]);
        assert_eq!(sq8.encode(Metric::L2, &[f32::NAN, 3.0]), vec![0, 255]);
        // A constant dimension keeps a usable scale.
        let flat = Sq8::from_sample(&[1.0, 1.0, 1.0, 1.0], 2, Metric::L2);
        assert!(flat.is_sound());
        assert_eq!(flat.encode(Metric::L2, &[1.0, 1.0]), vec![0, 0]);
        assert!(Sq8::from_sample(&[], 3, Metric::L2).is_sound());
        // Ranges that overflow f32 or whose step rounds to zero still give usable scales.
        let huge = Sq8::from_sample(&[3e38, 1e-43, -3e38, 0.0], 2, Metric::L2);
        assert!(huge.is_sound(), "{:?}", huge.scale);
        assert_eq!(huge.encode(Metric::L2, &[3e38, 0.0])[0], 255);
    }

    #[test]
    fn approximate_distances_equal_the_exact_distance_to_the_decoded_row() {
        let dim = 45;
        let sample = rows(300, dim, 2);
        let query = &rows(1, dim, 3);
        for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
            let sq8 = Sq8::from_sample(&sample, dim, metric);
            let prepared_query = QueryCodes::new(&sq8, metric, query);
            for row in sample.chunks_exact(dim).take(20) {
                let codes = sq8.encode(metric, row);
                let decoded = sq8.decode(&codes);
                let want = match metric {
                    Metric::L2 => crate::engine::distance::l2_squared(query, &decoded) as f64,
                    // decoded is already (about) unit length for cosine: 1 - <q/|q|, decoded>
                    Metric::Cosine => {
                        let n = query.iter().map(|x| (x * x) as f64).sum::<f64>().sqrt();
                        1.0 - query.iter().zip(&decoded).map(|(q, d)| (q * d) as f64).sum::<f64>() / n
                    }
                    Metric::InnerProduct => metric.distance(query, &decoded),
                };
                let got = prepared_query.distance(&codes) as f64;
                assert!((got - want).abs() < 1e-3 * (1.0 + want.abs()), "{metric:?}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn the_first_pass_keeps_the_exact_nearest_among_its_best() {
        // 2,000 rows, 64-d: the exact 10 nearest are among the 100 best approximate ones.
        let dim = 64;
        let data = rows(2000, dim, 4);
        for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
            let sq8 = Sq8::from_sample(&data[..500 * dim], dim, metric);
            let codes: Vec<Vec<u8>> = data.chunks_exact(dim).map(|r| sq8.encode(metric, r)).collect();
            for qi in 0..5 {
                let q = &rows(1, dim, 100 + qi);
                let mut exact: Vec<(f64, usize)> =
                    data.chunks_exact(dim).enumerate().map(|(i, r)| (metric.distance(q, r), i)).collect();
                exact.sort_by(|a, b| a.0.total_cmp(&b.0));
                let prepared_query = QueryCodes::new(&sq8, metric, q);
                let mut approx: Vec<(f32, usize)> =
                    codes.iter().enumerate().map(|(i, c)| (prepared_query.distance(c), i)).collect();
                approx.sort_by(|a, b| a.0.total_cmp(&b.0));
                let best: Vec<usize> = approx[..100].iter().map(|x| x.1).collect();
                for (_, i) in &exact[..10] {
                    assert!(best.contains(i), "{metric:?} query {qi}: row {i} not among the best 100");
                }
            }
        }
    }

    #[test]
    fn kernels_match_plain_sums() {
        let w: Vec<f32> = (0..150).map(|i| i as f32 * 0.25 - 3.0).collect();
        let c: Vec<u8> = (0..150).map(|i| (i * 7 % 256) as u8).collect();
        let want: f32 = w.iter().zip(&c).map(|(w, c)| w * *c as f32).sum();
        assert!((dot_u8(&w, &c) - want).abs() < 1e-4 * want.abs().max(1.0));
        let s: Vec<f32> = (0..150).map(|i| 0.01 * i as f32).collect();
        let want: f32 = w.iter().zip(&s).zip(&c).map(|((r, s), c)| (r - s * *c as f32).powi(2)).sum();
        assert!((l2_u8(&w, &s, &c) - want).abs() < 1e-2 * want.abs().max(1.0));
    }
}
