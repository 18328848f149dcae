//! `convert`: store every row's embedding in a new column of the table (named
//! by the models catalog: `<model>_<algorithm>`), or recompute it in place.
use crate::columns::row_identity::RowIdentity;
use crate::engine::image::access::ImageRef;
use crate::engine::image::Picture;
use crate::error::{bad_data, runtime, Error, OrRaise};
use crate::model::catalog::Model;
use crate::model::encoder::{self, with_model};
use crate::spi::rows::{image_expression, image_reader, image_type, image_value, select_one, Batches};
use pgrx::prelude::*;
use pgrx::spi::{quote_identifier, SpiClient};
use rayon::prelude::*;

/// The table as Postgres names it (schema-qualified and quoted when needed),
/// resolved with the caller's search_path, as `table_name::regclass` would.
pub(super) fn resolve_table(client: &SpiClient<'_>, table_name: &str) -> String {
    select_one(client, "SELECT $1::regclass::text", &[table_name.into()]).expect("regclass text is never null")
}

pub(super) fn column_exists(client: &SpiClient<'_>, table: &str, column: &str) -> bool {
    select_one(
        client,
        "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2 AND NOT attisdropped)",
        &[table.into(), column.into()],
    )
    .unwrap_or(false)
}

/// A row read for embedding: its identity's values (see `RowIdentity`) and its image.
struct Pending {
    key: Vec<String>,
    image: Option<ImageRef>,
}

/// What one pass of `embed_rows` did.
pub struct Written {
    pub embedded: i64,
    pub skipped: i64,
    pub without_image: i64,
}

/// Embeds the image of every row `rows_query` returns (its columns: the row's
/// identity as text, `identity.select_list`, then the image as text or bytea) and
/// writes each embedding to that row of `table`, `encoder::BATCH` rows at a time. Writes go through `table`, so
/// the caller's privileges and row-level security apply. A row whose image cannot
/// be read is an ERROR naming it, or a WARNING and no embedding with `skip_bad_rows`.
/// With `clear_missing`, rows left without an embedding (NULL or skipped image) get
/// NULL written, for columns that may hold an older image's embedding.
pub fn embed_rows(
    client: &mut SpiClient<'_>,
    model: &Model,
    table: &str,
    identity: &RowIdentity,
    rows_query: &str,
    args: &[pgrx::datum::DatumWithOid<'_>],
    skip_bad_rows: bool,
    clear_missing: bool,
) -> Written {
    let (column, dim) = (model.embedding_column(), model.embedding_dim);
    let reader = image_reader();
    // The encoder sees the picture at this size: no need to decode large photos in full.
    let input_side = model.needed_side();
    let width = identity.width();
    let (unnest, matches) = identity.unnest_and_match(true);
    let write = format!(
        "UPDATE {table} AS t SET {col} = ((${values}::real[])[(v.i - 1) * {dim} + 1 : v.i * {dim}])::image_search.embedding
         FROM {unnest} WHERE {matches}",
        col = quote_identifier(&column),
        values = width + 1
    );
    let (clear_unnest, clear_matches) = identity.unnest_and_match(false);
    let clear = format!(
        "UPDATE {table} AS t SET {col} = NULL FROM {clear_unnest} WHERE {clear_matches} AND t.{col} IS NOT NULL",
        col = quote_identifier(&column)
    );
    // One text array per identity column, in batch order.
    let columns_of = |rows: &[&Pending]| -> Vec<Vec<String>> {
        (0..width).map(|c| rows.iter().map(|p| p.key[c].clone()).collect()).collect()
    };
    let mut written = Written { embedded: 0, skipped: 0, without_image: 0 };
    let mut batches = Batches::open(client, rows_query, args, encoder::BATCH);
    while let Some(rows) = batches.next_batch().or_raise() {
        let image_type = image_type(&rows, width + 1);
        let pending: Vec<Pending> = rows
            .map(|row| Pending {
                key: (1..=width).map(|c| row.get::<String>(c).ok().flatten().unwrap_or_default()).collect(),
                image: image_value(&row, width + 1, image_type),
            })
            .collect();
        let decoded: Vec<Option<Result<Picture, String>>> =
            pending.par_iter().map(|p| p.image.as_ref().map(|i| reader.load_at_least(i, input_side))).collect();
        let (mut embedded, mut pictures): (Vec<&Pending>, Vec<Picture>) = (Vec::new(), Vec::new());
        let mut missing: Vec<&Pending> = Vec::new();
        for (p, d) in pending.iter().zip(decoded) {
            match d {
                None => {
                    written.without_image += 1;
                    missing.push(p);
                }
                Some(Ok(picture)) => {
                    embedded.push(p);
                    pictures.push(picture);
                }
                Some(Err(e)) if skip_bad_rows => {
                    warning!("skipping row {}: {e}", identity.describe(client, &p.key));
                    written.skipped += 1;
                    missing.push(p);
                }
                Some(Err(e)) => bad_data(format!("row {}: {e}", identity.describe(client, &p.key))),
            }
        }
        if clear_missing && !missing.is_empty() {
            let args: Vec<_> = columns_of(&missing).into_iter().map(Into::into).collect();
            client.update(&clear, None, &args).or_raise();
        }
        if pictures.is_empty() {
            continue;
        }
        let refs: Vec<&Picture> = pictures.iter().collect();
        let vectors = with_model(&model.name, |m| m.embed(&refs)).unwrap_or_else(|e| runtime(e));
        let flat: Vec<f32> = vectors.concat();
        let mut args: Vec<_> = columns_of(&embedded).into_iter().map(Into::into).collect();
        args.push(flat.into());
        client.update(&write, None, &args).or_raise();
        written.embedded += refs.len() as i64;
    }
    written
}

/// Stores every row's embedding in the model's column of `table_name`, adding the
/// column on first use; returns the number of rows embedded.
#[pg_extern(volatile, parallel_unsafe, requires = ["models_catalog", "embedding_type"])]
pub fn convert(
    model_name: &str,
    table_name: &str,
    image_col: default!(&str, "'image_path'"),
    replace: default!(bool, false),
    skip_bad_rows: default!(bool, false),
) -> i64 {
    // Fails on an unknown model before touching the table.
    let model = Model::get(model_name);
    let (column, dim) = (model.embedding_column(), model.embedding_dim);
    Spi::connect_mut(|client| {
        let table = resolve_table(client, table_name);
        let identity = RowIdentity::of(client, &table, "convert");
        let image = image_expression(client, &format!("SELECT * FROM {table}"), image_col);
        if column_exists(client, &table, &column) {
            if !replace {
                Error::Other(
                    PgSqlErrorCode::ERRCODE_DUPLICATE_COLUMN,
                    format!("column \"{column}\" of {table} already exists; pass replace => true to recompute it"),
                )
                .raise();
            }
            // Recompute in place: only row locks, so searches keep reading the old values until commit.
            client.update(&format!("UPDATE {table} SET {} = NULL", quote_identifier(&column)), None, &[]).or_raise();
        } else {
            let add =
                format!("ALTER TABLE {table} ADD COLUMN {} image_search.embedding({dim})", quote_identifier(&column));
            client.update(&add, None, &[]).or_raise();
        }
        let rows = format!(
            "SELECT {}, {image} FROM {table} AS image_search_source",
            identity.select_list("image_search_source")
        );
        let written = embed_rows(client, &model, &table, &identity, &rows, &[], skip_bad_rows, false);
        let (done, skipped, without_image) = (written.embedded, written.skipped, written.without_image);
        if skipped > 0 {
            notice!("{skipped} row(s) of {table} skipped because their images could not be read");
        }
        if without_image > 0 {
            notice!("{without_image} row(s) of {table} have no image (NULL) and no embedding");
        }
        done
    })
}
