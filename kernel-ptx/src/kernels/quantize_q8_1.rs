//! f32 activations → Q8_1 blocks, bit-identical to ggml's `quantize_row_q8_1_ref`
//! (ggml/src/ggml-quants.c): per 32 values `d = amax / 127`, `id = d ? 1/d : 0`,
//! `q = roundf(x * id)`, `s = sum(q) * d`, `d` and `s` stored as f16.
//!
//! One warp per block, one value per lane (like ggml-cuda's `quantize_q8_1`), with warp
//! reductions for `amax` (exact) and the integer sum (exact).
//! Layout: x f32 `[m, k]` row-major; y the blocks `block_q8_1 [m, k/32]` in the planar layout of
//! `quant_formats::q8_1_to_planes`: quants `[m, k]` i8, then `{ d, s }` f16 pairs `[m, k/32]`.

use crate::builder::{
    Addr, Cmp, FloatUnary, Kernel, KernelBuilder, Reg, Round, Space, Special, Ty,
};
use crate::kernel_type::div_ceil;
use crate::kernels::reduce::{warp_max, warp_sum};
use crate::{LaunchDims, LaunchGeometry, Param, SmTarget};
use quant_formats::GgmlType;

/// Threads per block (8 Q8_1 blocks).
const BLOCK_THREADS: u32 = 256;
const QK8_1: u32 = GgmlType::Q8_1.block_elems() as u32;

pub const PARAMS: &[Param; 4] = &[
    Param::ptr("x"),
    Param::ptr("y"),
    Param::u32("m"),
    Param::u32("k"),
];

pub fn launch(dims: &LaunchDims) -> Result<LaunchGeometry, String> {
    if dims.k == 0 || !dims.k.is_multiple_of(QK8_1) {
        return Err(format!("k must be a positive multiple of {QK8_1}"));
    }
    if dims.m == 0 {
        return Err("m must be positive".into());
    }
    let elements = dims.m.checked_mul(dims.k).ok_or("m*k overflows u32")?;
    Ok(LaunchGeometry {
        grid: [div_ceil(elements, BLOCK_THREADS), 1, 1],
        block: [BLOCK_THREADS, 1, 1],
        dynamic_shared_bytes: 0,
    })
}

pub fn build(name: &str, target: SmTarget) -> Kernel {
    let (mut b, [x, y, m, k]) = KernelBuilder::entry(name, target, BLOCK_THREADS, PARAMS);

    let tid = b.mov(Ty::U32, Special::TidX);
    let ctaid = b.mov(Ty::U32, Special::CtaidX);
    let gid = b.mad_lo(Ty::U32, ctaid, BLOCK_THREADS, tid);
    let block = b.shr(Ty::U32, gid, QK8_1.trailing_zeros());
    let lane = b.and(Ty::U32, gid, QK8_1 - 1);
    let blocks_per_row = b.shr(Ty::U32, k, QK8_1.trailing_zeros());
    let n_blocks = b.mul(Ty::U32, m, blocks_per_row);
    // Whole warps leave together: a warp is exactly one block.
    let out_of_range = b.setp(Cmp::Ge, Ty::U32, block, n_blocks);
    let done = b.label("done");
    b.bra_if(out_of_range, false, &done);

    let x_addr = b.index_addr(x, gid, 4);
    let v = b.ld(Space::GlobalNc, Ty::F32, Addr::reg(x_addr));
    let out = Q8_1Planes::new(&mut b, y, n_blocks);
    emit_quantize_block(&mut b, v, out, block, lane);
    b.place(&done);
    b.ret();
    b.finish()
}

/// Where Q8_1 blocks go: the two planes of `quant_formats::q8_1_to_planes`.
#[derive(Clone, Copy)]
pub(crate) struct Q8_1Planes {
    /// Quants, 32 bytes per block.
    quants: Reg,
    /// `{ d, s }` f16 pairs, 4 bytes per block.
    scales: Reg,
}

impl Q8_1Planes {
    /// The planes of a buffer at `y` holding `blocks` (u32) Q8_1 blocks.
    pub(crate) fn new(b: &mut KernelBuilder, y: Reg, blocks: Reg) -> Self {
        let quant_bytes = b.mul_wide(Ty::U32, blocks, 32u32);
        Q8_1Planes {
            quants: y,
            scales: b.add(Ty::U64, y, quant_bytes),
        }
    }
}

/// Quantises one Q8_1 block held one value per lane (`v`, f32) by a whole warp and stores it
/// as block `block` of `y`: the shared tail of `quantize_q8_1` and the fused norm kernels.
pub(crate) fn emit_quantize_block(
    b: &mut KernelBuilder,
    v: Reg,
    y: Q8_1Planes,
    block: Reg,
    lane: Reg,
) {
    let abs_v = b.abs(Ty::F32, v);
    let amax = warp_max(b, Ty::F32, abs_v);
    let d = b.div(Ty::F32, amax, 127.0f32);
    let d_is_zero = b.setp(Cmp::Eq, Ty::F32, d, 0.0f32);
    let inv = b.float_unary(FloatUnary::RcpRn, Ty::F32, d);
    let id = b.selp(Ty::F32, 0.0f32, inv, d_is_zero);
    let scaled = b.mul(Ty::F32, v, id);
    let q = round_half_away(b, scaled);
    let sum = warp_sum(b, Ty::S32, q);

    let y_block = b.index_addr(y.quants, block, QK8_1);
    let y_q = b.add_offset(y_block, lane);
    b.st(Space::Global, Ty::S8, Addr::reg(y_q), q);
    let y_ds = b.index_addr(y.scales, block, 4);
    let is_lane0 = b.setp(Cmp::Eq, Ty::U32, lane, 0u32);
    let sum_f = b.cvt(Ty::F32, Ty::S32, Some(Round::Rn), sum);
    let s = b.mul(Ty::F32, sum_f, d);
    let d16 = b.cvt(Ty::F16, Ty::F32, Some(Round::Rn), d);
    let s16 = b.cvt(Ty::F16, Ty::F32, Some(Round::Rn), s);
    let ds = b.pack_b16x2(d16, s16);
    b.predicated(is_lane0, false, |b| {
        b.st(Space::Global, Ty::B32, Addr::reg(y_ds), ds)
    });
}

/// C `roundf` (half away from zero) of an f32, as an s32. `cvt.rni` rounds half to even, so:
/// `t = trunc(v)`; `t ± 1` when `|v - t| >= 0.5` (the subtraction is exact).
fn round_half_away(b: &mut KernelBuilder, v: Reg) -> Reg {
    let t = b.cvt(Ty::F32, Ty::F32, Some(Round::Rzi), v);
    let frac = b.sub(Ty::F32, v, t);
    let frac_abs = b.abs(Ty::F32, frac);
    let round_up = b.setp(Cmp::Ge, Ty::F32, frac_abs, 0.5f32);
    let unit = b.copysign(Ty::F32, v, 1.0f32);
    let away = b.add(Ty::F32, t, unit);
    let r = b.selp(Ty::F32, away, t, round_up);
    b.cvt(Ty::S32, Ty::F32, Some(Round::Rzi), r)
}
