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
//!
//! Format 2: the code chains first (as above: the scan finds rows through code items), then
//! the vector chains, asking the callback about each vector item's TID again (for CREATE
//! INDEX CONCURRENTLY a TID collected twice is harmless: its validation skips equal TIDs).
//! Vector items are deleted without moving the others' line pointers, which code items
//! name (`PageIndexTupleDeleteNoCompact`, as BRIN does); their space is compacted and the
//! unused line pointers are taken again by inserts.
use super::pages::{self, Chain, Wal};
use super::reuse;
use pgrx::pg_sys;
use pgrx::prelude::*;

/// Visits every page of `chain` in every list, newest first in each list; `on_page` sees
/// the list, whether the page is the list's newest, and the cleanup-locked buffer.
/// `heads`: each list's newest page of [main chain, vector chain].
unsafe fn for_each_list_page(
    info: *mut pg_sys::IndexVacuumInfo,
    meta: &pages::Meta,
    chain: Chain,
    heads: &[[pg_sys::BlockNumber; 2]],
    mut on_page: impl FnMut(usize, bool, pg_sys::Buffer),
) {
    let index = (*info).index;
    let which = if chain == Chain::Vectors { 1 } else { 0 };
    for (list, head) in heads.iter().map(|h| h[which]).enumerate() {
        let mut block = pages::checked_head(index, meta, list, head);
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
            block = pages::checked_data_page(index, meta, chain, this, pages::page_of(buf));
            on_page(list, newest, buf);
            newest = false;
            pg_sys::UnlockReleaseBuffer(buf);
        }
    }
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
    let meta = pages::read_meta(index);
    let (_, heads) = pages::read_directory_chains(index, &meta);
    let chain = meta.main_chain();
    let item_size = chain.item_size(meta.dim());
    let mut with_room: Vec<Option<pg_sys::BlockNumber>> = vec![None; meta.lists as usize];
    for_each_list_page(info, &meta, chain, &heads, |list, newest, buf| {
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
        if !newest && with_room[list].is_none() && reuse::has_room(page, item_size) {
            with_room[list] = Some(pg_sys::BufferGetBlockNumber(buf));
        }
    });
    reuse::record_free_pages(index, &meta, chain, &with_room);
    if meta.sq8() {
        delete_vectors(info, &meta, &heads, &mut |tid| callback(tid, callback_state));
    }
    (*stats).tuples_removed += removed;
    (*stats).num_index_tuples = kept;
    (*stats).estimated_count = false;
    stats
}

/// Format 2's second half of a bulk delete: the dead rows' vector items.
unsafe fn delete_vectors(
    info: *mut pg_sys::IndexVacuumInfo,
    meta: &pages::Meta,
    heads: &[[pg_sys::BlockNumber; 2]],
    is_dead: &mut dyn FnMut(*mut pg_sys::ItemPointerData) -> bool,
) {
    let index = (*info).index;
    let item_size = Chain::Vectors.item_size(meta.dim());
    let mut dead: Vec<pg_sys::OffsetNumber> = Vec::new();
    let mut with_room: Vec<Option<pg_sys::BlockNumber>> = vec![None; meta.lists as usize];
    for_each_list_page(info, meta, Chain::Vectors, heads, |list, newest, buf| {
        let page = pages::page_of(buf);
        dead.clear();
        for off in 1..=pages::max_offset(page) {
            let id = pg_sys::PageGetItemId(page, off);
            if (*id).lp_flags() != pg_sys::LP_NORMAL {
                continue;
            }
            let mut tid = pages::item_tid(pages::item(page, off));
            if is_dead(&mut tid) {
                dead.push(off);
            }
        }
        if !dead.is_empty() {
            let mut wal = Wal::start(index);
            let image = wal.register(buf, false);
            for &off in dead.iter().rev() {
                pg_sys::PageIndexTupleDeleteNoCompact(image, off);
            }
            // Inserts look for the unused line pointers only when the page says it has some.
            let header = image as *mut pg_sys::PageHeaderData;
            if (1..=pages::max_offset(image))
                .any(|off| (*pg_sys::PageGetItemId(image, off)).lp_flags() == pg_sys::LP_UNUSED)
            {
                (*header).pd_flags |= pg_sys::PD_HAS_FREE_LINES as u16;
            }
            wal.finish();
        }
        if !newest && with_room[list].is_none() && reuse::has_room(page, item_size) {
            with_room[list] = Some(pg_sys::BufferGetBlockNumber(buf));
        }
    });
    reuse::record_free_pages(index, meta, Chain::Vectors, &with_room);
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
        let meta = pages::read_meta((*info).index);
        let (_, heads) = pages::read_directory_chains((*info).index, &meta);
        for_each_list_page(info, &meta, meta.main_chain(), &heads, |_, _, buf| {
            kept += pages::max_offset(pages::page_of(buf)) as f64
        });
        if meta.sq8() {
            // Every page is checked, as format 1's single chain is.
            for_each_list_page(info, &meta, Chain::Vectors, &heads, |_, _, _| {});
        }
        (*stats).num_index_tuples = kept;
        stats
    } else {
        stats
    };
    (*stats).num_pages = pg_sys::RelationGetNumberOfBlocksInFork((*info).index, pg_sys::ForkNumber::MAIN_FORKNUM);
    (*stats).estimated_count = false;
    stats
}
