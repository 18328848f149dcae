//! `image_search.run('<tutorial statement>')`: the tutorial's own statements
//! (COPY ... OPTIONS, BUILD MODEL, CONVERT USING, SEARCH IMAGE, PRINT IMAGE),
//! parsed by `engine::tutorial` and translated into calls of the SQL API with
//! every value passed as a bound parameter or a quoted identifier.
use crate::columns::search::run_search;
use crate::engine::image::access::ImageRef;
use crate::engine::image::grid::{terminal_grid, Tile};
use crate::engine::image::Picture;
use crate::engine::tutorial::{parse, OptionValue, Statement};
use crate::error::{bad_data, invalid, Error, OrRaise};
use crate::model::catalog::Model;
use crate::spi::rows::image_reader;
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::spi::quote_identifier;
use rayon::prelude::*;

/// The allowed options of a statement with the SQL type each is passed as.
const BUILD_OPTIONS: &[(&str, &str)] = &[
    ("image_col", "text"),
    ("max_epochs", "integer"),
    ("batch_size", "integer"),
    ("learning_rate", "double precision"),
    ("temperature", "double precision"),
    ("weight_decay", "double precision"),
    ("image_size", "integer"),
    ("channels", "integer"),
    ("seed", "bigint"),
    ("flip", "boolean"),
    ("color_jitter", "boolean"),
    ("overwrite", "boolean"),
];
const CONVERT_OPTIONS: &[(&str, &str)] =
    &[("table_name", "text"), ("image_col", "text"), ("replace", "boolean"), ("skip_bad_rows", "boolean")];
const COPY_OPTIONS: &[(&str, &str)] = &[("overwrite", "boolean")];

fn option_text(v: &OptionValue) -> String {
    match v {
        OptionValue::Int(i) => i.to_string(),
        OptionValue::Float(f) => f.to_string(),
        OptionValue::Bool(b) => b.to_string(),
        OptionValue::Text(t) => t.clone(),
    }
}

/// Named arguments `name => $n::type` for the given options, checked against `allowed`.
fn named_args(
    statement: &str,
    options: &[(String, OptionValue)],
    allowed: &[(&str, &str)],
    first_param: usize,
) -> (Vec<String>, Vec<String>) {
    let mut args = Vec::new();
    let mut values = Vec::new();
    for (name, value) in options {
        let Some((_, sql_type)) = allowed.iter().find(|(n, _)| n == name) else {
            let valid: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
            invalid(format!("unknown option \"{name}\" for {statement}; valid options are: {}", valid.join(", ")))
        };
        args.push(format!("{name} => ${}::{sql_type}", first_param + values.len()));
        values.push(option_text(value));
    }
    (args, values)
}

fn take_option(options: &mut Vec<(String, OptionValue)>, name: &str) -> Option<OptionValue> {
    let i = options.iter().position(|(n, _)| n == name)?;
    Some(options.remove(i).1)
}

/// Runs `SELECT <call>` with text parameters and returns each row as text.
fn call(sql: &str, params: Vec<String>) -> Vec<String> {
    let args: Vec<DatumWithOid> = params.into_iter().map(|p| p.into()).collect();
    Spi::connect_mut(|client| {
        let rows = client.update(sql, None, &args).or_raise();
        rows.map(|r| r.get::<String>(1).ok().flatten().unwrap_or_default()).collect()
    })
}

/// A caption like `923.jpg label=8 sim1=1.000` from a search result row.
/// `embedding` is the model's embedding column (the prefix of the similarity columns).
fn caption(row: &serde_json::Value, embedding: &str, image_col: &str) -> String {
    let mut parts = Vec::new();
    if let Some(path) = row.get(image_col).and_then(|v| v.as_str()) {
        parts.push(path.rsplit('/').next().unwrap_or(path).to_string());
    }
    if let Some(fields) = row.as_object() {
        for (key, value) in fields {
            if key == image_col || key == embedding || key == "filename" {
                continue;
            }
            let short = key.strip_prefix(&format!("{embedding}_similarity")).map(|n| format!("sim{n}"));
            let name = short.clone().unwrap_or_else(|| key.clone());
            match value {
                serde_json::Value::Number(n) if short.is_some() => {
                    parts.push(format!("{name}={:.3}", n.as_f64().unwrap_or(0.0)))
                }
                serde_json::Value::Number(n) => parts.push(format!("{name}={n}")),
                serde_json::Value::String(s) if s.len() <= 24 => parts.push(format!("{name}={s}")),
                _ => {}
            }
        }
    }
    parts.join(" ")
}

fn looks_like_image_file(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    [".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"].iter().any(|ext| lower.ends_with(ext))
}

fn print_search(model: &str, source_query: &str, images: &[String], order_limit: &str) -> Vec<String> {
    let rows = run_search(model, source_query, images, order_limit);
    let model = Model::get(model);
    let embedding = model.embedding_column();
    // A trained model knows the image column it was trained on; an imported one
    // does not, so the text column holding the longest image path is shown.
    let image_col = match rows.first().and_then(|r| r.as_object()) {
        Some(row) if !row.contains_key(&model.image_col) => row
            .iter()
            .filter_map(|(k, v)| Some((k, v.as_str().filter(|v| looks_like_image_file(v))?)))
            .max_by_key(|(_, path)| path.matches('/').count())
            .map(|(k, _)| k.clone())
            .unwrap_or(model.image_col.clone()),
        _ => model.image_col.clone(),
    };
    let reader = image_reader();
    let tiles: Vec<Tile> = rows
        .par_iter()
        .filter_map(|row| {
            let path = row.get(&image_col)?.as_str()?.to_string();
            Some(
                reader
                    .load(&ImageRef::Path(path))
                    .map(|picture: Picture| Tile { picture, caption: caption(row, &embedding, &image_col) }),
            )
        })
        .collect::<Result<_, String>>()
        .unwrap_or_else(|e| bad_data(e));
    terminal_grid(&tiles, 28, 4, false).lines().map(str::to_string).collect()
}

fn execute(statement: Statement) -> Vec<String> {
    match statement {
        Statement::Copy { table, path, options } => {
            let (args, mut values) = named_args("COPY", &options, COPY_OPTIONS, 3);
            let name = match table.schema {
                Some(schema) => format!("{}.{}", quote_identifier(schema), quote_identifier(&table.name)),
                None => quote_identifier(&table.name),
            };
            values.insert(0, name);
            values.insert(1, path);
            let mut sql = "SELECT 'COPY ' || image_search.load_csv($1, $2".to_string();
            for a in args {
                sql += &format!(", {a}");
            }
            call(&(sql + ")"), values)
        }
        Statement::BuildModel { model, algorithm, options, source_query } => {
            if algorithm != "simclr" {
                invalid(format!("unknown algorithm \"{algorithm}\"; available: SimCLR"));
            }
            let (args, mut values) = named_args("BUILD MODEL", &options, BUILD_OPTIONS, 3);
            values.insert(0, model);
            values.insert(1, source_query);
            let sql = format!(
                "SELECT format('model %s: %s epochs, final loss %s, %s s, %s rows', model_name, epochs, round(final_loss::numeric, 4), round(seconds::numeric, 2), rows_used)
                 FROM image_search.build_model($1, $2{})",
                args.iter().map(|a| format!(", {a}")).collect::<String>()
            );
            call(&sql, values)
        }
        Statement::Convert { model, mut options, source_query: _ } => {
            let table = match take_option(&mut options, "table_name") {
                Some(OptionValue::Text(t)) => t,
                _ => invalid("CONVERT needs OPTIONS (table_name='<table>')"),
            };
            let (args, mut values) = named_args("CONVERT", &options, CONVERT_OPTIONS, 3);
            values.insert(0, model);
            values.insert(1, table);
            let sql = format!(
                "SELECT 'CONVERT ' || image_search.convert($1, $2{})",
                args.iter().map(|a| format!(", {a}")).collect::<String>()
            );
            call(&sql, values)
        }
        Statement::SearchImage { images, model, source_query, order_limit } => {
            // Without its own ORDER BY, a search lists the best matches first.
            let order_limit = if order_limit.trim().is_empty() {
                format!("ORDER BY {} DESC", quote_identifier(Model::get(&model).similarity_column(1)))
            } else {
                order_limit
            };
            run_search(&model, &source_query, &images, &order_limit).iter().map(|r| r.to_string()).collect()
        }
        Statement::PrintImage { inner } => match *inner {
            Statement::SearchImage { images, model, source_query, order_limit } => {
                print_search(&model, &source_query, &images, &order_limit)
            }
            _ => invalid("PRINT IMAGE takes a SEARCH IMAGE statement: PRINT IMAGE AS (SEARCH IMAGE ...)"),
        },
        Statement::Query(_) => invalid("PRINT IMAGE takes a SEARCH IMAGE statement: PRINT IMAGE AS (SEARCH IMAGE ...)"),
    }
}

/// Runs one statement of the tutorial, as written, and returns its output as lines.
#[pg_extern(volatile)]
fn run(statement: &str) -> SetOfIterator<'static, String> {
    let parsed =
        parse(statement).unwrap_or_else(|e| Error::Other(PgSqlErrorCode::ERRCODE_SYNTAX_ERROR, e.to_string()).raise());
    SetOfIterator::new(execute(parsed))
}
