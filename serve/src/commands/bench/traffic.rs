//! The matrices a Llama-3-8B decode step multiplies, and the bytes one gemv launch must move.

use anyhow::Context;
use kernel_ptx::kernels::gemv::format_for;
use quant_formats::GgmlType;

/// One weight matrix shape: `y [m, n] = W [n, k] · x [m, k]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatrixShape {
    /// Which Llama tensors have it.
    pub name: &'static str,
    pub n: u32,
    pub k: u32,
}

/// Llama-3-8B (hidden 4096, 32 query / 8 KV heads of 128, FFN 14336, vocabulary 128256).
pub const LLAMA3_8B: [MatrixShape; 5] = [
    MatrixShape {
        name: "attn_q/o",
        n: 4096,
        k: 4096,
    },
    MatrixShape {
        name: "attn_k/v",
        n: 1024,
        k: 4096,
    },
    MatrixShape {
        name: "ffn_gate/up",
        n: 14336,
        k: 4096,
    },
    MatrixShape {
        name: "ffn_down",
        n: 4096,
        k: 14336,
    },
    MatrixShape {
        name: "output",
        n: 128256,
        k: 4096,
    },
];

impl MatrixShape {
    /// `N×K`, e.g. `4096×14336`.
    pub fn dims(&self) -> String {
        format!("{}×{}", self.n, self.k)
    }
}

/// Bytes one launch reads and writes, each once: the least it can move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Traffic {
    /// `W [n, k]` in its GGUF format.
    pub weights: u64,
    /// `x [m, k]` as the kernel reads it: f32 for float formats; for integer ones Q8_1 blocks
    /// `[m, k / 32]` in the planar layout of `q8_1_to_planes`, 36 bytes per 32 values.
    pub activations: u64,
    /// `y [m, n]` f32.
    pub outputs: u64,
}

impl Traffic {
    pub fn gemv(format: GgmlType, shape: MatrixShape, m: u32) -> anyhow::Result<Traffic> {
        let imp = format_for(format).with_context(|| format!("{format} has no gemv kernel"))?;
        let (n, k, m) = (u64::from(shape.n), u64::from(shape.k), u64::from(m));
        let row = format
            .bytes_for(k)
            .with_context(|| format!("{format} rows of {k}"))?;
        let qk = u64::from(imp.qk());
        Ok(Traffic {
            weights: n * row,
            activations: m * (k / qk) * u64::from(imp.act_block_bytes()),
            outputs: m * n * 4,
        })
    }

    pub fn total(&self) -> u64 {
        self.weights + self.activations + self.outputs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sizes from the block layouts in ggml-common.h: Q4_K is 144 bytes per 256 weights,
    /// Q8_0 34 per 32, Q8_1 (activations) 36 per 32.
    #[test]
    fn traffic_counts_weights_activations_and_outputs() {
        let q = LLAMA3_8B[0];
        let t = Traffic::gemv(GgmlType::Q4_K, q, 1).unwrap();
        assert_eq!(t.weights, 4096 * 4096 / 256 * 144);
        assert_eq!(t.activations, 4096 / 32 * 36);
        assert_eq!(t.outputs, 4096 * 4);
        assert_eq!(t.total(), 9_437_184 + 4_608 + 16_384);

        let t = Traffic::gemv(GgmlType::Q8_0, LLAMA3_8B[3], 8).unwrap();
        assert_eq!(t.weights, 4096 * (14336 / 32) * 34);
        assert_eq!(t.activations, 8 * 14336 / 32 * 36);
        assert_eq!(t.outputs, 8 * 4096 * 4);
    }

    #[test]
    fn float_formats_read_f32_activations() {
        let t = Traffic::gemv(GgmlType::F16, LLAMA3_8B[4], 2).unwrap();
        assert_eq!(t.weights, 128_256 * 4096 * 2);
        assert_eq!(t.activations, 2 * 4096 * 4);
        assert_eq!(t.outputs, 2 * 128_256 * 4);
    }

    #[test]
    fn formats_without_a_kernel_are_errors() {
        assert!(Traffic::gemv(GgmlType::Q8_K, LLAMA3_8B[0], 1).is_err());
    }
}
