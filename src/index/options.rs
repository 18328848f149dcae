//! The index option `lists` (a reloption, range-checked by Postgres) and the search setting
//! `image_search.ann_probes` (a GUC anyone may set).
use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use pgrx::pg_sys;
use pgrx::prelude::*;

pub const DEFAULT_LISTS: i32 = 100;
pub const MIN_LISTS: i32 = 1;
pub const MAX_LISTS: i32 = 10_000;
pub const DEFAULT_PROBES: i32 = 10;

pub static PROBES: GucSetting<i32> = GucSetting::<i32>::new(DEFAULT_PROBES);

static mut RELOPT_KIND: pg_sys::relopt_kind::Type = 0;

/// The parsed reloptions (a varlena, as build_reloptions makes it).
#[repr(C)]
struct AnnOptions {
    vl_len_: i32,
    lists: i32,
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
    }
    GucRegistry::define_int_guc(
        c"image_search.ann_probes",
        c"Lists an ann index scan reads first (more: better recall, slower).",
        c"A scan that must return more rows (a WHERE filter rejected some) goes on to the next-nearest lists, up to all of them.",
        &PROBES,
        1,
        MAX_LISTS,
        GucContext::Userset,
        GucFlags::default(),
    );
}

#[pg_guard]
pub unsafe extern "C-unwind" fn amoptions(reloptions: pg_sys::Datum, validate: bool) -> *mut pg_sys::bytea {
    let table = [pg_sys::relopt_parse_elt {
        optname: c"lists".as_ptr(),
        opttype: pg_sys::relopt_type::RELOPT_TYPE_INT,
        offset: std::mem::offset_of!(AnnOptions, lists) as i32,
    }];
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

pub fn probes() -> usize {
    PROBES.get().max(1) as usize
}
