//! Benchmark weights: valid GGUF blocks of random values, tiled over a device pool large enough
//! that rotating among copies of one matrix always reads DRAM, never L2.
//!
//! Quantising gigabytes on the host is slow, so a few MB of blocks are quantised once
//! (`quantize_row`, llama.cpp's `quantize_row_*_ref`: finite scales, random quants) and repeated.
//! Every copy of a matrix starts on a block boundary of that pattern, so every row holds valid
//! blocks.

use anyhow::Context;
use gpu_runtime::{BufferView, DeviceBytes, Gpu};
use quant_formats::{GgmlType, activation_type, matvec_activation_bytes, quantize_row};
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Values quantised into the repeating pattern (a multiple of every block size, 256).
const PATTERN_ELEMS: usize = 1 << 20;
/// Bytes uploaded once, then tiled over a pool by device copies.
const UPLOAD_CHUNK: usize = 64 << 20;
/// Copy starts are aligned to this many bytes (and to whole blocks).
const COPY_ALIGN: usize = 256;
/// Most copies of one matrix in a pool (launches per timed graph).
pub const MAX_COPIES: usize = 1024;

/// Seeded values uniform in ±[0.05, 1): never zero, both signs.
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

/// `m` activation rows of `k` random values, quantised as `format`'s gemv reads them: f32
/// `[m, k]` for float formats; for integer ones the Q8_1 blocks `[m, k / 32]` in the planar
/// layout of `q8_1_to_planes` (every quant, then every `{ d, s }` pair).
pub fn activations(format: GgmlType, m: u32, k: u32, seed: u64) -> anyhow::Result<Vec<u8>> {
    let act = activation_type(format)?;
    act.blocks_for(k as usize)
        .with_context(|| format!("{format} activation rows of {k}"))?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = random_values(&mut rng, m as usize * k as usize);
    Ok(matvec_activation_bytes(format, &x)?)
}

/// Byte offsets of the copies of a `matrix_bytes` matrix in a pool of `pool_bytes`: each start
/// a multiple of `lcm(block_bytes, 256)`, at least 2 copies, at most [`MAX_COPIES`].
/// `None` when not even two fit.
pub fn copy_offsets(
    matrix_bytes: usize,
    block_bytes: usize,
    pool_bytes: usize,
) -> Option<Vec<usize>> {
    let align = lcm(block_bytes, COPY_ALIGN);
    let stride = matrix_bytes.div_ceil(align) * align;
    let copies = pool_bytes.checked_div(stride)?.min(MAX_COPIES);
    if copies < 2 {
        return None;
    }
    Some((0..copies).map(|i| i * stride).collect())
}

/// Pool size: at least `min_bytes` and room for two copies of the largest matrix.
pub fn pool_bytes(min_bytes: usize, largest_matrix: usize, format: GgmlType) -> usize {
    let align = lcm(format.block_bytes(), COPY_ALIGN);
    min_bytes.max(2 * largest_matrix.div_ceil(align) * align)
}

/// `len` bytes on the device: `pattern` repeated, starting at byte 0. Uploads about
/// [`UPLOAD_CHUNK`] bytes once and tiles them with device copies.
fn tile(gpu: &Gpu, pattern: &[u8], len: usize) -> anyhow::Result<DeviceBytes> {
    anyhow::ensure!(!pattern.is_empty(), "empty pattern");
    let repeats = UPLOAD_CHUNK.div_ceil(pattern.len());
    let chunk: Vec<u8> = pattern.repeat(repeats);
    let chunk = gpu.upload(&chunk[..chunk.len().min(len)])?;
    let out = gpu
        .alloc::<u8>(len)
        .with_context(|| format!("allocating {} MiB", len >> 20))?;
    for start in (0..len).step_by(chunk.len()) {
        let n = chunk.len().min(len - start);
        gpu.copy_device(&chunk.view(0..n)?, &out.view(start..start + n)?)?;
    }
    Ok(out)
}

/// `len` random bytes on the device.
pub fn fill_random(gpu: &Gpu, len: usize, seed: u64) -> anyhow::Result<DeviceBytes> {
    let mut pattern = vec![0u8; UPLOAD_CHUNK.min(len)];
    ChaCha8Rng::seed_from_u64(seed).fill_bytes(&mut pattern);
    tile(gpu, &pattern, len)
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn lcm(a: usize, b: usize) -> usize {
    a / gcd(a, b) * b
}

/// A device pool of `format` blocks.
pub struct WeightPool {
    pub format: GgmlType,
    pub bytes: DeviceBytes,
}

impl WeightPool {
    /// `len` bytes of random valid blocks: [`PATTERN_ELEMS`] values quantised once, repeated.
    pub fn upload(gpu: &Gpu, format: GgmlType, len: usize, seed: u64) -> anyhow::Result<Self> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let pattern = quantize_row(format, &random_values(&mut rng, PATTERN_ELEMS))
            .with_context(|| format!("quantising {format} blocks"))?;
        let bytes = tile(gpu, &pattern, len).with_context(|| format!("{format} weights"))?;
        Ok(WeightPool { format, bytes })
    }

    /// The copies of a `matrix_bytes` matrix, as views.
    pub fn copies(&self, matrix_bytes: usize) -> anyhow::Result<Vec<BufferView<'_, u8>>> {
        let offsets = copy_offsets(matrix_bytes, self.format.block_bytes(), self.bytes.len())
            .with_context(|| {
                format!(
                    "a pool of {} bytes holds fewer than two {matrix_bytes}-byte matrices",
                    self.bytes.len()
                )
            })?;
        offsets
            .into_iter()
            .map(|o| Ok(self.bytes.view(o..o + matrix_bytes)?))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quant_formats::QuantBlock;
    use quant_formats::q8_1_from_planes;

    #[test]
    fn copies_start_on_aligned_block_boundaries_and_do_not_overlap() {
        for (matrix, format) in [
            (4096 * 128 * 34, GgmlType::Q8_0),
            (9_437_184, GgmlType::Q4_K),
            (210, GgmlType::Q6_K),
            (4, GgmlType::F32),
        ] {
            let block = format.block_bytes();
            let pool = pool_bytes(1 << 30, matrix, format);
            let offsets = copy_offsets(matrix, block, pool).unwrap();
            assert!(offsets.len() >= 2);
            for pair in offsets.windows(2) {
                assert!(pair[1] - pair[0] >= matrix, "{matrix} {block}");
            }
            for &o in &offsets {
                assert_eq!(o % block, 0);
                assert_eq!(o % COPY_ALIGN, 0);
            }
            assert!(offsets.last().unwrap() + matrix <= pool);
        }
    }

    #[test]
    fn pools_hold_two_of_the_largest_matrix() {
        let f32_output = 128_256 * 4096 * 4;
        let pool = pool_bytes(1 << 30, f32_output, GgmlType::F32);
        assert!(pool >= 2 * f32_output);
        assert_eq!(copy_offsets(f32_output, 4, pool).unwrap().len(), 2);

        let q4_k_small = 1024 * 4096 / 256 * 144;
        let pool = pool_bytes(1 << 30, 128_256 * 4096 / 256 * 144, GgmlType::Q4_K);
        assert!(pool >= 1 << 30);
        let copies = copy_offsets(q4_k_small, 144, pool).unwrap().len();
        assert!(copies * q4_k_small >= 512 << 20, "{copies}");
        assert!(copies <= MAX_COPIES);
    }

    #[test]
    fn too_small_pools_are_refused() {
        assert_eq!(copy_offsets(1000, 4, 1500), None);
        assert_eq!(copy_offsets(0, 4, 1500), None);
        assert_eq!(copy_offsets(1, 4, 1 << 30).unwrap().len(), MAX_COPIES);
    }

    #[test]
    fn activations_match_the_kernel_layout() {
        let q = activations(GgmlType::Q4_K, 3, 4096, 1).unwrap();
        assert_eq!(q.len(), 3 * 4096 / 32 * 36);
        // Planar: every block's `{ d, s }` lies after all quants. Values in ±[0.05, 1) give
        // 0 < d ≤ 1/127 (f16-rounded) and dequantised values within ±1; interleaved bytes read
        // as planes would take quants for scales.
        let blocks = q8_1_from_planes(&q).unwrap();
        let mut values = [0.0; 32];
        for (i, block) in blocks.iter().enumerate() {
            let d = block.d.to_f32();
            assert!(d > 0.0 && d <= 1.001 / 127.0, "block {i}: d = {d}");
            block.dequantize_block(&mut values);
            assert!(
                values.iter().all(|v| v.abs() <= 1.001),
                "block {i}: {values:?}"
            );
        }
        let f = activations(GgmlType::BF16, 2, 4096, 1).unwrap();
        assert_eq!(f.len(), 2 * 4096 * 4);
        let values: Vec<f32> = bytemuck_f32(&f);
        assert!(values.iter().all(|v| v.is_finite() && v.abs() >= 0.05));
    }

    fn bytemuck_f32(bytes: &[u8]) -> Vec<f32> {
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }
}
