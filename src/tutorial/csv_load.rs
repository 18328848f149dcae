//! `load_csv`: the tutorial's `COPY <table> OPTIONS(overwrite=True) FROM "<file>"`.
//! Creates a table whose columns are named by the CSV header and typed from the
//! values (integer, double precision or text), then loads it, all in the
//! caller's transaction. Plain `COPY t FROM '...' WITH (FORMAT csv, HEADER)`
//! into a table you created works too; this helper saves writing the CREATE TABLE.
use crate::engine::image::access::resolve_path;
use crate::error::Error;
use crate::spi::rows::may_read_server_files;
use pgrx::prelude::*;
use pgrx::spi::quote_identifier;

/// RFC 4180 records: commas, double quotes doubled inside quoted fields, CRLF or LF.
pub fn parse_csv(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut in_quotes = false;
    let mut line = 1;
    while let Some(c) = chars.next() {
        match (in_quotes, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => in_quotes = false,
            (true, c) => {
                if c == '\n' {
                    line += 1;
                }
                field.push(c)
            }
            (false, '"') if field.is_empty() => in_quotes = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
                line += 1;
            }
            (false, c) => field.push(c),
        }
    }
    if in_quotes {
        return Err(format!("unterminated quoted field at line {line}"));
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    Ok(records)
}

/// The narrowest of integer, bigint, double precision and text that holds every value
/// (empty values are NULL and fit anything).
pub fn column_type<'a>(values: impl Iterator<Item = &'a str>) -> &'static str {
    let (mut int, mut big, mut float) = (true, true, true);
    for v in values.filter(|v| !v.is_empty()) {
        int &= v.parse::<i32>().is_ok();
        big &= v.parse::<i64>().is_ok();
        float &= v.parse::<f64>().is_ok_and(f64::is_finite);
    }
    match (int, big, float) {
        (true, _, _) => "integer",
        (_, true, _) => "bigint",
        (_, _, true) => "double precision",
        _ => "text",
    }
}

fn fail(code: PgSqlErrorCode, message: String) -> ! {
    Error::Other(code, message).raise()
}

/// Creates `table_name` from a CSV file's header (column types from the values) and
/// loads the file, in the caller's transaction; `overwrite` drops an existing table first.
#[pg_extern(volatile)]
fn load_csv(table_name: &str, path: &str, overwrite: default!(bool, false)) -> i64 {
    let root = crate::settings::string(&crate::settings::IMAGE_ROOT).map(std::path::PathBuf::from);
    let file = resolve_path(path, root.as_deref(), may_read_server_files()).unwrap_or_else(|e| {
        let code = if e.starts_with("permission denied") {
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE
        } else {
            PgSqlErrorCode::ERRCODE_UNDEFINED_FILE
        };
        fail(code, e.replace("image file", "file").replace("image path", "path"))
    });
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| fail(PgSqlErrorCode::ERRCODE_UNDEFINED_FILE, format!("could not read \"{path}\": {e}")));
    let records =
        parse_csv(&text).unwrap_or_else(|e| fail(PgSqlErrorCode::ERRCODE_BAD_COPY_FILE_FORMAT, format!("{path}: {e}")));
    let Some((header, rows)) = records.split_first() else {
        fail(PgSqlErrorCode::ERRCODE_BAD_COPY_FILE_FORMAT, format!("{path} is empty; a header line is needed"))
    };
    if let Some(bad) = rows.iter().position(|r| r.len() != header.len()) {
        fail(
            PgSqlErrorCode::ERRCODE_BAD_COPY_FILE_FORMAT,
            format!("{path} line {}: {} fields, but the header has {}", bad + 2, rows[bad].len(), header.len()),
        );
    }
    let columns: Vec<(String, &str)> = header
        .iter()
        .enumerate()
        .map(|(i, name)| (name.trim().to_string(), column_type(rows.iter().map(|r| r[i].as_str()))))
        .collect();
    Spi::connect_mut(|client| {
        let target = client
            .select(
                "SELECT string_agg(quote_ident(part), '.') FROM unnest(parse_ident($1)) AS part",
                None,
                &[table_name.into()],
            )
            .and_then(|t| t.first().get_one::<String>())
            .unwrap_or_else(|e| fail(PgSqlErrorCode::ERRCODE_INVALID_NAME, e.to_string()))
            .unwrap_or_default();
        let exists = client
            .select("SELECT to_regclass($1) IS NOT NULL", None, &[target.clone().into()])
            .and_then(|t| t.first().get_one::<bool>())
            .ok()
            .flatten()
            .unwrap_or(false);
        if exists && !overwrite {
            fail(
                PgSqlErrorCode::ERRCODE_DUPLICATE_TABLE,
                format!("table {target} already exists; pass overwrite => true to replace it"),
            );
        }
        let run = |client: &mut pgrx::spi::SpiClient<'_>, sql: String, args: Vec<pgrx::datum::DatumWithOid<'_>>| {
            client
                .update(&sql, None, &args)
                .unwrap_or_else(|e| fail(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, e.to_string()));
        };
        if exists {
            run(client, format!("DROP TABLE {target}"), vec![]);
        }
        let defs: Vec<String> = columns.iter().map(|(n, t)| format!("{} {t}", quote_identifier(n))).collect();
        run(client, format!("CREATE TABLE {target} ({})", defs.join(", ")), vec![]);
        let selects: Vec<String> =
            columns.iter().enumerate().map(|(i, (_, t))| format!("nullif(c{i}, '')::{t}")).collect();
        let unnests: Vec<String> = (0..columns.len()).map(|i| format!("${}::text[]", i + 1)).collect();
        let names: Vec<String> = (0..columns.len()).map(|i| format!("c{i}")).collect();
        let sql = format!(
            "INSERT INTO {target} SELECT {} FROM unnest({}) AS u({})",
            selects.join(", "),
            unnests.join(", "),
            names.join(", ")
        );
        let args =
            (0..columns.len()).map(|i| rows.iter().map(|r| r[i].clone()).collect::<Vec<String>>().into()).collect();
        run(client, sql, args);
    });
    rows.len() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quotes_commas_and_line_endings() {
        let r = parse_csv("a,b\r\n\"x, \"\"y\"\"\",2\n\"multi\nline\",3").unwrap();
        assert_eq!(r, vec![vec!["a", "b"], vec!["x, \"y\"", "2"], vec!["multi\nline", "3"]]);
        assert!(parse_csv("a\n\"open").is_err());
    }

    #[test]
    fn infers_the_narrowest_type() {
        assert_eq!(column_type(["1", "", "-3"].into_iter()), "integer");
        assert_eq!(column_type(["1", "99999999999"].into_iter()), "bigint");
        assert_eq!(column_type(["1", "2.5"].into_iter()), "double precision");
        assert_eq!(column_type(["1", "x.jpg"].into_iter()), "text");
    }
}
