//! Deterministic random weights, addressable by (seed, tensor name, row).
//!
//! Each row has its own ChaCha8 stream (key from the seed and the Hugging Face tensor name, stream
//! number = row index), so any row of any tensor can be generated alone, in any order or in
//! parallel, and a permuted GGUF row is the same numbers as its Hugging Face source row.

use super::layout::{Role, TensorDef};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Standard deviation of matrices: transformers' `initializer_range` default for Llama and Qwen2.
pub const INIT_STD: f32 = 0.02;
/// Spread of RMSNorm weights around 1.
pub const NORM_NOISE_STD: f32 = 0.02;

/// The ChaCha8 key for one tensor: the seed and two FNV-1a-64 hashes of the name.
fn tensor_key(seed: u64, name: &str) -> [u8; 32] {
    let fnv = |basis: u64| {
        name.bytes().fold(basis, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&fnv(0xcbf2_9ce4_8422_2325).to_le_bytes());
    key[16..24].copy_from_slice(&fnv(0x6c62_272e_07bb_0142).to_le_bytes());
    key[24..32].copy_from_slice(&(name.len() as u64).to_le_bytes());
    key
}

/// Fills `out` with row `row` (Hugging Face layout) of tensor `def`.
pub fn fill_row(seed: u64, def: &TensorDef, row: u64, out: &mut [f32]) {
    let mut rng = ChaCha8Rng::from_seed(tensor_key(seed, &def.hf_name));
    rng.set_stream(row);
    let (mean, std) = match def.role {
        Role::Norm => (1.0, NORM_NOISE_STD),
        _ => (0.0, INIT_STD),
    };
    for pair in out.chunks_mut(2) {
        let (a, b) = standard_normal_pair(&mut rng);
        pair[0] = mean + std * a;
        if let Some(second) = pair.get_mut(1) {
            *second = mean + std * b;
        }
    }
}

/// Two independent N(0, 1) samples by the Box-Muller transform.
fn standard_normal_pair(rng: &mut ChaCha8Rng) -> (f32, f32) {
    // 1 - u lies in (0, 1], so the logarithm is finite.
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    let radius = (-2.0 * u1.ln()).sqrt();
    let angle = std::f64::consts::TAU * u2;
    ((radius * angle.cos()) as f32, (radius * angle.sin()) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testmodel::layout::Role;

    fn def(name: &str, role: Role) -> TensorDef {
        TensorDef {
            hf_name: name.into(),
            gguf_name: name.into(),
            shape: vec![4, 4096],
            role,
            layer: None,
            gguf_permute_heads: None,
        }
    }

    #[test]
    fn rows_are_reproducible_distinct_and_scaled() {
        let w = def("w", Role::AttnQ);
        let mut a = vec![0.0; 4096];
        let mut b = vec![0.0; 4096];
        fill_row(7, &w, 3, &mut a);
        fill_row(7, &w, 3, &mut b);
        assert_eq!(a, b);
        fill_row(7, &w, 2, &mut b);
        assert_ne!(a, b);
        fill_row(8, &w, 3, &mut b);
        assert_ne!(a, b);
        fill_row(7, &def("v", Role::AttnQ), 3, &mut b);
        assert_ne!(a, b);
        let mean = a.iter().sum::<f32>() / a.len() as f32;
        let std = (a.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / a.len() as f32).sqrt();
        assert!(mean.abs() < 0.002, "mean {mean}");
        assert!((std - INIT_STD).abs() < 0.002, "std {std}");
        fill_row(7, &def("n", Role::Norm), 0, &mut b);
        let norm_mean = b.iter().sum::<f32>() / b.len() as f32;
        assert!((norm_mean - 1.0).abs() < 0.002, "norm mean {norm_mean}");
    }
}
