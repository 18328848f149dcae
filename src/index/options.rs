//! The index options `lists` and `quantizer` (reloptions, checked by Postgres) and the search
//! setting `image_search.ann_probes` (a GUC anyone may set).
//!
//! `quantizer` picks the page format the build writes: `'sq8'` (format 2: 8-bit codes for
//! the scan's first pass, the exact vectors for re-ranking) or `'none'` (format 1: exact
//! vectors only). An index is read by the format on its meta page, so changing the option
//! takes effect at the next REINDEX.
use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use pgrx::pg_sys;
use pgrx::prelude::*;

pub const DEFAULT_LISTS: i32 = 100;
pub const MIN_LISTS: i32 = 1;
pub const MAX_LISTS: i32 = 10_000;
pub const DEFAULT_PROBES: i32 = 10;

/// The `quantizer` option's values (stored as these numbers in the parsed options).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantizer {
    None = 1,
    Sq8 = 2,
}

/// Chosen by measurement (BENCHMARKS.md, "sq8 in ann").
pub const DEFAULT_QUANTIZER: Quantizer = Quantizer::Sq8;

static mut QUANTIZER_VALUES: [pg_sys::relopt_enum_elt_def; 3] = [
    pg_sys::relopt_enum_elt_def { string_val: c"none".as_ptr(), symbol_val: Quantizer::None as i32 },
    pg_sys::relopt_enum_elt_def { string_val: c"sq8".as_ptr(), symbol_val: Quantizer::Sq8 as i32 },
    pg_sys::relopt_enum_elt_def { string_val: std::ptr::null(), symbol_val: 0 },
];

pub static PROBES: GucSetting<i32> = GucSetting::<i32>::new(DEFAULT_PROBES);

static mut RELOPT_KIND: pg_sys::relopt_kind::Type = 0;

/// The parsed reloptions (a varlena, as build_reloptions makes it).
#[repr(C)]
struct AnnOptions {
    vl_len_: i32,
    lists: i32,
    quantizer: i32,
}

/// Called from _PG_init.
pub fn register() {
    // SAFETY: _PG_init runs once per backend, before any index is opened.
    unsafe {
        RELOPT_KIND = pg_sys::add_reloption_kind();
        pg_sys::add_int_reloption(
            RELOPT_KIND as pg_sys::bits32,
            c"lists".as_ptr(),
            c"Number of inverted lists (k-means centroids) of an ann index".as_ptr(),
            DEFAULT_LISTS,
            MIN_LISTS,
            MAX_LISTS,
            pg_sys::AccessExclusiveLock as pg_sys::LOCKMODE,
        );
        pg_sys::add_enum_reloption(
            RELOPT_KIND as pg_sys::bits32,
            c"quantizer".as_ptr(),
            c"Codes for the first pass of an ann index scan: sq8 (8-bit) or none (exact vectors only)".as_ptr(),
            std::ptr::addr_of_mut!(QUANTIZER_VALUES) as *mut pg_sys::relopt_enum_elt_def,
            DEFAULT_QUANTIZER as i32,
            c"Valid values are \"sq8\" and \"none\".".as_ptr(),
            pg_sys::AccessExclusiveLock as pg_sys::LOCKMODE,
        );
    }
    GucRegistry::define_int_guc(
        c"image_search.ann_probes",
        c"Lists an ann index scan reads first (more: better recall, slower).",
        c"A scan whose caller takes many rows (a WHERE filter rejects them) reads the next-nearest lists as it goes, 4 x ann_probes lists for every list's worth of rows taken, up to all of them.",
        &PROBES,
        1,
        MAX_LISTS,
        GucContext::Userset,
        GucFlags::default(),
    );
}

#[pg_guard]
pub unsafe extern "C-unwind" fn amoptions(reloptions: pg_sys::Datum, validate: bool) -> *mut pg_sys::bytea {
    let table = [
        pg_sys::relopt_parse_elt {
            optname: c"lists".as_ptr(),
            opttype: pg_sys::relopt_type::RELOPT_TYPE_INT,
            offset: std::mem::offset_of!(AnnOptions, lists) as i32,
        },
        pg_sys::relopt_parse_elt {
            optname: c"quantizer".as_ptr(),
            opttype: pg_sys::relopt_type::RELOPT_TYPE_ENUM,
            offset: std::mem::offset_of!(AnnOptions, quantizer) as i32,
        },
    ];
    pg_sys::build_reloptions(
        reloptions,
        validate,
        RELOPT_KIND,
        std::mem::size_of::<AnnOptions>(),
        table.as_ptr(),
        table.len() as i32,
    ) as *mut pg_sys::bytea
}

/// The `lists` option of an index (the default when none was given).
pub unsafe fn lists(index: pg_sys::Relation) -> usize {
    let opts = (*index).rd_options as *const AnnOptions;
    if opts.is_null() {
        DEFAULT_LISTS as usize
    } else {
        (*opts).lists as usize
    }
}

/// The `quantizer` option of an index (the default when none was given).
pub unsafe fn quantizer(index: pg_sys::Relation) -> Quantizer {
    let opts = (*index).rd_options as *const AnnOptions;
    match opts.as_ref().map(|o| o.quantizer) {
        None => DEFAULT_QUANTIZER,
        Some(q) if q == Quantizer::Sq8 as i32 => Quantizer::Sq8,
        Some(_) => Quantizer::None,
    }
}

pub fn probes() -> usize {
    PROBES.get().max(1) as usize
}
