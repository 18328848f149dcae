//! The nearest centroid of a row: one row at a time (`nearest`, the definition), and for
//! many rows at once (`CentroidSet::assign`), as the k-means iterations and the build's
//! assignment of every row to a list need it.
//!
//! `assign` computes the products of a block of rows with every centroid as one matrix
//! product (`matrixmultiply`'s SGEMM, FMA over AVX-512/AVX2) instead of one distance per
//! pair, which is several times faster: the pairwise kernel reads each centroid again for
//! every row and computes the centroid's norm again every time. The products give an
//! approximate distance per centroid (||c||^2 - 2 x·c for L2, -x·c/||c|| for cosine) whose
//! rounding error has a known bound; only the centroids within twice that bound of the
//! best approximate one can be the nearest, and those few are compared with the exact
//! distance of `nearest`. So `assign` returns exactly what `nearest` returns, ties (the
//! lowest list number) included; a row or centroid outside the range where the bound
//! holds (zero, huge or tiny norms, which embeddings rarely have) takes `nearest` itself.
use super::Metric;
use crate::engine::distance;
use rayon::prelude::*;

/// Rows per matrix product: their products with 1,000 centroids are 256 KB, which stay in
/// the core's L2 cache while the row's candidates are picked.
const BLOCK_ROWS: usize = 64;

/// Squared norms outside this range take the exact path: the error bounds below are
/// relative, and f32 sums overflow above ~1e38 and lose relative precision near 1e-38.
pub const NORM2_RANGE: std::ops::RangeInclusive<f64> = 1e-30..=1e30;

/// f32's unit roundoff.
pub const U: f64 = f32::EPSILON as f64 / 2.0;

/// Index of the nearest of `centroids` (row-major, `dim` wide) to `v`, with its distance
/// (`Metric::centroid_distance`; the lowest index among equal distances).
#[inline]
pub fn nearest(metric: Metric, centroids: &[f32], dim: usize, v: &[f32]) -> (usize, f64) {
    let mut best = (0usize, f64::INFINITY);
    for (i, c) in centroids.chunks_exact(dim).enumerate() {
        let d = metric.centroid_distance(v, c);
        if d < best.1 {
            best = (i, d);
        }
    }
    best
}

/// Squared Euclidean norm in f64.
#[inline]
pub fn norm2(v: &[f32]) -> f64 {
    distance::norm(v).powi(2)
}

/// Bound on |computed - exact| of an f32 dot product of two `dim`-vectors, as a multiple
/// of u·||a||·||b||, with a factor 2 of margin (the textbook bound is `dim` for any
/// summation order; the pairwise kernels and the SGEMM both stay within it).
pub fn dot_error_factor(dim: usize) -> f64 {
    2.0 * (dim as f64 + 10.0)
}

/// Centroids prepared for `assign`.
pub struct CentroidSet {
    metric: Metric,
    dim: usize,
    centroids: Vec<f32>,
    /// per centroid: ||c||^2 (L2) or 1/||c|| (cosine; 0 for a zero centroid)
    scale: Vec<f32>,
    /// per centroid: 0, or +inf for a zero centroid under cosine (never the nearest)
    penalty: Vec<f32>,
    max_norm: f64,
    /// false when a centroid's norm is outside NORM2_RANGE: every row takes `nearest`
    bounded: bool,
}

impl CentroidSet {
    /// `metric` is the index's metric; the lists' metric (`list_metric`) is used.
    pub fn new(metric: Metric, centroids: Vec<f32>, dim: usize) -> CentroidSet {
        assert!(dim > 0 && centroids.len() % dim == 0);
        let metric = metric.list_metric();
        let cosine = metric == Metric::Cosine;
        let mut set = CentroidSet {
            metric,
            dim,
            scale: Vec::new(),
            penalty: Vec::new(),
            max_norm: 0.0,
            bounded: true,
            centroids,
        };
        for c in set.centroids.chunks_exact(dim) {
            let n2 = norm2(c);
            let zero = n2 == 0.0;
            if !(zero || NORM2_RANGE.contains(&n2)) {
                set.bounded = false;
            }
            set.max_norm = set.max_norm.max(n2.sqrt());
            set.scale.push(match (cosine, zero) {
                (false, _) => n2 as f32,
                (true, true) => 0.0,
                (true, false) => (1.0 / n2.sqrt()) as f32,
            });
            set.penalty.push(if cosine && zero { f32::INFINITY } else { 0.0 });
        }
        set
    }

    pub fn centroids(&self) -> &[f32] {
        &self.centroids
    }

    pub fn into_centroids(self) -> Vec<f32> {
        self.centroids
    }

    pub fn len(&self) -> usize {
        self.scale.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scale.is_empty()
    }

    /// The nearest centroid of every row of `rows` (row-major, `dim` wide), exactly as
    /// `nearest` finds it; in parallel over blocks of rows (rayon). Deterministic: a row's
    /// answer does not depend on the other rows of its block.
    pub fn assign(&self, rows: &[f32]) -> Vec<usize> {
        assert_eq!(rows.len() % self.dim, 0);
        let mut out = vec![0usize; rows.len() / self.dim];
        if self.is_empty() {
            return out;
        }
        rows.par_chunks(BLOCK_ROWS * self.dim)
            .zip(out.par_chunks_mut(BLOCK_ROWS))
            .for_each_init(Vec::new, |products, (block, out)| self.assign_block(block, out, products));
        out
    }

    fn assign_block(&self, rows: &[f32], out: &mut [usize], products: &mut Vec<f32>) {
        let (m, k, dim) = (rows.len() / self.dim, self.len(), self.dim);
        products.clear();
        products.resize(m * k, 0.0);
        // SAFETY: rows is m x dim (row stride dim), centroids k x dim read as its transpose
        // dim x k (row stride 1, column stride dim), products m x k (row stride k): every
        // access is inside the three slices.
        unsafe {
            matrixmultiply::sgemm(
                m,
                dim,
                k,
                1.0,
                rows.as_ptr(),
                dim as isize,
                1,
                self.centroids.as_ptr(),
                1,
                dim as isize,
                0.0,
                products.as_mut_ptr(),
                k as isize,
                1,
            );
        }
        for ((v, o), p) in rows.chunks_exact(dim).zip(out).zip(products.chunks_exact(k)) {
            *o = self.nearest_from_products(v, p);
        }
    }

    /// The nearest centroid of `v`, given its products `p` with every centroid.
    fn nearest_from_products(&self, v: &[f32], p: &[f32]) -> usize {
        let exact = || nearest(self.metric, &self.centroids, self.dim, v).0;
        let x2 = norm2(v);
        if !self.bounded || !NORM2_RANGE.contains(&x2) {
            return exact();
        }
        let cosine = self.metric == Metric::Cosine;
        let approx = |j: usize, pj: f32| -> f32 {
            if cosine {
                self.penalty[j] - pj * self.scale[j]
            } else {
                self.scale[j] - 2.0 * pj
            }
        };
        let mut best = f32::INFINITY;
        for (j, &pj) in p.iter().enumerate() {
            let a = approx(j, pj);
            if a < best {
                best = a;
            }
        }
        if !best.is_finite() {
            return exact();
        }
        // |approximate - exact| per centroid, in the approximation's units (L2: squared
        // distance less ||x||^2; cosine: ||x|| times the distance less ||x||): the product's
        // error, the scale's and the final rounding, plus the exact kernel's own error. A
        // centroid whose approximation exceeds the best by more than twice this cannot be
        // the nearest (nor tie with it).
        let f = dot_error_factor(self.dim) + 8.0;
        let bound = if cosine { 2.0 * f * U * x2.sqrt() } else { 2.0 * f * U * (x2.sqrt() + self.max_norm).powi(2) };
        let threshold = best as f64 + 2.0 * bound;
        let mut found = (0usize, f64::INFINITY);
        for (j, &pj) in p.iter().enumerate() {
            if (approx(j, pj) as f64) <= threshold {
                let d = self.metric.centroid_distance(v, &self.centroids[j * self.dim..(j + 1) * self.dim]);
                if d < found.1 {
                    found = (j, d);
                }
            }
        }
        if found.1 == f64::INFINITY {
            return exact(); // no finite distance: `nearest`'s answer is list 0
        }
        found.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random(n: usize, rng: &mut ChaCha8Rng, scale: f32) -> Vec<f32> {
        (0..n).map(|_| rng.random_range(-1.0f32..1.0) * scale).collect()
    }

    fn agree(metric: Metric, centroids: &[f32], rows: &[f32], dim: usize) {
        let set = CentroidSet::new(metric, centroids.to_vec(), dim);
        let fast = set.assign(rows);
        for (i, v) in rows.chunks_exact(dim).enumerate() {
            assert_eq!(fast[i], nearest(metric.list_metric(), centroids, dim, v).0, "{metric:?} row {i}");
        }
    }

    #[test]
    fn agrees_with_the_pairwise_kernel_on_random_data() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for (dim, k, rows) in [(128, 300, 1000), (16, 40, 500), (3, 7, 200), (131, 65, 129)] {
            let c = random(k * dim, &mut rng, 1.0);
            let r = random(rows * dim, &mut rng, 2.0);
            for metric in [Metric::L2, Metric::Cosine, Metric::InnerProduct] {
                agree(metric, &c, &r, dim);
            }
        }
    }

    #[test]
    fn near_ties_and_exact_ties_take_the_lowest_list() {
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        let dim = 32;
        let base = random(dim, &mut rng, 1.0);
        // Centroids that are the same vector (exact ties), or differ in the last bits
        // (near ties the approximation cannot order), and a scaled copy (a cosine tie).
        let mut c = Vec::new();
        for i in 0..20 {
            let mut x = base.clone();
            if i % 3 == 1 {
                x[i % dim] = f32::from_bits(x[i % dim].to_bits() + 1);
            }
            if i % 5 == 4 {
                x.iter_mut().for_each(|y| *y *= 2.0);
            }
            c.extend(x);
        }
        // Rows: the base itself, tiny perturbations of it, random rows.
        let mut r = base.clone();
        for _ in 0..50 {
            r.extend(base.iter().map(|x| x + rng.random_range(-1e-6f32..1e-6)));
        }
        r.extend(random(50 * dim, &mut rng, 1.0));
        for metric in [Metric::L2, Metric::Cosine] {
            agree(metric, &c, &r, dim);
        }
    }

    #[test]
    fn zero_huge_and_tiny_vectors_follow_the_pairwise_rules() {
        let dim = 8;
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut c = random(6 * dim, &mut rng, 1.0);
        c[dim..2 * dim].fill(0.0); // a zero centroid: cosine distance NaN, counted as farthest
        let mut r = vec![0.0f32; dim]; // a zero row: every cosine distance NaN, list 0
        r.extend(random(dim, &mut rng, 1e20)); // huge: f32 sums overflow
        r.extend(random(dim, &mut rng, 1e-20)); // tiny
        r.extend(random(20 * dim, &mut rng, 1.0));
        for metric in [Metric::L2, Metric::Cosine] {
            agree(metric, &c, &r, dim);
        }
        // Huge and tiny centroids: the set falls back to the pairwise kernel for every row.
        let mut c2 = c.clone();
        c2[..dim].iter_mut().for_each(|x| *x *= 1e20);
        let mut c3 = c.clone();
        c3[..dim].iter_mut().for_each(|x| *x *= 1e-20);
        for metric in [Metric::L2, Metric::Cosine] {
            agree(metric, &c2, &r, dim);
            agree(metric, &c3, &r, dim);
        }
        // Only zero centroids under cosine: list 0 for every row.
        let zeros = vec![0.0f32; 3 * dim];
        agree(Metric::Cosine, &zeros, &r, dim);
        assert!(CentroidSet::new(Metric::L2, vec![], dim).assign(&r).iter().all(|&l| l == 0));
    }

    #[test]
    fn clustered_rows_with_many_close_centroids() {
        // The k-means regime: rows near their centroids, centroids close to each other.
        let (centres, rows) = crate::engine::ann::kmeans::tests::clustered(200, 10, 64, 11);
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let c: Vec<f32> = centres.iter().map(|x| x + rng.random_range(-0.01f32..0.01)).collect();
        for metric in [Metric::L2, Metric::Cosine] {
            agree(metric, &c, &rows, 64);
        }
    }

    /// `cargo test --release --lib nearest_speed -- --ignored --nocapture`: `assign`
    /// against one `nearest` per row (rayon over rows, as the build did), 128-d.
    #[test]
    #[ignore]
    fn nearest_speed() {
        let (dim, k, n) = (128, 1000, 20_000);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let c = random(k * dim, &mut rng, 1.0);
        let rows = random(n * dim, &mut rng, 1.0);
        for metric in [Metric::Cosine, Metric::L2] {
            let set = CentroidSet::new(metric, c.clone(), dim);
            let t = std::time::Instant::now();
            let fast = set.assign(&rows);
            let fast_s = t.elapsed().as_secs_f64();
            let t = std::time::Instant::now();
            let pairwise: Vec<usize> = rows.par_chunks_exact(dim).map(|v| nearest(metric, &c, dim, v).0).collect();
            let pairwise_s = t.elapsed().as_secs_f64();
            assert_eq!(fast, pairwise);
            println!(
                "{metric:?}: {n} rows x {k} centroids x {dim}-d: assign {fast_s:.3} s, pairwise {pairwise_s:.3} s ({:.1}x)",
                pairwise_s / fast_s
            );
        }
    }
}
