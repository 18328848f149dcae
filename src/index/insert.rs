//! INSERT / UPDATE (aminsert): the row goes to the list of its nearest centroid, on that
//! list's newest page; when that one is full, on an older page of the list where VACUUM
//! freed room (`reuse.rs`), else on a new page linked in front of it.
//!
//! Locking: the common case share-locks the directory page (to read the list's newest
//! page), releases it, then exclusively locks the data page. Only when that page is full
//! does it take the directory page exclusively, then the data page (same order everywhere:
//! directory before data; scans and VACUUM never hold a data page while waiting for the
//! directory), so two backends cannot both link a new page to the same list.
//!
//! Format 2: the exact vector goes to the list's vector chain first, then the code item
//! (TID, where that vector is, codes) to its code chain, each as above (see `sq8_pages.rs`
//! for why two WAL records are safe).
use super::pages::{self, Chain, Wal};
use super::reuse;
use super::sq8_pages::{self, VectorAt};
use crate::engine::ann::Metric;
use pgrx::pg_sys;
use pgrx::prelude::*;

/// The list whose centroid is nearest to `v`, reading centroids in place from the
/// directory pages (no copy).
unsafe fn nearest_list(index: pg_sys::Relation, meta: &pages::Meta, metric: Metric, v: &[f32]) -> usize {
    let mut best = (0usize, f64::INFINITY);
    let mut list = 0usize;
    for block in 1..=meta.directory_pages {
        let buf = pages::read_buffer(index, block, pg_sys::BUFFER_LOCK_SHARE);
        let page = pages::page_of(buf);
        for off in 1..=pages::max_offset(page) {
            let bytes = pages::checked_item(index, "directory page", block, page, off);
            if bytes.len() != pages::directory_item_size(meta.dim(), meta.chains()) {
                pages::corrupted(index, format!("item {off} of directory page {block} has {} bytes", bytes.len()));
            }
            let centroid = pages::floats(bytes, meta.chains() * std::mem::size_of::<pages::ListHead>());
            let d = metric.centroid_distance(v, centroid);
            if d < best.1 {
                best = (list, d);
            }
            list += 1;
        }
        pg_sys::UnlockReleaseBuffer(buf);
    }
    best.0
}

unsafe fn newest_page(index: pg_sys::Relation, meta: &pages::Meta, chain: Chain, list: usize) -> pg_sys::BlockNumber {
    let (block, off) = pages::directory_slot(meta, list);
    let buf = pages::read_buffer(index, block, pg_sys::BUFFER_LOCK_SHARE);
    let last = pages::checked_list_head(index, buf, off, chain).last_block;
    pg_sys::UnlockReleaseBuffer(buf);
    pages::checked_head(index, meta, list, last)
}

/// Adds `item` to `block` if it has room (one WAL record): its offset number.
unsafe fn try_add(
    index: pg_sys::Relation,
    meta: &pages::Meta,
    chain: Chain,
    block: pg_sys::BlockNumber,
    item: &[u8],
) -> Option<pg_sys::OffsetNumber> {
    if block == pages::INVALID_BLOCK {
        return None;
    }
    match reuse::offer(index, meta, chain, block, item) {
        reuse::Offer::Added(off) => Some(off),
        reuse::Offer::Full(_) => None,
    }
}

/// Appends one item to a chain of a list; where it went.
pub unsafe fn insert_into_list(
    index: pg_sys::Relation,
    meta: &pages::Meta,
    chain: Chain,
    list: usize,
    item: &[u8],
) -> (pg_sys::BlockNumber, pg_sys::OffsetNumber) {
    let (dir_block, dir_off) = pages::directory_slot(meta, list);
    let seen = newest_page(index, meta, chain, list);
    if let Some(off) = try_add(index, meta, chain, seen, item) {
        return (seen, off);
    }
    // Full (or the list has no page yet): under the directory page's exclusive lock, either
    // someone else already linked a new page (use it) or link one ourselves.
    let dir_buf = pages::read_buffer(index, dir_block, pg_sys::BUFFER_LOCK_EXCLUSIVE);
    let last = pages::checked_list_head(index, dir_buf, dir_off, chain).last_block;
    let last = pages::checked_head(index, meta, list, last);
    if last != seen {
        if let Some(off) = try_add(index, meta, chain, last, item) {
            pg_sys::UnlockReleaseBuffer(dir_buf);
            return (last, off);
        }
    }
    // Room that VACUUM freed in the list's older pages, before growing the list.
    if let Some(at) = reuse::add_to_free_pages(index, meta, chain, list, dir_buf, dir_off, item) {
        pg_sys::UnlockReleaseBuffer(dir_buf);
        return at;
    }
    let new_buf = pages::new_buffer(index, pg_sys::ForkNumber::MAIN_FORKNUM);
    let new_block = pg_sys::BufferGetBlockNumber(new_buf);
    let mut wal = Wal::start(index);
    let page = wal.register(new_buf, true);
    pages::init_data_page(page, chain, last);
    let Some(off) = pages::add_item_at(page, item) else {
        error!("ann index item does not fit an empty page");
    };
    let dir_page = wal.register(dir_buf, false);
    pages::set_last_block(dir_page, dir_off, chain, new_block);
    wal.finish();
    pg_sys::UnlockReleaseBuffer(new_buf);
    pg_sys::UnlockReleaseBuffer(dir_buf);
    (new_block, off)
}

#[pg_guard]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C-unwind" fn aminsert(
    index: pg_sys::Relation,
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    heap_tid: pg_sys::ItemPointer,
    _heap: pg_sys::Relation,
    _check_unique: pg_sys::IndexUniqueCheck::Type,
    _index_unchanged: bool,
    _index_info: *mut pg_sys::IndexInfo,
) -> bool {
    if *isnull {
        return false; // NULL embeddings are not indexed
    }
    let v = pages::datum_values(*values);
    let meta = pages::read_meta(index);
    pages::check_dim(meta.dim(), v.len());
    let list = nearest_list(index, &meta, meta.metric(), &v);
    let item = pages::data_item(&*heap_tid, &v);
    if meta.sq8() {
        let sq8 = sq8_pages::read_quantizer(index, &meta);
        let codes = sq8.encode(meta.metric(), &v);
        let (block, off) = insert_into_list(index, &meta, Chain::Vectors, list, &item);
        let code_item = sq8_pages::code_item(&*heap_tid, VectorAt { block, off }, &codes);
        insert_into_list(index, &meta, Chain::Codes, list, &code_item);
    } else {
        insert_into_list(index, &meta, Chain::Data, list, &item);
    }
    false
}
