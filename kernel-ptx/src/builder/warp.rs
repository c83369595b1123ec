//! Warp-level and tensor-core instructions, barriers and grid dependency control.

use super::{KernelBuilder, MmaFloat, Operand, Reg, RegClass, Shfl, Ty, reg_list};

/// Full-warp member mask for `.sync` instructions.
pub const FULL_MASK: u32 = 0xffff_ffff;

impl KernelBuilder {
    /// `dp4a.s32.s32 d, a, b, c`: four signed byte products of `a` and `b`, summed into `c`.
    pub fn dp4a(
        &mut self,
        a: impl Into<Operand>,
        b: impl Into<Operand>,
        c: impl Into<Operand>,
    ) -> Reg {
        self.emit("dp4a.s32.s32", Ty::B32, &[a.into(), b.into(), c.into()])
    }

    /// `dp4a.u32.s32 d, a, b, c`: `c + Σ a.u8[i] * b.s8[i]` (s32), `a`'s bytes unsigned.
    pub fn dp4a_unsigned_a(
        &mut self,
        a: impl Into<Operand>,
        b: impl Into<Operand>,
        c: impl Into<Operand>,
    ) -> Reg {
        self.emit("dp4a.u32.s32", Ty::B32, &[a.into(), b.into(), c.into()])
    }

    /// `shfl.sync.mode.b32` over the full warp. `lane` is the xor mask (`Bfly`), the delta
    /// (`Down`/`Up`) or the source lane (`Idx`). The result has `val`'s register class.
    pub fn shfl(&mut self, mode: Shfl, val: Reg, lane: impl Into<Operand>) -> Reg {
        let d = self.reg(val.class);
        let clamp = if mode == Shfl::Up { 0 } else { 0x1f };
        self.inst(format!(
            "shfl.sync.{}.b32 {d}, {val}, {}, {clamp}, {FULL_MASK:#x}",
            mode.ptx(),
            lane.into()
        ));
        d
    }

    /// `bar.sync id`: all threads of the block.
    pub fn bar_sync(&mut self, id: u32) {
        self.inst(format!("bar.sync {id}"));
    }

    /// `bar.warp.sync 0xffffffff`: the warp's threads meet here and their memory accesses
    /// before it are visible to each other after it (`__syncwarp()`).
    pub fn bar_warp_sync(&mut self) {
        self.inst(format!("bar.warp.sync {FULL_MASK:#x}"));
    }

    /// `mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32`: D (4×s32) = A (4×b32 of s8) · B (2×b32) + C.
    pub fn mma_m16n8k32_s8(&mut self, a: [Reg; 4], b: [Reg; 2], c: [Reg; 4]) -> [Reg; 4] {
        let d = [0; 4].map(|_| self.reg(RegClass::B32));
        self.inst(format!(
            "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {}, {}, {}, {}",
            reg_list(&d),
            reg_list(&a),
            reg_list(&b),
            reg_list(&c)
        ));
        d
    }

    /// `mma.sync.aligned.m16n8k16.row.col.f32.{f16,bf16}.{f16,bf16}.f32`:
    /// D (4×f32) = A (4×b32 pairs) · B (2×b32 pairs) + C (4×f32).
    pub fn mma_m16n8k16(
        &mut self,
        kind: MmaFloat,
        a: [Reg; 4],
        b: [Reg; 2],
        c: [Reg; 4],
    ) -> [Reg; 4] {
        let d = [0; 4].map(|_| self.reg(RegClass::F32));
        let t = match kind {
            MmaFloat::F16 => "f16",
            MmaFloat::Bf16 => "bf16",
        };
        self.inst(format!(
            "mma.sync.aligned.m16n8k16.row.col.f32.{t}.{t}.f32 {}, {}, {}, {}",
            reg_list(&d),
            reg_list(&a),
            reg_list(&b),
            reg_list(&c)
        ));
        d
    }

    /// `griddepcontrol.wait`: block until the grids this one depends on have completed and
    /// their memory is visible. A no-op when launched without programmatic dependent launch.
    /// Emitted only for targets that have it (sm_90+).
    pub fn griddep_wait(&mut self) {
        if self.target().has_griddepcontrol() {
            self.inst("griddepcontrol.wait");
        }
    }

    /// `griddepcontrol.launch_dependents`: lets the next grid in the stream start launching.
    pub fn griddep_launch_dependents(&mut self) {
        if self.target().has_griddepcontrol() {
            self.inst("griddepcontrol.launch_dependents");
        }
    }
}
