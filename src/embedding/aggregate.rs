//! `avg(embedding)`.
use super::Embedding;
use pgrx::prelude::*;

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
