//! Running a stored model's encoder. The ONNX Runtime session for a model is
//! created once per backend and reused until the model is rebuilt (its
//! `build_id` changes) or dropped. A combined model (`combine_models`) runs its
//! parts' encoders on the same pictures and concatenates what they give.
use crate::embedding::Embedding;
use crate::engine::image::access::ImageRef;
use crate::engine::image::Picture;
use crate::error::{bad_data, runtime, Error, OrRaise};
use crate::model::catalog::Model;
use crate::model::combine;
use crate::model::runtime as onnxruntime;
use crate::spi::rows::image_reader;
use ort::session::Session;
use pgrx::prelude::*;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// Images decoded per convert batch; the encoder runs them in its own batches
/// (`Encoder::batch_size`).
pub const BATCH: usize = 256;

pub struct LoadedModel {
    pub model: Model,
    /// None for a combined model, which runs its parts instead.
    session: Option<Session>,
    parts: Vec<LoadedModel>,
}

thread_local! {
    static SESSIONS: RefCell<HashMap<String, LoadedModel>> = RefCell::new(HashMap::new());
    static ENCODER_RUNS: Cell<i64> = const { Cell::new(0) };
}

/// Calls `f` with the model's encoder, loading it if this backend has not yet
/// (or has an older build). Reading the catalog runs with the caller's
/// privileges, so revoking SELECT on image_search.models restricts models.
pub fn with_model<R>(name: &str, f: impl FnOnce(&mut LoadedModel) -> R) -> R {
    let model = Model::get(name);
    // A combined model is valid only for the builds of its parts it was made from;
    // checked on every use, so a cached combination never outlives a rebuilt part.
    let parts: Vec<Model> = model
        .parts
        .iter()
        .map(|part| {
            let current = Model::find(&part.name);
            combine::check_part(name, part, current.as_ref())
                .map_err(|e| Error::Other(PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, e))
                .or_raise();
            current.expect("checked above")
        })
        .collect();
    SESSIONS.with_borrow_mut(|sessions| {
        if sessions.get(name).is_none_or(|m| m.model.build_id != model.build_id) {
            sessions.insert(name.to_string(), LoadedModel::load(model, parts));
        }
        f(sessions.get_mut(name).expect("inserted above"))
    })
}

impl LoadedModel {
    fn load(model: Model, parts: Vec<Model>) -> LoadedModel {
        if !parts.is_empty() {
            let parts = parts.into_iter().map(|p| LoadedModel::load(p, Vec::new())).collect();
            return LoadedModel { model, session: None, parts };
        }
        let session = onnxruntime::session(&model.encoder_onnx()).or_raise();
        LoadedModel { model, session: Some(session), parts: Vec::new() }
    }

    /// Embeddings of `pictures`, in order, in the encoder's batches (one image
    /// at a time for a model with a fixed batch of 1); checks for a cancel
    /// between runs.
    pub fn embed(&mut self, pictures: &[&Picture]) -> Result<Vec<Vec<f32>>, String> {
        let vectors = match &mut self.session {
            None => {
                let per_part = self.parts.iter_mut().map(|p| p.embed(pictures)).collect::<Result<Vec<_>, _>>()?;
                combine::concatenate(&self.model.parts, &per_part)
            }
            Some(session) => {
                let encoder = &self.model.encoder;
                let vectors = encoder.embed(session, pictures, &mut || {
                    pgrx::check_for_interrupts!();
                })?;
                let runs = pictures.len().div_ceil(encoder.batch_size()) as i64;
                ENCODER_RUNS.set(ENCODER_RUNS.get() + runs);
                vectors
            }
        };
        if let Some(v) = vectors.iter().find(|v| v.len() != self.model.embedding_dim) {
            return Err(format!(
                "the encoder of model \"{}\" gave {} values for an image, and the model's embedding_dim is {}",
                self.model.name,
                v.len(),
                self.model.embedding_dim
            ));
        }
        Ok(vectors)
    }
}

/// The last query images embedded in the current statement. An expression like
/// `ORDER BY col <=> embed_image('m', 'q.jpg')` is evaluated once per row; this
/// makes every call after the first a lookup.
struct StatementMemo {
    statement_start: pg_sys::TimestampTz,
    model_name: String,
    image_key: u64,
    embedding: Vec<f32>,
}

const MEMO_SIZE: usize = 8;

thread_local! {
    static STATEMENT_MEMO: RefCell<Vec<StatementMemo>> = const { RefCell::new(Vec::new()) };
}

fn image_key(image: &ImageRef) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    match image {
        ImageRef::Path(p) => (0u8, p).hash(&mut h),
        ImageRef::Bytes(b) => (1u8, b).hash(&mut h),
    }
    h.finish()
}

fn embed_one(model_name: &str, image: ImageRef) -> Embedding {
    // SAFETY: reads a backend-local timestamp.
    let statement_start = unsafe { pg_sys::GetCurrentStatementStartTimestamp() };
    // The role is part of the key: a SECURITY DEFINER function must not reuse
    // an image its caller was allowed to read.
    let key = image_key(&image) ^ u64::from(unsafe { pg_sys::GetUserId() }.to_u32()).rotate_left(32);
    let cached = STATEMENT_MEMO.with_borrow(|memo| {
        memo.iter()
            .find(|m| m.statement_start == statement_start && m.image_key == key && m.model_name == model_name)
            .map(|m| m.embedding.clone())
    });
    if let Some(embedding) = cached {
        return Embedding(embedding);
    }
    let embedding = embed_uncached(model_name, image);
    STATEMENT_MEMO.with_borrow_mut(|memo| {
        memo.retain(|m| m.statement_start == statement_start);
        if memo.len() >= MEMO_SIZE {
            memo.remove(0);
        }
        memo.push(StatementMemo {
            statement_start,
            model_name: model_name.to_string(),
            image_key: key,
            embedding: embedding.0.clone(),
        });
    });
    embedding
}

fn embed_uncached(model_name: &str, image: ImageRef) -> Embedding {
    // Decoded as convert decodes (same reduced scale), so an image stored and
    // the same image as a query get the same embedding.
    let mut vectors = with_model(model_name, |m| {
        let picture = image_reader().load_at_least(&image, m.model.needed_side()).unwrap_or_else(|e| bad_data(e));
        m.embed(&[&picture])
    })
    .unwrap_or_else(|e| runtime(e));
    Embedding(vectors.pop().expect("one picture gives one embedding"))
}

/// The embedding of one image given as a server path (see image_search.image_root).
#[pg_extern(stable, strict, parallel_restricted, name = "embed_image", requires = ["models_catalog", "embedding_type"])]
fn embed_image_path(model_name: &str, image: &str) -> Embedding {
    embed_one(model_name, ImageRef::Path(image.to_string()))
}

/// The embedding of one image given as its bytes (any format the decoder knows).
#[pg_extern(stable, strict, parallel_restricted, name = "embed_image", requires = ["models_catalog", "embedding_type"])]
fn embed_image_bytes(model_name: &str, image: &[u8]) -> Embedding {
    embed_one(model_name, ImageRef::Bytes(image.to_vec()))
}

/// How many encoder batches this backend has run: lets tests show that a
/// search embeds its query image once per statement, not once per row.
#[pg_extern(volatile)]
fn encoder_runs() -> i64 {
    ENCODER_RUNS.get()
}
