//! ONNX Runtime inside a backend: which library to load (the superuser setting
//! `image_search.onnxruntime_library`, with `$libdir` expanded as for `LOAD`) and
//! how many threads a session may use (`image_search.threads`).
use crate::engine::onnx::architectures::Architecture;
use crate::engine::onnx::runtime;
use crate::engine::train::{self, TrainStep};
use crate::error::Error;
use crate::settings;
use ort::session::Session;

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

/// A session for a serialised ONNX model with the configured library and threads.
pub fn session(model: &[u8]) -> Result<Session, Error> {
    let env = runtime::environment(&library_path()).map_err(Error::Runtime)?;
    runtime::session(&env, model, settings::threads()).map_err(Error::Runtime)
}

/// The train step of `arch` for batches of `batch_size` images on the configured
/// threads: one worker per thread, each with one-thread sessions of its own
/// (`train::step`), and no more workers than `train::step::workers_for` allows.
pub fn train_step(arch: &Architecture, batch_size: usize) -> Result<TrainStep, Error> {
    let env = runtime::environment(&library_path()).map_err(Error::Runtime)?;
    let one_thread = |graph: &[u8]| runtime::session(&env, graph, 1);
    let workers = train::step::workers_for(settings::threads(), batch_size);
    TrainStep::new(arch, workers, one_thread).map_err(Error::Runtime)
}

/// ONNX Runtime's build description; loads the library if this backend has not yet.
pub fn build_info() -> Result<String, Error> {
    runtime::build_info(&library_path()).map_err(Error::Runtime)
}

/// ONNX Runtime's build description (branch, commit, flags); loads the library
/// if this backend has not yet, so it also checks the setting.
#[pgrx::pg_extern(volatile)]
fn onnxruntime_info() -> String {
    use crate::error::OrRaise;
    build_info().or_raise()
}
