//! image_search: train an image-embedding model and search images by image, in SQL.
//!
//! The plain-Rust engine (no Postgres; unit-tested with `cargo test`):
//! - `engine::image` — `access` (which server files a role may read), `decode` (with
//!   `jpeg_dc` and `jpeg_bits`: large JPEGs at 1/8 scale from their DC coefficients),
//!   `resize`, `preprocess` (imported models' input tensors), `augment` (SimCLR
//!   views) with `photometric` (jitter, blur, noise), `distort` (elastic warp,
//!   frames, stroke width), `grid` (terminal and PNG result grids)
//! - `engine::onnx` — `runtime` (loading ONNX Runtime, sessions), `architectures`
//!   (the generated graphs compiled in), `encoder_file` (standalone encoder ONNX),
//!   `wire` and `inspect` (reading and vetting an ONNX file), `imported` (running
//!   any imported encoder)
//! - `engine::train` — the training loop, and `engine::train::step` one step (on every
//!   core, one slice of the batch each); `engine::gradient_descriptor` — the
//!   oriented-gradient descriptor grayscale embeddings carry, and its PCA fit;
//!   `engine::neighbour_positives` — training pairs of an image and a descriptor neighbour;
//!   `engine::label_votes` — the label shares of an image's nearest training images, which
//!   labelled models' embeddings end with;
//!   `engine::distance` — vector kernels;
//!   `engine::ann` — `kmeans` and `lists` (sampling, probe order) for the `ann` index;
//!   `engine::tutorial` — the tutorial dialect: `lexer` (sqlparser's tokenizer) and `grammar`
//! - unit tests of the larger engine files sit beside them in `*_tests.rs` modules
//!
//! The Postgres-facing layer (thin `#[pg_extern]`s over the engine):
//! - `embedding` — the `embedding` type: `text` (with `shortest`, float4out's text
//!   form), `in_place` (arguments read in the page), `io`, `operators` with
//!   `fast_calls` (their hand-written fmgr entry points) and `row_prefetch`, `ordering`
//!   (btree, hash), `arithmetic`, `casts`, `quantize`, `aggregate`
//! - `model` — `catalog` (the models table, typed rows, drop/export), `build`
//!   (`build_model`), `build_options` (its options, checked in plain Rust),
//!   `training_images`, `import` (`import_model`), `encoder` (`embed_image`),
//!   `runtime` (ONNX Runtime settings, `onnxruntime_info`)
//! - `columns` — `convert`, `row_identity` (which row an embedding belongs to),
//!   `keep_current` (its triggers) and `search` (`search_image`)
//! - `tutorial` — `run`, `csv_load` (`load_csv`, read with the `csv` crate), `display`
//!   (`print_images`, `contact_sheet`)
//! - `spi::rows` — the batch cursor and image columns of any query
//! - `error` — one error type mapped to SQLSTATEs; `settings` — the GUCs
//! - `backend_tests` — `#[pg_test]`s that need a running backend
//! - `index` — the `ann` index access method (IVF), a file a phase: `handler`, `options`,
//!   `pages` (layout, WAL), `build`, `insert`, `scan`, `vacuum`, `reuse` (room VACUUM
//!   freed, found again by inserts), `cost`
use pgrx::prelude::*;

::pgrx::pg_module_magic!(name, version);

// COMMENT ON every user-facing object, after everything else exists.
::pgrx::extension_sql_file!("comments.sql", name = "comments", finalize);

mod backend_tests;
mod columns;
mod embedding;
pub mod engine;
mod error;
mod index;
mod model;
mod settings;
mod spi;
mod tutorial;

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    settings::register();
    index::register();
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
