//! `image_search.embedding`: a float4 vector type laid out exactly like pgvector's
//! `vector` (varlena header, int16 dim, int16 unused, float4[dim]) and with the same
//! binary wire format, so data moves between the two without conversion.
//!
//! - `text`: values, text form and wire format (plain Rust)
//! - `io`: the type itself: input/output, typmod and binary send/receive functions
//! - `operators`: casts, distance functions and operators
//! - `ordering`: btree and hash operator classes (DISTINCT, GROUP BY, plain indexes)
//! - `aggregate`: `avg(embedding)`
mod aggregate;
mod io;
mod operators;
mod ordering;
pub mod text;

use pgrx::callconv::{ArgAbi, BoxRet};
use pgrx::datum::{FromDatum, IntoDatum};
use pgrx::pgrx_sql_entity_graph::metadata::{
    ArgumentError, ReturnsError, ReturnsRef, SqlMappingRef, SqlTranslatable, TypeOrigin,
};
use pgrx::prelude::*;
use text::{check_typmod, check_values, EmbeddingError};

const HEADER_BYTES: usize = 8; // varlena length word + dim + unused

#[derive(Debug, Clone, PartialEq)]
pub struct Embedding(pub Vec<f32>);

fn raise(err: EmbeddingError) -> ! {
    let code = match err {
        EmbeddingError::Syntax(_) => PgSqlErrorCode::ERRCODE_INVALID_TEXT_REPRESENTATION,
        EmbeddingError::DimMismatch { .. } => PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
        EmbeddingError::NotFinite(_) => PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
        _ => PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
    };
    crate::error::raise_error(code, err.to_string())
}

impl Embedding {
    pub fn checked(values: Vec<f32>, typmod: i32) -> Embedding {
        if let Err(e) = check_values(&values).and_then(|_| check_typmod(values.len(), typmod)) {
            raise(e);
        }
        Embedding(values)
    }
}

fn same_dims(a: &Embedding, b: &Embedding) {
    if a.0.len() != b.0.len() {
        ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
            format!("different embedding dimensions {} and {}", a.0.len(), b.0.len())
        );
    }
}

unsafe impl SqlTranslatable for Embedding {
    const TYPE_IDENT: &'static str = pgrx::pgrx_sql_entity_graph::pgrx_resolved_type!(Embedding);
    const TYPE_ORIGIN: TypeOrigin = TypeOrigin::ThisExtension;
    const ARGUMENT_SQL: Result<SqlMappingRef, ArgumentError> = Ok(SqlMappingRef::literal("embedding"));
    const RETURN_SQL: Result<ReturnsRef, ReturnsError> = Ok(ReturnsRef::One(SqlMappingRef::literal("embedding")));
}

impl FromDatum for Embedding {
    unsafe fn from_polymorphic_datum(datum: pg_sys::Datum, is_null: bool, _: pg_sys::Oid) -> Option<Self> {
        if is_null {
            return None;
        }
        let raw = pg_sys::pg_detoast_datum(datum.cast_mut_ptr());
        let base = raw as *const u8;
        let dim = std::ptr::read_unaligned(base.add(4) as *const i16) as usize;
        let values = std::slice::from_raw_parts(base.add(HEADER_BYTES) as *const f32, dim).to_vec();
        if raw as *mut pg_sys::varlena != datum.cast_mut_ptr() {
            pg_sys::pfree(raw.cast());
        }
        Some(Embedding(values))
    }
}

impl IntoDatum for Embedding {
    fn into_datum(self) -> Option<pg_sys::Datum> {
        let size = HEADER_BYTES + 4 * self.0.len();
        unsafe {
            let ptr = pg_sys::palloc0(size) as *mut u8;
            pgrx::set_varsize_4b(ptr as *mut pg_sys::varlena, size as i32);
            std::ptr::write_unaligned(ptr.add(4) as *mut i16, self.0.len() as i16);
            std::ptr::copy_nonoverlapping(self.0.as_ptr() as *const u8, ptr.add(HEADER_BYTES), 4 * self.0.len());
            Some(pg_sys::Datum::from(ptr))
        }
    }
    fn type_oid() -> pg_sys::Oid {
        pgrx::wrappers::rust_regtypein::<Self>()
    }
}

unsafe impl<'fcx> ArgAbi<'fcx> for Embedding
where
    Self: 'fcx,
{
    unsafe fn unbox_arg_unchecked(arg: pgrx::callconv::Arg<'_, 'fcx>) -> Self {
        unsafe { arg.unbox_arg_using_from_datum().unwrap() }
    }
}

unsafe impl BoxRet for Embedding {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut pgrx::callconv::FcInfo<'fcx>) -> pgrx::datum::Datum<'fcx> {
        unsafe { fcinfo.return_raw_datum(self.into_datum().unwrap()) }
    }
}
