//! The plain-Rust engine: nothing in here calls Postgres (no pgrx), so all of it
//! is unit-tested with `cargo test` and reused by benchmarks.
//! - `image`: reading, decoding, resampling, augmenting and showing images
//! - `onnx`: ONNX Runtime sessions, the generated graphs, standalone encoder files
//! - `train`: the SimCLR training loop around the ONNX train step (`train::step`: one graph on
//!   one core, or the batch cut into one slice per core)
//! - `gradient_descriptor`: the oriented-gradient descriptor grayscale embeddings carry, and its fit
//! - `label_votes`: the label shares of an image's nearest training images, which labelled embeddings end with
//! - `neighbour_positives`: training pairs made of an image and one of its descriptor neighbours
//! - `distance`: cosine, L2 and inner-product kernels
//! - `tutorial`: the tutorial dialect's parser
//! - `ann`: k-means, list assignment and probing for the `ann` index (src/index)
pub mod ann;
pub mod distance;
pub mod gradient_descriptor;
pub mod image;
pub mod label_votes;
pub mod neighbour_positives;
pub mod onnx;
pub mod train;
pub mod tutorial;
