//! Index scans (ambeginscan, amrescan, amgettuple, amendscan): `ORDER BY col <op> q`.
//!
//! The first amgettuple ranks the lists by their centroid's distance to q, reads the
//! `image_search.ann_probes` nearest lists (each item's distance computed in place on the
//! locked page, no copy), sorts those candidates and returns them nearest first. When the
//! caller asks for more (a WHERE filter rejected rows, or LIMIT exceeds what the probed
//! lists hold), the scan reads the next `ann_probes` lists, and so on until every list has
//! been read: a filtered query gets k rows whenever k rows match. Each heap TID is in
//! exactly one list and each list is read once per scan, so no TID is returned twice.
//!
//! Order: within one batch of lists, exact (the same distance function as the operator);
//! rows from a later batch can be nearer than the last rows of an earlier batch (as in
//! pgvector's iterative scans, "relaxed order"). Visibility is the heap's business: the
//! executor checks every TID against the snapshot.
use super::options;
use super::pages;
use crate::engine::ann::lists::{Candidates, ProbeOrder};
use crate::engine::ann::Metric;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgMemoryContexts;

struct ScanState {
    started: bool,
    meta: Option<pages::Meta>,
    centroids: Vec<f32>,
    heads: Vec<pg_sys::BlockNumber>,
    metric: Metric,
    query: Option<Vec<f32>>,
    order: Option<ProbeOrder>,
    candidates: Candidates<pg_sys::ItemPointerData>,
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
        metric: Metric::L2,
        query: None,
        order: None,
        candidates: Candidates::new(),
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
        st.query = Some(q);
        order
    });
    st.meta = Some(meta);
    st.started = true;
}

/// Reads one list's pages (newest first) into the candidates.
unsafe fn read_list(index: pg_sys::Relation, st: &mut ScanState, list: usize) {
    let meta = st.meta.expect("started");
    let mut block = pages::checked_head(index, &meta, list, st.heads[list]);
    while block != pages::INVALID_BLOCK {
        let buf = pages::read_buffer(index, block, pg_sys::BUFFER_LOCK_SHARE);
        let page = pages::page_of(buf);
        let prev = pages::checked_data_page(index, &meta, block, page);
        for off in 1..=pages::max_offset(page) {
            let bytes = pages::item(page, off);
            let d = match &st.query {
                Some(q) => st.metric.distance(q, pages::floats(bytes, pages::ITEM_HEADER)),
                None => f64::NAN,
            };
            st.candidates.push(d, pages::item_tid(bytes));
        }
        block = prev;
        pg_sys::UnlockReleaseBuffer(buf);
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn amgettuple(scan: pg_sys::IndexScanDesc, _dir: pg_sys::ScanDirection::Type) -> bool {
    let st = state(scan);
    if !st.started {
        start(scan, st);
    }
    loop {
        if let Some((d, tid)) = st.candidates.pop() {
            (*scan).xs_heaptid = tid;
            (*scan).xs_recheck = false;
            (*scan).xs_recheckorderby = false;
            *(*scan).xs_orderbyvals = pgrx::IntoDatum::into_datum(d).unwrap_or(pg_sys::Datum::from(0usize));
            *(*scan).xs_orderbynulls = st.query.is_none();
            return true;
        }
        let probes = options::probes();
        let batch = st.order.as_mut().expect("started").next_batch(probes).to_vec();
        if batch.is_empty() {
            return false;
        }
        for list in batch {
            pgrx::check_for_interrupts!();
            read_list((*scan).indexRelation, st, list);
        }
        st.candidates.finish();
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn amendscan(scan: pg_sys::IndexScanDesc) {
    // The state goes with the memory context; free the big vectors now.
    let st = state(scan);
    st.candidates.clear();
    st.centroids = Vec::new();
    st.heads = Vec::new();
}
