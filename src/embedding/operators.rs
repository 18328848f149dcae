//! Casts to and from arrays, the distance functions and the operators
//! `<=>` (cosine distance), `<->` (L2), `<#>` (negative inner product), `=` and `<>`.
use super::{same_dims, Embedding};
use crate::engine::distance;
use pgrx::prelude::*;

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
            crate::error::raise_error(PgSqlErrorCode::ERRCODE_DATA_EXCEPTION, "array must be 1-D");
        }
        if raw.any_nulls() {
            crate::error::raise_error(PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED, "array must not contain nulls");
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

// The same operators in pg_catalog, which is always on the search path, so that
// `ORDER BY col <=> q` works right after CREATE EXTENSION whatever the user's
// search_path (as pgvector's operators do from public). Operators are found by name
// and argument types, so these never meet pgvector's operators on `vector`; the
// image_search copies stay for queries that name them (OPERATOR(image_search.<=>)).
extension_sql!(
    r#"
CREATE OPERATOR pg_catalog.<=> (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = cosine_distance,
    COMMUTATOR = OPERATOR(pg_catalog.<=>));
CREATE OPERATOR pg_catalog.<-> (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = l2_distance,
    COMMUTATOR = OPERATOR(pg_catalog.<->));
CREATE OPERATOR pg_catalog.<#> (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = negative_inner_product,
    COMMUTATOR = OPERATOR(pg_catalog.<#>));
CREATE OPERATOR pg_catalog.= (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_eq,
    COMMUTATOR = OPERATOR(pg_catalog.=), NEGATOR = OPERATOR(pg_catalog.<>), RESTRICT = eqsel, JOIN = eqjoinsel,
    HASHES, MERGES);
CREATE OPERATOR pg_catalog.<> (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_ne,
    COMMUTATOR = OPERATOR(pg_catalog.<>), NEGATOR = OPERATOR(pg_catalog.=), RESTRICT = neqsel, JOIN = neqjoinsel);
"#,
    name = "embedding_operators_everywhere",
    requires = ["embedding_operators"]
);
