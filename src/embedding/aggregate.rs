//! `avg(embedding)`.
use super::text::{check_typmod, EmbeddingError};
use super::{or_raise, Embedding, EmbeddingRef};
use pgrx::prelude::*;

// ---------------------------------------------------------------- avg aggregate
// State is float8[]: element 0 counts rows, the rest are running sums (as in pgvector),
// so partial states from parallel workers combine by adding.

/// Adds one value to a state; the first value fixes the dimension.
pub fn accumulate(mut state: Vec<f64>, value: &[f32]) -> Result<Vec<f64>, EmbeddingError> {
    if state.len() <= 1 {
        state.resize(1 + value.len(), 0.0);
    } else {
        check_typmod(value.len(), (state.len() - 1) as i32)?;
    }
    state[0] += 1.0;
    for (s, x) in state[1..].iter_mut().zip(value) {
        *s += *x as f64;
    }
    if state.iter().any(|s| s.is_infinite()) {
        return Err(EmbeddingError::Overflow);
    }
    Ok(state)
}

/// Two partial states as one; a state that has seen no rows is the other one.
pub fn combine(a: Vec<f64>, b: Vec<f64>) -> Result<Vec<f64>, EmbeddingError> {
    if a.len() <= 1 || a[0] == 0.0 {
        return Ok(b);
    }
    if b.len() <= 1 || b[0] == 0.0 {
        return Ok(a);
    }
    check_typmod(b.len() - 1, (a.len() - 1) as i32)?;
    let sum: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
    if sum.iter().any(|s| s.is_infinite()) {
        return Err(EmbeddingError::Overflow);
    }
    Ok(sum)
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn embedding_accum(state: Vec<f64>, value: EmbeddingRef) -> Vec<f64> {
    or_raise(accumulate(state, &value))
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_type"])]
fn embedding_combine(a: Vec<f64>, b: Vec<f64>) -> Vec<f64> {
    or_raise(combine(a, b))
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
    fn states_count_and_sum() {
        let state = accumulate(vec![0.0], &[1.0, 2.0, 3.0]).unwrap();
        let state = accumulate(state, &[3.0, 5.0, 7.0]).unwrap();
        assert_eq!(state, vec![2.0, 4.0, 7.0, 10.0]);
        assert_eq!(combine(state.clone(), vec![0.0]).unwrap(), state);
        assert_eq!(combine(vec![0.0], state.clone()).unwrap(), state);
        assert_eq!(combine(vec![1.0, 2.0], vec![3.0, 4.0]).unwrap(), vec![4.0, 6.0]);
    }

    #[test]
    fn a_value_of_another_dimension_gets_pgvectors_message() {
        let state = accumulate(vec![0.0], &[1.0, 2.0]).unwrap();
        let err = accumulate(state, &[3.0]).unwrap_err();
        assert_eq!(err.to_string(), "expected 2 dimensions, not 1");
        assert_eq!(
            combine(vec![1.0, 1.0, 1.0], vec![1.0, 1.0]).unwrap_err().to_string(),
            "expected 2 dimensions, not 1"
        );
        assert_eq!(combine(vec![1.0, f64::MAX], vec![1.0, f64::MAX]), Err(EmbeddingError::Overflow));
    }
}
