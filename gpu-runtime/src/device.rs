//! `Gpu`: one device's context, its single stream, its profile and its loaded kernels.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use cudarc::driver::{CudaContext, CudaStream, result, sys};
use kernel_ptx::KernelType;

use crate::GpuError;
use crate::buffer::{DeviceBuffer, Element, Retained};
use crate::error::BIND_CONTEXT;
use crate::module_cache::{KernelResources, ModuleCache};
use crate::profile::{DeviceAttributes, GpuProfile};

/// Start-up choices for a `Gpu` (filled from the engine's `RuntimeConfig`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GpuOptions {
    /// Launch kernels that wait on `griddepcontrol.wait` with programmatic stream
    /// serialisation, so each starts while its predecessor drains (sm_90+; ignored below).
    pub programmatic_dependent_launch: bool,
}

impl Default for GpuOptions {
    fn default() -> Self {
        GpuOptions {
            programmatic_dependent_launch: true,
        }
    }
}

/// One CUDA device with one stream. All allocations, copies, launches and graph replays of a
/// `Gpu` are ordered on that stream, so no cross-stream synchronisation exists or is needed.
/// Buffers belong to the `Gpu` that allocated them; launching one on another `Gpu` is an error.
pub struct Gpu {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    name: String,
    profile: GpuProfile,
    options: GpuOptions,
    pub(crate) kernels: ModuleCache,
    /// `Some` while a graph is being captured: every allocation the captured launches touch.
    capture: Mutex<Option<Vec<Retained>>>,
}

impl Gpu {
    /// Opens device `ordinal` with default options. Fails with `DriverUnavailable` when
    /// libcuda cannot be loaded and `NoDevice` when the device does not exist, so callers can
    /// fall back to the CPU explicitly.
    pub fn new(ordinal: usize) -> Result<Gpu, GpuError> {
        Gpu::with_options(ordinal, GpuOptions::default())
    }

    pub fn with_options(ordinal: usize, options: GpuOptions) -> Result<Gpu, GpuError> {
        // SAFETY: only tries `dlopen` on the driver library's names; cudarc would panic on the
        // first driver call without it, so this check must come first.
        if !unsafe { sys::is_culib_present() } {
            return Err(GpuError::DriverUnavailable);
        }
        result::init().map_err(|e| match e.0 {
            sys::CUresult::CUDA_ERROR_NO_DEVICE => GpuError::NoDevice { ordinal, count: 0 },
            _ => GpuError::Driver {
                op: "cuInit",
                source: e,
            },
        })?;
        let count = CudaContext::device_count().map_err(GpuError::driver("cuDeviceGetCount"))?;
        let count = usize::try_from(count).unwrap_or(0);
        if ordinal >= count {
            return Err(GpuError::NoDevice { ordinal, count });
        }
        let ctx =
            CudaContext::new(ordinal).map_err(GpuError::driver("cuDevicePrimaryCtxRetain"))?;
        // SAFETY: cudarc's per-buffer read/write events synchronise buffers across streams. A
        // `Gpu` uses exactly one stream and refuses buffers of other `Gpu`s, so the events are
        // unnecessary; they would also add event nodes to captured graphs. Disabled before the
        // first allocation, as required.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx
            .new_stream()
            .map_err(GpuError::driver("cuStreamCreate"))?;
        let name = ctx.name().map_err(GpuError::driver("cuDeviceGetName"))?;
        let profile = GpuProfile::from_attributes(&read_attributes(&ctx));
        tracing::info!(
            ordinal,
            name,
            sm_count = profile.sm_count,
            compute_capability = ?profile.compute_capability,
            bandwidth_gb_s = profile.memory_bandwidth_bytes_per_s.map(|b| b / 1e9),
            ?options,
            "opened CUDA device"
        );
        Ok(Gpu {
            kernels: ModuleCache::new(ctx.clone()),
            ctx,
            stream,
            name,
            profile,
            options,
            capture: Mutex::new(None),
        })
    }

    pub fn ordinal(&self) -> usize {
        self.ctx.ordinal()
    }

    /// The device name, e.g. "NVIDIA H200".
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn profile(&self) -> &GpuProfile {
        &self.profile
    }

    pub fn options(&self) -> GpuOptions {
        self.options
    }

    /// `len` zeroed elements.
    pub fn alloc<T: Element>(&self, len: usize) -> Result<DeviceBuffer<T>, GpuError> {
        self.refuse_during_capture("Gpu::alloc")?;
        let mut buf = DeviceBuffer::alloc_uninit(&self.stream, len)?;
        buf.fill_bytes(0)?;
        Ok(buf)
    }

    /// A new buffer holding a copy of `src`.
    pub fn upload<T: Element>(&self, src: &[T]) -> Result<DeviceBuffer<T>, GpuError> {
        self.refuse_during_capture("Gpu::upload")?;
        let mut buf = DeviceBuffer::alloc_uninit(&self.stream, src.len())?;
        buf.copy_from_host(src)?;
        Ok(buf)
    }

    /// Waits for all queued work; reports errors of earlier asynchronous work, including those
    /// recorded while freeing memory.
    pub fn synchronize(&self) -> Result<(), GpuError> {
        self.bind()?;
        self.stream
            .synchronize()
            .map_err(GpuError::driver("cuStreamSynchronize"))?;
        self.ctx
            .check_err()
            .map_err(GpuError::driver("an earlier asynchronous operation"))
    }

    /// `(free, total)` device memory in bytes.
    pub fn memory_info(&self) -> Result<(usize, usize), GpuError> {
        self.ctx
            .mem_get_info()
            .map_err(GpuError::driver("cuMemGetInfo"))
    }

    /// Loads `kernels` now rather than at their first launch (e.g. before timing or capture).
    pub fn preload(&self, kernels: &[KernelType]) -> Result<(), GpuError> {
        kernels
            .iter()
            .try_for_each(|k| self.kernels.get(k).map(drop))
    }

    /// Registers, spills and static shared memory of `kernel` as compiled for this device.
    pub fn kernel_resources(&self, kernel: &KernelType) -> Result<KernelResources, GpuError> {
        self.kernels
            .get(kernel)?
            .resources()
            .map_err(GpuError::driver("cuFuncGetAttribute"))
    }

    /// Number of kernel variants loaded so far.
    pub fn loaded_kernels(&self) -> usize {
        self.kernels.len()
    }

    pub(crate) fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    pub(crate) fn context(&self) -> &Arc<CudaContext> {
        &self.ctx
    }

    pub(crate) fn bind(&self) -> Result<(), GpuError> {
        self.ctx
            .bind_to_thread()
            .map_err(GpuError::driver(BIND_CONTEXT))
    }

    /// The allocations retained by the capture in progress, if any.
    pub(crate) fn capture_state(&self) -> MutexGuard<'_, Option<Vec<Retained>>> {
        self.capture.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn refuse_during_capture(&self, op: &'static str) -> Result<(), GpuError> {
        if self.capture_state().is_some() {
            return Err(GpuError::NotAllowedDuringCapture { op });
        }
        Ok(())
    }
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gpu")
            .field("ordinal", &self.ordinal())
            .field("name", &self.name)
            .field("profile", &self.profile)
            .field("options", &self.options)
            .finish()
    }
}

/// Reads the attributes `GpuProfile` needs; one the driver does not report reads as 0.
fn read_attributes(ctx: &CudaContext) -> DeviceAttributes {
    use sys::CUdevice_attribute as A;
    let get = |attr| ctx.attribute(attr).unwrap_or(0);
    DeviceAttributes {
        multiprocessor_count: get(A::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT),
        compute_capability_major: get(A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
        compute_capability_minor: get(A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR),
        l2_cache_size: get(A::CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE),
        max_shared_memory_per_block: get(A::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK),
        max_shared_memory_per_block_optin: get(
            A::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
        ),
        max_shared_memory_per_multiprocessor: get(
            A::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR,
        ),
        warp_size: get(A::CU_DEVICE_ATTRIBUTE_WARP_SIZE),
        max_threads_per_block: get(A::CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK),
        memory_clock_rate_khz: get(A::CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE),
        global_memory_bus_width_bits: get(A::CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH),
        total_memory_bytes: ctx.total_mem().map_or(0, |b| b as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_shareable_across_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Gpu>();
        send_sync::<crate::DeviceBuffer<f32>>();
        send_sync::<crate::EventTimer>();
    }

    /// Runs everywhere: without libcuda this is `DriverUnavailable`, with a driver `NoDevice`;
    /// either way a typed error, never a panic.
    #[test]
    fn opening_an_absent_device_is_a_typed_error() {
        match Gpu::new(usize::MAX) {
            Err(GpuError::DriverUnavailable) => {}
            Err(GpuError::NoDevice { ordinal, .. }) => assert_eq!(ordinal, usize::MAX),
            other => panic!("expected DriverUnavailable or NoDevice, got {other:?}"),
        }
    }
}
