//! `FileError`: every way a model file can be unreadable, each naming the file and the key or tensor.

use quant_formats::{GgmlType, QuantError};

/// An unreadable or malformed model file. Every message starts with the file's name, then names the
/// metadata key or tensor concerned (or the header field being read) and the reason.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a GGUF file (magic {found:02x?}, expected \"GGUF\")")]
    BadMagic { path: String, found: [u8; 4] },
    #[error("{path}: GGUF version {version} is not supported (versions 2 and 3 are)")]
    UnsupportedVersion { path: String, version: u32 },
    /// A fixed-size field does not fit in the bytes left.
    #[error(
        "{path}: {what}: needs {needed} bytes at offset {offset}, but the file has {file_size} bytes"
    )]
    Truncated {
        path: String,
        what: String,
        offset: u64,
        needed: u64,
        file_size: u64,
    },
    /// A count or length read from the file is larger than the bytes left could hold.
    #[error(
        "{path}: {what}: {count} is more than the remaining {remaining} bytes could hold (at most {max})"
    )]
    CountTooLarge {
        path: String,
        what: String,
        count: u64,
        remaining: u64,
        max: u64,
    },
    #[error("{path}: {what}: string is not valid UTF-8 ({source})")]
    InvalidUtf8 {
        path: String,
        what: String,
        #[source]
        source: std::str::Utf8Error,
    },
    /// A metadata value that is malformed in itself (unknown value type, nesting too deep, bad bool, bad alignment).
    #[error("{path}: key '{key}': {reason}")]
    BadMetadata {
        path: String,
        key: String,
        reason: String,
    },
    #[error("{path}: key '{key}' appears more than once")]
    DuplicateKey { path: String, key: String },
    #[error("{path}: key '{key}' is missing")]
    MissingKey { path: String, key: String },
    #[error("{path}: key '{key}': expected {expected}, found {actual}")]
    WrongType {
        path: String,
        key: String,
        expected: &'static str,
        actual: String,
    },
    #[error("{path}: tensor '{tensor}': type: {source}")]
    TensorType {
        path: String,
        tensor: String,
        #[source]
        source: QuantError,
    },
    /// Dimension count, a zero dimension, or an element count that overflows or is absurdly large.
    #[error("{path}: tensor '{tensor}': bad shape {shape:?}: {reason}")]
    BadShape {
        path: String,
        tensor: String,
        shape: Vec<u64>,
        reason: String,
    },
    #[error(
        "{path}: tensor '{tensor}': innermost dimension {inner} is not a multiple of the {ty} block size {block}"
    )]
    PartialBlock {
        path: String,
        tensor: String,
        ty: GgmlType,
        inner: u64,
        block: u64,
    },
    #[error("{path}: tensor '{tensor}' appears more than once")]
    DuplicateTensor { path: String, tensor: String },
    #[error(
        "{path}: tensor '{tensor}': data offset {offset} is not a multiple of the alignment {alignment}"
    )]
    MisalignedTensor {
        path: String,
        tensor: String,
        offset: u64,
        alignment: u64,
    },
    #[error(
        "{path}: tensor '{tensor}': data [{start}, {end}) runs past end of file ({file_size} bytes)"
    )]
    TensorPastEnd {
        path: String,
        tensor: String,
        start: u64,
        end: u64,
        file_size: u64,
    },
    #[error(
        "{path}: tensor '{tensor}': data [{start}, {end}) overlaps tensor '{other}' [{other_start}, {other_end})"
    )]
    TensorOverlap {
        path: String,
        tensor: String,
        start: u64,
        end: u64,
        other: String,
        other_start: u64,
        other_end: u64,
    },
    #[error("{path}: tensor '{tensor}' not found")]
    MissingTensor { path: String, tensor: String },
    /// A safetensors header or index that the `safetensors` crate or our checks reject.
    #[error("{path}: {reason}")]
    BadSafetensors { path: String, reason: String },
    #[error("{path}: tensor '{tensor}': dtype {dtype} is not supported (F32, F16 and BF16 are)")]
    UnsupportedDtype {
        path: String,
        tensor: String,
        dtype: String,
    },
    #[error("{path}: invalid JSON: {source}")]
    Json {
        path: String,
        #[source]
        source: serde_json::Error,
    },
}
