//! `TensorInfo`: where one tensor's bytes are and what they hold, for GGUF and safetensors alike.

use super::FileError;
use quant_formats::GgmlType;

/// Largest element count accepted for one tensor (2^40, ~1.1 T elements: far beyond any real weight).
pub const MAX_TENSOR_ELEMENTS: u64 = 1 << 40;

/// One validated tensor of a model file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    pub ty: GgmlType,
    /// Row-major, outermost first (numpy / Hugging Face order): a weight is `[n_out, n_in]`.
    /// For GGUF this is `ne` reversed; the last entry is the contiguous one, a multiple of the block size.
    pub shape: Vec<u64>,
    /// Absolute byte offset of the data in its file.
    pub offset: u64,
    /// Byte length of the data: `ty.bytes_for(elements)`.
    pub n_bytes: u64,
    /// Which file holds the data: 0 for a GGUF or a single safetensors file, the shard number (in the
    /// order of [`super::SafetensorsCheckpoint::shard_paths`]) for a sharded checkpoint.
    pub file_index: usize,
}

impl TensorInfo {
    /// Number of elements: the product of `shape` (validated at open not to overflow).
    pub fn elements(&self) -> u64 {
        self.shape
            .iter()
            .fold(1u64, |acc, &d| acc.saturating_mul(d))
    }

    /// `file[offset..offset + n_bytes]`, or `None` when that range is not inside `file`.
    pub(crate) fn data_in<'a>(&self, file: &'a [u8]) -> Option<&'a [u8]> {
        let start = usize::try_from(self.offset).ok()?;
        let len = usize::try_from(self.n_bytes).ok()?;
        file.get(start..start.checked_add(len)?)
    }

    /// The byte range `[offset, offset + n_bytes)` in its file.
    pub fn byte_range(&self) -> std::ops::Range<u64> {
        self.offset..self.offset.saturating_add(self.n_bytes)
    }
}

/// Checks a shape (outermost first) and returns `(elements, bytes)`: every dimension at least 1, the
/// product free of overflow and at most [`MAX_TENSOR_ELEMENTS`], the innermost dimension a whole number
/// of `ty` blocks.
pub(crate) fn checked_size(
    path: &str,
    name: &str,
    ty: GgmlType,
    shape: &[u64],
) -> Result<(u64, u64), FileError> {
    let bad = |reason: String| FileError::BadShape {
        path: path.to_owned(),
        tensor: name.to_owned(),
        shape: shape.to_vec(),
        reason,
    };
    if shape.contains(&0) {
        return Err(bad("a dimension is 0".into()));
    }
    let elements = shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_TENSOR_ELEMENTS)
        .ok_or_else(|| bad(format!("more than {MAX_TENSOR_ELEMENTS} elements")))?;
    let block = ty.block_elems() as u64;
    let inner = shape.last().copied().unwrap_or(1);
    if inner % block != 0 {
        return Err(FileError::PartialBlock {
            path: path.to_owned(),
            tensor: name.to_owned(),
            ty,
            inner,
            block,
        });
    }
    let bytes = ty
        .bytes_for(elements)
        .map_err(|source| FileError::TensorType {
            path: path.to_owned(),
            tensor: name.to_owned(),
            source,
        })?;
    Ok((elements, bytes))
}

/// Checks that each tensor's range ends inside the file and that no two overlap. `tensors` all belong to
/// one file of `file_size` bytes.
pub(crate) fn check_ranges(
    path: &str,
    tensors: &[TensorInfo],
    file_size: u64,
) -> Result<(), FileError> {
    for t in tensors {
        let end = t.offset.checked_add(t.n_bytes);
        if end.is_none_or(|end| end > file_size) {
            return Err(FileError::TensorPastEnd {
                path: path.to_owned(),
                tensor: t.name.clone(),
                start: t.offset,
                end: end.unwrap_or(u64::MAX),
                file_size,
            });
        }
    }
    let mut by_offset: Vec<&TensorInfo> = tensors.iter().collect();
    by_offset.sort_by_key(|t| (t.offset, t.n_bytes));
    for pair in by_offset.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if b.offset < a.offset + a.n_bytes {
            return Err(FileError::TensorOverlap {
                path: path.to_owned(),
                tensor: b.name.clone(),
                start: b.offset,
                end: b.offset + b.n_bytes,
                other: a.name.clone(),
                other_start: a.offset,
                other_end: a.offset + a.n_bytes,
            });
        }
    }
    Ok(())
}
