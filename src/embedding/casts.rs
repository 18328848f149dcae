//! Casts between `embedding` and arrays: from integer[], numeric[], real[] and
//! double precision[] (assignment casts, as in pgvector), to real[] and double precision[],
//! and the length coercion that checks `embedding(n)`.
use super::{Embedding, EmbeddingRef};
use pgrx::datum::{AnyNumeric, Array};
use pgrx::prelude::*;

/// Length coercion: `x::embedding(3)` and assignment to an `embedding(3)` column.
#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn embedding(value: Embedding, typmod: i32, _explicit: bool) -> Embedding {
    Embedding::checked(value.0, typmod)
}

/// The elements of a one-dimensional, NULL-free array, as Datums of its element type.
/// Like pgvector, multi-dimensional arrays are rejected rather than silently flattened,
/// and these two checks come before any check of the number or the values of elements.
fn array_datums<T>(items: Array<T>) -> (Vec<pg_sys::Datum>, pg_sys::Oid) {
    // SAFETY: `items` was unboxed from a non-null, detoasted ArrayType datum that stays
    // alive in the current memory context. deconstruct_array is given the element
    // type's own length, by-value flag and alignment, and a NULL nulls pointer only
    // after NULLs have been ruled out; it returns `count` Datums in a palloc'd array.
    unsafe {
        let array = items.into_array_type() as *mut pg_sys::ArrayType;
        let raw = pgrx::array::RawArray::from_ptr(std::ptr::NonNull::new(array).expect("array datum is not null"));
        if raw.dims().len() > 1 {
            crate::error::raise_error(PgSqlErrorCode::ERRCODE_DATA_EXCEPTION, "array must be 1-D");
        }
        if raw.any_nulls() {
            crate::error::raise_error(PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED, "array must not contain nulls");
        }
        let element_type = raw.oid();
        let (mut len, mut by_value, mut align) = (0i16, false, 0 as std::ffi::c_char);
        pg_sys::get_typlenbyvalalign(element_type, &mut len, &mut by_value, &mut align);
        let mut datums: *mut pg_sys::Datum = std::ptr::null_mut();
        let mut count = 0;
        pg_sys::deconstruct_array(
            array,
            element_type,
            len as i32,
            by_value,
            align,
            &mut datums,
            std::ptr::null_mut(),
            &mut count,
        );
        let values = if count == 0 { Vec::new() } else { std::slice::from_raw_parts(datums, count as usize).to_vec() };
        (values, element_type)
    }
}

/// The array's elements read as T (a by-value type matching the SQL signature).
fn array_values<T: FromDatum>(items: Array<T>) -> Vec<T> {
    let (datums, element_type) = array_datums(items);
    // SAFETY: the datums are non-null elements of an array whose element type is T's.
    datums.into_iter().map(|d| unsafe { T::from_polymorphic_datum(d, false, element_type) }.unwrap()).collect()
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn array_to_embedding(items: Array<f32>, typmod: i32, _explicit: bool) -> Embedding {
    Embedding::checked(array_values(items), typmod)
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn float8_array_to_embedding(items: Array<f64>, typmod: i32, _explicit: bool) -> Embedding {
    Embedding::checked(array_values(items).into_iter().map(|x| x as f32).collect(), typmod)
}

/// `array_to_embedding(double precision[], ...)`: the cast's function under pgvector's
/// naming (array_to_vector), so that all four array types have one function name.
#[pg_extern(name = "array_to_embedding", immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn double_array_to_embedding(items: Array<f64>, typmod: i32, explicit: bool) -> Embedding {
    float8_array_to_embedding(items, typmod, explicit)
}

#[pg_extern(name = "array_to_embedding", immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn int_array_to_embedding(items: Array<i32>, typmod: i32, _explicit: bool) -> Embedding {
    Embedding::checked(array_values(items).into_iter().map(|x| x as f32).collect(), typmod)
}

#[pg_extern(name = "array_to_embedding", immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn numeric_array_to_embedding(items: Array<AnyNumeric>, typmod: i32, _explicit: bool) -> Embedding {
    let (datums, _) = array_datums(items);
    // Postgres' own numeric -> real conversion: correctly rounded, and its own error for
    // a number beyond float4's range.
    // SAFETY: each datum is a non-null numeric element of the array.
    let values = datums
        .into_iter()
        .map(|d| unsafe { pgrx::direct_function_call::<f32>(pg_sys::numeric_float4, &[Some(d)]) }.unwrap())
        .collect();
    Embedding::checked(values, typmod)
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn embedding_to_float4_array(value: EmbeddingRef) -> Vec<f32> {
    value.to_vec()
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn embedding_to_float8_array(value: EmbeddingRef) -> Vec<f64> {
    value.iter().map(|&x| f64::from(x)).collect()
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

extension_sql!(
    r#"
CREATE CAST (integer[] AS embedding) WITH FUNCTION array_to_embedding(integer[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (numeric[] AS embedding) WITH FUNCTION array_to_embedding(numeric[], integer, boolean) AS ASSIGNMENT;
"#,
    name = "embedding_casts_from_integer_and_numeric",
    requires = ["embedding_casts", int_array_to_embedding, numeric_array_to_embedding, double_array_to_embedding]
);
