//! The data section of a streamed model file, shared by the GGUF and safetensors writers.
//!
//! Both formats declare every tensor (name, type, shape, offset) in a header written first; the data
//! then follows in declaration order. [`TensorDataWriter`] accepts each tensor's bytes in as many
//! pieces as the producer likes, refuses more or fewer bytes than the declared size, and pads each
//! tensor to the format's alignment (GGUF's `general.alignment`; 1, no padding, for safetensors).

use quant_formats::GgmlType;
use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

/// One tensor as it will appear in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedTensor {
    pub name: String,
    pub ty: GgmlType,
    /// Row-major, outermost first (a weight is `[n_out, n_in]`); GGUF stores it reversed as `ne`.
    pub shape: Vec<u64>,
    /// Offset of the first byte relative to the start of the data section.
    pub offset: u64,
    pub n_bytes: u64,
}

/// What can go wrong while streaming data; each writer's error enum has a variant for each.
#[derive(Debug)]
pub enum DataWriteError {
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    DataSize {
        path: PathBuf,
        name: String,
        expected: u64,
        got: u64,
    },
    ExtraData {
        path: PathBuf,
        count: usize,
    },
}

/// `impl From<DataWriteError> for $error`, for an error enum with `Io`, `DataSize` and `ExtraData`
/// variants of the same fields.
macro_rules! from_data_write_error {
    ($error:ident) => {
        impl From<$crate::files::data_writer::DataWriteError> for $error {
            fn from(error: $crate::files::data_writer::DataWriteError) -> Self {
                use $crate::files::data_writer::DataWriteError;
                match error {
                    DataWriteError::Io { path, source } => $error::Io { path, source },
                    DataWriteError::DataSize {
                        path,
                        name,
                        expected,
                        got,
                    } => $error::DataSize {
                        path,
                        name,
                        expected,
                        got,
                    },
                    DataWriteError::ExtraData { path, count } => $error::ExtraData { path, count },
                }
            }
        }
    };
}
pub(super) use from_data_write_error;

/// Creates `path` behind a 1 MiB buffer.
pub(super) fn create_buffered(path: &Path) -> Result<BufWriter<File>, DataWriteError> {
    let file = File::create(path).map_err(|source| DataWriteError::Io {
        path: path.to_owned(),
        source,
    })?;
    Ok(BufWriter::with_capacity(1 << 20, file))
}

/// Accepts the tensor data in declaration order; pads each tensor to the alignment. `E` is the
/// format's error type.
#[derive(Debug)]
pub struct TensorDataWriter<W: Write, E> {
    sink: W,
    path: PathBuf,
    alignment: u64,
    tensors: Vec<PlannedTensor>,
    current: usize,
    written: u64,
    error: PhantomData<fn() -> E>,
}

impl<W: Write, E: From<DataWriteError>> TensorDataWriter<W, E> {
    /// Writes the `header` pieces into `sink`, then takes the data; `path` only names the output
    /// in errors.
    pub(super) fn start(
        mut sink: W,
        path: &Path,
        header: &[&[u8]],
        alignment: u64,
        tensors: Vec<PlannedTensor>,
    ) -> Result<Self, E> {
        for piece in header {
            sink.write_all(piece).map_err(|source| DataWriteError::Io {
                path: path.to_owned(),
                source,
            })?;
        }
        Ok(TensorDataWriter {
            sink,
            path: path.to_owned(),
            alignment,
            tensors,
            current: 0,
            written: 0,
            error: PhantomData,
        })
    }

    /// The tensor whose bytes come next, or `None` when all are written.
    pub fn next_tensor(&self) -> Option<&PlannedTensor> {
        self.tensors.get(self.current)
    }

    /// Appends bytes (little-endian elements) to the current tensor; a piece may not cross into
    /// the next tensor.
    pub fn write_data(&mut self, bytes: &[u8]) -> Result<(), E> {
        if bytes.is_empty() {
            return Ok(());
        }
        let Some(tensor) = self.tensors.get(self.current) else {
            return Err(DataWriteError::ExtraData {
                path: self.path.clone(),
                count: self.tensors.len(),
            }
            .into());
        };
        let got = self.written + bytes.len() as u64;
        if got > tensor.n_bytes {
            return Err(DataWriteError::DataSize {
                path: self.path.clone(),
                name: tensor.name.clone(),
                expected: tensor.n_bytes,
                got,
            }
            .into());
        }
        let io = |source| DataWriteError::Io {
            path: self.path.clone(),
            source,
        };
        self.sink.write_all(bytes).map_err(io)?;
        self.written = got;
        if got == tensor.n_bytes {
            let padding = got.next_multiple_of(self.alignment) - got;
            if padding > 0 {
                self.sink
                    .write_all(&vec![0u8; padding as usize])
                    .map_err(io)?;
            }
            self.current += 1;
            self.written = 0;
        }
        Ok(())
    }

    /// Checks that every tensor got all its bytes, flushes, and returns the sink.
    pub fn finish(mut self) -> Result<W, E> {
        if let Some(tensor) = self.tensors.get(self.current) {
            return Err(DataWriteError::DataSize {
                path: self.path,
                name: tensor.name.clone(),
                expected: tensor.n_bytes,
                got: self.written,
            }
            .into());
        }
        self.sink.flush().map_err(|source| DataWriteError::Io {
            path: self.path.clone(),
            source,
        })?;
        Ok(self.sink)
    }
}

/// The tensors declared so far: unique names, each at the running end of the data section.
#[derive(Debug, Default)]
pub(super) struct TensorPlan {
    pub(super) tensors: Vec<PlannedTensor>,
    names: HashSet<String>,
    /// Bytes of the data section, every tensor padded to the alignment.
    pub(super) data_size: u64,
}

impl TensorPlan {
    /// Places the next tensor at the current end; `Err(name)` when the name is already taken.
    pub(super) fn push(
        &mut self,
        name: String,
        ty: GgmlType,
        shape: &[u64],
        n_bytes: u64,
        alignment: u64,
    ) -> Result<&PlannedTensor, String> {
        if !self.names.insert(name.clone()) {
            return Err(name);
        }
        let offset = self.data_size;
        self.data_size = (offset + n_bytes).next_multiple_of(alignment);
        self.tensors.push(PlannedTensor {
            name,
            ty,
            shape: shape.to_vec(),
            offset,
            n_bytes,
        });
        Ok(self.tensors.last().expect("just pushed"))
    }
}
