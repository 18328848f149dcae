//! Where images come from: a server file path (text) or the image bytes (bytea).
//!
//! Server files follow Postgres' rule for server-side COPY: superusers and roles
//! with the privileges of `pg_read_server_files` may read any path; everyone
//! else only files under `image_search.image_root` (a superuser-only setting),
//! checked after canonicalisation so `..` and symlinks cannot escape it.
//! bytea input is open to everyone.
use crate::image_input::{self, DecodeLimits, Picture};
use crate::settings;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use std::path::{Path, PathBuf};

pub enum ImageRef {
    Path(String),
    Bytes(Vec<u8>),
}

/// Decoder messages sometimes end in a newline; an ERROR line should not.
fn message(e: &image_input::ImageError) -> String {
    e.to_string().trim_end().to_string()
}

/// Everything needed to read images, captured on the backend's thread so that
/// worker threads never call into Postgres.
#[derive(Clone)]
pub struct ImageReader {
    root: Option<PathBuf>,
    may_read_server_files: bool,
    limits: DecodeLimits,
}

/// Whether the current role may read any server file, as for server-side COPY.
pub fn may_read_server_files() -> bool {
    // SAFETY: plain catalog lookups on the backend's own thread.
    unsafe {
        pg_sys::superuser()
            || pg_sys::has_privs_of_role(pg_sys::GetUserId(), pg_sys::Oid::from(pg_sys::ROLE_PG_READ_SERVER_FILES))
    }
}

impl ImageReader {
    pub fn for_current_user() -> ImageReader {
        ImageReader {
            root: settings::string(&settings::IMAGE_ROOT).map(PathBuf::from),
            may_read_server_files: may_read_server_files(),
            limits: DecodeLimits { max_pixels: settings::MAX_IMAGE_PIXELS.get() as u64, ..DecodeLimits::default() },
        }
    }

    pub fn load(&self, image: &ImageRef) -> Result<Picture, String> {
        match image {
            ImageRef::Bytes(bytes) => {
                image_input::decode_bytes(bytes, image_input::BYTEA_LABEL, &self.limits).map_err(|e| message(&e))
            }
            ImageRef::Path(raw) => {
                let path = resolve_path(raw, self.root.as_deref(), self.may_read_server_files)?;
                image_input::load_path(&path, &self.limits).map_err(|e| message(&e))
            }
        }
    }
}

/// `path` with `.` and `..` folded away without touching the file system.
fn lexically_normal(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The file a path names, if the caller may read it. Relative paths resolve
/// against `root`; without `may_read_server_files` the canonical path must lie
/// under it, and a path outside gets "permission denied" whether or not the
/// file exists, so that the error does not reveal the server's files.
pub fn resolve_path(raw: &str, root: Option<&Path>, may_read_server_files: bool) -> Result<PathBuf, String> {
    if raw.is_empty() {
        return Err("image path is empty".into());
    }
    let given = Path::new(raw);
    let joined = match (given.is_absolute(), root) {
        (true, _) => given.to_path_buf(),
        (false, Some(root)) => root.join(given),
        (false, None) => return Err(format!("relative image path \"{raw}\" needs image_search.image_root to be set")),
    };
    let denied = || {
        format!(
            "permission denied to read image file \"{raw}\": only superusers and roles with privileges of \
             pg_read_server_files may read files outside image_search.image_root"
        )
    };
    let canonical_root = root.and_then(|r| r.canonicalize().ok());
    let under_root = |p: &Path| canonical_root.as_ref().is_some_and(|r| p.starts_with(r));
    let canonical = match joined.canonicalize() {
        Ok(c) => c,
        Err(_) if !may_read_server_files && !under_root(&lexically_normal(&joined)) => return Err(denied()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("image file \"{}\" does not exist", joined.display()))
        }
        Err(e) => return Err(format!("could not open image file \"{}\": {e}", joined.display())),
    };
    if may_read_server_files || under_root(&canonical) {
        Ok(canonical)
    } else {
        Err(denied())
    }
}

/// The SQL expression that reads `image_col` of the rows of `source_query`
/// (aliased `image_search_source`) as text or bytea. varchar and char(n) are cast
/// to text; other types are refused before any work is done.
pub fn image_expression(client: &SpiClient<'_>, source_query: &str, image_col: &str) -> String {
    let column = format!("image_search_source.{}", spi::quote_identifier(image_col));
    let describe = format!("SELECT {column} FROM ({source_query}) AS image_search_source LIMIT 0");
    let column_type = client
        .select(&describe, None, &[])
        .and_then(|t| t.column_type_oid(1))
        .map(|t| t.value())
        .unwrap_or_else(|e| crate::raise_error(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, e.to_string()));
    match column_type {
        t if t == pg_sys::TEXTOID || t == pg_sys::BYTEAOID => column,
        t if t == pg_sys::VARCHAROID || t == pg_sys::BPCHAROID => format!("{column}::text"),
        _ => crate::raise_error(
            PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
            format!("image column \"{image_col}\" must be text (a server file path) or bytea (image bytes)"),
        ),
    }
}

/// The image in `column` of a row read through `image_expression`.
pub fn image_value(
    tuple: &pgrx::spi::SpiHeapTupleData<'_>,
    column: usize,
    column_type: pg_sys::Oid,
) -> Option<ImageRef> {
    if column_type == pg_sys::BYTEAOID {
        tuple.get::<Vec<u8>>(column).ok().flatten().map(ImageRef::Bytes)
    } else {
        tuple.get::<String>(column).ok().flatten().map(ImageRef::Path)
    }
}

/// Runs `SELECT <image_col>, <caption> FROM (<query>)` and hands the rows to
/// `each_chunk` `chunk_rows` at a time, with 1-based row numbers; NULL images
/// are `None`. The caption is the caption column as text, or else the image path.
/// A cursor takes exactly one SELECT, so the query cannot smuggle in a second statement.
pub fn for_each_chunk_with_captions(
    client: &SpiClient<'_>,
    source_query: &str,
    image_col: &str,
    caption_col: Option<&str>,
    chunk_rows: usize,
    mut each_chunk: impl FnMut(Vec<(usize, Option<ImageRef>, String)>),
) {
    let caption = match caption_col {
        Some(c) => format!("image_search_source.{}::text", spi::quote_identifier(c)),
        None => "NULL::text".to_string(),
    };
    let image = image_expression(client, source_query, image_col);
    let query = format!("SELECT {image}, {caption} FROM ({source_query}) AS image_search_source");
    let mut cursor = client.open_cursor(query.as_str(), &[]);
    let mut row = 0usize;
    loop {
        let table = cursor.fetch(chunk_rows as i64).unwrap_or_else(|e| {
            crate::raise_error(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, format!("could not read the source query: {e}"))
        });
        if table.is_empty() {
            break;
        }
        let column_type = table.column_type_oid(1).map(|t| t.value()).unwrap_or(pg_sys::InvalidOid);
        let mut chunk = Vec::with_capacity(table.len());
        for tuple in table {
            row += 1;
            let image = image_value(&tuple, 1, column_type);
            let caption = tuple.get::<String>(2).ok().flatten().unwrap_or_else(|| match &image {
                Some(ImageRef::Path(p)) => p.clone(),
                _ => format!("row {row}"),
            });
            chunk.push((row, image, caption));
        }
        each_chunk(chunk);
        pgrx::check_for_interrupts!();
    }
}

/// `for_each_chunk_with_captions` without captions.
pub fn for_each_chunk(
    client: &SpiClient<'_>,
    source_query: &str,
    image_col: &str,
    chunk_rows: usize,
    mut each_chunk: impl FnMut(Vec<(usize, Option<ImageRef>)>),
) {
    for_each_chunk_with_captions(client, source_query, image_col, None, chunk_rows, |chunk| {
        each_chunk(chunk.into_iter().map(|(row, image, _)| (row, image)).collect())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A private directory tree per test (tests run in parallel):
    /// base/root/sub/a.jpg, base/secret.jpg and base/root/link.jpg -> base/secret.jpg.
    fn tree() -> (tempdir::Dir, PathBuf) {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let base = std::env::temp_dir().join(format!("image_source_test_{}_{n}", std::process::id()));
        let root = base.join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/a.jpg"), b"x").unwrap();
        std::fs::write(base.join("secret.jpg"), b"x").unwrap();
        let _ = std::os::unix::fs::symlink(base.join("secret.jpg"), root.join("link.jpg"));
        (tempdir::Dir(base), root)
    }

    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn relative_paths_resolve_under_the_root() {
        let (_guard, root) = tree();
        let p = resolve_path("sub/a.jpg", Some(&root), false).unwrap();
        assert!(p.ends_with("root/sub/a.jpg"));
    }

    #[test]
    fn dot_dot_and_symlinks_cannot_escape_the_root() {
        let (_guard, root) = tree();
        for raw in ["../secret.jpg", "sub/../../secret.jpg", "link.jpg"] {
            let err = resolve_path(raw, Some(&root), false).unwrap_err();
            assert!(err.starts_with("permission denied"), "{raw}: {err}");
            assert!(resolve_path(raw, Some(&root), true).is_ok(), "{raw} for a privileged role");
        }
        let absolute = root.parent().unwrap().join("secret.jpg");
        assert!(resolve_path(absolute.to_str().unwrap(), Some(&root), false).is_err());
    }

    #[test]
    fn paths_outside_the_root_are_denied_whether_or_not_they_exist() {
        let (_guard, root) = tree();
        for raw in ["/no/such/file.jpg", "../no_such.jpg", "/root/.bashrc"] {
            let err = resolve_path(raw, Some(&root), false).unwrap_err();
            assert!(err.starts_with("permission denied"), "{raw}: {err}");
        }
        let inside = resolve_path("sub/missing.jpg", Some(&root), false).unwrap_err();
        assert!(inside.contains("does not exist"), "{inside}");
    }

    #[test]
    fn missing_empty_and_rootless_paths_are_named() {
        let (_guard, root) = tree();
        assert_eq!(resolve_path("", Some(&root), true).unwrap_err(), "image path is empty");
        assert!(resolve_path("nope.jpg", Some(&root), true).unwrap_err().contains("does not exist"));
        assert!(resolve_path("a.jpg", None, true).unwrap_err().contains("image_search.image_root"));
    }
}
