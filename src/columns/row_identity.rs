//! Which row an embedding belongs to, for `convert` and `keep_current`: they read
//! each row's identity with its image and write the embedding back to exactly
//! that row, through the table (so the caller's privileges and row-level security
//! apply).
//!
//! - **Physical** `(tableoid, ctid)`, for plain, partitioned and inherited tables.
//!   A `ctid` is unique only within one physical table, hence the `tableoid`. Both
//!   stay valid until the row is written: the first convert holds the table's
//!   exclusive lock from its ALTER TABLE, `replace` locks every row before reading,
//!   keep_current only queues rows its own statement wrote, and the snapshot that
//!   read them keeps VACUUM from reusing a `ctid` inside the transaction.
//! - **Key**, the primary key (or replica identity index) columns, for tables Citus
//!   manages: every shard has its own `ctid`s, and an UPDATE keyed by `ctid` would
//!   reach a row with that `ctid` in every shard. Keyed by the primary key (which
//!   on a distributed table includes the distribution column), Citus routes each
//!   row's write to its shard.
//!
//! Tables with no safe identity are refused before anything changes.
use crate::error::{Error, OrRaise};
use crate::spi::rows::select_one;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;

/// `tree(oid)`: the table `$1` (its name or oid) and every partition or inheritance
/// child below it, at any depth. Prefix a SELECT that reads from `tree`.
pub const TABLE_TREE: &str = "WITH RECURSIVE tree(oid) AS (
    SELECT $1::regclass::oid UNION SELECT i.inhrelid FROM pg_inherits i JOIN tree ON i.inhparent = tree.oid)";

pub enum RowIdentity {
    Physical,
    /// The key's columns: quoted name and SQL type.
    Key(Vec<(String, String)>),
}

impl RowIdentity {
    /// The identity of `table`'s rows, or an ERROR saying why it has none safe
    /// (`function` names the caller in the message).
    pub fn of(client: &SpiClient<'_>, table: &str, function: &str) -> RowIdentity {
        check_table_kind(client, table, function);
        if !managed_by_citus(client, table) {
            return RowIdentity::Physical;
        }
        if function == "keep_current" {
            Error::NotSupported(format!(
                "keep_current does not support Citus tables ({table}); run convert after loading new rows"
            ))
            .raise();
        }
        let key = key_columns(client, table);
        if key.is_empty() {
            Error::NotSupported(format!(
                "{function} needs a primary key on {table}: it is a Citus table, whose shards each have their \
                 own ctids, so rows are written by their key (ALTER TABLE {table} ADD PRIMARY KEY (...))"
            ))
            .raise();
        }
        RowIdentity::Key(key)
    }

    /// How many values name a row.
    pub fn width(&self) -> usize {
        match self {
            RowIdentity::Physical => 2,
            RowIdentity::Key(columns) => columns.len(),
        }
    }

    /// The identity's values as text, for a select list over `alias`.
    pub fn select_list(&self, alias: &str) -> String {
        match self {
            RowIdentity::Physical => format!("{alias}.tableoid::text, {alias}.ctid::text"),
            RowIdentity::Key(columns) => {
                columns.iter().map(|(name, _)| format!("{alias}.{name}::text")).collect::<Vec<_>>().join(", ")
            }
        }
    }

    /// `unnest(...)` of the identity arrays `$1..$width` (text arrays cast to
    /// their types), as `v(k1, ..., kN)`, and the condition matching `t`'s row.
    /// With `ordinality`, `v` has a last column `i`: the value's 1-based position.
    pub fn unnest_and_match(&self, ordinality: bool) -> (String, String) {
        let types: Vec<&str> = match self {
            RowIdentity::Physical => vec!["oid", "tid"],
            RowIdentity::Key(columns) => columns.iter().map(|(_, t)| t.as_str()).collect(),
        };
        let names: Vec<String> = match self {
            RowIdentity::Physical => vec!["tableoid".into(), "ctid".into()],
            RowIdentity::Key(columns) => columns.iter().map(|(n, _)| n.clone()).collect(),
        };
        let arrays: Vec<String> = types.iter().enumerate().map(|(i, t)| format!("${}::text[]::{t}[]", i + 1)).collect();
        let keys: Vec<String> = (1..=types.len()).map(|i| format!("k{i}")).collect();
        let alias = if ordinality { format!("v({}, i)", keys.join(", ")) } else { format!("v({})", keys.join(", ")) };
        let unnest =
            format!("unnest({}){} AS {alias}", arrays.join(", "), if ordinality { " WITH ORDINALITY" } else { "" });
        let matches = names.iter().zip(&keys).map(|(n, k)| format!("t.{n} = v.{k}")).collect::<Vec<_>>().join(" AND ");
        (unnest, matches)
    }

    /// How an error names a row: its ctid and the physical table it lives in, or its key.
    pub fn describe(&self, client: &SpiClient<'_>, values: &[String]) -> String {
        match self {
            RowIdentity::Physical => {
                let oid = values.first().and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
                let table: String =
                    select_one(client, "SELECT $1::oid::regclass::text", &[pg_sys::Oid::from(oid).into()])
                        .unwrap_or_default();
                format!("{} of {table}", values.get(1).map(String::as_str).unwrap_or("?"))
            }
            RowIdentity::Key(columns) => {
                let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
                format!("with key ({}) = ({})", names.join(", "), values.join(", "))
            }
        }
    }
}

/// Views and foreign tables have no `ctid` of their own; neither do trees with such members.
fn check_table_kind(client: &SpiClient<'_>, table: &str, function: &str) {
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
        &format!(
            "{TABLE_TREE} SELECT c.oid::regclass::text FROM tree JOIN pg_class c USING (oid)
             WHERE c.relkind NOT IN ('r', 'p') ORDER BY 1 LIMIT 1"
        ),
        &[table.into()],
    );
    if let Some(member) = member {
        Error::WrongObjectType(format!(
            "{function} cannot write to {member}, a partition or child of {table} that is not a plain table"
        ))
        .raise();
    }
}

/// Whether Citus distributes or replicates `table` (pg_dist_partition can only be
/// named where Citus is installed).
fn managed_by_citus(client: &SpiClient<'_>, table: &str) -> bool {
    let citus = select_one(client, "SELECT to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL", &[]) == Some(true);
    citus
        && select_one(
            client,
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1::regclass)",
            &[table.into()],
        ) == Some(true)
}

/// The primary key's columns, else the replica identity index's, in index order.
fn key_columns(client: &SpiClient<'_>, table: &str) -> Vec<(String, String)> {
    let rows = client
        .select(
            "SELECT quote_ident(a.attname), format_type(a.atttypid, a.atttypmod)
               FROM (SELECT i.indkey FROM pg_index i WHERE i.indrelid = $1::regclass
                        AND (i.indisprimary OR i.indisreplident)
                      ORDER BY i.indisprimary DESC LIMIT 1) AS k,
                    unnest(k.indkey) WITH ORDINALITY AS c(attnum, n)
               JOIN pg_attribute a ON a.attrelid = $1::regclass AND a.attnum = c.attnum
              ORDER BY c.n",
            None,
            &[table.into()],
        )
        .or_raise();
    rows.map(|r| {
        (r.get::<String>(1).ok().flatten().unwrap_or_default(), r.get::<String>(2).ok().flatten().unwrap_or_default())
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn physical_rows_are_matched_by_table_and_ctid() {
        let (unnest, matches) = RowIdentity::Physical.unnest_and_match(true);
        assert_eq!(unnest, "unnest($1::text[]::oid[], $2::text[]::tid[]) WITH ORDINALITY AS v(k1, k2, i)");
        assert_eq!(matches, "t.tableoid = v.k1 AND t.ctid = v.k2");
        assert_eq!(RowIdentity::Physical.select_list("s"), "s.tableoid::text, s.ctid::text");
    }

    #[test]
    fn keyed_rows_are_matched_by_every_key_column() {
        let key = RowIdentity::Key(vec![("tenant".into(), "integer".into()), ("\"Id\"".into(), "text".into())]);
        let (unnest, matches) = key.unnest_and_match(false);
        assert_eq!(unnest, "unnest($1::text[]::integer[], $2::text[]::text[]) AS v(k1, k2)");
        assert_eq!(matches, "t.tenant = v.k1 AND t.\"Id\" = v.k2");
        assert_eq!(key.width(), 2);
        assert_eq!(key.select_list("s"), "s.tenant::text, s.\"Id\"::text");
    }
}
