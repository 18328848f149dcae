//! Where each page of the index was found in shared buffers, remembered per backend, so
//! that the next scan pins it without the buffer-mapping lookup.
//!
//! Reading a page by block number (`ReadBufferExtended`) hashes the block's tag and probes
//! the shared buffer-mapping table: a few dependent cache misses per page, ~16 % of a
//! 20-probe scan's time by `perf` once the rows themselves were prefetched. A scan reads
//! ~70 pages per list, the same pages again for the next query near the same lists, and
//! while shared buffers are big enough those pages stay where they are. So each backend
//! keeps, for the index it scanned last, the buffer each block was in, and asks
//! `ReadRecentBuffer` (PostgreSQL 14+) to pin that buffer if it still holds the block: the
//! buffer manager checks the buffer's tag under its header lock, so a stale entry only
//! costs the fallback to the ordinary read. Nothing here is shared or stored.
//!
//! What differs from the ordinary read: such a pin does not raise the buffer's usage count
//! (`PinBuffer_Locked`), so when shared buffers are too small for the index its pages age
//! out as if read less often, and are then read the ordinary way again. The statistics
//! (pg_statio_*_indexes) count the hit as the ordinary read would.
use pgrx::pg_sys;
use std::cell::RefCell;

/// Blocks remembered at most (4 bytes each: 16 MB for an index of 32 GB).
const MAX_BLOCKS: usize = 1 << 22;

struct Recent {
    node: pg_sys::RelFileNode,
    /// buffer of each block, InvalidBuffer (0) when unknown
    buffers: Vec<pg_sys::Buffer>,
}

thread_local! {
    static RECENT: RefCell<Option<Recent>> = const { RefCell::new(None) };
}

fn same_node(a: &pg_sys::RelFileNode, b: &pg_sys::RelFileNode) -> bool {
    a.spcNode == b.spcNode && a.dbNode == b.dbNode && a.relNode == b.relNode
}

/// Block `block` of `index`'s main fork, pinned, not locked: through the buffer it was in
/// last time when it is still there, else read as usual (and remembered).
pub unsafe fn pin(index: pg_sys::Relation, block: pg_sys::BlockNumber) -> pg_sys::Buffer {
    let permanent_or_unlogged = (*(*index).rd_rel).relpersistence != pg_sys::RELPERSISTENCE_TEMP as std::ffi::c_char;
    if !permanent_or_unlogged || block as usize >= MAX_BLOCKS {
        // Temporary indexes live in local buffers: always the ordinary read.
        return super::pages::pin_buffer(index, block);
    }
    let node = (*index).rd_node;
    let known = RECENT.with_borrow(|r| match r {
        Some(r) if same_node(&r.node, &node) => r.buffers.get(block as usize).copied().unwrap_or(0),
        _ => 0,
    });
    if known != 0 && pg_sys::ReadRecentBuffer(node, pg_sys::ForkNumber::MAIN_FORKNUM, block, known) {
        count_hit(index);
        return known;
    }
    let buf = super::pages::pin_buffer(index, block);
    RECENT.with_borrow_mut(|r| {
        if !matches!(r, Some(r) if same_node(&r.node, &node)) {
            *r = Some(Recent { node, buffers: Vec::new() });
        }
        let buffers = &mut r.as_mut().expect("set above").buffers;
        if buffers.len() <= block as usize {
            buffers.resize(block as usize + 1, 0);
        }
        buffers[block as usize] = buf;
    });
    buf
}

/// What `ReadBufferExtended` counts for a hit in the relation's statistics
/// (`pgstat_count_buffer_read` and `pgstat_count_buffer_hit`), which `ReadRecentBuffer`
/// does not.
unsafe fn count_hit(rel: pg_sys::Relation) {
    if (*rel).pgstat_info.is_null() {
        if !(*rel).pgstat_enabled {
            return;
        }
        pg_sys::pgstat_assoc_relation(rel);
        if (*rel).pgstat_info.is_null() {
            return;
        }
    }
    let counts = &mut (*(*rel).pgstat_info).t_counts;
    counts.t_blocks_fetched += 1;
    counts.t_blocks_hit += 1;
}
