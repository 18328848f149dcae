//! ONNX: the graphs `models/generate.py` writes (`architectures`), loading ONNX
//! Runtime and creating sessions (`runtime`), writing a trained encoder as one
//! standalone ONNX file (`encoder_file`), reading ONNX files (`wire`, `inspect`)
//! and how an imported encoder is fed and read (`imported`).
pub mod architectures;
pub mod encoder_file;
pub mod imported;
pub mod inspect;
pub mod runtime;
pub mod wire;
