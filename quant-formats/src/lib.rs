//! GGUF block layouts and their CPU reference maths (dequantize, quantize, vec_dot).
//!
//! No GPU and no I/O. Every layout mirrors ggml's `ggml-common.h`; every algorithm mirrors
//! `ggml-quants.c` (`dequantize_row_*`, `quantize_row_*_ref`) and, for dot products, the CUDA
//! backend's `vecdotq.cuh`, which is what our GPU kernels compute.

mod block;
mod error;
mod formats;
mod ggml_type;
mod kquant_search;
mod q8_1_planes;
mod row;

pub use block::QuantBlock;
pub use error::QuantError;
pub use formats::*;
pub use ggml_type::GgmlType;
pub use q8_1_planes::{
    Q8_1Plane, Q8_1PlanesDifference, matvec_activation_bytes, q8_1_from_planes,
    q8_1_planes_first_difference, q8_1_quant_plane_bytes, q8_1_to_planes,
};
pub use row::{QuantizedActivation, activation_type, dequantize_row, quantize_row, vec_dot_row};
