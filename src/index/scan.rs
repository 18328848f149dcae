//! Index scans (ambeginscan, amrescan, amgettuple, amendscan): `ORDER BY col <op> q`.
//!
//! The first amgettuple ranks the lists by their centroid's distance to q, reads the
//! `image_search.ann_probes` nearest lists (each item's distance computed in place on the
//! locked page, no copy; the next page pinned and prefetched meanwhile, see `read_batch`)
//! and returns those candidates nearest first (`Candidates`: only the nearest few are kept
//! in order, the rest selected when the caller wants more). When the caller takes many
//! rows (a WHERE filter rejects them), the scan reads the next `ann_probes` lists before
//! the first ones run dry, `WIDENING` × `ann_probes` lists for every list's worth of rows
//! taken, and merges their rows with those not yet returned (`wants_more_lists`); when the
//! lists read run dry it reads the next ones too, until every list has been read: a
//! filtered query gets k rows whenever k rows match. Each heap TID is in exactly one list
//! and each list is read once per scan, so no TID is returned twice.
//!
//! Order: exact among the rows of the lists read so far (the same distance function as the
//! operator); a row of a list read later can be nearer than rows already returned (as in
//! pgvector's iterative scans, "relaxed order"). Visibility is the heap's business: the
//! executor checks every TID against the snapshot.
//!
//! Format 2 (sq8): a batch's code pages are read instead, ranking their rows by the
//! approximate distance of their codes into a pool (`rerank.rs`); the best of the pool are
//! re-ranked by their exact vectors before any is returned, the next (twice as many) when
//! the caller wants more, and so on; lists read later add their rows to the same pool.
use super::options;
use super::pages::{self, Chain};
use super::recent_buffers;
use super::rerank::{self, Approx, Pool};
use super::sq8_pages;
use crate::engine::ann::lists::{wants_more_lists, Candidates, ProbeOrder, Spare};
use crate::engine::ann::quantizer::QueryCodes;
use crate::engine::ann::Metric;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgMemoryContexts;

thread_local! {
    /// The last scan's candidate vectors, empty, for the next scan of this backend
    /// (`Candidates::with_spare`). A scan that ends in an ERROR frees its own instead.
    static SPARE: std::cell::Cell<Option<Spare<pg_sys::ItemPointerData>>> = const { std::cell::Cell::new(None) };
    /// The same for format 2's first-pass pool.
    static SPARE_POOL: std::cell::Cell<Option<Pool>> = const { std::cell::Cell::new(None) };
}

/// Larger candidate vectors (a scan that widened to many lists) are freed, not kept.
const MAX_SPARE_BYTES: usize = 64 << 20;

struct ScanState {
    started: bool,
    meta: Option<pages::Meta>,
    centroids: Vec<f32>,
    heads: Vec<pg_sys::BlockNumber>,
    /// the index's length when the directory was read: every head is below it
    blocks: pg_sys::BlockNumber,
    /// rows in an average list (the index's row estimate / lists), to size the candidates
    rows_per_list: usize,
    metric: Metric,
    query: Option<Vec<f32>>,
    order: Option<ProbeOrder>,
    candidates: Candidates<pg_sys::ItemPointerData>,
    /// format 2: the query prepared for the codes (None in format 1, or a NULL query)
    query_codes: Option<QueryCodes>,
    /// format 2: rows of the batch read so far not yet re-ranked, how many to re-rank next,
    /// and the rows being re-ranked
    pool: Pool,
    rerank_next: usize,
    chosen: Vec<Approx>,
    /// rows read from the lists so far (format 2: codes) and rows returned
    read: u64,
    returned: u64,
}

unsafe fn state<'a>(scan: pg_sys::IndexScanDesc) -> &'a mut ScanState {
    &mut *((*scan).opaque as *mut ScanState)
}

#[pg_guard]
pub unsafe extern "C-unwind" fn ambeginscan(
    index: pg_sys::Relation,
    nkeys: i32,
    norderbys: i32,
) -> pg_sys::IndexScanDesc {
    let scan = pg_sys::RelationGetIndexScan(index, nkeys, norderbys);
    let st = ScanState {
        started: false,
        meta: None,
        centroids: Vec::new(),
        heads: Vec::new(),
        blocks: 0,
        rows_per_list: 0,
        metric: Metric::L2,
        query: None,
        order: None,
        candidates: Candidates::with_spare(SPARE.take().unwrap_or_default()),
        query_codes: None,
        pool: SPARE_POOL.take().unwrap_or_default(),
        rerank_next: 0,
        chosen: Vec::new(),
        read: 0,
        returned: 0,
    };
    // Dropped with the scan's memory context, also when the query ends in an ERROR.
    (*scan).opaque = PgMemoryContexts::CurrentMemoryContext.leak_and_drop_on_delete(st) as *mut std::ffi::c_void;
    let n = norderbys.max(1) as usize;
    (*scan).xs_orderbyvals = pg_sys::palloc0(n * std::mem::size_of::<pg_sys::Datum>()) as *mut pg_sys::Datum;
    (*scan).xs_orderbynulls = pg_sys::palloc0(n * std::mem::size_of::<bool>()) as *mut bool;
    scan
}

#[pg_guard]
pub unsafe extern "C-unwind" fn amrescan(
    scan: pg_sys::IndexScanDesc,
    keys: pg_sys::ScanKey,
    nkeys: i32,
    orderbys: pg_sys::ScanKey,
    norderbys: i32,
) {
    if !keys.is_null() && nkeys > 0 && (*scan).numberOfKeys > 0 {
        std::ptr::copy(keys, (*scan).keyData, (*scan).numberOfKeys as usize);
    }
    if !orderbys.is_null() && norderbys > 0 && (*scan).numberOfOrderBys > 0 {
        std::ptr::copy(orderbys, (*scan).orderByData, (*scan).numberOfOrderBys as usize);
    }
    let st = state(scan);
    st.started = false;
    st.query = None;
    st.order = None;
    st.candidates.clear();
    st.query_codes = None;
    st.pool.clear();
    st.read = 0;
    st.returned = 0;
}

/// Reads the query vector and ranks the lists.
unsafe fn start(scan: pg_sys::IndexScanDesc, st: &mut ScanState) {
    let index = (*scan).indexRelation;
    if (*scan).numberOfOrderBys < 1 {
        error!("an ann index can only be scanned for ORDER BY embedding <=> | <-> | <#> value");
    }
    let meta = pages::read_meta(index);
    // Centroids never change after the build; the lists' newest pages do (inserts).
    let (centroids, heads) = pages::read_directory(index, &meta);
    st.centroids = centroids;
    st.heads = heads;
    st.blocks = pages::number_of_blocks(index);
    let rows = (*(*index).rd_rel).reltuples; // -1 before the first VACUUM/ANALYZE of a new index
    st.rows_per_list = if rows > 0.0 { (rows as f64 / meta.lists as f64).min(1e6) as usize } else { 0 };
    st.metric = meta.metric();
    let key = &*(*scan).orderByData;
    if let Some(m) = Metric::from_strategy(key.sk_strategy) {
        if m != st.metric {
            error!("ann index scanned with an operator of another operator class");
        }
    }
    st.order = Some(if key.sk_flags & pg_sys::SK_ISNULL as i32 != 0 {
        st.query = None; // ORDER BY col <=> NULL: every row, distance NULL
        ProbeOrder::all(meta.lists as usize)
    } else {
        let q = pages::datum_values(key.sk_argument);
        pages::check_dim(meta.dim(), q.len());
        let order = ProbeOrder::new(st.metric, &st.centroids, meta.dim(), &q);
        if meta.sq8() {
            let sq8 = sq8_pages::read_quantizer(index, &meta);
            st.query_codes = Some(QueryCodes::new(&sq8, st.metric, &q));
        }
        st.query = Some(q);
        order
    });
    st.meta = Some(meta);
    st.started = true;
}

/// Reads the lists of one batch into the candidates: each list's pages newest first, each
/// page share-locked while its items are read (distances computed in place).
///
/// Most of a scan is waiting for memory: a list of 1,000 128-d rows is ~0.5 MB of shared
/// buffers that are not in the CPU's caches, and `perf` put most of the samples on the
/// first load of each row and of each page's header. So the page that comes next (the
/// list's older page, or the next list's newest) is pinned as soon as this page names it,
/// and its cache lines are prefetched a few per row while this page's rows are computed:
/// by the time it is locked, it is in cache. A pin without a lock is what every index
/// scan holds between pages; the prefetch reads nothing.
unsafe fn read_batch(index: pg_sys::Relation, st: &mut ScanState, batch: &[usize]) {
    let meta = st.meta.expect("started");
    let ScanState { heads, blocks, query, metric, candidates, query_codes, pool, read, .. } = st;
    let metric = *metric;
    *read += match (query_codes.as_ref(), query.as_ref()) {
        (Some(codes), _) => read_pages(index, &meta, Chain::Codes, heads, *blocks, batch, |bytes| {
            let (at, row_codes) = sq8_pages::code_item_parts(bytes);
            pool.push(Approx { distance: codes.distance(row_codes), tid: pages::item_tid(bytes), at });
        }),
        (None, Some(q)) => read_pages(index, &meta, meta.main_chain(), heads, *blocks, batch, |bytes| {
            candidates.push(metric.distance(q, pages::floats(bytes, pages::ITEM_HEADER)), pages::item_tid(bytes))
        }),
        // ORDER BY col <op> NULL: every row, distance NULL.
        (None, None) => read_pages(index, &meta, meta.main_chain(), heads, *blocks, batch, |bytes| {
            candidates.push(f64::NAN, pages::item_tid(bytes))
        }),
    };
}

/// Reads the pages of `chain` of the lists of one batch, handing each item to `visit`;
/// returns how many items it handed.
unsafe fn read_pages(
    index: pg_sys::Relation,
    meta: &pages::Meta,
    chain: Chain,
    heads: &[pg_sys::BlockNumber],
    blocks: pg_sys::BlockNumber,
    batch: &[usize],
    mut visit: impl FnMut(&[u8]),
) -> u64 {
    let meta = *meta;
    let mut visited = 0;
    let mut lists = batch.iter();
    // The first page of the next list in the batch that has one.
    let mut next_list_head = |heads: &[pg_sys::BlockNumber], blocks| {
        for &list in lists.by_ref() {
            let head = pages::checked_head_below(index, &meta, list, heads[list], blocks);
            if head != pages::INVALID_BLOCK {
                return head;
            }
        }
        pages::INVALID_BLOCK
    };
    let mut block = next_list_head(heads, blocks);
    let mut buf = if block == pages::INVALID_BLOCK { return 0 } else { recent_buffers::pin(index, block) };
    loop {
        pg_sys::LockBuffer(buf, pg_sys::BUFFER_LOCK_SHARE as i32);
        let page = pages::page_of(buf);
        let prev = pages::checked_data_page(index, &meta, chain, block, page);
        let next = if prev != pages::INVALID_BLOCK { prev } else { next_list_head(heads, blocks) };
        let next_buf = if next == pages::INVALID_BLOCK { None } else { Some(recent_buffers::pin(index, next)) };
        let next_page = next_buf.map(|b| pages::page_of(b));
        let rows = pages::max_offset(page) as usize;
        visited += rows as u64;
        let mut prefetched = 0;
        for off in 1..=rows {
            if let Some(next_page) = next_page {
                // This row's share of the next page's lines, in the order they will be read.
                let until = (off * pages::PAGE_LINES).div_ceil(rows);
                for i in prefetched..until {
                    pages::prefetch_line(next_page, page_line_in_read_order(i));
                }
                prefetched = until;
            }
            visit(pages::item(page, off as pg_sys::OffsetNumber));
        }
        pg_sys::UnlockReleaseBuffer(buf);
        // Once per page (~55 to 110 rows at 128-d), not under the page lock: a lock holds
        // interrupts off. Per list was not enough: one list of a skewed index can be
        // thousands of pages, and a filtered scan widens over every list.
        pgrx::check_for_interrupts!();
        match next_buf {
            Some(b) => (block, buf) = (next, b),
            None => return visited,
        }
    }
}

/// The i-th cache line of a data page to prefetch: the header and line pointers first
/// (lines 0 and 1), then from the page's end downwards, where the first items lie (a page
/// fills from its special space towards the header and the scan reads item 1 first).
fn page_line_in_read_order(i: usize) -> usize {
    if i < 2 {
        i
    } else {
        pages::PAGE_LINES + 1 - i
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn amgettuple(scan: pg_sys::IndexScanDesc, _dir: pg_sys::ScanDirection::Type) -> bool {
    let st = state(scan);
    if !st.started {
        start(scan, st);
    }
    let probes = options::probes();
    let index = (*scan).indexRelation;
    loop {
        if st.query.is_some() && st.read > 0 && wants_more_lists(st.returned, st.read, probes) {
            // The caller took many rows (a filter is rejecting them): read the next lists
            // now, before these run dry (see wants_more_lists). Format 2 re-ranks their rows
            // when the rows already re-ranked run out: re-ranking the best of the pool at
            // each widening found 0.975 instead of 0.94 of the nearest matches at 0.1 %
            // (noise ±1.0) but took twice the time, more than widening twice as often.
            read_next_lists(index, st, probes);
        }
        if let Some((d, tid)) = st.candidates.pop() {
            st.returned += 1;
            (*scan).xs_heaptid = tid;
            (*scan).xs_recheck = false;
            (*scan).xs_recheckorderby = false;
            *(*scan).xs_orderbyvals = pgrx::IntoDatum::into_datum(d).unwrap_or(pg_sys::Datum::from(0usize));
            *(*scan).xs_orderbynulls = st.query.is_none();
            return true;
        }
        if !st.pool.is_empty() {
            // Format 2: the next best of the pool's rows, by their exact vectors.
            let n = st.rerank_next;
            st.rerank_next = n.saturating_mul(2);
            st.pool.take_nearest(n, &mut st.chosen);
            let (meta, q) = (st.meta.expect("started"), st.query.as_deref().expect("a query"));
            rerank::rerank(index, &meta, st.metric, q, &mut st.chosen, &mut st.candidates);
            st.candidates.finish();
            continue;
        }
        if !read_next_lists(index, st, probes) {
            return false;
        }
    }
}

/// Reads the next `probes` lists of the probe order; false once every list was read. Their
/// rows join the rows not yet returned: format 1's candidates, or format 2's pool, whose
/// first take is its heap of the nearest codes when it held nothing before (then 200,
/// 400, ...), and otherwise a selection from all of its rows.
unsafe fn read_next_lists(index: pg_sys::Relation, st: &mut ScanState, probes: usize) -> bool {
    let batch = st.order.as_mut().expect("started").next_batch(probes);
    if batch.is_empty() {
        return false;
    }
    if st.query_codes.is_some() {
        let fresh = st.pool.is_empty();
        st.pool.reserve(batch.len() * st.rows_per_list);
        read_batch(index, st, &batch);
        if fresh {
            st.rerank_next = rerank::FIRST_RERANK;
        } else {
            st.pool.merge_heap_into_rest();
        }
    } else {
        st.candidates.reserve(batch.len() * st.rows_per_list);
        read_batch(index, st, &batch);
        st.candidates.finish();
    }
    true
}

#[pg_guard]
pub unsafe extern "C-unwind" fn amendscan(scan: pg_sys::IndexScanDesc) {
    // The state goes with the memory context; free the big vectors now.
    let st = state(scan);
    let candidates = std::mem::take(&mut st.candidates);
    if candidates.capacity_bytes() <= MAX_SPARE_BYTES {
        SPARE.set(Some(candidates.into_spare()));
    }
    st.centroids = Vec::new();
    st.heads = Vec::new();
    let mut pool = std::mem::take(&mut st.pool);
    if pool.capacity_bytes() <= MAX_SPARE_BYTES {
        pool.clear();
        SPARE_POOL.set(Some(pool));
    }
}
