//! `import_model`: stores any ONNX image encoder as a model (algorithm 'onnx'),
//! from its bytes or from a server file. Everything is checked before the model
//! is stored: the size (image_search.max_import_bytes), the file itself
//! (`engine::onnx::inspect`: no external data, no custom operator domains), the
//! options against the declared input and output (`engine::onnx::imported::plan`),
//! and test runs in ONNX Runtime (`Encoder::validate`).
use crate::embedding::text::MAX_DIM;
use crate::engine::image::access::resolve_path;
use crate::engine::onnx::imported::{self, ImportOptions};
use crate::engine::onnx::inspect::{self, Refusal};
use crate::error::{invalid, Error};
use crate::model::catalog::{self, NewModel};
use crate::model::runtime as onnxruntime;
use crate::settings;
use crate::spi::rows::may_read_server_files;
use pgrx::prelude::*;

/// Imports an ONNX image encoder given as bytes.
// pgrx reads the result columns' names from name!() in the signature, so no type alias.
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
#[pg_extern(name = "import_model", volatile, parallel_unsafe, requires = ["models_catalog"])]
fn import_model_bytes_v2(
    model_name: &str,
    onnx: &[u8],
    image_size: default!(Option<i32>, "NULL"),
    resize: default!(&str, "'center_crop'"),
    channels: default!(Option<i32>, "NULL"),
    channel_order: default!(&str, "'RGB'"),
    value_range: default!(&str, "'0..1'"),
    mean: default!(Option<Vec<Option<f64>>>, "NULL"),
    std: default!(Option<Vec<Option<f64>>>, "NULL"),
    layout: default!(&str, "'NCHW'"),
    output_name: default!(Option<&str>, "NULL"),
    pooling: default!(&str, "'average'"),
    image_width: default!(Option<i32>, "NULL"),
    crop_fraction: default!(Option<f64>, 1.0),
    overwrite: default!(bool, false),
) -> TableIterator<
    'static,
    (
        name!(model_name, String),
        name!(embedding_dim, i32),
        name!(image_size, i32),
        name!(image_width, i32),
        name!(channels, i32),
        name!(batch_size, Option<i32>),
        name!(embedding_column, String),
    ),
> {
    let options = options(
        image_size,
        image_width,
        resize,
        crop_fraction,
        channels,
        channel_order,
        value_range,
        mean,
        std,
        layout,
        output_name,
        pooling,
    );
    TableIterator::once(import_bytes(model_name, onnx, &options, overwrite))
}

/// Imports an ONNX image encoder from a server file: relative paths resolve
/// against image_search.image_root; other files need superuser or the
/// privileges of pg_read_server_files (as for image files and load_csv).
// pgrx reads the result columns' names from name!() in the signature, so no type alias.
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
#[pg_extern(name = "import_model", volatile, parallel_unsafe, requires = ["models_catalog"])]
fn import_model_path_v2(
    model_name: &str,
    path: &str,
    image_size: default!(Option<i32>, "NULL"),
    resize: default!(&str, "'center_crop'"),
    channels: default!(Option<i32>, "NULL"),
    channel_order: default!(&str, "'RGB'"),
    value_range: default!(&str, "'0..1'"),
    mean: default!(Option<Vec<Option<f64>>>, "NULL"),
    std: default!(Option<Vec<Option<f64>>>, "NULL"),
    layout: default!(&str, "'NCHW'"),
    output_name: default!(Option<&str>, "NULL"),
    pooling: default!(&str, "'average'"),
    image_width: default!(Option<i32>, "NULL"),
    crop_fraction: default!(Option<f64>, 1.0),
    overwrite: default!(bool, false),
) -> TableIterator<
    'static,
    (
        name!(model_name, String),
        name!(embedding_dim, i32),
        name!(image_size, i32),
        name!(image_width, i32),
        name!(channels, i32),
        name!(batch_size, Option<i32>),
        name!(embedding_column, String),
    ),
> {
    let options = options(
        image_size,
        image_width,
        resize,
        crop_fraction,
        channels,
        channel_order,
        value_range,
        mean,
        std,
        layout,
        output_name,
        pooling,
    );
    TableIterator::once(import_path(model_name, path, &options, overwrite))
}

/// import_model (bytes) as 0.4.0 declares it, without image_width and
/// crop_fraction: a database whose extension is not yet updated (ALTER
/// EXTENSION UPDATE) calls this symbol, so it must keep working with the new library.
#[allow(clippy::too_many_arguments)]
#[pg_extern(sql = false, volatile, parallel_unsafe)]
fn import_model_bytes(
    model_name: &str,
    onnx: &[u8],
    image_size: Option<i32>,
    resize: &str,
    channels: Option<i32>,
    channel_order: &str,
    value_range: &str,
    mean: Option<Vec<Option<f64>>>,
    std: Option<Vec<Option<f64>>>,
    layout: &str,
    output_name: Option<&str>,
    pooling: &str,
    overwrite: bool,
) -> TableIterator<
    'static,
    (
        name!(model_name, String),
        name!(embedding_dim, i32),
        name!(image_size, i32),
        name!(channels, i32),
        name!(batch_size, Option<i32>),
        name!(embedding_column, String),
    ),
> {
    let options = options(
        image_size,
        None,
        resize,
        Some(1.0),
        channels,
        channel_order,
        value_range,
        mean,
        std,
        layout,
        output_name,
        pooling,
    );
    TableIterator::once(without_width(import_bytes(model_name, onnx, &options, overwrite)))
}

/// import_model (server file) as 0.4.0 declares it; see `import_model_bytes`.
#[allow(clippy::too_many_arguments)]
#[pg_extern(sql = false, volatile, parallel_unsafe)]
fn import_model_path(
    model_name: &str,
    path: &str,
    image_size: Option<i32>,
    resize: &str,
    channels: Option<i32>,
    channel_order: &str,
    value_range: &str,
    mean: Option<Vec<Option<f64>>>,
    std: Option<Vec<Option<f64>>>,
    layout: &str,
    output_name: Option<&str>,
    pooling: &str,
    overwrite: bool,
) -> TableIterator<
    'static,
    (
        name!(model_name, String),
        name!(embedding_dim, i32),
        name!(image_size, i32),
        name!(channels, i32),
        name!(batch_size, Option<i32>),
        name!(embedding_column, String),
    ),
> {
    let options = options(
        image_size,
        None,
        resize,
        Some(1.0),
        channels,
        channel_order,
        value_range,
        mean,
        std,
        layout,
        output_name,
        pooling,
    );
    TableIterator::once(without_width(import_path(model_name, path, &options, overwrite)))
}

fn without_width(row: ImportRow) -> (String, i32, i32, i32, Option<i32>, String) {
    let (name, dim, size, _width, channels, batch, column) = row;
    (name, dim, size, channels, batch, column)
}

fn import_bytes(model_name: &str, onnx: &[u8], options: &ImportOptions, overwrite: bool) -> ImportRow {
    check_size(onnx.len() as u64, "the ONNX model");
    import(model_name, onnx, None, options, overwrite)
}

fn import_path(model_name: &str, path: &str, options: &ImportOptions, overwrite: bool) -> ImportRow {
    let root = settings::string(&settings::IMAGE_ROOT).map(std::path::PathBuf::from);
    let file = resolve_path(path, root.as_deref(), may_read_server_files()).unwrap_or_else(|e| {
        let message = e.replace("image file", "file").replace("image path", "path");
        if e.starts_with("permission denied") {
            Error::PermissionDenied(message).raise()
        } else {
            Error::Other(PgSqlErrorCode::ERRCODE_UNDEFINED_FILE, message).raise()
        }
    });
    let could_not_read = |e: std::io::Error| {
        Error::Other(PgSqlErrorCode::ERRCODE_UNDEFINED_FILE, format!("could not read \"{path}\": {e}"))
    };
    let length = std::fs::metadata(&file).map_err(could_not_read).unwrap_or_else(|e| e.raise()).len();
    check_size(length, &format!("\"{path}\""));
    let bytes = std::fs::read(&file).map_err(could_not_read).unwrap_or_else(|e| e.raise());
    check_size(bytes.len() as u64, &format!("\"{path}\""));
    import(model_name, &bytes, Some(path), options, overwrite)
}

#[allow(clippy::too_many_arguments)]
fn options(
    image_size: Option<i32>,
    image_width: Option<i32>,
    resize: &str,
    crop_fraction: Option<f64>,
    channels: Option<i32>,
    channel_order: &str,
    value_range: &str,
    mean: Option<Vec<Option<f64>>>,
    std: Option<Vec<Option<f64>>>,
    layout: &str,
    output_name: Option<&str>,
    pooling: &str,
) -> ImportOptions {
    let numbers = |name: &str, values: Option<Vec<Option<f64>>>| {
        values.map(|v| {
            if v.is_empty() {
                invalid(format!("{name} must have 1 value or one per channel, not none"));
            }
            v.into_iter()
                .map(|x| x.unwrap_or_else(|| invalid(format!("{name} cannot contain NULL"))))
                .collect::<Vec<f64>>()
        })
    };
    ImportOptions {
        image_size,
        image_width,
        resize: resize.to_string(),
        crop_fraction: crop_fraction
            .unwrap_or_else(|| invalid("crop_fraction cannot be NULL; leave it out to keep the whole picture (1)")),
        channels,
        channel_order: channel_order.to_string(),
        value_range: value_range.to_string(),
        mean: numbers("mean", mean),
        std: numbers("std", std),
        layout: layout.to_string(),
        output_name: output_name.map(str::to_string),
        pooling: pooling.to_string(),
    }
}

fn check_size(bytes: u64, what: &str) {
    let limit = settings::MAX_IMPORT_BYTES.get() as u64;
    if bytes > limit {
        Error::Other(
            PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            format!(
                "{what} is {bytes} bytes, more than image_search.max_import_bytes ({limit} bytes); a superuser can \
                 raise that setting"
            ),
        )
        .raise();
    }
}

/// One result row: the model, its embedding dimension, input height and width,
/// channels, batch size (NULL: any) and the column `convert` adds.
type ImportRow = (String, i32, i32, i32, i32, Option<i32>, String);

fn import(model_name: &str, onnx: &[u8], path: Option<&str>, options: &ImportOptions, overwrite: bool) -> ImportRow {
    let started = std::time::Instant::now();
    catalog::claim_name(model_name, overwrite);
    let signature = inspect::inspect(onnx).unwrap_or_else(|refusal| match refusal {
        Refusal::NotOnnx(m) => Error::BadData(m).raise(),
        Refusal::ExternalData(m) => Error::PermissionDenied(m).raise(),
        Refusal::CustomDomain(m) => Error::NotSupported(m).raise(),
    });
    let encoder = imported::plan(&signature, options).unwrap_or_else(|e| invalid(e));
    let mut session = onnxruntime::session(onnx).unwrap_or_else(|e| e.raise());
    let dim = encoder.validate(&mut session).unwrap_or_else(|e| Error::BadData(e).raise());
    if dim > MAX_DIM {
        Error::BadData(format!(
            "output \"{}\" gives {dim} values per image; an embedding has at most {MAX_DIM}",
            encoder.config.output
        ))
        .raise();
    }
    let (image_size, channels) = (encoder.preprocessing.height, encoder.preprocessing.channels);
    catalog::store(NewModel {
        name: model_name,
        algorithm: ALGORITHM,
        architecture: ARCHITECTURE,
        channels,
        image_size,
        embedding_dim: dim,
        options: serde_json::json!({ "imported_from": path, "onnx_bytes": onnx.len() }),
        encoder_onnx: onnx,
        epoch_log: serde_json::json!([]),
        rows_used: 0,
        seconds: started.elapsed().as_secs_f64(),
        encoder_config: &encoder.config,
    });
    (
        model_name.to_string(),
        dim as i32,
        image_size as i32,
        encoder.preprocessing.width as i32,
        channels as i32,
        encoder.config.batch_size.map(|b| b as i32),
        catalog::embedding_column(model_name, ALGORITHM),
    )
}

/// The catalog's `algorithm` of imported models; also the suffix of their embedding column.
pub const ALGORITHM: &str = "onnx";
/// The catalog's `architecture` of imported models.
pub const ARCHITECTURE: &str = "imported";
