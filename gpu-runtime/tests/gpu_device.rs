//! Device creation, profile, buffers and guard regions on a real GPU.

mod common;

use common::{open_gpu, random_values, rng};
use gpu_runtime::{GUARD_BYTE, GpuError, GuardSide, GuardedBuffer};

#[test]
#[ignore = "needs a CUDA device"]
fn device_opens_with_a_plausible_profile() {
    let gpu = open_gpu();
    let p = gpu.profile();
    assert!(!gpu.name().is_empty());
    assert!(p.sm_count > 0, "{p:?}");
    assert!(p.compute_capability >= (8, 0), "{p:?}");
    assert_eq!(p.warp_size, 32);
    assert!(p.l2_cache_bytes > 0 && p.max_shared_per_block_optin >= p.max_shared_per_block);
    let (free, total) = gpu.memory_info().unwrap();
    assert!(free > 0 && free <= total);
    assert!(total as u64 <= p.total_memory_bytes && total as u64 > p.total_memory_bytes / 2);
    println!("{} {p:?}", gpu.name());
}

#[test]
#[ignore = "needs a CUDA device"]
fn a_missing_ordinal_is_a_typed_error() {
    let err = gpu_runtime::Gpu::new(4096).unwrap_err();
    assert!(
        matches!(err, GpuError::NoDevice { ordinal: 4096, count } if count > 0),
        "{err}"
    );
}

#[test]
#[ignore = "needs a CUDA device"]
fn upload_download_round_trip_at_ragged_lengths() {
    let gpu = open_gpu();
    let mut rng = rng(1);
    for len in [1, 5, 7, 13, 33, 1 << 20 | 3] {
        let host = random_values(&mut rng, len, -3.0..3.0);
        let buf = gpu.upload(&host).unwrap();
        assert_eq!(buf.len(), len);
        assert_eq!(buf.to_host().unwrap(), host, "len {len}");
    }
    let bytes: Vec<u8> = (0..=255u8).cycle().take(4099).collect();
    let mut blob = gpu.upload(&bytes).unwrap();
    assert_eq!(blob.to_host().unwrap(), bytes);
    assert_eq!(blob.to_host_range(100..133).unwrap(), bytes[100..133]);
    blob.copy_from_host_at(4000, &[7; 99]).unwrap();
    let back = blob.to_host().unwrap();
    assert_eq!(back[..4000], bytes[..4000]);
    assert!(back[4000..].iter().all(|&b| b == 7));

    let zeros = gpu.alloc::<f32>(1000).unwrap();
    assert!(zeros.to_host().unwrap().iter().all(|&v| v == 0.0));
}

#[test]
#[ignore = "needs a CUDA device"]
fn bad_ranges_and_lengths_are_errors() {
    let gpu = open_gpu();
    let mut buf = gpu.alloc::<f32>(10).unwrap();
    assert!(matches!(
        buf.copy_from_host(&[1.0; 9]),
        Err(GpuError::LengthMismatch {
            expected: 10,
            got: 9,
            ..
        })
    ));
    assert!(matches!(
        buf.copy_from_host_at(8, &[1.0; 3]),
        Err(GpuError::OutOfRange {
            start: 8,
            end: 11,
            len: 10,
            ..
        })
    ));
    assert!(matches!(buf.view(5..11), Err(GpuError::OutOfRange { .. })));
    assert!(matches!(
        buf.to_host_range(11..12),
        Err(GpuError::OutOfRange { .. })
    ));
    assert_eq!(buf.view(3..10).unwrap().len(), 7);
}

#[test]
#[ignore = "needs a CUDA device"]
fn fill_and_poison() {
    let gpu = open_gpu();
    let mut buf = gpu.alloc::<f32>(37).unwrap();
    buf.fill(1.5).unwrap();
    assert!(buf.to_host().unwrap().iter().all(|&v| v == 1.5));
    buf.fill_bytes(gpu_runtime::POISON_BYTE).unwrap();
    assert!(buf.to_host().unwrap().iter().all(|v| v.is_nan()));
    let mut halves = gpu.alloc::<half::f16>(9).unwrap();
    halves.fill_bytes(gpu_runtime::POISON_BYTE).unwrap();
    assert!(halves.to_host().unwrap().iter().all(|v| v.is_nan()));
}

#[test]
#[ignore = "needs a CUDA device"]
fn guard_regions_catch_writes_past_the_payload() {
    let gpu = open_gpu();
    let mut out = GuardedBuffer::<f32>::new(&gpu, 13, 8).unwrap();
    assert!(out.to_host_checked().unwrap().iter().all(|v| v.is_nan()));
    out.copy_from_host(&[2.0; 13]).unwrap();
    assert_eq!(out.to_host_checked().unwrap(), vec![2.0; 13]);

    out.whole().copy_from_host_at(8 + 13 + 2, &[0.0]).unwrap();
    let err = out.check_guards().unwrap_err();
    assert!(
        matches!(
            err,
            GpuError::GuardOverwritten {
                side: GuardSide::After,
                offset: 8,
                found: 0,
                expected: GUARD_BYTE,
                ..
            }
        ),
        "{err}"
    );

    let mut before = GuardedBuffer::<u8>::new(&gpu, 5, 4).unwrap();
    before.whole().copy_from_host_at(3, &[1]).unwrap();
    assert!(matches!(
        before.check_guards(),
        Err(GpuError::GuardOverwritten {
            side: GuardSide::Before,
            offset: 3,
            found: 1,
            ..
        })
    ));
}
