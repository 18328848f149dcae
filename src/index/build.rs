//! CREATE INDEX / REINDEX (ambuild) and the init fork of an unlogged index (ambuildempty).
//!
//! Two passes over the table: (1) a reservoir sample of the vectors, k-means on it;
//! (2) every vector goes to its nearest centroid's list. Pass 2 keeps one page per list in
//! backend memory and writes a page to the index when it fills, so the lists are written
//! in one sweep without sorting. At the end the directory and meta page are filled in and
//! every page is WAL-logged at once (log_newpage_range).
use super::options;
use super::pages::{self, Meta};
use crate::engine::ann::kmeans;
use crate::engine::ann::lists::Reservoir;
use crate::engine::ann::nearest::CentroidSet;
use crate::engine::ann::Metric;
use pgrx::pg_sys;
use pgrx::prelude::*;

/// Sample rows per list for k-means (bounded by maintenance_work_mem, see `plan_memory`).
const SAMPLE_PER_LIST: usize = 200;
/// Rows assigned to lists per parallel batch in pass 2.
const BATCH: usize = 4096;
const SEED: u64 = 0x1A2B_3C4D;

// Build phases shown in pg_stat_progress_create_index.phase ("building index: ...").
pub const PHASE_SAMPLE: i64 = 2;
pub const PHASE_KMEANS: i64 = 3;
pub const PHASE_LOAD: i64 = 4;

#[pg_guard]
pub unsafe extern "C-unwind" fn ambuildphasename(phase: i64) -> *mut std::ffi::c_char {
    let name: &std::ffi::CStr = match phase {
        1 => c"initializing",
        PHASE_SAMPLE => c"sampling rows",
        PHASE_KMEANS => c"computing centroids (k-means)",
        PHASE_LOAD => c"assigning rows to lists",
        _ => return std::ptr::null_mut(),
    };
    name.as_ptr() as *mut _
}

fn progress(param: u32, value: i64) {
    unsafe { pg_sys::pgstat_progress_update_param(param as i32, value) }
}

/// The index's dimension (from the column's typmod) and metric (from its operator class).
pub unsafe fn describe(index: pg_sys::Relation) -> (usize, Metric) {
    let att = (*(*index).rd_att).attrs.as_slice(1)[0];
    let typmod = att.atttypmod;
    if typmod <= 0 {
        ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            "column does not have dimensions",
            "Declare the column as embedding(n), as convert() does, to index it with ann."
        );
    }
    if typmod as usize > pages::MAX_DIM {
        ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            format!("column cannot have more than {} dimensions for ann index", pages::MAX_DIM)
        );
    }
    let opfamily = *(*index).rd_opfamily;
    let opcintype = *(*index).rd_opcintype;
    let metric = (1u16..=3)
        .find(|s| pg_sys::get_opfamily_member(opfamily, opcintype, opcintype, *s as i16) != pg_sys::InvalidOid)
        .and_then(Metric::from_strategy)
        .unwrap_or_else(|| error!("operator class of an ann index must have an ordering operator <->, <#> or <=>"));
    (typmod as usize, metric)
}

/// How many rows k-means may sample, from maintenance_work_mem: pass 2 needs one page per
/// list; the sample gets the rest, up to SAMPLE_PER_LIST rows per list.
fn plan_memory(lists: usize, dim: usize) -> usize {
    let budget = unsafe { pg_sys::maintenance_work_mem } as usize * 1024;
    let pages = lists * pages::BLCKSZ;
    if pages > budget {
        ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            format!("ann index with {lists} lists needs {} MB of maintenance_work_mem", pages.div_ceil(1 << 20)),
            "Raise maintenance_work_mem or use fewer lists."
        );
    }
    ((budget - pages) / (4 * dim)).clamp(1, SAMPLE_PER_LIST * lists)
}

struct ListWriter {
    page: Box<[u64; pages::BLCKSZ / 8]>, // 8-byte aligned page image
    last_block: pg_sys::BlockNumber,
    used: bool,
}

impl ListWriter {
    fn new() -> ListWriter {
        let mut w =
            ListWriter { page: Box::new([0u64; pages::BLCKSZ / 8]), last_block: pages::INVALID_BLOCK, used: false };
        w.reset();
        w
    }
    fn page(&mut self) -> pg_sys::Page {
        self.page.as_mut_ptr() as pg_sys::Page
    }
    fn reset(&mut self) {
        let prev = self.last_block;
        unsafe { pages::init_data_page(self.page(), prev) };
        self.used = false;
    }
    /// Writes the page image as a new block of the index; the list now ends there.
    unsafe fn flush(&mut self, index: pg_sys::Relation, fork: pg_sys::ForkNumber::Type) {
        let buf = pages::new_buffer(index, fork);
        std::ptr::copy_nonoverlapping(self.page() as *const u8, pages::page_of(buf) as *mut u8, pages::BLCKSZ);
        pg_sys::MarkBufferDirty(buf);
        self.last_block = pg_sys::BufferGetBlockNumber(buf);
        pg_sys::UnlockReleaseBuffer(buf);
        self.reset();
    }
    unsafe fn add(&mut self, index: pg_sys::Relation, fork: pg_sys::ForkNumber::Type, item: &[u8]) {
        if !pages::add_item(self.page(), item) {
            self.flush(index, fork);
            if !pages::add_item(self.page(), item) {
                error!("ann index item of {} bytes does not fit a page", item.len());
            }
        }
        self.used = true;
    }
}

struct BuildState {
    index: pg_sys::Relation,
    fork: pg_sys::ForkNumber::Type,
    dim: usize,
    reservoir: Reservoir,
    centroids: CentroidSet,
    writers: Vec<ListWriter>,
    batch: Vec<f32>,
    batch_tids: Vec<pg_sys::ItemPointerData>,
    index_tuples: f64,
}

impl BuildState {
    /// Assigns the batched rows to lists (in parallel) and appends them.
    unsafe fn flush_batch(&mut self) {
        let lists = self.centroids.assign(&self.batch);
        for ((v, tid), list) in self.batch.chunks_exact(self.dim).zip(&self.batch_tids).zip(lists) {
            let item = pages::data_item(tid, v);
            self.writers[list].add(self.index, self.fork, &item);
        }
        self.index_tuples += self.batch_tids.len() as f64;
        progress(pg_sys::PROGRESS_CREATEIDX_TUPLES_DONE, self.index_tuples as i64);
        self.batch.clear();
        self.batch_tids.clear();
        pgrx::check_for_interrupts!();
    }
}

unsafe fn value_of(state: &BuildState, values: *mut pg_sys::Datum, isnull: *mut bool) -> Option<Vec<f32>> {
    if *isnull {
        return None; // NULL embeddings are not indexed
    }
    let v = pages::datum_values(*values);
    pages::check_dim(state.dim, v.len());
    Some(v)
}

#[pg_guard]
unsafe extern "C-unwind" fn sample_callback(
    _index: pg_sys::Relation,
    _tid: pg_sys::ItemPointer,
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    _alive: bool,
    state: *mut std::ffi::c_void,
) {
    let state = &mut *(state as *mut BuildState);
    if let Some(v) = value_of(state, values, isnull) {
        state.reservoir.add(&v);
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn load_callback(
    _index: pg_sys::Relation,
    tid: pg_sys::ItemPointer,
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    _alive: bool,
    state: *mut std::ffi::c_void,
) {
    let state = &mut *(state as *mut BuildState);
    if let Some(v) = value_of(state, values, isnull) {
        state.batch.extend_from_slice(&v);
        state.batch_tids.push(*tid);
        if state.batch_tids.len() >= BATCH {
            state.flush_batch();
        }
    }
}

#[pg_guard]
pub unsafe extern "C-unwind" fn ambuild(
    heap: pg_sys::Relation,
    index: pg_sys::Relation,
    index_info: *mut pg_sys::IndexInfo,
) -> *mut pg_sys::IndexBuildResult {
    if pg_sys::RelationGetNumberOfBlocksInFork(index, pg_sys::ForkNumber::MAIN_FORKNUM) != 0 {
        error!("index \"{}\" already contains data", pages::relation_name(index));
    }
    let (dim, metric) = describe(index);
    let lists = options::lists(index);
    let sample_rows = plan_memory(lists, dim);
    let mut state = BuildState {
        index,
        fork: pg_sys::ForkNumber::MAIN_FORKNUM,
        dim,
        reservoir: Reservoir::new(dim, sample_rows, SEED),
        centroids: CentroidSet::new(metric, Vec::new(), dim),
        writers: Vec::new(),
        batch: Vec::new(),
        batch_tids: Vec::new(),
        index_tuples: 0.0,
    };
    let state_ptr = &mut state as *mut BuildState as *mut std::ffi::c_void;

    // Pass 1: sample.
    progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_SAMPLE);
    let heap_tuples = pg_sys::table_index_build_scan(
        heap,
        index,
        index_info,
        true,
        true,
        Some(sample_callback),
        state_ptr,
        std::ptr::null_mut(),
    );
    let rows = state.reservoir.seen();
    progress(pg_sys::PROGRESS_CREATEIDX_TUPLES_TOTAL, rows as i64);

    // k-means.
    progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_KMEANS);
    let sample = std::mem::replace(&mut state.reservoir, Reservoir::new(dim, 0, 0));
    let centroids = kmeans::kmeans(sample.rows(), dim, lists, metric, SEED, &mut || {
        pgrx::check_for_interrupts!();
    });
    state.centroids = CentroidSet::new(metric, centroids, dim);
    drop(sample);
    let built_lists = state.centroids.len();
    if (rows as usize) < lists * 10 {
        ereport!(
            NOTICE,
            PgSqlErrorCode::ERRCODE_SUCCESSFUL_COMPLETION,
            format!("ann index built on {rows} rows with {built_lists} of {lists} lists"),
            "Recall is best with at least 10 rows per list: REINDEX once the table has its data."
        );
    }

    // Meta and directory blocks come first (0, 1 ..= directory_pages); filled at the end.
    let directory_pages = built_lists.div_ceil(pages::lists_per_directory_page(dim));
    for _ in 0..=directory_pages {
        pg_sys::UnlockReleaseBuffer(pages::new_buffer(index, state.fork));
    }

    // Pass 2: every row to its list.
    progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_LOAD);
    state.writers = (0..built_lists).map(|_| ListWriter::new()).collect();
    pg_sys::table_index_build_scan(
        heap,
        index,
        index_info,
        true,
        true,
        Some(load_callback),
        state_ptr,
        std::ptr::null_mut(),
    );
    state.flush_batch();
    for w in state.writers.iter_mut() {
        if w.used {
            w.flush(index, state.fork);
        }
    }
    let heads: Vec<u32> = state.writers.iter().map(|w| w.last_block).collect();
    state.writers.clear();
    finish_layout(index, state.fork, dim, metric, state.centroids.centroids(), &heads, directory_pages);

    let result = PgBox::<pg_sys::IndexBuildResult>::alloc0();
    let result = result.into_pg();
    (*result).heap_tuples = heap_tuples;
    (*result).index_tuples = state.index_tuples;
    result
}

/// Fills the meta page and directory (already allocated as blocks 0 ..= directory_pages)
/// and WAL-logs every block of the fork.
unsafe fn finish_layout(
    index: pg_sys::Relation,
    fork: pg_sys::ForkNumber::Type,
    dim: usize,
    metric: Metric,
    centroids: &[f32],
    heads: &[u32],
    directory_pages: usize,
) {
    let read = |block: u32| {
        let buf =
            pg_sys::ReadBufferExtended(index, fork, block, pg_sys::ReadBufferMode::RBM_NORMAL, std::ptr::null_mut());
        pg_sys::LockBuffer(buf, pg_sys::BUFFER_LOCK_EXCLUSIVE as i32);
        buf
    };
    let per = pages::lists_per_directory_page(dim);
    for p in 0..directory_pages {
        let buf = read(1 + p as u32);
        let page = pages::page_of(buf);
        pages::init_directory_page(page);
        for list in p * per..((p + 1) * per).min(heads.len()) {
            let item = pages::directory_item(heads[list], &centroids[list * dim..(list + 1) * dim]);
            if !pages::add_item(page, &item) {
                error!("ann directory item does not fit its page");
            }
        }
        pg_sys::MarkBufferDirty(buf);
        pg_sys::UnlockReleaseBuffer(buf);
    }
    let meta = Meta {
        magic: pages::MAGIC,
        version: pages::VERSION,
        dim: dim as u32,
        metric: metric.code(),
        lists: heads.len() as u32,
        directory_pages: directory_pages as u32,
    };
    let buf = read(pages::META_BLOCK);
    pages::write_meta(pages::page_of(buf), &meta);
    pg_sys::MarkBufferDirty(buf);
    pg_sys::UnlockReleaseBuffer(buf);

    let needs_wal = (*(*index).rd_rel).relpersistence == pg_sys::RELPERSISTENCE_PERMANENT as std::ffi::c_char
        || fork == pg_sys::ForkNumber::INIT_FORKNUM;
    if needs_wal {
        let blocks = pg_sys::RelationGetNumberOfBlocksInFork(index, fork);
        pg_sys::log_newpage_range(index, fork, 0, blocks, true);
    }
}

/// The init fork of an unlogged index: an empty index with one list around the origin.
#[pg_guard]
pub unsafe extern "C-unwind" fn ambuildempty(index: pg_sys::Relation) {
    let (dim, metric) = describe(index);
    let fork = pg_sys::ForkNumber::INIT_FORKNUM;
    for _ in 0..2 {
        pg_sys::UnlockReleaseBuffer(pages::new_buffer(index, fork));
    }
    finish_layout(index, fork, dim, metric, &vec![0.0; dim], &[pages::INVALID_BLOCK], 1);
}
