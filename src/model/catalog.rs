//! The models catalog: models are rows of `image_search.models`, so they are
//! transactional, dumped by pg_dump and replicated. Every read of that table
//! goes through here and returns a typed `Model`; the naming rule of the column
//! `convert` adds and the embedding's dimension live here and nowhere else.
//! A model is trained (`build_model`, algorithm 'simclr') or imported
//! (`import_model`, algorithm 'onnx'); `encoder_config` says how its encoder is
//! fed and read (the column's default describes trained models).
//! Reads run with the caller's privileges, so revoking SELECT on the table
//! restricts models like any table.
use crate::engine::onnx::imported::{Encoder, EncoderConfig};
use crate::error::{Error, OrRaise};
use crate::model::combine::Part;
use pgrx::prelude::*;
use pgrx::JsonB;

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
    created_at     timestamptz NOT NULL DEFAULT now(),
    encoder_config jsonb NOT NULL DEFAULT '{"input": "images", "output": "embedding", "layout": "NCHW",
        "resize": "center_crop", "channel_order": "RGB", "value_range": "0..1", "mean": [0.0], "std": [1.0],
        "pooling": "average", "batch_size": null}'
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
       round((epoch_log -> -1 ->> 'images_per_second')::numeric) AS images_per_second,
       name || '_' || algorithm AS embedding_column
FROM models ORDER BY name;
GRANT SELECT ON models, model_list TO PUBLIC;
"#,
    name = "models_catalog"
);

/// A model's catalog row, without its (large) ONNX encoder.
#[derive(Clone, Debug)]
pub struct Model {
    pub name: String,
    /// 'simclr' (trained by build_model) or 'onnx' (imported by import_model).
    pub algorithm: String,
    pub architecture: String,
    pub channels: u8,
    /// The input's side; for a non-square imported model its height (the
    /// width is `encoder_config`'s image_width).
    pub image_size: u32,
    pub embedding_dim: usize,
    /// Changes whenever the model is rebuilt: a backend's cached session is
    /// reused only while it matches.
    pub build_id: i64,
    /// The image column of the query the model was trained on.
    pub image_col: String,
    /// How to feed and read the encoder (of a combined model: unused).
    pub encoder: Encoder,
    /// The models a combined model (`combine_models`) concatenates; empty for others.
    pub parts: Vec<Part>,
}

/// The column `convert` adds for a model, and the prefix of search results'
/// similarity columns: `<model>_<algorithm>`, for every kind of model
/// (`<model>_simclr` for trained models, `<model>_onnx` for imported ones).
/// Model names are at most 43 bytes, so `<model>_simclr_similarity99` fits in
/// Postgres' 63-byte identifiers.
pub fn embedding_column(model_name: &str, algorithm: &str) -> String {
    format!("{model_name}_{algorithm}")
}

/// The longest model name, in bytes.
pub const MAX_NAME_BYTES: usize = 43;

/// Refuses names the catalog's CHECK would, with a clearer message.
fn check_name(model_name: &str) {
    if model_name.trim().is_empty() || model_name.len() > MAX_NAME_BYTES || model_name.starts_with(char::is_whitespace)
    {
        crate::error::invalid(format!(
            "model_name must be 1 to {MAX_NAME_BYTES} bytes long and not start with white space"
        ));
    }
}

pub fn unknown_model(name: &str) -> Error {
    Error::UndefinedObject(format!("model \"{name}\" does not exist"))
}

impl Model {
    /// The model called `name`, or an ERROR saying it does not exist.
    pub fn get(name: &str) -> Model {
        Model::find(name).unwrap_or_else(|| unknown_model(name).raise())
    }

    pub fn find(name: &str) -> Option<Model> {
        // Before ALTER EXTENSION UPDATE to 0.4.0 the catalog has no encoder_config;
        // its models are all trained ones, which the column's default describes.
        let config = if has_encoder_config() { "encoder_config" } else { TRAINED_CONFIG_SQL };
        let query = format!(
            "SELECT algorithm, architecture, channels, image_size, embedding_dim, build_id,
                    options->>'image_col', {config}, options->'parts'
             FROM {} WHERE name = $1",
            models_relation()
        );
        Spi::connect(|client| {
            let rows = client.select(&query, None, &[name.into()]).or_raise();
            rows.into_iter().next().map(|row| {
                let channels = row.get::<i32>(3).ok().flatten().unwrap_or(1) as u8;
                let image_size = row.get::<i32>(4).ok().flatten().unwrap_or(0) as u32;
                let config = row.get::<JsonB>(8).ok().flatten().map(|j| j.0).unwrap_or(serde_json::Value::Null);
                let encoder = serde_json::from_value::<EncoderConfig>(config)
                    .map_err(|e| e.to_string())
                    .and_then(|config| Encoder::new(config, image_size, channels))
                    .unwrap_or_else(|e| {
                        Error::BadData(format!("the catalog row of model \"{name}\" is damaged: encoder_config: {e}"))
                            .raise()
                    });
                let parts = match row.get::<JsonB>(9).ok().flatten() {
                    Some(JsonB(parts)) => serde_json::from_value::<Vec<Part>>(parts).unwrap_or_else(|e| {
                        Error::BadData(format!("the catalog row of model \"{name}\" is damaged: parts: {e}")).raise()
                    }),
                    None => Vec::new(),
                };
                Model {
                    name: name.to_string(),
                    algorithm: row.get::<String>(1).ok().flatten().unwrap_or_default(),
                    architecture: row.get::<String>(2).ok().flatten().unwrap_or_default(),
                    channels,
                    image_size,
                    embedding_dim: row.get::<i32>(5).ok().flatten().unwrap_or(0) as usize,
                    build_id: row.get::<i64>(6).ok().flatten().unwrap_or(0),
                    image_col: row.get::<String>(7).ok().flatten().unwrap_or_else(|| "image_path".to_string()),
                    encoder,
                    parts,
                }
            })
        })
    }

    pub fn embedding_column(&self) -> String {
        embedding_column(&self.name, &self.algorithm)
    }

    /// The column of the `n`th query image's similarity in a search result.
    pub fn similarity_column(&self, n: usize) -> String {
        format!("{}_similarity{n}", self.embedding_column())
    }

    /// The shorter side a decoded picture needs for this model's encoder (for a
    /// combined model, its parts' encoders): larger photos may be decoded reduced.
    pub fn needed_side(&self) -> u32 {
        match self.parts.iter().map(|p| p.needed_side).max() {
            Some(side) => side,
            None => self.encoder.preprocessing.needed_side(),
        }
    }

    /// The standalone ONNX encoder with its trained weights.
    pub fn encoder_onnx(&self) -> Vec<u8> {
        encoder_onnx(&self.name)
    }
}

/// encoder_config as its column default gives it, for catalogs without the column.
const TRAINED_CONFIG_SQL: &str = "jsonb_build_object('input', 'images', 'output', 'embedding', 'layout', 'NCHW', \
     'resize', 'center_crop', 'channel_order', 'RGB', 'value_range', '0..1', 'mean', jsonb_build_array(0.0), \
     'std', jsonb_build_array(1.0), 'pooling', 'average', 'batch_size', NULL)";

/// The relation to read models from on this node. Normally `image_search.models`.
/// Where Citus has made it a reference table (README: Citus), embeddings are also
/// computed on workers, inside queries on shards, which may not start a distributed
/// query: there the node's own copy of the catalog, its placement of the reference
/// table's one shard (`image_search.models_<shardid>`), is read directly. Writes
/// always go through `image_search.models` on the coordinator.
fn models_relation() -> String {
    let citus = Spi::get_one::<bool>("SELECT to_regclass('pg_catalog.pg_dist_shard') IS NOT NULL")
        .ok()
        .flatten()
        .unwrap_or(false);
    if !citus {
        return "image_search.models".to_string();
    }
    Spi::get_one::<String>(
        "SELECT format('image_search.%I', 'models_' || shardid) FROM pg_catalog.pg_dist_shard
          WHERE logicalrelid = 'image_search.models'::regclass
            AND to_regclass(format('image_search.%I', 'models_' || shardid)) IS NOT NULL
          LIMIT 1",
    )
    .ok()
    .flatten()
    .unwrap_or_else(|| "image_search.models".to_string())
}

/// Whether the catalog has encoder_config (added by 0.4.0): a database whose
/// extension is not yet updated still runs with this library.
fn has_encoder_config() -> bool {
    Spi::get_one::<bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'image_search.models'::regclass
                        AND attname = 'encoder_config' AND NOT attisdropped)",
    )
    .ok()
    .flatten()
    .unwrap_or(false)
}

fn encoder_onnx(name: &str) -> Vec<u8> {
    let query = format!("SELECT encoder_onnx FROM {} WHERE name = $1", models_relation());
    Spi::get_one_with_args::<Vec<u8>>(&query, &[name.into()])
        .ok()
        .flatten()
        .unwrap_or_else(|| unknown_model(name).raise())
}

pub fn exists(name: &str) -> bool {
    Spi::get_one_with_args::<bool>("SELECT EXISTS (SELECT 1 FROM image_search.models WHERE name = $1)", &[name.into()])
        .unwrap_or(Some(false))
        .unwrap_or(false)
}

/// Before a model is made under `name`: the name is valid, builds of the same name
/// queue (`lock_name`), the caller may store models, and an existing model is only
/// replaced with `overwrite`. Checked before any work, not after.
pub fn claim_name(name: &str, overwrite: bool) {
    check_name(name);
    lock_name(name);
    check_may_store_models();
    if exists(name) && !overwrite {
        Error::DuplicateObject(format!("model \"{name}\" already exists; pass overwrite => true to replace it"))
            .raise();
    }
}

/// Builds of the same name queue here instead of racing to the INSERT: the
/// second sees the first's model once it commits.
fn lock_name(name: &str) {
    Spi::run_with_args("SELECT pg_advisory_xact_lock(hashtext('image_search.model:' || $1))", &[name.into()])
        .or_raise();
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
        Error::PermissionDenied(
            "permission denied to build models: needs INSERT and DELETE on image_search.models \
             and USAGE on image_search.models_build_id_seq"
                .into(),
        )
        .raise();
    }
}

/// A trained or imported model, ready to be stored.
pub struct NewModel<'a> {
    pub name: &'a str,
    pub algorithm: &'a str,
    pub architecture: &'a str,
    pub channels: u8,
    pub image_size: u32,
    pub embedding_dim: usize,
    pub options: serde_json::Value,
    pub encoder_onnx: &'a [u8],
    pub epoch_log: serde_json::Value,
    pub rows_used: usize,
    pub seconds: f64,
    pub encoder_config: &'a EncoderConfig,
}

/// Stores a model, replacing one of the same name.
pub fn store(model: NewModel<'_>) {
    let with_config = has_encoder_config();
    if !with_config && *model.encoder_config != EncoderConfig::trained() {
        Error::Other(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            "this database's image_search catalog predates imported models; run ALTER EXTENSION image_search UPDATE"
                .into(),
        )
        .raise();
    }
    let (config_column, config_value) = if with_config { (", encoder_config", ", $12") } else { ("", "") };
    let insert = format!(
        "INSERT INTO image_search.models (name, algorithm, architecture, channels, image_size, embedding_dim,
             options, encoder_onnx, epoch_log, rows_used, train_seconds{config_column})
         VALUES ($1, $11, $2, $3, $4, $5, $6, $7, $8, $9, $10{config_value})"
    );
    Spi::connect_mut(|client| {
        client.update("DELETE FROM image_search.models WHERE name = $1", None, &[model.name.into()]).or_raise();
        client
            .update(
                &insert,
                None,
                &[
                    model.name.into(),
                    model.architecture.into(),
                    (model.channels as i32).into(),
                    (model.image_size as i32).into(),
                    (model.embedding_dim as i32).into(),
                    JsonB(model.options).into(),
                    model.encoder_onnx.into(),
                    JsonB(model.epoch_log).into(),
                    (model.rows_used as i64).into(),
                    model.seconds.into(),
                    model.algorithm.into(),
                    JsonB(serde_json::to_value(model.encoder_config).expect("encoder config serialises")).into(),
                ][..if with_config { 12 } else { 11 }],
            )
            .or_raise();
    });
}

/// Removes a model; `if_exists` makes a missing one a no-op instead of an ERROR.
#[pg_extern(volatile, requires = ["models_catalog"])]
fn drop_model(model_name: &str, if_exists: default!(bool, false)) -> bool {
    if let Some(user) = combined_user_of(model_name) {
        Error::Other(
            PgSqlErrorCode::ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST,
            format!("model \"{model_name}\" is part of combined model \"{user}\"; drop model \"{user}\" first"),
        )
        .raise();
    }
    Spi::connect_mut(|client| crate::columns::keep_current::drop_model_triggers(client, model_name));
    let deleted = Spi::get_one_with_args::<String>(
        "DELETE FROM image_search.models WHERE name = $1 RETURNING name",
        &[model_name.into()],
    )
    .ok()
    .flatten()
    .is_some();
    if !deleted && !if_exists {
        unknown_model(model_name).raise();
    }
    deleted
}

/// A combined model that has `name` among its parts, if any.
fn combined_user_of(name: &str) -> Option<String> {
    Spi::get_one_with_args::<String>(
        "SELECT name FROM image_search.models WHERE options->'parts' @> jsonb_build_array(jsonb_build_object('name', $1::text))
          ORDER BY name LIMIT 1",
        &[name.into()],
    )
    .ok()
    .flatten()
}

/// The encoder as standalone ONNX bytes: for a trained model, input `images`
/// [N,C,H,W] in [0,1] and output `embedding` [N,dim]; for an imported one, the
/// file as it was imported.
#[pg_extern(stable, requires = ["models_catalog"])]
fn export_model(model_name: &str) -> Vec<u8> {
    let model = Model::get(model_name);
    if !model.parts.is_empty() {
        let names: Vec<&str> = model.parts.iter().map(|p| p.name.as_str()).collect();
        Error::NotSupported(format!(
            "model \"{model_name}\" combines models {} and has no encoder of its own; export those models",
            names.join(", ")
        ))
        .raise();
    }
    encoder_onnx(model_name)
}
