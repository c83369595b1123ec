//! The bytes of a model file: a read-only memory map, a `'static` slice (include_bytes!) or an owned buffer.

use super::FileError;
use memmap2::Mmap;
use std::fs::File;
use std::ops::Deref;
use std::path::Path;

/// Immutable file contents. Dereferences to the whole file as `&[u8]`.
///
/// Alignment in memory: a mapped file starts on a page boundary, so a tensor at a file offset aligned to
/// N is aligned to N in memory. `Static` and `Owned` buffers carry no alignment guarantee beyond 1.
pub(crate) enum FileBytes {
    Mapped(Mmap),
    Static(&'static [u8]),
    Owned(Vec<u8>),
}

impl FileBytes {
    /// Maps `path` read-only.
    pub(crate) fn map(path: &Path) -> Result<Self, FileError> {
        let io_err = |source| FileError::Io {
            path: path.display().to_string(),
            source,
        };
        let file = File::open(path).map_err(io_err)?;
        let len = file.metadata().map_err(io_err)?.len();
        if len == 0 {
            // An empty file cannot be mapped on every platform; it parses as a truncated one.
            return Ok(FileBytes::Owned(Vec::new()));
        }
        // SAFETY: the map is read-only and lives as long as `FileBytes`. Another process truncating or
        // rewriting the file while it is mapped is outside what any mmap-based reader can guard against
        // (same contract as llama.cpp's `llama_mmap`); we never write through the map.
        let map = unsafe { Mmap::map(&file) }.map_err(io_err)?;
        Ok(FileBytes::Mapped(map))
    }
}

impl Deref for FileBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            FileBytes::Mapped(map) => map,
            FileBytes::Static(bytes) => bytes,
            FileBytes::Owned(bytes) => bytes,
        }
    }
}
