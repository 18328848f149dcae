//! `image_search.embedding`: a float4 vector type laid out exactly like pgvector's
//! `vector` (varlena header, int16 dim, int16 unused, float4[dim]) and with the same
//! binary wire format, so data moves between the two without conversion.
//!
//! - `text`: values, text form and wire format (plain Rust); `shortest`: float4out's
//!   text for one value
//! - `in_place`: `EmbeddingRef`, an argument's floats borrowed from the tuple (no copy)
//! - `io`: the type itself: input/output, typmod and binary send/receive functions
//! - `casts`: casts from and to arrays (integer, numeric, real, double precision)
//! - `operators`: distance functions and operators, norms
//! - `fast_calls`: hand-written fmgr entry points of the distance functions (per-row speed)
//! - `row_prefetch`: those entry points prefetch the rows a scan reads next
//! - `arithmetic`: `+`, `-`, `*`, `||`, `subvector` and `sum(embedding)`
//! - `quantize`: `binary_quantize` (to `bit`)
//! - `ordering`: btree and hash operator classes (DISTINCT, GROUP BY, plain indexes)
//! - `aggregate`: `avg(embedding)`
mod aggregate;
pub mod arithmetic;
mod casts;
mod fast_calls;
mod in_place;
mod io;
mod operators;
mod ordering;
pub mod quantize;
mod row_prefetch;
mod shortest;
pub mod text;

pub use in_place::EmbeddingRef;
use in_place::HEADER_BYTES;
use pgrx::callconv::{ArgAbi, BoxRet};
use pgrx::datum::{FromDatum, IntoDatum};
use pgrx::pgrx_sql_entity_graph::metadata::{
    ArgumentError, ReturnsError, ReturnsRef, SqlMappingRef, SqlTranslatable, TypeOrigin,
};
use pgrx::prelude::*;
use text::{check_all, EmbeddingError};

#[derive(Debug, Clone, PartialEq)]
pub struct Embedding(pub Vec<f32>);

/// Raises an EmbeddingError as pgvector would: its message, DETAIL and SQLSTATE.
fn raise(err: EmbeddingError) -> ! {
    use PgSqlErrorCode::*;
    let code = match err {
        EmbeddingError::Syntax { .. } => ERRCODE_INVALID_TEXT_REPRESENTATION,
        EmbeddingError::OutOfRange(_) | EmbeddingError::Overflow | EmbeddingError::Underflow => {
            ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE
        }
        EmbeddingError::TooManyDims => ERRCODE_PROGRAM_LIMIT_EXCEEDED,
        EmbeddingError::Empty
        | EmbeddingError::NotFinite(_)
        | EmbeddingError::DimMismatch { .. }
        | EmbeddingError::DifferentDims(..) => ERRCODE_DATA_EXCEPTION,
    };
    match err.detail() {
        Some(detail) => crate::error::raise_error_with_detail(code, err.to_string(), detail),
        None => crate::error::raise_error(code, err.to_string()),
    }
}

/// The value, or the error raised as a Postgres ERROR.
fn or_raise<T>(result: Result<T, EmbeddingError>) -> T {
    result.unwrap_or_else(|e| raise(e))
}

impl Embedding {
    /// An embedding of these values, or an ERROR if they cannot be one of this typmod.
    pub fn checked(values: Vec<f32>, typmod: i32) -> Embedding {
        or_raise(check_all(&values, typmod));
        Embedding(values)
    }
}

fn same_dims(a: &[f32], b: &[f32]) {
    or_raise(text::check_same_dims(a, b));
}

unsafe impl SqlTranslatable for Embedding {
    const TYPE_IDENT: &'static str = pgrx::pgrx_sql_entity_graph::pgrx_resolved_type!(Embedding);
    const TYPE_ORIGIN: TypeOrigin = TypeOrigin::ThisExtension;
    const ARGUMENT_SQL: Result<SqlMappingRef, ArgumentError> = Ok(SqlMappingRef::literal("embedding"));
    const RETURN_SQL: Result<ReturnsRef, ReturnsError> = Ok(ReturnsRef::One(SqlMappingRef::literal("embedding")));
}

// The borrowed form is the same SQL type: functions taking it are declared with `embedding`.
unsafe impl SqlTranslatable for EmbeddingRef<'_> {
    const TYPE_IDENT: &'static str = <Embedding as SqlTranslatable>::TYPE_IDENT;
    const TYPE_ORIGIN: TypeOrigin = TypeOrigin::ThisExtension;
    const ARGUMENT_SQL: Result<SqlMappingRef, ArgumentError> = <Embedding as SqlTranslatable>::ARGUMENT_SQL;
    const RETURN_SQL: Result<ReturnsRef, ReturnsError> = <Embedding as SqlTranslatable>::RETURN_SQL;
}

impl FromDatum for Embedding {
    unsafe fn from_polymorphic_datum(datum: pg_sys::Datum, is_null: bool, _: pg_sys::Oid) -> Option<Self> {
        (!is_null).then(|| Embedding(EmbeddingRef::from_datum(datum).into_vec()))
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
