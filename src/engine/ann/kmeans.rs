//! k-means for the index's lists: k-means++ seeding, then Lloyd iterations, parallel over
//! rows with rayon (pure arithmetic; no Postgres call happens on the worker threads).
//! Deterministic for a given sample and seed, so a REINDEX of the same rows gives the
//! same lists. The iterations find each row's nearest centroid with `CentroidSet`'s
//! matrix products and the seeding skips rows a new centre cannot be nearer to by a
//! bounded estimate; both give exactly the result of computing every distance.
use super::nearest::{dot_error_factor, norm2, CentroidSet, NORM2_RANGE, U};
use super::Metric;
use crate::engine::distance;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Upper bound on Lloyd iterations; they stop earlier once fewer than 0.1 % of the rows
/// change list.
pub const MAX_ITERATIONS: usize = 15;

/// `k` centroids for the rows of `data` (row-major, `dim` wide). `k` is clamped to
/// 1..=rows; with no rows, one zero centroid. `tick` is called between iterations
/// (interrupt checks); it may unwind.
pub fn kmeans(data: &[f32], dim: usize, k: usize, metric: Metric, seed: u64, tick: &mut dyn FnMut()) -> Vec<f32> {
    assert!(dim > 0 && data.len() % dim == 0);
    let n = data.len() / dim;
    if n == 0 {
        return vec![0.0; dim];
    }
    let k = k.clamp(1, n);
    let cosine = metric.list_metric() == Metric::Cosine;
    let normalized;
    let data = if cosine {
        normalized = data.chunks_exact(dim).flat_map(distance::l2_normalize).collect::<Vec<f32>>();
        &normalized[..]
    } else {
        data
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut centroids = seed_plus_plus(data, dim, k, metric, &mut rng, tick);
    let mut assignment = vec![usize::MAX; n];
    for _ in 0..MAX_ITERATIONS {
        tick();
        let set = CentroidSet::new(metric, centroids, dim);
        let next = set.assign(data);
        centroids = set.into_centroids();
        let changed = next.iter().zip(&assignment).filter(|(a, b)| a != b).count();
        assignment = next;
        // Means of the rows of each list.
        let mut sums = vec![0f64; k * dim];
        let mut counts = vec![0usize; k];
        for (v, &c) in data.chunks_exact(dim).zip(&assignment) {
            counts[c] += 1;
            for (s, x) in sums[c * dim..(c + 1) * dim].iter_mut().zip(v) {
                *s += *x as f64;
            }
        }
        for c in 0..k {
            let centroid = &mut centroids[c * dim..(c + 1) * dim];
            if counts[c] == 0 {
                // An empty list takes a random row as its new centre.
                let r = rng.random_range(0..n);
                centroid.copy_from_slice(&data[r * dim..(r + 1) * dim]);
                continue;
            }
            for (x, s) in centroid.iter_mut().zip(&sums[c * dim..(c + 1) * dim]) {
                *x = (*s / counts[c] as f64) as f32;
            }
            if cosine {
                let unit = distance::l2_normalize(centroid);
                centroid.copy_from_slice(&unit);
            }
        }
        if changed * 1000 <= n {
            break;
        }
    }
    centroids
}

/// k-means++: each next centre is a row drawn with probability proportional to its squared
/// distance to the nearest centre so far.
fn seed_plus_plus(
    data: &[f32],
    dim: usize,
    k: usize,
    metric: Metric,
    rng: &mut ChaCha8Rng,
    tick: &mut dyn FnMut(),
) -> Vec<f32> {
    let n = data.len() / dim;
    let mut centroids = Vec::with_capacity(k * dim);
    let first = rng.random_range(0..n);
    centroids.extend_from_slice(&data[first * dim..(first + 1) * dim]);
    let mut nearest_d: Vec<f64> =
        data.par_chunks_exact(dim).map(|v| weight(metric.centroid_distance(v, &centroids[..dim]))).collect();
    let norms2: Vec<f64> = data.par_chunks_exact(dim).map(norm2).collect();
    for _ in 1..k {
        tick();
        let total: f64 = nearest_d.iter().sum();
        let pick = if total > 0.0 {
            let mut target = rng.random::<f64>() * total;
            let mut pick = n - 1;
            for (i, d) in nearest_d.iter().enumerate() {
                if target < *d {
                    pick = i;
                    break;
                }
                target -= d;
            }
            pick
        } else {
            rng.random_range(0..n) // every row coincides with a centre
        };
        let start = centroids.len();
        centroids.extend_from_slice(&data[pick * dim..(pick + 1) * dim]);
        let newest = &centroids[start..];
        let newest_norm2 = norm2(newest);
        nearest_d.par_iter_mut().zip(data.par_chunks_exact(dim)).zip(&norms2).for_each(|((d, v), &v_norm2)| {
            // min(0, w) is 0: a row at a centre (or with no finite distance) stays so.
            if *d == 0.0 || cannot_be_nearer(metric, v, v_norm2, newest, newest_norm2, *d) {
                return;
            }
            *d = d.min(weight(metric.centroid_distance(v, newest)));
        });
    }
    centroids
}

/// k-means++'s weight of a row at distance `d` from its nearest centre.
fn weight(d: f64) -> f64 {
    if d.is_finite() {
        d.max(0.0).powi(2)
    } else {
        0.0
    }
}

/// True when the distance of `v` to centre `c` is surely at least that of its nearest
/// centre so far (`current`, a weight), so that the weight stays: an estimate from one
/// f32 dot product and the norms, less a bound on its error and on the exact distance's.
/// Most rows of a late seeding step pass this test, which reads each row once with fused
/// multiply-adds instead of the exact kernel's three sums. False when unsure.
fn cannot_be_nearer(metric: Metric, v: &[f32], v_norm2: f64, c: &[f32], c_norm2: f64, current: f64) -> bool {
    if !NORM2_RANGE.contains(&v_norm2) || !NORM2_RANGE.contains(&c_norm2) {
        return false;
    }
    let dot = dot_fma(v, c) as f64;
    let (vn, cn) = (v_norm2.sqrt(), c_norm2.sqrt());
    let error = (dot_error_factor(v.len()) + 8.0) * U;
    // The relative slack covers the rounding of weight() (a square) and of sqrt(current).
    match metric.list_metric() {
        Metric::Cosine => 1.0 - dot / (vn * cn) - error >= current.sqrt() * (1.0 + 1e-9),
        _ => v_norm2 + c_norm2 - 2.0 * dot - error * (vn + cn).powi(2) >= current * (1.0 + 1e-9),
    }
}

/// Dot product with fused multiply-adds in 16 lanes (the estimate of `cannot_be_nearer`).
#[inline]
fn dot_fma(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut acc = [0f32; LANES];
    let (ca, ra) = a.as_chunks::<LANES>();
    let (cb, rb) = b.as_chunks::<LANES>();
    for (x, y) in ca.iter().zip(cb) {
        for i in 0..LANES {
            acc[i] = x[i].mul_add(y[i], acc[i]);
        }
    }
    acc.iter().sum::<f32>() + ra.iter().zip(rb).map(|(x, y)| x * y).sum::<f32>()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::nearest::nearest;
    use super::*;

    /// `per` noisy rows around each of `centres` random centres in [-1, 1]^dim.
    pub(crate) fn clustered(centres: usize, per: usize, dim: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let c: Vec<f32> = (0..centres * dim).map(|_| rng.random_range(-1.0..1.0)).collect();
        let mut rows = Vec::new();
        for i in 0..centres * per {
            let centre = &c[(i % centres) * dim..(i % centres + 1) * dim];
            rows.extend(centre.iter().map(|x| x + rng.random_range(-0.05..0.05)));
        }
        (c, rows)
    }

    #[test]
    fn finds_well_separated_clusters() {
        let (centres, rows) = clustered(8, 50, 16, 7);
        let found = kmeans(&rows, 16, 8, Metric::L2, 1, &mut || {});
        assert_eq!(found.len(), 8 * 16);
        // Every true centre has a found centroid close to it.
        for c in centres.chunks_exact(16) {
            let (_, d) = nearest(Metric::L2, &found, 16, c);
            assert!(d < 0.1, "centre missed by {d}");
        }
    }

    #[test]
    fn cosine_centroids_are_unit_vectors() {
        let (_, rows) = clustered(4, 20, 8, 3);
        let found = kmeans(&rows, 8, 4, Metric::Cosine, 1, &mut || {});
        for c in found.chunks_exact(8) {
            assert!((distance::norm(c) - 1.0).abs() < 1e-5);
        }
    }

    #[test]
    fn degenerate_inputs() {
        // No rows: one zero centroid.
        assert_eq!(kmeans(&[], 3, 10, Metric::L2, 1, &mut || {}), vec![0.0; 3]);
        // Fewer rows than lists: one list per row at most.
        let rows = [1.0f32, 2.0, 3.0, 4.0];
        assert_eq!(kmeans(&rows, 2, 10, Metric::L2, 1, &mut || {}).len(), 4);
        // All rows equal, zero vectors under cosine: no panic, finite output.
        let zeros = vec![0.0f32; 40];
        let c = kmeans(&zeros, 4, 3, Metric::Cosine, 1, &mut || {});
        assert_eq!(c.len(), 12);
        let same = vec![0.5f32; 40];
        assert_eq!(kmeans(&same, 4, 3, Metric::L2, 1, &mut || {}).len(), 12);
    }

    #[test]
    fn deterministic_for_a_seed() {
        let (_, rows) = clustered(5, 30, 4, 9);
        let a = kmeans(&rows, 4, 5, Metric::L2, 42, &mut || {});
        let b = kmeans(&rows, 4, 5, Metric::L2, 42, &mut || {});
        assert_eq!(a, b);
    }

    /// k-means as it was before the matrix products and the seeding's filter: one
    /// `nearest` per row, every seeding distance computed.
    fn pairwise_kmeans(data: &[f32], dim: usize, k: usize, metric: Metric, seed: u64) -> Vec<f32> {
        let n = data.len() / dim;
        let k = k.clamp(1, n);
        let cosine = metric.list_metric() == Metric::Cosine;
        let data: Vec<f32> =
            if cosine { data.chunks_exact(dim).flat_map(distance::l2_normalize).collect() } else { data.to_vec() };
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let first = rng.random_range(0..n);
        let mut centroids = data[first * dim..(first + 1) * dim].to_vec();
        let mut nearest_d: Vec<f64> =
            data.chunks_exact(dim).map(|v| weight(metric.centroid_distance(v, &centroids[..dim]))).collect();
        for _ in 1..k {
            let total: f64 = nearest_d.iter().sum();
            let pick = if total > 0.0 {
                let mut target = rng.random::<f64>() * total;
                let mut pick = n - 1;
                for (i, d) in nearest_d.iter().enumerate() {
                    if target < *d {
                        pick = i;
                        break;
                    }
                    target -= d;
                }
                pick
            } else {
                rng.random_range(0..n)
            };
            let start = centroids.len();
            centroids.extend_from_slice(&data[pick * dim..(pick + 1) * dim]);
            for (d, v) in nearest_d.iter_mut().zip(data.chunks_exact(dim)) {
                *d = d.min(weight(metric.centroid_distance(v, &centroids[start..])));
            }
        }
        let mut assignment = vec![usize::MAX; n];
        for _ in 0..MAX_ITERATIONS {
            let next: Vec<usize> = data.chunks_exact(dim).map(|v| nearest(metric, &centroids, dim, v).0).collect();
            let changed = next.iter().zip(&assignment).filter(|(a, b)| a != b).count();
            assignment = next;
            let mut sums = vec![0f64; k * dim];
            let mut counts = vec![0usize; k];
            for (v, &c) in data.chunks_exact(dim).zip(&assignment) {
                counts[c] += 1;
                for (s, x) in sums[c * dim..(c + 1) * dim].iter_mut().zip(v) {
                    *s += *x as f64;
                }
            }
            for c in 0..k {
                let centroid = &mut centroids[c * dim..(c + 1) * dim];
                if counts[c] == 0 {
                    let r = rng.random_range(0..n);
                    centroid.copy_from_slice(&data[r * dim..(r + 1) * dim]);
                    continue;
                }
                for (x, s) in centroid.iter_mut().zip(&sums[c * dim..(c + 1) * dim]) {
                    *x = (*s / counts[c] as f64) as f32;
                }
                if cosine {
                    let unit = distance::l2_normalize(centroid);
                    centroid.copy_from_slice(&unit);
                }
            }
            if changed * 1000 <= n {
                break;
            }
        }
        centroids
    }

    #[test]
    fn same_centroids_as_computing_every_distance() {
        // Overlapping clusters (many rows near two centroids), several seeds and sizes.
        for (centres, per, dim, k, seed) in [(40, 30, 32, 40, 1), (100, 20, 128, 60, 2), (10, 50, 5, 25, 3)] {
            let (_, mut rows) = clustered(centres, per, dim, seed);
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rows.iter_mut().for_each(|x| *x += rng.random_range(-0.5..0.5));
            rows[..dim].fill(0.0); // a zero row (no cosine direction)
            for metric in [Metric::Cosine, Metric::L2, Metric::InnerProduct] {
                let fast = kmeans(&rows, dim, k, metric, seed, &mut || {});
                assert_eq!(fast, pairwise_kmeans(&rows, dim, k, metric, seed), "{metric:?} {dim}-d seed {seed}");
            }
        }
    }

    #[test]
    fn tick_is_called() {
        let (_, rows) = clustered(3, 10, 4, 1);
        let mut ticks = 0;
        kmeans(&rows, 4, 3, Metric::L2, 1, &mut || ticks += 1);
        assert!(ticks >= 3);
    }
}
