//! Loaded kernels, cached by `(KernelType, device ordinal)`: each variant's PTX is JIT-compiled
//! once per device with `cuModuleLoadDataEx` (capturing the JIT error log) and its single entry
//! looked up by `KernelType::entry_name()`.

use std::collections::HashMap;
use std::ffi::{CString, c_void};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use cudarc::driver::{CudaContext, DriverError, result, sys};
use kernel_ptx::KernelType;

use crate::GpuError;
use crate::error::BIND_CONTEXT;

/// Cache key: one loaded module per kernel variant per device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KernelKey {
    pub kernel: KernelType,
    pub ordinal: usize,
}

/// Register and memory use of a loaded kernel, as the driver reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelResources {
    pub registers_per_thread: i32,
    /// Local (spill/stack) memory per thread; non-zero means the kernel spills.
    pub local_bytes_per_thread: i32,
    pub static_shared_bytes: i32,
    pub max_threads_per_block: i32,
}

/// A module holding one kernel, and that kernel's function handle.
pub(crate) struct LoadedKernel {
    module: sys::CUmodule,
    pub(crate) function: sys::CUfunction,
    ctx: Arc<CudaContext>,
    /// The PTX waits on `griddepcontrol.wait` before touching its inputs, so it may be launched
    /// with programmatic stream serialisation (PDL).
    pub(crate) waits_on_grid_dependency: bool,
    /// The `CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES` currently set (48 KiB default).
    dynamic_shared_limit: AtomicU32,
}

// SAFETY: module and function handles are plain driver handles, usable from any thread once the
// context is current (every use binds `ctx` first); the driver synchronises access internally.
unsafe impl Send for LoadedKernel {}
// SAFETY: as for `Send`; shared access only reads the handles or updates an atomic.
unsafe impl Sync for LoadedKernel {}

impl Drop for LoadedKernel {
    fn drop(&mut self) {
        self.ctx.record_err(self.ctx.bind_to_thread());
        // SAFETY: the module was loaded by `load` and is unloaded exactly once, here; every
        // `Arc<LoadedKernel>` (including those held during a launch) is gone by now.
        self.ctx
            .record_err(unsafe { result::module::unload(self.module) });
    }
}

/// Dynamic shared memory a kernel may use without opting in.
const DEFAULT_DYNAMIC_SHARED_LIMIT: u32 = 48 * 1024;
/// Bytes kept for the JIT error log.
const JIT_LOG_BYTES: usize = 16 * 1024;

impl LoadedKernel {
    fn load(ctx: &Arc<CudaContext>, kernel: &KernelType) -> Result<LoadedKernel, GpuError> {
        ctx.bind_to_thread()
            .map_err(GpuError::driver(BIND_CONTEXT))?;
        let ptx = kernel.ptx();
        let waits_on_grid_dependency = kernel.waits_on_grid_dependency();
        let module = load_ptx(&ptx).map_err(|(source, jit_log)| GpuError::ModuleLoad {
            kernel: kernel.entry_name(),
            jit_log,
            source,
        })?;
        let entry = CString::new(kernel.entry_name()).expect("entry names contain no NUL");
        // SAFETY: `module` was just loaded in the current context and is still alive.
        let function = match unsafe { result::module::get_function(module, entry) } {
            Ok(f) => f,
            Err(source) => {
                // SAFETY: the module is not referenced anywhere else yet.
                ctx.record_err(unsafe { result::module::unload(module) });
                return Err(GpuError::ModuleLoad {
                    kernel: kernel.entry_name(),
                    jit_log: "entry not found in the loaded module".into(),
                    source,
                });
            }
        };
        Ok(LoadedKernel {
            module,
            function,
            ctx: ctx.clone(),
            waits_on_grid_dependency,
            dynamic_shared_limit: AtomicU32::new(DEFAULT_DYNAMIC_SHARED_LIMIT),
        })
    }

    /// Raises `CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES` to `bytes` when above the
    /// current limit (needed for more than 48 KiB).
    pub(crate) fn ensure_dynamic_shared(&self, bytes: u32) -> Result<(), DriverError> {
        if bytes <= self.dynamic_shared_limit.load(Ordering::Relaxed) {
            return Ok(());
        }
        let value = i32::try_from(bytes).unwrap_or(i32::MAX);
        // SAFETY: `function` belongs to the live module owned by `self`; the caller bound the
        // context.
        unsafe {
            result::function::set_function_attribute(
                self.function,
                sys::CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                value,
            )
        }?;
        self.dynamic_shared_limit
            .fetch_max(bytes, Ordering::Relaxed);
        Ok(())
    }

    pub(crate) fn resources(&self) -> Result<KernelResources, DriverError> {
        use sys::CUfunction_attribute as A;
        self.ctx.bind_to_thread()?;
        // SAFETY: `function` belongs to the live module owned by `self`; context bound above.
        let get = |attr| unsafe { result::function::get_function_attribute(self.function, attr) };
        Ok(KernelResources {
            registers_per_thread: get(A::CU_FUNC_ATTRIBUTE_NUM_REGS)?,
            local_bytes_per_thread: get(A::CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES)?,
            static_shared_bytes: get(A::CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES)?,
            max_threads_per_block: get(A::CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK)?,
        })
    }
}

/// JIT-compiles `ptx` into a module in the current context; on failure returns the driver
/// error and the JIT compiler's error log.
fn load_ptx(ptx: &str) -> Result<sys::CUmodule, (DriverError, String)> {
    let image = CString::new(ptx).map_err(|_| {
        (
            DriverError(sys::CUresult::CUDA_ERROR_INVALID_PTX),
            "PTX text contains a NUL byte".to_string(),
        )
    })?;
    let mut log = vec![0u8; JIT_LOG_BYTES];
    let mut options = [
        sys::CUjit_option::CU_JIT_ERROR_LOG_BUFFER,
        sys::CUjit_option::CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
    ];
    // JIT option values are passed as pointer-sized words: a buffer address, then its size.
    let mut values = [
        log.as_mut_ptr().cast::<c_void>(),
        JIT_LOG_BYTES as *mut c_void,
    ];
    let mut module = std::ptr::null_mut();
    // SAFETY: `image` is a NUL-terminated PTX string alive for the call; `options` and `values`
    // have the same length (2) and describe `log`, which outlives the call and is as long as
    // the size passed; `module` is a valid out-pointer.
    let status = unsafe {
        sys::cuModuleLoadDataEx(
            &mut module,
            image.as_ptr().cast(),
            options.len() as u32,
            options.as_mut_ptr(),
            values.as_mut_ptr(),
        )
    };
    match status.result() {
        Ok(()) => Ok(module),
        Err(e) => {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            Err((e, String::from_utf8_lossy(&log[..end]).into_owned()))
        }
    }
}

/// The loaded kernels of one device.
pub(crate) struct ModuleCache {
    ctx: Arc<CudaContext>,
    loaded: Mutex<HashMap<KernelKey, Arc<LoadedKernel>>>,
}

impl ModuleCache {
    pub(crate) fn new(ctx: Arc<CudaContext>) -> Self {
        ModuleCache {
            ctx,
            loaded: Mutex::new(HashMap::new()),
        }
    }

    /// The kernel for `kernel` on this device, loading it on first use.
    pub(crate) fn get(&self, kernel: &KernelType) -> Result<Arc<LoadedKernel>, GpuError> {
        let key = KernelKey {
            kernel: *kernel,
            ordinal: self.ctx.ordinal(),
        };
        let mut loaded = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(k) = loaded.get(&key) {
            return Ok(k.clone());
        }
        let k = Arc::new(LoadedKernel::load(&self.ctx, kernel)?);
        loaded.insert(key, k.clone());
        Ok(k)
    }

    pub(crate) fn len(&self) -> usize {
        self.loaded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}
