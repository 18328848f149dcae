//! The page checks every phase runs on what it reads (corruption must be an ERROR naming
//! the index, never a crash, a wrong answer or a scan that never ends), and the ERROR.
use super::pages::{
    list_head, max_offset, number_of_blocks, relation_name, Chain, DataSpecial, ListHead, Meta, BLCKSZ, INVALID_BLOCK,
    PAGE_HEADER,
};
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::mem::size_of;

/// Raises "ann index ... is corrupted" (SQLSTATE XX002, index_corrupted) with a hint to
/// REINDEX: a damaged page must be an ERROR naming the index, never a crash, a wrong
/// answer or a scan that never ends.
pub unsafe fn corrupted(index: pg_sys::Relation, what: String) -> ! {
    let name = relation_name(index);
    pgrx::pg_sys::panic::ErrorReport::new(
        PgSqlErrorCode::ERRCODE_INDEX_CORRUPTED,
        format!("ann index \"{name}\" is corrupted: {what}"),
        "image_search::index::pages",
    )
    .set_hint(format!("REINDEX INDEX {} rebuilds it from the table.", quoted_name(index)))
    .report(PgLogLevel::ERROR);
    unreachable!("an ERROR does not return")
}

/// The index's schema-qualified, quoted name, for the hint.
unsafe fn quoted_name(index: pg_sys::Relation) -> String {
    let schema = pg_sys::get_namespace_name((*(*index).rd_rel).relnamespace);
    let schema = std::ffi::CStr::from_ptr(pg_sys::quote_identifier(schema)).to_string_lossy().into_owned();
    let name = std::ffi::CStr::from_ptr(pg_sys::quote_identifier((*(*index).rd_rel).relname.data.as_ptr()));
    format!("{schema}.{}", name.to_string_lossy())
}

/// The page header's pointers: where the line pointers end (`pd_lower`), where the items
/// begin (`pd_upper`) and where the special space begins (`pd_special`).
#[derive(Clone, Copy, Debug)]
pub struct PagePointers {
    pub lower: usize,
    pub upper: usize,
    pub special: usize,
}

impl PagePointers {
    /// The pointers of a locked page.
    pub unsafe fn of(page: pg_sys::Page) -> PagePointers {
        let header = page as *const pg_sys::PageHeaderData;
        PagePointers {
            lower: (*header).pd_lower as usize,
            upper: (*header).pd_upper as usize,
            special: (*header).pd_special as usize,
        }
    }

    /// Bytes of special space; 0 for a new (all-zero) page.
    pub fn special_size(self) -> usize {
        if self.upper == 0 {
            0
        } else {
            BLCKSZ.saturating_sub(self.special)
        }
    }

    /// What is wrong with them: the line pointers (which every reader walks up to
    /// `pd_lower`) must lie after the header and before the items, the items before the
    /// special space, all inside the page (as PageAddItem requires; it PANICs otherwise).
    pub fn problem(self, name: &str, block: pg_sys::BlockNumber) -> Option<String> {
        let PagePointers { lower, upper, special } = self;
        let sound = PAGE_HEADER <= lower && lower <= upper && upper <= special && special <= BLCKSZ;
        (!sound).then(|| format!("{name} {block} has pd_lower {lower}, pd_upper {upper} and pd_special {special}"))
    }
}

/// A line pointer's fields: where its item starts, its length, and its flags (LP_UNUSED,
/// LP_NORMAL, ...).
pub type LinePointer = (usize, usize, u32);

/// What is wrong with a page of a list's `chain`, from its fields (plain, for unit tests):
/// its special space must be a `DataSpecial` of the chain's kind, its header's pointers
/// sound (`PagePointers::problem`), its link must point to an older page of the index
/// (pages are only ever appended, so a list's chain goes to lower block numbers and always
/// ends), and every item must be an item of the chain of the index's dimension lying
/// inside the page. On vector pages, line pointers that are not in use (LP_UNUSED, left by
/// VACUUM) are skipped: nobody reads them; an in-use one of any other size is corruption.
#[allow(clippy::too_many_arguments)]
pub fn data_page_problem(
    chain: Chain,
    block: pg_sys::BlockNumber,
    pointers: PagePointers,
    kind: u32,
    prev: pg_sys::BlockNumber,
    first_data_block: pg_sys::BlockNumber,
    items: impl Iterator<Item = LinePointer>,
    dim: usize,
) -> Option<String> {
    let name = chain.page_name();
    let special_size = pointers.special_size();
    if special_size != size_of::<DataSpecial>() || kind != chain.kind() {
        return Some(format!("block {block} is not a {name} (special space of {special_size} bytes, kind {kind})"));
    }
    if let Some(problem) = pointers.problem(name, block) {
        return Some(problem);
    }
    if prev != INVALID_BLOCK && (prev >= block || prev < first_data_block) {
        return Some(format!("{name} {block} links to block {prev}"));
    }
    let size = chain.item_size(dim);
    for (i, (start, len, flags)) in items.enumerate() {
        if chain == Chain::Vectors && flags != pg_sys::LP_NORMAL {
            continue;
        }
        if len != size {
            return Some(format!("item {} of {name} {block} has {len} bytes, expected {size}", i + 1));
        }
        if start < PAGE_HEADER || start + len > BLCKSZ - special_size {
            return Some(format!(
                "item {} of {name} {block} lies at bytes {start}..{} of the page",
                i + 1,
                start + len
            ));
        }
    }
    None
}

/// Checks a locked data page of `index` (see `data_page_problem`) and returns the block of
/// the list's previous page.
pub unsafe fn checked_data_page(
    index: pg_sys::Relation,
    meta: &Meta,
    chain: Chain,
    block: pg_sys::BlockNumber,
    page: pg_sys::Page,
) -> pg_sys::BlockNumber {
    let pointers = PagePointers::of(page);
    let special = if pointers.special_size() == size_of::<DataSpecial>() {
        std::ptr::read_unaligned(pg_sys::PageGetSpecialPointer(page) as *const DataSpecial)
    } else {
        DataSpecial { prev_block: INVALID_BLOCK, kind: u32::MAX }
    };
    // Read lazily, only once the pointers were found sound (pd_lower bounds the line pointers).
    let items = (1..=max_offset(page)).map(|off| {
        let id = pg_sys::PageGetItemId(page, off);
        ((*id).lp_off() as usize, (*id).lp_len() as usize, (*id).lp_flags())
    });
    let first = meta.first_data_block();
    let (prev, kind) = (special.prev_block, special.kind);
    if let Some(problem) = data_page_problem(chain, block, pointers, kind, prev, first, items, meta.dim()) {
        corrupted(index, problem);
    }
    prev
}

/// Checks the header pointers of a locked page that is not a list page (directory,
/// quantiser), and that item `off` lies inside the page; the item's bytes.
pub unsafe fn checked_item<'a>(
    index: pg_sys::Relation,
    name: &str,
    block: pg_sys::BlockNumber,
    page: pg_sys::Page,
    off: pg_sys::OffsetNumber,
) -> &'a [u8] {
    let pointers = PagePointers::of(page);
    if let Some(problem) = pointers.problem(name, block) {
        corrupted(index, problem);
    }
    if off == 0 || off > max_offset(page) {
        corrupted(index, format!("{name} {block} has no item {off}"));
    }
    let id = pg_sys::PageGetItemId(page, off);
    let (start, len) = ((*id).lp_off() as usize, (*id).lp_len() as usize);
    if start < PAGE_HEADER || start + len > pointers.special {
        corrupted(index, format!("item {off} of {name} {block} lies at bytes {start}..{} of the page", start + len));
    }
    super::pages::item(page, off)
}

/// The head of `chain` in directory item `off` of the locked directory page in `buf`,
/// the page and item checked (`checked_item`).
pub unsafe fn checked_list_head(
    index: pg_sys::Relation,
    buf: pg_sys::Buffer,
    off: pg_sys::OffsetNumber,
    chain: Chain,
) -> ListHead {
    let block = pg_sys::BufferGetBlockNumber(buf);
    list_head(checked_item(index, "directory page", block, super::pages::page_of(buf), off), chain)
}

/// A list's newest page from the directory, checked to be a data page of the index.
pub unsafe fn checked_head(
    index: pg_sys::Relation,
    meta: &Meta,
    list: usize,
    head: pg_sys::BlockNumber,
) -> pg_sys::BlockNumber {
    checked_head_below(index, meta, list, head, number_of_blocks(index))
}

/// `checked_head` against a length `blocks` taken after the directory was read (the index
/// only grows, so every head read before was below it).
pub unsafe fn checked_head_below(
    index: pg_sys::Relation,
    meta: &Meta,
    list: usize,
    head: pg_sys::BlockNumber,
    blocks: pg_sys::BlockNumber,
) -> pg_sys::BlockNumber {
    if head != INVALID_BLOCK && (head < meta.first_data_block() || head >= blocks) {
        corrupted(index, format!("list {list} starts at block {head}, which is not a list page"));
    }
    head
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::pages::data_item_size;

    const NORMAL: u32 = pg_sys::LP_NORMAL;

    /// A page with `special` bytes of special space and sound pointers.
    fn pointers(special: usize) -> PagePointers {
        PagePointers { lower: 32, upper: 4000, special: BLCKSZ - special }
    }

    fn problem(special: usize, prev: u32, items: &[(usize, usize)]) -> Option<String> {
        let items = items.iter().map(|&(start, len)| (start, len, NORMAL));
        data_page_problem(Chain::Data, 7, pointers(special), 0, prev, 2, items, 16)
    }

    #[test]
    fn a_sound_data_page_has_no_problem() {
        let item = data_item_size(16);
        assert_eq!(problem(8, INVALID_BLOCK, &[]), None);
        assert_eq!(problem(8, 3, &[(8192 - 8 - 72, item), (8192 - 8 - 144, item)]), None);
    }

    #[test]
    fn damaged_data_pages_are_named() {
        let item = data_item_size(16);
        assert_eq!(problem(0, 3, &[]).unwrap(), "block 7 is not a data page (special space of 0 bytes, kind 0)");
        // A page of another chain (a code page linked from a vector chain).
        assert_eq!(
            data_page_problem(Chain::Vectors, 7, pointers(8), 1, 3, 2, [].into_iter(), 16).unwrap(),
            "block 7 is not a vector page (special space of 8 bytes, kind 1)"
        );
        // Vector pages may have unused line pointers, but an item in use has its size;
        // code items have their own size.
        let unused = (0, 0, pg_sys::LP_UNUSED);
        assert_eq!(data_page_problem(Chain::Vectors, 7, pointers(8), 2, 3, 2, [unused].into_iter(), 16), None);
        assert_eq!(
            data_page_problem(Chain::Vectors, 7, pointers(8), 2, 3, 2, [unused, (8000, 0, NORMAL)].into_iter(), 16)
                .unwrap(),
            "item 2 of vector page 7 has 0 bytes, expected 72"
        );
        let code = Chain::Codes.item_size(16);
        assert_eq!(
            data_page_problem(Chain::Codes, 7, pointers(8), 1, 3, 2, [(8000, code, NORMAL)].into_iter(), 16),
            None
        );
        assert_eq!(
            data_page_problem(Chain::Codes, 7, pointers(8), 1, 3, 2, [(0, 0, pg_sys::LP_UNUSED)].into_iter(), 16)
                .unwrap(),
            format!("item 1 of code page 7 has 0 bytes, expected {code}")
        );
        // Header pointers out of range: line pointers read past the page, or into the items.
        for (lower, upper) in [(0, 4000), (20, 4000), (4001, 4000), (60000, 4000), (32, 9000)] {
            let bad = PagePointers { lower, upper, special: BLCKSZ - 8 };
            let items = std::iter::repeat((8000, item, NORMAL)); // never read
            assert_eq!(
                data_page_problem(Chain::Data, 7, bad, 0, 3, 2, items, 16).unwrap(),
                format!("data page 7 has pd_lower {lower}, pd_upper {upper} and pd_special 8184")
            );
        }
        // A link to itself, forward, or into the metapage/directory would loop or misread.
        assert_eq!(problem(8, 7, &[]).unwrap(), "data page 7 links to block 7");
        assert_eq!(problem(8, 9, &[]).unwrap(), "data page 7 links to block 9");
        assert_eq!(problem(8, 1, &[]).unwrap(), "data page 7 links to block 1");
        assert_eq!(problem(8, 3, &[(100, 12)]).unwrap(), "item 1 of data page 7 has 12 bytes, expected 72");
        assert_eq!(
            problem(8, 3, &[(8150, item)]).unwrap(),
            "item 1 of data page 7 lies at bytes 8150..8222 of the page"
        );
    }
}
