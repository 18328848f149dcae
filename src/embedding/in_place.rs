//! `EmbeddingRef`: an `embedding` argument read where it lies instead of copied.
//!
//! An exact scan calls a distance operator once per row, and copying each value (and the
//! constant query, again, for every row) into a fresh `Vec<f32>` cost more than the
//! distance itself (issue 9: ~260 of ~414 ns per row). A value stored in a heap tuple
//! with a 4-byte header, not compressed and not out of line (the case for every
//! embedding of 30 to ~500 dimensions, since the type's storage is `external`), is a
//! plain array of float4 at a 4-byte aligned address inside the page, so it can be
//! borrowed for as long as the function call lasts. Anything else (a short 1-byte
//! header, a compressed or TOASTed value) is detoasted and copied as before, and a plain
//! value at an address that is not 4-byte aligned is copied: correct, just not free.
use pgrx::callconv::{Arg, ArgAbi};
use pgrx::pg_sys;
use std::borrow::Cow;

pub(super) const HEADER_BYTES: usize = 8; // varlena length word + int16 dim + int16 unused

/// The floats of one `embedding` datum: borrowed from the tuple when they can be.
pub struct EmbeddingRef<'a>(Cow<'a, [f32]>);

impl std::ops::Deref for EmbeddingRef<'_> {
    type Target = [f32];
    #[inline]
    fn deref(&self) -> &[f32] {
        &self.0
    }
}

impl<'a> EmbeddingRef<'a> {
    /// Values of a non-null `embedding` datum that stays valid for `'a`.
    ///
    /// # Safety
    /// `datum` must point to an `embedding` varlena (possibly toasted) that outlives `'a`.
    #[inline]
    pub unsafe fn from_datum(datum: pg_sys::Datum) -> EmbeddingRef<'a> {
        let ptr = datum.cast_mut_ptr::<pg_sys::varlena>();
        // Checked in Rust, no call into Postgres: the plain case is the per-row case.
        if let Some(values) = read_plain(ptr) {
            return EmbeddingRef(values.unwrap_or_else(|damage| damage.raise()));
        }
        // Short header, compressed or out of line: a detoasted copy.
        let raw = pg_sys::pg_detoast_datum(ptr);
        let values = match read_plain(raw) {
            Some(values) => values.unwrap_or_else(|damage| damage.raise()).into_owned(),
            None => pgrx::error!("embedding value could not be detoasted"),
        };
        if raw != ptr {
            pg_sys::pfree(raw.cast());
        }
        EmbeddingRef(Cow::Owned(values))
    }

    pub fn into_vec(self) -> Vec<f32> {
        self.0.into_owned()
    }
}

/// A value whose header claims more floats than its length holds.
#[derive(Debug, PartialEq)]
struct Damaged {
    dim: i16,
    size: usize,
}

impl Damaged {
    fn raise(self) -> ! {
        pgrx::error!("embedding value is damaged: {} dimensions in {} bytes", self.dim, self.size)
    }
}

/// The floats of a plain value (4-byte header, not compressed, not out of line): borrowed
/// when 4-byte aligned, else copied. None for any other form (detoast it first).
///
/// # Safety
/// `ptr` must point to an `embedding` varlena that outlives `'a`.
unsafe fn read_plain<'a>(ptr: *const pg_sys::varlena) -> Option<Result<Cow<'a, [f32]>, Damaged>> {
    if !pgrx::varlena::varatt_is_4b_u(ptr) {
        return None;
    }
    let base = ptr as *const u8;
    let size = pgrx::varlena::varsize_4b(ptr);
    let dim = std::ptr::read_unaligned(base.add(4) as *const i16);
    // Checked against the length, so that a damaged value is an ERROR, not a read past its end.
    if dim < 0 || size < HEADER_BYTES + 4 * dim as usize {
        return Some(Err(Damaged { dim, size }));
    }
    let first = base.add(HEADER_BYTES) as *const f32;
    Some(Ok(if first.is_aligned() {
        Cow::Borrowed(std::slice::from_raw_parts(first, dim as usize))
    } else {
        Cow::Owned((0..dim as usize).map(|i| std::ptr::read_unaligned(first.add(i))).collect())
    }))
}

/// The floats of a plain, undamaged, 4-byte aligned value, borrowed; None for every other
/// form. The per-row case of an exact scan, with no copy and no branch to Postgres: the
/// fast entry points in `fast_calls.rs` take it and leave everything else (and its
/// ERRORs) to the pgrx-wrapped functions.
///
/// # Safety
/// `ptr` must point to an `embedding` varlena that outlives `'a`.
#[inline(always)]
pub(super) unsafe fn plain_in_place<'a>(ptr: *const pg_sys::varlena) -> Option<&'a [f32]> {
    if !pgrx::varlena::varatt_is_4b_u(ptr) {
        return None;
    }
    let base = ptr as *const u8;
    let size = pgrx::varlena::varsize_4b(ptr);
    let dim = std::ptr::read_unaligned(base.add(4) as *const i16);
    let first = base.add(HEADER_BYTES) as *const f32;
    (dim >= 0 && size >= HEADER_BYTES + 4 * dim as usize && first.is_aligned())
        .then(|| std::slice::from_raw_parts(first, dim as usize))
}

unsafe impl<'fcx> ArgAbi<'fcx> for EmbeddingRef<'fcx> {
    #[inline]
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        let index = arg.index();
        // Postgres does not call these strict functions with NULL; a non-strict caller would.
        match arg.unbox_arg_using_from_datum::<RawDatum>() {
            Some(RawDatum(datum)) => EmbeddingRef::from_datum(datum),
            None => panic!("argument {index} must not be null"),
        }
    }
}

/// The argument's Datum as Postgres passed it (no detoasting, no copy).
struct RawDatum(pg_sys::Datum);

impl pgrx::datum::FromDatum for RawDatum {
    #[inline]
    unsafe fn from_polymorphic_datum(datum: pg_sys::Datum, is_null: bool, _: pg_sys::Oid) -> Option<Self> {
        (!is_null).then_some(RawDatum(datum))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain 4-byte-header embedding of `values` in 4-byte aligned memory, preceded by
    /// `shift` bytes so that the value itself can also sit at an odd address.
    fn plain_value(values: &[f32], shift: usize) -> Vec<u32> {
        let size = HEADER_BYTES + 4 * values.len();
        let mut bytes = vec![0u8; shift];
        bytes.extend_from_slice(&((size as u32) << 2).to_le_bytes()); // little-endian 4B_U header
        bytes.extend_from_slice(&(values.len() as i16).to_le_bytes());
        bytes.extend_from_slice(&0i16.to_le_bytes());
        values.iter().for_each(|v| bytes.extend_from_slice(&v.to_le_bytes()));
        bytes.resize(bytes.len().div_ceil(4) * 4, 0);
        bytes.chunks(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect()
    }

    fn bits(values: &[f32]) -> Vec<u32> {
        values.iter().map(|v| v.to_bits()).collect()
    }

    #[test]
    fn a_plain_aligned_value_is_read_in_place() {
        let values: Vec<f32> = (0..128).map(|i| (i as f32).sin()).collect();
        let buf = plain_value(&values, 0);
        let read = unsafe { read_plain(buf.as_ptr() as *const pg_sys::varlena) }.unwrap().unwrap();
        assert!(matches!(read, Cow::Borrowed(_)));
        assert_eq!(read.as_ptr() as usize, buf.as_ptr() as usize + HEADER_BYTES, "no copy");
        assert_eq!(bits(&read), bits(&values));
    }

    #[test]
    fn a_plain_value_at_an_odd_address_is_copied_bit_for_bit() {
        let values = [1.5f32, -0.0, f32::MIN_POSITIVE, 3.4e38];
        let buf = plain_value(&values, 1);
        let ptr = unsafe { (buf.as_ptr() as *const u8).add(1) } as *const pg_sys::varlena;
        let read = unsafe { read_plain(ptr) }.unwrap().unwrap();
        assert!(matches!(read, Cow::Owned(_)));
        assert_eq!(bits(&read), bits(&values));
    }

    #[test]
    fn only_plain_aligned_undamaged_values_are_taken_in_place() {
        let values: Vec<f32> = (0..128).map(|i| (i as f32).cos()).collect();
        let buf = plain_value(&values, 0);
        let read = unsafe { plain_in_place(buf.as_ptr() as *const pg_sys::varlena) }.unwrap();
        assert_eq!(read.as_ptr() as usize, buf.as_ptr() as usize + HEADER_BYTES, "no copy");
        assert_eq!(bits(read), bits(&values));
        let odd = plain_value(&values, 1);
        let ptr = unsafe { (odd.as_ptr() as *const u8).add(1) } as *const pg_sys::varlena;
        assert!(unsafe { plain_in_place(ptr) }.is_none(), "misaligned: copied by the guarded path");
        let mut short = plain_value(&[1.0, 2.0], 0);
        short[0] = (short[0] & !0xff) | ((12u32 << 1) | 1);
        assert!(unsafe { plain_in_place(short.as_ptr() as *const pg_sys::varlena) }.is_none());
        let mut damaged = plain_value(&[1.0, 2.0], 0);
        damaged[1] = 3;
        assert!(unsafe { plain_in_place(damaged.as_ptr() as *const pg_sys::varlena) }.is_none());
    }

    #[test]
    fn other_forms_and_damaged_values_are_not_read_as_plain() {
        let mut buf = plain_value(&[1.0, 2.0], 0);
        // A 1-byte header (low bit set on little-endian) must be detoasted first.
        buf[0] = (buf[0] & !0xff) | ((12u32 << 1) | 1);
        assert!(unsafe { read_plain(buf.as_ptr() as *const pg_sys::varlena) }.is_none());
        // A header claiming 3 floats in a value with room for 2.
        let mut buf = plain_value(&[1.0, 2.0], 0);
        buf[1] = 3;
        let read = unsafe { read_plain(buf.as_ptr() as *const pg_sys::varlena) }.unwrap();
        assert_eq!(read.err(), Some(Damaged { dim: 3, size: 16 }));
    }
}
