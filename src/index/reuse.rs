//! Space that VACUUM frees in a list's older pages goes to later inserts into that list, so
//! an index under churn (rows deleted and inserted at a steady rate) stops growing once
//! VACUUM keeps up, instead of growing by every inserted row until REINDEX.
//!
//! Design: pages never leave their list and lists stay chains from the newest page back to
//! the oldest (each page links to a lower block), so scans, the page-link corruption check
//! (a link must go to a lower block, which is what makes every walk end) and crash safety
//! are unchanged. What changes is where an insert goes when the list's newest page is full:
//! 1. VACUUM (`ambulkdelete`) notes, per list, the newest page other than the newest one
//!    that has room for an item after its dead items were removed, and stores it in the
//!    list's directory item (`free_block`; one generic WAL record per directory page).
//! 2. An insert that finds the newest page full takes the directory page exclusively (as
//!    it did to grow the list) and tries `free_block`, then the pages before it (older),
//!    up to `MAX_PAGES_TRIED` pages; the first with room takes the item, and `free_block`
//!    moves to that page (or to where the walk stopped, or to none when it reached the
//!    list's oldest page), so the next insert resumes there. Only if none had room does the
//!    list grow a page, as before.
//!
//! Wholly empty pages are not returned to the free space map (a scan may be about to follow
//! a link to one; giving it to another list would need an interlock with scans); they stay
//! in their list and are refilled by it. The hint is advisory: a stale or lost value only
//! means an insert extends the list or a later VACUUM sets it again.
//!
//! Format 2 does this for each of a list's two chains (code pages, vector pages), with the
//! chain's own `ListHead` in the directory item.
use super::pages::{self, Chain, Wal};
use pgrx::pg_sys;

/// Pages an insert tries, under the directory page's lock, before the list grows instead.
const MAX_PAGES_TRIED: usize = 8;

/// The list's free-space page from its directory item, if it names one.
pub fn free_block(meta: &pages::Meta, head: pages::ListHead) -> Option<pg_sys::BlockNumber> {
    (head.free_block != pages::INVALID_BLOCK && head.free_block >= meta.first_data_block()).then_some(head.free_block)
}

/// Whether a page of a list has room for one more item of `item_size` bytes.
pub unsafe fn has_room(page: pg_sys::Page, item_size: usize) -> bool {
    pg_sys::PageGetFreeSpace(page) >= (item_size + 7) & !7
}

/// Outcome of offering an item to one page.
pub enum Offer {
    /// at this offset number
    Added(pg_sys::OffsetNumber),
    /// No room; the list's previous (older) page.
    Full(pg_sys::BlockNumber),
}

/// Adds `item` to `block` of `chain` if it has room (one WAL record), else returns the
/// page's link.
pub unsafe fn offer(
    index: pg_sys::Relation,
    meta: &pages::Meta,
    chain: Chain,
    block: pg_sys::BlockNumber,
    item: &[u8],
) -> Offer {
    let buf = pages::read_buffer(index, block, pg_sys::BUFFER_LOCK_EXCLUSIVE);
    let page = pages::page_of(buf);
    let prev = pages::checked_data_page(index, meta, chain, block, page);
    let mut added = None;
    if has_room(page, item.len()) {
        let mut wal = Wal::start(index);
        let image = wal.register(buf, false);
        added = pages::add_item_at(image, item);
        if added.is_none() {
            pgrx::error!("ann index page lost its free space");
        }
        wal.finish();
    }
    pg_sys::UnlockReleaseBuffer(buf);
    match added {
        Some(off) => Offer::Added(off),
        None => Offer::Full(prev),
    }
}

/// Tries the chain's free-space page and the pages before it; the (block, offset) where
/// one took `item`. `dir_buf` is the list's directory page, exclusively locked by the
/// caller; the chain's `free_block` is moved along (WAL-logged) when the walk changed it.
/// On None the caller grows the chain.
pub unsafe fn add_to_free_pages(
    index: pg_sys::Relation,
    meta: &pages::Meta,
    chain: Chain,
    list: usize,
    dir_buf: pg_sys::Buffer,
    dir_off: pg_sys::OffsetNumber,
    item: &[u8],
) -> Option<(pg_sys::BlockNumber, pg_sys::OffsetNumber)> {
    let head = pages::checked_list_head(index, dir_buf, dir_off, chain);
    let start = free_block(meta, head)?;
    let nblocks = pg_sys::RelationGetNumberOfBlocksInFork(index, pg_sys::ForkNumber::MAIN_FORKNUM);
    let mut block = start;
    let mut added = None;
    for _ in 0..MAX_PAGES_TRIED {
        if block == pages::INVALID_BLOCK {
            break;
        }
        if block < meta.first_data_block() || block >= nblocks {
            pages::corrupted(index, format!("list {list}'s page with free space is block {block}, not a list page"));
        }
        match offer(index, meta, chain, block, item) {
            Offer::Added(off) => {
                added = Some((block, off));
                break;
            }
            Offer::Full(prev) => block = prev,
        }
    }
    if block != start {
        let mut wal = Wal::start(index);
        let dir_page = wal.register(dir_buf, false);
        pages::set_free_block(dir_page, dir_off, chain, block);
        wal.finish();
    }
    added
}

/// Stores the free-space page of `chain` VACUUM found for each list (None: no page with
/// room), one WAL record per directory page whose items change. Called with no page locked.
pub unsafe fn record_free_pages(
    index: pg_sys::Relation,
    meta: &pages::Meta,
    chain: Chain,
    found: &[Option<pg_sys::BlockNumber>],
) {
    let per_page = pages::lists_per_directory_page(meta.dim(), meta.chains());
    for (page_no, lists) in found.chunks(per_page).enumerate() {
        let first_list = page_no * per_page;
        let (dir_block, _) = pages::directory_slot(meta, first_list);
        let buf = pages::read_buffer(index, dir_block, pg_sys::BUFFER_LOCK_EXCLUSIVE);
        let changes: Vec<(pg_sys::OffsetNumber, pg_sys::BlockNumber)> = lists
            .iter()
            .enumerate()
            .filter_map(|(i, found)| {
                let (_, off) = pages::directory_slot(meta, first_list + i);
                let now = pages::checked_list_head(index, buf, off, chain).free_block;
                let want = found.unwrap_or(pages::INVALID_BLOCK);
                (now != want).then_some((off, want))
            })
            .collect();
        if !changes.is_empty() {
            let mut wal = Wal::start(index);
            let page = wal.register(buf, false);
            for (off, block) in changes {
                pages::set_free_block(page, off, chain, block);
            }
            wal.finish();
        }
        pg_sys::UnlockReleaseBuffer(buf);
    }
}
