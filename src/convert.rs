//! `convert`: store every row's embedding in a new `<model>_simclr` column.
use crate::encoder::{self, with_model};
use crate::image_input::Picture;
use crate::image_source::{image_expression, image_value, ImageReader, ImageRef};
use crate::model_files::EMBEDDING_DIM;
use crate::raise_error;
use pgrx::prelude::*;
use pgrx::spi::{quote_identifier, SpiClient};
use rayon::prelude::*;

pub fn embedding_column(model_name: &str) -> String {
    format!("{model_name}_simclr")
}

fn spi_error(e: pgrx::spi::SpiError) -> ! {
    raise_error(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, e.to_string())
}

/// The table as Postgres names it (schema-qualified and quoted when needed),
/// resolved with the caller's search_path, as `table_name::regclass` would.
fn resolve_table(client: &SpiClient<'_>, table_name: &str) -> String {
    client
        .select("SELECT $1::regclass::text", None, &[table_name.into()])
        .and_then(|t| t.first().get_one::<String>())
        .unwrap_or_else(|e| spi_error(e))
        .expect("regclass text is never null")
}

fn column_exists(client: &SpiClient<'_>, table: &str, column: &str) -> bool {
    client
        .select(
            "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2 AND NOT attisdropped)",
            None,
            &[table.into(), column.into()],
        )
        .and_then(|t| t.first().get_one::<bool>())
        .unwrap_or_else(|e| spi_error(e))
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
fn check_row_identity(client: &SpiClient<'_>, table: &str) {
    let kind = client
        .select("SELECT relkind::text FROM pg_class WHERE oid = $1::regclass", None, &[table.into()])
        .and_then(|t| t.first().get_one::<String>())
        .unwrap_or_else(|e| spi_error(e))
        .unwrap_or_default();
    if kind != "r" && kind != "p" {
        raise_error(
            PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE,
            format!("convert needs a table, and {table} is not one (views, materialized views and foreign tables cannot be converted)"),
        );
    }
    let member = client
        .select(
            "WITH RECURSIVE tree(oid) AS (
                 SELECT $1::regclass::oid
                 UNION SELECT i.inhrelid FROM pg_inherits i JOIN tree ON i.inhparent = tree.oid)
             SELECT c.oid::regclass::text FROM tree JOIN pg_class c USING (oid)
             WHERE c.relkind NOT IN ('r', 'p') ORDER BY 1 LIMIT 1",
            None,
            &[table.into()],
        )
        .and_then(|t| if t.is_empty() { Ok(None) } else { t.first().get_one::<String>() })
        .unwrap_or_else(|e| spi_error(e));
    if let Some(member) = member {
        raise_error(
            PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE,
            format!("convert cannot write to {member}, a partition or child of {table} that is not a plain table"),
        );
    }
    let citus = client
        .select("SELECT to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL", None, &[])
        .and_then(|t| t.first().get_one::<bool>())
        .unwrap_or_else(|e| spi_error(e))
        .unwrap_or(false);
    let distributed = if citus {
        client
            .select(
                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1::regclass)",
                None,
                &[table.into()],
            )
            .and_then(|t| t.first().get_one::<bool>())
    } else {
        Ok(Some(false))
    };
    if distributed.unwrap_or_else(|e| spi_error(e)) == Some(true) {
        raise_error(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("convert does not support Citus distributed tables yet ({table}); its rows have no identity that is unique across shards"),
        );
    }
}

/// How an error names a row: its ctid and the physical table it lives in
/// (a partition or child table when `table` has them).
fn row_name(client: &SpiClient<'_>, row: &Pending) -> String {
    let table = client
        .select("SELECT $1::regclass::text", None, &[row.table_oid.into()])
        .and_then(|t| t.first().get_one::<String>())
        .unwrap_or_else(|e| spi_error(e))
        .unwrap_or_default();
    format!("{} of {table}", row.ctid)
}

#[pg_extern(volatile, parallel_unsafe, requires = ["models_catalog", "embedding_type"])]
fn convert(
    model_name: &str,
    table_name: &str,
    image_col: default!(&str, "'image_path'"),
    replace: default!(bool, false),
    skip_bad_rows: default!(bool, false),
) -> i64 {
    let column = embedding_column(model_name);
    // Fail on an unknown model before touching the table.
    with_model(model_name, |_| ());
    let reader = ImageReader::for_current_user();
    Spi::connect_mut(|client| {
        let table = resolve_table(client, table_name);
        check_row_identity(client, &table);
        let image = image_expression(client, &format!("SELECT * FROM {table}"), image_col);
        if column_exists(client, &table, &column) {
            if !replace {
                raise_error(
                    PgSqlErrorCode::ERRCODE_DUPLICATE_COLUMN,
                    format!("column \"{column}\" of {table} already exists; pass replace => true to recompute it"),
                );
            }
            // Recompute in place: only row locks, so searches keep reading the old values until commit.
            client
                .update(&format!("UPDATE {table} SET {} = NULL", quote_identifier(&column)), None, &[])
                .unwrap_or_else(|e| spi_error(e));
        } else {
            client
                .update(
                    &format!(
                        "ALTER TABLE {table} ADD COLUMN {} image_search.embedding({EMBEDDING_DIM})",
                        quote_identifier(&column)
                    ),
                    None,
                    &[],
                )
                .unwrap_or_else(|e| spi_error(e));
        }
        let mut done = 0i64;
        let mut skipped = 0i64;
        let query = format!("SELECT tableoid, ctid::text, {image} FROM {table} AS image_search_source");
        let mut cursor = client.open_cursor(query.as_str(), &[]);
        loop {
            let rows = cursor.fetch(encoder::BATCH as i64).unwrap_or_else(|e| spi_error(e));
            if rows.is_empty() {
                break;
            }
            let image_type = rows.column_type_oid(3).map(|t| t.value()).unwrap_or(pg_sys::InvalidOid);
            let pending: Vec<Pending> = rows
                .map(|row| Pending {
                    table_oid: row.get::<pg_sys::Oid>(1).ok().flatten().unwrap_or(pg_sys::InvalidOid),
                    ctid: row.get::<String>(2).ok().flatten().unwrap_or_default(),
                    image: image_value(&row, 3, image_type),
                })
                .collect();
            let decoded: Vec<Option<Result<Picture, String>>> =
                pending.par_iter().map(|p| p.image.as_ref().map(|i| reader.load(i))).collect();
            let mut table_oids = Vec::new();
            let mut ctids = Vec::new();
            let mut pictures = Vec::new();
            for (p, d) in pending.iter().zip(decoded) {
                match d {
                    None => {}
                    Some(Ok(picture)) => {
                        table_oids.push(p.table_oid);
                        ctids.push(p.ctid.clone());
                        pictures.push(picture);
                    }
                    Some(Err(e)) if skip_bad_rows => {
                        warning!("skipping row {}: {e}", row_name(client, p));
                        skipped += 1;
                    }
                    Some(Err(e)) => {
                        raise_error(PgSqlErrorCode::ERRCODE_DATA_EXCEPTION, format!("row {}: {e}", row_name(client, p)))
                    }
                }
            }
            let refs: Vec<&Picture> = pictures.iter().collect();
            let vectors = with_model(model_name, |m| m.embed(&refs))
                .unwrap_or_else(|e| raise_error(PgSqlErrorCode::ERRCODE_EXTERNAL_ROUTINE_EXCEPTION, e));
            let flat: Vec<f32> = vectors.concat();
            client
                .update(
                    &format!(
                        "UPDATE {table} AS t SET {col} = (($3::real[])[(v.i - 1) * {EMBEDDING_DIM} + 1 : v.i * {EMBEDDING_DIM}])::image_search.embedding
                         FROM unnest($1::oid[], $2::text[]::tid[]) WITH ORDINALITY AS v(rel, id, i)
                         WHERE t.tableoid = v.rel AND t.ctid = v.id",
                        col = quote_identifier(&column)
                    ),
                    None,
                    &[table_oids.into(), ctids.into(), flat.into()],
                )
                .unwrap_or_else(|e| spi_error(e));
            done += refs.len() as i64;
            pgrx::check_for_interrupts!();
        }
        if skipped > 0 {
            notice!("{skipped} row(s) of {table} skipped because their images could not be read");
        }
        done
    })
}
