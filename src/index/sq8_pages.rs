//! Format 2 (`quantizer = 'sq8'`): the pages it adds to format 1's.
//!
//! ```text
//! block 0              meta (version 2, quantizer_pages = Q)
//! blocks 1..=D         directory: per list (codes: last_block, free_block), (vectors: last_block,
//!                      free_block), centroid f32[dim]
//! blocks D+1..=D+Q     quantiser: one item per page, a run of f32: offsets[dim] then scales[dim]
//! blocks D+Q+1..       list pages of two kinds (DataSpecial::kind):
//!                      code pages:   items (heap TID 6 B, vector offset u16, vector block u32,
//!                                    codes u8[dim]): ~55 per page at 128-d
//!                      vector pages: items as format 1's data items (heap TID, f32[dim])
//! ```
//! A code item points at the vector item of the same row. Vector items never move while
//! they live: VACUUM deletes them without compacting the line pointers (so a pointer stays
//! valid, except that deleting the page's last items shrinks its item count: a pointer
//! past the end is a removed row), and an insert may take an unused line pointer again. So a code item whose row
//! VACUUM removed may, for a moment, point at another row's vector: the re-rank checks that
//! the vector item carries the code item's TID and drops the candidate otherwise (a row that
//! VACUUM removes is dead to every snapshot). An insert writes the vector item first, then
//! the code item (two WAL records): a crash in between leaves a vector item that no code
//! item points at, whose TID is an aborted row's, which the next VACUUM removes.
use super::pages::{self, Chain, Meta};
use crate::engine::ann::quantizer::Sq8;
use pgrx::pg_sys;

/// TID (6 bytes), the vector item's offset number (2) and block (4).
pub const CODE_HEADER: usize = 12;
/// Floats per quantiser page (one item of 8,000 bytes).
const FLOATS_PER_PAGE: usize = 2000;

pub fn code_item_size(dim: usize) -> usize {
    CODE_HEADER + crate::engine::ann::quantizer::code_bytes(dim)
}

pub fn quantizer_pages(dim: usize) -> usize {
    (2 * dim).div_ceil(FLOATS_PER_PAGE)
}

/// Where a row's exact vector is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VectorAt {
    pub block: pg_sys::BlockNumber,
    pub off: pg_sys::OffsetNumber,
}

pub fn code_item(tid: &pg_sys::ItemPointerData, at: VectorAt, codes: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0u8; CODE_HEADER + codes.len()];
    // SAFETY: ItemPointerData is 6 plain bytes; the buffer holds them.
    unsafe { std::ptr::write_unaligned(bytes.as_mut_ptr() as *mut pg_sys::ItemPointerData, *tid) };
    bytes[6..8].copy_from_slice(&at.off.to_ne_bytes());
    bytes[8..12].copy_from_slice(&at.block.to_ne_bytes());
    bytes[CODE_HEADER..].copy_from_slice(codes);
    bytes
}

/// A code item's vector pointer and codes (its TID: `pages::item_tid`).
#[inline(always)]
pub fn code_item_parts(bytes: &[u8]) -> (VectorAt, &[u8]) {
    let off = u16::from_ne_bytes([bytes[6], bytes[7]]);
    let block = u32::from_ne_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    (VectorAt { block, off }, &bytes[CODE_HEADER..])
}

/// Writes the quantiser into its pages (blocks `first ..`, allocated and zero), as the
/// build writes the directory: through shared buffers, WAL-logged with the rest at the end.
pub unsafe fn write_quantizer(
    index: pg_sys::Relation,
    fork: pg_sys::ForkNumber::Type,
    first: pg_sys::BlockNumber,
    sq8: &Sq8,
) {
    let floats: Vec<f32> = sq8.offset.iter().chain(&sq8.scale).copied().collect();
    for (i, chunk) in floats.chunks(FLOATS_PER_PAGE).enumerate() {
        let buf = pg_sys::ReadBufferExtended(
            index,
            fork,
            first + i as u32,
            pg_sys::ReadBufferMode::RBM_NORMAL,
            std::ptr::null_mut(),
        );
        pg_sys::LockBuffer(buf, pg_sys::BUFFER_LOCK_EXCLUSIVE as i32);
        let page = pages::page_of(buf);
        pg_sys::PageInit(page, pages::BLCKSZ, 0);
        let bytes = std::slice::from_raw_parts(chunk.as_ptr() as *const u8, 4 * chunk.len());
        if !pages::add_item(page, bytes) {
            pgrx::error!("ann quantizer item does not fit its page");
        }
        pg_sys::MarkBufferDirty(buf);
        pg_sys::UnlockReleaseBuffer(buf);
    }
}

/// The quantiser of a format-2 index, checked.
pub unsafe fn read_quantizer(index: pg_sys::Relation, meta: &Meta) -> Sq8 {
    let dim = meta.dim();
    let mut floats: Vec<f32> = Vec::with_capacity(2 * dim);
    for i in 0..meta.quantizer_pages {
        let block = 1 + meta.directory_pages + i;
        let buf = pages::read_buffer(index, block, pg_sys::BUFFER_LOCK_SHARE);
        let page = pages::page_of(buf);
        let want = (2 * dim - floats.len()).min(FLOATS_PER_PAGE);
        let bytes = if pages::max_offset(page) == 1 {
            pages::checked_item(index, "quantizer page", block, page, 1)
        } else {
            &[][..]
        };
        if bytes.len() != 4 * want {
            let n = bytes.len();
            pg_sys::UnlockReleaseBuffer(buf);
            pages::corrupted(index, format!("quantizer page {block} holds {n} bytes, expected {}", 4 * want));
        }
        floats.extend_from_slice(pages::floats(bytes, 0));
        pg_sys::UnlockReleaseBuffer(buf);
    }
    let sq8 = Sq8 { offset: floats[..dim].to_vec(), scale: floats[dim..].to_vec() };
    if !sq8.is_sound() {
        pages::corrupted(index, "its quantizer has a scale that is not a positive number".into());
    }
    sq8
}

/// Outcome of looking up a candidate's exact vector.
pub enum Vector<'a> {
    Found(&'a [f32]),
    /// VACUUM removed the row meanwhile (the item is unused or now another row's).
    Gone,
}

/// The exact vector at `at` on a share-locked vector page, if it is still `tid`'s. A
/// pointer outside the page's items or an item of the wrong size is corruption.
pub unsafe fn vector_on_page<'a>(
    index: pg_sys::Relation,
    meta: &Meta,
    page: pg_sys::Page,
    at: VectorAt,
    tid: &pg_sys::ItemPointerData,
) -> Vector<'a> {
    // Deleting a page's last line pointers shrinks the page's item count
    // (PageIndexTupleDeleteNoCompact), so an offset past the end is a row VACUUM removed
    // since the code item was read; only an offset no page can hold is corruption.
    let most_items_per_page = ((pg_sys::BLCKSZ as usize - 24) / 4) as u16;
    if at.off == 0 || at.off > most_items_per_page {
        pages::corrupted(index, format!("a code item points at item {} of vector page {}", at.off, at.block));
    }
    if at.off > pages::max_offset(page) {
        return Vector::Gone;
    }
    let id = pg_sys::PageGetItemId(page, at.off);
    if (*id).lp_flags() != pg_sys::LP_NORMAL {
        return Vector::Gone;
    }
    let bytes = pages::item(page, at.off);
    let size = Chain::Vectors.item_size(meta.dim());
    let start = (*id).lp_off() as usize;
    if bytes.len() != size || start < pages::PAGE_HEADER || start + size > pages::BLCKSZ {
        pages::corrupted(index, format!("item {} of vector page {} has {} bytes", at.off, at.block, bytes.len()));
    }
    let stored = pages::item_tid(bytes);
    if stored.ip_blkid.bi_hi != tid.ip_blkid.bi_hi
        || stored.ip_blkid.bi_lo != tid.ip_blkid.bi_lo
        || stored.ip_posid != tid.ip_posid
    {
        return Vector::Gone;
    }
    Vector::Found(pages::floats(bytes, pages::ITEM_HEADER))
}

/// Checks that a locked page is a vector page of the index (special space and kind only:
/// the re-rank reads one item of it, checked by `vector_on_page`).
pub unsafe fn check_vector_page(index: pg_sys::Relation, block: pg_sys::BlockNumber, page: pg_sys::Page) {
    let header = page as *const pg_sys::PageHeaderData;
    let special_size = pages::BLCKSZ.saturating_sub((*header).pd_special as usize);
    let pointers = super::page_checks::PagePointers::of(page);
    let ok = (*header).pd_upper != 0
        && special_size == std::mem::size_of::<pages::DataSpecial>()
        && std::ptr::read_unaligned(pg_sys::PageGetSpecialPointer(page) as *const pages::DataSpecial).kind
            == Chain::Vectors.kind();
    if !ok {
        pages::corrupted(index, format!("a code item points at block {block}, which is not a vector page"));
    }
    // The re-rank reads line pointers up to pd_lower.
    if let Some(problem) = pointers.problem(Chain::Vectors.page_name(), block) {
        pages::corrupted(index, problem);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_items_round_trip() {
        let tid = pg_sys::ItemPointerData { ip_blkid: pg_sys::BlockIdData { bi_hi: 1, bi_lo: 2 }, ip_posid: 3 };
        let at = VectorAt { block: 123_456, off: 17 };
        let item = code_item(&tid, at, &[9, 8, 7]);
        assert_eq!(item.len(), code_item_size(3));
        let (back, codes) = code_item_parts(&item);
        assert_eq!(back, at);
        assert_eq!(codes, &[9, 8, 7]);
        assert_eq!(pages::item_tid(&item).ip_posid, 3);
    }

    #[test]
    fn quantizer_pages_hold_offsets_and_scales() {
        assert_eq!(quantizer_pages(128), 1);
        assert_eq!(quantizer_pages(1000), 1);
        assert_eq!(quantizer_pages(1001), 2);
        assert_eq!(quantizer_pages(pages::MAX_DIM), 2);
    }
}
