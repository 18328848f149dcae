//! The planner's cost of an ann index scan (amcostestimate).
//!
//! Without an ORDER BY on the index's operator the index is useless: infinite cost. With
//! one, the work before the first row (startup) is: the meta page and directory (random
//! reads), the distance to every centroid, reading the `ann_probes` nearest lists' pages
//! (sequential-ish: each list's next page is pinned and prefetched ahead) and computing
//! their candidates. The rest of the index (widening) is the run cost. On a small table
//! this startup exceeds a sequential scan plus top-N sort, so the planner keeps the exact
//! scan; on a large one `ORDER BY ... LIMIT k` costs about the startup.
//!
//! The planner prices the first R of a path's rows as startup + R / rows of the run cost,
//! as if the scan read the index at an even pace. Ours reads `WIDENING` × `ann_probes`
//! lists for every list's worth of rows taken (`wants_more_lists`), so R rows read about
//! `WIDENING` × `ann_probes` × R / rows of the lists: reading lists is priced that many
//! times over (`list_multiplier`). No scan reads a list twice, though: when the query's
//! LIMIT is known (one relation, `root->limit_tuples`), the multiplier stops at rows /
//! LIMIT, where R = LIMIT rows read every list once. Then a filter that keeps 0.1 % of a
//! million rows prices `LIMIT 10` at ~40 % of the lists at 10 probes and at one read of
//! all of them at 40 (which measured 84 ms against the exact scan's 214; before the cap
//! the planner chose the exact scan there). A query without LIMIT pays the multiplier in
//! full, where the exact scan's sort is the better plan anyway (the index's order is
//! relaxed).
//!
//! A candidate costs two operator evaluations: its distance, computed on the index page
//! where it lies (no heap tuple is formed, unlike the exact scan's cpu_tuple_cost plus the
//! operator), and one comparison with the farthest of the nearest rows kept so far
//! (`Candidates`: no sort of all candidates). Measured (BENCHMARKS.md, "The planner's
//! cost"): one more probed list of ~1,000 128-d rows costs 0.058 ms where the exact scan
//! spends ~0.22 ms per 1,000 rows. The pages are priced as any scan's (seq_page_cost),
//! and repeated scans (the inner side of a nested loop) share their cached pages as
//! genericcostestimate assumes for other indexes (index_pages_fetched).
//!
//! Format 2 (sq8) reads less than every page of a probed list: its code pages (~55 rows a
//! page at 128-d, against ~15 vector items) and the vector items of the ~100 rows it
//! re-ranks, at most a page each (`ListPages`). Those vector pages are priced as the
//! others, at seq_page_cost: the model prices a warm cache's pages as the exact scan's,
//! and 100 random_page_cost reads (400 units) would price the sq8 scan above format 1's,
//! which reads 3.7 times the pages and measures twice as slow (BENCHMARKS.md, "sq8 in ann").
//! Past the first batch, rows are re-ranked in batches as the caller takes them (batches
//! that double, so between once and twice the rows returned), so the re-ranking of the
//! rest grows with the rows taken (multiplier 1), not with the lists read: a filtered scan
//! that reads every list's codes re-ranks only about the rows it returns. Each is priced
//! as a page read (they are spread over the lists' vector pages), once: the model's price
//! for the rows taken, not a bound.
use super::options;
use super::pages;
use super::rerank::FIRST_RERANK;
use super::sq8_pages;
use crate::engine::ann::lists::WIDENING;
use pgrx::pg_sys;
use pgrx::prelude::*;

#[pg_guard]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C-unwind" fn amcostestimate(
    root: *mut pg_sys::PlannerInfo,
    path: *mut pg_sys::IndexPath,
    loop_count: f64,
    startup_cost: *mut pg_sys::Cost,
    total_cost: *mut pg_sys::Cost,
    selectivity: *mut pg_sys::Selectivity,
    correlation: *mut f64,
    index_pages: *mut f64,
) {
    if (*path).indexorderbys.is_null() {
        *startup_cost = f64::INFINITY;
        *total_cost = f64::INFINITY;
        *selectivity = 0.0;
        *correlation = 0.0;
        *index_pages = 0.0;
        return;
    }
    let mut costs = pg_sys::GenericCosts::default();
    pg_sys::genericcostestimate(root, path, loop_count, &mut costs);

    let info = (*path).indexinfo;
    let index = pg_sys::index_open((*info).indexoid, pg_sys::NoLock as i32);
    let meta = pages::read_meta(index);
    pg_sys::index_close(index, pg_sys::NoLock as i32);

    let lists = (meta.lists as f64).max(1.0);
    let fraction = (options::probes() as f64 / lists).min(1.0);
    let tuples = (*info).tuples.max(1.0);
    let data_pages = ((*info).pages as f64 - meta.first_data_block() as f64).max(1.0);
    let mut spc_random = 0.0;
    let mut spc_seq = 0.0;
    pg_sys::get_tablespace_page_costs((*info).reltablespace, &mut spc_random, &mut spc_seq);
    let cpu_per_candidate = 2.0 * pg_sys::cpu_operator_cost;
    // Pages one scan reads, of `pages` read by each of loop_count scans: cached ones are
    // shared between the scans (Mackert and Lohman, as genericcostestimate counts them).
    let loops = loop_count.max(1.0);
    let pages_per_scan = |pages: f64| {
        if loops > 1.0 {
            pg_sys::index_pages_fetched(pages * loops, (*info).pages, (*info).pages as f64, root) / loops
        } else {
            pages
        }
    };

    let fixed = pages_per_scan(1.0 + meta.directory_pages as f64 + meta.quantizer_pages as f64) * spc_random
        + lists * pg_sys::cpu_operator_cost;
    let (first_batch, lists_rest, rerank_rest) = if meta.sq8() {
        // Format 2 reads the probed lists' code pages, then the vector items of the best
        // FIRST_RERANK rows (each on at most one page); later rows re-rank more, and the
        // whole index read (widening to every list) re-ranks every row.
        let list_pages = ListPages::sq8(meta.dim(), tuples, data_pages);
        let reranked = (FIRST_RERANK as f64).min(fraction * tuples).min(list_pages.vectors);
        let first = pages_per_scan(fraction * list_pages.codes + reranked) * spc_seq
            + (fraction * tuples + reranked) * cpu_per_candidate;
        let codes = pages_per_scan((1.0 - fraction) * list_pages.codes) * spc_seq
            + (1.0 - fraction) * tuples * cpu_per_candidate;
        // A row re-ranked past the first batch is about one the scan returns: its vector
        // item, on a page of its own as far as the cache is concerned.
        let rerank = (pages_per_scan(tuples - reranked) * spc_seq + (tuples - reranked) * cpu_per_candidate).max(0.0);
        (first, codes, rerank)
    } else {
        let first = pages_per_scan(fraction * data_pages) * spc_seq + fraction * tuples * cpu_per_candidate;
        let rest =
            pages_per_scan((1.0 - fraction) * data_pages) * spc_seq + (1.0 - fraction) * tuples * cpu_per_candidate;
        (first, rest, 0.0)
    };

    let one_relation = pg_sys::bms_equal((*(*path).path.parent).relids, (*root).all_baserels);
    let limit = if one_relation && loop_count <= 1.0 { Some((*root).limit_tuples).filter(|&l| l > 0.0) } else { None };
    *startup_cost = fixed + first_batch;
    *total_cost =
        *startup_cost + lists_rest * list_multiplier(options::probes(), (*path).path.rows, limit) + rerank_rest;
    *selectivity = costs.indexSelectivity;
    *correlation = 0.0;
    *index_pages = (*info).pages as f64;
}

/// How many times over the planner prices reading the lists past the first batch, for a
/// path of `rows` rows under a known `limit`: `WIDENING` × `probes` (R rows taken read
/// that many times R / rows of the lists), but never more than one read of every list for
/// the rows the LIMIT takes.
fn list_multiplier(probes: usize, rows: f64, limit: Option<f64>) -> f64 {
    let widening = WIDENING as f64 * probes as f64;
    match limit {
        Some(limit) => widening.min((rows / limit).max(1.0)),
        None => widening,
    }
}

/// How a format-2 index's list pages split into code pages and vector pages.
#[derive(Debug, PartialEq)]
struct ListPages {
    codes: f64,
    vectors: f64,
}

impl ListPages {
    /// From the dimension, the row count and the index's list pages (code and vector pages
    /// together): the code pages the rows fill (at most all of them), the rest vectors.
    fn sq8(dim: usize, tuples: f64, list_pages: f64) -> ListPages {
        let per_page = |item: usize| {
            let usable = pages::BLCKSZ - pages::PAGE_HEADER - std::mem::size_of::<pages::DataSpecial>();
            (usable / (item.div_ceil(8) * 8 + 4)).max(1) as f64
        };
        let codes = (tuples / per_page(sq8_pages::code_item_size(dim))).ceil().clamp(1.0, list_pages);
        ListPages { codes, vectors: (list_pages - codes).max(1.0) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_lists_is_priced_at_most_once_for_the_rows_a_limit_takes() {
        // Unfiltered LIMIT 10 of a million rows: the widening multiplier, 4 x probes.
        assert_eq!(list_multiplier(10, 1e6, Some(10.0)), 40.0);
        assert_eq!(list_multiplier(40, 1e6, Some(10.0)), 160.0);
        // A filter keeping 1,000 rows: LIMIT 10 is 1 % of the path, at most one read of the lists.
        assert_eq!(list_multiplier(40, 1_000.0, Some(10.0)), 100.0);
        assert_eq!(list_multiplier(10, 1_000.0, Some(10.0)), 40.0);
        // Fewer rows than the LIMIT: every row, every list once.
        assert_eq!(list_multiplier(10, 5.0, Some(10.0)), 1.0);
        // No LIMIT known: the multiplier in full.
        assert_eq!(list_multiplier(40, 1_000.0, None), 160.0);
    }

    #[test]
    fn code_pages_hold_55_rows_at_128_dimensions() {
        // 1M rows: 18,182 code pages of 55 rows, 66,667 vector pages of 15.
        let p = ListPages::sq8(128, 1e6, 84_849.0);
        assert_eq!(p.codes, (1e6f64 / 55.0).ceil());
        assert_eq!(p.vectors, 84_849.0 - p.codes);
        // A tiny index: at least one page of each.
        assert_eq!(ListPages::sq8(16, 3.0, 2.0), ListPages { codes: 1.0, vectors: 1.0 });
    }
}
