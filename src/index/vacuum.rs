//! VACUUM (ambulkdelete, amvacuumcleanup). Bulk delete walks every list from its newest
//! page back, asks VACUUM's callback about every TID, and removes the dead ones from a
//! page in one generic WAL record (the page is compacted; items of other lists never move
//! since a page belongs to one list). It takes a cleanup lock on each page, so no scan is
//! reading that page meanwhile. Pages are never unlinked: a list keeps its pages, and the
//! newest older page where room was freed is noted in the list's directory item, from
//! which inserts fill the list's older pages before it grows (`reuse.rs`).
//!
//! CREATE INDEX CONCURRENTLY's validation also runs through ambulkdelete (its callback
//! collects every TID and deletes none).
use super::pages::{self, Wal};
use super::reuse;
use pgrx::pg_sys;
use pgrx::prelude::*;

/// Visits every list page, newest first in each list; `on_page` sees the list, whether the
/// page is the list's newest, and the cleanup-locked buffer. Returns the meta page.
unsafe fn for_each_list_page(
    info: *mut pg_sys::IndexVacuumInfo,
    mut on_page: impl FnMut(usize, bool, pg_sys::Buffer),
) -> pages::Meta {
    let index = (*info).index;
    let meta = pages::read_meta(index);
    let (_, heads) = pages::read_directory(index, &meta);
    for (list, head) in heads.into_iter().enumerate() {
        let mut block = pages::checked_head(index, &meta, list, head);
        let mut newest = true;
        while block != pages::INVALID_BLOCK {
            pg_sys::vacuum_delay_point();
            let buf = pg_sys::ReadBufferExtended(
                index,
                pg_sys::ForkNumber::MAIN_FORKNUM,
                block,
                pg_sys::ReadBufferMode::RBM_NORMAL,
                (*info).strategy,
            );
            pg_sys::LockBufferForCleanup(buf);
            let this = block;
            block = pages::checked_data_page(index, &meta, this, pages::page_of(buf));
            on_page(list, newest, buf);
            newest = false;
            pg_sys::UnlockReleaseBuffer(buf);
        }
    }
    meta
}

unsafe fn stats_or_new(stats: *mut pg_sys::IndexBulkDeleteResult) -> *mut pg_sys::IndexBulkDeleteResult {
    if stats.is_null() {
        PgBox::<pg_sys::IndexBulkDeleteResult>::alloc0().into_pg()
    } else {
        stats
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn ambulkdelete(
    info: *mut pg_sys::IndexVacuumInfo,
    stats: *mut pg_sys::IndexBulkDeleteResult,
    callback: pg_sys::IndexBulkDeleteCallback,
    callback_state: *mut std::ffi::c_void,
) -> *mut pg_sys::IndexBulkDeleteResult {
    let stats = stats_or_new(stats);
    let callback = callback.expect("VACUUM passes a callback");
    let index = (*info).index;
    let mut dead: Vec<pg_sys::OffsetNumber> = Vec::new();
    let mut kept = 0f64;
    let mut removed = 0f64;
    let mut with_room: Vec<Option<pg_sys::BlockNumber>> = Vec::new();
    let dim = pages::read_meta(index).dim();
    let meta = for_each_list_page(info, |list, newest, buf| {
        let page = pages::page_of(buf);
        dead.clear();
        let max = pages::max_offset(page);
        for off in 1..=max {
            let mut tid = pages::item_tid(pages::item(page, off));
            if callback(&mut tid, callback_state) {
                dead.push(off);
            }
        }
        kept += (max as usize - dead.len()) as f64;
        removed += dead.len() as f64;
        if !dead.is_empty() {
            let mut wal = Wal::start(index);
            let image = wal.register(buf, false);
            pg_sys::PageIndexMultiDelete(image, dead.as_mut_ptr(), dead.len() as i32);
            wal.finish();
        }
        // The newest page with room after the newest page itself (which takes inserts anyway).
        with_room.resize(with_room.len().max(list + 1), None);
        if !newest && with_room[list].is_none() && reuse::has_room(page, dim) {
            with_room[list] = Some(pg_sys::BufferGetBlockNumber(buf));
        }
    });
    with_room.resize(meta.lists as usize, None);
    reuse::record_free_pages(index, &meta, &with_room);
    (*stats).tuples_removed += removed;
    (*stats).num_index_tuples = kept;
    (*stats).estimated_count = false;
    stats
}

#[pg_guard]
pub unsafe extern "C-unwind" fn amvacuumcleanup(
    info: *mut pg_sys::IndexVacuumInfo,
    stats: *mut pg_sys::IndexBulkDeleteResult,
) -> *mut pg_sys::IndexBulkDeleteResult {
    if (*info).analyze_only {
        return stats;
    }
    let stats = if stats.is_null() {
        // No bulk delete ran (nothing to remove): count the entries for the statistics.
        let stats = stats_or_new(stats);
        let mut kept = 0f64;
        for_each_list_page(info, |_, _, buf| kept += pages::max_offset(pages::page_of(buf)) as f64);
        (*stats).num_index_tuples = kept;
        stats
    } else {
        stats
    };
    (*stats).num_pages = pg_sys::RelationGetNumberOfBlocksInFork((*info).index, pg_sys::ForkNumber::MAIN_FORKNUM);
    (*stats).estimated_count = false;
    stats
}
