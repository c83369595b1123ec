use crate::GgmlType;

/// Errors from the block maths. Every variant names what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantError {
    #[error("unknown GGML tensor type id {0}")]
    UnknownTypeId(u32),
    #[error(
        "GGML tensor type {0} is known but not supported here (deprecated or removed upstream)"
    )]
    UnsupportedType(&'static str),
    #[error("{ty}: {elements} elements is not a whole number of {block}-element blocks")]
    PartialBlock {
        ty: GgmlType,
        elements: usize,
        block: usize,
    },
    #[error("{ty}: {bytes} bytes is not a whole number of {block}-byte blocks")]
    PartialBlockBytes {
        ty: GgmlType,
        bytes: usize,
        block: usize,
    },
    #[error("{ty}: buffer holds {got} elements, expected {expected}")]
    LengthMismatch {
        ty: GgmlType,
        expected: usize,
        got: usize,
    },
    #[error("{weight} weights are dotted with {expected} activations, got {got}")]
    ActivationMismatch {
        weight: GgmlType,
        expected: GgmlType,
        got: GgmlType,
    },
    #[error("{ty}: size of {elements} elements overflows usize")]
    SizeOverflow { ty: GgmlType, elements: u64 },
}
