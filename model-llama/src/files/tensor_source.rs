//! `TensorSource` and `ModelFile`: one view of a GGUF file or a safetensors checkpoint, for `info` and
//! the loaders.

use super::{FileError, GgufFile, SafetensorsCheckpoint, TensorInfo};
use std::path::Path;

/// Anything that holds named, validated tensors.
pub trait TensorSource {
    /// The file or directory, as used in error messages.
    fn source_name(&self) -> &str;
    /// All tensors, in file order.
    fn tensors(&self) -> &[TensorInfo];
    /// The tensor named `name`, or [`FileError::MissingTensor`].
    fn tensor(&self, name: &str) -> Result<&TensorInfo, FileError>;
    /// The data of `info`, which must come from [`Self::tensors`] (panics otherwise: a caller bug).
    fn tensor_bytes(&self, info: &TensorInfo) -> &[u8];
}

impl TensorSource for GgufFile {
    fn source_name(&self) -> &str {
        self.path_name()
    }
    fn tensors(&self) -> &[TensorInfo] {
        GgufFile::tensors(self)
    }
    fn tensor(&self, name: &str) -> Result<&TensorInfo, FileError> {
        GgufFile::tensor(self, name)
    }
    fn tensor_bytes(&self, info: &TensorInfo) -> &[u8] {
        GgufFile::tensor_bytes(self, info)
    }
}

impl TensorSource for SafetensorsCheckpoint {
    fn source_name(&self) -> &str {
        self.dir().to_str().unwrap_or("<non-UTF-8 path>")
    }
    fn tensors(&self) -> &[TensorInfo] {
        SafetensorsCheckpoint::tensors(self)
    }
    fn tensor(&self, name: &str) -> Result<&TensorInfo, FileError> {
        SafetensorsCheckpoint::tensor(self, name)
    }
    fn tensor_bytes(&self, info: &TensorInfo) -> &[u8] {
        SafetensorsCheckpoint::tensor_bytes(self, info)
    }
}

/// A model file of either format.
#[derive(Debug)]
pub enum ModelFile {
    Gguf(GgufFile),
    Safetensors(SafetensorsCheckpoint),
}

impl ModelFile {
    /// Opens `path`: a file starting with the GGUF magic is GGUF; a directory, an index or any other
    /// file is a safetensors checkpoint.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, FileError> {
        let path = path.as_ref();
        if path.is_file() && starts_with_gguf_magic(path)? {
            GgufFile::open(path).map(ModelFile::Gguf)
        } else {
            SafetensorsCheckpoint::open(path).map(ModelFile::Safetensors)
        }
    }

    fn source(&self) -> &dyn TensorSource {
        match self {
            ModelFile::Gguf(f) => f,
            ModelFile::Safetensors(c) => c,
        }
    }
}

fn starts_with_gguf_magic(path: &Path) -> Result<bool, FileError> {
    use std::io::Read;
    let io = |source| FileError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut magic = Vec::with_capacity(4);
    let file = std::fs::File::open(path).map_err(io)?;
    file.take(4).read_to_end(&mut magic).map_err(io)?;
    Ok(magic == b"GGUF")
}

impl TensorSource for ModelFile {
    fn source_name(&self) -> &str {
        self.source().source_name()
    }
    fn tensors(&self) -> &[TensorInfo] {
        self.source().tensors()
    }
    fn tensor(&self, name: &str) -> Result<&TensorInfo, FileError> {
        self.source().tensor(name)
    }
    fn tensor_bytes(&self, info: &TensorInfo) -> &[u8] {
        self.source().tensor_bytes(info)
    }
}
