//! PTX text generation: a typed builder, `KernelType`, one module per kernel family. No GPU.
//!
//! `KernelType` is the single source of truth for what the engine launches: each value knows its
//! entry name, its whole PTX module, its launch geometry for runtime dims and its argument layout.

pub mod builder;
mod error;
mod kernel_type;
pub mod kernels;
mod select;
mod target;

pub use error::KernelError;
pub use kernel_type::{KernelType, LaunchDims, LaunchGeometry, Param, ParamKind, gemv_formats};
pub use kernels::embedding::Embedding;
pub use kernels::gemv::{Gemv, mma_format_for};
pub use select::{
    EARLY_BLOCKS_PER_SM, GpuProfileLite, WeightShape, select_gate_up_swiglu, select_matvec,
    select_tensor_core_matvec,
};
pub use target::SmTarget;
