//! `build_model`: trains a SimCLR encoder on the images of any SELECT and
//! stores it in the models catalog. The options are checked before any image is
//! read; the training itself is `engine::train`'s loop around the generated
//! ONNX train step.
use crate::engine::image::augment::AugmentOptions;
use crate::engine::onnx::architectures::{self, MIN_IMAGE_SIZE};
use crate::engine::onnx::runtime::Threads;
use crate::engine::train::{self, EpochImages, EpochStats, TrainConfig, Trainer};
use crate::error::{invalid, runtime, Error, OrRaise};
use crate::model::catalog::{self, NewModel};
use crate::model::runtime as onnxruntime;
use crate::model::training_images::TrainingImages;
use pgrx::prelude::*;
use pgrx::JsonB;

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

#[allow(clippy::too_many_arguments)]
/// Trains a SimCLR encoder on the images of `source_query` and stores it as `model_name`.
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
    catalog::lock_name(model_name);
    catalog::check_may_store_models();
    if catalog::exists(model_name) && !overwrite {
        Error::DuplicateObject(format!("model \"{model_name}\" already exists; pass overwrite => true to replace it"))
            .raise();
    }
    let started = std::time::Instant::now();
    // Cached pictures keep twice the training size, so crops keep detail.
    let base_side = image_size.map_or(64, |s| s as u32 * 2);
    let (mut images, census) = TrainingImages::load(source_query, image_col, base_side, batch_size as usize);
    let usable = census.usable;
    if usable < BATCH_MIN {
        invalid(format!(
            "the source query gave {usable} usable image(s) in {} row(s); contrastive training needs at least {BATCH_MIN}",
            census.rows
        ));
    }
    if batch_size as usize > usable {
        invalid(format!(
            "batch_size {batch_size} is larger than the {usable} usable image(s) of the source query; \
             pass a batch_size of at most {usable}"
        ));
    }
    let channels = channels.map(|c| c as u8).unwrap_or(if census.any_colour { 3 } else { 1 });
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
    let arch = architectures::simclr_cnn(channels);
    let session = onnxruntime::session(arch.train_step, Threads::Spin).or_raise();
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
    let mut cached;
    let source: &mut dyn EpochImages = match &mut images {
        TrainingImages::Cached(pictures) => {
            cached = &pictures[..];
            &mut cached
        }
        TrainingImages::Streamed(streamed) => streamed,
    };
    let interrupted = || {
        pgrx::check_for_interrupts!();
    };
    let epochs = train::train(&mut trainer, source, &config, interrupted, notice_epoch).unwrap_or_else(|e| runtime(e));
    let encoder_onnx = trainer.encoder_onnx();
    let seconds = started.elapsed().as_secs_f64();
    let last = epochs.last().cloned().expect("at least one epoch");
    catalog::store(NewModel {
        name: model_name,
        architecture: arch.name,
        channels: config.channels,
        image_size: config.image_size,
        embedding_dim: architectures::EMBEDDING_DIM,
        options: serde_json::json!({ "training": &config, "image_col": image_col, "source_query": source_query }),
        encoder_onnx: &encoder_onnx,
        epoch_log: serde_json::to_value(&epochs).expect("epoch stats serialise"),
        rows_used: usable,
        seconds,
    });
    let ips = (usable * epochs.len()) as f64 / last.seconds.max(1e-9);
    TableIterator::once((model_name.to_string(), epochs.len() as i32, last.loss as f64, seconds, usable as i64, ips))
}
