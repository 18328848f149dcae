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

/// A CSV file read into columns: the header's names and, for each, its values
/// in file order (column-major, because each column is typed and bound as one array).
#[derive(Debug, PartialEq)]
pub struct CsvColumns {
    pub header: Vec<String>,
    pub columns: Vec<Vec<String>>,
}

impl CsvColumns {
    pub fn row_count(&self) -> usize {
        self.columns.first().map_or(0, Vec::len)
    }
}

/// Why a file is not a CSV table; `message` puts the user's file name in front.
#[derive(Debug, PartialEq)]
pub enum CsvError {
    /// A quoted field still open at the end of the file (`line` is the file's last line).
    Unterminated { line: u64 },
    /// No header line.
    Empty,
    /// A record whose field count differs from the header's (`line` is where it starts).
    Ragged { line: u64, fields: usize, header: usize },
}

impl CsvError {
    pub fn message(&self, path: &str) -> String {
        match self {
            CsvError::Unterminated { line } => format!("{path}: unterminated quoted field at line {line}"),
            CsvError::Empty => format!("{path} is empty; a header line is needed"),
            CsvError::Ragged { line, fields, header } => {
                format!("{path} line {line}: {fields} fields, but the header has {header}")
            }
        }
    }
}

/// Reads RFC 4180 CSV (commas, doubled quotes inside quoted fields, CRLF or LF;
/// blank lines skipped) with the `csv` crate into the header and its columns.
pub fn parse_csv(text: &str) -> Result<CsvColumns, CsvError> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    // A &str cannot hold invalid UTF-8 and a slice cannot fail to read, so the
    // reader's only errors are impossible here; treat one as the end of input.
    if !reader.read_record(&mut record).unwrap_or(false) {
        return Err(CsvError::Empty);
    }
    let header: Vec<String> = record.iter().map(str::to_string).collect();
    let mut columns: Vec<Vec<String>> = vec![Vec::new(); header.len()];
    let (mut last_start, mut ragged) = (0, None);
    while reader.read_record(&mut record).unwrap_or(false) {
        let position = record.position().expect("the csv reader sets every record's position");
        last_start = position.byte() as usize;
        if record.len() != header.len() {
            ragged = Some(CsvError::Ragged { line: position.line(), fields: record.len(), header: header.len() });
            break;
        }
        for (column, value) in columns.iter_mut().zip(record.iter()) {
            column.push(value.to_string());
        }
    }
    // An open quote swallows the rest of the file into one record, which is then
    // usually ragged too: name the quote, the cause, rather than the count.
    let at_end = ragged.is_none() || !reader.read_record(&mut record).unwrap_or(false);
    if at_end && ends_inside_quotes(&text[last_start..]) {
        let line = 1 + memchr::memchr_iter(b'\n', text.as_bytes()).count() as u64;
        return Err(CsvError::Unterminated { line });
    }
    match ragged {
        Some(error) => Err(error),
        None => Ok(CsvColumns { header, columns }),
    }
}

/// The `csv` crate ends a quoted field that is still open at the end of input
/// without saying so. `last_record` is the file from the start of its last record:
/// if that record ended inside quotes, a newline appended joins its last field
/// instead of ending the record.
fn ends_inside_quotes(last_record: &str) -> bool {
    let read_last_field = |text: &[u8]| {
        let mut record = csv::ByteRecord::new();
        let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text);
        reader.read_byte_record(&mut record).ok();
        record.iter().last().map(<[u8]>::to_vec)
    };
    let with_newline = [last_record.as_bytes(), b"\n"].concat();
    read_last_field(last_record.as_bytes()) != read_last_field(&with_newline)
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
    let csv = parse_csv(&text).unwrap_or_else(|e| fail(PgSqlErrorCode::ERRCODE_BAD_COPY_FILE_FORMAT, e.message(path)));
    let columns: Vec<(String, &str)> = csv
        .header
        .iter()
        .zip(&csv.columns)
        .map(|(name, values)| (name.trim().to_string(), column_type(values.iter().map(String::as_str))))
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
        let rows = csv.row_count();
        run(client, sql, csv.columns.into_iter().map(Into::into).collect());
        rows
    }) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(header: &[&str], columns: &[&[&str]]) -> CsvColumns {
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        CsvColumns { header: owned(header), columns: columns.iter().map(|c| owned(c)).collect() }
    }

    #[test]
    fn parses_quotes_commas_and_line_endings() {
        let r = parse_csv("a,b\r\n\"x, \"\"y\"\"\",2\n\"multi\nline\",3").unwrap();
        assert_eq!(r, table(&["a", "b"], &[&["x, \"y\"", "multi\nline"], &["2", "3"]]));
        assert_eq!(r.row_count(), 2);
        // Trailing empty fields, a final newline and blank lines.
        let r = parse_csv("a,b,c\n1,,\n\n2,x,\n").unwrap();
        assert_eq!(r, table(&["a", "b", "c"], &[&["1", "2"], &["", "x"], &["", ""]]));
        // A quote inside an unquoted field is kept as written.
        assert_eq!(parse_csv("a\nsay \"hi\"").unwrap(), table(&["a"], &[&["say \"hi\""]]));
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(parse_csv("a\n\"open"), Err(CsvError::Unterminated { line: 2 }));
        assert_eq!(parse_csv("\"open,a\nb\n"), Err(CsvError::Unterminated { line: 3 }));
        // Still the quote, not the field count, when the open quote makes the last record ragged.
        assert_eq!(parse_csv("a,b\n\"open\n1,2"), Err(CsvError::Unterminated { line: 3 }));
        assert_eq!(parse_csv(""), Err(CsvError::Empty));
        assert_eq!(parse_csv("\n\r\n"), Err(CsvError::Empty));
        assert_eq!(parse_csv("a,b\n1,2\n3"), Err(CsvError::Ragged { line: 3, fields: 1, header: 2 }));
        // The line a ragged record starts on, counting lines inside quoted fields.
        assert_eq!(parse_csv("a,b\n\"x\ny\",2\n3"), Err(CsvError::Ragged { line: 4, fields: 1, header: 2 }));
        assert_eq!(
            CsvError::Ragged { line: 3, fields: 1, header: 2 }.message("f.csv"),
            "f.csv line 3: 1 fields, but the header has 2"
        );
        assert_eq!(CsvError::Unterminated { line: 2 }.message("f.csv"), "f.csv: unterminated quoted field at line 2");
    }

    #[test]
    fn infers_the_narrowest_type() {
        assert_eq!(column_type(["1", "", "-3"].into_iter()), "integer");
        assert_eq!(column_type(["1", "99999999999"].into_iter()), "bigint");
        assert_eq!(column_type(["1", "2.5"].into_iter()), "double precision");
        assert_eq!(column_type(["1", "x.jpg"].into_iter()), "text");
    }
}
