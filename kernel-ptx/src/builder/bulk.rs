//! Transaction barriers and bulk asynchronous copies (sm_90+, PTX 8.0): one thread moves a
//! contiguous run of global memory into shared memory with one instruction and no registers,
//! and an `mbarrier` in shared memory completes its phase once every expected byte has
//! landed. Waiters name the phase by its parity (`try_wait.parity`).
//!
//! Barrier and destination operands are 32-bit shared-window addresses (`shared_base`); a
//! barrier is 8 bytes, 8-byte aligned; copies move a multiple of 16 bytes between 16-byte
//! aligned addresses.

use super::{KernelBuilder, Operand, Reg, RegClass};

/// The longest a waiting thread stays suspended in one `mbarrier.try_wait` (ns; CUTLASS's
/// `ClusterBarrier::wait` value): it wakes as soon as the phase completes.
const WAIT_SUSPEND_HINT_NS: u32 = 10_000_000;

impl KernelBuilder {
    /// `mbarrier.init.shared::cta.b64 [bar], count`: a barrier whose phases complete after
    /// `count` arrivals and their announced bytes.
    pub fn mbarrier_init(&mut self, bar: Reg, count: u32) {
        self.inst(format!("mbarrier.init.shared::cta.b64 [{bar}], {count}"));
    }

    /// `fence.mbarrier_init.release.cluster`: orders this thread's `mbarrier.init`s before the
    /// copies and waits of other threads that follow a barrier after it.
    pub fn fence_mbarrier_init(&mut self) {
        self.inst("fence.mbarrier_init.release.cluster");
    }

    /// `mbarrier.arrive.expect_tx.shared::cta.b64 _, [bar], bytes`: one arrival that also
    /// announces `bytes` (u32) still to land through `complete_tx` copies in this phase.
    pub fn mbarrier_arrive_expect_tx(&mut self, bar: Reg, bytes: impl Into<Operand>) {
        let state = self.reg(RegClass::B64);
        self.inst(format!(
            "mbarrier.arrive.expect_tx.shared::cta.b64 {state}, [{bar}], {}",
            bytes.into()
        ));
    }

    /// `cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [dst], [src],
    /// bytes, [bar]`: copies `bytes` (u32, a multiple of 16) from global `src` (u64) to shared
    /// `dst` and counts them against `bar`'s announced bytes when they land.
    pub fn cp_async_bulk_to_shared(
        &mut self,
        dst: Reg,
        src: Reg,
        bytes: impl Into<Operand>,
        bar: Reg,
    ) {
        self.inst(format!(
            "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [{dst}], \
             [{src}], {}, [{bar}]",
            bytes.into()
        ));
    }

    /// Waits until the phase of `bar` with parity `parity` (u32, 0 or 1) has completed; its
    /// copies are then visible to this thread (acquire). `mbarrier.try_wait.parity` suspends
    /// the thread until the phase completes or `WAIT_SUSPEND_HINT_NS` pass (without the hint
    /// the limit is the system's, and waiting warps spin through issue slots), in a loop.
    pub fn mbarrier_wait_parity(&mut self, bar: Reg, parity: impl Into<Operand>) {
        let parity = parity.into();
        let again = self.label("mbarrier_wait");
        self.place(&again);
        let done = self.reg(RegClass::Pred);
        self.inst(format!(
            "mbarrier.try_wait.parity.shared::cta.b64 {done}, [{bar}], {parity}, \
             {WAIT_SUSPEND_HINT_NS:#x}"
        ));
        self.bra_if(done, true, &again);
    }
}
