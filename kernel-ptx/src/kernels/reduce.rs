//! Shared emit helpers: warp reductions.

use crate::builder::{KernelBuilder, Reg, Shfl, Ty};

/// Butterfly sum over the 32 lanes (offsets 16, 8, 4, 2, 1), as ggml-cuda's `warp_reduce_sum`;
/// every lane ends with the same value. `ty` is `F32` or `S32`/`U32`.
pub fn warp_sum(b: &mut KernelBuilder, ty: Ty, value: Reg) -> Reg {
    let mut acc = value;
    for offset in [16u32, 8, 4, 2, 1] {
        let other = b.shfl(Shfl::Bfly, acc, offset);
        acc = b.add(ty, acc, other);
    }
    acc
}

/// Butterfly max over the 32 lanes, as ggml-cuda's `warp_reduce_max`.
pub fn warp_max(b: &mut KernelBuilder, ty: Ty, value: Reg) -> Reg {
    let mut acc = value;
    for offset in [16u32, 8, 4, 2, 1] {
        let other = b.shfl(Shfl::Bfly, acc, offset);
        acc = b.max(ty, acc, other);
    }
    acc
}

/// `ctaid.x * block + tid.x` for a 1-D launch of `block` threads per block.
pub fn global_index(b: &mut KernelBuilder, block: u32) -> Reg {
    let tid = b.mov(Ty::U32, crate::builder::Special::TidX);
    let ctaid = b.mov(Ty::U32, crate::builder::Special::CtaidX);
    b.mad_lo(Ty::U32, ctaid, block, tid)
}

/// Block-wide f32 sum for a block of `warps` warps: butterfly within each warp, lane 0 writes
/// its warp's sum to `.shared`, then every thread adds the warp sums in warp order (so every
/// thread holds the identical total). `tid` is `%tid.x`.
pub fn block_sum(b: &mut KernelBuilder, value: Reg, tid: Reg, warps: u32, smem_name: &str) -> Reg {
    use crate::builder::{Addr, Cmp, Space};
    let warp_total = warp_sum(b, Ty::F32, value);
    if warps == 1 {
        return warp_total;
    }
    let smem = b.shared_array(smem_name, warps * 4, 16);
    let base = b.shared_base(&smem);
    let lane = b.and(Ty::U32, tid, 31u32);
    let warp = b.shr(Ty::U32, tid, 5u32);
    let slot = b.mad_lo(Ty::U32, warp, 4u32, base);
    let is_lane0 = b.setp(Cmp::Eq, Ty::U32, lane, 0u32);
    b.predicated(is_lane0, false, |b| {
        b.st(Space::Shared, Ty::F32, Addr::reg(slot), warp_total)
    });
    b.bar_sync(0);
    let mut total = b.ld(Space::Shared, Ty::F32, Addr::reg(base));
    for w in 1..warps {
        let other = b.ld(
            Space::Shared,
            Ty::F32,
            Addr::reg_off(base, i64::from(w) * 4),
        );
        total = b.add(Ty::F32, total, other);
    }
    total
}
