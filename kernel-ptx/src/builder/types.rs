//! Value types of the builder: PTX types, virtual registers, operands, addresses, labels.

use std::fmt;

/// A PTX instruction type (`.u32`, `.f32`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ty {
    Pred,
    B8,
    B16,
    B32,
    B64,
    U8,
    U16,
    U32,
    U64,
    S8,
    S16,
    S32,
    S64,
    F16,
    F16x2,
    Bf16,
    Bf16x2,
    F32,
    F64,
}

impl Ty {
    /// The instruction suffix, e.g. `u32` for `add.u32`.
    pub const fn ptx(self) -> &'static str {
        match self {
            Ty::Pred => "pred",
            Ty::B8 => "b8",
            Ty::B16 => "b16",
            Ty::B32 => "b32",
            Ty::B64 => "b64",
            Ty::U8 => "u8",
            Ty::U16 => "u16",
            Ty::U32 => "u32",
            Ty::U64 => "u64",
            Ty::S8 => "s8",
            Ty::S16 => "s16",
            Ty::S32 => "s32",
            Ty::S64 => "s64",
            Ty::F16 => "f16",
            Ty::F16x2 => "f16x2",
            Ty::Bf16 => "bf16",
            Ty::Bf16x2 => "bf16x2",
            Ty::F32 => "f32",
            Ty::F64 => "f64",
        }
    }

    /// The register class a value of this type lives in. 8-bit values are widened to 32 bits
    /// (PTX allows `ld.u8`/`st.u8`/`cvt` with wider registers).
    pub const fn class(self) -> RegClass {
        match self {
            Ty::Pred => RegClass::Pred,
            Ty::B16 | Ty::U16 | Ty::S16 | Ty::F16 | Ty::Bf16 => RegClass::B16,
            Ty::B8 | Ty::U8 | Ty::S8 | Ty::B32 | Ty::U32 | Ty::S32 | Ty::F16x2 | Ty::Bf16x2 => {
                RegClass::B32
            }
            Ty::B64 | Ty::U64 | Ty::S64 => RegClass::B64,
            Ty::F32 => RegClass::F32,
            Ty::F64 => RegClass::F64,
        }
    }

    /// True for `f32`/`f64` (whose `add`/`sub`/`mul` take a rounding mode).
    pub const fn is_float(self) -> bool {
        matches!(self, Ty::F32 | Ty::F64)
    }

    /// True for the signed integer types.
    pub const fn is_signed(self) -> bool {
        matches!(self, Ty::S8 | Ty::S16 | Ty::S32 | Ty::S64)
    }

    /// The untyped bit type of the same size (`and`/`or`/`xor`/`not` take only these).
    pub const fn bits(self) -> Ty {
        match self {
            Ty::Pred => Ty::Pred,
            Ty::B8 | Ty::U8 | Ty::S8 => Ty::B8,
            Ty::B16 | Ty::U16 | Ty::S16 | Ty::F16 | Ty::Bf16 => Ty::B16,
            Ty::B32 | Ty::U32 | Ty::S32 | Ty::F16x2 | Ty::Bf16x2 | Ty::F32 => Ty::B32,
            Ty::B64 | Ty::U64 | Ty::S64 | Ty::F64 => Ty::B64,
        }
    }

    /// Size in bytes (a predicate counts as 1).
    pub const fn bytes(self) -> u32 {
        match self {
            Ty::Pred | Ty::B8 | Ty::U8 | Ty::S8 => 1,
            Ty::B16 | Ty::U16 | Ty::S16 | Ty::F16 | Ty::Bf16 => 2,
            Ty::B32 | Ty::U32 | Ty::S32 | Ty::F16x2 | Ty::Bf16x2 | Ty::F32 => 4,
            Ty::B64 | Ty::U64 | Ty::S64 | Ty::F64 => 8,
        }
    }
}

/// The register classes declared per kernel, each numbered from 0 (`%p0`, `%rs0`, `%r0`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RegClass {
    Pred,
    B16,
    B32,
    B64,
    F32,
    F64,
}

impl RegClass {
    pub(crate) const ALL: [RegClass; 6] = [
        RegClass::Pred,
        RegClass::B16,
        RegClass::B32,
        RegClass::B64,
        RegClass::F32,
        RegClass::F64,
    ];

    pub(crate) const fn index(self) -> usize {
        self as usize
    }

    /// Register name prefix (nvcc's conventions).
    pub const fn prefix(self) -> &'static str {
        match self {
            RegClass::Pred => "%p",
            RegClass::B16 => "%rs",
            RegClass::B32 => "%r",
            RegClass::B64 => "%rd",
            RegClass::F32 => "%f",
            RegClass::F64 => "%fd",
        }
    }

    /// The type used in the `.reg` declaration.
    pub const fn decl_ty(self) -> Ty {
        match self {
            RegClass::Pred => Ty::Pred,
            RegClass::B16 => Ty::B16,
            RegClass::B32 => Ty::B32,
            RegClass::B64 => Ty::B64,
            RegClass::F32 => Ty::F32,
            RegClass::F64 => Ty::F64,
        }
    }
}

/// A virtual register. Copyable handle; the builder numbers them per class in creation order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Reg {
    pub class: RegClass,
    pub index: u32,
}

impl fmt::Display for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.class.prefix(), self.index)
    }
}

/// `{a, b, …}`: a register vector operand (vector loads/stores, `mma`, 16/32-bit packing).
pub(crate) fn reg_list(regs: &[Reg]) -> String {
    let names: Vec<String> = regs.iter().map(Reg::to_string).collect();
    format!("{{{}}}", names.join(", "))
}

/// A source operand: a register or an immediate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Operand {
    Reg(Reg),
    /// Integer immediate, printed in decimal.
    Int(i64),
    /// `f32` immediate given as IEEE bits, printed as `0fXXXXXXXX` (exact).
    F32Bits(u32),
    /// A special register (`%tid.x`, …); valid as the source of `mov`.
    Special(Special),
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Reg(r) => r.fmt(f),
            Operand::Int(v) => write!(f, "{v}"),
            Operand::F32Bits(bits) => write!(f, "0f{bits:08X}"),
            Operand::Special(s) => f.write_str(s.ptx()),
        }
    }
}

impl From<Reg> for Operand {
    fn from(r: Reg) -> Self {
        Operand::Reg(r)
    }
}

impl From<Special> for Operand {
    fn from(s: Special) -> Self {
        Operand::Special(s)
    }
}

impl From<u32> for Operand {
    fn from(v: u32) -> Self {
        Operand::Int(i64::from(v))
    }
}

impl From<i32> for Operand {
    fn from(v: i32) -> Self {
        Operand::Int(i64::from(v))
    }
}

impl From<u64> for Operand {
    fn from(v: u64) -> Self {
        Operand::Int(v as i64)
    }
}

impl From<f32> for Operand {
    fn from(v: f32) -> Self {
        Operand::F32Bits(v.to_bits())
    }
}

/// A memory operand: `[base+offset]`, where base is a register or a `.shared` symbol.
#[derive(Clone, Debug, PartialEq)]
pub enum Addr {
    Reg { base: Reg, offset: i64 },
    Symbol { name: String, offset: i64 },
}

impl Addr {
    /// `[reg]`.
    pub fn reg(base: Reg) -> Self {
        Addr::Reg { base, offset: 0 }
    }

    /// `[reg+offset]`.
    pub fn reg_off(base: Reg, offset: i64) -> Self {
        Addr::Reg { base, offset }
    }

    /// The same address moved by `delta` bytes.
    pub fn offset(&self, delta: i64) -> Self {
        match self {
            Addr::Reg { base, offset } => Addr::Reg {
                base: *base,
                offset: offset + delta,
            },
            Addr::Symbol { name, offset } => Addr::Symbol {
                name: name.clone(),
                offset: offset + delta,
            },
        }
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (base, offset) = match self {
            Addr::Reg { base, offset } => (base.to_string(), *offset),
            Addr::Symbol { name, offset } => (name.clone(), *offset),
        };
        match offset {
            0 => write!(f, "[{base}]"),
            o => write!(f, "[{base}+{o}]"),
        }
    }
}

/// A branch target. Created by `KernelBuilder::label`, placed by `KernelBuilder::place`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label(pub(crate) String);

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Read-only special registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Special {
    TidX,
    TidY,
    TidZ,
    NtidX,
    NtidY,
    CtaidX,
    CtaidY,
    CtaidZ,
    NctaidX,
    NctaidY,
    LaneId,
    WarpId,
}

impl Special {
    pub const fn ptx(self) -> &'static str {
        match self {
            Special::TidX => "%tid.x",
            Special::TidY => "%tid.y",
            Special::TidZ => "%tid.z",
            Special::NtidX => "%ntid.x",
            Special::NtidY => "%ntid.y",
            Special::CtaidX => "%ctaid.x",
            Special::CtaidY => "%ctaid.y",
            Special::CtaidZ => "%ctaid.z",
            Special::NctaidX => "%nctaid.x",
            Special::NctaidY => "%nctaid.y",
            Special::LaneId => "%laneid",
            Special::WarpId => "%warpid",
        }
    }
}

/// Comparison for `setp`. On unsigned types `Lt`/`Le`/`Gt`/`Ge` compare unsigned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// Float only: true if either operand is NaN.
    Nan,
    /// Float only: true if neither operand is NaN.
    Num,
}

impl Cmp {
    pub const fn ptx(self) -> &'static str {
        match self {
            Cmp::Eq => "eq",
            Cmp::Ne => "ne",
            Cmp::Lt => "lt",
            Cmp::Le => "le",
            Cmp::Gt => "gt",
            Cmp::Ge => "ge",
            Cmp::Nan => "nan",
            Cmp::Num => "num",
        }
    }
}

/// Rounding modifier of `cvt`: `.rn` family for float results, `.rni` family for
/// float-to-integer-valued results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Round {
    Rn,
    Rz,
    Rm,
    Rp,
    Rni,
    Rzi,
    Rmi,
    Rpi,
}

impl Round {
    pub const fn ptx(self) -> &'static str {
        match self {
            Round::Rn => ".rn",
            Round::Rz => ".rz",
            Round::Rm => ".rm",
            Round::Rp => ".rp",
            Round::Rni => ".rni",
            Round::Rzi => ".rzi",
            Round::Rmi => ".rmi",
            Round::Rpi => ".rpi",
        }
    }
}

/// Memory state space (and cache path) of a load or store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Space {
    Global,
    /// `ld.global.nc`: the read-only (texture) path; only for data no thread of the grid writes.
    GlobalNc,
    /// `ld.global.nc.L1::no_allocate`: streamed once, do not keep in L1.
    GlobalNcNoAllocate,
    Shared,
    Param,
}

impl Space {
    pub const fn ptx(self) -> &'static str {
        match self {
            Space::Global => ".global",
            Space::GlobalNc => ".global.nc",
            Space::GlobalNcNoAllocate => ".global.nc.L1::no_allocate",
            Space::Shared => ".shared",
            Space::Param => ".param",
        }
    }
}

/// One-input float operations that take a rounding or approximation qualifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FloatUnary {
    RcpRn,
    RcpApprox,
    SqrtRn,
    SqrtApprox,
    RsqrtApprox,
    Ex2Approx,
    Lg2Approx,
    SinApprox,
    CosApprox,
}

impl FloatUnary {
    pub const fn ptx(self) -> &'static str {
        match self {
            FloatUnary::RcpRn => "rcp.rn",
            FloatUnary::RcpApprox => "rcp.approx.ftz",
            FloatUnary::SqrtRn => "sqrt.rn",
            FloatUnary::SqrtApprox => "sqrt.approx.ftz",
            FloatUnary::RsqrtApprox => "rsqrt.approx.ftz",
            FloatUnary::Ex2Approx => "ex2.approx.ftz",
            FloatUnary::Lg2Approx => "lg2.approx.ftz",
            FloatUnary::SinApprox => "sin.approx.ftz",
            FloatUnary::CosApprox => "cos.approx.ftz",
        }
    }
}

/// `shfl.sync` modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shfl {
    Bfly,
    Down,
    Up,
    Idx,
}

impl Shfl {
    pub const fn ptx(self) -> &'static str {
        match self {
            Shfl::Bfly => "bfly",
            Shfl::Down => "down",
            Shfl::Up => "up",
            Shfl::Idx => "idx",
        }
    }
}

/// Input element type of an `m16n8k16` float MMA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MmaFloat {
    F16,
    Bf16,
}
