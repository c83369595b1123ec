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
