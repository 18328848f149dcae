//! `build_model` as older versions of the extension declare it: a database whose
//! extension is not yet updated (ALTER EXTENSION UPDATE) calls these C symbols, so
//! they must keep working with the new library. Each passes the options added since
//! as their defaults.
use crate::model::build::build_model_v7;
use pgrx::prelude::*;
use pgrx::JsonB;

/// build_model as version 0.9.0 declares it, without `label_votes`.
#[allow(clippy::too_many_arguments)]
#[pg_extern(sql = false, volatile, parallel_unsafe)]
fn build_model_v6(
    model_name: &str,
    source_query: &str,
    image_col: &str,
    max_epochs: Option<i32>,
    batch_size: i32,
    learning_rate: f64,
    temperature: f64,
    weight_decay: f64,
    image_size: Option<i32>,
    channels: Option<i32>,
    seed: i64,
    flip: Option<bool>,
    color_jitter: Option<bool>,
    augment: Option<JsonB>,
    overwrite: bool,
    architecture: Option<&str>,
    pretrained: Option<&str>,
    max_seconds: Option<f64>,
    lr_schedule: &str,
    warmup: f64,
    gradient_descriptor: Option<bool>,
    label_col: Option<&str>,
    readout: Option<&str>,
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
    build_model_v7(
        model_name,
        source_query,
        image_col,
        max_epochs,
        batch_size,
        learning_rate,
        temperature,
        weight_decay,
        image_size,
        channels,
        seed,
        flip,
        color_jitter,
        augment,
        overwrite,
        architecture,
        pretrained,
        max_seconds,
        lr_schedule,
        warmup,
        gradient_descriptor,
        label_col,
        readout,
        None,
    )
}

/// build_model as version 0.8.0 declares it, without `readout`.
#[allow(clippy::too_many_arguments)]
#[pg_extern(sql = false, volatile, parallel_unsafe)]
fn build_model_v5(
    model_name: &str,
    source_query: &str,
    image_col: &str,
    max_epochs: Option<i32>,
    batch_size: i32,
    learning_rate: f64,
    temperature: f64,
    weight_decay: f64,
    image_size: Option<i32>,
    channels: Option<i32>,
    seed: i64,
    flip: Option<bool>,
    color_jitter: Option<bool>,
    augment: Option<JsonB>,
    overwrite: bool,
    architecture: Option<&str>,
    pretrained: Option<&str>,
    max_seconds: Option<f64>,
    lr_schedule: &str,
    warmup: f64,
    gradient_descriptor: Option<bool>,
    label_col: Option<&str>,
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
    build_model_v7(
        model_name,
        source_query,
        image_col,
        max_epochs,
        batch_size,
        learning_rate,
        temperature,
        weight_decay,
        image_size,
        channels,
        seed,
        flip,
        color_jitter,
        augment,
        overwrite,
        architecture,
        pretrained,
        max_seconds,
        lr_schedule,
        warmup,
        gradient_descriptor,
        label_col,
        None,
        None,
    )
}

/// build_model as version 0.6.0 and 0.7.0 declare it, without `label_col`.
#[allow(clippy::too_many_arguments)]
#[pg_extern(sql = false, volatile, parallel_unsafe)]
fn build_model_v4(
    model_name: &str,
    source_query: &str,
    image_col: &str,
    max_epochs: Option<i32>,
    batch_size: i32,
    learning_rate: f64,
    temperature: f64,
    weight_decay: f64,
    image_size: Option<i32>,
    channels: Option<i32>,
    seed: i64,
    flip: Option<bool>,
    color_jitter: Option<bool>,
    augment: Option<JsonB>,
    overwrite: bool,
    architecture: Option<&str>,
    pretrained: Option<&str>,
    max_seconds: Option<f64>,
    lr_schedule: &str,
    warmup: f64,
    gradient_descriptor: Option<bool>,
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
    build_model_v7(
        model_name,
        source_query,
        image_col,
        max_epochs,
        batch_size,
        learning_rate,
        temperature,
        weight_decay,
        image_size,
        channels,
        seed,
        flip,
        color_jitter,
        augment,
        overwrite,
        architecture,
        pretrained,
        max_seconds,
        lr_schedule,
        warmup,
        gradient_descriptor,
        None,
        None,
        None,
    )
}

/// build_model as versions 0.3.0 to 0.5.0 declare it, without `gradient_descriptor`:
/// a database whose extension is not yet updated calls this symbol.
#[allow(clippy::too_many_arguments)]
#[pg_extern(sql = false, volatile, parallel_unsafe)]
fn build_model_v3(
    model_name: &str,
    source_query: &str,
    image_col: &str,
    max_epochs: Option<i32>,
    batch_size: i32,
    learning_rate: f64,
    temperature: f64,
    weight_decay: f64,
    image_size: Option<i32>,
    channels: Option<i32>,
    seed: i64,
    flip: Option<bool>,
    color_jitter: Option<bool>,
    augment: Option<JsonB>,
    overwrite: bool,
    architecture: Option<&str>,
    pretrained: Option<&str>,
    max_seconds: Option<f64>,
    lr_schedule: &str,
    warmup: f64,
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
    build_model_v7(
        model_name,
        source_query,
        image_col,
        max_epochs,
        batch_size,
        learning_rate,
        temperature,
        weight_decay,
        image_size,
        channels,
        seed,
        flip,
        color_jitter,
        augment,
        overwrite,
        architecture,
        pretrained,
        max_seconds,
        lr_schedule,
        warmup,
        None,
        None,
        None,
        None,
    )
}

/// build_model as versions 0.1.0 and 0.2.0 declare it, without the options added
/// since: a database whose extension is not yet updated (ALTER EXTENSION UPDATE)
/// calls this symbol, so it must keep working with the new library.
#[allow(clippy::too_many_arguments)]
#[pg_extern(sql = false, volatile, parallel_unsafe)]
fn build_model(
    model_name: &str,
    source_query: &str,
    image_col: &str,
    max_epochs: i32,
    batch_size: i32,
    learning_rate: f64,
    temperature: f64,
    weight_decay: f64,
    image_size: Option<i32>,
    channels: Option<i32>,
    seed: i64,
    flip: Option<bool>,
    color_jitter: Option<bool>,
    augment: Option<JsonB>,
    overwrite: bool,
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
    build_model_v7(
        model_name,
        source_query,
        image_col,
        Some(max_epochs),
        batch_size,
        learning_rate,
        temperature,
        weight_decay,
        image_size,
        channels,
        seed,
        flip,
        color_jitter,
        augment,
        overwrite,
        None,
        None,
        None,
        "constant",
        0.0,
        None,
        None,
        None,
        None,
    )
}
