//! `convert`: store every row's embedding in a new column of the table (named
//! by the models catalog: `<model>_simclr`), or recompute it in place.
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

/// A row of the table being converted. A `ctid` is unique only within one physical
/// table, so a row of a partitioned or inherited table is named by the table it
/// lives in (`tableoid`) and its `ctid` there. Both stay valid until convert
/// writes the row: the first convert holds the table's exclusive lock from its
/// ALTER TABLE, and `replace` locks every row before reading, so no concurrent
/// writer can move one; and the snapshot that read them keeps VACUUM from reusing
/// a `ctid` inside the transaction.
struct Pending {
    table_oid: pg_sys::Oid,
    ctid: String,
    image: Option<ImageRef>,
}

/// Refuses tables where no safe row identity exists, before anything is changed:
/// views and foreign tables (no `ctid` of their own), trees with such members,
/// and Citus distributed tables (each shard has its own `ctid`s).
pub(super) fn check_row_identity(client: &SpiClient<'_>, table: &str, function: &str) {
    let kind: String =
        select_one(client, "SELECT relkind::text FROM pg_class WHERE oid = $1::regclass", &[table.into()])
            .unwrap_or_default();
    if kind != "r" && kind != "p" {
        Error::WrongObjectType(format!(
            "{function} needs a table, and {table} is not one (views, materialized views and foreign tables cannot be converted)"
        ))
        .raise();
    }
    let member: Option<String> = select_one(
        client,
        "WITH RECURSIVE tree(oid) AS (
             SELECT $1::regclass::oid
             UNION SELECT i.inhrelid FROM pg_inherits i JOIN tree ON i.inhparent = tree.oid)
         SELECT c.oid::regclass::text FROM tree JOIN pg_class c USING (oid)
         WHERE c.relkind NOT IN ('r', 'p') ORDER BY 1 LIMIT 1",
        &[table.into()],
    );
    if let Some(member) = member {
        Error::WrongObjectType(format!(
            "{function} cannot write to {member}, a partition or child of {table} that is not a plain table"
        ))
        .raise();
    }
    // pg_dist_partition can only be named where Citus is installed.
    let citus = select_one(client, "SELECT to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL", &[]) == Some(true);
    let distributed = citus
        && select_one(
            client,
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1::regclass)",
            &[table.into()],
        ) == Some(true);
    if distributed {
        Error::NotSupported(format!(
            "{function} does not support Citus distributed tables yet ({table}); its rows have no identity that is unique across shards"
        ))
        .raise();
    }
}

/// How an error names a row: its ctid and the physical table it lives in
/// (a partition or child table when `table` has them).
fn row_name(client: &SpiClient<'_>, row: &Pending) -> String {
    let table: String = select_one(client, "SELECT $1::regclass::text", &[row.table_oid.into()]).unwrap_or_default();
    format!("{} of {table}", row.ctid)
}

/// What one pass of `embed_rows` did.
pub struct Written {
    pub embedded: i64,
    pub skipped: i64,
    pub without_image: i64,
}

/// Embeds the image of every row `rows_query` returns (its columns: `tableoid`,
/// `ctid::text` and the image as text or bytea) and writes each embedding to that
/// row of `table`, `encoder::BATCH` rows at a time. Writes go through `table`, so
/// the caller's privileges and row-level security apply. A row whose image cannot
/// be read is an ERROR naming it, or a WARNING and no embedding with `skip_bad_rows`.
/// With `clear_missing`, rows left without an embedding (NULL or skipped image) get
/// NULL written, for columns that may hold an older image's embedding.
pub fn embed_rows(
    client: &mut SpiClient<'_>,
    model: &Model,
    table: &str,
    rows_query: &str,
    args: &[pgrx::datum::DatumWithOid<'_>],
    skip_bad_rows: bool,
    clear_missing: bool,
) -> Written {
    let (column, dim) = (model.embedding_column(), model.embedding_dim);
    let reader = image_reader();
    let write = format!(
        "UPDATE {table} AS t SET {col} = (($3::real[])[(v.i - 1) * {dim} + 1 : v.i * {dim}])::image_search.embedding
         FROM unnest($1::oid[], $2::text[]::tid[]) WITH ORDINALITY AS v(rel, id, i)
         WHERE t.tableoid = v.rel AND t.ctid = v.id",
        col = quote_identifier(&column)
    );
    let mut written = Written { embedded: 0, skipped: 0, without_image: 0 };
    let mut batches = Batches::open(client, rows_query, args, encoder::BATCH);
    while let Some(rows) = batches.next_batch().or_raise() {
        let image_type = image_type(&rows, 3);
        let pending: Vec<Pending> = rows
            .map(|row| Pending {
                table_oid: row.get::<pg_sys::Oid>(1).ok().flatten().unwrap_or(pg_sys::InvalidOid),
                ctid: row.get::<String>(2).ok().flatten().unwrap_or_default(),
                image: image_value(&row, 3, image_type),
            })
            .collect();
        let decoded: Vec<Option<Result<Picture, String>>> =
            pending.par_iter().map(|p| p.image.as_ref().map(|i| reader.load(i))).collect();
        let (mut table_oids, mut ctids, mut pictures) = (Vec::new(), Vec::new(), Vec::new());
        let mut missing: Vec<&Pending> = Vec::new();
        for (p, d) in pending.iter().zip(decoded) {
            match d {
                None => {
                    written.without_image += 1;
                    missing.push(p);
                }
                Some(Ok(picture)) => {
                    table_oids.push(p.table_oid);
                    ctids.push(p.ctid.clone());
                    pictures.push(picture);
                }
                Some(Err(e)) if skip_bad_rows => {
                    warning!("skipping row {}: {e}", row_name(client, p));
                    written.skipped += 1;
                    missing.push(p);
                }
                Some(Err(e)) => bad_data(format!("row {}: {e}", row_name(client, p))),
            }
        }
        if clear_missing && !missing.is_empty() {
            let clear = format!(
                "UPDATE {table} AS t SET {col} = NULL FROM unnest($1::oid[], $2::text[]::tid[]) AS v(rel, id)
                 WHERE t.tableoid = v.rel AND t.ctid = v.id AND t.{col} IS NOT NULL",
                col = quote_identifier(&column)
            );
            let oids: Vec<pg_sys::Oid> = missing.iter().map(|p| p.table_oid).collect();
            let ids: Vec<String> = missing.iter().map(|p| p.ctid.clone()).collect();
            client.update(&clear, None, &[oids.into(), ids.into()]).or_raise();
        }
        if pictures.is_empty() {
            continue;
        }
        let refs: Vec<&Picture> = pictures.iter().collect();
        let vectors = with_model(&model.name, |m| m.embed(&refs)).unwrap_or_else(|e| runtime(e));
        let flat: Vec<f32> = vectors.concat();
        client.update(&write, None, &[table_oids.into(), ctids.into(), flat.into()]).or_raise();
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
        check_row_identity(client, &table, "convert");
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
        let rows = format!("SELECT tableoid, ctid::text, {image} FROM {table} AS image_search_source");
        let written = embed_rows(client, &model, &table, &rows, &[], skip_bad_rows, false);
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
