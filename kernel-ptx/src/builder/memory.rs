//! Loads, stores and address conversion.

use super::{Addr, KernelBuilder, Operand, Reg, Space, Ty, reg_list};

impl KernelBuilder {
    /// `ld<space>.ty d, [addr]`.
    pub fn ld(&mut self, space: Space, ty: Ty, addr: Addr) -> Reg {
        let d = self.reg_for(ty);
        self.inst(format!("ld{}.{} {d}, {addr}", space.ptx(), ty.ptx()));
        d
    }

    /// `ld<space>.vN.ty {d0, …}, [addr]` (N = 2 or 4; the address must be N×size aligned).
    pub fn ld_vec(&mut self, space: Space, ty: Ty, n: usize, addr: Addr) -> Vec<Reg> {
        assert!(n == 2 || n == 4, "vector width {n}");
        let regs: Vec<Reg> = (0..n).map(|_| self.reg_for(ty)).collect();
        self.inst(format!(
            "ld{}.v{n}.{} {}, {addr}",
            space.ptx(),
            ty.ptx(),
            reg_list(&regs)
        ));
        regs
    }

    /// `st<space>.ty [addr], src`.
    pub fn st(&mut self, space: Space, ty: Ty, addr: Addr, src: impl Into<Operand>) {
        self.inst(format!(
            "st{}.{} {addr}, {}",
            space.ptx(),
            ty.ptx(),
            src.into()
        ));
    }

    /// `st<space>.vN.ty [addr], {s0, …}`.
    pub fn st_vec(&mut self, space: Space, ty: Ty, addr: Addr, src: &[Reg]) {
        assert!(
            src.len() == 2 || src.len() == 4,
            "vector width {}",
            src.len()
        );
        self.inst(format!(
            "st{}.v{}.{} {addr}, {}",
            space.ptx(),
            src.len(),
            ty.ptx(),
            reg_list(src)
        ));
    }

    /// `cp.async.cg.shared.global [dst], [src], 16`: an asynchronous 16-byte copy from the
    /// 16-byte-aligned global `src` (u64) to shared `dst` (u32 shared window), through L2 only.
    /// Visible to the issuing thread after [`KernelBuilder::cp_async_wait`], to others after a
    /// barrier as well (sm_80+).
    pub fn cp_async_16(&mut self, dst: Reg, src: Reg) {
        self.inst(format!("cp.async.cg.shared.global [{dst}], [{src}], 16"));
    }

    /// `cp.async.commit_group`: closes the group of this thread's `cp.async`s issued since the
    /// last commit.
    pub fn cp_async_commit(&mut self) {
        self.inst("cp.async.commit_group");
    }

    /// `cp.async.wait_group n`: waits until at most `n` of this thread's committed groups are
    /// pending.
    pub fn cp_async_wait(&mut self, n: u32) {
        self.inst(format!("cp.async.wait_group {n}"));
    }

    /// `cp.async.bulk.prefetch.L2.global [addr], size`: a hint to bring `size` bytes (u32, a
    /// positive multiple of 16) at the 16-byte-aligned global `addr` into L2. Emitted only for
    /// targets that have it (sm_90+); a hint, so omitting it changes no result.
    pub fn prefetch_l2_bulk(&mut self, addr: Reg, size: Reg) {
        if self.target().has_bulk_prefetch() {
            self.inst(format!("cp.async.bulk.prefetch.L2.global [{addr}], {size}"));
        }
    }

    /// `cvta.to.global.u64`: generic address to global window.
    pub fn cvta_to_global(&mut self, a: Reg) -> Reg {
        self.emit("cvta.to.global.u64", Ty::B64, &[a.into()])
    }

    /// `base + index * scale` as a 64-bit address (`mad.wide.u32`), index a `u32`.
    pub fn index_addr(&mut self, base: Reg, index: impl Into<Operand>, scale: u32) -> Reg {
        self.mad_wide(Ty::U32, index, scale, base)
    }

    /// `base + offset` for a 64-bit address and a `u32` byte offset.
    pub fn add_offset(&mut self, base: Reg, offset: impl Into<Operand>) -> Reg {
        let wide = self.cvt(Ty::U64, Ty::U32, None, offset);
        self.add(Ty::U64, base, wide)
    }
}
