//! Prefetching the rows an exact scan will read next, from inside the distance function.
//!
//! A sequential scan hands the distance function one row at a time, and on a 1M-row
//! table most of each call was spent waiting for the row's cache lines (issue 9, `perf`:
//! the first loads of each row took most of the kernel's samples, in pgvector's kernel
//! too). Postgres fills a heap page from its end downwards and a scan reads the page's
//! tuples in line-pointer order, so the rows still to come in a page lie below the
//! current one at a steady stride (one tuple). The distance function sees the addresses
//! of consecutive values, learns that stride, and asks the CPU to start loading the value
//! two rows ahead while it computes this one: by the time Postgres hands it over, it is
//! in cache. A constant argument (the query) does not move and is not prefetched; a step
//! that is not a small move downwards (a new page, another layout) prefetches nothing.
//! A prefetch never faults, so a wrong guess costs a few cache-line loads and nothing else.
use pgrx::pg_sys;

/// Rows ahead to prefetch: one row's kernel (~100 ns) is shorter than a memory load.
const ROWS_AHEAD: usize = 2;

/// Per call site (the expression's FmgrInfo): each argument's address in the last call.
#[repr(C)]
struct LastAddresses([usize; 2]);

/// Prefetches, for each argument that moved down by less than a page since the last call
/// through this `fcinfo`, the value ROWS_AHEAD steps further down. `bytes` are the
/// values' sizes (header included).
///
/// # Safety
/// `fcinfo` must be a valid call whose arguments are the non-null `values`.
#[inline(always)]
pub(super) unsafe fn prefetch_following_rows(fcinfo: pg_sys::FunctionCallInfo, values: [*const u8; 2], bytes: usize) {
    let flinfo = (*fcinfo).flinfo;
    if flinfo.is_null() {
        return; // a direct call (no FmgrInfo): nowhere to remember addresses
    }
    let mut last = (*flinfo).fn_extra as *mut LastAddresses;
    if last.is_null() {
        // Once per call site, in the FmgrInfo's context; an out-of-memory ERROR is raised
        // through pgrx's guard, never unwound into Postgres.
        last = pgrx::pg_sys::submodules::panic::pgrx_extern_c_guard(|| {
            pg_sys::MemoryContextAllocZero((*flinfo).fn_mcxt, size_of::<LastAddresses>())
        }) as *mut LastAddresses;
        (*flinfo).fn_extra = last.cast();
    }
    for (value, previous) in values.iter().zip((*last).0.iter_mut()) {
        let here = *value as usize;
        let step = previous.wrapping_sub(here);
        *previous = here;
        if step > 0 && step < pg_sys::BLCKSZ as usize {
            prefetch(here.wrapping_sub(ROWS_AHEAD * step), bytes);
        }
    }
}

/// Hints the CPU to load the cache lines of `bytes` bytes at `address` into L1.
#[inline(always)]
fn prefetch(address: usize, bytes: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let mut line = address & !63;
        while line < address.wrapping_add(bytes) {
            // SAFETY: a prefetch is a hint; it never faults, whatever the address.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(line as *const i8) };
            line += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (address, bytes);
}
