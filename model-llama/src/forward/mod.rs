//! The forward pass: one transformer written once against [`ForwardOps`], the CPU reference
//! backend ([`CpuOps`]) that is the oracle for every GPU kernel, its KV cache, and [`Model`].

mod cpu_ops;
mod error;
mod kv_cache;
mod model;
mod ops;
mod rope;
mod transformer;

pub use cpu_ops::{CpuAct, CpuMatrix, CpuOps, CpuWeightSink};
pub use error::{ForwardError, LoadError};
pub use kv_cache::CpuKvCache;
pub use model::{CpuSession, Model};
pub use ops::{AttentionShape, ForwardOps};
pub use rope::RopeTable;
pub use transformer::forward;
