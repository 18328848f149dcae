//! The distance functions and the operators `<=>` (cosine distance), `<->` (L2),
//! `<#>` (negative inner product), `<+>` (L1), `=` and `<>`; norms and normalisation.
//! Arguments are `EmbeddingRef`s: an exact scan reads each row's floats in the page.
use super::{same_dims, Embedding, EmbeddingRef};
use crate::engine::distance;
use pgrx::prelude::*;

// ---------------------------------------------------------------- functions and operators
//
// The six distance functions below are the fallback of the hand-written entry points in
// `fast_calls.rs`, which own the SQL functions' C symbols (`cosine_distance_wrapper`, ...):
// each is declared with explicit SQL naming that symbol, so the SQL objects are the same
// as when pgrx generated them, and pgrx's own wrapper (`*_guarded_wrapper`) is only
// called for values the fast path does not take (and gives the ERRORs).

#[pg_extern(
    immutable,
    strict,
    parallel_safe,
    requires = ["embedding_type"],
    sql = "CREATE FUNCTION \"cosine_distance\"(\"a\" embedding, \"b\" embedding) RETURNS double precision IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'cosine_distance_wrapper';"
)]
pub(super) fn cosine_distance_guarded(a: EmbeddingRef, b: EmbeddingRef) -> f64 {
    same_dims(&a, &b);
    distance::cosine_distance(&a, &b)
}

#[pg_extern(
    immutable,
    strict,
    parallel_safe,
    requires = ["embedding_type"],
    sql = "CREATE FUNCTION \"cosine_similarity\"(\"a\" embedding, \"b\" embedding) RETURNS double precision IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'cosine_similarity_wrapper';"
)]
pub(super) fn cosine_similarity_guarded(a: EmbeddingRef, b: EmbeddingRef) -> f64 {
    same_dims(&a, &b);
    distance::cosine_similarity(&a, &b)
}

#[pg_extern(
    immutable,
    strict,
    parallel_safe,
    requires = ["embedding_type"],
    sql = "CREATE FUNCTION \"l2_distance\"(\"a\" embedding, \"b\" embedding) RETURNS double precision IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'l2_distance_wrapper';"
)]
pub(super) fn l2_distance_guarded(a: EmbeddingRef, b: EmbeddingRef) -> f64 {
    same_dims(&a, &b);
    distance::l2_distance(&a, &b)
}

/// L1 (taxicab) distance: the sum of absolute differences.
#[pg_extern(
    immutable,
    strict,
    parallel_safe,
    requires = ["embedding_type"],
    sql = "CREATE FUNCTION \"l1_distance\"(\"a\" embedding, \"b\" embedding) RETURNS double precision IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'l1_distance_wrapper';"
)]
pub(super) fn l1_distance_guarded(a: EmbeddingRef, b: EmbeddingRef) -> f64 {
    same_dims(&a, &b);
    distance::l1_distance(&a, &b)
}

#[pg_extern(
    immutable,
    strict,
    parallel_safe,
    requires = ["embedding_type"],
    sql = "CREATE FUNCTION \"inner_product\"(\"a\" embedding, \"b\" embedding) RETURNS double precision IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'inner_product_wrapper';"
)]
pub(super) fn inner_product_guarded(a: EmbeddingRef, b: EmbeddingRef) -> f64 {
    same_dims(&a, &b);
    distance::inner_product(&a, &b) as f64
}

#[pg_extern(
    immutable,
    strict,
    parallel_safe,
    requires = ["embedding_type"],
    sql = "CREATE FUNCTION \"negative_inner_product\"(\"a\" embedding, \"b\" embedding) RETURNS double precision IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'negative_inner_product_wrapper';"
)]
pub(super) fn negative_inner_product_guarded(a: EmbeddingRef, b: EmbeddingRef) -> f64 {
    -inner_product_guarded(a, b)
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn embedding_eq(a: EmbeddingRef, b: EmbeddingRef) -> bool {
    *a == *b
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn embedding_ne(a: EmbeddingRef, b: EmbeddingRef) -> bool {
    *a != *b
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn l2_normalize(value: EmbeddingRef) -> Embedding {
    Embedding(distance::l2_normalize(&value))
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn vector_dims(value: EmbeddingRef) -> i32 {
    value.len() as i32
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn vector_norm(value: EmbeddingRef) -> f64 {
    distance::norm(&value)
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
    requires = [
        "embedding_type",
        cosine_distance_guarded,
        l2_distance_guarded,
        negative_inner_product_guarded,
        embedding_eq,
        embedding_ne
    ]
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

// L1 distance, as pgvector's <+>; in both schemas like the operators above.
extension_sql!(
    r#"
CREATE OPERATOR <+> (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = l1_distance, COMMUTATOR = '<+>');
CREATE OPERATOR pg_catalog.<+> (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = l1_distance,
    COMMUTATOR = OPERATOR(pg_catalog.<+>));
"#,
    name = "embedding_l1_operator",
    requires = ["embedding_operators_everywhere", l1_distance_guarded]
);
