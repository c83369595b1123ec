//! Errors of variant construction and launch-geometry derivation.

use crate::LaunchDims;
use quant_formats::GgmlType;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KernelError {
    /// The runtime dims do not fit the variant (e.g. K not a multiple of the block size).
    #[error("kernel {kernel}: cannot launch with {dims:?}: {reason}")]
    UnsupportedDims {
        kernel: String,
        dims: LaunchDims,
        reason: String,
    },
    /// No kernel of this family exists for the weight format.
    #[error("kernel family {family}: no variant for {format} weights")]
    UnsupportedFormat {
        family: &'static str,
        format: GgmlType,
    },
    /// A compile-time parameter outside what the generator supports.
    #[error("kernel family {family}: invalid variant: {reason}")]
    InvalidVariant {
        family: &'static str,
        reason: String,
    },
}
