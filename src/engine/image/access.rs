//! Where images come from: a server file path (text) or the image bytes (bytea).
//!
//! Server files follow Postgres' rule for server-side COPY: superusers and roles
//! with the privileges of `pg_read_server_files` may read any path; everyone
//! else only files under `image_search.image_root` (a superuser-only setting),
//! checked after canonicalisation so `..` and symlinks cannot escape it.
//! bytea input is open to everyone.
use super::decode::{self, DecodeLimits, ImageError};
use super::Picture;
use std::path::{Path, PathBuf};

pub enum ImageRef {
    Path(String),
    Bytes(Vec<u8>),
}

/// Decoder messages sometimes end in a newline; an ERROR line should not.
fn message(e: &ImageError) -> String {
    e.to_string().trim_end().to_string()
}

/// Everything needed to read images for one role, captured on the backend's
/// thread (`crate::spi::rows::image_reader`) so that worker threads never call
/// into Postgres.
#[derive(Clone)]
pub struct ImageReader {
    root: Option<PathBuf>,
    may_read_server_files: bool,
    limits: DecodeLimits,
}

impl ImageReader {
    /// A reader for a role: `root` is image_search.image_root, and
    /// `may_read_server_files` whether the role may read any server path.
    pub fn new(root: Option<PathBuf>, may_read_server_files: bool, limits: DecodeLimits) -> ImageReader {
        ImageReader { root, may_read_server_files, limits }
    }

    /// The picture at full size.
    pub fn load(&self, image: &ImageRef) -> Result<Picture, String> {
        self.load_at_least(image, u32::MAX)
    }

    /// The picture for a consumer that shrinks it to a shorter side of
    /// `min_side` or less: large JPEGs come decoded at 1/8 scale when that
    /// still leaves `min_side` (`decode::decode_bytes_at_least`).
    pub fn load_at_least(&self, image: &ImageRef, min_side: u32) -> Result<Picture, String> {
        match image {
            ImageRef::Bytes(bytes) => decode::decode_bytes_at_least(bytes, decode::BYTEA_LABEL, &self.limits, min_side)
                .map_err(|e| message(&e)),
            ImageRef::Path(raw) => {
                let path = resolve_path(raw, self.root.as_deref(), self.may_read_server_files)?;
                decode::load_path_at_least(&path, &self.limits, min_side).map_err(|e| message(&e))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A private directory tree per test (tests run in parallel):
    /// base/root/sub/a.jpg, base/secret.jpg and base/root/link.jpg -> base/secret.jpg.
    fn tree() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().to_path_buf();
        let root = base.join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/a.jpg"), b"x").unwrap();
        std::fs::write(base.join("secret.jpg"), b"x").unwrap();
        let _ = std::os::unix::fs::symlink(base.join("secret.jpg"), root.join("link.jpg"));
        (dir, root)
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
