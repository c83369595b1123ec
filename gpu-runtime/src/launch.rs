//! The one launch path: `Gpu::launch(&KernelType, &LaunchDims, &[KernelArg])`.
//!
//! It checks the arguments against `KernelType::params()`, derives grid, block and dynamic
//! shared memory from the `KernelType`, gets or loads the module, packs the arguments (in
//! `launch_packed`, the only place a kernel-parameter pointer array is built) and launches
//! with `cuLaunchKernelEx` on the `Gpu`'s stream. During graph capture the same call records a
//! kernel node and retains the buffers it touches.

use std::ffi::c_void;

use cudarc::driver::{DriverError, sys};
use kernel_ptx::{KernelType, LaunchDims, LaunchGeometry};

use crate::args::{KernelArg, check_args};
use crate::{Gpu, GpuError};

impl Gpu {
    /// Launches `kernel` over `dims` with `args` (in `kernel.params()` order) on this GPU's
    /// stream. Asynchronous: a fault inside the kernel surfaces at the next synchronisation.
    ///
    /// Device memory safety rests on the kernel honouring `dims`; every buffer passed must be
    /// at least as large as the kernel's layout for `dims` (see the kernel family's docs).
    pub fn launch(
        &self,
        kernel: &KernelType,
        dims: &LaunchDims,
        args: &[KernelArg<'_>],
    ) -> Result<(), GpuError> {
        let params = kernel.params();
        check_args(params, args.iter().map(KernelArg::kind)).map_err(|mismatch| {
            GpuError::ArgMismatch {
                kernel: kernel.entry_name(),
                dims: *dims,
                mismatch,
            }
        })?;
        let geometry = kernel.launch(dims)?;
        let own_stream = self.stream().cu_stream();
        for (arg, param) in args.iter().zip(params) {
            if let KernelArg::Buf(buf) = arg
                && buf.owner_stream() != own_stream
            {
                return Err(GpuError::ForeignBuffer {
                    kernel: kernel.entry_name(),
                    dims: *dims,
                    param: param.name,
                    buffer_ordinal: buf.ordinal(),
                    gpu_ordinal: self.ordinal(),
                });
            }
        }
        let loaded = self.kernels.get(kernel)?;
        self.bind()?;

        let launch_error = |source| GpuError::Launch {
            kernel: kernel.entry_name(),
            dims: *dims,
            grid: geometry.grid,
            block: geometry.block,
            shared_bytes: geometry.dynamic_shared_bytes,
            source,
        };
        let shared = geometry.dynamic_shared_bytes;
        if shared > self.profile().max_shared_per_block_optin {
            return Err(GpuError::SharedMemory {
                kernel: kernel.entry_name(),
                dims: *dims,
                requested: shared,
                available: self.profile().max_shared_per_block_optin,
            });
        }
        loaded.ensure_dynamic_shared(shared).map_err(launch_error)?;

        let programmatic = self.options().programmatic_dependent_launch
            && self.profile().supports_programmatic_dependent_launch()
            && loaded.waits_on_grid_dependency;
        if let Some(retained) = self.capture_state().as_mut() {
            retained.extend(args.iter().filter_map(|a| match a {
                KernelArg::Buf(buf) => Some(buf.retain()),
                _ => None,
            }));
        }
        launch_packed(loaded.function, &geometry, own_stream, programmatic, args)
            .map_err(launch_error)
    }
}

/// One kernel parameter's value, stored where the driver reads it during the launch call.
enum ParamValue {
    Ptr(sys::CUdeviceptr),
    U32(u32),
    F32(f32),
}

/// Packs `args` and calls `cuLaunchKernelEx`. `programmatic` adds the launch attribute
/// `CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION` (PDL), which lets this grid start
/// before its predecessor on the stream finishes; only kernels that execute
/// `griddepcontrol.wait` before reading their inputs may get it.
fn launch_packed(
    function: sys::CUfunction,
    geometry: &LaunchGeometry,
    stream: sys::CUstream,
    programmatic: bool,
    args: &[KernelArg<'_>],
) -> Result<(), DriverError> {
    let values: Vec<ParamValue> = args
        .iter()
        .map(|arg| match arg {
            KernelArg::Buf(buf) => ParamValue::Ptr(buf.device_ptr()),
            KernelArg::U32(v) => ParamValue::U32(*v),
            KernelArg::F32(v) => ParamValue::F32(*v),
        })
        .collect();
    // `kernelParams[i]` points at the value of parameter i, sized as the PTX declares it
    // (`.u64` pointer, `.u32`, `.f32`); `check_args` established that the kinds match.
    let mut param_ptrs: Vec<*mut c_void> = values
        .iter()
        .map(|v| match v {
            ParamValue::Ptr(p) => std::ptr::from_ref(p).cast_mut().cast::<c_void>(),
            ParamValue::U32(u) => std::ptr::from_ref(u).cast_mut().cast::<c_void>(),
            ParamValue::F32(f) => std::ptr::from_ref(f).cast_mut().cast::<c_void>(),
        })
        .collect();

    let mut attribute = sys::CUlaunchAttribute {
        id: sys::CUlaunchAttributeID::CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION,
        pad: [0; 4],
        value: sys::CUlaunchAttributeValue { pad: [0; 64] },
    };
    attribute.value.programmaticStreamSerializationAllowed = 1;
    let [grid_x, grid_y, grid_z] = geometry.grid;
    let [block_x, block_y, block_z] = geometry.block;
    let config = sys::CUlaunchConfig {
        gridDimX: grid_x,
        gridDimY: grid_y,
        gridDimZ: grid_z,
        blockDimX: block_x,
        blockDimY: block_y,
        blockDimZ: block_z,
        sharedMemBytes: geometry.dynamic_shared_bytes,
        hStream: stream,
        attrs: &mut attribute,
        numAttrs: u32::from(programmatic),
    };
    // SAFETY: `function` is a live kernel of the context current on this thread (the caller
    // holds its `Arc<LoadedKernel>` and bound the context); `stream` belongs to that context.
    // `param_ptrs` has exactly one entry per PTX parameter (`check_args`), each pointing at a
    // value of the declared size in `values`, which outlives the call (the driver copies
    // parameter values before returning). Buffer pointers come only from this crate's sealed
    // buffer types, so each is a live allocation on `stream`. `config` and `attribute` outlive
    // the call; `numAttrs` is 0 or 1. `extra` is null.
    unsafe {
        sys::cuLaunchKernelEx(
            &config,
            function,
            param_ptrs.as_mut_ptr(),
            std::ptr::null_mut(),
        )
    }
    .result()
}
