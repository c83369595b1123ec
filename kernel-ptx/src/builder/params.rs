//! Kernel parameter tables and the entry prologue that declares them.

use super::{KernelBuilder, Reg};
use crate::SmTarget;
use crate::kernel_type::{Param, ParamKind};

impl Param {
    /// A device pointer (loaded as a global-space `u64` address).
    pub const fn ptr(name: &'static str) -> Param {
        Param {
            name,
            kind: ParamKind::Ptr,
        }
    }

    pub const fn u32(name: &'static str) -> Param {
        Param {
            name,
            kind: ParamKind::U32,
        }
    }

    pub const fn f32(name: &'static str) -> Param {
        Param {
            name,
            kind: ParamKind::F32,
        }
    }
}

impl KernelBuilder {
    /// The prologue every element-wise / row kernel shares: `.maxntid threads`, every parameter
    /// of `params` declared and loaded in order (the launch's argument layout), then
    /// `griddepcontrol.wait` and `launch_dependents`. Returns the loaded parameters in order.
    pub fn entry<const N: usize>(
        name: &str,
        target: SmTarget,
        threads: u32,
        params: &[Param; N],
    ) -> (Self, [Reg; N]) {
        let mut b = KernelBuilder::new(name, target);
        b.max_threads(threads);
        let regs = params.map(|p| b.param(p.name, p.kind));
        b.griddep_wait();
        b.griddep_launch_dependents();
        (b, regs)
    }
}
