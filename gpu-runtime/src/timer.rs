//! CUDA-event timing of work on a `Gpu`'s stream, for benches.

use std::sync::Arc;

use cudarc::driver::{CudaEvent, CudaStream, sys};

use crate::{Gpu, GpuError};

/// A pair of timing events on one `Gpu`'s stream.
pub struct EventTimer {
    start: CudaEvent,
    stop: CudaEvent,
    stream: Arc<CudaStream>,
}

/// Per-iteration times of [`EventTimer::measure`], in ms.
#[derive(Clone, Debug, PartialEq)]
pub struct Timing {
    /// Sorted ascending.
    pub samples_ms: Vec<f32>,
}

impl Timing {
    pub fn median_ms(&self) -> f32 {
        let n = self.samples_ms.len();
        match n {
            0 => f32::NAN,
            _ if n % 2 == 1 => self.samples_ms[n / 2],
            _ => 0.5 * (self.samples_ms[n / 2 - 1] + self.samples_ms[n / 2]),
        }
    }

    pub fn min_ms(&self) -> f32 {
        self.samples_ms.first().copied().unwrap_or(f32::NAN)
    }
}

impl EventTimer {
    pub fn new(gpu: &Gpu) -> Result<EventTimer, GpuError> {
        let ctx = gpu.context();
        let event = || {
            ctx.new_event(Some(sys::CUevent_flags::CU_EVENT_DEFAULT))
                .map_err(GpuError::driver("cuEventCreate"))
        };
        Ok(EventTimer {
            start: event()?,
            stop: event()?,
            stream: gpu.stream().clone(),
        })
    }

    /// Records the start event on the stream.
    pub fn start(&self) -> Result<(), GpuError> {
        self.start
            .record(&self.stream)
            .map_err(GpuError::driver("cuEventRecord"))
    }

    /// Records the stop event on the stream.
    pub fn stop(&self) -> Result<(), GpuError> {
        self.stop
            .record(&self.stream)
            .map_err(GpuError::driver("cuEventRecord"))
    }

    /// Milliseconds between the recorded start and stop (waits for the stop event).
    pub fn elapsed_ms(&self) -> Result<f32, GpuError> {
        self.start
            .elapsed_ms(&self.stop)
            .map_err(GpuError::driver("cuEventElapsedTime"))
    }

    /// Runs `work` `warmup` times untimed, then `iterations` times each between a start and a
    /// stop event.
    pub fn measure<E: From<GpuError>>(
        &self,
        warmup: usize,
        iterations: usize,
        mut work: impl FnMut() -> Result<(), E>,
    ) -> Result<Timing, E> {
        for _ in 0..warmup {
            work()?;
        }
        let mut samples_ms = Vec::with_capacity(iterations);
        for _ in 0..iterations {
            self.start()?;
            work()?;
            self.stop()?;
            samples_ms.push(self.elapsed_ms()?);
        }
        samples_ms.sort_by(f32::total_cmp);
        Ok(Timing { samples_ms })
    }
}

#[cfg(test)]
mod tests {
    use super::Timing;

    #[test]
    fn median_of_odd_and_even_sample_counts() {
        let odd = Timing {
            samples_ms: vec![1.0, 2.0, 9.0],
        };
        assert_eq!(odd.median_ms(), 2.0);
        assert_eq!(odd.min_ms(), 1.0);
        let even = Timing {
            samples_ms: vec![1.0, 2.0, 4.0, 9.0],
        };
        assert_eq!(even.median_ms(), 3.0);
        assert!(Timing { samples_ms: vec![] }.median_ms().is_nan());
    }
}
