//! What the engine needs to know about a device, derived by a pure function from the raw
//! attribute values the driver reports (`cuDeviceGetAttribute`), so it is testable without a GPU.

use kernel_ptx::{GpuProfileLite, SmTarget};

/// Raw device attribute values as `cuDeviceGetAttribute` / `cuDeviceTotalMem` return them.
/// A value the driver could not report is 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceAttributes {
    /// `CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT`
    pub multiprocessor_count: i32,
    /// `CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR`
    pub compute_capability_major: i32,
    /// `CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR`
    pub compute_capability_minor: i32,
    /// `CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE`, bytes.
    pub l2_cache_size: i32,
    /// `CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK`, bytes (without opt-in).
    pub max_shared_memory_per_block: i32,
    /// `CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN`, bytes.
    pub max_shared_memory_per_block_optin: i32,
    /// `CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR`, bytes.
    pub max_shared_memory_per_multiprocessor: i32,
    /// `CU_DEVICE_ATTRIBUTE_WARP_SIZE`
    pub warp_size: i32,
    /// `CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK`
    pub max_threads_per_block: i32,
    /// `CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE`, kHz (deprecated by CUDA 13; may be 0).
    pub memory_clock_rate_khz: i32,
    /// `CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH`, bits.
    pub global_memory_bus_width_bits: i32,
    /// `cuDeviceTotalMem`, bytes.
    pub total_memory_bytes: u64,
}

/// The device as the engine sees it. Built once per `Gpu` by [`GpuProfile::from_attributes`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GpuProfile {
    pub sm_count: u32,
    /// `(major, minor)`.
    pub compute_capability: (u32, u32),
    pub l2_cache_bytes: u32,
    /// Shared memory a block gets without opting in (48 KiB on every current device).
    pub max_shared_per_block: u32,
    /// Shared memory a block may use after `CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES`.
    pub max_shared_per_block_optin: u32,
    pub max_shared_per_sm: u32,
    pub warp_size: u32,
    pub max_threads_per_block: u32,
    pub total_memory_bytes: u64,
    /// Theoretical DRAM bandwidth, `2 × memory clock × bus width` (double data rate, as
    /// CUDA's `deviceQuery` sample computes it), when the driver reports both.
    pub memory_bandwidth_bytes_per_s: Option<f64>,
}

/// Shared memory every device grants a block without opting in.
const DEFAULT_SHARED_PER_BLOCK: u32 = 48 * 1024;

impl GpuProfile {
    /// Derives the profile; negative or missing (0) values become 0 or `None`, never a panic.
    pub fn from_attributes(a: &DeviceAttributes) -> GpuProfile {
        let nonneg = |v: i32| u32::try_from(v).unwrap_or(0);
        let max_shared_per_block = match nonneg(a.max_shared_memory_per_block) {
            0 => DEFAULT_SHARED_PER_BLOCK,
            v => v,
        };
        let memory_bandwidth_bytes_per_s = match (
            nonneg(a.memory_clock_rate_khz),
            nonneg(a.global_memory_bus_width_bits),
        ) {
            (0, _) | (_, 0) => None,
            (clock_khz, bus_bits) => {
                Some(2.0 * f64::from(clock_khz) * 1e3 * f64::from(bus_bits) / 8.0)
            }
        };
        GpuProfile {
            sm_count: nonneg(a.multiprocessor_count),
            compute_capability: (
                nonneg(a.compute_capability_major),
                nonneg(a.compute_capability_minor),
            ),
            l2_cache_bytes: nonneg(a.l2_cache_size),
            max_shared_per_block,
            max_shared_per_block_optin: nonneg(a.max_shared_memory_per_block_optin)
                .max(max_shared_per_block),
            max_shared_per_sm: nonneg(a.max_shared_memory_per_multiprocessor),
            warp_size: nonneg(a.warp_size),
            max_threads_per_block: nonneg(a.max_threads_per_block),
            total_memory_bytes: a.total_memory_bytes,
            memory_bandwidth_bytes_per_s,
        }
    }

    /// The newest PTX target the device runs, or `None` below sm_80.
    pub fn sm_target(&self) -> Option<SmTarget> {
        let (major, minor) = self.compute_capability;
        SmTarget::for_compute_capability(major, minor)
    }

    /// Programmatic dependent launch needs compute capability 9.0.
    pub fn supports_programmatic_dependent_launch(&self) -> bool {
        self.compute_capability >= (9, 0)
    }

    /// What `kernel_ptx::select_matvec` reads.
    pub fn lite(&self) -> GpuProfileLite {
        GpuProfileLite {
            sm_count: self.sm_count,
            compute_capability: self.compute_capability,
        }
    }

    /// Time to stream `bytes` once at the theoretical bandwidth, in ms (the roofline floor).
    pub fn roofline_ms(&self, bytes: u64) -> Option<f64> {
        self.memory_bandwidth_bytes_per_s
            .map(|bw| bytes as f64 / bw * 1e3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// H100 SXM5 as `deviceQuery` reports it (memory clock 2619 MHz, 5120-bit bus, 50 MiB L2).
    fn h100_sxm() -> DeviceAttributes {
        DeviceAttributes {
            multiprocessor_count: 132,
            compute_capability_major: 9,
            compute_capability_minor: 0,
            l2_cache_size: 50 * 1024 * 1024,
            max_shared_memory_per_block: 48 * 1024,
            max_shared_memory_per_block_optin: 227 * 1024,
            max_shared_memory_per_multiprocessor: 228 * 1024,
            warp_size: 32,
            max_threads_per_block: 1024,
            memory_clock_rate_khz: 2_619_000,
            global_memory_bus_width_bits: 5120,
            total_memory_bytes: 80 * (1 << 30),
        }
    }

    #[test]
    fn bandwidth_matches_datasheets() {
        // NVIDIA datasheets: H100 SXM5 3.35 TB/s, A100 40GB 1555 GB/s.
        let h100 = GpuProfile::from_attributes(&h100_sxm());
        let bw = h100.memory_bandwidth_bytes_per_s.unwrap();
        assert!((bw / 3.35e12 - 1.0).abs() < 0.01, "H100 {bw}");

        let a100 = GpuProfile::from_attributes(&DeviceAttributes {
            compute_capability_major: 8,
            memory_clock_rate_khz: 1_215_000,
            global_memory_bus_width_bits: 5120,
            ..h100_sxm()
        });
        let bw = a100.memory_bandwidth_bytes_per_s.unwrap();
        assert!((bw / 1.555e12 - 1.0).abs() < 0.01, "A100 {bw}");
    }

    #[test]
    fn fields_carry_over_and_targets_follow_compute_capability() {
        let p = GpuProfile::from_attributes(&h100_sxm());
        assert_eq!(p.sm_count, 132);
        assert_eq!(p.compute_capability, (9, 0));
        assert_eq!(p.l2_cache_bytes, 50 << 20);
        assert_eq!(p.max_shared_per_block, 48 << 10);
        assert_eq!(p.max_shared_per_block_optin, 227 << 10);
        assert_eq!(p.max_shared_per_sm, 228 << 10);
        assert_eq!(p.warp_size, 32);
        assert_eq!(p.sm_target(), Some(SmTarget::Sm90));
        assert!(p.supports_programmatic_dependent_launch());
        assert_eq!(
            p.lite(),
            GpuProfileLite {
                sm_count: 132,
                compute_capability: (9, 0)
            }
        );

        let ada = GpuProfile::from_attributes(&DeviceAttributes {
            compute_capability_major: 8,
            compute_capability_minor: 9,
            ..h100_sxm()
        });
        assert_eq!(ada.sm_target(), Some(SmTarget::Sm80));
        assert!(!ada.supports_programmatic_dependent_launch());

        let turing = GpuProfile::from_attributes(&DeviceAttributes {
            compute_capability_major: 7,
            compute_capability_minor: 5,
            ..h100_sxm()
        });
        assert_eq!(turing.sm_target(), None);
    }

    #[test]
    fn missing_or_negative_values_degrade_without_panicking() {
        let p = GpuProfile::from_attributes(&DeviceAttributes {
            memory_clock_rate_khz: 0,
            max_shared_memory_per_block: -1,
            max_shared_memory_per_block_optin: 0,
            multiprocessor_count: -5,
            ..h100_sxm()
        });
        assert_eq!(p.memory_bandwidth_bytes_per_s, None);
        assert_eq!(p.roofline_ms(1 << 30), None);
        assert_eq!(p.sm_count, 0);
        assert_eq!(p.max_shared_per_block, 48 << 10);
        assert_eq!(p.max_shared_per_block_optin, 48 << 10);
        assert_eq!(
            GpuProfile::from_attributes(&DeviceAttributes::default()).sm_target(),
            None
        );
    }

    #[test]
    fn roofline_of_an_8b_q4_k_m_token_on_h100() {
        let p = GpuProfile::from_attributes(&h100_sxm());
        let ms = p.roofline_ms(4_620_000_000).unwrap();
        assert!((ms - 4.62e9 / 3.352e12 * 1e3).abs() < 0.01, "{ms}");
    }
}
