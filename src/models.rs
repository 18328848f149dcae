//! Models as rows of `image_search.models`: transactional, pg_dump-able,
//! replicated. `build_model` trains one from any SELECT; the rest list, drop
//! and export them.
use crate::augment::AugmentOptions;
use crate::image_input::{shrink, Picture};
use crate::image_source::{for_each_chunk, ImageReader, ImageRef};
use crate::model_files::{self, MIN_IMAGE_SIZE};
use crate::train::{self, EpochStats, Progress, TrainConfig, Trainer};
use crate::{onnx, raise_error};
use pgrx::prelude::*;
use pgrx::JsonB;
use rayon::prelude::*;
use std::time::Instant;

extension_sql!(
    r#"
CREATE SEQUENCE models_build_id_seq;
CREATE TABLE models (
    name           text PRIMARY KEY CHECK (name !~ '^\s' AND name <> '' AND octet_length(name) <= 43),
    algorithm      text NOT NULL,
    architecture   text NOT NULL,
    channels       integer NOT NULL,
    image_size     integer NOT NULL,
    embedding_dim  integer NOT NULL,
    options        jsonb NOT NULL,
    encoder_onnx   bytea NOT NULL,
    epoch_log      jsonb NOT NULL,
    rows_used      bigint NOT NULL,
    train_seconds  double precision NOT NULL,
    build_id       bigint NOT NULL DEFAULT nextval('models_build_id_seq'),
    created_by     name NOT NULL DEFAULT current_user,
    created_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE models IS 'Trained image_search models; encoder_onnx is a standalone ONNX encoder with its trained weights';
SELECT pg_catalog.pg_extension_config_dump('models', '');
SELECT pg_catalog.pg_extension_config_dump('models_build_id_seq', '');

CREATE VIEW model_list WITH (security_invoker = true) AS
SELECT name, algorithm, architecture, channels, image_size, embedding_dim, rows_used,
       jsonb_array_length(epoch_log) AS epochs,
       round((epoch_log -> -1 ->> 'loss')::numeric, 4) AS final_loss,
       round(train_seconds::numeric, 2) AS train_seconds,
       pg_size_pretty(length(encoder_onnx)::bigint) AS encoder_size,
       created_by, created_at,
       round((epoch_log -> -1 ->> 'images_per_second')::numeric) AS images_per_second
FROM models ORDER BY name;
GRANT SELECT ON models, model_list TO PUBLIC;
"#,
    name = "models_catalog"
);

const BATCH_MIN: usize = 2;

/// What the caller asked for, before it is checked against the data.
struct BuildRequest {
    max_epochs: i32,
    batch_size: i32,
    learning_rate: f64,
    temperature: f64,
    weight_decay: f64,
    image_size: Option<i32>,
    channels: Option<i32>,
    flip: Option<bool>,
    color_jitter: Option<bool>,
    augment: Option<JsonB>,
}

fn invalid(message: impl Into<String>) -> ! {
    raise_error(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, message)
}

fn check_request(r: &BuildRequest) {
    if r.max_epochs < 1 {
        invalid(format!("max_epochs must be at least 1, not {}", r.max_epochs));
    }
    if r.batch_size < BATCH_MIN as i32 {
        invalid(format!(
            "batch_size must be at least {BATCH_MIN} (contrastive training compares pairs), not {}",
            r.batch_size
        ));
    }
    if !(r.learning_rate.is_finite() && r.learning_rate > 0.0) {
        invalid(format!("learning_rate must be a positive number, not {}", r.learning_rate));
    }
    if !(r.temperature.is_finite() && r.temperature > 0.0) {
        invalid(format!("temperature must be a positive number, not {}", r.temperature));
    }
    if !(r.weight_decay.is_finite() && r.weight_decay >= 0.0) {
        invalid(format!("weight_decay must be zero or positive, not {}", r.weight_decay));
    }
    if let Some(size) = r.image_size {
        if size < MIN_IMAGE_SIZE as i32 || size > 512 {
            invalid(format!("image_size must be between {MIN_IMAGE_SIZE} and 512, not {size}"));
        }
    }
    if let Some(c) = r.channels {
        if c != 1 && c != 3 {
            invalid(format!("channels must be 1 (grayscale) or 3 (colour), not {c}"));
        }
    }
}

/// Defaults depend on the data: grayscale images are not flipped or colour-jittered.
fn augment_options(r: &BuildRequest, channels: u8) -> AugmentOptions {
    let mut opts = if channels == 1 { AugmentOptions::for_grayscale() } else { AugmentOptions::for_color() };
    if let Some(flip) = r.flip {
        opts.flip = flip;
    }
    if r.color_jitter == Some(false) {
        opts.color_jitter_prob = 0.0;
    } else if r.color_jitter == Some(true) && channels == 3 && opts.color_jitter_prob == 0.0 {
        opts.color_jitter_prob = AugmentOptions::for_color().color_jitter_prob;
    }
    if let Some(JsonB(overrides)) = &r.augment {
        let mut merged = serde_json::to_value(&opts).unwrap();
        let Some(fields) = overrides.as_object() else { invalid("augment must be a JSON object") };
        for (key, value) in fields {
            if merged.get(key).is_none() {
                let valid: Vec<String> = merged.as_object().unwrap().keys().cloned().collect();
                invalid(format!("unknown augment option \"{key}\"; valid options are: {}", valid.join(", ")));
            }
            merged[key] = value.clone();
        }
        opts = serde_json::from_value(merged).unwrap_or_else(|e| invalid(format!("invalid augment options: {e}")));
    }
    opts
}

/// The training images: all in memory, or, when they would not fit in
/// image_search.train_cache_mb, read again from the source query every epoch.
enum TrainingImages {
    Cached(Vec<Picture>),
    Streamed { usable: usize, any_colour: bool },
}

/// Decodes the images of one chunk in parallel, shrunk for cheap augmentation;
/// an unreadable image fails the build and names its row.
fn decode_chunk(reader: &ImageReader, chunk: Vec<(usize, Option<ImageRef>)>, base_side: u32) -> Vec<Picture> {
    let decoded: Vec<(usize, Result<Picture, String>)> = chunk
        .par_iter()
        .filter_map(|(row, image)| image.as_ref().map(|i| (*row, i)))
        .map(|(row, image)| (row, reader.load(image).map(|p| shrink(&p, base_side))))
        .collect();
    decoded
        .into_iter()
        .map(|(row, picture)| {
            picture.unwrap_or_else(|e| {
                raise_error(PgSqlErrorCode::ERRCODE_DATA_EXCEPTION, format!("row {row} of the source query: {e}"))
            })
        })
        .collect()
}

/// Reads and checks every image of the source query once, keeping them while
/// they fit in image_search.train_cache_mb. Returns them and the row count.
fn load_training_images(source_query: &str, image_col: &str, base_side: u32) -> (TrainingImages, usize) {
    let reader = ImageReader::for_current_user();
    let cache_limit = crate::settings::TRAIN_CACHE_MB.get() as usize * 1024 * 1024;
    let (mut pictures, mut cached_bytes, mut rows) = (Vec::new(), 0usize, 0usize);
    let (mut usable, mut any_colour, mut streamed) = (0usize, false, false);
    Spi::connect(|client| {
        for_each_chunk(&client, source_query, image_col, 512, |chunk| {
            rows += chunk.len();
            for picture in decode_chunk(&reader, chunk, base_side) {
                usable += 1;
                any_colour |= picture.channels == 3;
                cached_bytes += picture.pixels.len();
                streamed |= cached_bytes > cache_limit;
                if !streamed {
                    pictures.push(picture);
                }
            }
            if streamed {
                pictures = Vec::new();
            }
        });
    });
    if streamed {
        notice!(
            "the decoded training images need more than image_search.train_cache_mb = {} MB; \
             they will be read from the source query again in every epoch",
            cache_limit / (1024 * 1024)
        );
        (TrainingImages::Streamed { usable, any_colour }, rows)
    } else {
        train::sort_by_content(&mut pictures);
        (TrainingImages::Cached(pictures), rows)
    }
}

/// Training when the images do not fit in memory: every epoch reads the source
/// query again and trains on windows of a few thousand images, each shuffled.
/// Memory is bounded by the window, not the table. Unlike cached training, the
/// windows follow the query's row order, so a streamed build is reproducible only
/// when the source query returns its rows in a fixed order (an ORDER BY).
fn train_streamed(
    trainer: &mut Trainer<'_>,
    config: &TrainConfig,
    source_query: &str,
    image_col: &str,
    base_side: u32,
    on_epoch: impl Fn(&EpochStats),
) -> Vec<EpochStats> {
    let reader = ImageReader::for_current_user();
    let window_size = config.batch_size * 16;
    let mut interrupted = || {
        pgrx::check_for_interrupts!();
    };
    let mut train_window = |trainer: &mut Trainer<'_>, window: &[Picture], epoch: u32, progress: &mut Progress| {
        let first_step = progress.steps();
        let batches = train::epoch_batches(window.len(), config.batch_size, config.seed ^ first_step as u64, epoch);
        *progress += trainer
            .run_batches(window, &batches, epoch, first_step, &mut interrupted)
            .unwrap_or_else(|e| raise_error(PgSqlErrorCode::ERRCODE_EXTERNAL_ROUTINE_EXCEPTION, e));
    };
    let mut epochs = Vec::new();
    for epoch in 1..=config.max_epochs {
        let epoch_start = Instant::now();
        let mut progress = Progress::default();
        let mut window = Vec::new();
        Spi::connect(|client| {
            for_each_chunk(&client, source_query, image_col, 512, |chunk| {
                window.extend(decode_chunk(&reader, chunk, base_side));
                if window.len() >= window_size {
                    train_window(trainer, &window, epoch, &mut progress);
                    window.clear();
                }
            });
        });
        train_window(trainer, &window, epoch, &mut progress);
        let stats = trainer.epoch_stats(epoch, progress, epoch_start);
        on_epoch(&stats);
        epochs.push(stats);
    }
    epochs
}

/// Fails before training, not after, when the caller could not store the model.
fn check_may_store_models() {
    let allowed = Spi::get_one::<bool>(
        "SELECT has_table_privilege('image_search.models', 'INSERT, DELETE')
            AND has_sequence_privilege('image_search.models_build_id_seq', 'USAGE')",
    )
    .ok()
    .flatten()
    .unwrap_or(false);
    if !allowed {
        raise_error(
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            "permission denied to build models: needs INSERT and DELETE on image_search.models \
             and USAGE on image_search.models_build_id_seq",
        );
    }
}

fn model_exists(name: &str) -> bool {
    Spi::get_one_with_args::<bool>("SELECT EXISTS (SELECT 1 FROM image_search.models WHERE name = $1)", &[name.into()])
        .unwrap_or(Some(false))
        .unwrap_or(false)
}

#[allow(clippy::too_many_arguments)]
#[pg_extern(volatile, parallel_unsafe, requires = ["models_catalog"])]
fn build_model(
    model_name: &str,
    source_query: &str,
    image_col: default!(&str, "'image_path'"),
    max_epochs: default!(i32, 5),
    batch_size: default!(i32, 32),
    learning_rate: default!(f64, 0.003),
    temperature: default!(f64, 0.1),
    weight_decay: default!(f64, 0.0001),
    image_size: default!(Option<i32>, "NULL"),
    channels: default!(Option<i32>, "NULL"),
    seed: default!(i64, 42),
    flip: default!(Option<bool>, "NULL"),
    color_jitter: default!(Option<bool>, "NULL"),
    augment: default!(Option<JsonB>, "NULL"),
    overwrite: default!(bool, false),
) -> TableIterator<
    'static,
    (
        name!(model_name, String),
        name!(epochs, i32),
        name!(final_loss, f64),
        name!(seconds, f64),
        name!(rows_used, i64),
        name!(images_per_second, f64),
    ),
> {
    let request = BuildRequest {
        max_epochs,
        batch_size,
        learning_rate,
        temperature,
        weight_decay,
        image_size,
        channels,
        flip,
        color_jitter,
        augment,
    };
    check_request(&request);
    // Validates the augment overrides now, before any image is read; the real
    // options depend on the channel count found in the data.
    augment_options(&request, 1);
    // 43 bytes leave room for the column names derived from it,
    // `<model>_simclr_similarity99`, within Postgres' 63-byte identifiers.
    if model_name.trim().is_empty() || model_name.len() > 43 || model_name.starts_with(char::is_whitespace) {
        invalid("model_name must be 1 to 43 bytes long and not start with white space");
    }
    if source_query.trim().is_empty() {
        invalid("source_query is empty; give a SELECT that returns the training images");
    }
    // Builds of the same name queue here instead of racing to the INSERT: the
    // second sees the first's model once it commits.
    Spi::run_with_args("SELECT pg_advisory_xact_lock(hashtext('image_search.model:' || $1))", &[model_name.into()])
        .unwrap_or_else(|e| raise_error(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, e.to_string()));
    check_may_store_models();
    if model_exists(model_name) && !overwrite {
        raise_error(
            PgSqlErrorCode::ERRCODE_DUPLICATE_OBJECT,
            format!("model \"{model_name}\" already exists; pass overwrite => true to replace it"),
        );
    }
    let started = std::time::Instant::now();
    // Cached pictures keep twice the training size, so crops keep detail.
    let base_side = image_size.map_or(64, |s| s as u32 * 2);
    let (images, rows) = load_training_images(source_query, image_col, base_side);
    let (usable, any_colour) = match &images {
        TrainingImages::Cached(p) => (p.len(), p.iter().any(|p| p.channels == 3)),
        TrainingImages::Streamed { usable, any_colour } => (*usable, *any_colour),
    };
    if usable < BATCH_MIN {
        invalid(format!(
            "the source query gave {usable} usable image(s) in {rows} row(s); contrastive training needs at least {BATCH_MIN}"
        ));
    }
    if batch_size as usize > usable {
        invalid(format!(
            "batch_size {batch_size} is larger than the {usable} usable image(s) of the source query; \
             pass a batch_size of at most {usable}"
        ));
    }
    let channels = channels.map(|c| c as u8).unwrap_or(if any_colour { 3 } else { 1 });
    let image_size = image_size.map(|s| s as u32).unwrap_or(if channels == 1 { 28 } else { 32 });
    let config = TrainConfig {
        max_epochs: max_epochs as u32,
        batch_size: batch_size as usize,
        learning_rate: learning_rate as f32,
        temperature: temperature as f32,
        weight_decay: weight_decay as f32,
        image_size,
        channels,
        seed: seed as u64,
        augment: augment_options(&request, channels),
    };
    let arch = model_files::simclr_cnn(channels);
    let session = onnx::session(arch.train_step, onnx::Threads::Spin)
        .unwrap_or_else(|e| raise_error(PgSqlErrorCode::ERRCODE_EXTERNAL_ROUTINE_EXCEPTION, e));
    let notice_epoch = |s: &EpochStats| {
        notice!(
            "epoch {}/{}: loss {:.4}, {:.0} images/s ({:.0} in the train step), {:.2} s elapsed",
            s.epoch,
            config.max_epochs,
            s.loss,
            s.images_per_second,
            s.step_images_per_second,
            s.seconds
        )
    };
    let mut trainer = Trainer::new(arch, session, &config);
    let epochs = match &images {
        TrainingImages::Cached(pictures) => train::train(
            &mut trainer,
            pictures,
            &config,
            || {
                pgrx::check_for_interrupts!();
            },
            notice_epoch,
        )
        .unwrap_or_else(|e| raise_error(PgSqlErrorCode::ERRCODE_EXTERNAL_ROUTINE_EXCEPTION, e)),
        TrainingImages::Streamed { .. } => {
            train_streamed(&mut trainer, &config, source_query, image_col, base_side, notice_epoch)
        }
    };
    let encoder_onnx = trainer.encoder_onnx();
    let seconds = started.elapsed().as_secs_f64();
    let last = epochs.last().cloned().expect("at least one epoch");
    store_model(model_name, arch.name, &config, image_col, source_query, &encoder_onnx, &epochs, usable, seconds);
    let ips = (usable * epochs.len()) as f64 / last.seconds.max(1e-9);
    TableIterator::once((model_name.to_string(), epochs.len() as i32, last.loss as f64, seconds, usable as i64, ips))
}

#[allow(clippy::too_many_arguments)]
fn store_model(
    name: &str,
    architecture: &str,
    config: &TrainConfig,
    image_col: &str,
    source_query: &str,
    encoder_onnx: &[u8],
    epochs: &[EpochStats],
    rows_used: usize,
    seconds: f64,
) {
    let options = serde_json::json!({
        "training": config,
        "image_col": image_col,
        "source_query": source_query,
    });
    Spi::connect_mut(|client| {
        client
            .update("DELETE FROM image_search.models WHERE name = $1", None, &[name.into()])
            .unwrap_or_else(|e| raise_error(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, e.to_string()));
        client
            .update(
                "INSERT INTO image_search.models (name, algorithm, architecture, channels, image_size, embedding_dim,
                     options, encoder_onnx, epoch_log, rows_used, train_seconds)
                 VALUES ($1, 'simclr', $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                None,
                &[
                    name.into(),
                    architecture.into(),
                    (config.channels as i32).into(),
                    (config.image_size as i32).into(),
                    (model_files::EMBEDDING_DIM as i32).into(),
                    JsonB(options).into(),
                    encoder_onnx.into(),
                    JsonB(serde_json::to_value(epochs).unwrap()).into(),
                    (rows_used as i64).into(),
                    seconds.into(),
                ],
            )
            .unwrap_or_else(|e| raise_error(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, e.to_string()));
    });
}

#[pg_extern(volatile, requires = ["models_catalog"])]
fn drop_model(model_name: &str, if_exists: default!(bool, false)) -> bool {
    let deleted = Spi::get_one_with_args::<String>(
        "DELETE FROM image_search.models WHERE name = $1 RETURNING name",
        &[model_name.into()],
    )
    .ok()
    .flatten()
    .is_some();
    if !deleted && !if_exists {
        raise_error(PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT, format!("model \"{model_name}\" does not exist"));
    }
    deleted
}

#[pg_extern(stable, requires = ["models_catalog"])]
fn export_model(model_name: &str) -> Vec<u8> {
    Spi::get_one_with_args::<Vec<u8>>(
        "SELECT encoder_onnx FROM image_search.models WHERE name = $1",
        &[model_name.into()],
    )
    .ok()
    .flatten()
    .unwrap_or_else(|| {
        raise_error(PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT, format!("model \"{model_name}\" does not exist"))
    })
}
