//! Errors of the GPU runtime: each names the operation, and for launches the kernel and dims.

use cudarc::driver::DriverError;
use kernel_ptx::{KernelError, LaunchDims, ParamKind};

#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    /// `libcuda` could not be loaded: no NVIDIA driver, or it is not on the library path.
    #[error(
        "the CUDA driver library (libcuda.so) could not be loaded; is an NVIDIA driver installed?"
    )]
    DriverUnavailable,
    #[error("no CUDA device with ordinal {ordinal} ({count} present)")]
    NoDevice { ordinal: usize, count: usize },
    /// A driver call outside a launch failed.
    #[error("CUDA {op} failed: {source}")]
    Driver {
        op: &'static str,
        #[source]
        source: DriverError,
    },
    /// `cuModuleLoadDataEx` rejected a kernel's PTX; `jit_log` is the JIT compiler's error log.
    #[error("kernel {kernel}: loading its PTX failed: {source}; JIT log: {jit_log}")]
    ModuleLoad {
        kernel: String,
        jit_log: String,
        #[source]
        source: DriverError,
    },
    /// The variant cannot run these dims (from `KernelType::launch`).
    #[error(transparent)]
    Geometry(#[from] KernelError),
    #[error("kernel {kernel} with {dims:?}: {mismatch}")]
    ArgMismatch {
        kernel: String,
        dims: LaunchDims,
        mismatch: ArgMismatch,
    },
    #[error(
        "kernel {kernel} with {dims:?}: argument {param} is a buffer of another Gpu \
         (device {buffer_ordinal}; this launch is on device {gpu_ordinal})"
    )]
    ForeignBuffer {
        kernel: String,
        dims: LaunchDims,
        param: &'static str,
        buffer_ordinal: usize,
        gpu_ordinal: usize,
    },
    #[error(
        "kernel {kernel} with {dims:?}: needs {requested} bytes of dynamic shared memory, \
         the device allows {available}"
    )]
    SharedMemory {
        kernel: String,
        dims: LaunchDims,
        requested: u32,
        available: u32,
    },
    #[error(
        "kernel {kernel} with {dims:?} (grid {grid:?}, block {block:?}, {shared_bytes} B dynamic \
         shared): launch failed: {source}"
    )]
    Launch {
        kernel: String,
        dims: LaunchDims,
        grid: [u32; 3],
        block: [u32; 3],
        shared_bytes: u32,
        #[source]
        source: DriverError,
    },
    #[error("{op}: {expected} elements expected, {got} given")]
    LengthMismatch {
        op: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("{op}: range {start}..{end} is outside a buffer of {len} elements")]
    OutOfRange {
        op: &'static str,
        start: usize,
        end: usize,
        len: usize,
    },
    /// Host transfers and allocations would become graph nodes (or fail) during capture.
    #[error("{op} is not allowed while a CUDA graph is being captured")]
    NotAllowedDuringCapture { op: &'static str },
    #[error("Gpu::copy_device / memset_device: a buffer belongs to another Gpu")]
    ForeignCopy,
    #[error("a CUDA graph is already being captured on this stream")]
    CaptureInProgress,
    #[error("the graph capture recorded no work")]
    EmptyCapture,
    #[error("a graph can only be updated through the Gpu it was captured on")]
    ForeignGraph,
    /// A parity-test guard region no longer holds its pattern: something wrote out of bounds.
    #[error(
        "guard region {side} of a {len}-element buffer was overwritten: byte {offset} is \
         {found:#04x}, expected {expected:#04x}"
    )]
    GuardOverwritten {
        side: GuardSide,
        len: usize,
        offset: usize,
        found: u8,
        expected: u8,
    },
}

/// Which guard region of a `GuardedBuffer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuardSide {
    Before,
    After,
}

impl std::fmt::Display for GuardSide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GuardSide::Before => "before",
            GuardSide::After => "after",
        })
    }
}

/// How launch arguments disagree with `KernelType::params()`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ArgMismatch {
    #[error("expected {expected} arguments ({names}), got {got}")]
    Count {
        expected: usize,
        got: usize,
        names: String,
    },
    #[error("argument {index} ({param}) must be {expected:?}, got {got:?}")]
    Kind {
        index: usize,
        param: &'static str,
        expected: ParamKind,
        got: ParamKind,
    },
}

/// The operation named when binding the context fails. cudarc's `bind_to_thread` first
/// reports (and clears) an error recorded earlier by a call that could not return one (a free
/// or destroy in `Drop`), so the failure may belong to that earlier call.
pub(crate) const BIND_CONTEXT: &str = "cuCtxSetCurrent (or an earlier deferred error)";

impl GpuError {
    pub(crate) fn driver(op: &'static str) -> impl FnOnce(DriverError) -> GpuError {
        move |source| GpuError::Driver { op, source }
    }
}
