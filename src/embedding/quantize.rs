//! `binary_quantize(embedding) -> bit`: one bit per dimension, 1 where the value is
//! positive, as pgvector's binary_quantize; the result works with Postgres' bit
//! operators (`#` xor, `bit_count`) for Hamming-distance re-ranking.
use super::EmbeddingRef;
use pgrx::callconv::BoxRet;
use pgrx::datum::IntoDatum;
use pgrx::pgrx_sql_entity_graph::metadata::{
    ArgumentError, ReturnsError, ReturnsRef, SqlMappingRef, SqlTranslatable, TypeOrigin,
};
use pgrx::prelude::*;

/// A bit string: `len` bits packed most significant bit first, as Postgres' `bit` keeps them.
#[derive(Debug, PartialEq)]
pub struct BitString {
    pub len: usize,
    pub bytes: Vec<u8>,
}

pub fn binary_quantize(values: &[f32]) -> BitString {
    let mut bytes = vec![0u8; values.len().div_ceil(8)];
    for (i, x) in values.iter().enumerate() {
        if *x > 0.0 {
            bytes[i / 8] |= 0x80 >> (i % 8);
        }
    }
    BitString { len: values.len(), bytes }
}

#[pg_extern(name = "binary_quantize", immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn binary_quantize_embedding(value: EmbeddingRef) -> BitString {
    binary_quantize(&value)
}

unsafe impl SqlTranslatable for BitString {
    const TYPE_IDENT: &'static str = pgrx::pgrx_sql_entity_graph::pgrx_resolved_type!(BitString);
    const TYPE_ORIGIN: TypeOrigin = TypeOrigin::External;
    const ARGUMENT_SQL: Result<SqlMappingRef, ArgumentError> = Ok(SqlMappingRef::literal("bit"));
    const RETURN_SQL: Result<ReturnsRef, ReturnsError> = Ok(ReturnsRef::One(SqlMappingRef::literal("bit")));
}

impl IntoDatum for BitString {
    /// Postgres' VarBit: varlena header, int32 bit length, then the bytes (unused
    /// trailing bits zero, as Postgres requires).
    fn into_datum(self) -> Option<pg_sys::Datum> {
        let size = 8 + self.bytes.len();
        // SAFETY: a zeroed palloc of exactly the VarBit size, written within bounds.
        unsafe {
            let ptr = pg_sys::palloc0(size) as *mut u8;
            pgrx::set_varsize_4b(ptr as *mut pg_sys::varlena, size as i32);
            std::ptr::write_unaligned(ptr.add(4) as *mut i32, self.len as i32);
            std::ptr::copy_nonoverlapping(self.bytes.as_ptr(), ptr.add(8), self.bytes.len());
            Some(pg_sys::Datum::from(ptr))
        }
    }
    fn type_oid() -> pg_sys::Oid {
        pg_sys::BITOID
    }
}

unsafe impl BoxRet for BitString {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut pgrx::callconv::FcInfo<'fcx>) -> pgrx::datum::Datum<'fcx> {
        unsafe { fcinfo.return_raw_datum(self.into_datum().unwrap()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl BitString {
        /// As `bit`'s text form: `100`.
        fn to_text(&self) -> String {
            (0..self.len).map(|i| if self.bytes[i / 8] & (0x80 >> (i % 8)) != 0 { '1' } else { '0' }).collect()
        }
    }

    #[test]
    fn one_bit_per_dimension_set_where_positive() {
        assert_eq!(binary_quantize(&[1.0, 0.0, -1.0]).to_text(), "100");
        assert_eq!(binary_quantize(&[1.0, 0.0, -1.0]).bytes, vec![0b1000_0000]);
        let v = [0.0, 0.1, -0.2, -0.3, 0.4, 0.5, 0.6, -0.7, 0.8, -0.9, 1.0];
        let bits = binary_quantize(&v);
        assert_eq!(bits.to_text(), "01001110101");
        assert_eq!(bits.bytes, vec![0b0100_1110, 0b1010_0000]);
        assert_eq!(binary_quantize(&[-0.0, 1e-45]).to_text(), "01");
    }
}
