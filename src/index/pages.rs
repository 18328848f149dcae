//! Page layout of an `ann` index and the helpers every phase uses: buffers, the meta page,
//! the list directory, data-page items and generic WAL records. See mod.rs for the picture.
use crate::engine::ann::Metric;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::mem::size_of;

pub const MAGIC: u32 = 0x414E_4E31; // "ANN1"
pub const VERSION: u32 = 1;
pub const META_BLOCK: pg_sys::BlockNumber = 0;
pub const INVALID_BLOCK: pg_sys::BlockNumber = pg_sys::InvalidBlockNumber;
/// Largest dimension an index accepts: one data item (8 + 4 * dim bytes) must fit a page.
pub const MAX_DIM: usize = 2000;
pub const BLCKSZ: usize = pg_sys::BLCKSZ as usize;
const PAGE_HEADER: usize = 24; // SizeOfPageHeaderData
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
}

impl Meta {
    pub fn metric(&self) -> Metric {
        Metric::from_code(self.metric).unwrap_or_else(|| error!("ann index has an unknown metric {}", self.metric))
    }
    pub fn dim(&self) -> usize {
        self.dim as usize
    }
}

/// A directory item: the list's newest data page, then its centroid (dim float4).
/// `last_block` is the only field that changes after the build (when a list grows a page).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ListHead {
    pub last_block: u32,
    pub reserved: u32,
}

/// Special space of a data page: the list's previous (older) page, or INVALID_BLOCK.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct DataSpecial {
    pub prev_block: u32,
    pub reserved: u32,
}

/// A data item: the heap TID (6 bytes), 2 bytes padding, then the vector (dim float4).
pub const ITEM_HEADER: usize = 8;

const fn maxalign(n: usize) -> usize {
    (n + 7) & !7
}

pub fn directory_item_size(dim: usize) -> usize {
    size_of::<ListHead>() + 4 * dim
}

pub fn data_item_size(dim: usize) -> usize {
    ITEM_HEADER + 4 * dim
}

/// Lists per directory page.
pub fn lists_per_directory_page(dim: usize) -> usize {
    (BLCKSZ - PAGE_HEADER) / (maxalign(directory_item_size(dim)) + ITEM_ID)
}

/// Where list `list` lives in the directory: (block, offset number).
pub fn directory_slot(dim: usize, list: usize) -> (pg_sys::BlockNumber, pg_sys::OffsetNumber) {
    let per = lists_per_directory_page(dim);
    ((1 + list / per) as u32, (list % per + 1) as u16)
}

// ---------------------------------------------------------------- buffers

pub unsafe fn read_buffer(index: pg_sys::Relation, block: pg_sys::BlockNumber, lock: u32) -> pg_sys::Buffer {
    let buf = pg_sys::ReadBufferExtended(
        index,
        pg_sys::ForkNumber::MAIN_FORKNUM,
        block,
        pg_sys::ReadBufferMode::RBM_NORMAL,
        std::ptr::null_mut(),
    );
    pg_sys::LockBuffer(buf, lock as i32);
    buf
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
    let meta = std::ptr::read_unaligned(pg_sys::PageGetContents(page_of(buf)) as *const Meta);
    pg_sys::UnlockReleaseBuffer(buf);
    if meta.magic != MAGIC || meta.version != VERSION {
        error!("index \"{}\" is not a valid ann index (REINDEX it)", relation_name(index));
    }
    meta
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

pub fn list_head(bytes: &[u8]) -> ListHead {
    // SAFETY: ListHead is two u32s at the start of the item.
    unsafe { std::ptr::read_unaligned(bytes.as_ptr() as *const ListHead) }
}

/// Sets `last_block` of a directory item in place (same size, so the item does not move).
pub unsafe fn set_last_block(page: pg_sys::Page, off: pg_sys::OffsetNumber, block: pg_sys::BlockNumber) {
    let id = pg_sys::PageGetItemId(page, off);
    let at = pg_sys::PageGetItem(page, id) as *mut ListHead;
    (*at).last_block = block;
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

pub fn directory_item(last_block: pg_sys::BlockNumber, centroid: &[f32]) -> Vec<u8> {
    let mut bytes = vec![0u8; directory_item_size(centroid.len())];
    // SAFETY: the buffer holds 8 + 4 * len bytes.
    unsafe {
        std::ptr::write_unaligned(bytes.as_mut_ptr() as *mut ListHead, ListHead { last_block, reserved: 0 });
        std::ptr::copy_nonoverlapping(centroid.as_ptr() as *const u8, bytes.as_mut_ptr().add(8), 4 * centroid.len());
    }
    bytes
}

/// Adds an item; false when the page has no room for it.
pub unsafe fn add_item(page: pg_sys::Page, bytes: &[u8]) -> bool {
    if pg_sys::PageGetFreeSpace(page) < maxalign(bytes.len()) {
        return false;
    }
    pg_sys::PageAddItemExtended(page, bytes.as_ptr() as pg_sys::Item, bytes.len(), pg_sys::InvalidOffsetNumber, 0)
        != pg_sys::InvalidOffsetNumber
}

pub unsafe fn init_data_page(page: pg_sys::Page, prev_block: pg_sys::BlockNumber) {
    pg_sys::PageInit(page, BLCKSZ, size_of::<DataSpecial>());
    let special = pg_sys::PageGetSpecialPointer(page) as *mut DataSpecial;
    std::ptr::write_unaligned(special, DataSpecial { prev_block, reserved: 0 });
}

pub unsafe fn prev_block(page: pg_sys::Page) -> pg_sys::BlockNumber {
    std::ptr::read_unaligned(pg_sys::PageGetSpecialPointer(page) as *const DataSpecial).prev_block
}

pub unsafe fn init_directory_page(page: pg_sys::Page) {
    pg_sys::PageInit(page, BLCKSZ, 0);
}

/// The centroids (row-major) and each list's newest page, read from the directory.
pub unsafe fn read_directory(index: pg_sys::Relation, meta: &Meta) -> (Vec<f32>, Vec<pg_sys::BlockNumber>) {
    let mut centroids = Vec::with_capacity(meta.lists as usize * meta.dim());
    let mut heads = Vec::with_capacity(meta.lists as usize);
    for block in 1..=meta.directory_pages {
        let buf = read_buffer(index, block, pg_sys::BUFFER_LOCK_SHARE);
        let page = page_of(buf);
        for off in 1..=max_offset(page) {
            let bytes = item(page, off);
            heads.push(list_head(bytes).last_block);
            centroids.extend_from_slice(floats(bytes, size_of::<ListHead>()));
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
