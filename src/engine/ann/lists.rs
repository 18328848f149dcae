//! Build-time sampling and search-time probing over the inverted lists.
use super::{cmp_distance, Metric};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

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
///
/// Only what was handed out is sorted: a batch selects the next `probes` nearest of the
/// rest (O(lists)) and sorts just those, instead of sorting all lists up front (with 1,000
/// lists and 1 probe, that sort was ~20 % of the scan's time).
pub struct ProbeOrder {
    /// (distance, list); `ranked[..next]` handed out in order, the rest not yet ordered
    ranked: Vec<(f64, usize)>,
    next: usize,
}

/// Nearest first; equal distances by list number, so the order is total and the same
/// whichever way the lists are selected.
fn by_distance_then_list(a: &(f64, usize), b: &(f64, usize)) -> std::cmp::Ordering {
    cmp_distance(a.0, b.0).then(a.1.cmp(&b.1))
}

impl ProbeOrder {
    pub fn new(metric: Metric, centroids: &[f32], dim: usize, query: &[f32]) -> ProbeOrder {
        let ranked =
            centroids.chunks_exact(dim).enumerate().map(|(i, c)| (metric.centroid_distance(query, c), i)).collect();
        ProbeOrder { ranked, next: 0 }
    }

    /// Every list, in list order (a query without a vector: ORDER BY col <=> NULL).
    pub fn all(lists: usize) -> ProbeOrder {
        ProbeOrder { ranked: (0..lists).map(|i| (0.0, i)).collect(), next: 0 }
    }

    /// The next up to `probes` lists; empty once every list was handed out.
    pub fn next_batch(&mut self, probes: usize) -> Vec<usize> {
        let start = self.next;
        let end = (start + probes.max(1)).min(self.ranked.len());
        let rest = &mut self.ranked[start..];
        let batch = end - start;
        if batch > 0 && batch < rest.len() {
            rest.select_nth_unstable_by(batch - 1, by_distance_then_list);
        }
        rest[..batch].sort_unstable_by(by_distance_then_list);
        self.next = end;
        self.ranked[start..end].iter().map(|&(_, i)| i).collect()
    }

    pub fn visited(&self) -> usize {
        self.next
    }
}

/// Lists a scan reads, per `probes`, for every list's worth of rows its caller takes.
pub const WIDENING: u64 = 4;

/// Whether a scan that has read `read` rows from its lists so far and returned `returned`
/// of them should read its next `probes` lists before it returns another row.
///
/// An unfiltered `ORDER BY ... LIMIT k` takes k rows, and its nearest k lie in about the
/// `probes` nearest lists: that is what the user's `probes` says. A caller that takes many
/// more rows is almost always a WHERE filter rejecting them, and the nearest R rows of the
/// index (among which the filter finds its k) lie in more lists the larger R is. So once
/// the caller took 1/(`WIDENING` × `probes`) of the rows read, the scan reads the next
/// `probes` lists and merges their rows with those not yet returned: `WIDENING` × `probes`
/// lists for every list's worth of rows taken. Widening only when the lists read ran dry
/// (before session 11) returned every row of the nearest lists before any row of the
/// next, and found 3.3 of the true 10 nearest rows for a filter that keeps 0.1 % of a
/// million rows; `WIDENING` 1, 2, 4 and 8 found 7.2, 8.6, 9.5 and 9.9 of them at 2.1, 2.6,
/// 4.0 and 5.8 times the time (BENCHMARKS.md, "Filtered searches, widening ...").
pub fn wants_more_lists(returned: u64, read: u64, probes: usize) -> bool {
    returned.saturating_mul(probes as u64).saturating_mul(WIDENING) >= read
}

/// Candidates of the batches read so far, returned nearest first.
///
/// A batch of `probes` lists holds thousands of rows, but an unfiltered `LIMIT k` takes
/// only the first k. So pushing keeps the `READY` nearest in a small max-heap (one
/// comparison with its farthest for most rows) and the others in an unordered pool; a
/// full sort of every row was ~10 % of a scan's time at 20 probes, a heap of all of them
/// ~8 %. Only a caller that takes more than `READY` rows, or reads more lists while rows
/// wait (a filter is rejecting rows), pays for a heap of every row not yet returned
/// (`go_deep`). Ties come out in push order, as from the stable sort this replaces: the
/// order is by (distance, push number).
pub struct Candidates<T> {
    /// the nearest of the rows pushed since the last `finish` (max-heap)
    best: BinaryHeap<Entry<T>>,
    /// the other rows pushed since then
    rest: Vec<Entry<T>>,
    /// the next rows to return, farthest first (`pop` takes from the end); every one is
    /// nearer than every row in `pool`
    ready: Vec<Entry<T>>,
    /// rows not yet returned and not in `ready`
    pool: Vec<Entry<T>>,
    pushed: u64,
    /// every row not yet returned, once the caller took more than the first READY rows or
    /// more lists were read (`go_deep`); while it holds rows, `best`, `rest`, `ready` and
    /// `pool` are empty (and once it is empty again, so are they: the next batch starts
    /// afresh)
    deep: BinaryHeap<Reverse<Entry<T>>>,
}

/// Rows made ready by the first `finish`.
const READY: usize = 64;

/// One candidate, ordered by (distance key, push number): nearest first.
#[derive(Clone, Copy)]
struct Entry<T> {
    key: u64,
    seq: u64,
    distance: f64,
    item: T,
}

/// The distance as an unsigned key in `cmp_distance`'s order: -0.0 and 0.0 equal, every
/// NaN equal and above +infinity (the usual sign-flip trick on the IEEE bits otherwise).
#[inline]
fn order_key(d: f64) -> u64 {
    if d.is_nan() {
        return u64::MAX;
    }
    let bits = (d + 0.0).to_bits(); // -0.0 + 0.0 = +0.0
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.key, self.seq) == (other.key, other.seq)
    }
}
impl<T> Eq for Entry<T> {}
impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Entry<T> {
    #[inline]
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.key, self.seq).cmp(&(other.key, other.seq))
    }
}

impl<T: Copy> Candidates<T> {
    pub fn new() -> Self {
        Candidates {
            best: BinaryHeap::new(),
            rest: Vec::new(),
            ready: Vec::new(),
            pool: Vec::new(),
            pushed: 0,
            deep: BinaryHeap::new(),
        }
    }

    /// Room for `additional` more pushes (one allocation instead of repeated doubling).
    pub fn reserve(&mut self, additional: usize) {
        self.rest.reserve(additional);
    }

    #[inline(always)]
    pub fn push(&mut self, d: f64, item: T) {
        let entry = Entry { key: order_key(d), seq: self.pushed, distance: d, item };
        self.pushed += 1;
        if !self.deep.is_empty() {
            self.deep.push(Reverse(entry));
        } else {
            self.offer(entry);
        }
    }

    /// Into `best` if it is among the READY nearest offered so far, else into `rest`.
    #[inline(always)]
    fn offer(&mut self, entry: Entry<T>) {
        if self.best.len() < READY {
            self.best.push(entry);
        } else if let Some(mut farthest) = self.best.peek_mut() {
            if entry < *farthest {
                self.rest.push(std::mem::replace(&mut *farthest, entry));
            } else {
                self.rest.push(entry);
            }
        }
    }

    /// Makes what was pushed since the last `finish` poppable, merged with what earlier
    /// batches left unreturned.
    pub fn finish(&mut self) {
        if !self.deep.is_empty() {
            return; // pushed into the heap already
        }
        if !self.ready.is_empty() || !self.pool.is_empty() {
            self.go_deep(); // rows of more lists while earlier rows wait: a filter at work
            return;
        }
        self.make_ready();
    }

    /// `best` becomes `ready`, `rest` the pool (and the empty pool the next `rest`).
    fn make_ready(&mut self) {
        let best = std::mem::take(&mut self.best);
        self.ready = best.into_sorted_vec();
        self.ready.reverse();
        debug_assert!(self.pool.is_empty());
        std::mem::swap(&mut self.pool, &mut self.rest);
    }

    pub fn pop(&mut self) -> Option<(f64, T)> {
        if self.ready.is_empty() && !self.pool.is_empty() {
            self.go_deep();
        }
        if self.deep.is_empty() {
            self.ready.pop().map(|e| (e.distance, e.item))
        } else {
            self.deep.pop().map(|e| (e.0.distance, e.0.item))
        }
    }

    /// The caller wants more rows than were made ready, or rows of more lists were pushed
    /// after the first `finish`: a filter is rejecting rows. From here every row not yet
    /// returned is in one min-heap (`deep`): each later push and pop costs O(log n). Making
    /// the next READY rows ready again and again went over the whole pool once per 64 rows
    /// taken, and merging each further batch re-offered the whole pool: with a filter that
    /// keeps 0.1 % of a million rows, taking ~10,000 rows of ~400,000 read, that was slower
    /// than the exact scan.
    fn go_deep(&mut self) {
        let mut rows = std::mem::take(&mut self.deep).into_vec();
        rows.extend(self.ready.drain(..).map(Reverse));
        rows.extend(self.pool.drain(..).map(Reverse));
        rows.extend(self.best.drain().map(Reverse));
        rows.extend(self.rest.drain(..).map(Reverse));
        self.deep = BinaryHeap::from(rows); // O(n)
    }

    /// The allocations, emptied, for the next scan's `with_spare` (see there).
    pub fn into_spare(mut self) -> Spare<T> {
        self.clear();
        Spare { rest: self.rest, pool: self.pool }
    }

    /// Candidates that push into `spare`'s allocations: a scan that reuses the previous
    /// scan's writes its rows into memory that is mapped and likely still in cache, where a
    /// fresh allocation of ~0.5 MB (20 probes) page-faulted on every query.
    pub fn with_spare(spare: Spare<T>) -> Self {
        Candidates { rest: spare.rest, pool: spare.pool, ..Candidates::new() }
    }

    /// Bytes held by the allocations.
    pub fn capacity_bytes(&self) -> usize {
        (self.rest.capacity() + self.pool.capacity()) * std::mem::size_of::<Entry<T>>()
    }

    pub fn clear(&mut self) {
        self.best.clear();
        self.rest.clear();
        self.ready.clear();
        self.pool.clear();
        self.pushed = 0;
        self.deep.clear();
    }
}

/// Empty vectors with room, kept between scans (`Candidates::into_spare`).
pub struct Spare<T> {
    rest: Vec<Entry<T>>,
    pool: Vec<Entry<T>>,
}

impl<T> Default for Spare<T> {
    fn default() -> Self {
        Spare { rest: Vec::new(), pool: Vec::new() }
    }
}

impl<T: Copy> Default for Candidates<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::super::kmeans::kmeans;
    use super::super::nearest::nearest;
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

    /// Batches taken lazily equal one full sort by (distance, list), ties included.
    #[test]
    fn probe_batches_equal_a_full_sort() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let dim = 4;
        // Centroids on a coarse grid, so that many are equally far from the query.
        let centroids: Vec<f32> = (0..200 * dim).map(|_| rng.random_range(0..4) as f32).collect();
        let query = [1.0f32, 2.0, 0.0, 3.0];
        let mut full: Vec<(f64, usize)> = centroids
            .chunks_exact(dim)
            .enumerate()
            .map(|(i, c)| (Metric::L2.centroid_distance(&query, c), i))
            .collect();
        full.sort_by(|a, b| cmp_distance(a.0, b.0).then(a.1.cmp(&b.1)));
        let expected: Vec<usize> = full.iter().map(|x| x.1).collect();
        for probes in [1, 3, 7, 64, 500] {
            let mut order = ProbeOrder::new(Metric::L2, &centroids, dim, &query);
            let mut got = Vec::new();
            loop {
                let batch = order.next_batch(probes);
                if batch.is_empty() {
                    break;
                }
                got.extend(batch);
            }
            assert_eq!(got, expected, "probes {probes}");
        }
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

    #[test]
    fn order_keys_follow_cmp_distance() {
        let values = [
            f64::NEG_INFINITY,
            -2.5,
            -1e-300,
            -0.0,
            0.0,
            1e-300,
            0.5,
            1.0,
            2.0,
            f64::MAX,
            f64::INFINITY,
            f64::NAN,
            -f64::NAN,
        ];
        for &a in &values {
            for &b in &values {
                assert_eq!(order_key(a).cmp(&order_key(b)), cmp_distance(a, b), "{a} vs {b}");
            }
        }
    }

    /// The heap returns exactly what a stable sort by distance returned, ties and NaN
    /// included, across batches.
    #[test]
    fn candidates_equal_a_stable_sort() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut c = Candidates::new();
        let mut reference: Vec<(f64, u32)> = Vec::new();
        let mut pos = 0;
        let mut id = 0u32;
        for batch in 0..5 {
            for _ in 0..300 {
                // Few distinct values, so that many tie; some NaN, some -0.0.
                let d = match rng.random_range(0..12) {
                    0 => f64::NAN,
                    1 => -0.0,
                    k => (k as f64 - 4.0) / 2.0,
                };
                c.push(d, id);
                reference.push((d, id));
                id += 1;
            }
            c.finish();
            reference.drain(..pos);
            reference.sort_by(|a, b| cmp_distance(a.0, b.0));
            pos = 0;
            for _ in 0..(40 * batch + 7) {
                let got = c.pop().map(|x| x.1);
                assert_eq!(got, reference.get(pos).map(|x| x.1));
                pos += 1;
            }
        }
        let rest: Vec<u32> = std::iter::from_fn(|| c.pop().map(|x| x.1)).collect();
        let expected: Vec<u32> = reference[pos..].iter().map(|x| x.1).collect();
        assert_eq!(rest, expected);
        // The allocations go to the next scan, empty.
        let held = c.capacity_bytes();
        let mut next = Candidates::with_spare(c.into_spare());
        assert_eq!(next.capacity_bytes(), held);
        assert!(next.pop().is_none());
        next.push(2.0, 1);
        next.push(1.0, 2);
        next.finish();
        assert_eq!(next.pop(), Some((1.0, 2)));
    }

    /// k-means with 40 lists over `rows` (L2), and each list's row numbers.
    fn forty_lists(rows: &[f32], dim: usize) -> (Vec<f32>, Vec<Vec<usize>>) {
        let lists = 40;
        let centroids = kmeans(rows, dim, lists, Metric::L2, 5, &mut || {});
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); lists];
        for (i, v) in rows.chunks_exact(dim).enumerate() {
            members[nearest(Metric::L2, &centroids, dim, v).0].push(i);
        }
        (centroids, members)
    }

    /// The whole search in plain Rust, as the index runs it: recall@10 on clustered data
    /// with a few probes, and widening returns every row exactly once.
    #[test]
    fn ivf_search_recall_and_exhaustive_widening() {
        let dim = 16;
        let (_, rows) = super::super::kmeans::tests::clustered(40, 50, dim, 11);
        let n = rows.len() / dim;
        let (centroids, members) = forty_lists(&rows, dim);
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
                let batch = order.next_batch(3);
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

    #[test]
    fn a_scan_widens_when_its_caller_takes_a_quarter_of_a_list_per_probe() {
        // 10 probes of 1,000-row lists: an unfiltered LIMIT up to 249 stays in them.
        assert!(!wants_more_lists(249, 10_000, 10));
        assert!(wants_more_lists(250, 10_000, 10));
        // After the next 10 lists, at 500 rows taken; 1 probe widens 10 times as often.
        assert!(!wants_more_lists(499, 20_000, 10));
        assert!(wants_more_lists(250, 1_000, 1));
        assert!(!wants_more_lists(u64::MAX / 2, u64::MAX, 10) || wants_more_lists(u64::MAX, u64::MAX, 10));
    }

    /// The filtered scan in plain Rust, as amgettuple runs it, on rows without clusters (the
    /// hard case: a row's nearest rows are spread over many lists) and a filter that keeps
    /// 2 % of them. Reading the next lists only when the lists read ran dry returns the
    /// matches of the nearest lists first, though the next lists hold nearer ones; widening
    /// as the caller takes rows finds the true nearest matches.
    #[test]
    fn a_filtered_scan_widens_early_and_finds_the_nearest_matches() {
        let dim = 16;
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let rows: Vec<f32> = (0..4000 * dim).map(|_| rng.random_range(-1.0..1.0)).collect();
        let n = rows.len() / dim;
        let (centroids, members) = forty_lists(&rows, dim);
        let matches = |i: usize| i % 50 == 7;
        let probes = 3;
        let recall = |early: bool| {
            let mut hits = 0;
            let queries = 20;
            for q in 0..queries {
                let query = &rows[q * 97 * dim..(q * 97 + 1) * dim];
                let mut exact: Vec<(f64, usize)> = (0..n)
                    .filter(|&i| matches(i))
                    .map(|i| (Metric::L2.distance(query, &rows[i * dim..(i + 1) * dim]), i))
                    .collect();
                exact.sort_by(|a, b| cmp_distance(a.0, b.0));
                let mut order = ProbeOrder::new(Metric::L2, &centroids, dim, query);
                let mut cand = Candidates::new();
                let (mut read, mut returned) = (0u64, 0u64);
                let mut got = Vec::new();
                let mut read_lists = |cand: &mut Candidates<usize>, read: &mut u64| {
                    let batch = order.next_batch(probes);
                    for &l in &batch {
                        for &i in &members[l] {
                            cand.push(Metric::L2.distance(query, &rows[i * dim..(i + 1) * dim]), i);
                        }
                        *read += members[l].len() as u64;
                    }
                    cand.finish();
                    !batch.is_empty()
                };
                while got.len() < 10 {
                    if early && read > 0 && wants_more_lists(returned, read, probes) {
                        read_lists(&mut cand, &mut read);
                    }
                    match cand.pop() {
                        Some((_, i)) => {
                            returned += 1;
                            if matches(i) {
                                got.push(i);
                            }
                        }
                        None if read_lists(&mut cand, &mut read) => {}
                        None => break,
                    }
                }
                let top: std::collections::HashSet<usize> = exact[..10].iter().map(|x| x.1).collect();
                hits += got.iter().filter(|i| top.contains(i)).count();
            }
            hits as f64 / (10 * queries) as f64
        };
        let (late, early) = (recall(false), recall(true));
        assert!(early >= 0.95, "recall@10 {early} widening early, {late} when the lists ran dry");
        assert!(early > late, "recall@10 {early} widening early, {late} when the lists ran dry");
    }
}
