//! k-means for the index's lists: k-means++ seeding, then Lloyd iterations, parallel over
//! rows with rayon (pure arithmetic; no Postgres call happens on the worker threads).
//! Deterministic for a given sample and seed, so a REINDEX of the same rows gives the
//! same lists.
use super::Metric;
use crate::engine::distance;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Upper bound on Lloyd iterations; they stop earlier once fewer than 0.1 % of the rows
/// change list.
pub const MAX_ITERATIONS: usize = 15;

/// Index of the nearest of `centroids` (row-major, `dim` wide) to `v`, with its distance.
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
        let next: Vec<usize> = data.par_chunks_exact(dim).map(|v| nearest(metric, &centroids, dim, v).0).collect();
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
    let weight = |d: f64| if d.is_finite() { d.max(0.0).powi(2) } else { 0.0 };
    let mut nearest_d: Vec<f64> =
        data.par_chunks_exact(dim).map(|v| weight(metric.centroid_distance(v, &centroids[..dim]))).collect();
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
        nearest_d.par_iter_mut().zip(data.par_chunks_exact(dim)).for_each(|(d, v)| {
            *d = d.min(weight(metric.centroid_distance(v, newest)));
        });
    }
    centroids
}

#[cfg(test)]
pub(crate) mod tests {
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

    #[test]
    fn tick_is_called() {
        let (_, rows) = clustered(3, 10, 4, 1);
        let mut ticks = 0;
        kmeans(&rows, 4, 3, Metric::L2, 1, &mut || ticks += 1);
        assert!(ticks >= 3);
    }
}
