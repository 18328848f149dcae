//! Models: the catalog table and its typed rows (`catalog`), training one with
//! `build_model` (`build`, reading its images through `training_images`; the
//! older signatures' symbols in `build_signatures`),
//! importing any ONNX image encoder (`import`: `import_model`), concatenating models'
//! embeddings (`combine`: `combine_models`),
//! running a model's encoder in a backend (`encoder`: `embed_image`) and the
//! ONNX Runtime settings of a backend (`runtime`).
pub mod build;
pub mod build_options;
pub mod build_signatures;
pub mod catalog;
pub mod combine;
pub mod encoder;
pub mod import;
pub mod runtime;
pub mod training_images;
