//! Typed device buffers, views into them, and host transfers on the owning `Gpu`'s stream.
//!
//! A buffer's allocation is reference-counted: a captured CUDA graph keeps every allocation it
//! touches alive (see `CapturedGraph`), so dropping a `DeviceBuffer` never frees memory a
//! replay still reads or writes. Frees are stream-ordered (`cuMemFreeAsync`), so dropping a
//! buffer while a kernel using it is still queued is also safe.

use std::any::Any;
use std::marker::PhantomData;
use std::ops::Range;
use std::sync::Arc;

use cudarc::driver::{CudaSlice, CudaStream, DevicePtr, result, sys};

use crate::GpuError;
use crate::error::BIND_CONTEXT;

/// Element types a `DeviceBuffer` holds: plain data (`f32`, `half::f16`, `u8`, quant blocks).
pub trait Element: bytemuck::Pod + Send + Sync + 'static {}
impl<T: bytemuck::Pod + Send + Sync + 'static> Element for T {}

/// Something alive as long as a graph that touched the allocation.
pub(crate) type Retained = Arc<dyn Any + Send + Sync>;

pub(crate) mod sealed {
    /// Raw access for the launch path and graph capture. Sealed: only this crate's buffer types
    /// hand out device pointers, so every pointer a launch receives is a live allocation.
    pub trait RawDeviceMemory {
        /// First byte of the memory.
        fn device_ptr(&self) -> u64;
        /// A handle keeping the allocation alive.
        fn retain(&self) -> super::Retained;
        /// The stream the allocation is ordered on (identifies the owning `Gpu`).
        fn owner_stream(&self) -> cudarc::driver::sys::CUstream;
    }
}

/// Device memory that can be passed to a kernel (`KernelArg::Buf`).
pub trait DeviceMemory: sealed::RawDeviceMemory {
    fn byte_len(&self) -> usize;
    /// Ordinal of the device holding the memory.
    fn ordinal(&self) -> usize;
}

/// `len` elements of `T` in device memory, allocated on a `Gpu`'s stream.
///
/// Writes through `&self` happen only on the device (a kernel receiving the buffer as an
/// argument); host-side writes take `&mut self`.
pub struct DeviceBuffer<T: Element> {
    /// The allocation, `len * size_of::<T>()` bytes.
    bytes: Arc<CudaSlice<u8>>,
    len: usize,
    ptr: u64,
    elements: PhantomData<T>,
}

/// A bytes buffer, e.g. a GGUF tensor-data blob holding weights in their block format.
pub type DeviceBytes = DeviceBuffer<u8>;

/// Elements `offset..offset + len` of a `DeviceBuffer`, passable as a kernel argument.
#[derive(Clone, Copy)]
pub struct BufferView<'a, T: Element> {
    parent: &'a DeviceBuffer<T>,
    offset: usize,
    len: usize,
}

impl<T: Element> DeviceBuffer<T> {
    /// Uninitialised allocation of `len` elements; `Gpu::alloc` zeroes it.
    pub(crate) fn alloc_uninit(stream: &Arc<CudaStream>, len: usize) -> Result<Self, GpuError> {
        let byte_len = len
            .checked_mul(size_of::<T>())
            .ok_or(GpuError::OutOfRange {
                op: "DeviceBuffer::alloc",
                start: 0,
                end: len,
                len: usize::MAX / size_of::<T>().max(1),
            })?;
        // Zero-byte allocations are invalid in the driver; an empty buffer still owns one byte.
        // SAFETY: the memory is uninitialised; callers (`Gpu::alloc`, `Gpu::upload`) write every
        // byte before handing the buffer out, and `T: Pod` accepts any bit pattern.
        let bytes = unsafe { stream.alloc::<u8>(byte_len.max(1)) }
            .map_err(GpuError::driver("cuMemAllocAsync"))?;
        let ptr = bytes.device_ptr(stream).0;
        Ok(DeviceBuffer {
            bytes: Arc::new(bytes),
            len,
            ptr,
            elements: PhantomData,
        })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ordinal of the device holding the buffer.
    pub fn ordinal(&self) -> usize {
        self.bytes.ordinal()
    }

    /// Elements `range` as a kernel argument.
    pub fn view(&self, range: Range<usize>) -> Result<BufferView<'_, T>, GpuError> {
        self.check_range("DeviceBuffer::view", &range)?;
        Ok(BufferView {
            parent: self,
            offset: range.start,
            len: range.len(),
        })
    }

    /// Copies `src` (exactly `len()` elements) into the buffer.
    pub fn copy_from_host(&mut self, src: &[T]) -> Result<(), GpuError> {
        if src.len() != self.len() {
            return Err(GpuError::LengthMismatch {
                op: "DeviceBuffer::copy_from_host",
                expected: self.len(),
                got: src.len(),
            });
        }
        self.copy_from_host_at(0, src)
    }

    /// Copies `src` into elements `offset..offset + src.len()`.
    pub fn copy_from_host_at(&mut self, offset: usize, src: &[T]) -> Result<(), GpuError> {
        let range = offset..offset.saturating_add(src.len());
        self.check_range("DeviceBuffer::copy_from_host_at", &range)?;
        self.host_transfer_allowed("DeviceBuffer::copy_from_host_at")?;
        if src.is_empty() {
            return Ok(());
        }
        // SAFETY: the destination range lies inside this live allocation (checked above); the
        // copy is ordered on the allocation's stream; for pageable `src` the driver stages the
        // bytes before returning, so `src` may be dropped afterwards.
        unsafe { result::memcpy_htod_async(self.elem_ptr(offset), src, self.cu_stream()) }
            .map_err(GpuError::driver("cuMemcpyHtoDAsync"))
    }

    /// The whole buffer on the host, after all queued work on the stream.
    pub fn to_host(&self) -> Result<Vec<T>, GpuError> {
        self.to_host_range(0..self.len())
    }

    /// Elements `range` on the host, after all queued work on the stream.
    pub fn to_host_range(&self, range: Range<usize>) -> Result<Vec<T>, GpuError> {
        self.check_range("DeviceBuffer::to_host_range", &range)?;
        self.host_transfer_allowed("DeviceBuffer::to_host_range")?;
        let mut out = vec![T::zeroed(); range.len()];
        if !out.is_empty() {
            // SAFETY: the source range lies inside this live allocation (checked above) and
            // `out` holds exactly that many elements; the stream is synchronised below before
            // `out` is read.
            unsafe {
                result::memcpy_dtoh_async(&mut out, self.elem_ptr(range.start), self.cu_stream())
            }
            .map_err(GpuError::driver("cuMemcpyDtoHAsync"))?;
        }
        self.bytes
            .stream()
            .synchronize()
            .map_err(GpuError::driver("cuStreamSynchronize"))?;
        Ok(out)
    }

    /// Sets every element to `value`.
    pub fn fill(&mut self, value: T) -> Result<(), GpuError> {
        let bytes = bytemuck::bytes_of(&value);
        match bytes.first() {
            Some(&b) if bytes.iter().all(|&x| x == b) => self.fill_bytes(b),
            _ => self.copy_from_host(&vec![value; self.len()]),
        }
    }

    /// Sets every byte to `byte`. `0xFF` makes every f32, f16 and bf16 a NaN (poisoning).
    pub fn fill_bytes(&mut self, byte: u8) -> Result<(), GpuError> {
        self.fill_bytes_range(0..self.len(), byte)
    }

    /// Sets every byte of elements `range` to `byte`.
    pub fn fill_bytes_range(&mut self, range: Range<usize>, byte: u8) -> Result<(), GpuError> {
        self.check_range("DeviceBuffer::fill_bytes_range", &range)?;
        self.host_transfer_allowed("DeviceBuffer::fill_bytes_range")?;
        if range.is_empty() {
            return Ok(());
        }
        let bytes = range.len() * size_of::<T>();
        // SAFETY: the byte range lies inside this live allocation (checked above); `T: Pod`
        // accepts any bit pattern; ordered on the allocation's stream.
        unsafe {
            result::memset_d8_async(self.elem_ptr(range.start), byte, bytes, self.cu_stream())
        }
        .map_err(GpuError::driver("cuMemsetD8Async"))
    }

    fn check_range(&self, op: &'static str, range: &Range<usize>) -> Result<(), GpuError> {
        if range.start > range.end || range.end > self.len() {
            return Err(GpuError::OutOfRange {
                op,
                start: range.start,
                end: range.end,
                len: self.len(),
            });
        }
        Ok(())
    }

    /// Host copies during capture would be recorded as graph nodes reading host memory that is
    /// gone by replay time, so they are refused.
    fn host_transfer_allowed(&self, op: &'static str) -> Result<(), GpuError> {
        let stream = self.bytes.stream();
        stream
            .context()
            .bind_to_thread()
            .map_err(GpuError::driver(BIND_CONTEXT))?;
        let status = stream
            .capture_status()
            .map_err(GpuError::driver("cuStreamIsCapturing"))?;
        if status == sys::CUstreamCaptureStatus::CU_STREAM_CAPTURE_STATUS_NONE {
            Ok(())
        } else {
            Err(GpuError::NotAllowedDuringCapture { op })
        }
    }

    fn elem_ptr(&self, index: usize) -> sys::CUdeviceptr {
        self.ptr + (index * size_of::<T>()) as u64
    }

    fn cu_stream(&self) -> sys::CUstream {
        self.bytes.stream().cu_stream()
    }
}

impl<T: Element> sealed::RawDeviceMemory for DeviceBuffer<T> {
    fn device_ptr(&self) -> u64 {
        self.ptr
    }
    fn retain(&self) -> Retained {
        self.bytes.clone()
    }
    fn owner_stream(&self) -> sys::CUstream {
        self.cu_stream()
    }
}

impl<T: Element> DeviceMemory for DeviceBuffer<T> {
    fn byte_len(&self) -> usize {
        self.len() * size_of::<T>()
    }
    fn ordinal(&self) -> usize {
        DeviceBuffer::ordinal(self)
    }
}

impl<T: Element> BufferView<'_, T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Offset of the first element in the parent buffer.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

impl<T: Element> sealed::RawDeviceMemory for BufferView<'_, T> {
    fn device_ptr(&self) -> u64 {
        self.parent.elem_ptr(self.offset)
    }
    fn retain(&self) -> Retained {
        self.parent.retain()
    }
    fn owner_stream(&self) -> sys::CUstream {
        self.parent.cu_stream()
    }
}

impl<T: Element> DeviceMemory for BufferView<'_, T> {
    fn byte_len(&self) -> usize {
        self.len * size_of::<T>()
    }
    fn ordinal(&self) -> usize {
        self.parent.ordinal()
    }
}

impl<T: Element> std::fmt::Debug for DeviceBuffer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceBuffer")
            .field("type", &std::any::type_name::<T>())
            .field("len", &self.len())
            .field("ordinal", &self.ordinal())
            .finish()
    }
}
