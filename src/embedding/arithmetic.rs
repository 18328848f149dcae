//! Element-wise `+`, `-` and `*`, concatenation `||`, `subvector` and `sum(embedding)`,
//! as pgvector has them for `vector`. The arithmetic is float4 arithmetic: a result too
//! large for float4 is an overflow ERROR (and a product rounding to zero an underflow
//! ERROR), as for Postgres' own `real` operators.
use super::text::{check_dims, check_same_dims, EmbeddingError};
use super::{or_raise, Embedding, EmbeddingRef};
use pgrx::prelude::*;

// ---------------------------------------------------------------- plain Rust

/// `op` applied to each pair of elements; the operands must have one dimension, and an
/// infinite result (from finite operands) is an overflow.
fn element_wise(a: &[f32], b: &[f32], op: impl Fn(f32, f32) -> f32) -> Result<Vec<f32>, EmbeddingError> {
    check_same_dims(a, b)?;
    let result: Vec<f32> = a.iter().zip(b).map(|(x, y)| op(*x, *y)).collect();
    if result.iter().any(|r| r.is_infinite()) {
        return Err(EmbeddingError::Overflow);
    }
    Ok(result)
}

pub fn add(a: &[f32], b: &[f32]) -> Result<Vec<f32>, EmbeddingError> {
    element_wise(a, b, |x, y| x + y)
}

pub fn sub(a: &[f32], b: &[f32]) -> Result<Vec<f32>, EmbeddingError> {
    element_wise(a, b, |x, y| x - y)
}

/// Element-wise (Hadamard) product. A product of two non-zero values that rounds to
/// zero is an underflow, as for `real * real`.
pub fn mul(a: &[f32], b: &[f32]) -> Result<Vec<f32>, EmbeddingError> {
    let result = element_wise(a, b, |x, y| x * y)?;
    let underflow = result.iter().zip(a.iter().zip(b)).any(|(r, (x, y))| *r == 0.0 && *x != 0.0 && *y != 0.0);
    if underflow {
        return Err(EmbeddingError::Underflow);
    }
    Ok(result)
}

/// `a` followed by `b`, within the 16000-dimension limit.
pub fn concat(a: &[f32], b: &[f32]) -> Result<Vec<f32>, EmbeddingError> {
    check_dims(a.len() + b.len())?;
    Ok([a, b].concat())
}

/// `count` elements from the 1-based position `start`, like `substring`: the part
/// before the first element and after the last is cut off, and an empty result is an
/// error (an embedding has at least one dimension).
pub fn subvector(values: &[f32], start: i32, count: i32) -> Result<Vec<f32>, EmbeddingError> {
    if count < 1 {
        return Err(EmbeddingError::Empty);
    }
    // In i64, start + count cannot overflow.
    let len = values.len() as i64;
    let end = (start as i64 + count as i64).min(len + 1); // exclusive, 1-based
    let first = (start as i64).max(1);
    if first > len || end <= first {
        return Err(EmbeddingError::Empty);
    }
    Ok(values[(first - 1) as usize..(end - 1) as usize].to_vec())
}

// ---------------------------------------------------------------- SQL functions

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn embedding_add(a: EmbeddingRef, b: EmbeddingRef) -> Embedding {
    Embedding(or_raise(add(&a, &b)))
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn embedding_sub(a: EmbeddingRef, b: EmbeddingRef) -> Embedding {
    Embedding(or_raise(sub(&a, &b)))
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn embedding_mul(a: EmbeddingRef, b: EmbeddingRef) -> Embedding {
    Embedding(or_raise(mul(&a, &b)))
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn embedding_concat(a: EmbeddingRef, b: EmbeddingRef) -> Embedding {
    Embedding(or_raise(concat(&a, &b)))
}

#[pg_extern(name = "subvector", immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn embedding_subvector(value: EmbeddingRef, start: i32, count: i32) -> Embedding {
    Embedding(or_raise(subvector(&value, start, count)))
}

// The operators live in image_search and in pg_catalog, like the distance operators
// (operators.rs): they work whatever the search_path and, being found by argument
// types, never meet pgvector's operators on `vector`.
extension_sql!(
    r#"
CREATE OPERATOR + (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_add, COMMUTATOR = +);
CREATE OPERATOR - (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_sub);
CREATE OPERATOR * (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_mul, COMMUTATOR = *);
CREATE OPERATOR || (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_concat);
CREATE OPERATOR pg_catalog.+ (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_add,
    COMMUTATOR = OPERATOR(pg_catalog.+));
CREATE OPERATOR pg_catalog.- (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_sub);
CREATE OPERATOR pg_catalog.* (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_mul,
    COMMUTATOR = OPERATOR(pg_catalog.*));
CREATE OPERATOR pg_catalog.|| (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_concat);
"#,
    name = "embedding_arithmetic_operators",
    requires = ["embedding_type", embedding_add, embedding_sub, embedding_mul, embedding_concat]
);

// sum(embedding): the running sum is an embedding itself (pgvector's design), so an
// overflow is reported as soon as a partial sum leaves float4's range.
extension_sql!(
    r#"
CREATE AGGREGATE sum(embedding) (
    SFUNC = embedding_add,
    STYPE = embedding,
    COMBINEFUNC = embedding_add,
    PARALLEL = SAFE
);
"#,
    name = "embedding_sum_aggregate",
    requires = ["embedding_type", embedding_add]
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_wise_arithmetic() {
        assert_eq!(add(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]), Ok(vec![5.0, 7.0, 9.0]));
        assert_eq!(sub(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]), Ok(vec![-3.0, -3.0, -3.0]));
        assert_eq!(mul(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]), Ok(vec![4.0, 10.0, 18.0]));
        assert_eq!(mul(&[0.0, 2.0], &[1e-40, 0.0]), Ok(vec![0.0, 0.0]));
    }

    #[test]
    fn arithmetic_errors_are_pgvectors() {
        assert_eq!(add(&[1.0, 2.0], &[3.0]), Err(EmbeddingError::DifferentDims(2, 1)));
        assert_eq!(EmbeddingError::DifferentDims(2, 1).to_string(), "different embedding dimensions 2 and 1");
        assert_eq!(add(&[3e38], &[3e38]), Err(EmbeddingError::Overflow));
        assert_eq!(sub(&[-3e38], &[3e38]), Err(EmbeddingError::Overflow));
        assert_eq!(mul(&[1e37], &[1e37]), Err(EmbeddingError::Overflow));
        assert_eq!(mul(&[1e-37], &[1e-37]), Err(EmbeddingError::Underflow));
        assert_eq!(EmbeddingError::Overflow.to_string(), "value out of range: overflow");
        assert_eq!(EmbeddingError::Underflow.to_string(), "value out of range: underflow");
    }

    #[test]
    fn concatenation_keeps_the_dimension_limit() {
        assert_eq!(concat(&[1.0, 2.0, 3.0], &[4.0, 5.0]), Ok(vec![1.0, 2.0, 3.0, 4.0, 5.0]));
        assert_eq!(concat(&vec![0.0; 16000], &[1.0]), Err(EmbeddingError::TooManyDims));
    }

    #[test]
    fn subvector_is_one_based_and_clipped() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(subvector(&v, 1, 3), Ok(vec![1.0, 2.0, 3.0]));
        assert_eq!(subvector(&v, 3, 2), Ok(vec![3.0, 4.0]));
        assert_eq!(subvector(&v, -1, 3), Ok(vec![1.0]));
        assert_eq!(subvector(&v, 3, 9), Ok(vec![3.0, 4.0, 5.0]));
        assert_eq!(subvector(&v, 3, i32::MAX), Ok(vec![3.0, 4.0, 5.0]));
        assert_eq!(subvector(&v, -2147483644, i32::MAX), Ok(vec![1.0, 2.0]));
        for (start, count) in [(1, 0), (3, -1), (-1, 2), (i32::MAX, 10), (6, 1), (i32::MIN, i32::MAX)] {
            assert_eq!(subvector(&v, start, count), Err(EmbeddingError::Empty), "{start} {count}");
        }
    }
}
