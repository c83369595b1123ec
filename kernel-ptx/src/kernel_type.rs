//! `KernelType`: one value per kernel the engine launches, and everything derived from it.

use crate::builder::{Kernel, render_module};
use crate::kernels::{gemv, quantize_q8_1};
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
}

/// Runtime dims of one launch. Each family documents which fields it reads; others are ignored.
///
/// - `Gemv`: `n` output rows (weight rows), `k` inner dim, `m` activation columns (= the
///   variant's M).
/// - `QuantizeQ8_1`: `m` rows of `k` floats.
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
        };
        match self.target() {
            SmTarget::Sm90 => name,
            other => format!("{name}_{}", other.tag()),
        }
    }

    /// The architecture the module is generated for.
    pub fn target(&self) -> SmTarget {
        match self {
            KernelType::QuantizeQ8_1 { target } => *target,
            KernelType::Gemv(g) => g.target(),
        }
    }

    /// The whole PTX module holding this kernel's single entry.
    pub fn ptx(&self) -> String {
        let name = self.entry_name();
        let kernel: Kernel = match self {
            KernelType::QuantizeQ8_1 { target } => quantize_q8_1::build(&name, *target),
            KernelType::Gemv(g) => gemv::build(&name, g),
        };
        render_module(self.target(), &[kernel])
    }

    /// Grid, block and dynamic shared memory for `dims`, or an error naming the kernel and dims
    /// when this variant cannot run them.
    pub fn launch(&self, dims: &LaunchDims) -> Result<LaunchGeometry, KernelError> {
        let result = match self {
            KernelType::QuantizeQ8_1 { .. } => quantize_q8_1::launch(dims),
            KernelType::Gemv(g) => g.launch(dims),
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
            KernelType::Gemv(_) => gemv::PARAMS,
        }
    }

    /// Representative variants for snapshots, ptxas checks and parity tests: every gemv format
    /// × M ∈ {1, 2, 4, 8} at the selected geometry, and every other kernel, all for sm_90.
    pub fn samples() -> Vec<KernelType> {
        let target = SmTarget::Sm90;
        let mut out = vec![KernelType::QuantizeQ8_1 { target }];
        for format in gemv::formats() {
            for m in [1, 2, 4, 8] {
                let (warps, rows) = gemv::default_geometry(format);
                if let Ok(g) = Gemv::new(format, m, warps, rows, target) {
                    out.push(KernelType::Gemv(g));
                }
            }
        }
        out
    }

    /// The same variant retargeted (used to check that sm_80 assembles).
    pub fn with_target(self, target: SmTarget) -> KernelType {
        match self {
            KernelType::QuantizeQ8_1 { .. } => KernelType::QuantizeQ8_1 { target },
            KernelType::Gemv(g) => KernelType::Gemv(g.with_target(target)),
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
