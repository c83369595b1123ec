//! One module per kernel family. Each exposes `build` (PTX entry), `launch` (geometry from
//! runtime dims) and `PARAMS` (argument layout), dispatched from `KernelType`.

pub mod argmax;
pub mod elementwise;
pub mod embedding;
pub mod gemv;
pub mod quantize_q8_1;
pub(crate) mod reduce;
pub mod rms_norm;
pub mod rope;
