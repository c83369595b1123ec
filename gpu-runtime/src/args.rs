//! Typed kernel arguments and their check against `KernelType::params()`.

use kernel_ptx::{Param, ParamKind};

use crate::buffer::{BufferView, DeviceBuffer, DeviceMemory, Element};
use crate::error::ArgMismatch;

/// One kernel argument. Build a list with [`kernel_args!`](crate::kernel_args).
#[derive(Clone, Copy)]
pub enum KernelArg<'a> {
    /// A device pointer to the first byte of the memory.
    Buf(&'a dyn DeviceMemory),
    U32(u32),
    F32(f32),
}

impl KernelArg<'_> {
    /// The PTX parameter kind this argument fills.
    pub fn kind(&self) -> ParamKind {
        match self {
            KernelArg::Buf(_) => ParamKind::Ptr,
            KernelArg::U32(_) => ParamKind::U32,
            KernelArg::F32(_) => ParamKind::F32,
        }
    }
}

impl std::fmt::Debug for KernelArg<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KernelArg::Buf(b) => write!(f, "Buf({} bytes)", b.byte_len()),
            KernelArg::U32(v) => write!(f, "U32({v})"),
            KernelArg::F32(v) => write!(f, "F32({v})"),
        }
    }
}

impl<'a, T: Element> From<&'a DeviceBuffer<T>> for KernelArg<'a> {
    fn from(b: &'a DeviceBuffer<T>) -> Self {
        KernelArg::Buf(b)
    }
}

impl<'a, T: Element> From<&'a BufferView<'_, T>> for KernelArg<'a> {
    fn from(b: &'a BufferView<'_, T>) -> Self {
        KernelArg::Buf(b)
    }
}

impl From<u32> for KernelArg<'_> {
    fn from(v: u32) -> Self {
        KernelArg::U32(v)
    }
}

impl From<f32> for KernelArg<'_> {
    fn from(v: f32) -> Self {
        KernelArg::F32(v)
    }
}

/// `kernel_args![&w, &x, &y, n, k]` → `[KernelArg; 5]`, each through `KernelArg::from`.
#[macro_export]
macro_rules! kernel_args {
    ($($arg:expr),* $(,)?) => {
        [$($crate::KernelArg::from($arg)),*]
    };
}

/// Checks argument kinds, in order, against a kernel's declared parameters.
pub fn check_args(
    params: &[Param],
    kinds: impl ExactSizeIterator<Item = ParamKind>,
) -> Result<(), ArgMismatch> {
    if kinds.len() != params.len() {
        return Err(ArgMismatch::Count {
            expected: params.len(),
            got: kinds.len(),
            names: params.iter().map(|p| p.name).collect::<Vec<_>>().join(", "),
        });
    }
    for (index, (param, got)) in params.iter().zip(kinds).enumerate() {
        if param.kind != got {
            return Err(ArgMismatch::Kind {
                index,
                param: param.name,
                expected: param.kind,
                got,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernel_ptx::{KernelType, SmTarget, select_matvec};
    use quant_formats::GgmlType;

    use ParamKind::{F32, Ptr, U32};

    fn quantize() -> KernelType {
        KernelType::QuantizeQ8_1 {
            target: SmTarget::Sm90,
        }
    }

    #[test]
    fn matching_kinds_pass() {
        let params = quantize().params();
        assert_eq!(check_args(params, [Ptr, Ptr, U32, U32].into_iter()), Ok(()));
        let gemv = select_matvec(
            GgmlType::Q8_0,
            1,
            kernel_ptx::WeightShape { n: 4096, k: 4096 },
            &kernel_ptx::GpuProfileLite {
                sm_count: 132,
                compute_capability: (9, 0),
            },
        )
        .unwrap();
        let kinds: Vec<_> = gemv.params().iter().map(|p| p.kind).collect();
        assert_eq!(check_args(gemv.params(), kinds.into_iter()), Ok(()));
    }

    #[test]
    fn wrong_count_names_the_parameters() {
        let err = check_args(quantize().params(), [Ptr, Ptr, U32].into_iter()).unwrap_err();
        assert_eq!(
            err,
            ArgMismatch::Count {
                expected: 4,
                got: 3,
                names: "x, y, m, k".into()
            }
        );
        assert!(err.to_string().contains("x, y, m, k"), "{err}");
    }

    #[test]
    fn wrong_kind_names_the_first_bad_parameter() {
        let err = check_args(quantize().params(), [Ptr, Ptr, F32, Ptr].into_iter()).unwrap_err();
        assert_eq!(
            err,
            ArgMismatch::Kind {
                index: 2,
                param: "m",
                expected: U32,
                got: F32
            }
        );
        let err = check_args(quantize().params(), [U32, Ptr, U32, U32].into_iter()).unwrap_err();
        assert!(matches!(
            err,
            ArgMismatch::Kind {
                index: 0,
                param: "x",
                ..
            }
        ));
    }

    #[test]
    fn scalar_args_convert_to_their_kinds() {
        let args = crate::kernel_args![3u32, 0.5f32];
        assert_eq!(args.map(|a| a.kind()), [U32, F32]);
        assert!(matches!(args[0], KernelArg::U32(3)));
    }
}
