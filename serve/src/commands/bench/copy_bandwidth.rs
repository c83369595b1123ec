//! The device's achievable memory bandwidth, measured the way the device notes measure it: a
//! large device-to-device copy (`cuMemcpyDtoDAsync`), bytes read plus bytes written over the
//! CUDA-event time, median of many copies.

use gpu_runtime::{EventTimer, Gpu, Timing};

use super::weights::fill_random;

#[derive(Clone, Debug, PartialEq)]
pub struct CopyBandwidth {
    /// Bytes of one copy's source (the same again is written).
    pub copy_bytes: usize,
    pub timing: Timing,
}

impl CopyBandwidth {
    /// Bytes read plus bytes written per second at the median time.
    pub fn bytes_per_s(&self) -> f64 {
        2.0 * self.copy_bytes as f64 / (f64::from(self.timing.median_ms()) * 1e-3)
    }
}

/// Copies `copy_bytes` of random bytes between two buffers `warmup` times untimed, then
/// `iterations` times each between CUDA events.
pub fn measure(
    gpu: &Gpu,
    copy_bytes: usize,
    warmup: usize,
    iterations: usize,
) -> anyhow::Result<CopyBandwidth> {
    let src = fill_random(gpu, copy_bytes, 7)?;
    let dst = gpu.alloc::<u8>(copy_bytes)?;
    let timer = EventTimer::new(gpu)?;
    let timing = timer.measure(warmup, iterations, || gpu.copy_device(&src, &dst))?;
    Ok(CopyBandwidth { copy_bytes, timing })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bandwidth_counts_read_and_write_at_the_median() {
        let bw = CopyBandwidth {
            copy_bytes: 1 << 30,
            timing: Timing {
                samples_ms: vec![0.25, 0.5, 0.75],
            },
        };
        let expected = 2.0 * f64::from(1u32 << 30) / 0.5e-3;
        assert!((bw.bytes_per_s() / expected - 1.0).abs() < 1e-12);
    }
}
