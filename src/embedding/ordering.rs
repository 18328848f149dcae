//! btree and hash operator classes for `embedding`, so DISTINCT, GROUP BY, UNION,
//! merge and hash joins and plain indexes work. The order is pgvector's: element by
//! element, then the shorter vector first. Equal values (0 and -0 included) hash alike.
use super::EmbeddingRef;
use pgrx::prelude::*;
use std::cmp::Ordering;

/// Element-wise order, then by length. Embeddings hold no NaN, so floats compare totally.
pub fn compare(a: &[f32], b: &[f32]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        match x.partial_cmp(y).unwrap_or(Ordering::Equal) {
            Ordering::Equal => {}
            unequal => return unequal,
        }
    }
    a.len().cmp(&b.len())
}

/// FNV-1a over the values' bits, with -0 read as 0 so that equal embeddings hash alike.
pub fn hash(values: &[f32]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &v in values {
        let bits = if v == 0.0 { 0u32 } else { v.to_bits() };
        for byte in bits.to_le_bytes() {
            h = (h ^ byte as u32).wrapping_mul(0x0100_0193);
        }
    }
    h
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn embedding_cmp(a: EmbeddingRef, b: EmbeddingRef) -> i32 {
    compare(&a, &b) as i32
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn embedding_lt(a: EmbeddingRef, b: EmbeddingRef) -> bool {
    compare(&a, &b) == Ordering::Less
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn embedding_le(a: EmbeddingRef, b: EmbeddingRef) -> bool {
    compare(&a, &b) != Ordering::Greater
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn embedding_gt(a: EmbeddingRef, b: EmbeddingRef) -> bool {
    compare(&a, &b) == Ordering::Greater
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn embedding_ge(a: EmbeddingRef, b: EmbeddingRef) -> bool {
    compare(&a, &b) != Ordering::Less
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn embedding_hash(value: EmbeddingRef) -> i32 {
    hash(&value) as i32
}

// The comparison operators live in image_search and pg_catalog like the others
// (operators.rs); the operator classes use the pg_catalog ones, which are the ones
// a query's `=` or `<` finds first, so indexes serve them.
extension_sql!(
    r#"
CREATE OPERATOR < (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_lt,
    COMMUTATOR = >, NEGATOR = >=, RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR <= (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_le,
    COMMUTATOR = >=, NEGATOR = >, RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR > (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_gt,
    COMMUTATOR = <, NEGATOR = <=, RESTRICT = scalargtsel, JOIN = scalargtjoinsel);
CREATE OPERATOR >= (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_ge,
    COMMUTATOR = <=, NEGATOR = <, RESTRICT = scalargesel, JOIN = scalargejoinsel);
CREATE OPERATOR pg_catalog.< (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_lt,
    COMMUTATOR = OPERATOR(pg_catalog.>), NEGATOR = OPERATOR(pg_catalog.>=), RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR pg_catalog.<= (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_le,
    COMMUTATOR = OPERATOR(pg_catalog.>=), NEGATOR = OPERATOR(pg_catalog.>), RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR pg_catalog.> (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_gt,
    COMMUTATOR = OPERATOR(pg_catalog.<), NEGATOR = OPERATOR(pg_catalog.<=), RESTRICT = scalargtsel, JOIN = scalargtjoinsel);
CREATE OPERATOR pg_catalog.>= (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_ge,
    COMMUTATOR = OPERATOR(pg_catalog.<=), NEGATOR = OPERATOR(pg_catalog.<), RESTRICT = scalargesel, JOIN = scalargejoinsel);
CREATE OPERATOR CLASS embedding_btree_ops DEFAULT FOR TYPE embedding USING btree AS
    OPERATOR 1 pg_catalog.<, OPERATOR 2 pg_catalog.<=, OPERATOR 3 pg_catalog.=,
    OPERATOR 4 pg_catalog.>=, OPERATOR 5 pg_catalog.>, FUNCTION 1 embedding_cmp(embedding, embedding);
CREATE OPERATOR CLASS embedding_hash_ops DEFAULT FOR TYPE embedding USING hash AS
    OPERATOR 1 pg_catalog.=, FUNCTION 1 embedding_hash(embedding);
"#,
    name = "embedding_ordering",
    requires = [
        "embedding_operators_everywhere",
        embedding_cmp,
        embedding_lt,
        embedding_le,
        embedding_gt,
        embedding_ge,
        embedding_hash
    ]
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_element_wise_then_by_length() {
        assert_eq!(compare(&[1.0, 2.0], &[1.0, 3.0]), Ordering::Less);
        assert_eq!(compare(&[2.0], &[1.0, 9.0]), Ordering::Greater);
        assert_eq!(compare(&[1.0, 2.0], &[1.0, 2.0, 0.0]), Ordering::Less);
        assert_eq!(compare(&[-0.0], &[0.0]), Ordering::Equal);
    }

    #[test]
    fn equal_embeddings_hash_alike() {
        assert_eq!(hash(&[0.0, 1.5]), hash(&[-0.0, 1.5]));
        assert_ne!(hash(&[1.0, 2.0]), hash(&[2.0, 1.0]));
    }
}
