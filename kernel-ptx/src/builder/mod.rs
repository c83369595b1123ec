//! A small typed PTX builder: virtual registers numbered per class, typed instructions rendered
//! to deterministic text (one instruction table per family in `ops`, `memory`, `warp`).
//!
//! Every instruction method returns fresh registers (`b.add(Ty::U32, a, 1) -> Reg`); loop-carried
//! values are updated with `mov_to`. `ptxas` removes the extra moves.

mod bulk;
mod memory;
mod ops;
mod params;
mod types;
mod warp;

use types::reg_list;
pub use types::{
    Addr, Cmp, FloatUnary, Label, MmaFloat, Operand, Reg, RegClass, Round, Shfl, Space, Special, Ty,
};

use crate::SmTarget;
use crate::kernel_type::ParamKind;
use std::fmt::Write as _;

/// PTX ISA version written in every module; ptxas 12.9 accepts up to 8.8, driver 580 JITs it.
pub const PTX_VERSION: &str = "8.4";

/// A `.shared` array declared in a kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedArray {
    pub name: String,
    pub bytes: u32,
}

/// Builds one `.entry`.
#[derive(Debug)]
pub struct KernelBuilder {
    name: String,
    target: SmTarget,
    params: Vec<(String, ParamKind)>,
    shared: Vec<(String, u32, u32)>,
    dynamic_shared: Option<String>,
    max_threads: Option<u32>,
    min_blocks_per_sm: Option<u32>,
    reg_counts: [u32; RegClass::ALL.len()],
    label_count: u32,
    guard: Option<String>,
    body: Vec<String>,
}

impl KernelBuilder {
    pub fn new(name: impl Into<String>, target: SmTarget) -> Self {
        KernelBuilder {
            name: name.into(),
            target,
            params: Vec::new(),
            shared: Vec::new(),
            dynamic_shared: None,
            max_threads: None,
            min_blocks_per_sm: None,
            reg_counts: [0; RegClass::ALL.len()],
            label_count: 0,
            guard: None,
            body: Vec::new(),
        }
    }

    pub fn target(&self) -> SmTarget {
        self.target
    }

    /// Declares `.maxntid threads, 1, 1` so ptxas budgets registers for that block size.
    pub fn max_threads(&mut self, threads: u32) {
        self.max_threads = Some(threads);
    }

    /// Declares `.minnctapersm blocks`: ptxas may use every register that leaves room for
    /// `blocks` resident blocks of `max_threads` threads. With `.maxntid` alone ptxas picks its
    /// own occupancy target and spills some gemv variants at ~72 registers.
    pub fn min_blocks_per_sm(&mut self, blocks: u32) {
        self.min_blocks_per_sm = Some(blocks);
    }

    /// A fresh register of `class`.
    pub fn reg(&mut self, class: RegClass) -> Reg {
        let slot = &mut self.reg_counts[class.index()];
        let reg = Reg {
            class,
            index: *slot,
        };
        *slot += 1;
        reg
    }

    /// A fresh register able to hold a value of `ty`.
    pub fn reg_for(&mut self, ty: Ty) -> Reg {
        self.reg(ty.class())
    }

    /// Appends one instruction (without the trailing `;`), under the active predicate guard.
    pub fn inst(&mut self, text: impl AsRef<str>) {
        let line = match &self.guard {
            Some(g) => format!("\t{g} {};", text.as_ref()),
            None => format!("\t{};", text.as_ref()),
        };
        self.body.push(line);
    }

    /// Emits the instructions of `f` under `@p` (or `@!p` when `negate`).
    pub fn predicated(&mut self, p: Reg, negate: bool, f: impl FnOnce(&mut Self)) {
        debug_assert_eq!(p.class, RegClass::Pred);
        let prev = self
            .guard
            .replace(format!("@{}{p}", if negate { "!" } else { "" }));
        f(self);
        self.guard = prev;
    }

    /// Declares a kernel parameter and loads it: `Ptr` gives a global-space `u64` address
    /// (`cvta.to.global`), `U32` a `u32`, `F32` an `f32`.
    pub fn param(&mut self, name: &str, kind: ParamKind) -> Reg {
        let sym = format!("param_{name}");
        self.params.push((sym.clone(), kind));
        let addr = Addr::Symbol {
            name: sym,
            offset: 0,
        };
        match kind {
            ParamKind::Ptr => {
                let generic = self.ld(Space::Param, Ty::U64, addr);
                self.cvta_to_global(generic)
            }
            ParamKind::U32 => self.ld(Space::Param, Ty::U32, addr),
            ParamKind::F32 => self.ld(Space::Param, Ty::F32, addr),
        }
    }

    /// Declares `.shared .align align .b8 name[bytes]`; declaring it again (same size and
    /// alignment) returns the same array.
    pub fn shared_array(&mut self, name: &str, bytes: u32, align: u32) -> SharedArray {
        match self.shared.iter().find(|(n, ..)| n == name) {
            Some(&(_, b, a)) => assert!(
                (b, a) == (bytes, align),
                "shared array {name} redeclared as {bytes} bytes, align {align}"
            ),
            None => self.shared.push((name.to_string(), bytes, align)),
        }
        SharedArray {
            name: name.to_string(),
            bytes,
        }
    }

    /// Declares the dynamic shared array (`.extern .shared .align 16 .b8 name[]`, module scope,
    /// written just before the entry).
    pub fn dynamic_shared(&mut self, name: &str) -> SharedArray {
        self.dynamic_shared = Some(name.to_string());
        SharedArray {
            name: name.to_string(),
            bytes: 0,
        }
    }

    /// The 32-bit shared-window address of `array`.
    pub fn shared_base(&mut self, array: &SharedArray) -> Reg {
        let d = self.reg(RegClass::B32);
        self.inst(format!("mov.u32 {d}, {}", array.name));
        d
    }

    /// A fresh label (`$L_<hint>_<n>`), placed later with `place`.
    pub fn label(&mut self, hint: &str) -> Label {
        let l = Label(format!("$L_{hint}_{}", self.label_count));
        self.label_count += 1;
        l
    }

    pub fn place(&mut self, label: &Label) {
        self.body.push(format!("{label}:"));
    }

    pub fn bra(&mut self, label: &Label) {
        self.inst(format!("bra.uni {label}"));
    }

    /// `@p bra label` (or `@!p` when `negate`).
    pub fn bra_if(&mut self, p: Reg, negate: bool, label: &Label) {
        self.predicated(p, negate, |b| b.inst(format!("bra {label}")));
    }

    pub fn ret(&mut self) {
        self.inst("ret");
    }

    /// Renders the `.entry`.
    pub fn finish(self) -> Kernel {
        let mut out = String::new();
        let params: Vec<String> = self
            .params
            .iter()
            .map(|(name, kind)| format!("\t.param .{} {name}", kind.ptx_ty()))
            .collect();
        if let Some(name) = &self.dynamic_shared {
            // Dynamic shared memory is a module-scope extern array.
            let _ = writeln!(out, ".extern .shared .align 16 .b8 {name}[];\n");
        }
        let _ = writeln!(out, ".visible .entry {}(", self.name);
        let _ = writeln!(out, "{}", params.join(",\n"));
        let _ = writeln!(out, ")");
        if let Some(t) = self.max_threads {
            let _ = writeln!(out, ".maxntid {t}, 1, 1");
        }
        if let Some(n) = self.min_blocks_per_sm {
            let _ = writeln!(out, ".minnctapersm {n}");
        }
        let _ = writeln!(out, "{{");
        for class in RegClass::ALL {
            let n = self.reg_counts[class.index()];
            if n > 0 {
                let _ = writeln!(
                    out,
                    "\t.reg .{} {}<{n}>;",
                    class.decl_ty().ptx(),
                    class.prefix()
                );
            }
        }
        for (name, bytes, align) in &self.shared {
            let _ = writeln!(out, "\t.shared .align {align} .b8 {name}[{bytes}];");
        }
        out.push('\n');
        for line in &self.body {
            out.push_str(line);
            out.push('\n');
        }
        out.push_str("}\n");
        Kernel {
            name: self.name,
            text: out,
        }
    }
}

/// A rendered `.entry`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kernel {
    pub name: String,
    pub text: String,
}

/// A whole PTX module: header plus entries.
pub fn render_module(target: SmTarget, kernels: &[Kernel]) -> String {
    let mut out = format!(
        "//\n// Generated by realizar kernel-ptx\n//\n\n.version {PTX_VERSION}\n.target {}\n.address_size 64\n",
        target.name()
    );
    for k in kernels {
        out.push('\n');
        out.push_str(&k.text);
    }
    out
}

#[cfg(test)]
mod tests;
