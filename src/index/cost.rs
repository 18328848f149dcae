//! The planner's cost of an ann index scan (amcostestimate).
//!
//! Without an ORDER BY on the index's operator the index is useless: infinite cost. With
//! one, the work before the first row (startup) is: the meta page and directory (random
//! reads), the distance to every centroid, reading the `ann_probes` nearest lists' pages
//! (sequential-ish: each list's next page is pinned and prefetched ahead) and computing
//! their candidates. Later rows are cheap until the probed lists run out; the rest of the
//! index (widening) is the run cost. On a small table this startup exceeds a sequential
//! scan plus top-N sort, so the planner keeps the exact scan; on a large one
//! `ORDER BY ... LIMIT k` costs about the startup.
//!
//! A candidate costs two operator evaluations: its distance, computed on the index page
//! where it lies (no heap tuple is formed, unlike the exact scan's cpu_tuple_cost plus the
//! operator), and one comparison with the farthest of the nearest rows kept so far
//! (`Candidates`: no sort of all candidates). Measured (BENCHMARKS.md, "The planner's
//! cost"): one more probed list of ~1,000 128-d rows costs 0.058 ms where the exact scan
//! spends ~0.22 ms per 1,000 rows. The pages are priced as any scan's (seq_page_cost),
//! and repeated scans (the inner side of a nested loop) share their cached pages as
//! genericcostestimate assumes for other indexes (index_pages_fetched).
use super::options;
use super::pages;
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
    let data_pages = ((*info).pages as f64 - 1.0 - meta.directory_pages as f64).max(1.0);
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

    let fixed = pages_per_scan(1.0 + meta.directory_pages as f64) * spc_random + lists * pg_sys::cpu_operator_cost;
    let first_batch = pages_per_scan(fraction * data_pages) * spc_seq + fraction * tuples * cpu_per_candidate;
    let rest = pages_per_scan((1.0 - fraction) * data_pages) * spc_seq + (1.0 - fraction) * tuples * cpu_per_candidate;

    *startup_cost = fixed + first_batch;
    *total_cost = *startup_cost + rest;
    *selectivity = costs.indexSelectivity;
    *correlation = 0.0;
    *index_pages = (*info).pages as f64;
}
