//! ONNX Runtime: loading the shared library once per process and creating
//! sessions. The library is loaded on first use, not at CREATE EXTENSION, so a
//! missing or wrong library is an error where a model is used and the extension
//! itself always installs. Which library and how many threads are the caller's
//! choice (the Postgres layer reads them from settings: `crate::model::runtime`).
use ort::environment::Environment;
use ort::session::Session;
use std::sync::Mutex;

static ENVIRONMENT: Mutex<Option<Environment>> = Mutex::new(None);

/// The process-wide environment, loading the library at `path` the first time
/// one loads successfully.
pub fn environment(path: &str) -> Result<Environment, String> {
    let mut guard = ENVIRONMENT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(env) = guard.as_ref() {
        return Ok(env.clone());
    }
    let env = ort::init_from(path)
        .map_err(|e| {
            format!("could not load ONNX Runtime from \"{path}\": {e} (check image_search.onnxruntime_library)")
        })?
        .with_name("image_search")
        .with_telemetry(false)
        .build()
        .map_err(|e| format!("could not start ONNX Runtime from \"{path}\": {e}"))?;
    *guard = Some(env.clone());
    Ok(env)
}

/// A session for a serialised ONNX model with `intra_threads` threads, whose idle
/// threads sleep rather than spin: a database server is shared. (A build's train
/// step runs one-thread sessions, one per core: `engine::train::step`.)
pub fn session(env: &Environment, model: &[u8], intra_threads: usize) -> Result<Session, String> {
    let err = |e: ort::Error| format!("ONNX Runtime could not load the model: {e}");
    Session::builder(env)
        .map_err(err)?
        .with_intra_threads(intra_threads)
        .map_err(|e| err(e.into()))?
        .with_inter_threads(1)
        .map_err(|e| err(e.into()))?
        .with_intra_op_spinning(false)
        .map_err(|e| err(e.into()))?
        .with_optimization_level(ort::session::builder::GraphOptimizationLevel::All)
        .map_err(|e| err(e.into()))?
        .commit_from_memory(model)
        .map_err(err)
}

/// ONNX Runtime's own build description (branch, commit, flags) of the loaded library.
pub fn build_info(path: &str) -> Result<String, String> {
    environment(path)?;
    Ok(ort::info().to_string())
}
