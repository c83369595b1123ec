//! Integer and float arithmetic, comparisons, conversions and moves.
//!
//! Every instruction renders as `opcode d, src, …` through `emit`; the methods only pick the
//! opcode text (the table in each method), the destination type and the sources.

use super::{Cmp, FloatUnary, KernelBuilder, Operand, Reg, RegClass, Round, Ty, reg_list};

/// The opcode for `ty`: the float form (with its rounding mode, so ptxas never contracts it
/// into an fma) or the integer form.
const fn int_or_float(ty: Ty, int_op: &'static str, float_op: &'static str) -> &'static str {
    if ty.is_float() { float_op } else { int_op }
}

/// The destination type of a `.wide` multiply: twice the width of `ty`.
fn widened(op: &str, ty: Ty) -> Ty {
    match ty {
        Ty::U32 => Ty::U64,
        Ty::S32 => Ty::S64,
        Ty::U16 => Ty::U32,
        Ty::S16 => Ty::S32,
        other => panic!("{op} has no {other:?} form"),
    }
}

impl KernelBuilder {
    /// `opcode d, srcs…` into a fresh register able to hold `dst`.
    pub(super) fn emit(&mut self, opcode: &str, dst: Ty, srcs: &[Operand]) -> Reg {
        let d = self.reg_for(dst);
        self.emit_to(opcode, d, srcs);
        d
    }

    /// `opcode d, srcs…` into the existing register `d`.
    fn emit_to(&mut self, opcode: &str, d: Reg, srcs: &[Operand]) {
        let mut text = format!("{opcode} {d}");
        for s in srcs {
            text.push_str(", ");
            text.push_str(&s.to_string());
        }
        self.inst(text);
    }

    /// `op.ty d, srcs…`: the destination has the operation type.
    fn typed(&mut self, op: &str, ty: Ty, srcs: &[Operand]) -> Reg {
        self.emit(&format!("{op}.{}", ty.ptx()), ty, srcs)
    }

    /// `mov.ty d, a`.
    pub fn mov(&mut self, ty: Ty, a: impl Into<Operand>) -> Reg {
        self.typed("mov", ty, &[a.into()])
    }

    /// `mov dst, a` into an existing register (loop-carried values).
    pub fn mov_to(&mut self, dst: Reg, a: impl Into<Operand>) {
        let opcode = format!("mov.{}", dst.class.decl_ty().ptx());
        self.emit_to(&opcode, dst, &[a.into()]);
    }

    /// `add` (`add.rn` for floats, so ptxas never contracts it into an fma).
    pub fn add(&mut self, ty: Ty, a: impl Into<Operand>, b: impl Into<Operand>) -> Reg {
        self.typed(int_or_float(ty, "add", "add.rn"), ty, &[a.into(), b.into()])
    }

    /// `sub` (`sub.rn` for floats).
    pub fn sub(&mut self, ty: Ty, a: impl Into<Operand>, b: impl Into<Operand>) -> Reg {
        self.typed(int_or_float(ty, "sub", "sub.rn"), ty, &[a.into(), b.into()])
    }

    /// `mul.rn` for floats, `mul.lo` for integers.
    pub fn mul(&mut self, ty: Ty, a: impl Into<Operand>, b: impl Into<Operand>) -> Reg {
        self.typed(
            int_or_float(ty, "mul.lo", "mul.rn"),
            ty,
            &[a.into(), b.into()],
        )
    }

    /// `div.rn` for floats (IEEE), `div` for integers.
    pub fn div(&mut self, ty: Ty, a: impl Into<Operand>, b: impl Into<Operand>) -> Reg {
        self.typed(int_or_float(ty, "div", "div.rn"), ty, &[a.into(), b.into()])
    }

    /// `mul.wide.ty`: 32×32→64 (or 16×16→32) bit product.
    pub fn mul_wide(&mut self, ty: Ty, a: impl Into<Operand>, b: impl Into<Operand>) -> Reg {
        let wide = widened("mul.wide", ty);
        self.emit(
            &format!("mul.wide.{}", ty.ptx()),
            wide,
            &[a.into(), b.into()],
        )
    }

    /// `mad.wide.ty d, a, b, c` = a*b (widened) + c.
    pub fn mad_wide(
        &mut self,
        ty: Ty,
        a: impl Into<Operand>,
        b: impl Into<Operand>,
        c: impl Into<Operand>,
    ) -> Reg {
        let wide = widened("mad.wide", ty);
        self.emit(
            &format!("mad.wide.{}", ty.ptx()),
            wide,
            &[a.into(), b.into(), c.into()],
        )
    }

    /// `mad.lo.ty d, a, b, c` = low half of a*b + c.
    pub fn mad_lo(
        &mut self,
        ty: Ty,
        a: impl Into<Operand>,
        b: impl Into<Operand>,
        c: impl Into<Operand>,
    ) -> Reg {
        self.typed("mad.lo", ty, &[a.into(), b.into(), c.into()])
    }

    /// `fma.rn.ty d, a, b, c` = a*b + c with one rounding.
    pub fn fma(
        &mut self,
        ty: Ty,
        a: impl Into<Operand>,
        b: impl Into<Operand>,
        c: impl Into<Operand>,
    ) -> Reg {
        self.typed("fma.rn", ty, &[a.into(), b.into(), c.into()])
    }

    pub fn rem(&mut self, ty: Ty, a: impl Into<Operand>, b: impl Into<Operand>) -> Reg {
        self.typed("rem", ty, &[a.into(), b.into()])
    }

    pub fn shl(&mut self, ty: Ty, a: impl Into<Operand>, b: impl Into<Operand>) -> Reg {
        self.typed("shl", ty.bits(), &[a.into(), b.into()])
    }

    /// `shr`: logical for unsigned/bit types, arithmetic for signed.
    pub fn shr(&mut self, ty: Ty, a: impl Into<Operand>, b: impl Into<Operand>) -> Reg {
        self.typed("shr", ty, &[a.into(), b.into()])
    }

    pub fn and(&mut self, ty: Ty, a: impl Into<Operand>, b: impl Into<Operand>) -> Reg {
        self.typed("and", ty.bits(), &[a.into(), b.into()])
    }

    pub fn or(&mut self, ty: Ty, a: impl Into<Operand>, b: impl Into<Operand>) -> Reg {
        self.typed("or", ty.bits(), &[a.into(), b.into()])
    }

    pub fn xor(&mut self, ty: Ty, a: impl Into<Operand>, b: impl Into<Operand>) -> Reg {
        self.typed("xor", ty.bits(), &[a.into(), b.into()])
    }

    pub fn not(&mut self, ty: Ty, a: impl Into<Operand>) -> Reg {
        self.typed("not", ty.bits(), &[a.into()])
    }

    pub fn min(&mut self, ty: Ty, a: impl Into<Operand>, b: impl Into<Operand>) -> Reg {
        self.typed("min", ty, &[a.into(), b.into()])
    }

    pub fn max(&mut self, ty: Ty, a: impl Into<Operand>, b: impl Into<Operand>) -> Reg {
        self.typed("max", ty, &[a.into(), b.into()])
    }

    pub fn abs(&mut self, ty: Ty, a: impl Into<Operand>) -> Reg {
        self.typed("abs", ty, &[a.into()])
    }

    pub fn neg(&mut self, ty: Ty, a: impl Into<Operand>) -> Reg {
        self.typed("neg", ty, &[a.into()])
    }

    /// `copysign.ty d, a, b`: magnitude of `b`, sign of `a`.
    pub fn copysign(
        &mut self,
        ty: Ty,
        sign: impl Into<Operand>,
        magnitude: impl Into<Operand>,
    ) -> Reg {
        self.typed("copysign", ty, &[sign.into(), magnitude.into()])
    }

    /// `bfe.ty d, a, pos, len`: extract `len` bits from bit `pos` (sign-extended for signed types).
    pub fn bfe(
        &mut self,
        ty: Ty,
        a: impl Into<Operand>,
        pos: impl Into<Operand>,
        len: impl Into<Operand>,
    ) -> Reg {
        self.typed("bfe", ty, &[a.into(), pos.into(), len.into()])
    }

    /// `prmt.b32 d, a, b, selector`: byte permute of the 8 bytes `{b, a}`.
    pub fn prmt(
        &mut self,
        a: impl Into<Operand>,
        b: impl Into<Operand>,
        selector: impl Into<Operand>,
    ) -> Reg {
        self.typed("prmt", Ty::B32, &[a.into(), b.into(), selector.into()])
    }

    /// `shf.r.clamp.b32 d, lo, hi, n`: low 32 bits of `{hi, lo} >> n` (n clamped to 32).
    pub fn shf_r(
        &mut self,
        lo: impl Into<Operand>,
        hi: impl Into<Operand>,
        n: impl Into<Operand>,
    ) -> Reg {
        self.typed("shf.r.clamp", Ty::B32, &[lo.into(), hi.into(), n.into()])
    }

    /// `setp.cmp.ty p, a, b`.
    pub fn setp(&mut self, cmp: Cmp, ty: Ty, a: impl Into<Operand>, b: impl Into<Operand>) -> Reg {
        let opcode = format!("setp.{}.{}", cmp.ptx(), ty.ptx());
        self.emit(&opcode, Ty::Pred, &[a.into(), b.into()])
    }

    /// `selp.ty d, a, b, p` = p ? a : b.
    pub fn selp(&mut self, ty: Ty, a: impl Into<Operand>, b: impl Into<Operand>, p: Reg) -> Reg {
        self.typed("selp", ty, &[a.into(), b.into(), p.into()])
    }

    /// Float unary with its qualifier (`rcp.approx.ftz.f32`, `sqrt.rn.f32`, …).
    pub fn float_unary(&mut self, op: FloatUnary, ty: Ty, a: impl Into<Operand>) -> Reg {
        self.typed(op.ptx(), ty, &[a.into()])
    }

    /// `cvt{.round}.dst.src d, a`.
    pub fn cvt(&mut self, dst: Ty, src: Ty, round: Option<Round>, a: impl Into<Operand>) -> Reg {
        let r = round.map_or("", Round::ptx);
        let opcode = format!("cvt{r}.{}.{}", dst.ptx(), src.ptx());
        self.emit(&opcode, dst, &[a.into()])
    }

    /// `cvt.rni.sat.s8.f32`-style conversion clamping to the destination range.
    pub fn cvt_sat(&mut self, dst: Ty, src: Ty, round: Round, a: impl Into<Operand>) -> Reg {
        let opcode = format!("cvt{}.sat.{}.{}", round.ptx(), dst.ptx(), src.ptx());
        self.emit(&opcode, dst, &[a.into()])
    }

    /// `mov.b32 d, {lo, hi}`: packs two 16-bit registers.
    pub fn pack_b16x2(&mut self, lo: Reg, hi: Reg) -> Reg {
        let d = self.reg(RegClass::B32);
        self.inst(format!("mov.b32 {d}, {}", reg_list(&[lo, hi])));
        d
    }

    /// `mov.b32 {lo, hi}, a`: splits a 32-bit register into two 16-bit registers.
    pub fn unpack_b16x2(&mut self, a: Reg) -> (Reg, Reg) {
        let lo = self.reg(RegClass::B16);
        let hi = self.reg(RegClass::B16);
        self.inst(format!("mov.b32 {}, {a}", reg_list(&[lo, hi])));
        (lo, hi)
    }

    /// `mov.b64 d, {lo, hi}`: packs two 32-bit registers.
    pub fn pack_b32x2(&mut self, lo: Reg, hi: Reg) -> Reg {
        let d = self.reg(RegClass::B64);
        self.inst(format!("mov.b64 {d}, {}", reg_list(&[lo, hi])));
        d
    }
}
