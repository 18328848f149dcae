//! Running a stored model's encoder. The ONNX Runtime session for a model is
//! created once per backend and reused until the model is rebuilt (its
//! `build_id` changes) or dropped.
use crate::embedding::Embedding;
use crate::image_input::{to_tensor, Picture};
use crate::image_source::{ImageReader, ImageRef};
use crate::{onnx, raise_error};
use ort::session::Session;
use ort::value::TensorRef;
use pgrx::prelude::*;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// Images per encoder run: large enough to amortise the call, small enough for memory.
pub const BATCH: usize = 256;

pub struct LoadedModel {
    build_id: i64,
    pub channels: u8,
    pub image_size: u32,
    session: Session,
}

thread_local! {
    static SESSIONS: RefCell<HashMap<String, LoadedModel>> = RefCell::new(HashMap::new());
    static ENCODER_RUNS: Cell<i64> = const { Cell::new(0) };
}

fn unknown_model(name: &str) -> ! {
    raise_error(PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT, format!("model \"{name}\" does not exist"))
}

/// Calls `f` with the model's encoder, loading it if this backend has not yet
/// (or has an older build). Reading the catalog row runs with the caller's
/// privileges, so revoking SELECT on image_search.models restricts models.
pub fn with_model<R>(name: &str, f: impl FnOnce(&mut LoadedModel) -> R) -> R {
    let (build_id, channels, image_size) = Spi::get_three_with_args::<i64, i32, i32>(
        "SELECT build_id, channels, image_size FROM image_search.models WHERE name = $1",
        &[name.into()],
    )
    .unwrap_or_else(|e| match e {
        pgrx::spi::SpiError::InvalidPosition => unknown_model(name),
        other => raise_error(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, other.to_string()),
    });
    let (Some(build_id), Some(channels), Some(image_size)) = (build_id, channels, image_size) else {
        unknown_model(name)
    };
    SESSIONS.with_borrow_mut(|sessions| {
        if sessions.get(name).is_none_or(|m| m.build_id != build_id) {
            let onnx_bytes = Spi::get_one_with_args::<Vec<u8>>(
                "SELECT encoder_onnx FROM image_search.models WHERE name = $1",
                &[name.into()],
            )
            .ok()
            .flatten()
            .unwrap_or_else(|| unknown_model(name));
            let session = onnx::session(&onnx_bytes, onnx::Threads::Sleep)
                .unwrap_or_else(|e| raise_error(PgSqlErrorCode::ERRCODE_EXTERNAL_ROUTINE_EXCEPTION, e));
            sessions.insert(
                name.to_string(),
                LoadedModel { build_id, channels: channels as u8, image_size: image_size as u32, session },
            );
        }
        f(sessions.get_mut(name).expect("inserted above"))
    })
}

impl LoadedModel {
    /// Embeddings of `pictures`, in order, computed `BATCH` at a time.
    pub fn embed(&mut self, pictures: &[&Picture]) -> Result<Vec<Vec<f32>>, String> {
        use rayon::prelude::*;
        let mut out = Vec::with_capacity(pictures.len());
        let (size, channels) = (self.image_size, self.channels);
        for batch in pictures.chunks(BATCH) {
            let tensor: Vec<f32> = batch.par_iter().flat_map_iter(|p| to_tensor(p, size, channels)).collect();
            let shape = [batch.len(), channels as usize, size as usize, size as usize];
            let err = |e: ort::Error| format!("encoder failed in ONNX Runtime: {e}");
            let input = TensorRef::from_array_view((shape, &tensor[..])).map_err(err)?;
            let outputs = self.session.run(ort::inputs!["images" => input]).map_err(err)?;
            ENCODER_RUNS.set(ENCODER_RUNS.get() + 1);
            let (out_shape, values) = outputs["embedding"].try_extract_tensor::<f32>().map_err(err)?;
            let dim = out_shape[1] as usize;
            out.extend(values.chunks_exact(dim).map(<[f32]>::to_vec));
        }
        Ok(out)
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
    let picture = ImageReader::for_current_user()
        .load(&image)
        .unwrap_or_else(|e| raise_error(PgSqlErrorCode::ERRCODE_DATA_EXCEPTION, e));
    let mut vectors = with_model(model_name, |m| m.embed(&[&picture]))
        .unwrap_or_else(|e| raise_error(PgSqlErrorCode::ERRCODE_EXTERNAL_ROUTINE_EXCEPTION, e));
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
