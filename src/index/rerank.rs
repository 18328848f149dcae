//! Format 2's second pass: the rows a batch's first pass ranked best by their codes get
//! their exact distance from their vector items, and only those go to the scan's
//! candidates (in exact order, as format 1's rows).
//!
//! How many: `FIRST_RERANK` (100) rows of each batch before its first row is returned.
//! The index is not told the query's LIMIT; 100 is ten times the usual k = 10, where the
//! study outside Postgres (benches/quantised_first_pass.py) and the benchmark in
//! BENCHMARKS.md ("sq8 in ann") lose no recall@10 against re-ranking every probed row.
//! A caller that wants more rows (LIMIT above ~100, or a WHERE filter rejected rows) gets
//! the next best 200, then 400, ... of the batch's pool, each set in exact order (the
//! order between sets is by codes: "relaxed", as between batches). Lists the scan reads
//! later (`wants_more_lists`) add their rows to the same pool, which then selects from all
//! rows not yet taken; once the pool is empty the scan reads the next lists, so a filtered
//! query still gets k rows when k match.
//!
//! The vector items are read in page order (each page pinned and share-locked once for
//! all of its candidates). A candidate whose vector item is unused or carries another TID
//! was removed by VACUUM after the code page was read: it is dead to every snapshot and
//! is dropped.
use super::pages;
use super::recent_buffers;
use super::sq8_pages::{self, Vector, VectorAt};
use crate::engine::ann::lists::Candidates;
use crate::engine::ann::Metric;
use pgrx::pg_sys;

pub const FIRST_RERANK: usize = 100;

/// The rows of a batch's first pass: the `FIRST_RERANK` nearest by codes in a max-heap (one
/// comparison with its farthest for most rows), the others unordered in `rest`, selected
/// only when the caller wants more rows than the heap held.
#[derive(Default)]
pub struct Pool {
    best: std::collections::BinaryHeap<ByDistance>,
    rest: Vec<Approx>,
}

struct ByDistance(Approx);

impl PartialEq for ByDistance {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for ByDistance {}
impl PartialOrd for ByDistance {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ByDistance {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.distance.total_cmp(&other.0.distance)
    }
}

impl Pool {
    pub fn clear(&mut self) {
        self.best.clear();
        self.rest.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.best.is_empty() && self.rest.is_empty()
    }

    pub fn reserve(&mut self, rows: usize) {
        self.rest.reserve(rows);
    }

    /// Bytes held by the allocations (a scan keeps them for the next one up to a bound).
    pub fn capacity_bytes(&self) -> usize {
        (self.rest.capacity() + self.best.capacity()) * std::mem::size_of::<Approx>()
    }

    #[inline(always)]
    pub fn push(&mut self, row: Approx) {
        if self.best.len() < FIRST_RERANK {
            self.best.push(ByDistance(row));
        } else if let Some(mut farthest) = self.best.peek_mut() {
            if row.distance < farthest.0.distance {
                self.rest.push(std::mem::replace(&mut farthest.0, row));
            } else {
                self.rest.push(row);
            }
        }
    }

    /// After a batch was read into a pool whose heap was already taken: its heap holds only
    /// the nearest of that batch, so it joins the rest and the next `take_nearest` selects
    /// from every row not yet taken.
    pub fn merge_heap_into_rest(&mut self) {
        self.rest.extend(self.best.drain().map(|b| b.0));
    }

    /// The nearest rows not yet taken into `out`: the heap's the first time, then the `n`
    /// nearest of the rest.
    pub fn take_nearest(&mut self, n: usize, out: &mut Vec<Approx>) {
        out.clear();
        if !self.best.is_empty() {
            out.extend(self.best.drain().map(|b| b.0));
            return;
        }
        let k = select_nearest(&mut self.rest, n);
        let at = self.rest.len() - k;
        out.extend(self.rest.drain(at..));
    }
}

/// A row of the first pass: its approximate distance, TID and where its vector is.
#[derive(Clone, Copy)]
pub struct Approx {
    pub distance: f32,
    pub tid: pg_sys::ItemPointerData,
    pub at: VectorAt,
}

/// Moves the `n` nearest rows of `pool` (by approximate distance) to the end of it and
/// returns how many that is (all of them when the pool is smaller).
pub fn select_nearest(pool: &mut [Approx], n: usize) -> usize {
    let len = pool.len();
    if n == 0 {
        return 0;
    }
    if n < len {
        // Farthest first, so that the n nearest end up at the end.
        pool.select_nth_unstable_by(len - n, |a, b| b.distance.total_cmp(&a.distance));
    }
    n.min(len)
}

/// Re-ranks the `chosen` rows by their exact vectors into `candidates`.
pub unsafe fn rerank(
    index: pg_sys::Relation,
    meta: &pages::Meta,
    metric: Metric,
    query: &[f32],
    chosen: &mut [Approx],
    candidates: &mut Candidates<pg_sys::ItemPointerData>,
) {
    chosen.sort_unstable_by_key(|c| (c.at.block, c.at.off));
    let mut blocks = pages::number_of_blocks(index);
    let mut current: Option<(pg_sys::BlockNumber, pg_sys::Buffer)> = None;
    for c in chosen.iter() {
        if current.map(|(b, _)| b) != Some(c.at.block) {
            if let Some((_, buf)) = current.take() {
                pg_sys::UnlockReleaseBuffer(buf);
            }
            // Once per vector page, with no page locked (a lock holds interrupts off): a
            // re-rank of 400, 800, ... rows for a filtered query stops promptly when cancelled.
            pgrx::check_for_interrupts!();
            if c.at.block >= blocks {
                blocks = pages::number_of_blocks(index); // a vector page added since
            }
            if c.at.block < meta.first_data_block() || c.at.block >= blocks {
                pages::corrupted(index, format!("a code item points at block {}, not a vector page", c.at.block));
            }
            let buf = recent_buffers::pin(index, c.at.block);
            pg_sys::LockBuffer(buf, pg_sys::BUFFER_LOCK_SHARE as i32);
            sq8_pages::check_vector_page(index, c.at.block, pages::page_of(buf));
            current = Some((c.at.block, buf));
        }
        let (_, buf) = current.expect("pinned above");
        if let Vector::Found(v) = sq8_pages::vector_on_page(index, meta, pages::page_of(buf), c.at, &c.tid) {
            candidates.push(metric.distance(query, v), c.tid);
        }
    }
    if let Some((_, buf)) = current {
        pg_sys::UnlockReleaseBuffer(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approx(d: f32) -> Approx {
        Approx { distance: d, tid: pg_sys::ItemPointerData::default(), at: VectorAt { block: 0, off: 0 } }
    }

    #[test]
    fn the_nearest_move_to_the_end() {
        let mut pool: Vec<Approx> = [5.0, 1.0, 9.0, 3.0, 7.0, 2.0].into_iter().map(approx).collect();
        assert_eq!(select_nearest(&mut pool, 2), 2);
        let mut tail: Vec<f32> = pool[4..].iter().map(|a| a.distance).collect();
        tail.sort_by(f32::total_cmp);
        assert_eq!(tail, vec![1.0, 2.0]);
        assert_eq!(select_nearest(&mut pool, 10), 6);
        assert_eq!(select_nearest(&mut pool, 0), 0);
    }

    #[test]
    fn the_pool_hands_out_its_best_first_then_the_rest_nearest_first() {
        let mut pool = Pool::default();
        for i in (0..1000).rev() {
            pool.push(approx(i as f32));
        }
        let mut out = Vec::new();
        pool.take_nearest(7, &mut out);
        let mut got: Vec<f32> = out.iter().map(|a| a.distance).collect();
        got.sort_by(f32::total_cmp);
        assert_eq!(got, (0..FIRST_RERANK).map(|i| i as f32).collect::<Vec<_>>());
        pool.take_nearest(200, &mut out);
        let mut got: Vec<f32> = out.iter().map(|a| a.distance).collect();
        got.sort_by(f32::total_cmp);
        assert_eq!(got, (FIRST_RERANK..FIRST_RERANK + 200).map(|i| i as f32).collect::<Vec<_>>());
        let mut left = 0;
        while !pool.is_empty() {
            pool.take_nearest(400, &mut out);
            left += out.len();
        }
        assert_eq!(left, 1000 - FIRST_RERANK - 200);
    }
}
