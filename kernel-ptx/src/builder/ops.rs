//! Integer and float arithmetic, comparisons, conversions and moves.

use super::{Cmp, FloatUnary, KernelBuilder, Operand, Reg, RegClass, Round, Ty};

impl KernelBuilder {
    fn unary(&mut self, op: &str, ty: Ty, a: Operand) -> Reg {
        let d = self.reg_for(ty);
        self.inst(format!("{op}.{} {d}, {a}", ty.ptx()));
        d
    }

    fn binary(&mut self, op: &str, ty: Ty, a: Operand, b: Operand) -> Reg {
        let d = self.reg_for(ty);
        self.inst(format!("{op}.{} {d}, {a}, {b}", ty.ptx()));
        d
    }

    fn ternary(&mut self, op: &str, ty: Ty, a: Operand, b: Operand, c: Operand) -> Reg {
        let d = self.reg_for(ty);
        self.inst(format!("{op}.{} {d}, {a}, {b}, {c}", ty.ptx()));
        d
    }

    /// `mov.ty d, a`.
    pub fn mov(&mut self, ty: Ty, a: impl Into<Operand>) -> Reg {
        self.unary("mov", ty, a.into())
    }

    /// `mov dst, a` into an existing register (loop-carried values).
    pub fn mov_to(&mut self, dst: Reg, a: impl Into<Operand>) {
        let ty = match dst.class {
            RegClass::Pred => Ty::Pred,
            RegClass::B16 => Ty::B16,
            RegClass::B32 => Ty::B32,
            RegClass::B64 => Ty::B64,
            RegClass::F32 => Ty::F32,
            RegClass::F64 => Ty::F64,
        };
        self.inst(format!("mov.{} {dst}, {}", ty.ptx(), a.into()));
    }

    /// `add` (`add.rn` for floats, so ptxas never contracts it into an fma).
    pub fn add(&mut self, ty: Ty, a: impl Into<Operand>, b: impl Into<Operand>) -> Reg {
        self.binary(
            if ty.is_float() { "add.rn" } else { "add" },
            ty,
            a.into(),
            b.into(),
        )
    }

    /// `sub` (`sub.rn` for floats).
    pub fn sub(&mut self, ty: Ty, a: impl Into<Operand>, b: impl Into<Operand>) -> Reg {
        self.binary(
            if ty.is_float() { "sub.rn" } else { "sub" },
            ty,
            a.into(),
            b.into(),
        )
    }

    /// `mul.rn` for floats, `mul.lo` for integers.
    pub fn mul(&mut self, ty: Ty, a: impl Into<Operand>, b: impl Into<Operand>) -> Reg {
        self.binary(
            if ty.is_float() { "mul.rn" } else { "mul.lo" },
            ty,
            a.into(),
            b.into(),
        )
    }

    /// `mul.wide.ty`: 32×32→64 (or 16×16→32) bit product.
    pub fn mul_wide(&mut self, ty: Ty, a: impl Into<Operand>, b: impl Into<Operand>) -> Reg {
        let wide = match ty {
            Ty::U32 => Ty::U64,
            Ty::S32 => Ty::S64,
            Ty::U16 => Ty::U32,
            Ty::S16 => Ty::S32,
            other => panic!("mul.wide has no {other:?} form"),
        };
        let d = self.reg_for(wide);
        self.inst(format!(
            "mul.wide.{} {d}, {}, {}",
            ty.ptx(),
            a.into(),
            b.into()
        ));
        d
    }

    /// `mad.lo.ty d, a, b, c` = low half of a*b + c.
    pub fn mad_lo(
        &mut self,
        ty: Ty,
        a: impl Into<Operand>,
        b: impl Into<Operand>,
        c: impl Into<Operand>,
    ) -> Reg {
        self.ternary("mad.lo", ty, a.into(), b.into(), c.into())
    }

    /// `mad.wide.ty d, a, b, c` = a*b (widened) + c.
    pub fn mad_wide(
        &mut self,
        ty: Ty,
        a: impl Into<Operand>,
        b: impl Into<Operand>,
        c: impl Into<Operand>,
    ) -> Reg {
        let wide = match ty {
            Ty::U32 => Ty::U64,
            Ty::S32 => Ty::S64,
            other => panic!("mad.wide has no {other:?} form"),
        };
        let d = self.reg_for(wide);
        self.inst(format!(
            "mad.wide.{} {d}, {}, {}, {}",
            ty.ptx(),
            a.into(),
            b.into(),
            c.into()
        ));
        d
    }

    /// `fma.rn.ty d, a, b, c` = a*b + c with one rounding.
    pub fn fma(
        &mut self,
        ty: Ty,
        a: impl Into<Operand>,
        b: impl Into<Operand>,
        c: impl Into<Operand>,
    ) -> Reg {
        self.ternary("fma.rn", ty, a.into(), b.into(), c.into())
    }

    /// `div.rn` for floats (IEEE), `div` for integers.
    pub fn div(&mut self, ty: Ty, a: impl Into<Operand>, b: impl Into<Operand>) -> Reg {
        self.binary(
            if ty.is_float() { "div.rn" } else { "div" },
            ty,
            a.into(),
            b.into(),
        )
    }

    pub fn rem(&mut self, ty: Ty, a: impl Into<Operand>, b: impl Into<Operand>) -> Reg {
        self.binary("rem", ty, a.into(), b.into())
    }

    pub fn shl(&mut self, ty: Ty, a: impl Into<Operand>, b: impl Into<Operand>) -> Reg {
        self.binary("shl", ty.bits(), a.into(), b.into())
    }

    /// `shr`: logical for unsigned/bit types, arithmetic for signed.
    pub fn shr(&mut self, ty: Ty, a: impl Into<Operand>, b: impl Into<Operand>) -> Reg {
        self.binary("shr", ty, a.into(), b.into())
    }

    pub fn and(&mut self, ty: Ty, a: impl Into<Operand>, b: impl Into<Operand>) -> Reg {
        self.binary("and", ty.bits(), a.into(), b.into())
    }

    pub fn or(&mut self, ty: Ty, a: impl Into<Operand>, b: impl Into<Operand>) -> Reg {
        self.binary("or", ty.bits(), a.into(), b.into())
    }

    pub fn xor(&mut self, ty: Ty, a: impl Into<Operand>, b: impl Into<Operand>) -> Reg {
        self.binary("xor", ty.bits(), a.into(), b.into())
    }

    pub fn not(&mut self, ty: Ty, a: impl Into<Operand>) -> Reg {
        self.unary("not", ty.bits(), a.into())
    }

    pub fn min(&mut self, ty: Ty, a: impl Into<Operand>, b: impl Into<Operand>) -> Reg {
        self.binary("min", ty, a.into(), b.into())
    }

    pub fn max(&mut self, ty: Ty, a: impl Into<Operand>, b: impl Into<Operand>) -> Reg {
        self.binary("max", ty, a.into(), b.into())
    }

    pub fn abs(&mut self, ty: Ty, a: impl Into<Operand>) -> Reg {
        self.unary("abs", ty, a.into())
    }

    /// `copysign.ty d, a, b`: magnitude of `b`, sign of `a`.
    pub fn copysign(
        &mut self,
        ty: Ty,
        sign: impl Into<Operand>,
        magnitude: impl Into<Operand>,
    ) -> Reg {
        self.binary("copysign", ty, sign.into(), magnitude.into())
    }

    pub fn neg(&mut self, ty: Ty, a: impl Into<Operand>) -> Reg {
        self.unary("neg", ty, a.into())
    }

    /// `bfe.ty d, a, pos, len`: extract `len` bits from bit `pos` (sign-extended for signed types).
    pub fn bfe(
        &mut self,
        ty: Ty,
        a: impl Into<Operand>,
        pos: impl Into<Operand>,
        len: impl Into<Operand>,
    ) -> Reg {
        self.ternary("bfe", ty, a.into(), pos.into(), len.into())
    }

    /// `prmt.b32 d, a, b, selector`: byte permute of the 8 bytes `{b, a}`.
    pub fn prmt(
        &mut self,
        a: impl Into<Operand>,
        b: impl Into<Operand>,
        selector: impl Into<Operand>,
    ) -> Reg {
        self.ternary("prmt", Ty::B32, a.into(), b.into(), selector.into())
    }

    /// `shf.r.clamp.b32 d, lo, hi, n`: low 32 bits of `{hi, lo} >> n` (n clamped to 32).
    pub fn shf_r(
        &mut self,
        lo: impl Into<Operand>,
        hi: impl Into<Operand>,
        n: impl Into<Operand>,
    ) -> Reg {
        self.ternary("shf.r.clamp", Ty::B32, lo.into(), hi.into(), n.into())
    }

    /// `setp.cmp.ty p, a, b`.
    pub fn setp(&mut self, cmp: Cmp, ty: Ty, a: impl Into<Operand>, b: impl Into<Operand>) -> Reg {
        let p = self.reg(RegClass::Pred);
        self.inst(format!(
            "setp.{}.{} {p}, {}, {}",
            cmp.ptx(),
            ty.ptx(),
            a.into(),
            b.into()
        ));
        p
    }

    /// `selp.ty d, a, b, p` = p ? a : b.
    pub fn selp(&mut self, ty: Ty, a: impl Into<Operand>, b: impl Into<Operand>, p: Reg) -> Reg {
        let d = self.reg_for(ty);
        self.inst(format!(
            "selp.{} {d}, {}, {}, {p}",
            ty.ptx(),
            a.into(),
            b.into()
        ));
        d
    }

    /// Float unary with its qualifier (`rcp.approx.ftz.f32`, `sqrt.rn.f32`, …).
    pub fn float_unary(&mut self, op: FloatUnary, ty: Ty, a: impl Into<Operand>) -> Reg {
        self.unary(op.ptx(), ty, a.into())
    }

    /// `cvt{.round}{.sat}.dst.src d, a`.
    pub fn cvt(&mut self, dst: Ty, src: Ty, round: Option<Round>, a: impl Into<Operand>) -> Reg {
        let d = self.reg_for(dst);
        let r = round.map_or("", Round::ptx);
        self.inst(format!(
            "cvt{r}.{}.{} {d}, {}",
            dst.ptx(),
            src.ptx(),
            a.into()
        ));
        d
    }

    /// `cvt.rni.sat.s8.f32`-style conversion clamping to the destination range.
    pub fn cvt_sat(&mut self, dst: Ty, src: Ty, round: Round, a: impl Into<Operand>) -> Reg {
        let d = self.reg_for(dst);
        self.inst(format!(
            "cvt{}.sat.{}.{} {d}, {}",
            round.ptx(),
            dst.ptx(),
            src.ptx(),
            a.into()
        ));
        d
    }

    /// `mov.b32 d, {lo, hi}`: packs two 16-bit registers.
    pub fn pack_b16x2(&mut self, lo: Reg, hi: Reg) -> Reg {
        let d = self.reg(RegClass::B32);
        self.inst(format!("mov.b32 {d}, {{{lo}, {hi}}}"));
        d
    }

    /// `mov.b32 {lo, hi}, a`: splits a 32-bit register into two 16-bit registers.
    pub fn unpack_b16x2(&mut self, a: Reg) -> (Reg, Reg) {
        let lo = self.reg(RegClass::B16);
        let hi = self.reg(RegClass::B16);
        self.inst(format!("mov.b32 {{{lo}, {hi}}}, {a}"));
        (lo, hi)
    }

    /// `mov.b64 d, {lo, hi}`: packs two 32-bit registers.
    pub fn pack_b32x2(&mut self, lo: Reg, hi: Reg) -> Reg {
        let d = self.reg(RegClass::B64);
        self.inst(format!("mov.b64 {d}, {{{lo}, {hi}}}"));
        d
    }
}
