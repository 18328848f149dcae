//! `keep_current`: a model's column stays up to date for rows inserted later and
//! rows whose image changes, batched per statement.
//!
//! Two triggers per table, both `AFTER`:
//! - a row trigger (`INSERT OR UPDATE OF <image column>`) only remembers which row
//!   changed: its table (`tableoid`) and `ctid`, in a backend-local queue;
//! - a statement trigger then embeds the queued rows' images `encoder::BATCH` at a
//!   time and writes them through the table, exactly as `convert` does, so a
//!   `COPY` of 10,000 rows runs the encoder about 40 times, not 10,000.
//!
//! Why the row identity is safe: every queued row was written by the current
//! statement, so it holds the row lock and no other session can move it; the
//! statement trigger fires after every row trigger of the statement. The image is
//! read again when the embedding is computed, so a row is only ever given the
//! embedding of its own current image. Rows queued by a transaction that ended
//! before its statement trigger ran (an error in between) are forgotten with it.
//!
//! Row triggers on a partitioned table are cloned onto its partitions by Postgres;
//! statement triggers are not, so `keep_current` adds one to every member of the
//! tree (an `INSERT` straight into a partition fires only the partition's). A
//! partition attached later needs `keep_current` again.
use crate::columns::convert::{column_exists, embed_rows, resolve_table};
use crate::columns::row_identity::{RowIdentity, TABLE_TREE};
use crate::error::{Error, OrRaise};
use crate::model::catalog::Model;
use crate::spi::rows::{image_expression, select_one};
use pgrx::prelude::*;
use pgrx::spi::{quote_identifier, quote_literal, SpiClient};
use std::cell::RefCell;
use std::collections::HashMap;

/// The arguments both triggers are created with, in this order.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct KeptColumn {
    model: String,
    image_col: String,
    column: String,
    skip_bad_rows: bool,
}

impl KeptColumn {
    fn from_args(args: &[String]) -> KeptColumn {
        match args {
            [model, image_col, column, skip] => KeptColumn {
                model: model.clone(),
                image_col: image_col.clone(),
                column: column.clone(),
                skip_bad_rows: skip == "true",
            },
            _ => Error::Other(
                PgSqlErrorCode::ERRCODE_TRIGGERED_ACTION_EXCEPTION,
                "image_search's keep-current triggers take four arguments; recreate them with keep_current()".into(),
            )
            .raise(),
        }
    }

    fn trigger_args(&self) -> String {
        [self.model.as_str(), &self.image_col, &self.column, if self.skip_bad_rows { "true" } else { "false" }]
            .iter()
            .map(|a| quote_literal(a))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Trigger names: `keep_<column>` (row) and `keep_<column>_stmt` (statement),
    /// at most 60 bytes since a model's column name is at most 50.
    fn trigger_names(&self) -> (String, String) {
        (format!("keep_{}", self.column), format!("keep_{}_stmt", self.column))
    }
}

/// Rows written by the current statement whose embedding is due, per kept column.
#[derive(Default)]
struct Queue {
    /// The local transaction the rows belong to; a new one forgets older rows.
    transaction: u32,
    rows: HashMap<KeptColumn, Vec<(pg_sys::Oid, String)>>,
}

thread_local! {
    static QUEUE: RefCell<Queue> = RefCell::new(Queue::default());
}

fn local_transaction() -> u32 {
    // SAFETY: MyProc is this backend's own PGPROC, set for its whole life.
    unsafe { (*pg_sys::MyProc).lxid }
}

fn tid_text(tid: &pg_sys::ItemPointerData) -> String {
    let block = ((tid.ip_blkid.bi_hi as u32) << 16) | tid.ip_blkid.bi_lo as u32;
    format!("({block},{})", tid.ip_posid)
}

/// Row trigger: remembers the inserted or updated row.
#[pg_trigger]
fn keep_current_row<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, PgHeapTupleError> {
    let kept = KeptColumn::from_args(&trigger.extra_args().unwrap_or_default());
    let data = trigger.trigger_data();
    // The new version of the row: tg_newtuple for an UPDATE, tg_trigtuple for an INSERT.
    let tuple = if data.tg_newtuple.is_null() { data.tg_trigtuple } else { data.tg_newtuple };
    if tuple.is_null() {
        return Ok(None);
    }
    // SAFETY: the trigger manager passes a valid heap tuple for row-level AFTER events.
    let ctid = tid_text(unsafe { &(*tuple).t_self });
    let table = trigger.relid().unwrap_or(pg_sys::InvalidOid);
    QUEUE.with_borrow_mut(|queue| {
        let now = local_transaction();
        if queue.transaction != now {
            queue.rows.clear();
            queue.transaction = now;
        }
        queue.rows.entry(kept).or_default().push((table, ctid));
    });
    Ok(None)
}

/// Statement trigger: embeds the rows the statement queued for this table.
#[pg_trigger]
fn keep_current_statement<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, PgHeapTupleError> {
    let kept = KeptColumn::from_args(&trigger.extra_args().unwrap_or_default());
    let relid = trigger.relid().unwrap_or(pg_sys::InvalidOid);
    let queued = QUEUE.with_borrow_mut(|queue| {
        if queue.transaction != local_transaction() {
            return Vec::new();
        }
        queue.rows.remove(&kept).unwrap_or_default()
    });
    if queued.is_empty() {
        return Ok(None);
    }
    Spi::connect_mut(|client| {
        let (mine, others) = split_by_tree(client, relid, queued);
        if !others.is_empty() {
            // Rows of another table of the statement (a partition written directly):
            // that table's own statement trigger embeds them.
            QUEUE.with_borrow_mut(|queue| queue.rows.entry(kept.clone()).or_default().extend(others));
        }
        if mine.is_empty() {
            return;
        }
        let model = Model::get(&kept.model);
        let table: String = select_one(client, "SELECT $1::regclass::text", &[relid.into()]).unwrap_or_default();
        let image = image_expression(client, &format!("SELECT * FROM {table}"), &kept.image_col);
        let (oids, ctids): (Vec<pg_sys::Oid>, Vec<String>) = mine.into_iter().unzip();
        let oids: Vec<String> = oids.iter().map(|o| o.to_u32().to_string()).collect();
        let identity = RowIdentity::Physical;
        let rows = format!(
            "SELECT {}, {image}
             FROM {table} AS image_search_source
             JOIN unnest($1::text[]::oid[], $2::text[]::tid[]) AS v(rel, id)
               ON image_search_source.tableoid = v.rel AND image_search_source.ctid = v.id",
            identity.select_list("image_search_source")
        );
        embed_rows(client, &model, &table, &identity, &rows, &[oids.into(), ctids.into()], kept.skip_bad_rows, true);
    });
    Ok(None)
}

/// Splits queued rows into those of `relid` or its partitions/children and the rest.
type QueuedRows = Vec<(pg_sys::Oid, String)>;
fn split_by_tree(client: &SpiClient<'_>, relid: pg_sys::Oid, queued: QueuedRows) -> (QueuedRows, QueuedRows) {
    if queued.iter().all(|(oid, _)| *oid == relid) {
        return (queued, Vec::new());
    }
    let tree: Vec<pg_sys::Oid> =
        select_one(client, &format!("{TABLE_TREE} SELECT array_agg(oid) FROM tree"), &[relid.into()])
            .unwrap_or_default();
    queued.into_iter().partition(|(oid, _)| tree.contains(oid))
}

/// The table and every partition or child below it, with whether each is a partition.
fn tree_members(client: &SpiClient<'_>, table: &str) -> Vec<(String, bool)> {
    let rows = client
        .select(
            &format!(
                "{TABLE_TREE} SELECT c.oid::regclass::text, c.relispartition FROM tree JOIN pg_class c USING (oid) ORDER BY 1"
            ),
            None,
            &[table.into()],
        )
        .or_raise();
    rows.map(|r| (r.get::<String>(1).ok().flatten().unwrap_or_default(), r.get::<bool>(2).ok().flatten() == Some(true)))
        .collect()
}

fn drop_triggers(client: &mut SpiClient<'_>, table: &str, kept: &KeptColumn) -> bool {
    let (row, statement) = kept.trigger_names();
    let mut dropped = false;
    for (member, is_partition) in tree_members(client, table) {
        // A partition's row trigger is a clone of its parent's and goes with it.
        let names = if is_partition { vec![&statement] } else { vec![&row, &statement] };
        for name in names {
            let exists: bool = select_one(
                client,
                "SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = $1::regclass AND tgname = $2 AND tgparentid = 0)",
                &[member.as_str().into(), name.as_str().into()],
            )
            .unwrap_or(false);
            if exists {
                client.update(&format!("DROP TRIGGER {} ON {member}", quote_identifier(name)), None, &[]).or_raise();
                dropped = true;
            }
        }
    }
    dropped
}

fn create_triggers(client: &mut SpiClient<'_>, table: &str, kept: &KeptColumn) {
    let (row, statement) = kept.trigger_names();
    let args = kept.trigger_args();
    let image_col = quote_identifier(&kept.image_col);
    for (member, is_partition) in tree_members(client, table) {
        if !is_partition {
            client
                .update(
                    &format!(
                        "CREATE TRIGGER {} AFTER INSERT OR UPDATE OF {image_col} ON {member}
                         FOR EACH ROW EXECUTE FUNCTION image_search.keep_current_row({args})",
                        quote_identifier(&row)
                    ),
                    None,
                    &[],
                )
                .or_raise();
        }
        client
            .update(
                &format!(
                    "CREATE TRIGGER {} AFTER INSERT OR UPDATE ON {member}
                     FOR EACH STATEMENT EXECUTE FUNCTION image_search.keep_current_statement({args})",
                    quote_identifier(&statement)
                ),
                None,
                &[],
            )
            .or_raise();
    }
}

/// Keeps `model_name`'s column of `table_name` up to date from now on: rows
/// inserted later and rows whose image changes get their embedding at the end of
/// each statement. Adds and fills the column first when `convert` has not, or
/// fills the rows that have an image but no embedding yet; returns how many rows
/// it embedded now. Calling it again replaces the triggers (to change
/// `skip_bad_rows`, or after attaching partitions).
#[pg_extern(volatile, parallel_unsafe, requires = ["models_catalog", "embedding_type"])]
fn keep_current(
    model_name: &str,
    table_name: &str,
    image_col: default!(&str, "'image_path'"),
    skip_bad_rows: default!(bool, false),
) -> i64 {
    let model = Model::get(model_name);
    let kept = KeptColumn {
        model: model.name.clone(),
        image_col: image_col.to_string(),
        column: model.embedding_column(),
        skip_bad_rows,
    };
    let (table, has_column) = Spi::connect_mut(|client| {
        let table = resolve_table(client, table_name);
        RowIdentity::of(client, &table, "keep_current");
        image_expression(client, &format!("SELECT * FROM {table}"), image_col);
        // CREATE TRIGGER locks out writers until commit, so no row can slip
        // between the catch-up below and the triggers.
        drop_triggers(client, &table, &kept);
        create_triggers(client, &table, &kept);
        let has_column = column_exists(client, &table, &kept.column);
        (table, has_column)
    });
    if !has_column {
        return crate::columns::convert::convert(model_name, &table, image_col, false, skip_bad_rows);
    }
    Spi::connect_mut(|client| {
        let image = image_expression(client, &format!("SELECT * FROM {table}"), image_col);
        let identity = RowIdentity::Physical;
        let rows = format!(
            "SELECT {}, {image} FROM {table} AS image_search_source
             WHERE {column} IS NULL AND {image} IS NOT NULL",
            identity.select_list("image_search_source"),
            column = quote_identifier(&kept.column)
        );
        embed_rows(client, &model, &table, &identity, &rows, &[], skip_bad_rows, false).embedded
    })
}

/// Stops keeping `model_name`'s column of `table_name` current (the column and its
/// values stay). Returns false when it was not being kept current.
#[pg_extern(volatile, parallel_unsafe, requires = ["models_catalog"])]
fn stop_keeping_current(model_name: &str, table_name: &str) -> bool {
    let model = Model::get(model_name);
    let kept = KeptColumn {
        model: model.name.clone(),
        image_col: String::new(),
        column: model.embedding_column(),
        skip_bad_rows: false,
    };
    Spi::connect_mut(|client| {
        let table = resolve_table(client, table_name);
        drop_triggers(client, &table, &kept)
    })
}

/// Drops every keep-current trigger of `model_name` (used by `drop_model`).
pub fn drop_model_triggers(client: &mut SpiClient<'_>, model_name: &str) {
    let rows = client
        .select(
            "SELECT tgname::text, tgrelid::regclass::text, tgargs FROM pg_trigger
              WHERE tgparentid = 0
                AND tgfoid IN ('image_search.keep_current_row'::regproc, 'image_search.keep_current_statement'::regproc)",
            None,
            &[],
        )
        .or_raise();
    let mut drops = Vec::new();
    for row in rows {
        let args: Vec<u8> = row.get(3).ok().flatten().unwrap_or_default();
        let model = args.split(|&b| b == 0).next().unwrap_or_default();
        if model == model_name.as_bytes() {
            let name: String = row.get(1).ok().flatten().unwrap_or_default();
            let table: String = row.get(2).ok().flatten().unwrap_or_default();
            drops.push(format!("DROP TRIGGER {} ON {table}", quote_identifier(&name)));
        }
    }
    for drop in drops {
        client.update(&drop, None, &[]).or_raise();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_names_fit_in_an_identifier() {
        let kept = KeptColumn {
            model: "m".repeat(43),
            image_col: "p".into(),
            column: format!("{}_simclr", "m".repeat(43)),
            skip_bad_rows: false,
        };
        let (row, statement) = kept.trigger_names();
        assert!(row.len() <= 63 && statement.len() <= 63, "{statement}");
        assert_ne!(row, statement);
    }

    #[test]
    fn tids_print_as_postgres_does() {
        let tid = pg_sys::ItemPointerData { ip_blkid: pg_sys::BlockIdData { bi_hi: 1, bi_lo: 2 }, ip_posid: 7 };
        assert_eq!(tid_text(&tid), "(65538,7)");
    }
}
