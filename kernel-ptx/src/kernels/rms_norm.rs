//! RMS norm, optionally fused with the residual add before it:
//! `y[r, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * w` (ggml-cuda `rms_norm_f32` followed by
//! the weight multiply, ggml/src/ggml-cuda/norm.cu). The fused form first computes
//! `h = x + residual`, writes `h` back into `residual` (the residual stream) and normalises `h`.
//!
//! One block of 256 threads per row; threads stride over the row; the sum of squares is a
//! block reduction in a fixed order. Shapes: x, y, residual f32 `[rows, n]`; w f32 `[n]`.
//! `x` and `w` are read through the non-coherent path: `y` must not alias them.
//! `build_q8_1` fuses the norm into `quantize_q8_1` (norm output goes straight to Q8_1 blocks
//! for the integer gemv); its parameters are the same, with `y` Q8_1 `[rows, n / 32]` in the
//! planar layout of `quant_formats::q8_1_to_planes`.

use crate::builder::{
    Addr, Cmp, FloatUnary, Kernel, KernelBuilder, Reg, Round, Space, Special, Ty,
};
use crate::kernels::quantize_q8_1::{Q8_1Planes, emit_quantize_block};
use crate::kernels::reduce::block_sum;
use crate::{LaunchDims, LaunchGeometry, Param, SmTarget};

const THREADS: u32 = 256;

pub const PARAMS: &[Param; 5] = &[
    Param::ptr("x"),
    Param::ptr("w"),
    Param::ptr("y"),
    Param::u32("n"),
    Param::f32("eps"),
];

pub const PARAMS_RESIDUAL: &[Param; 6] = &[
    Param::ptr("x"),
    Param::ptr("residual"),
    Param::ptr("w"),
    Param::ptr("y"),
    Param::u32("n"),
    Param::f32("eps"),
];

/// Reads `dims.rows` (rows) and `dims.n` (row length).
pub fn launch(dims: &LaunchDims) -> Result<LaunchGeometry, String> {
    if dims.rows == 0 || dims.n == 0 {
        return Err("rows and n must be positive".into());
    }
    if dims.rows.checked_mul(dims.n).is_none() {
        return Err("rows*n overflows u32".into());
    }
    Ok(LaunchGeometry {
        grid: [dims.rows, 1, 1],
        block: [THREADS, 1, 1],
        dynamic_shared_bytes: 0,
    })
}

/// The loaded parameters (`res` only in the fused form) and the row this block normalises.
struct NormRow {
    res: Option<Reg>,
    w: Reg,
    y: Reg,
    n: Reg,
    eps: Reg,
    tid: Reg,
    row: Reg,
    row_start: Reg,
    x_row: Reg,
}

/// Entry prologue of every RMS-norm kernel: parameters, thread and row indices, `&x[row, 0]`.
fn norm_entry(name: &str, target: SmTarget, residual: bool) -> (KernelBuilder, NormRow) {
    let (mut b, x, res, [w, y, n, eps]) = if residual {
        let (b, [x, res, w, y, n, eps]) =
            KernelBuilder::entry(name, target, THREADS, PARAMS_RESIDUAL);
        (b, x, Some(res), [w, y, n, eps])
    } else {
        let (b, [x, w, y, n, eps]) = KernelBuilder::entry(name, target, THREADS, PARAMS);
        (b, x, None, [w, y, n, eps])
    };
    let tid = b.mov(Ty::U32, Special::TidX);
    let row = b.mov(Ty::U32, Special::CtaidX);
    let row_start = b.mul(Ty::U32, row, n);
    let x_row = b.index_addr(x, row_start, 4);
    let norm = NormRow {
        res,
        w,
        y,
        n,
        eps,
        tid,
        row,
        row_start,
        x_row,
    };
    (b, norm)
}

/// Pass 2 value of column `col`: `(h * scale) * w`, h re-read (this thread wrote it itself in
/// the fused form).
fn emit_normed(
    b: &mut KernelBuilder,
    x_row: Reg,
    res_row: Option<Reg>,
    w: Reg,
    scale: Reg,
    col: Reg,
) -> Reg {
    let v = match res_row {
        Some(res_row) => {
            let ra = b.index_addr(res_row, col, 4);
            b.ld(Space::Global, Ty::F32, Addr::reg(ra))
        }
        None => {
            let xa = b.index_addr(x_row, col, 4);
            b.ld(Space::GlobalNc, Ty::F32, Addr::reg(xa))
        }
    };
    let wa = b.index_addr(w, col, 4);
    let wv = b.ld(Space::GlobalNc, Ty::F32, Addr::reg(wa));
    let scaled = b.mul(Ty::F32, v, scale);
    b.mul(Ty::F32, scaled, wv)
}

pub fn build(name: &str, target: SmTarget, residual: bool) -> Kernel {
    let (mut b, r) = norm_entry(name, target, residual);
    let y_row = b.index_addr(r.y, r.row_start, 4);
    let res_row = r.res.map(|res| b.index_addr(res, r.row_start, 4));
    let scale = emit_row_scale(&mut b, r.x_row, res_row, r.n, r.tid, r.eps);

    strided_loop(&mut b, r.tid, r.n, "scale", |b, col| {
        let out = emit_normed(b, r.x_row, res_row, r.w, scale, col);
        let ya = b.index_addr(y_row, col, 4);
        b.st(Space::Global, Ty::F32, Addr::reg(ya), out);
    });
    b.ret();
    b.finish()
}

/// The norm fused with `quantize_q8_1`: `y` is Q8_1 `[rows, n / 32]`, bit-identical to
/// `rms_norm` followed by `quantize_q8_1` (pass 2 computes each value exactly as `rms_norm`,
/// then warp w quantises blocks w, w + 8, … of the row).
pub fn build_q8_1(name: &str, target: SmTarget, residual: bool) -> Kernel {
    let (mut b, r) = norm_entry(name, target, residual);
    let (tid, n) = (r.tid, r.n);
    let res_row = r.res.map(|res| b.index_addr(res, r.row_start, 4));
    let scale = emit_row_scale(&mut b, r.x_row, res_row, n, tid, r.eps);

    let lane = b.and(Ty::U32, tid, 31u32);
    let warp = b.shr(Ty::U32, tid, 5u32);
    let blocks = b.shr(Ty::U32, n, 5u32);
    let first_block = b.mul(Ty::U32, r.row, blocks);
    // One CTA per row: the grid is the row count.
    let rows = b.mov(Ty::U32, Special::NctaidX);
    let total_blocks = b.mul(Ty::U32, rows, blocks);
    let out = Q8_1Planes::new(&mut b, r.y, total_blocks);
    let qb = b.mov(Ty::U32, warp);
    let top = b.label("quant");
    let end = b.label("quant_done");
    let skip = b.setp(Cmp::Ge, Ty::U32, qb, blocks);
    b.bra_if(skip, false, &end);
    b.place(&top);
    let col = b.mad_lo(Ty::U32, qb, 32u32, lane);
    let normed = emit_normed(&mut b, r.x_row, res_row, r.w, scale, col);
    let block = b.add(Ty::U32, first_block, qb);
    emit_quantize_block(&mut b, normed, out, block, lane);
    let next = b.add(Ty::U32, qb, THREADS / 32);
    b.mov_to(qb, next);
    let more = b.setp(Cmp::Lt, Ty::U32, qb, blocks);
    b.bra_if(more, false, &top);
    b.place(&end);
    b.ret();
    b.finish()
}

/// Reads `dims.rows` (rows) and `dims.n` (row length, a multiple of 32).
pub fn launch_q8_1(dims: &LaunchDims) -> Result<LaunchGeometry, String> {
    if !dims.n.is_multiple_of(32) {
        return Err("n must be a multiple of 32".into());
    }
    launch(dims)
}

/// Pass 1 of every RMS-norm kernel: `sum(h^2)` over the row (h = x, or x + residual written
/// back to `residual`), a block reduction, and `scale = 1 / sqrt(mean + eps)`.
fn emit_row_scale(
    b: &mut KernelBuilder,
    x_row: Reg,
    res_row: Option<Reg>,
    n: Reg,
    tid: Reg,
    eps: Reg,
) -> Reg {
    let sum = b.mov(Ty::F32, 0.0f32);
    strided_loop(b, tid, n, "sumsq", |b, col| {
        let xa = b.index_addr(x_row, col, 4);
        let mut v = b.ld(Space::GlobalNc, Ty::F32, Addr::reg(xa));
        if let Some(res_row) = res_row {
            let ra = b.index_addr(res_row, col, 4);
            let r = b.ld(Space::Global, Ty::F32, Addr::reg(ra));
            v = b.add(Ty::F32, v, r);
            b.st(Space::Global, Ty::F32, Addr::reg(ra), v);
        }
        let s = b.fma(Ty::F32, v, v, sum);
        b.mov_to(sum, s);
    });
    let total = block_sum(b, sum, tid, THREADS / 32, "warp_sums");
    let n_f = b.cvt(Ty::F32, Ty::U32, Some(Round::Rn), n);
    let mean = b.div(Ty::F32, total, n_f);
    let var = b.add(Ty::F32, mean, eps);
    let root = b.float_unary(FloatUnary::SqrtRn, Ty::F32, var);
    b.float_unary(FloatUnary::RcpRn, Ty::F32, root)
}

/// `for col in (tid..n).step_by(THREADS) { body(col) }`.
pub(crate) fn strided_loop(
    b: &mut KernelBuilder,
    tid: Reg,
    n: Reg,
    hint: &str,
    body: impl FnOnce(&mut KernelBuilder, Reg),
) {
    let col = b.mov(Ty::U32, tid);
    let top = b.label(hint);
    let end = b.label(&format!("{hint}_done"));
    let skip = b.setp(Cmp::Ge, Ty::U32, col, n);
    b.bra_if(skip, false, &end);
    b.place(&top);
    body(b, col);
    let next = b.add(Ty::U32, col, THREADS);
    b.mov_to(col, next);
    let more = b.setp(Cmp::Lt, Ty::U32, col, n);
    b.bra_if(more, false, &top);
    b.place(&end);
}
