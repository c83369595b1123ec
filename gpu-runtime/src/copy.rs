//! Device-side copies and fills on a `Gpu`'s stream; recorded (and their buffers retained)
//! during graph capture like launches.

use cudarc::driver::result;

use crate::buffer::DeviceMemory;
use crate::{Gpu, GpuError};

impl Gpu {
    /// Copies all of `src` into `dst` (equal byte lengths), ordered on the stream.
    pub fn copy_device(
        &self,
        src: &dyn DeviceMemory,
        dst: &dyn DeviceMemory,
    ) -> Result<(), GpuError> {
        if src.byte_len() != dst.byte_len() {
            return Err(GpuError::LengthMismatch {
                op: "Gpu::copy_device (bytes)",
                expected: dst.byte_len(),
                got: src.byte_len(),
            });
        }
        let own_stream = self.stream().cu_stream();
        if src.owner_stream() != own_stream || dst.owner_stream() != own_stream {
            return Err(GpuError::ForeignCopy);
        }
        self.bind()?;
        if let Some(retained) = self.capture_state().as_mut() {
            retained.extend([src.retain(), dst.retain()]);
        }
        if src.byte_len() == 0 {
            return Ok(());
        }
        // SAFETY: both ranges lie inside live allocations of this `Gpu` (sealed buffer types,
        // owner stream checked above) and have the same length; ordered on their stream.
        unsafe {
            result::memcpy_dtod_async(
                dst.device_ptr(),
                src.device_ptr(),
                src.byte_len(),
                own_stream,
            )
        }
        .map_err(GpuError::driver("cuMemcpyDtoDAsync"))
    }

    /// Sets every byte of `dst` to `byte`, ordered on the stream (e.g. zeroing accumulators
    /// inside a captured graph).
    pub fn memset_device(&self, dst: &dyn DeviceMemory, byte: u8) -> Result<(), GpuError> {
        let own_stream = self.stream().cu_stream();
        if dst.owner_stream() != own_stream {
            return Err(GpuError::ForeignCopy);
        }
        self.bind()?;
        if let Some(retained) = self.capture_state().as_mut() {
            retained.push(dst.retain());
        }
        if dst.byte_len() == 0 {
            return Ok(());
        }
        // SAFETY: the range lies inside a live allocation of this `Gpu` (sealed buffer types,
        // owner stream checked above); ordered on its stream.
        unsafe { result::memset_d8_async(dst.device_ptr(), byte, dst.byte_len(), own_stream) }
            .map_err(GpuError::driver("cuMemsetD8Async"))
    }
}
