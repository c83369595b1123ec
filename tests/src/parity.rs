//! The GPU parity harness shared by `tests/tests/gpu_parity_*.rs`, in the style of llama.cpp's
//! test-backend-ops (tests/test-backend-ops.cpp): seeded random inputs that are never zero,
//! outputs poisoned with NaN between guard regions (checked on download), comparison by
//! normalised MSE plus NaN agreement or bit for bit, and the failing case printed with every
//! assertion.

use std::fmt::Debug;

use gpu_runtime::{Element, Gpu, GuardedBuffer};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// Guard elements before and after every guarded buffer.
pub const GUARD: usize = 256;

/// Device 0; the parity tests are `#[ignore]`d on machines without one, so a missing device
/// is a failure here, never a skip.
pub fn gpu() -> Gpu {
    Gpu::new(0).expect("a CUDA device (this test is ignored without one)")
}

/// Seeded values in `±[0.05, 1)`: never zero, both signs.
pub fn random_values(rng: &mut ChaCha8Rng, len: usize) -> Vec<f32> {
    (0..len)
        .map(|_| {
            let magnitude = rng.random_range(0.05f32..1.0);
            if rng.random::<bool>() {
                magnitude
            } else {
                -magnitude
            }
        })
        .collect()
}

/// `sum (got - want)^2 / sum want^2`, as test-backend-ops' `nmse`.
pub fn nmse(got: &[f32], want: &[f32]) -> f64 {
    let (mut err, mut norm) = (0.0f64, 0.0f64);
    for (&g, &w) in got.iter().zip(want) {
        err += (f64::from(g) - f64::from(w)).powi(2);
        norm += f64::from(w).powi(2);
    }
    err / norm
}

/// The bit patterns of `values` (for bit-for-bit comparisons that treat NaN like any value).
pub fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

/// A poisoned output of `len` elements between [`GUARD`] guards.
pub fn output<T: Element>(gpu: &Gpu, len: usize, case: &dyn Debug) -> GuardedBuffer<T> {
    GuardedBuffer::new(gpu, len, GUARD)
        .unwrap_or_else(|e| panic!("{case:?}: output of {len} elements: {e}"))
}

/// A buffer a kernel reads and writes in place (RoPE's `x`, the residual stream): `values`
/// between [`GUARD`] guards.
pub fn in_out<T: Element>(gpu: &Gpu, values: &[T], case: &dyn Debug) -> GuardedBuffer<T> {
    let mut buf = output(gpu, values.len(), case);
    buf.copy_from_host(values)
        .unwrap_or_else(|e| panic!("{case:?}: upload of {} elements: {e}", values.len()));
    buf
}

/// The payload of `buf` after checking that both guard regions are intact.
pub fn download<T: Element>(buf: &GuardedBuffer<T>, what: &str, case: &dyn Debug) -> Vec<T> {
    buf.to_host_checked()
        .unwrap_or_else(|e| panic!("{case:?}: {what}: {e}"))
}

/// Same length, NaN in the same places (reports the first disagreement as `row, column` of a
/// `[_, row_len]` layout), and `nmse(got, want) <= max_nmse`.
pub fn assert_parity(
    case: &dyn Debug,
    what: &str,
    got: &[f32],
    want: &[f32],
    row_len: usize,
    max_nmse: f64,
) {
    assert_eq!(got.len(), want.len(), "{case:?}: {what}: length");
    if let Some(i) = (0..got.len()).find(|&i| got[i].is_nan() != want[i].is_nan()) {
        panic!(
            "{case:?}: {what}: NaN disagreement at row {}, column {}: got {}, want {}",
            i / row_len,
            i % row_len,
            got[i],
            want[i]
        );
    }
    let finite = |v: &[f32]| -> Vec<f32> {
        v.iter()
            .map(|x| if x.is_nan() { 0.0 } else { *x })
            .collect()
    };
    let err = nmse(&finite(got), &finite(want));
    assert!(
        err <= max_nmse,
        "{case:?}: {what}: nmse {err:e} > {max_nmse:e}; first values got {:?} want {:?}",
        &got[..got.len().min(4)],
        &want[..want.len().min(4)]
    );
}

/// Element for element equality; reports the first difference as `row, column` of a
/// `[_, row_len]` layout.
pub fn assert_identical<T: PartialEq + Debug>(
    case: &dyn Debug,
    what: &str,
    got: &[T],
    want: &[T],
    row_len: usize,
) {
    assert_eq!(got.len(), want.len(), "{case:?}: {what}: length");
    if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
        let differing = got.iter().zip(want).filter(|(g, w)| g != w).count();
        panic!(
            "{case:?}: {what}: {differing} of {} elements differ; first at row {}, column {}: \
             got {:?}, want {:?}",
            got.len(),
            i / row_len,
            i % row_len,
            got[i],
            want[i]
        );
    }
}
