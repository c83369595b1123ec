//! `SafetensorsCheckpoint`: a Hugging Face checkpoint directory (`config.json` + `model.safetensors`, or
//! `model.safetensors.index.json` + shards), every shard memory-mapped and its header validated by the
//! `safetensors` crate.

use super::FileError;
use super::storage::FileBytes;
use super::tensor_info::{TensorInfo, check_ranges};
use quant_formats::GgmlType;
use safetensors::{Dtype, SafeTensors};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

const SINGLE_FILE: &str = "model.safetensors";
const INDEX_FILE: &str = "model.safetensors.index.json";

/// One safetensors file of a checkpoint.
struct Shard {
    path: String,
    bytes: FileBytes,
}

/// An opened Hugging Face checkpoint. Tensors are F32, F16 or BF16 (others are
/// [`FileError::UnsupportedDtype`]); `TensorInfo::shape` is as stored (row-major, outermost first),
/// `TensorInfo::file_index` the shard. Tensor data inside a shard is only 1-byte aligned in general.
pub struct SafetensorsCheckpoint {
    dir: PathBuf,
    shards: Vec<Shard>,
    tensors: Vec<TensorInfo>,
    tensor_index: HashMap<String, usize>,
    config: Option<Value>,
    generation_config: Option<Value>,
}

impl SafetensorsCheckpoint {
    /// Opens a checkpoint from its directory, from its `model.safetensors`, from its
    /// `model.safetensors.index.json`, or from any single `.safetensors` file. `config.json` and
    /// `generation_config.json` are read from the same directory when present.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, FileError> {
        let path = path.as_ref();
        let (dir, main) = if path.is_dir() {
            let index = path.join(INDEX_FILE);
            let main = if index.is_file() {
                index
            } else {
                path.join(SINGLE_FILE)
            };
            (path.to_path_buf(), main)
        } else {
            (
                path.parent().map(Path::to_path_buf).unwrap_or_default(),
                path.to_path_buf(),
            )
        };
        let shard_paths = if main.to_string_lossy().ends_with(".index.json") {
            read_index(&main, &dir)?
        } else {
            vec![(main, Vec::new())]
        };

        let mut shards = Vec::with_capacity(shard_paths.len());
        let mut tensors = Vec::new();
        let mut tensor_index = HashMap::new();
        for (file_index, (shard_path, expected)) in shard_paths.into_iter().enumerate() {
            let name = shard_path.display().to_string();
            let bytes = FileBytes::map(&shard_path)?;
            let shard_tensors = read_shard(&name, &bytes, file_index)?;
            for t in shard_tensors {
                if tensor_index.insert(t.name.clone(), tensors.len()).is_some() {
                    return Err(FileError::DuplicateTensor {
                        path: name,
                        tensor: t.name,
                    });
                }
                tensors.push(t);
            }
            let in_this_shard = |t: &String| {
                tensor_index
                    .get(t)
                    .is_some_and(|&i| tensors[i].file_index == file_index)
            };
            if let Some(missing) = expected.iter().find(|t| !in_this_shard(t)) {
                return Err(FileError::MissingTensor {
                    path: name,
                    tensor: missing.clone(),
                });
            }
            shards.push(Shard { path: name, bytes });
        }
        let config = read_json_if_present(&dir.join("config.json"))?;
        let generation_config = read_json_if_present(&dir.join("generation_config.json"))?;
        Ok(Self {
            dir,
            shards,
            tensors,
            tensor_index,
            config,
            generation_config,
        })
    }

    /// The checkpoint directory (where `tokenizer.json` etc. live).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The shard files in `TensorInfo::file_index` order.
    pub fn shard_paths(&self) -> impl Iterator<Item = &str> {
        self.shards.iter().map(|s| s.path.as_str())
    }

    /// The parsed `config.json`, when the directory has one.
    pub fn config(&self) -> Option<&Value> {
        self.config.as_ref()
    }

    /// The parsed `generation_config.json`, when the directory has one.
    pub fn generation_config(&self) -> Option<&Value> {
        self.generation_config.as_ref()
    }

    /// The tensors, shard by shard, each shard in data order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The tensor named `name`, or [`FileError::MissingTensor`].
    pub fn tensor(&self, name: &str) -> Result<&TensorInfo, FileError> {
        self.tensor_index
            .get(name)
            .map(|&i| &self.tensors[i])
            .ok_or_else(|| FileError::MissingTensor {
                path: self.dir.display().to_string(),
                tensor: name.to_owned(),
            })
    }

    /// The data of `info`, which must come from this checkpoint's [`Self::tensors`].
    ///
    /// # Panics
    /// If `info` names a shard or range this checkpoint does not have (a `TensorInfo` from elsewhere): a
    /// caller bug, never a property of the files, whose ranges were all checked at open.
    pub fn tensor_bytes(&self, info: &TensorInfo) -> &[u8] {
        let bytes = self
            .shards
            .get(info.file_index)
            .and_then(|shard| info.data_in(&shard.bytes));
        match bytes {
            Some(bytes) => bytes,
            None => panic!(
                "{}: tensor '{}' is not from this checkpoint",
                self.dir.display(),
                info.name
            ),
        }
    }
}

impl std::fmt::Debug for SafetensorsCheckpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SafetensorsCheckpoint")
            .field("dir", &self.dir)
            .field("shards", &self.shards.len())
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

/// The shards an index names (sorted, as plain file names in `dir`), each with the tensors the index
/// says it holds.
fn read_index(index_path: &Path, dir: &Path) -> Result<Vec<(PathBuf, Vec<String>)>, FileError> {
    let name = index_path.display().to_string();
    let index = read_json(index_path)?;
    let bad = |reason: String| FileError::BadSafetensors {
        path: name.clone(),
        reason,
    };
    let weight_map = index
        .get("weight_map")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("no \"weight_map\" object".into()))?;
    let mut by_shard: HashMap<&str, Vec<String>> = HashMap::new();
    for (tensor, shard) in weight_map {
        let shard = shard
            .as_str()
            .ok_or_else(|| bad(format!("tensor '{tensor}': shard is not a string")))?;
        let is_plain_name = !shard.is_empty()
            && !shard.contains(['/', '\\'])
            && shard != ".."
            && shard != "."
            && shard.ends_with(".safetensors");
        if !is_plain_name {
            return Err(bad(format!(
                "tensor '{tensor}': shard \"{shard}\" is not a .safetensors file name"
            )));
        }
        by_shard.entry(shard).or_default().push(tensor.clone());
    }
    let names: BTreeSet<&str> = by_shard.keys().copied().collect();
    if names.is_empty() {
        return Err(bad("\"weight_map\" is empty".into()));
    }
    Ok(names
        .into_iter()
        .map(|shard| (dir.join(shard), by_shard.remove(shard).unwrap_or_default()))
        .collect())
}

/// The tensors of one shard, in data order, with absolute offsets.
fn read_shard(path: &str, bytes: &[u8], file_index: usize) -> Result<Vec<TensorInfo>, FileError> {
    let (header_len, metadata) =
        SafeTensors::read_metadata(bytes).map_err(|e| FileError::BadSafetensors {
            path: path.to_owned(),
            reason: format!("header: {e}"),
        })?;
    let data_start = 8 + header_len as u64;
    let mut tensors = Vec::with_capacity(metadata.tensors().len());
    for (name, info) in metadata.tensors() {
        let ty = match info.dtype {
            Dtype::F32 => GgmlType::F32,
            Dtype::F16 => GgmlType::F16,
            Dtype::BF16 => GgmlType::BF16,
            other => {
                return Err(FileError::UnsupportedDtype {
                    path: path.to_owned(),
                    tensor: name,
                    dtype: other.to_string(),
                });
            }
        };
        let shape: Vec<u64> = info.shape.iter().map(|&d| d as u64).collect();
        let (start, end) = info.data_offsets;
        let n_bytes = (end - start) as u64;
        // `read_metadata` checked `end - start == elements * dtype size` with overflow checks.
        let elements: u64 = shape.iter().product();
        if ty.bytes_for(elements).ok() != Some(n_bytes) {
            return Err(FileError::BadShape {
                path: path.to_owned(),
                tensor: name,
                shape,
                reason: format!("{n_bytes} bytes do not hold {elements} {ty} elements"),
            });
        }
        tensors.push(TensorInfo {
            name,
            ty,
            shape,
            offset: data_start + start as u64,
            n_bytes,
            file_index,
        });
    }
    tensors.sort_by_key(|t| t.offset);
    check_ranges(path, &tensors, bytes.len() as u64)?;
    Ok(tensors)
}

fn read_json(path: &Path) -> Result<Value, FileError> {
    let name = || path.display().to_string();
    let text = std::fs::read(path).map_err(|source| FileError::Io {
        path: name(),
        source,
    })?;
    serde_json::from_slice(&text).map_err(|source| FileError::Json {
        path: name(),
        source,
    })
}

fn read_json_if_present(path: &Path) -> Result<Option<Value>, FileError> {
    if path.is_file() {
        read_json(path).map(Some)
    } else {
        Ok(None)
    }
}
