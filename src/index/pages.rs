//! Page layout of an `ann` index and the helpers every phase uses: buffers, the meta page,
//! the list directory, data-page items and generic WAL records. See mod.rs for the picture.
use crate::engine::ann::Metric;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::mem::size_of;

pub use super::page_checks::{
    checked_data_page, checked_head, checked_head_below, checked_item, checked_list_head, corrupted,
};

pub const MAGIC: u32 = 0x414E_4E31; // "ANN1"
/// Format 1: exact vectors only (`quantizer = 'none'`).
pub const VERSION_EXACT: u32 = 1;
/// Format 2 (`quantizer = 'sq8'`): per list a chain of code pages (heap TID, where the exact
/// vector is, 8-bit codes) and a chain of vector pages (format 1's items); the quantiser's
/// offsets and scales in the blocks after the directory. See `sq8_pages.rs`.
pub const VERSION_SQ8: u32 = 2;
pub const META_BLOCK: pg_sys::BlockNumber = 0;
pub const INVALID_BLOCK: pg_sys::BlockNumber = pg_sys::InvalidBlockNumber;
/// Largest dimension an index accepts: one data item (8 + 4 * dim bytes) must fit a page.
pub const MAX_DIM: usize = 2000;
pub const BLCKSZ: usize = pg_sys::BLCKSZ as usize;
pub const PAGE_HEADER: usize = 24; // SizeOfPageHeaderData
const ITEM_ID: usize = 4; // sizeof(ItemIdData)

/// Block 0: what the index is. Written once by the build; never changes afterwards.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Meta {
    pub magic: u32,
    pub version: u32,
    pub dim: u32,
    pub metric: u32,
    /// number of lists (centroids) the build made: at most the `lists` option
    pub lists: u32,
    /// the directory occupies blocks 1 ..= directory_pages
    pub directory_pages: u32,
    /// format 2: the quantiser occupies the blocks after the directory (0 in format 1)
    pub quantizer_pages: u32,
}

impl Meta {
    pub fn metric(&self) -> Metric {
        Metric::from_code(self.metric).unwrap_or_else(|| error!("ann index has an unknown metric {}", self.metric))
    }
    pub fn dim(&self) -> usize {
        self.dim as usize
    }
    pub fn sq8(&self) -> bool {
        self.version == VERSION_SQ8
    }
    /// Chains per list: 1 (data pages) or 2 (code pages and vector pages).
    pub fn chains(&self) -> usize {
        if self.sq8() {
            2
        } else {
            1
        }
    }
    /// The chain a scan reads first and VACUUM walks first: data pages or code pages.
    pub fn main_chain(&self) -> Chain {
        if self.sq8() {
            Chain::Codes
        } else {
            Chain::Data
        }
    }
    /// Blocks from here on are list pages.
    pub fn first_data_block(&self) -> pg_sys::BlockNumber {
        1 + self.directory_pages + self.quantizer_pages
    }
}

/// The chains of a list: format 1 has data pages; format 2 code pages and vector pages.
/// Each chain has its own (newest, free) block pair in the list's directory item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chain {
    Data,
    Codes,
    Vectors,
}

impl Chain {
    /// Stored in `DataSpecial::kind`, so that a link into the wrong chain is caught.
    pub fn kind(self) -> u32 {
        match self {
            Chain::Data => 0,
            Chain::Codes => 1,
            Chain::Vectors => 2,
        }
    }
    /// Where the chain's `ListHead` is in a directory item.
    pub fn head_offset(self) -> usize {
        match self {
            Chain::Vectors => size_of::<ListHead>(),
            _ => 0,
        }
    }
    pub fn item_size(self, dim: usize) -> usize {
        match self {
            Chain::Codes => super::sq8_pages::code_item_size(dim),
            _ => data_item_size(dim),
        }
    }
    pub fn page_name(self) -> &'static str {
        match self {
            Chain::Data => "data page",
            Chain::Codes => "code page",
            Chain::Vectors => "vector page",
        }
    }
}

/// A directory item: the list's newest data page, a page of the list with room that VACUUM
/// found, then its centroid (dim float4). The two blocks change after the build: `last_block`
/// when a list grows a page, `free_block` when VACUUM frees room or inserts fill it (see
/// `reuse.rs`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ListHead {
    pub last_block: u32,
    /// An older page of this list where VACUUM left room: inserts fill it (and the pages
    /// before it) before the list grows. INVALID_BLOCK, or 0 in indexes built before this
    /// field existed, when there is none.
    pub free_block: u32,
}

/// Special space of a data page: the list's previous (older) page, or INVALID_BLOCK.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct DataSpecial {
    pub prev_block: u32,
    /// `Chain::kind` (0 in format 1)
    pub kind: u32,
}

/// A data item: the heap TID (6 bytes), 2 bytes padding, then the vector (dim float4).
pub const ITEM_HEADER: usize = 8;

const fn maxalign(n: usize) -> usize {
    (n + 7) & !7
}

/// A directory item: one `ListHead` per chain, then the centroid.
pub fn directory_item_size(dim: usize, chains: usize) -> usize {
    chains * size_of::<ListHead>() + 4 * dim
}

pub fn data_item_size(dim: usize) -> usize {
    ITEM_HEADER + 4 * dim
}

/// Lists per directory page.
pub fn lists_per_directory_page(dim: usize, chains: usize) -> usize {
    (BLCKSZ - PAGE_HEADER) / (maxalign(directory_item_size(dim, chains)) + ITEM_ID)
}

/// Where list `list` lives in the directory: (block, offset number).
pub fn directory_slot(meta: &Meta, list: usize) -> (pg_sys::BlockNumber, pg_sys::OffsetNumber) {
    let per = lists_per_directory_page(meta.dim(), meta.chains());
    ((1 + list / per) as u32, (list % per + 1) as u16)
}

// ---------------------------------------------------------------- buffers

pub unsafe fn read_buffer(index: pg_sys::Relation, block: pg_sys::BlockNumber, lock: u32) -> pg_sys::Buffer {
    let buf = pin_buffer(index, block);
    pg_sys::LockBuffer(buf, lock as i32);
    buf
}

/// A block of the main fork, pinned (read into shared buffers if needed) but not locked.
pub unsafe fn pin_buffer(index: pg_sys::Relation, block: pg_sys::BlockNumber) -> pg_sys::Buffer {
    pg_sys::ReadBufferExtended(
        index,
        pg_sys::ForkNumber::MAIN_FORKNUM,
        block,
        pg_sys::ReadBufferMode::RBM_NORMAL,
        std::ptr::null_mut(),
    )
}

/// Cache lines per page.
pub const PAGE_LINES: usize = BLCKSZ / 64;

/// Hints the CPU to load cache line `line` (0 .. PAGE_LINES) of a pinned buffer's page into
/// L1. Reads nothing: a prefetch never faults and needs no lock (the page may be changing).
#[inline(always)]
pub unsafe fn prefetch_line(page: pg_sys::Page, line: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((page as *const i8).wrapping_add(64 * line));
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (page, line);
}

/// A new block at the end of `fork`, pinned and exclusively locked.
pub unsafe fn new_buffer(index: pg_sys::Relation, fork: pg_sys::ForkNumber::Type) -> pg_sys::Buffer {
    pg_sys::LockRelationForExtension(index, pg_sys::ExclusiveLock as i32);
    let buf = pg_sys::ReadBufferExtended(
        index,
        fork,
        pg_sys::InvalidBlockNumber,
        pg_sys::ReadBufferMode::RBM_NORMAL,
        std::ptr::null_mut(),
    );
    pg_sys::LockBuffer(buf, pg_sys::BUFFER_LOCK_EXCLUSIVE as i32);
    pg_sys::UnlockRelationForExtension(index, pg_sys::ExclusiveLock as i32);
    buf
}

pub unsafe fn page_of(buf: pg_sys::Buffer) -> pg_sys::Page {
    pg_sys::BufferGetPage(buf)
}

// ---------------------------------------------------------------- generic WAL

/// One generic WAL record over up to four buffers (GenericXLog): register, change the
/// returned page images, finish. Changes become visible and WAL-logged atomically at
/// `finish`; on ERROR before that the images are simply dropped.
pub struct Wal(*mut pg_sys::GenericXLogState);

impl Wal {
    pub unsafe fn start(index: pg_sys::Relation) -> Wal {
        Wal(pg_sys::GenericXLogStart(index))
    }
    /// The image of `buf` to modify. `fresh` for a page that is being initialised.
    pub unsafe fn register(&mut self, buf: pg_sys::Buffer, fresh: bool) -> pg_sys::Page {
        let flags = if fresh { pg_sys::GENERIC_XLOG_FULL_IMAGE as i32 } else { 0 };
        pg_sys::GenericXLogRegisterBuffer(self.0, buf, flags)
    }
    pub unsafe fn finish(self) {
        pg_sys::GenericXLogFinish(self.0);
    }
}

// ---------------------------------------------------------------- meta page

pub unsafe fn write_meta(page: pg_sys::Page, meta: &Meta) {
    pg_sys::PageInit(page, BLCKSZ, 0);
    let contents = pg_sys::PageGetContents(page);
    std::ptr::write_unaligned(contents as *mut Meta, *meta);
    // Generic WAL and full-page images keep only what lies below pd_lower.
    let header = page as *mut pg_sys::PageHeaderData;
    (*header).pd_lower = (contents as usize - page as usize + size_of::<Meta>()) as u16;
}

pub unsafe fn read_meta(index: pg_sys::Relation) -> Meta {
    let buf = read_buffer(index, META_BLOCK, pg_sys::BUFFER_LOCK_SHARE);
    let mut meta = std::ptr::read_unaligned(pg_sys::PageGetContents(page_of(buf)) as *const Meta);
    pg_sys::UnlockReleaseBuffer(buf);
    if meta.magic != MAGIC || !(VERSION_EXACT..=VERSION_SQ8).contains(&meta.version) {
        corrupted(
            index,
            format!(
                "its metapage has magic {:#x} and version {} (expected {MAGIC:#x} and {VERSION_EXACT} or {VERSION_SQ8})",
                meta.magic, meta.version
            ),
        );
    }
    if !meta.sq8() {
        meta.quantizer_pages = 0; // format 1 meta pages end before this field
    }
    let dim = meta.dim as usize;
    let shape_ok = (1..=MAX_DIM).contains(&dim)
        && (1..=super::options::MAX_LISTS as u32).contains(&meta.lists)
        && meta.directory_pages as usize
            == (meta.lists as usize).div_ceil(lists_per_directory_page(dim, meta.chains()))
        && meta.quantizer_pages as usize == if meta.sq8() { super::sq8_pages::quantizer_pages(dim) } else { 0 };
    if !shape_ok {
        let (lists, pages) = (meta.lists, meta.directory_pages);
        let q = meta.quantizer_pages;
        corrupted(
            index,
            format!("its metapage describes {dim} dimensions, {lists} lists, {pages} directory pages and {q} quantizer pages"),
        );
    }
    meta
}

/// The index's length in blocks (a system call: the scan asks once, not once per list).
pub unsafe fn number_of_blocks(index: pg_sys::Relation) -> pg_sys::BlockNumber {
    pg_sys::RelationGetNumberOfBlocksInFork(index, pg_sys::ForkNumber::MAIN_FORKNUM)
}

pub unsafe fn relation_name(rel: pg_sys::Relation) -> String {
    std::ffi::CStr::from_ptr((*(*rel).rd_rel).relname.data.as_ptr()).to_string_lossy().into_owned()
}

// ---------------------------------------------------------------- items

/// Item `off` of `page`: its bytes (valid while the buffer is locked).
pub unsafe fn item<'a>(page: pg_sys::Page, off: pg_sys::OffsetNumber) -> &'a [u8] {
    let id = pg_sys::PageGetItemId(page, off);
    let len = (*id).lp_len() as usize;
    std::slice::from_raw_parts(pg_sys::PageGetItem(page, id) as *const u8, len)
}

pub unsafe fn max_offset(page: pg_sys::Page) -> u16 {
    pg_sys::PageGetMaxOffsetNumber(page)
}

/// The vector of a directory or data item: 4-aligned because items start MAXALIGNed and
/// both headers are 8 bytes.
pub fn floats(bytes: &[u8], header: usize) -> &[f32] {
    let body = &bytes[header..];
    debug_assert_eq!(body.as_ptr() as usize % 4, 0);
    // SAFETY: alignment as above; the length is a multiple of 4 by construction.
    unsafe { std::slice::from_raw_parts(body.as_ptr() as *const f32, body.len() / 4) }
}

pub fn item_tid(bytes: &[u8]) -> pg_sys::ItemPointerData {
    // SAFETY: ItemPointerData is 6 plain bytes.
    unsafe { std::ptr::read_unaligned(bytes.as_ptr() as *const pg_sys::ItemPointerData) }
}

/// The `ListHead` of `chain` in a directory item.
pub fn list_head(bytes: &[u8], chain: Chain) -> ListHead {
    let at = chain.head_offset();
    assert!(bytes.len() >= at + size_of::<ListHead>());
    // SAFETY: in bounds (above); ListHead is two u32s.
    unsafe { std::ptr::read_unaligned(bytes.as_ptr().add(at) as *const ListHead) }
}

unsafe fn list_head_mut(page: pg_sys::Page, off: pg_sys::OffsetNumber, chain: Chain) -> *mut ListHead {
    let id = pg_sys::PageGetItemId(page, off);
    (pg_sys::PageGetItem(page, id) as *mut u8).add(chain.head_offset()) as *mut ListHead
}

/// Sets `last_block` of a directory item in place (same size, so the item does not move).
pub unsafe fn set_last_block(page: pg_sys::Page, off: pg_sys::OffsetNumber, chain: Chain, block: pg_sys::BlockNumber) {
    (*list_head_mut(page, off, chain)).last_block = block;
}

/// Sets `free_block` of a directory item in place.
pub unsafe fn set_free_block(page: pg_sys::Page, off: pg_sys::OffsetNumber, chain: Chain, block: pg_sys::BlockNumber) {
    (*list_head_mut(page, off, chain)).free_block = block;
}

pub fn data_item(tid: &pg_sys::ItemPointerData, v: &[f32]) -> Vec<u8> {
    let mut bytes = vec![0u8; data_item_size(v.len())];
    // SAFETY: the buffer holds ITEM_HEADER + 4 * len bytes.
    unsafe {
        std::ptr::write_unaligned(bytes.as_mut_ptr() as *mut pg_sys::ItemPointerData, *tid);
        std::ptr::copy_nonoverlapping(v.as_ptr() as *const u8, bytes.as_mut_ptr().add(ITEM_HEADER), 4 * v.len());
    }
    bytes
}

/// A directory item with the newest block of each chain (`last_blocks`: one or two).
pub fn directory_item(last_blocks: &[pg_sys::BlockNumber], centroid: &[f32]) -> Vec<u8> {
    let heads = last_blocks.len() * size_of::<ListHead>();
    let mut bytes = vec![0u8; directory_item_size(centroid.len(), last_blocks.len())];
    // SAFETY: the buffer holds heads + 4 * len bytes.
    unsafe {
        for (i, &last_block) in last_blocks.iter().enumerate() {
            std::ptr::write_unaligned(
                (bytes.as_mut_ptr() as *mut ListHead).add(i),
                ListHead { last_block, free_block: INVALID_BLOCK },
            );
        }
        std::ptr::copy_nonoverlapping(
            centroid.as_ptr() as *const u8,
            bytes.as_mut_ptr().add(heads),
            4 * centroid.len(),
        );
    }
    bytes
}

/// Adds an item; false when the page has no room for it.
pub unsafe fn add_item(page: pg_sys::Page, bytes: &[u8]) -> bool {
    add_item_at(page, bytes).is_some()
}

/// Adds an item and returns its offset number; None when the page has no room for it.
/// (An unused line pointer that VACUUM left on a vector page is taken again.)
pub unsafe fn add_item_at(page: pg_sys::Page, bytes: &[u8]) -> Option<pg_sys::OffsetNumber> {
    if pg_sys::PageGetFreeSpace(page) < maxalign(bytes.len()) {
        return None;
    }
    let off =
        pg_sys::PageAddItemExtended(page, bytes.as_ptr() as pg_sys::Item, bytes.len(), pg_sys::InvalidOffsetNumber, 0);
    (off != pg_sys::InvalidOffsetNumber).then_some(off)
}

pub unsafe fn init_data_page(page: pg_sys::Page, chain: Chain, prev_block: pg_sys::BlockNumber) {
    pg_sys::PageInit(page, BLCKSZ, size_of::<DataSpecial>());
    let special = pg_sys::PageGetSpecialPointer(page) as *mut DataSpecial;
    std::ptr::write_unaligned(special, DataSpecial { prev_block, kind: chain.kind() });
}

pub unsafe fn init_directory_page(page: pg_sys::Page) {
    pg_sys::PageInit(page, BLCKSZ, 0);
}

/// The centroids (row-major) and each list's newest page of its main chain (data or code
/// pages), read from the directory.
pub unsafe fn read_directory(index: pg_sys::Relation, meta: &Meta) -> (Vec<f32>, Vec<pg_sys::BlockNumber>) {
    let (centroids, heads) = read_directory_chains(index, meta);
    (centroids, heads.into_iter().map(|h| h[0]).collect())
}

/// The centroids and each list's newest page of each chain (`[main, vectors]`; the second
/// INVALID_BLOCK in format 1).
pub unsafe fn read_directory_chains(index: pg_sys::Relation, meta: &Meta) -> (Vec<f32>, Vec<[pg_sys::BlockNumber; 2]>) {
    let mut centroids = Vec::with_capacity(meta.lists as usize * meta.dim());
    let mut heads = Vec::with_capacity(meta.lists as usize);
    for block in 1..=meta.directory_pages {
        let buf = read_buffer(index, block, pg_sys::BUFFER_LOCK_SHARE);
        let page = page_of(buf);
        for off in 1..=max_offset(page) {
            let bytes = checked_item(index, "directory page", block, page, off);
            let expected = directory_item_size(meta.dim(), meta.chains());
            if bytes.len() != expected {
                corrupted(
                    index,
                    format!("item {off} of directory page {block} has {} bytes, expected {expected}", bytes.len()),
                );
            }
            let vectors = if meta.sq8() { list_head(bytes, Chain::Vectors).last_block } else { INVALID_BLOCK };
            heads.push([list_head(bytes, meta.main_chain()).last_block, vectors]);
            centroids.extend_from_slice(floats(bytes, meta.chains() * size_of::<ListHead>()));
        }
        pg_sys::UnlockReleaseBuffer(buf);
    }
    if heads.len() != meta.lists as usize {
        error!(
            "ann index \"{}\" has {} lists in its directory, expected {}",
            relation_name(index),
            heads.len(),
            meta.lists
        );
    }
    (centroids, heads)
}

/// Rejects a vector whose dimension differs from the index's, with the operators' message.
pub fn check_dim(index_dim: usize, got: usize) {
    if index_dim != got {
        ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
            format!("different embedding dimensions {} and {}", index_dim, got)
        );
    }
}

/// Copy of an embedding datum's values (detoasted).
pub unsafe fn datum_values(datum: pg_sys::Datum) -> Vec<f32> {
    crate::embedding::EmbeddingRef::from_datum(datum).into_vec()
}
