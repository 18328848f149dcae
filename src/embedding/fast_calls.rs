//! Hand-written fmgr entry points for the distance functions behind `<=>`, `<->`, `<#>`
//! and `<+>` (and `inner_product`, `cosine_similarity`), the functions an exact scan calls
//! once per row.
//!
//! pgrx's `#[pg_extern]` wrapper costs ~40 ns per call on top of the distance (issue 9,
//! `perf` on a 1M-row scan: its panic guard, memory-context switch and argument iterator
//! plus `EmbeddingRef`'s general unboxing were ~18 % of the scan's samples, the kernel
//! 43 %), which left our exact scan 1.2x slower than pgvector's. Here the common case
//! (both arguments plain values read in place, same dimensions) goes straight from the
//! `fcinfo` to the kernel; every other case (a NULL from a non-strict caller, a short
//! header, a compressed or TOASTed value, a misaligned or damaged value, different
//! dimensions) falls back to the pgrx-wrapped function in `operators.rs`, which gives
//! today's ERRORs and copies. The SQL functions keep their C symbols
//! (`cosine_distance_wrapper`, ...): `operators.rs` declares them with explicit SQL
//! pointing here, so no SQL object changes.
//!
//! Panics: the fast path does no indexing, allocation or unwrapping, but it still runs
//! inside `catch_unwind`; a panic there (a bug) retries through the pgrx-guarded function,
//! which turns any panic into a Postgres ERROR. Nothing unwinds into Postgres.
use super::in_place::plain_in_place;
use super::row_prefetch::prefetch_following_rows;
use super::HEADER_BYTES;
use crate::engine::distance;
use pgrx::pg_sys;

/// The two arguments' floats when both are non-null plain values read in place with the
/// same number of dimensions; None for anything the guarded path must handle. Also starts
/// loading the rows a scan will pass next (`row_prefetch`).
///
/// # Safety
/// `fcinfo` must be a valid call of a function taking two `embedding`s.
#[inline(always)]
unsafe fn plain_pair<'a>(fcinfo: pg_sys::FunctionCallInfo) -> Option<(&'a [f32], &'a [f32])> {
    let args = (*fcinfo).args.as_slice(2);
    if args[0].isnull || args[1].isnull {
        return None;
    }
    let a = plain_in_place(args[0].value.cast_mut_ptr())?;
    let b = plain_in_place(args[1].value.cast_mut_ptr())?;
    if a.len() != b.len() {
        return None;
    }
    let values = [args[0].value.cast_mut_ptr::<u8>().cast_const(), args[1].value.cast_mut_ptr::<u8>().cast_const()];
    prefetch_following_rows(fcinfo, values, HEADER_BYTES + 4 * a.len());
    Some((a, b))
}

/// `entry` is the SQL function's C symbol, `guarded` the pgrx wrapper of the same function
/// (the fallback), `kernel` the distance of two same-length slices as f64.
macro_rules! fast_distance_call {
    ($entry:ident, $finfo:ident, $guarded:ident, $kernel:expr) => {
        #[unsafe(no_mangle)]
        #[doc(hidden)]
        pub extern "C" fn $finfo() -> &'static pg_sys::Pg_finfo_record {
            const V1_API: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
            &V1_API
        }

        /// # Safety
        /// Called by Postgres' fmgr with a valid `fcinfo` for this function's SQL signature.
        #[unsafe(no_mangle)]
        #[doc(hidden)]
        pub unsafe extern "C-unwind" fn $entry(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
            let fast = std::panic::catch_unwind(|| {
                // SAFETY: fmgr passes a valid fcinfo; the slices live as long as the call.
                unsafe { plain_pair(fcinfo) }.map(|(a, b)| {
                    let kernel: fn(&[f32], &[f32]) -> f64 = $kernel;
                    kernel(a, b)
                })
            });
            match fast {
                Ok(Some(distance)) => pg_sys::Datum::from(distance.to_bits()),
                // SAFETY: the same call, handed to the pgrx-guarded function.
                _ => unsafe { super::operators::$guarded(fcinfo) },
            }
        }
    };
}

fast_distance_call!(
    cosine_distance_wrapper,
    pg_finfo_cosine_distance_wrapper,
    cosine_distance_guarded_wrapper,
    distance::cosine_distance
);
fast_distance_call!(
    cosine_similarity_wrapper,
    pg_finfo_cosine_similarity_wrapper,
    cosine_similarity_guarded_wrapper,
    distance::cosine_similarity
);
fast_distance_call!(
    l2_distance_wrapper,
    pg_finfo_l2_distance_wrapper,
    l2_distance_guarded_wrapper,
    distance::l2_distance
);
fast_distance_call!(
    l1_distance_wrapper,
    pg_finfo_l1_distance_wrapper,
    l1_distance_guarded_wrapper,
    distance::l1_distance
);
fast_distance_call!(inner_product_wrapper, pg_finfo_inner_product_wrapper, inner_product_guarded_wrapper, |a, b| {
    distance::inner_product(a, b) as f64
});
fast_distance_call!(
    negative_inner_product_wrapper,
    pg_finfo_negative_inner_product_wrapper,
    negative_inner_product_guarded_wrapper,
    |a, b| -(distance::inner_product(a, b) as f64)
);
