//! The models catalog: models are rows of `image_search.models`, so they are
//! transactional, dumped by pg_dump and replicated. Every read of that table
//! goes through here and returns a typed `Model`; the naming rule of the column
//! `convert` adds and the embedding's dimension live here and nowhere else.
//! Reads run with the caller's privileges, so revoking SELECT on the table
//! restricts models like any table.
use crate::error::{Error, OrRaise};
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

/// A model's catalog row, without its (large) ONNX encoder.
#[derive(Clone, Debug)]
pub struct Model {
    pub name: String,
    pub architecture: String,
    pub channels: u8,
    pub image_size: u32,
    pub embedding_dim: usize,
    /// Changes whenever the model is rebuilt: a backend's cached session is
    /// reused only while it matches.
    pub build_id: i64,
    /// The image column of the query the model was trained on.
    pub image_col: String,
}

/// The column `convert` adds for a model, and the prefix of search results'
/// similarity columns: `<model>_simclr`, for every kind of model.
pub fn embedding_column(model_name: &str) -> String {
    format!("{model_name}_simclr")
}

/// The column of the `n`th query image's similarity in a search result.
pub fn similarity_column(model_name: &str, n: usize) -> String {
    format!("{}_similarity{n}", embedding_column(model_name))
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
        Spi::connect(|client| {
            let rows = client
                .select(
                    "SELECT architecture, channels, image_size, embedding_dim, build_id, options->>'image_col'
                     FROM image_search.models WHERE name = $1",
                    None,
                    &[name.into()],
                )
                .or_raise();
            rows.into_iter().next().map(|row| Model {
                name: name.to_string(),
                architecture: row.get::<String>(1).ok().flatten().unwrap_or_default(),
                channels: row.get::<i32>(2).ok().flatten().unwrap_or(1) as u8,
                image_size: row.get::<i32>(3).ok().flatten().unwrap_or(0) as u32,
                embedding_dim: row.get::<i32>(4).ok().flatten().unwrap_or(0) as usize,
                build_id: row.get::<i64>(5).ok().flatten().unwrap_or(0),
                image_col: row.get::<String>(6).ok().flatten().unwrap_or_else(|| "image_path".to_string()),
            })
        })
    }

    pub fn embedding_column(&self) -> String {
        embedding_column(&self.name)
    }

    /// The standalone ONNX encoder with its trained weights.
    pub fn encoder_onnx(&self) -> Vec<u8> {
        encoder_onnx(&self.name)
    }
}

fn encoder_onnx(name: &str) -> Vec<u8> {
    Spi::get_one_with_args::<Vec<u8>>("SELECT encoder_onnx FROM image_search.models WHERE name = $1", &[name.into()])
        .ok()
        .flatten()
        .unwrap_or_else(|| unknown_model(name).raise())
}

pub fn exists(name: &str) -> bool {
    Spi::get_one_with_args::<bool>("SELECT EXISTS (SELECT 1 FROM image_search.models WHERE name = $1)", &[name.into()])
        .unwrap_or(Some(false))
        .unwrap_or(false)
}

/// Builds of the same name queue here instead of racing to the INSERT: the
/// second sees the first's model once it commits.
pub fn lock_name(name: &str) {
    Spi::run_with_args("SELECT pg_advisory_xact_lock(hashtext('image_search.model:' || $1))", &[name.into()])
        .or_raise();
}

/// Fails before training, not after, when the caller could not store the model.
pub fn check_may_store_models() {
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

/// A trained model, ready to be stored.
pub struct NewModel<'a> {
    pub name: &'a str,
    pub architecture: &'a str,
    pub channels: u8,
    pub image_size: u32,
    pub embedding_dim: usize,
    pub options: serde_json::Value,
    pub encoder_onnx: &'a [u8],
    pub epoch_log: serde_json::Value,
    pub rows_used: usize,
    pub seconds: f64,
}

/// Stores a model, replacing one of the same name.
pub fn store(model: NewModel<'_>) {
    Spi::connect_mut(|client| {
        client.update("DELETE FROM image_search.models WHERE name = $1", None, &[model.name.into()]).or_raise();
        client
            .update(
                "INSERT INTO image_search.models (name, algorithm, architecture, channels, image_size, embedding_dim,
                     options, encoder_onnx, epoch_log, rows_used, train_seconds)
                 VALUES ($1, 'simclr', $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
                ],
            )
            .or_raise();
    });
}

/// Removes a model; `if_exists` makes a missing one a no-op instead of an ERROR.
#[pg_extern(volatile, requires = ["models_catalog"])]
fn drop_model(model_name: &str, if_exists: default!(bool, false)) -> bool {
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

/// The trained encoder as standalone ONNX bytes (input `images` [N,C,H,W] in
/// [0,1], output `embedding` [N,dim]).
#[pg_extern(stable, requires = ["models_catalog"])]
fn export_model(model_name: &str) -> Vec<u8> {
    encoder_onnx(model_name)
}
