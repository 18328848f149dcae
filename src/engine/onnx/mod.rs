//! ONNX: the graphs `models/generate.py` writes (`architectures`), loading ONNX
//! Runtime and creating sessions (`runtime`), and writing a trained encoder as
//! one standalone ONNX file (`encoder_file`).
pub mod architectures;
pub mod encoder_file;
pub mod runtime;
