//! `ann`: an approximate nearest-neighbour index access method for `embedding` (issue 9).
//!
//! # Algorithm: IVF with exact vectors
//! The build samples the table (reservoir sample, up to 50 rows per list, bounded by
//! maintenance_work_mem), runs k-means on the sample (`lists` centroids; k-means++ seeding,
//! Lloyd iterations; spherical for cosine) and puts every row in the inverted list of its
//! nearest centroid. A scan ranks the lists by centroid distance to the query, reads the
//! `image_search.ann_probes` nearest lists, computes the exact distance of every row in them
//! (the operator's own kernel, so the order equals the exact scan's) and returns rows
//! nearest first; when the caller wants more rows than those lists hold (a WHERE filter),
//! it widens to the next-nearest lists until all were read.
//! Why IVF first: it is simple enough to make crash-safe, concurrent and vacuumable in one
//! session. HNSW (better latency at high recall) is future work.
//!
//! # Quantised first pass (`quantizer = 'sq8'`, page format 2, the default)
//! A scan of the probed lists is memory-bound (~520 bytes per 128-d row). Format 2 keeps,
//! per list, a chain of code pages (heap TID, a pointer to the row's exact vector, one byte
//! per dimension: ~140 bytes) besides the chain of vector pages (format 1's items). The
//! scan ranks the probed rows by their codes (`engine::ann::quantizer`, offsets and scales
//! per dimension fixed by the build from its k-means sample), then re-ranks the best 100 by
//! their exact vectors (`rerank`): returned distances and order are exact, the codes only
//! choose which rows are re-ranked. Format 1 (`quantizer = 'none'`, and every index built
//! before the option) is read as before; the meta page says which format an index has.
//! See `sq8_pages.rs` for the layout and BENCHMARKS.md ("sq8 in ann") for the measurement.
//!
//! # Pages (all through the buffer manager, 8 kB)
//! ```text
//! block 0            meta: magic, version, dim, metric, lists, directory_pages (below pd_lower)
//! blocks 1..=D       directory: one item per list = (last_block u32, free_block u32, centroid f32[dim])
//! blocks D+1..       data pages, each belonging to one list: items (heap TID 6 B, pad 2 B, f32[dim]);
//!                    special space = previous (older) page of the same list, or InvalidBlockNumber,
//!                    and the page's kind (0: data page; format 2: 1 code page, 2 vector page)
//! ```
//! (Format 2 adds a second (last_block, free_block) pair per directory item, for the vector
//! chain, and the quantiser's pages after the directory: `sq8_pages.rs`.)
//! A list is a chain from its newest page (`last_block` in the directory) back to its
//! oldest. Inserts go to the newest page; when it is full a new page is linked in front
//! and `last_block` updated. VACUUM notes a page of each list where it freed room
//! (`free_block`), and inserts fill that page and the ones before it before the list grows
//! (`reuse`). Centroids and the meta page never change after the build.
//!
//! # WAL and crash safety
//! The build writes its pages through shared buffers and WAL-logs them all at the end with
//! `log_newpage_range` (unlogged indexes: an init fork written the same way). After the
//! build every change is a generic WAL record (GenericXLog): adding an item (1 page),
//! linking a new page (the new page and the directory page in one record, so a crash
//! never leaves a list pointing at a page that does not exist), removing dead items in
//! VACUUM (1 page). So the index survives a crash, is replicated physically and is in
//! pg_basebackup; nothing lives outside the data directory.
//!
//! # Concurrency and MVCC
//! Page locks are taken one at a time except "directory, then data page" when a list
//! grows; nobody takes them in the other order. The heap decides visibility (the executor
//! rechecks each TID against the snapshot); VACUUM removes dead TIDs under a cleanup lock.
//!
//! # Files (one per phase, as pgvector's ivf*.c)
//! `handler` (IndexAmRoutine, SQL objects), `options` (reloptions `lists` and `quantizer`, GUC
//! `image_search.ann_probes`), `build`, `insert`, `reuse` (VACUUM's freed space back to inserts),
//! `scan`, `rerank` (format 2's second pass), `vacuum`, `cost`, `pages` (layout and page
//! helpers), `sq8_pages` (format 2's code items and quantiser pages), `recent_buffers` (the scan
//! pins a page through the buffer it was in last time, without the buffer-mapping lookup). k-means, sampling and probing are plain Rust in
//! `engine::ann`, unit-tested without a database.
mod build;
mod cost;
mod handler;
mod insert;
mod options;
mod page_checks;
mod pages;
mod recent_buffers;
mod rerank;
mod reuse;
mod scan;
mod sq8_pages;
mod vacuum;

/// Called from _PG_init: the reloption kind and the GUC.
pub fn register() {
    options::register();
}
