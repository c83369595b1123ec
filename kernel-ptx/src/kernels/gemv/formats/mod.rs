//! One file per family of weight formats, each mirroring ggml-cuda's `vec_dot_*_q8_1`
//! (ggml/src/ggml-cuda/vecdotq.cuh) for its formats, plus the float formats.

pub mod affine_k_mma;
pub mod float;
pub mod iq4;
pub mod legacy;
pub mod q2_k;
pub mod q3_k;
pub mod q4_k;
pub mod q6_k;
pub mod q8_0;
