//! cudarc device, stream, buffers, module cache, the one launch path and CUDA graphs.
//!
//! - [`Gpu`]: one device and its single stream; [`Gpu::new`] fails with a typed error when
//!   libcuda or the device is missing (the CLI's cpu/cuda decision).
//! - [`DeviceBuffer`] / [`BufferView`] / [`GuardedBuffer`]: device memory and parity-test
//!   helpers.
//! - [`Gpu::launch`]: the only way to run a kernel, driven entirely by a `KernelType`;
//!   [`Gpu::copy_device`] / [`Gpu::memset_device`] for device-side copies and fills.
//! - [`CapturedGraph`]: the same launches captured once and replayed.
//! - [`GpuProfile`]: device facts, derived purely from [`DeviceAttributes`].
//! - [`EventTimer`]: CUDA-event timing for benches.
//!
//! libcuda is loaded at run time (cudarc `dynamic-loading`), so everything builds without CUDA.

#![deny(clippy::undocumented_unsafe_blocks)]

mod args;
mod buffer;
mod copy;
mod device;
mod error;
mod graph;
mod guard;
mod launch;
mod module_cache;
mod profile;
mod timer;

pub use args::{KernelArg, check_args};
pub use buffer::{BufferView, DeviceBuffer, DeviceBytes, DeviceMemory, Element};
pub use device::{Gpu, GpuOptions};
pub use error::{ArgMismatch, GpuError, GuardSide};
pub use graph::{CapturedGraph, GraphUpdate};
pub use guard::{GUARD_BYTE, GuardedBuffer, POISON_BYTE};
pub use module_cache::{KernelKey, KernelResources};
pub use profile::{DeviceAttributes, GpuProfile};
pub use timer::{EventTimer, Timing};
