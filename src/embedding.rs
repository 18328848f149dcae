//! `image_search.embedding`: a float4 vector type laid out exactly like pgvector's
//! `vector` (varlena header, int16 dim, int16 unused, float4[dim]) and with the same
//! binary wire format, so data moves between the two without conversion.
use crate::distance;
use pgrx::callconv::{ArgAbi, BoxRet};
use pgrx::datum::{FromDatum, IntoDatum};
use pgrx::pgrx_sql_entity_graph::metadata::{
    ArgumentError, ReturnsError, ReturnsRef, SqlMappingRef, SqlTranslatable, TypeOrigin,
};
use pgrx::prelude::*;
use std::ffi::{CStr, CString};

pub const MAX_DIM: usize = 16000;
const HEADER_BYTES: usize = 8; // varlena length word + dim + unused

#[derive(Debug, Clone, PartialEq)]
pub struct Embedding(pub Vec<f32>);

// ---------------------------------------------------------------- plain Rust

/// Why a value cannot be an embedding; turned into a Postgres ERROR at the SQL edge.
#[derive(Debug, PartialEq)]
pub enum EmbeddingError {
    Syntax(String),
    Empty,
    TooManyDims(usize),
    NotFinite(f32),
    DimMismatch { expected: usize, got: usize },
}

impl std::fmt::Display for EmbeddingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Syntax(text) => write!(f, "invalid input syntax for type embedding: \"{text}\""),
            Self::Empty => write!(f, "embedding must have at least 1 dimension"),
            Self::TooManyDims(n) => write!(f, "embedding cannot have more than {MAX_DIM} dimensions, not {n}"),
            Self::NotFinite(x) if x.is_nan() => write!(f, "NaN not allowed in embedding"),
            Self::NotFinite(_) => write!(f, "infinite value not allowed in embedding"),
            Self::DimMismatch { expected, got } => write!(f, "expected {expected} dimensions, not {got}"),
        }
    }
}

pub fn check_values(values: &[f32]) -> Result<(), EmbeddingError> {
    if values.is_empty() {
        return Err(EmbeddingError::Empty);
    }
    if values.len() > MAX_DIM {
        return Err(EmbeddingError::TooManyDims(values.len()));
    }
    match values.iter().find(|x| !x.is_finite()) {
        Some(x) => Err(EmbeddingError::NotFinite(*x)),
        None => Ok(()),
    }
}

/// A typmod of -1 means "any dimension"; otherwise it is the dimension itself.
pub fn check_typmod(len: usize, typmod: i32) -> Result<(), EmbeddingError> {
    if typmod >= 0 && len != typmod as usize {
        return Err(EmbeddingError::DimMismatch { expected: typmod as usize, got: len });
    }
    Ok(())
}

/// Parses `[1, 2.5, -3e-2]`; whitespace is allowed around brackets and commas.
pub fn parse_text(text: &str) -> Result<Vec<f32>, EmbeddingError> {
    let syntax = || EmbeddingError::Syntax(text.to_string());
    let inner = text.trim().strip_prefix('[').and_then(|s| s.strip_suffix(']')).ok_or_else(syntax)?;
    if inner.trim().is_empty() {
        return Err(EmbeddingError::Empty);
    }
    let values = inner
        .split(',')
        .map(|item| item.trim().parse::<f32>().map_err(|_| syntax()))
        .collect::<Result<Vec<f32>, _>>()?;
    check_values(&values)?;
    Ok(values)
}

/// Shortest text that reads back to the same float4, like Postgres' float4out.
fn format_value(x: f32, out: &mut String) {
    use std::fmt::Write;
    let a = x.abs();
    if a != 0.0 && !(1e-4..1e15).contains(&a) {
        write!(out, "{x:e}").unwrap();
    } else {
        write!(out, "{x}").unwrap();
    }
}

pub fn format_text(values: &[f32]) -> String {
    let mut out = String::with_capacity(values.len() * 10 + 2);
    out.push('[');
    for (i, x) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        format_value(*x, &mut out);
    }
    out.push(']');
    out
}

/// pgvector's wire format: int16 dim, int16 unused (0), then float4 values, all network order.
pub fn to_wire(values: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + 4 * values.len());
    out.extend_from_slice(&(values.len() as i16).to_be_bytes());
    out.extend_from_slice(&0i16.to_be_bytes());
    for x in values {
        out.extend_from_slice(&x.to_be_bytes());
    }
    out
}

pub fn from_wire(bytes: &[u8]) -> Result<Vec<f32>, String> {
    if bytes.len() < 4 {
        return Err("embedding binary value is too short".into());
    }
    let dim = i16::from_be_bytes([bytes[0], bytes[1]]);
    let unused = i16::from_be_bytes([bytes[2], bytes[3]]);
    if unused != 0 {
        return Err("expected unused to be 0, not {unused}".replace("{unused}", &unused.to_string()));
    }
    if dim < 1 || dim as usize > MAX_DIM {
        return Err(format!("embedding dimension {dim} out of range 1..{MAX_DIM}"));
    }
    let body = &bytes[4..];
    if body.len() != 4 * dim as usize {
        return Err(format!("embedding binary value has {} bytes for {dim} dimensions", body.len()));
    }
    Ok(body.chunks_exact(4).map(|c| f32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect())
}

// ---------------------------------------------------------------- Postgres edge

fn raise(err: EmbeddingError) -> ! {
    let code = match err {
        EmbeddingError::Syntax(_) => PgSqlErrorCode::ERRCODE_INVALID_TEXT_REPRESENTATION,
        EmbeddingError::DimMismatch { .. } => PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
        EmbeddingError::NotFinite(_) => PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
        _ => PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
    };
    crate::raise_error(code, err.to_string())
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

extension_sql!(
    "CREATE TYPE embedding; -- shell, completed below once its I/O functions exist\n",
    name = "embedding_shell",
    bootstrap
);

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_shell"])]
fn embedding_in(input: &CStr, _oid: pg_sys::Oid, typmod: i32) -> Embedding {
    let text = input.to_str().unwrap_or_else(|_| raise(EmbeddingError::Syntax("<not utf-8>".into())));
    let values = parse_text(text).unwrap_or_else(|e| raise(e));
    Embedding::checked(values, typmod)
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_shell"])]
fn embedding_out(value: Embedding) -> CString {
    CString::new(format_text(&value.0)).unwrap()
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_shell"])]
fn embedding_typmod_in(list: pgrx::datum::Array<&CStr>) -> i32 {
    let mods: Vec<Option<&CStr>> = list.iter().collect();
    if mods.len() != 1 {
        ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            "invalid type modifier: embedding takes one dimension"
        );
    }
    let dim = mods[0].and_then(|m| m.to_str().ok()).and_then(|m| m.parse::<i64>().ok()).unwrap_or(-1);
    if dim < 1 {
        ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            "dimensions for type embedding must be at least 1"
        );
    }
    if dim as usize > MAX_DIM {
        ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("dimensions for type embedding cannot exceed {MAX_DIM}")
        );
    }
    dim as i32
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_shell"])]
fn embedding_typmod_out(typmod: i32) -> CString {
    CString::new(if typmod < 0 { String::new() } else { format!("({typmod})") }).unwrap()
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_shell"])]
fn embedding_recv(mut buf: pgrx::datum::Internal, _oid: pg_sys::Oid, typmod: i32) -> Embedding {
    // SAFETY: Postgres passes a StringInfo positioned at the value to a type's receive function.
    let values = unsafe {
        let si = buf.get_mut::<pg_sys::StringInfoData>().unwrap();
        let remaining = (si.len - si.cursor) as usize;
        let bytes = std::slice::from_raw_parts((si.data as *const u8).add(si.cursor as usize), remaining);
        let parsed = from_wire(bytes);
        si.cursor = si.len;
        parsed
    };
    let values =
        values.unwrap_or_else(|msg| crate::raise_error(PgSqlErrorCode::ERRCODE_INVALID_BINARY_REPRESENTATION, msg));
    Embedding::checked(values, typmod)
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_shell"])]
fn embedding_send(value: Embedding) -> Vec<u8> {
    to_wire(&value.0)
}

extension_sql!(
    r#"
CREATE TYPE embedding (
    INPUT = embedding_in,
    OUTPUT = embedding_out,
    TYPMOD_IN = embedding_typmod_in,
    TYPMOD_OUT = embedding_typmod_out,
    RECEIVE = embedding_recv,
    SEND = embedding_send,
    STORAGE = external
);
COMMENT ON TYPE embedding IS 'float4 vector, byte-compatible with pgvector''s vector';
"#,
    name = "embedding_type",
    creates = [Type(Embedding)],
    requires = [
        "embedding_shell",
        embedding_in,
        embedding_out,
        embedding_typmod_in,
        embedding_typmod_out,
        embedding_recv,
        embedding_send
    ]
);

// ---------------------------------------------------------------- casts

/// Length coercion: `x::embedding(3)` and assignment to an `embedding(3)` column.
#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn embedding(value: Embedding, typmod: i32, _explicit: bool) -> Embedding {
    Embedding::checked(value.0, typmod)
}

/// The elements of a one-dimensional, NULL-free float4 or float8 array. Like pgvector,
/// multi-dimensional arrays are rejected rather than silently flattened.
fn array_values<T: Copy>(items: pgrx::datum::Array<T>) -> Vec<T> {
    // SAFETY: `items` was unboxed from a non-null ArrayType datum, detoasted and kept
    // alive in the current memory context; T is f32 or f64 to match the SQL signatures,
    // types whose every bit pattern is valid, and NULLs are ruled out before reading.
    unsafe {
        let mut raw = pgrx::array::RawArray::from_array(items).expect("array datum is not null");
        if raw.dims().len() > 1 {
            crate::raise_error(PgSqlErrorCode::ERRCODE_DATA_EXCEPTION, "array must be 1-D");
        }
        if raw.any_nulls() {
            crate::raise_error(PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED, "array must not contain nulls");
        }
        raw.data::<T>().as_ref().to_vec()
    }
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn array_to_embedding(items: pgrx::datum::Array<f32>, typmod: i32, _explicit: bool) -> Embedding {
    Embedding::checked(array_values(items), typmod)
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn float8_array_to_embedding(items: pgrx::datum::Array<f64>, typmod: i32, _explicit: bool) -> Embedding {
    Embedding::checked(array_values(items).into_iter().map(|x| x as f32).collect(), typmod)
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn embedding_to_float4_array(value: Embedding) -> Vec<f32> {
    value.0
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn embedding_to_float8_array(value: Embedding) -> Vec<f64> {
    value.0.into_iter().map(f64::from).collect()
}

extension_sql!(
    r#"
CREATE CAST (embedding AS embedding) WITH FUNCTION embedding(embedding, integer, boolean) AS IMPLICIT;
CREATE CAST (real[] AS embedding) WITH FUNCTION array_to_embedding(real[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (double precision[] AS embedding) WITH FUNCTION float8_array_to_embedding(double precision[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (embedding AS real[]) WITH FUNCTION embedding_to_float4_array(embedding) AS ASSIGNMENT;
CREATE CAST (embedding AS double precision[]) WITH FUNCTION embedding_to_float8_array(embedding) AS ASSIGNMENT;
"#,
    name = "embedding_casts",
    requires = [
        "embedding_type",
        embedding,
        array_to_embedding,
        float8_array_to_embedding,
        embedding_to_float4_array,
        embedding_to_float8_array
    ]
);

// ---------------------------------------------------------------- functions and operators

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn cosine_distance(a: Embedding, b: Embedding) -> f64 {
    same_dims(&a, &b);
    distance::cosine_distance(&a.0, &b.0)
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn cosine_similarity(a: Embedding, b: Embedding) -> f64 {
    same_dims(&a, &b);
    distance::cosine_similarity(&a.0, &b.0)
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn l2_distance(a: Embedding, b: Embedding) -> f64 {
    same_dims(&a, &b);
    distance::l2_distance(&a.0, &b.0)
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn inner_product(a: Embedding, b: Embedding) -> f64 {
    same_dims(&a, &b);
    distance::inner_product(&a.0, &b.0) as f64
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn negative_inner_product(a: Embedding, b: Embedding) -> f64 {
    -inner_product(a, b)
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn embedding_eq(a: Embedding, b: Embedding) -> bool {
    a.0 == b.0
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn embedding_ne(a: Embedding, b: Embedding) -> bool {
    a.0 != b.0
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn l2_normalize(value: Embedding) -> Embedding {
    Embedding(distance::l2_normalize(&value.0))
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn vector_dims(value: Embedding) -> i32 {
    value.0.len() as i32
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn vector_norm(value: Embedding) -> f64 {
    distance::norm(&value.0)
}

extension_sql!(
    r#"
CREATE OPERATOR <=> (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = cosine_distance, COMMUTATOR = '<=>');
CREATE OPERATOR <-> (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = l2_distance, COMMUTATOR = '<->');
CREATE OPERATOR <#> (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = negative_inner_product, COMMUTATOR = '<#>');
CREATE OPERATOR = (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_eq,
    COMMUTATOR = '=', NEGATOR = '<>', RESTRICT = eqsel, JOIN = eqjoinsel);
CREATE OPERATOR <> (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_ne,
    COMMUTATOR = '<>', NEGATOR = '=', RESTRICT = neqsel, JOIN = neqjoinsel);
"#,
    name = "embedding_operators",
    requires = ["embedding_type", cosine_distance, l2_distance, negative_inner_product, embedding_eq, embedding_ne]
);

// ---------------------------------------------------------------- avg aggregate
// State is float8[]: element 0 counts rows, the rest are running sums (as in pgvector),
// so partial states from parallel workers combine by adding.

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn embedding_accum(state: Vec<f64>, value: Embedding) -> Vec<f64> {
    let mut state = state;
    if state.len() <= 1 {
        state.resize(1 + value.0.len(), 0.0);
    } else if state.len() != 1 + value.0.len() {
        ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
            format!("different embedding dimensions {} and {}", state.len() - 1, value.0.len())
        );
    }
    state[0] += 1.0;
    for (s, x) in state[1..].iter_mut().zip(&value.0) {
        *s += *x as f64;
    }
    state
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn embedding_combine(a: Vec<f64>, b: Vec<f64>) -> Vec<f64> {
    if a.len() <= 1 || a[0] == 0.0 {
        return b;
    }
    if b.len() <= 1 || b[0] == 0.0 {
        return a;
    }
    if a.len() != b.len() {
        ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
            format!("different embedding dimensions {} and {}", a.len() - 1, b.len() - 1)
        );
    }
    a.iter().zip(&b).map(|(x, y)| x + y).collect()
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn embedding_avg(state: Vec<f64>) -> Option<Embedding> {
    if state.len() <= 1 || state[0] == 0.0 {
        return None;
    }
    let n = state[0];
    Some(Embedding::checked(state[1..].iter().map(|s| (s / n) as f32).collect(), -1))
}

extension_sql!(
    r#"
CREATE AGGREGATE avg(embedding) (
    SFUNC = embedding_accum,
    STYPE = double precision[],
    FINALFUNC = embedding_avg,
    COMBINEFUNC = embedding_combine,
    INITCOND = '{0}',
    PARALLEL = SAFE
);
"#,
    name = "embedding_avg_aggregate",
    requires = ["embedding_type", embedding_accum, embedding_combine, embedding_avg]
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip_uses_short_forms() {
        let v = parse_text(" [1, 2.5 ,-3e-2] ").unwrap();
        assert_eq!(v, vec![1.0, 2.5, -0.03]);
        assert_eq!(format_text(&v), "[1,2.5,-0.03]");
        assert_eq!(format_text(&[1e-30, 3e20]), "[1e-30,3e20]");
        assert_eq!(parse_text(&format_text(&[0.1, 1.0 / 3.0])).unwrap(), vec![0.1, 1.0 / 3.0]);
    }

    #[test]
    fn bad_text_is_rejected_with_the_reason() {
        assert_eq!(parse_text("[]"), Err(EmbeddingError::Empty));
        assert!(matches!(parse_text("1,2"), Err(EmbeddingError::Syntax(_))));
        assert!(matches!(parse_text("[1,,2]"), Err(EmbeddingError::Syntax(_))));
        assert!(matches!(parse_text("[1,NaN]"), Err(EmbeddingError::NotFinite(_))));
        assert!(matches!(parse_text("[inf]"), Err(EmbeddingError::NotFinite(_))));
        assert_eq!(check_typmod(3, 128).unwrap_err().to_string(), "expected 128 dimensions, not 3");
    }

    #[test]
    fn wire_format_is_pgvectors() {
        let bytes = to_wire(&[1.0, -2.0]);
        assert_eq!(bytes, vec![0, 2, 0, 0, 0x3f, 0x80, 0, 0, 0xc0, 0, 0, 0]);
        assert_eq!(from_wire(&bytes).unwrap(), vec![1.0, -2.0]);
        assert!(from_wire(&bytes[..7]).is_err());
        assert!(from_wire(&[0, 1, 0, 1, 0, 0, 0, 0]).is_err());
    }
}
