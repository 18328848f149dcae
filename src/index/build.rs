//! CREATE INDEX / REINDEX (ambuild) and the init fork of an unlogged index (ambuildempty).
//!
//! Two passes over the table: (1) a reservoir sample of the vectors, k-means on it;
//! (2) every vector goes to its nearest centroid's list. Pass 2 keeps one page per list in
//! backend memory and writes a page to the index when it fills, so the lists are written
//! in one sweep without sorting. At the end the directory and meta page are filled in and
//! every page is WAL-logged at once (log_newpage_range).
use super::options::{self, Quantizer};
use super::pages::{self, Chain, Meta};
use super::sq8_pages::{self, VectorAt};
use crate::engine::ann::kmeans;
use crate::engine::ann::lists::Reservoir;
use crate::engine::ann::nearest::CentroidSet;
use crate::engine::ann::quantizer::Sq8;
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
/// Format 2 keeps two pages per list (codes and vectors), plus the code items of the rows
/// on each list's unwritten vector page (at most a page's worth, counted as a third page).
fn plan_memory(lists: usize, dim: usize, chains: usize) -> usize {
    let budget = unsafe { pg_sys::maintenance_work_mem } as usize * 1024;
    let pages = lists * pages::BLCKSZ * if chains == 2 { 3 } else { 1 };
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
    chain: Chain,
    last_block: pg_sys::BlockNumber,
    used: bool,
}

impl ListWriter {
    fn new(chain: Chain) -> ListWriter {
        let mut w = ListWriter {
            page: Box::new([0u64; pages::BLCKSZ / 8]),
            chain,
            last_block: pages::INVALID_BLOCK,
            used: false,
        };
        w.reset();
        w
    }
    fn page(&mut self) -> pg_sys::Page {
        self.page.as_mut_ptr() as pg_sys::Page
    }
    fn reset(&mut self) {
        let prev = self.last_block;
        unsafe { pages::init_data_page(self.page(), self.chain, prev) };
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

/// Format 2's writers of one list: the vector page is written first, because the code
/// items name its block; until then they wait in `pending` (offset in the page, TID, codes).
struct Sq8ListWriter {
    vectors: ListWriter,
    codes: ListWriter,
    pending: Vec<(pg_sys::OffsetNumber, pg_sys::ItemPointerData, Vec<u8>)>,
}

impl Sq8ListWriter {
    fn new() -> Sq8ListWriter {
        Sq8ListWriter {
            vectors: ListWriter::new(Chain::Vectors),
            codes: ListWriter::new(Chain::Codes),
            pending: Vec::new(),
        }
    }
    /// Writes the vector page, then hands its rows' code items to the code page.
    unsafe fn flush_vectors(&mut self, index: pg_sys::Relation, fork: pg_sys::ForkNumber::Type) {
        self.vectors.flush(index, fork);
        let block = self.vectors.last_block;
        for (off, tid, codes) in std::mem::take(&mut self.pending) {
            let item = sq8_pages::code_item(&tid, VectorAt { block, off }, &codes);
            self.codes.add(index, fork, &item);
        }
    }
    unsafe fn add(
        &mut self,
        index: pg_sys::Relation,
        fork: pg_sys::ForkNumber::Type,
        tid: &pg_sys::ItemPointerData,
        vector_item: &[u8],
        codes: Vec<u8>,
    ) {
        let off = match pages::add_item_at(self.vectors.page(), vector_item) {
            Some(off) => off,
            None => {
                self.flush_vectors(index, fork);
                pages::add_item_at(self.vectors.page(), vector_item)
                    .unwrap_or_else(|| error!("ann index item of {} bytes does not fit a page", vector_item.len()))
            }
        };
        self.vectors.used = true;
        self.pending.push((off, *tid, codes));
    }
    /// The last pages; the list's newest (code, vector) blocks.
    unsafe fn finish(&mut self, index: pg_sys::Relation, fork: pg_sys::ForkNumber::Type) -> [pg_sys::BlockNumber; 2] {
        if self.vectors.used {
            self.flush_vectors(index, fork);
        }
        if self.codes.used {
            self.codes.flush(index, fork);
        }
        [self.codes.last_block, self.vectors.last_block]
    }
}

struct BuildState {
    index: pg_sys::Relation,
    fork: pg_sys::ForkNumber::Type,
    dim: usize,
    metric: Metric,
    reservoir: Reservoir,
    centroids: CentroidSet,
    writers: Vec<ListWriter>,
    /// format 2: the quantiser and the lists' writers (instead of `writers`)
    sq8: Option<Sq8>,
    sq8_writers: Vec<Sq8ListWriter>,
    batch: Vec<f32>,
    batch_tids: Vec<pg_sys::ItemPointerData>,
    index_tuples: f64,
}

impl BuildState {
    /// Assigns the batched rows to lists (in parallel) and appends them.
    unsafe fn flush_batch(&mut self) {
        let lists = self.centroids.assign(&self.batch);
        let metric = self.metric;
        for ((v, tid), list) in self.batch.chunks_exact(self.dim).zip(&self.batch_tids).zip(lists) {
            let item = pages::data_item(tid, v);
            match &self.sq8 {
                Some(sq8) => {
                    let codes = sq8.encode(metric, v);
                    self.sq8_writers[list].add(self.index, self.fork, tid, &item, codes);
                }
                None => self.writers[list].add(self.index, self.fork, &item),
            }
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
    let quantizer = options::quantizer(index);
    let chains = if quantizer == Quantizer::Sq8 { 2 } else { 1 };
    let sample_rows = plan_memory(lists, dim, chains);
    let mut state = BuildState {
        index,
        fork: pg_sys::ForkNumber::MAIN_FORKNUM,
        dim,
        metric,
        reservoir: Reservoir::new(dim, sample_rows, SEED),
        centroids: CentroidSet::new(metric, Vec::new(), dim),
        writers: Vec::new(),
        sq8: None,
        sq8_writers: Vec::new(),
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
    if quantizer == Quantizer::Sq8 {
        state.sq8 = Some(Sq8::from_sample(sample.rows(), dim, metric));
    }
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

    // Meta, directory and quantiser blocks come first (0, 1 ..= directory_pages, then
    // quantizer_pages); filled at the end.
    let directory_pages = built_lists.div_ceil(pages::lists_per_directory_page(dim, chains));
    let quantizer_pages = if chains == 2 { sq8_pages::quantizer_pages(dim) } else { 0 };
    for _ in 0..=directory_pages + quantizer_pages {
        pg_sys::UnlockReleaseBuffer(pages::new_buffer(index, state.fork));
    }

    // Pass 2: every row to its list.
    progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_LOAD);
    if chains == 2 {
        state.sq8_writers = (0..built_lists).map(|_| Sq8ListWriter::new()).collect();
    } else {
        state.writers = (0..built_lists).map(|_| ListWriter::new(Chain::Data)).collect();
    }
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
    let heads: Vec<Vec<u32>> = if chains == 2 {
        state.sq8_writers.iter_mut().map(|w| w.finish(index, state.fork).to_vec()).collect()
    } else {
        state.writers.iter().map(|w| vec![w.last_block]).collect()
    };
    state.writers.clear();
    state.sq8_writers.clear();
    if let Some(sq8) = &state.sq8 {
        sq8_pages::write_quantizer(index, state.fork, 1 + directory_pages as u32, sq8);
    }
    let layout = Layout { dim, metric, chains, directory_pages, quantizer_pages };
    finish_layout(index, state.fork, &layout, state.centroids.centroids(), &heads);

    let result = PgBox::<pg_sys::IndexBuildResult>::alloc0();
    let result = result.into_pg();
    (*result).heap_tuples = heap_tuples;
    (*result).index_tuples = state.index_tuples;
    result
}

/// What the meta page says.
#[derive(Clone, Copy)]
struct Layout {
    dim: usize,
    metric: Metric,
    chains: usize,
    directory_pages: usize,
    quantizer_pages: usize,
}

/// Fills the meta page and directory (already allocated as blocks 0 ..= directory_pages)
/// and WAL-logs every block of the fork. `heads`: each list's newest page of each chain.
unsafe fn finish_layout(
    index: pg_sys::Relation,
    fork: pg_sys::ForkNumber::Type,
    layout: &Layout,
    centroids: &[f32],
    heads: &[Vec<u32>],
) {
    let Layout { dim, metric, chains, directory_pages, quantizer_pages } = *layout;
    let read = |block: u32| {
        let buf =
            pg_sys::ReadBufferExtended(index, fork, block, pg_sys::ReadBufferMode::RBM_NORMAL, std::ptr::null_mut());
        pg_sys::LockBuffer(buf, pg_sys::BUFFER_LOCK_EXCLUSIVE as i32);
        buf
    };
    let per = pages::lists_per_directory_page(dim, chains);
    for p in 0..directory_pages {
        let buf = read(1 + p as u32);
        let page = pages::page_of(buf);
        pages::init_directory_page(page);
        for list in p * per..((p + 1) * per).min(heads.len()) {
            let item = pages::directory_item(&heads[list], &centroids[list * dim..(list + 1) * dim]);
            if !pages::add_item(page, &item) {
                error!("ann directory item does not fit its page");
            }
        }
        pg_sys::MarkBufferDirty(buf);
        pg_sys::UnlockReleaseBuffer(buf);
    }
    let meta = Meta {
        magic: pages::MAGIC,
        version: if chains == 2 { pages::VERSION_SQ8 } else { pages::VERSION_EXACT },
        dim: dim as u32,
        metric: metric.code(),
        lists: heads.len() as u32,
        directory_pages: directory_pages as u32,
        quantizer_pages: quantizer_pages as u32,
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

/// The init fork of an unlogged index: an empty index with one list around the origin, in
/// format 1 whatever the `quantizer` option (an empty table has no sample to fix the
/// quantiser's ranges from; the next REINDEX writes the option's format).
#[pg_guard]
pub unsafe extern "C-unwind" fn ambuildempty(index: pg_sys::Relation) {
    let (dim, metric) = describe(index);
    let fork = pg_sys::ForkNumber::INIT_FORKNUM;
    for _ in 0..2 {
        pg_sys::UnlockReleaseBuffer(pages::new_buffer(index, fork));
    }
    let layout = Layout { dim, metric, chains: 1, directory_pages: 1, quantizer_pages: 0 };
    finish_layout(index, fork, &layout, &vec![0.0; dim], &[vec![pages::INVALID_BLOCK]]);
}
