//! ONNX Runtime inside a backend. The library is loaded on first use, not at
//! CREATE EXTENSION, so a missing or wrong library is an ERROR where a model is
//! used and the extension itself always installs.
use crate::settings;
use ort::environment::Environment;
use ort::session::Session;
use std::sync::Mutex;

static ENVIRONMENT: Mutex<Option<Environment>> = Mutex::new(None);

/// `$libdir/...` expanded the way Postgres expands it for `LOAD`.
pub fn library_path() -> String {
    let configured = settings::string(&settings::ONNXRUNTIME_LIBRARY).unwrap_or_default();
    match configured.strip_prefix("$libdir") {
        Some(rest) => format!("{}{}", pkglib_dir(), rest),
        None => configured,
    }
}

fn pkglib_dir() -> String {
    // SAFETY: pkglib_path is a NUL-terminated buffer Postgres fills at start-up and never changes.
    unsafe {
        std::ffi::CStr::from_ptr(std::ptr::addr_of!(pgrx::pg_sys::pkglib_path) as *const std::ffi::c_char)
            .to_string_lossy()
            .into_owned()
    }
}

pub fn environment() -> Result<Environment, String> {
    let mut guard = ENVIRONMENT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(env) = guard.as_ref() {
        return Ok(env.clone());
    }
    let path = library_path();
    let env = ort::init_from(&path)
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

/// How a session's threads wait for work.
#[derive(Clone, Copy)]
pub enum Threads {
    /// Idle threads sleep: for short encoder runs on a shared database server.
    Sleep,
    /// Idle threads spin between the back-to-back steps of a training run,
    /// which is one long job that owns its cores while it lasts.
    Spin,
}

/// A session for a serialised ONNX model, using `image_search.threads` threads.
pub fn session(model: &[u8], threads: Threads) -> Result<Session, String> {
    let env = environment()?;
    let err = |e: ort::Error| format!("ONNX Runtime could not load the model: {e}");
    Session::builder(&env)
        .map_err(err)?
        .with_intra_threads(settings::threads())
        .map_err(|e| err(e.into()))?
        .with_inter_threads(1)
        .map_err(|e| err(e.into()))?
        .with_intra_op_spinning(matches!(threads, Threads::Spin))
        .map_err(|e| err(e.into()))?
        .with_optimization_level(ort::session::builder::GraphOptimizationLevel::All)
        .map_err(|e| err(e.into()))?
        .commit_from_memory(model)
        .map_err(err)
}

/// ONNX Runtime's own build description (branch, commit, flags) of the loaded library.
pub fn build_info() -> Result<String, String> {
    environment()?;
    Ok(ort::info().to_string())
}

/// ONNX Runtime's build description; loads the library if this backend has not yet.
#[pgrx::pg_extern(volatile)]
fn onnxruntime_info() -> String {
    build_info().unwrap_or_else(|e| crate::raise_error(pgrx::PgSqlErrorCode::ERRCODE_EXTERNAL_ROUTINE_EXCEPTION, e))
}
