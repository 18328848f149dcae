//! Build-time sampling and search-time probing over the inverted lists.
use super::{cmp_distance, Metric};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Reservoir sample of up to `capacity` rows (Algorithm R): every row seen so far has the
/// same chance to be in the sample, in memory bounded by `capacity * dim` floats.
pub struct Reservoir {
    dim: usize,
    capacity: usize,
    seen: u64,
    rows: Vec<f32>,
    rng: ChaCha8Rng,
}

impl Reservoir {
    pub fn new(dim: usize, capacity: usize, seed: u64) -> Reservoir {
        Reservoir { dim, capacity, seen: 0, rows: Vec::new(), rng: ChaCha8Rng::seed_from_u64(seed) }
    }

    pub fn add(&mut self, v: &[f32]) {
        debug_assert_eq!(v.len(), self.dim);
        self.seen += 1;
        if self.rows.len() < self.capacity * self.dim {
            self.rows.extend_from_slice(v);
        } else if self.capacity > 0 {
            let j = self.rng.random_range(0..self.seen);
            if (j as usize) < self.capacity {
                let at = j as usize * self.dim;
                self.rows[at..at + self.dim].copy_from_slice(v);
            }
        }
    }

    pub fn seen(&self) -> u64 {
        self.seen
    }

    pub fn rows(&self) -> &[f32] {
        &self.rows
    }
}

/// Lists in the order a query visits them: nearest centroid first. The scan takes them in
/// batches of `probes`: the first batch answers an unfiltered `LIMIT k`; each further batch
/// widens the search when the caller keeps asking for rows (a `WHERE` filter rejected
/// some), until every list has been read.
pub struct ProbeOrder {
    order: Vec<usize>,
    next: usize,
}

impl ProbeOrder {
    pub fn new(metric: Metric, centroids: &[f32], dim: usize, query: &[f32]) -> ProbeOrder {
        let mut ranked: Vec<(f64, usize)> =
            centroids.chunks_exact(dim).enumerate().map(|(i, c)| (metric.centroid_distance(query, c), i)).collect();
        ranked.sort_by(|a, b| cmp_distance(a.0, b.0).then(a.1.cmp(&b.1)));
        ProbeOrder { order: ranked.into_iter().map(|(_, i)| i).collect(), next: 0 }
    }

    /// Every list, in list order (a query without a vector: ORDER BY col <=> NULL).
    pub fn all(lists: usize) -> ProbeOrder {
        ProbeOrder { order: (0..lists).collect(), next: 0 }
    }

    /// The next up to `probes` lists; empty once every list was handed out.
    pub fn next_batch(&mut self, probes: usize) -> &[usize] {
        let start = self.next;
        self.next = (start + probes.max(1)).min(self.order.len());
        &self.order[start..self.next]
    }

    pub fn visited(&self) -> usize {
        self.next
    }
}

/// Candidates of one batch, returned nearest first.
pub struct Candidates<T> {
    items: Vec<(f64, T)>,
    pos: usize,
}

impl<T: Copy> Candidates<T> {
    pub fn new() -> Self {
        Candidates { items: Vec::new(), pos: 0 }
    }

    pub fn push(&mut self, d: f64, item: T) {
        self.items.push((d, item));
    }

    /// Sorts what was pushed since the last `finish`; earlier, already returned items are
    /// dropped.
    pub fn finish(&mut self) {
        self.items.drain(..self.pos);
        self.pos = 0;
        self.items.sort_by(|a, b| cmp_distance(a.0, b.0));
    }

    pub fn pop(&mut self) -> Option<(f64, T)> {
        let item = self.items.get(self.pos).copied();
        if item.is_some() {
            self.pos += 1;
        }
        item
    }

    pub fn clear(&mut self) {
        self.items.clear();
        self.pos = 0;
    }
}

impl<T: Copy> Default for Candidates<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::super::kmeans::{kmeans, nearest};
    use super::*;

    #[test]
    fn reservoir_keeps_at_most_capacity_and_everything_below_it() {
        let mut r = Reservoir::new(2, 3, 1);
        for i in 0..2 {
            r.add(&[i as f32, 0.0]);
        }
        assert_eq!(r.rows(), &[0.0, 0.0, 1.0, 0.0]);
        for i in 2..1000 {
            r.add(&[i as f32, 0.0]);
        }
        assert_eq!(r.rows().len(), 6);
        assert_eq!(r.seen(), 1000);
        // The sample is not just the first rows.
        assert!(r.rows().chunks(2).any(|v| v[0] >= 3.0));
    }

    #[test]
    fn probe_order_is_nearest_first_and_widens_to_every_list() {
        let centroids = [0.0f32, 0.0, 10.0, 10.0, 1.0, 1.0, 5.0, 5.0];
        let mut p = ProbeOrder::new(Metric::L2, &centroids, 2, &[0.9, 0.9]);
        assert_eq!(p.next_batch(2), &[2, 0]);
        assert_eq!(p.next_batch(2), &[3, 1]);
        assert!(p.next_batch(2).is_empty());
        assert_eq!(p.visited(), 4);
        let mut all = ProbeOrder::all(3);
        assert_eq!(all.next_batch(10), &[0, 1, 2]);
    }

    #[test]
    fn candidates_come_out_sorted_and_batches_do_not_repeat() {
        let mut c = Candidates::new();
        c.push(3.0, 'c');
        c.push(f64::NAN, 'n');
        c.push(1.0, 'a');
        c.finish();
        assert_eq!(c.pop().map(|x| x.1), Some('a'));
        c.push(0.5, 'z');
        c.finish();
        let rest: Vec<char> = std::iter::from_fn(|| c.pop().map(|x| x.1)).collect();
        assert_eq!(rest, vec!['z', 'c', 'n']);
    }

    /// The whole search in plain Rust, as the index runs it: recall@10 on clustered data
    /// with a few probes, and widening returns every row exactly once.
    #[test]
    fn ivf_search_recall_and_exhaustive_widening() {
        let dim = 16;
        let (_, rows) = super::super::kmeans::tests::clustered(40, 50, dim, 11);
        let n = rows.len() / dim;
        let lists = 40;
        let centroids = kmeans(&rows, dim, lists, Metric::L2, 5, &mut || {});
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); lists];
        for (i, v) in rows.chunks_exact(dim).enumerate() {
            members[nearest(Metric::L2, &centroids, dim, v).0].push(i);
        }
        let mut hits = 0;
        let queries = 20;
        for q in 0..queries {
            let query = &rows[q * 97 * dim..(q * 97 + 1) * dim];
            let mut exact: Vec<(f64, usize)> =
                rows.chunks_exact(dim).enumerate().map(|(i, v)| (Metric::L2.distance(query, v), i)).collect();
            exact.sort_by(|a, b| cmp_distance(a.0, b.0));
            let mut order = ProbeOrder::new(Metric::L2, &centroids, dim, query);
            let mut cand = Candidates::new();
            let mut got = Vec::new();
            let mut seen = std::collections::HashSet::new();
            loop {
                let batch = order.next_batch(3).to_vec();
                if batch.is_empty() {
                    break;
                }
                for l in batch {
                    for &i in &members[l] {
                        cand.push(Metric::L2.distance(query, &rows[i * dim..(i + 1) * dim]), i);
                    }
                }
                cand.finish();
                while let Some((_, i)) = cand.pop() {
                    assert!(seen.insert(i), "row {i} returned twice");
                    got.push(i);
                }
            }
            assert_eq!(got.len(), n);
            let top: std::collections::HashSet<usize> = exact[..10].iter().map(|x| x.1).collect();
            hits += got[..10].iter().filter(|i| top.contains(i)).count();
        }
        let recall = hits as f64 / (10 * queries) as f64;
        assert!(recall >= 0.9, "recall@10 {recall}");
    }
}
