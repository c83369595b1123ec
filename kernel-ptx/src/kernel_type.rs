//! `KernelType`: one value per kernel the engine launches, and everything derived from it.

use crate::builder::{Kernel, render_module};
use crate::kernels::elementwise::Elementwise;
use crate::kernels::embedding::{self, Embedding};
use crate::kernels::{argmax, elementwise, gemv, quantize_q8_1, rms_norm, rope};
use crate::{Gemv, KernelError, SmTarget};
use quant_formats::GgmlType;

/// Every kernel the engine can launch. Compile-time choices only; matrix dims are runtime
/// parameters (`LaunchDims`). Adding a variant fails to compile until its entry name, PTX,
/// geometry and parameters exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KernelType {
    /// f32 activations `[m, k]` → Q8_1 blocks `[m, k/32]`, as `quantize_row_q8_1_ref`.
    QuantizeQ8_1 { target: SmTarget },
    /// `y[m, n] = W[n, k] · x[m, k]` for GGUF-block weights and Q8_1 activations.
    Gemv(Gemv),
    /// RMS norm times weight over rows; `residual`: first `residual += x`, then normalise it.
    RmsNorm { residual: bool, target: SmTarget },
    /// `RmsNorm` fused with `QuantizeQ8_1`: the normalised rows go straight to Q8_1 blocks.
    RmsNormQ8_1 { residual: bool, target: SmTarget },
    /// `out = a + b` elementwise (f32).
    Add { target: SmTarget },
    /// `out = silu(gate) * up` elementwise (f32).
    Swiglu { target: SmTarget },
    /// Rotary embedding in place; `neox`: rotate halves instead of adjacent pairs.
    Rope { neox: bool, target: SmTarget },
    /// Token-embedding gather with dequantisation.
    Embedding(Embedding),
    /// Argmax stage 1: per-chunk best `(value, index)`.
    ArgmaxPartial { target: SmTarget },
    /// Argmax stage 2: best of the chunk results per row.
    ArgmaxFinal { target: SmTarget },
}

/// Runtime dims of one launch. Each family documents which fields it reads; others are ignored.
///
/// - `Gemv`: `n` output rows (weight rows), `k` inner dim, `m` activation columns (= the
///   variant's M).
/// - `QuantizeQ8_1`: `m` rows of `k` floats.
/// - `RmsNorm`, `RmsNormQ8_1`: `rows` rows of `n` (a multiple of 32 for the latter). `Add`/`Swiglu`: `rows * n` elements (the `count` argument).
/// - `Rope`: `rows` tokens, `n` heads, `k` head_dim. `Embedding`: `rows` tokens, `n` row length.
/// - `ArgmaxPartial`/`ArgmaxFinal`: `rows` rows of `n` logits (scratch: `rows * parts(n)`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct LaunchDims {
    pub n: u32,
    pub k: u32,
    pub m: u32,
    pub rows: u32,
}

/// Grid and block sizes and dynamic shared memory of one launch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LaunchGeometry {
    pub grid: [u32; 3],
    pub block: [u32; 3],
    pub dynamic_shared_bytes: u32,
}

/// The kind of one kernel argument, in declaration order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParamKind {
    /// A device pointer (`.param .u64`).
    Ptr,
    U32,
    F32,
}

impl ParamKind {
    pub(crate) const fn ptx_ty(self) -> &'static str {
        match self {
            ParamKind::Ptr => "u64",
            ParamKind::U32 => "u32",
            ParamKind::F32 => "f32",
        }
    }
}

/// One kernel argument: its name (as in the PTX, without the `param_` prefix) and kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Param {
    pub name: &'static str,
    pub kind: ParamKind,
}

impl KernelType {
    /// The `.entry` name; unique per value, stable across builds.
    pub fn entry_name(&self) -> String {
        let name = match self {
            KernelType::QuantizeQ8_1 { .. } => "quantize_q8_1".to_string(),
            KernelType::Gemv(g) => g.entry_name(),
            KernelType::RmsNorm {
                residual: false, ..
            } => "rms_norm".to_string(),
            KernelType::RmsNorm { residual: true, .. } => "rms_norm_fused_residual".to_string(),
            KernelType::RmsNormQ8_1 {
                residual: false, ..
            } => "rms_norm_q8_1".to_string(),
            KernelType::RmsNormQ8_1 { residual: true, .. } => {
                "rms_norm_fused_residual_q8_1".to_string()
            }
            KernelType::Add { .. } => "add_f32".to_string(),
            KernelType::Swiglu { .. } => "swiglu_f32".to_string(),
            KernelType::Rope { neox: false, .. } => "rope_norm".to_string(),
            KernelType::Rope { neox: true, .. } => "rope_neox".to_string(),
            KernelType::Embedding(e) => e.entry_name(),
            KernelType::ArgmaxPartial { .. } => "argmax_partial".to_string(),
            KernelType::ArgmaxFinal { .. } => "argmax_final".to_string(),
        };
        match self.target() {
            SmTarget::Sm90 => name,
            other => format!("{name}_{}", other.tag()),
        }
    }

    /// Whether the kernel executes `griddepcontrol.wait` before touching global memory, so it may
    /// be launched with programmatic dependent launch. Every kernel's prologue (`KernelBuilder::entry`
    /// and the gemv body) emits the wait wherever the target has it.
    pub fn waits_on_grid_dependency(&self) -> bool {
        self.target().has_griddepcontrol()
    }

    /// The architecture the module is generated for.
    pub fn target(&self) -> SmTarget {
        match self {
            KernelType::QuantizeQ8_1 { target }
            | KernelType::RmsNorm { target, .. }
            | KernelType::RmsNormQ8_1 { target, .. }
            | KernelType::Add { target }
            | KernelType::Swiglu { target }
            | KernelType::Rope { target, .. }
            | KernelType::ArgmaxPartial { target }
            | KernelType::ArgmaxFinal { target } => *target,
            KernelType::Gemv(g) => g.target(),
            KernelType::Embedding(e) => e.target(),
        }
    }

    /// The whole PTX module holding this kernel's single entry.
    pub fn ptx(&self) -> String {
        let name = self.entry_name();
        let kernel: Kernel = match self {
            KernelType::QuantizeQ8_1 { target } => quantize_q8_1::build(&name, *target),
            KernelType::Gemv(g) => gemv::build(&name, g),
            KernelType::RmsNorm { residual, target } => rms_norm::build(&name, *target, *residual),
            KernelType::RmsNormQ8_1 { residual, target } => {
                rms_norm::build_q8_1(&name, *target, *residual)
            }
            KernelType::Add { target } => elementwise::build(&name, *target, Elementwise::Add),
            KernelType::Swiglu { target } => {
                elementwise::build(&name, *target, Elementwise::Swiglu)
            }
            KernelType::Rope { neox, target } => rope::build(&name, *target, *neox),
            KernelType::Embedding(e) => e.build(&name),
            KernelType::ArgmaxPartial { target } => argmax::build_partial(&name, *target),
            KernelType::ArgmaxFinal { target } => argmax::build_final(&name, *target),
        };
        render_module(self.target(), &[kernel])
    }

    /// Grid, block and dynamic shared memory for `dims`, or an error naming the kernel and dims
    /// when this variant cannot run them.
    pub fn launch(&self, dims: &LaunchDims) -> Result<LaunchGeometry, KernelError> {
        let result = match self {
            KernelType::QuantizeQ8_1 { .. } => quantize_q8_1::launch(dims),
            KernelType::Gemv(g) => g.launch(dims),
            KernelType::RmsNorm { .. } => rms_norm::launch(dims),
            KernelType::RmsNormQ8_1 { .. } => rms_norm::launch_q8_1(dims),
            KernelType::Add { .. } | KernelType::Swiglu { .. } => elementwise::launch(dims),
            KernelType::Rope { .. } => rope::launch(dims),
            KernelType::Embedding(e) => e.launch(dims),
            KernelType::ArgmaxPartial { .. } => argmax::launch(dims, true),
            KernelType::ArgmaxFinal { .. } => argmax::launch(dims, false),
        };
        result.map_err(|reason| KernelError::UnsupportedDims {
            kernel: self.entry_name(),
            dims: *dims,
            reason,
        })
    }

    /// The argument layout the launch must match, in order.
    pub fn params(&self) -> &'static [Param] {
        match self {
            KernelType::QuantizeQ8_1 { .. } => quantize_q8_1::PARAMS,
            KernelType::Gemv(g) => g.params(),
            KernelType::RmsNorm {
                residual: false, ..
            } => rms_norm::PARAMS,
            KernelType::RmsNorm { residual: true, .. }
            | KernelType::RmsNormQ8_1 { residual: true, .. } => rms_norm::PARAMS_RESIDUAL,
            KernelType::RmsNormQ8_1 {
                residual: false, ..
            } => rms_norm::PARAMS,
            KernelType::Add { .. } => elementwise::PARAMS_ADD,
            KernelType::Swiglu { .. } => elementwise::PARAMS_SWIGLU,
            KernelType::Rope { .. } => rope::PARAMS,
            KernelType::Embedding(_) => embedding::PARAMS,
            KernelType::ArgmaxPartial { .. } => argmax::PARAMS_PARTIAL,
            KernelType::ArgmaxFinal { .. } => argmax::PARAMS_FINAL,
        }
    }

    /// Representative variants for snapshots, ptxas checks and parity tests: every gemv format
    /// × M ∈ {1, 2, 4, 8} at the selected geometry (gate/up/SwiGLU at M ∈ {1, 8}), and every
    /// other kernel, all for sm_90.
    pub fn samples() -> Vec<KernelType> {
        let target = SmTarget::Sm90;
        let mut out = vec![
            KernelType::QuantizeQ8_1 { target },
            KernelType::RmsNorm {
                residual: false,
                target,
            },
            KernelType::RmsNorm {
                residual: true,
                target,
            },
            KernelType::RmsNormQ8_1 {
                residual: false,
                target,
            },
            KernelType::RmsNormQ8_1 {
                residual: true,
                target,
            },
            KernelType::Add { target },
            KernelType::Swiglu { target },
            KernelType::Rope {
                neox: false,
                target,
            },
            KernelType::Rope { neox: true, target },
            KernelType::ArgmaxPartial { target },
            KernelType::ArgmaxFinal { target },
        ];
        for format in embedding::FORMATS {
            if let Ok(e) = Embedding::new(format, target) {
                out.push(KernelType::Embedding(e));
            }
        }
        for format in gemv::formats() {
            let (warps, rows) = gemv::default_geometry(format);
            for m in [1, 2, 4, 8] {
                if let Ok(g) = Gemv::new(format, m, warps, rows, target) {
                    out.push(KernelType::Gemv(g));
                }
            }
            for m in [1, 8] {
                if let Ok(g) = Gemv::gate_up_swiglu(format, m, warps, rows, target) {
                    out.push(KernelType::Gemv(g));
                }
            }
        }
        // The tensor-core body: M = 1 and 8 for each MMA format, and the fused variant once.
        for format in [GgmlType::Q4_K, GgmlType::Q5_K] {
            for m in [1, 8] {
                if let Ok(g) = Gemv::tensor_core(format, m, 4, target) {
                    out.push(KernelType::Gemv(g));
                }
            }
        }
        if let Ok(g) = Gemv::tensor_core(GgmlType::Q4_K, 8, 4, target) {
            out.push(KernelType::Gemv(g.with_gate_up_swiglu()));
        }
        // The whole-block body (for small M): M = 1 and 2 with eight slices over one warp's
        // lanes per format; slices over warps (the shared-memory fold) and persistent, the
        // fastest at M = 1 on the H200; one and two slices; the fused variant once.
        for format in [GgmlType::Q4_K, GgmlType::Q5_K] {
            for m in [1, 2] {
                if let Ok(g) = Gemv::whole_blocks(format, m, 8, 1, 2, target) {
                    out.push(KernelType::Gemv(g));
                }
            }
        }
        if let Ok(g) = Gemv::whole_blocks(GgmlType::Q4_K, 1, 8, 4, 2, target)
            .and_then(|g| g.persistent(132, 4))
        {
            out.push(KernelType::Gemv(g));
        }
        for (slices, warps) in [(1, 1), (2, 2)] {
            if let Ok(g) = Gemv::whole_blocks(GgmlType::Q4_K, 1, slices, warps, 1, target) {
                out.push(KernelType::Gemv(g));
            }
        }
        if let Ok(g) = Gemv::whole_blocks(GgmlType::Q4_K, 1, 8, 1, 2, target) {
            out.push(KernelType::Gemv(g.with_gate_up_swiglu()));
        }
        // The L2 prefetch prologue is the same for every format: one sample.
        if let Ok(g) = Gemv::new(GgmlType::Q4_K, 1, 1, 2, target) {
            out.push(KernelType::Gemv(g.l2_prefetched()));
        }
        // The first wave's early weights (what `select_matvec` picks for Q4_K at M = 1): a
        // two-visit first trip, and a one-visit one (the fused M = 8 kernel's accumulators
        // leave no registers for two).
        for (format, m, fused) in [(GgmlType::Q4_K, 1, false), (GgmlType::Q6_K, 8, true)] {
            let (warps, rows) = crate::kernels::gemv::default_geometry(format);
            if let Ok(g) = Gemv::new(format, m, warps, rows, target)
                .and_then(|g| g.weights_before_wait(132, 8))
            {
                out.push(KernelType::Gemv(if fused {
                    g.with_gate_up_swiglu()
                } else {
                    g
                }));
            }
        }
        // Independent one-warp bodies per block, with the first wave's early weights.
        if let Ok(g) = Gemv::new(GgmlType::Q4_K, 1, 1, 2, target)
            .and_then(|g| g.weights_before_wait(132, 8))
            .and_then(|g| g.with_warp_groups(4))
        {
            out.push(KernelType::Gemv(g));
        }
        // Weights streamed by bulk copies (sm_90): one- and two-warp blocks (Q4_K, Q6_K), the
        // fused kernel, and M = 8.
        for (format, m, fused) in [
            (GgmlType::Q4_K, 1, false),
            (GgmlType::Q6_K, 1, false),
            (GgmlType::Q4_K, 1, true),
            (GgmlType::Q4_K, 8, false),
        ] {
            let (warps, rows) = crate::kernels::gemv::default_geometry(format);
            if let Ok(g) =
                Gemv::new(format, m, warps, rows, target).and_then(|g| g.streamed(132, 8, 4, 2))
            {
                out.push(KernelType::Gemv(if fused {
                    g.with_gate_up_swiglu()
                } else {
                    g
                }));
            }
        }
        out
    }

    /// The same variant retargeted (used to check that sm_80 assembles).
    pub fn with_target(self, target: SmTarget) -> KernelType {
        match self {
            KernelType::QuantizeQ8_1 { .. } => KernelType::QuantizeQ8_1 { target },
            KernelType::Gemv(g) => KernelType::Gemv(g.with_target(target)),
            KernelType::RmsNorm { residual, .. } => KernelType::RmsNorm { residual, target },
            KernelType::RmsNormQ8_1 { residual, .. } => {
                KernelType::RmsNormQ8_1 { residual, target }
            }
            KernelType::Add { .. } => KernelType::Add { target },
            KernelType::Swiglu { .. } => KernelType::Swiglu { target },
            KernelType::Rope { neox, .. } => KernelType::Rope { neox, target },
            KernelType::Embedding(e) => KernelType::Embedding(e.with_target(target)),
            KernelType::ArgmaxPartial { .. } => KernelType::ArgmaxPartial { target },
            KernelType::ArgmaxFinal { .. } => KernelType::ArgmaxFinal { target },
        }
    }
}

/// `ceil(a / b)`.
pub(crate) const fn div_ceil(a: u32, b: u32) -> u32 {
    a.div_ceil(b)
}

/// Weight formats that have a gemv kernel.
pub fn gemv_formats() -> Vec<GgmlType> {
    gemv::formats()
}
