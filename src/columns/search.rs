//! Search by image: rank the rows of any table or SELECT by cosine similarity
//! to one or more query images, as the tutorial's SEARCH IMAGE does.
use crate::error::{invalid, OrRaise};
use crate::model::catalog::Model;
use crate::spi::rows::{check_order_limit, check_source_query, Batches};
use pgrx::prelude::*;
use pgrx::spi::{quote_identifier, quote_literal};
use pgrx::JsonB;

/// SQL for the search. Each query image is embedded once per statement: it sits
/// in an uncorrelated scalar subquery, which Postgres runs once as an InitPlan.
/// `$1` is the model name and `$2` the array of query images; the source query
/// and `order_limit` are the caller's own SQL and run with the caller's rights.
/// The model's embedding column is left out of the JSON (a few hundred numbers per
/// row that nobody reads); a query that wants it selects it under another name.
pub fn search_sql(model: &Model, source_query: &str, image_count: usize, order_limit: &str) -> String {
    let column = quote_identifier(model.embedding_column());
    let similarities: Vec<String> = (1..=image_count)
        .map(|i| {
            format!(
                "image_search.cosine_similarity(src.{column}, (SELECT image_search.embed_image($1, ($2::text[])[{i}]))) AS {}",
                quote_identifier(model.similarity_column(i))
            )
        })
        .collect();
    format!(
        "SELECT to_jsonb(result) - {} FROM (SELECT src.*, {} FROM ({source_query}) AS src) AS result {order_limit}",
        quote_literal(model.embedding_column()),
        similarities.join(", ")
    )
}

/// Runs a search and returns each result row as JSON (the source columns but the
/// model's embedding, plus `<model>_<algorithm>_similarity1..N`), in the order
/// `order_limit` gives.
pub fn run_search(
    model_name: &str,
    source_query: &str,
    images: &[String],
    order_limit: &str,
) -> Vec<serde_json::Value> {
    if images.is_empty() {
        invalid("give at least one query image");
    }
    check_source_query(source_query);
    check_order_limit(order_limit);
    // A misspelt model is named as such, not as a missing embedding column.
    let model = Model::get(model_name);
    let sql = search_sql(&model, source_query, images.len(), order_limit);
    Spi::connect(|client| {
        let mut batches = Batches::open(&client, &sql, &[model_name.into(), images.to_vec().into()], 1000);
        let mut out = Vec::new();
        while let Some(rows) = batches.next_batch().or_raise() {
            out.extend(rows.map(|row| row.get::<JsonB>(1).ok().flatten().map(|j| j.0).unwrap_or_default()));
        }
        out
    })
}

/// Rows of `source_query` with their cosine similarity to each query image
/// (server paths), as JSON; sort and cut with `order_limit`, e.g.
/// `ORDER BY my_model_simclr_similarity1 DESC LIMIT 4` (the default; see
/// model_list.embedding_column for a model's column name).
#[pg_extern(volatile, requires = ["models_catalog", "embedding_type"])]
fn search_image(
    model_name: &str,
    source_query: &str,
    images: Vec<String>,
    order_limit: default!(Option<&str>, "NULL"),
) -> SetOfIterator<'static, JsonB> {
    let order_limit = order_limit.map(str::to_string).unwrap_or_else(|| {
        format!("ORDER BY {} DESC LIMIT 4", quote_identifier(Model::get(model_name).similarity_column(1)))
    });
    SetOfIterator::new(run_search(model_name, source_query, &images, &order_limit).into_iter().map(JsonB))
}
