//! Guarded output buffers for parity tests, in the style of llama.cpp's test-backend-ops
//! sentinels: `guard` elements of a known byte pattern before and after the payload catch
//! out-of-bounds writes, and the payload is poisoned (NaN) before a launch so that elements a
//! kernel forgets to write cannot pass as results.

use std::ops::Range;

use crate::buffer::{BufferView, DeviceBuffer, Element};
use crate::error::GuardSide;
use crate::{Gpu, GpuError};

/// Byte pattern of the guard regions (not a plausible f32/f16 result, and not 0 or 0xFF).
pub const GUARD_BYTE: u8 = 0xA5;
/// Poison byte for payloads: 0xFF makes every f32, f16 and bf16 element a NaN.
pub const POISON_BYTE: u8 = 0xFF;

/// `len` payload elements between two guard regions of `guard` elements each.
pub struct GuardedBuffer<T: Element> {
    buf: DeviceBuffer<T>,
    guard: usize,
    len: usize,
}

impl<T: Element> GuardedBuffer<T> {
    /// Guards set to [`GUARD_BYTE`], payload poisoned with [`POISON_BYTE`].
    pub fn new(gpu: &Gpu, len: usize, guard: usize) -> Result<Self, GpuError> {
        let total = guard
            .checked_mul(2)
            .and_then(|g| g.checked_add(len))
            .ok_or(GpuError::OutOfRange {
                op: "GuardedBuffer::new",
                start: 0,
                end: usize::MAX,
                len: usize::MAX,
            })?;
        let mut buf = gpu.alloc::<T>(total)?;
        buf.fill_bytes(GUARD_BYTE)?;
        let mut guarded = GuardedBuffer { buf, guard, len };
        guarded.poison()?;
        Ok(guarded)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The payload, to pass as a kernel argument.
    pub fn payload(&self) -> BufferView<'_, T> {
        self.buf
            .view(self.payload_range())
            .expect("the payload range lies inside the allocation by construction")
    }

    /// Sets every payload byte to [`POISON_BYTE`].
    pub fn poison(&mut self) -> Result<(), GpuError> {
        self.buf.fill_bytes_range(self.payload_range(), POISON_BYTE)
    }

    /// Copies `src` (exactly `len()` elements) into the payload.
    pub fn copy_from_host(&mut self, src: &[T]) -> Result<(), GpuError> {
        if src.len() != self.len {
            return Err(GpuError::LengthMismatch {
                op: "GuardedBuffer::copy_from_host",
                expected: self.len,
                got: src.len(),
            });
        }
        self.buf.copy_from_host_at(self.guard, src)
    }

    /// The payload on the host, after checking that both guard regions are intact.
    pub fn to_host_checked(&self) -> Result<Vec<T>, GpuError> {
        self.check_guards()?;
        self.buf.to_host_range(self.payload_range())
    }

    /// Errors with the first overwritten guard byte, if any.
    pub fn check_guards(&self) -> Result<(), GpuError> {
        let after_start = self.guard + self.len;
        for (side, range) in [
            (GuardSide::Before, 0..self.guard),
            (GuardSide::After, after_start..after_start + self.guard),
        ] {
            let elements = self.buf.to_host_range(range)?;
            let bytes: &[u8] = bytemuck::cast_slice(&elements);
            if let Some(offset) = bytes.iter().position(|&b| b != GUARD_BYTE) {
                return Err(GpuError::GuardOverwritten {
                    side,
                    len: self.len,
                    offset,
                    found: bytes[offset],
                    expected: GUARD_BYTE,
                });
            }
        }
        Ok(())
    }

    /// The whole allocation, guards included (for tests that write past the payload on
    /// purpose).
    pub fn whole(&mut self) -> &mut DeviceBuffer<T> {
        &mut self.buf
    }

    fn payload_range(&self) -> Range<usize> {
        self.guard..self.guard + self.len
    }
}
