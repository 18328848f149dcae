//! image_search: train an image-embedding model and search images by image, in SQL.
//!
//! Modules by concern; the pure-Rust ones (no Postgres) are unit-tested with `cargo test`:
//! - `distance`, `image_input`, `augment`, `grid`, `tutorial_parser`, `onnx_model`: plain Rust
//! - `embedding`: the `image_search.embedding` vector type and its operators
//! - `settings`: GUCs; `onnx`: ONNX Runtime loading and sessions inside a backend
use pgrx::prelude::*;

::pgrx::pg_module_magic!(name, version);

mod augment;
mod convert;
mod csv_load;
mod display;
mod distance;
mod embedding;
mod encoder;
mod grid;
mod image_input;
mod image_source;
mod model_files;
mod models;
mod onnx;
mod onnx_model;
mod pg_tests;
mod search;
mod settings;
mod train;
mod tutorial;
pub mod tutorial_parser;

/// Raises a Postgres ERROR with the given SQLSTATE; never returns.
#[allow(unreachable_code)]
pub(crate) fn raise_error(code: PgSqlErrorCode, message: impl Into<String>) -> ! {
    let message: String = message.into();
    ereport!(ERROR, code, message);
    unreachable!()
}

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    settings::register();
}

#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        // The server runs as `postgres`, which may not be able to read the checkout;
        // scripts/test.sh then points this at a readable copy of tutorial_data.
        let root = std::env::var("IMAGE_SEARCH_TEST_ROOT").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
        vec![Box::leak(format!("image_search.image_root = '{root}'").into_boxed_str())]
    }
}
