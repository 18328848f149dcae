//! The extension's GUCs. Anything that decides which files the server reads or
//! which native library it loads is superuser-only (PGC_SUSET), like
//! Postgres' own `data_directory`-style settings.
use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use std::ffi::CString;

pub static ONNXRUNTIME_LIBRARY: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"$libdir/libonnxruntime.so.1.32.0"));
pub static IMAGE_ROOT: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
pub static MAX_IMAGE_PIXELS: GucSetting<i32> = GucSetting::<i32>::new(40_000_000);
pub static THREADS: GucSetting<i32> = GucSetting::<i32>::new(0);
pub static TRAIN_CACHE_MB: GucSetting<i32> = GucSetting::<i32>::new(1024);
pub static MAX_IMPORT_BYTES: GucSetting<i32> = GucSetting::<i32>::new(512 * 1024 * 1024);

pub fn register() {
    GucRegistry::define_string_guc(
        c"image_search.onnxruntime_library",
        c"Path of the ONNX Runtime shared library ($libdir is expanded).",
        c"Loaded on first use of a model, not at CREATE EXTENSION.",
        &ONNXRUNTIME_LIBRARY,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"image_search.image_root",
        c"Directory that relative image paths resolve against.",
        c"Any role allowed to run image_search functions may read image files under this directory; \
          other server paths need superuser or pg_read_server_files.",
        &IMAGE_ROOT,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"image_search.max_image_pixels",
        c"Largest image (width x height) that will be decoded.",
        c"Checked from the image header before decoding, against decompression bombs.",
        &MAX_IMAGE_PIXELS,
        1,
        i32::MAX,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"image_search.threads",
        c"Threads for image decoding and ONNX Runtime (0 = one per CPU core).",
        c"A build's train step runs each batch as one slice per thread, which trains the same model up to rounding.",
        &THREADS,
        0,
        256,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"image_search.max_import_bytes",
        c"Largest ONNX file import_model accepts.",
        c"Bounds the memory and ONNX Runtime work one import can cause.",
        &MAX_IMPORT_BYTES,
        1,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_BYTE,
    );
    GucRegistry::define_int_guc(
        c"image_search.train_cache_mb",
        c"Memory for caching decoded training images, in MB.",
        c"When a build's images do not fit, they are re-read from the source query every epoch.",
        &TRAIN_CACHE_MB,
        0,
        1 << 20,
        GucContext::Userset,
        GucFlags::default(),
    );
}

pub fn string(setting: &GucSetting<Option<CString>>) -> Option<String> {
    setting.get().map(|s| s.to_string_lossy().into_owned()).filter(|s| !s.is_empty())
}

pub fn threads() -> usize {
    match THREADS.get() {
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        n => n as usize,
    }
}
