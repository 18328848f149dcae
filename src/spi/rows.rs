//! Reading rows through SPI: one batch cursor for every long read (convert,
//! search, the images of a source query), and the image column of any SELECT as
//! text paths or bytea, read with the caller's file privileges.
use crate::engine::image::access::{ImageReader, ImageRef};
use crate::engine::image::decode::DecodeLimits;
use crate::error::{invalid, Error, OrRaise};
use crate::settings;
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::spi::{self, SpiClient, SpiCursor, SpiTupleTable};
use std::path::PathBuf;

/// A query read `batch_rows` rows at a time. A cursor takes exactly one SELECT,
/// so text smuggled into a caller's query cannot become a second statement. The
/// cursor does not borrow the client, so the caller may write between batches.
pub struct Batches<'conn> {
    cursor: SpiCursor<'conn>,
    batch_rows: i64,
    started: bool,
}

impl<'conn> Batches<'conn> {
    pub fn open(
        client: &SpiClient<'conn>,
        query: &str,
        args: &[DatumWithOid<'_>],
        batch_rows: usize,
    ) -> Batches<'conn> {
        let cursor = client.try_open_cursor(query, args).or_raise();
        Batches { cursor, batch_rows: batch_rows as i64, started: false }
    }

    /// The next batch, or `None` at the end. Checks for interrupts between
    /// batches, so a cancel stops a long read promptly.
    pub fn next_batch(&mut self) -> Result<Option<SpiTupleTable<'_>>, Error> {
        if self.started {
            pgrx::check_for_interrupts!();
        }
        self.started = true;
        let rows = self.cursor.fetch(self.batch_rows)?;
        Ok(if rows.is_empty() { None } else { Some(rows) })
    }
}

/// The first column of the first row of `query`, or `None` when it returns no row or NULL.
pub fn select_one<T: pgrx::datum::FromDatum + pgrx::datum::IntoDatum>(
    client: &SpiClient<'_>,
    query: &str,
    args: &[DatumWithOid<'_>],
) -> Option<T> {
    let rows = client.select(query, None, args).or_raise();
    if rows.is_empty() {
        return None;
    }
    rows.first().get_one::<T>().or_raise()
}

/// Whether the current role may read any server file, as for server-side COPY.
pub fn may_read_server_files() -> bool {
    // SAFETY: plain catalog lookups on the backend's own thread.
    unsafe {
        pg_sys::superuser()
            || pg_sys::has_privs_of_role(pg_sys::GetUserId(), pg_sys::Oid::from(pg_sys::ROLE_PG_READ_SERVER_FILES))
    }
}

/// An image reader with the current role's file privileges and the settings in force.
pub fn image_reader() -> ImageReader {
    ImageReader::new(
        settings::string(&settings::IMAGE_ROOT).map(PathBuf::from),
        may_read_server_files(),
        DecodeLimits { max_pixels: settings::MAX_IMAGE_PIXELS.get() as u64, ..DecodeLimits::default() },
    )
}

/// Refuses a source query that is not one valid SQL statement, with Postgres's own
/// parse error. Checked before the query is wrapped in `SELECT ... FROM (<query>)`:
/// a truncated query would otherwise fail as "syntax error at or near ")"", at a
/// parenthesis the caller never wrote.
pub fn check_source_query(source_query: &str) {
    match parse(source_query) {
        Ok(1) => {}
        Ok(0) => invalid("the source query is empty; give a SELECT"),
        Ok(_) => invalid("the source query must be one SELECT, not several statements"),
        Err(message) => Error::Other(
            PgSqlErrorCode::ERRCODE_SYNTAX_ERROR,
            format!("the source query is not valid SQL ({message}): {source_query}"),
        )
        .raise(),
    }
}

/// Refuses an `ORDER BY ... LIMIT ...` tail that is not valid SQL, as `check_source_query`.
pub fn check_order_limit(order_limit: &str) {
    if let Err(message) = parse(&format!("SELECT * FROM result {order_limit}")) {
        Error::Other(
            PgSqlErrorCode::ERRCODE_SYNTAX_ERROR,
            format!("the ORDER BY / LIMIT part is not valid SQL ({message}): {order_limit}"),
        )
        .raise()
    }
}

/// The number of statements in `sql`, or the parser's error message.
fn parse(sql: &str) -> Result<i32, String> {
    let Ok(text) = std::ffi::CString::new(sql) else {
        return Err("it contains a NUL character".into());
    };
    PgTryBuilder::new(|| {
        // SAFETY: raw_parser only reads the NUL-terminated text; an error longjmps
        // into the catch below, which turns it into a message.
        let statements = unsafe { pg_sys::raw_parser(text.as_ptr(), pg_sys::RawParseMode::RAW_PARSE_DEFAULT) };
        // SAFETY: a List returned by the parser, or NULL for an empty query.
        Ok(if statements.is_null() { 0 } else { unsafe { (*statements).length } })
    })
    .catch_others(|e| match e {
        pg_sys::panic::CaughtError::PostgresError(report) | pg_sys::panic::CaughtError::ErrorReport(report) => {
            Err(report.message().to_string())
        }
        other => other.rethrow(),
    })
    .execute()
}

/// The position and type of `col` among the columns of `source_query`, or an ERROR
/// naming the columns there are (`role` says which argument named it: "image", "label").
fn source_column(client: &SpiClient<'_>, source_query: &str, col: &str, role: &str) -> (usize, pg_sys::Oid) {
    check_source_query(source_query);
    let describe = format!("SELECT * FROM ({source_query}) AS image_search_source LIMIT 0");
    let columns = client.select(&describe, None, &[]).or_raise();
    let found = (1..=columns.columns().or_raise()).find(|&i| columns.column_name(i).ok().as_deref() == Some(col));
    let Some(index) = found else {
        let names: Vec<String> = (1..=columns.columns().or_raise())
            .filter_map(|i| columns.column_name(i).ok())
            .map(spi::quote_identifier)
            .collect();
        Error::Other(
            PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
            format!(
                "{role} column \"{col}\" is not a column of the source; pass {role}_col => one of: {}",
                names.join(", ")
            ),
        )
        .raise()
    };
    (index, columns.column_type_oid(index).or_raise().value())
}

/// Refuses a label column that `source_query` does not have (any type will do: it
/// is read as text).
pub fn check_label_column(client: &SpiClient<'_>, source_query: &str, label_col: &str) {
    source_column(client, source_query, label_col, "label");
}

/// The SQL expression that reads `image_col` of the rows of `source_query`
/// (aliased `image_search_source`) as text or bytea. varchar and char(n) are cast
/// to text; other types are refused before any work is done.
pub fn image_expression(client: &SpiClient<'_>, source_query: &str, image_col: &str) -> String {
    let (_, column_type) = source_column(client, source_query, image_col, "image");
    let column = format!("image_search_source.{}", spi::quote_identifier(image_col));
    match column_type {
        t if t == pg_sys::TEXTOID || t == pg_sys::BYTEAOID => column,
        t if t == pg_sys::VARCHAROID || t == pg_sys::BPCHAROID => format!("{column}::text"),
        _ => Error::Other(
            PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
            format!("image column \"{image_col}\" must be text (a server file path) or bytea (image bytes)"),
        )
        .raise(),
    }
}

/// The image in `column` of a row read through `image_expression`.
pub fn image_value(tuple: &spi::SpiHeapTupleData<'_>, column: usize, column_type: pg_sys::Oid) -> Option<ImageRef> {
    if column_type == pg_sys::BYTEAOID {
        tuple.get::<Vec<u8>>(column).ok().flatten().map(ImageRef::Bytes)
    } else {
        tuple.get::<String>(column).ok().flatten().map(ImageRef::Path)
    }
}

/// The column type of an image column in a batch (text or bytea).
pub fn image_type(rows: &SpiTupleTable<'_>, column: usize) -> pg_sys::Oid {
    rows.column_type_oid(column).map(|t| t.value()).unwrap_or(pg_sys::InvalidOid)
}

/// One row of a source query's images: its 1-based row number, the image
/// (`None` for NULL) and the second column read as text (a caption or a training
/// label; `None` when NULL or not asked for).
pub struct ImageRow {
    pub row: usize,
    pub image: Option<ImageRef>,
    pub text: Option<String>,
}

impl ImageRow {
    /// The row's caption: its text, or else the image path.
    pub fn caption(&self) -> String {
        self.text.clone().unwrap_or_else(|| match &self.image {
            Some(ImageRef::Path(p)) => p.clone(),
            _ => format!("row {}", self.row),
        })
    }
}

/// Runs `SELECT <image_col>, <text_col>::text FROM (<query>)` and hands the rows to
/// `each_chunk` `chunk_rows` at a time.
pub fn for_each_image_chunk(
    client: &SpiClient<'_>,
    source_query: &str,
    image_col: &str,
    text_col: Option<&str>,
    chunk_rows: usize,
    mut each_chunk: impl FnMut(Vec<ImageRow>),
) {
    let text = match text_col {
        Some(c) => format!("image_search_source.{}::text", spi::quote_identifier(c)),
        None => "NULL::text".to_string(),
    };
    let image = image_expression(client, source_query, image_col);
    let query = format!("SELECT {image}, {text} FROM ({source_query}) AS image_search_source");
    let mut batches = Batches::open(client, &query, &[], chunk_rows);
    let mut row = 0usize;
    while let Some(table) =
        batches.next_batch().unwrap_or_else(|e| crate::error::bad_data(format!("could not read the source query: {e}")))
    {
        let column_type = image_type(&table, 1);
        let mut chunk = Vec::with_capacity(table.len());
        for tuple in table {
            row += 1;
            let image = image_value(&tuple, 1, column_type);
            let text = tuple.get::<String>(2).ok().flatten();
            chunk.push(ImageRow { row, image, text });
        }
        each_chunk(chunk);
    }
}
