//! `build_model`: trains a SimCLR encoder on the images of any SELECT and
//! stores it in the models catalog. The options are checked before any image is
//! read; the training itself is `engine::train`'s loop around the generated
//! ONNX train step.
use crate::engine::gradient_descriptor;
use crate::engine::image::preprocess::Preprocessing;
use crate::engine::image::Picture;
use crate::engine::label_votes;
use crate::engine::neighbour_positives::NeighbourTable;
use crate::engine::onnx::architectures::Architecture;
use crate::engine::onnx::encoder_file;
use crate::engine::onnx::imported::{Encoder, EncoderConfig};
use crate::engine::train::{self, EpochStats, TrainConfig, Trainer};
use crate::error::{invalid, runtime, OrRaise};
use crate::model::build_options::{BuildRequest, BATCH_MIN};
use crate::model::catalog::{self, Model, NewModel};
use crate::model::runtime as onnxruntime;
use crate::model::training_images::TrainingImages;
use pgrx::prelude::*;
use pgrx::JsonB;

#[allow(clippy::too_many_arguments)]
/// Trains a SimCLR encoder on the images of `source_query` and stores it as `model_name`.
/// (The Rust name differs from the SQL name so that the C symbols of older
/// signatures, below, stay what older install scripts point at.)
#[pg_extern(name = "build_model", volatile, parallel_unsafe, requires = ["models_catalog"])]
pub(crate) fn build_model_v7(
    model_name: &str,
    source_query: &str,
    image_col: default!(&str, "'image_path'"),
    max_epochs: default!(Option<i32>, "NULL"),
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
    architecture: default!(Option<&str>, "NULL"),
    pretrained: default!(Option<&str>, "NULL"),
    max_seconds: default!(Option<f64>, "NULL"),
    lr_schedule: default!(&str, "'constant'"),
    warmup: default!(f64, 0.0),
    gradient_descriptor: default!(Option<bool>, "NULL"),
    label_col: default!(Option<&str>, "NULL"),
    readout: default!(Option<&str>, "NULL"),
    label_votes: default!(Option<bool>, "NULL"),
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
    let mut request = BuildRequest {
        architecture: architecture.map(str::to_string),
        max_epochs,
        max_seconds,
        batch_size,
        learning_rate,
        lr_schedule: lr_schedule.to_string(),
        warmup,
        temperature,
        weight_decay,
        image_size,
        channels,
        seed,
        flip,
        color_jitter,
        augment: augment.map(|j| j.0),
        gradient_descriptor,
        label_col: label_col.map(str::to_string),
        readout: readout.map(str::to_string),
        label_votes,
    };
    // A warm start defaults to the pretrained model's channels, size and architecture.
    let pretrained = pretrained.map(|name| {
        Model::find(name).unwrap_or_else(|| invalid(format!("pretrained model \"{name}\" does not exist")))
    });
    if let Some(p) = &pretrained {
        request.channels = request.channels.or(Some(p.channels as i32));
        request.image_size = request.image_size.or(Some(p.image_size as i32));
        request.architecture = request.architecture.or(Some(p.architecture.clone()));
    }
    request.check().unwrap_or_else(|e| invalid(e));
    let (image_size, channels) = (request.image_size, request.channels);
    if source_query.trim().is_empty() {
        invalid("source_query is empty; give a SELECT that returns the training images");
    }
    catalog::claim_name(model_name, overwrite);
    let started = std::time::Instant::now();
    // Cached pictures keep twice the training size, so crops keep detail.
    let base_side = image_size.map_or(64, |s| s as u32 * 2);
    let (mut images, census) = TrainingImages::load(source_query, image_col, label_col, base_side, batch_size as usize);
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
    let mut config = request.config(channels, usable).unwrap_or_else(|e| invalid(e));
    let label_pairs = images.labels().map(|labels| label_neighbours(labels, label_col.unwrap_or_default()));
    if images.cached().is_none() && config.augment.neighbour_positives > 0.0 {
        // The neighbour table indexes the training set, which a streamed build never holds.
        notice!(
            "neighbour positives need the training images in memory (image_search.train_cache_mb); \
             this build pairs each image with itself"
        );
        config.augment.neighbour_positives = 0.0;
    }
    // Chosen before training, so that votes asked for but impossible fail early.
    let vote_reference = if request.label_votes().unwrap_or_else(|e| invalid(e)) {
        vote_reference(&images, label_votes == Some(true), config.seed)
    } else {
        None
    };
    let arch = request.architecture(channels).unwrap_or_else(|e| invalid(e));
    let step = onnxruntime::train_step(arch, config.batch_size).or_raise();
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
    let mut trainer = Trainer::new(arch, step, &config);
    if let Some(p) = &pretrained {
        let weights = warm_start_weights(p, arch, config.channels).unwrap_or_else(|e| invalid(e));
        trainer.start_from(&weights).unwrap_or_else(|e| invalid(e));
    }
    // The descriptor is fitted first: without labels, its neighbours can make training pairs.
    let mut gradient_pca = None;
    let descriptor_pairs = label_pairs.is_none() && config.augment.neighbour_positives > 0.0;
    if config.gradient_descriptor || descriptor_pairs {
        let (pca, neighbours) = fit_gradient_descriptor(&mut images, &config, descriptor_pairs);
        if let Some(table) = neighbours {
            trainer.pair_with_neighbours(table);
        }
        gradient_pca = config.gradient_descriptor.then_some(pca);
    }
    if let Some(table) = label_pairs {
        trainer.pair_with_neighbours(table);
    }
    let interrupted = || {
        pgrx::check_for_interrupts!();
    };
    let epochs = train::train(&mut trainer, images.epoch_images(), &config, interrupted, notice_epoch)
        .unwrap_or_else(|e| runtime(e));
    let mut encoder_onnx = trainer.encoder_onnx(gradient_pca.as_deref());
    let mut embedding_dim = arch.embedding_dim(config.gradient_descriptor, config.readout);
    let mut encoder_config = EncoderConfig::trained();
    let mut votes_option = serde_json::Value::Null;
    if let Some(reference) = vote_reference {
        let pictures = images.cached().expect("a vote reference needs the cached images");
        let reference_pictures: Vec<&Picture> = reference.rows.iter().map(|&i| &pictures[i]).collect();
        let embeddings = embed_training_images(&encoder_onnx, &config, &reference_pictures);
        encoder_onnx = label_votes::append(&encoder_onnx, &reference, &embeddings);
        embedding_dim += reference.labels.len();
        encoder_config.output = label_votes::OUTPUT.into();
        votes_option = serde_json::json!({
            "labels": &reference.labels, "reference_images": reference.rows.len(),
            "voters": label_votes::VOTERS, "weight": label_votes::WEIGHT
        });
    }
    let seconds = started.elapsed().as_secs_f64();
    let last = epochs.last().cloned().expect("at least one epoch");
    catalog::store(NewModel {
        name: model_name,
        algorithm: "simclr",
        architecture: arch.name,
        channels: config.channels,
        image_size: config.image_size,
        embedding_dim,
        options: serde_json::json!({
            "training": &config, "image_col": image_col, "label_col": label_col, "source_query": source_query,
            "label_votes": votes_option
        }),
        encoder_onnx: &encoder_onnx,
        epoch_log: serde_json::to_value(&epochs).expect("epoch stats serialise"),
        rows_used: usable,
        seconds,
        encoder_config: &encoder_config,
    });
    let ips = (usable * epochs.len()) as f64 / last.seconds.max(1e-9);
    TableIterator::once((model_name.to_string(), epochs.len() as i32, last.loss as f64, seconds, usable as i64, ips))
}

/// The training images whose labels a labelled model's embedding votes with, or None
/// (with a NOTICE, or an ERROR when `asked` for) when it cannot have votes.
fn vote_reference(images: &TrainingImages, asked: bool, seed: u64) -> Option<label_votes::Reference> {
    // TrainingImages::load keeps a label_col build's images and labels in memory, or refuses it.
    let labels = images.labels().expect("a build with label_col holds its labels");
    match label_votes::choose_reference(labels, seed) {
        Ok(reference) => Some(reference),
        Err(why) if asked => invalid(format!("label_votes cannot be used: {why}")),
        Err(why) => {
            notice!("this model's embedding has no label votes: {why}");
            None
        }
    }
}

/// The embeddings the trained `encoder_onnx` gives `pictures`, as convert would give them.
fn embed_training_images(encoder_onnx: &[u8], config: &TrainConfig, pictures: &[&Picture]) -> Vec<Vec<f32>> {
    let mut session = onnxruntime::session(encoder_onnx).or_raise();
    let encoder =
        Encoder::new(EncoderConfig::trained(), config.image_size, config.channels).unwrap_or_else(|e| runtime(e));
    encoder
        .embed(&mut session, pictures, &mut || {
            pgrx::check_for_interrupts!();
        })
        .unwrap_or_else(|e| runtime(e))
}

/// The training pairs that `label_col`'s labels make, or an ERROR when no two images share one.
fn label_neighbours(labels: &[Option<String>], label_col: &str) -> NeighbourTable {
    let table = NeighbourTable::same_label(labels);
    let (labelled, classes) = table.label_counts();
    if labelled == 0 {
        invalid(format!(
            "label column \"{label_col}\" is NULL in every row; give rows a label, or build without label_col"
        ));
    }
    if classes == labelled {
        invalid(format!(
            "no two rows share a value of label column \"{label_col}\"; label_col pairs images with the same label"
        ));
    }
    if classes == 1 {
        notice!("every labelled row has the same value of label column \"{label_col}\": its pairs teach nothing that SimCLR's do not");
    }
    table
}

/// The gradient descriptor's `gradient_pca`, fitted on the training images (whitened
/// within their labels when the build has `label_col`), and,
/// when `pairs` and the images are all in memory, each image's nearest neighbours
/// by its projected descriptor.
fn fit_gradient_descriptor(
    images: &mut TrainingImages,
    config: &TrainConfig,
    pairs: bool,
) -> (Vec<f32>, Option<NeighbourTable>) {
    let mut session = onnxruntime::session(gradient_descriptor::descriptor_graph(config.channels)).or_raise();
    let preprocessing = Preprocessing::trained(config.image_size, config.channels);
    let mut interrupted = || {
        pgrx::check_for_interrupts!();
    };
    let pca = match (images.cached(), images.labels()) {
        (Some(pictures), Some(labels)) => {
            gradient_descriptor::fit_with_labels(&mut session, pictures, labels, &preprocessing, &mut interrupted)
        }
        _ => gradient_descriptor::fit(&mut session, images.epoch_images(), &preprocessing, &mut interrupted),
    }
    .unwrap_or_else(|e| runtime(e));
    // The descriptors are computed again rather than kept from the fit: 588 floats per
    // image would be most of a cached picture's memory again, for a pass that costs
    // milliseconds per thousand images.
    let neighbours = images.cached().filter(|_| pairs).map(|pictures| {
        let points = gradient_descriptor::project(&mut session, pictures, &preprocessing, &pca, &mut interrupted)
            .unwrap_or_else(|e| runtime(e));
        NeighbourTable::nearest(&points, gradient_descriptor::DIMS, config.seed, &mut interrupted)
    });
    (pca, neighbours)
}

/// The trained encoder weights of `pretrained`, if it can seed a build of `arch` on
/// images of `channels` channels.
fn warm_start_weights(pretrained: &Model, arch: &Architecture, channels: u8) -> Result<Vec<f32>, String> {
    let name = &pretrained.name;
    if pretrained.architecture != arch.name || pretrained.channels != channels {
        return Err(format!(
            "pretrained model \"{name}\" is a {} model of {}-channel images, and this build trains {} on {channels}-channel \
             images; a warm start needs the same architecture and channels",
            pretrained.architecture, pretrained.channels, arch.name
        ));
    }
    let stored = pretrained.encoder_onnx();
    // A model read out at the projection stored the head too; a warm start takes the encoder.
    arch.encoder_graphs()
        .into_iter()
        .find_map(|(graph, count)| encoder_file::appended_initializer(&stored, graph, "params", count))
        .map(|mut weights| {
            weights.truncate(arch.encoder_param_count);
            weights
        })
        .ok_or_else(|| {
            format!("the weights of pretrained model \"{name}\" cannot be read (it was not trained by build_model)")
        })
}
