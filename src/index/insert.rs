//! INSERT / UPDATE (aminsert): the row goes to the list of its nearest centroid, on that
//! list's newest page; when that one is full, on an older page of the list where VACUUM
//! freed room (`reuse.rs`), else on a new page linked in front of it.
//!
//! Locking: the common case share-locks the directory page (to read the list's newest
//! page), releases it, then exclusively locks the data page. Only when that page is full
//! does it take the directory page exclusively, then the data page (same order everywhere:
//! directory before data; scans and VACUUM never hold a data page while waiting for the
//! directory), so two backends cannot both link a new page to the same list.
use super::pages::{self, Wal};
use super::reuse;
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
            let bytes = pages::item(page, off);
            if bytes.len() != pages::directory_item_size(meta.dim()) {
                pages::corrupted(index, format!("item {off} of directory page {block} has {} bytes", bytes.len()));
            }
            let centroid = pages::floats(bytes, std::mem::size_of::<pages::ListHead>());
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

unsafe fn newest_page(index: pg_sys::Relation, meta: &pages::Meta, list: usize) -> pg_sys::BlockNumber {
    let (block, off) = pages::directory_slot(meta.dim(), list);
    let buf = pages::read_buffer(index, block, pg_sys::BUFFER_LOCK_SHARE);
    let last = pages::list_head(pages::item(pages::page_of(buf), off)).last_block;
    pg_sys::UnlockReleaseBuffer(buf);
    pages::checked_head(index, meta, list, last)
}

/// Adds `item` to `block` if it has room (one WAL record); false otherwise.
unsafe fn try_add(index: pg_sys::Relation, meta: &pages::Meta, block: pg_sys::BlockNumber, item: &[u8]) -> bool {
    block != pages::INVALID_BLOCK && matches!(reuse::offer(index, meta, block, item), reuse::Offer::Added)
}

/// Appends one (TID, vector) item to a list.
pub unsafe fn insert_into_list(index: pg_sys::Relation, meta: &pages::Meta, list: usize, item: &[u8]) {
    let (dir_block, dir_off) = pages::directory_slot(meta.dim(), list);
    let seen = newest_page(index, meta, list);
    if try_add(index, meta, seen, item) {
        return;
    }
    // Full (or the list has no page yet): under the directory page's exclusive lock, either
    // someone else already linked a new page (use it) or link one ourselves.
    let dir_buf = pages::read_buffer(index, dir_block, pg_sys::BUFFER_LOCK_EXCLUSIVE);
    let last = pages::list_head(pages::item(pages::page_of(dir_buf), dir_off)).last_block;
    let last = pages::checked_head(index, meta, list, last);
    if last != seen && try_add(index, meta, last, item) {
        pg_sys::UnlockReleaseBuffer(dir_buf);
        return;
    }
    // Room that VACUUM freed in the list's older pages, before growing the list.
    if reuse::add_to_free_pages(index, meta, list, dir_buf, dir_off, item) {
        pg_sys::UnlockReleaseBuffer(dir_buf);
        return;
    }
    let new_buf = pages::new_buffer(index, pg_sys::ForkNumber::MAIN_FORKNUM);
    let new_block = pg_sys::BufferGetBlockNumber(new_buf);
    let mut wal = Wal::start(index);
    let page = wal.register(new_buf, true);
    pages::init_data_page(page, last);
    if !pages::add_item(page, item) {
        error!("ann index item does not fit an empty page");
    }
    let dir_page = wal.register(dir_buf, false);
    pages::set_last_block(dir_page, dir_off, new_block);
    wal.finish();
    pg_sys::UnlockReleaseBuffer(new_buf);
    pg_sys::UnlockReleaseBuffer(dir_buf);
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
    insert_into_list(index, &meta, list, &pages::data_item(&*heap_tid, &v));
    false
}
