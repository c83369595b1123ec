//! What to generate: architecture, size preset, weight type, file format, seed.

use quant_formats::GgmlType;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The command-line spelling.
            pub const fn name(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                Self::ALL.iter().copied().find(|v| v.name().eq_ignore_ascii_case(s)).ok_or_else(|| {
                    let names: Vec<&str> = Self::ALL.iter().map(|v| v.name()).collect();
                    format!("unknown {} '{s}' (expected one of: {})", stringify!($name), names.join(", "))
                })
            }
        }
    };
}

named_enum! {
    /// Model family; both share one tensor layout, Qwen2 adds Q/K/V biases.
    Arch { Llama => "llama", Qwen2 => "qwen2" }
}

named_enum! {
    /// Size preset: `tiny` for tests, `1b` / `8b` with the dimensions of real checkpoints.
    Preset { Tiny => "tiny", B1 => "1b", B8 => "8b" }
}

named_enum! {
    /// Output container: one GGUF file, or a Hugging Face directory (safetensors + config.json).
    OutputFormat { Gguf => "gguf", Safetensors => "safetensors" }
}

named_enum! {
    /// Weight type of the matrices. Plain types apply to every matrix (like `llama-quantize --pure`,
    /// with llama.cpp's fallback for rows that are not a block multiple); `q4_k_m` is llama.cpp's mix.
    WeightDtype {
        F32 => "f32", F16 => "f16", Bf16 => "bf16",
        Q8_0 => "q8_0", Q4_0 => "q4_0", Q4_1 => "q4_1", Q5_0 => "q5_0", Q5_1 => "q5_1",
        Q2K => "q2_k", Q3K => "q3_k", Q4K => "q4_k", Q5K => "q5_k", Q6K => "q6_k",
        Iq4Nl => "iq4_nl", Iq4Xs => "iq4_xs", Q4KM => "q4_k_m",
    }
}

impl WeightDtype {
    /// The tensor type of matrices before llama.cpp's per-tensor rules (`default_type` in
    /// `llama_model_quantize_impl`).
    pub const fn base_type(self) -> GgmlType {
        match self {
            WeightDtype::F32 => GgmlType::F32,
            WeightDtype::F16 => GgmlType::F16,
            WeightDtype::Bf16 => GgmlType::BF16,
            WeightDtype::Q8_0 => GgmlType::Q8_0,
            WeightDtype::Q4_0 => GgmlType::Q4_0,
            WeightDtype::Q4_1 => GgmlType::Q4_1,
            WeightDtype::Q5_0 => GgmlType::Q5_0,
            WeightDtype::Q5_1 => GgmlType::Q5_1,
            WeightDtype::Q2K => GgmlType::Q2_K,
            WeightDtype::Q3K => GgmlType::Q3_K,
            WeightDtype::Q4K | WeightDtype::Q4KM => GgmlType::Q4_K,
            WeightDtype::Q5K => GgmlType::Q5_K,
            WeightDtype::Q6K => GgmlType::Q6_K,
            WeightDtype::Iq4Nl => GgmlType::IQ4_NL,
            WeightDtype::Iq4Xs => GgmlType::IQ4_XS,
        }
    }

    /// `general.file_type`: llama.cpp's `enum llama_ftype` (include/llama.h). Pure k-quant types
    /// use the `_S` value, the nearest named mix.
    pub const fn llama_ftype(self) -> u32 {
        match self {
            WeightDtype::F32 => 0,
            WeightDtype::F16 => 1,
            WeightDtype::Q4_0 => 2,
            WeightDtype::Q4_1 => 3,
            WeightDtype::Q8_0 => 7,
            WeightDtype::Q5_0 => 8,
            WeightDtype::Q5_1 => 9,
            WeightDtype::Q2K => 10,
            WeightDtype::Q3K => 11,
            WeightDtype::Q4K => 14,
            WeightDtype::Q4KM => 15,
            WeightDtype::Q5K => 16,
            WeightDtype::Q6K => 18,
            WeightDtype::Iq4Nl => 25,
            WeightDtype::Iq4Xs => 30,
            WeightDtype::Bf16 => 32,
        }
    }

    /// True for f32/f16/bf16, the only types a safetensors checkpoint holds.
    pub const fn is_float(self) -> bool {
        matches!(
            self,
            WeightDtype::F32 | WeightDtype::F16 | WeightDtype::Bf16
        )
    }
}

/// Everything `make_model` needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelSpec {
    pub arch: Arch,
    pub preset: Preset,
    pub dtype: WeightDtype,
    pub format: OutputFormat,
    /// A `.gguf` file, or the directory of a Hugging Face checkpoint.
    pub out: PathBuf,
    pub seed: u64,
    /// Folder holding llama.cpp's `ggml-vocab-*.gguf` files (the repository's `fixtures/vocab`).
    pub vocab_dir: PathBuf,
}

/// llama3 rope scaling as in a Llama 3.1+ `config.json` `rope_scaling`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Llama3RopeScaling {
    pub factor: f32,
    pub low_freq_factor: f32,
    pub high_freq_factor: f32,
    pub original_max_position_embeddings: u32,
}

/// Hyper-parameters of a generated model.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelDims {
    pub hidden: u64,
    pub layers: u64,
    pub heads: u64,
    pub kv_heads: u64,
    pub head_dim: u64,
    pub ffn: u64,
    pub vocab: u64,
    pub context_length: u64,
    pub rms_eps: f32,
    pub rope_theta: f32,
    pub tied_embeddings: bool,
    pub qkv_bias: bool,
    pub rope_scaling: Option<Llama3RopeScaling>,
    /// File name of the llama.cpp vocab GGUF whose tokenizer the model carries.
    pub vocab_file: &'static str,
}

const LLAMA_SPM: &str = "ggml-vocab-llama-spm.gguf";
const LLAMA_BPE: &str = "ggml-vocab-llama-bpe.gguf";
const QWEN2: &str = "ggml-vocab-qwen2.gguf";

impl ModelDims {
    /// The dimensions of a preset. `1b`/`8b` follow Llama-3.2-1B / Llama-3-8B and
    /// Qwen2.5-0.5B / Qwen2.5-7B (`config.json` of each); vocab sizes are the token counts of
    /// the vocab fixtures, so the embedding covers exactly the tokenizer.
    pub fn for_preset(arch: Arch, preset: Preset) -> ModelDims {
        let llama3_1b_scaling = Llama3RopeScaling {
            factor: 32.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position_embeddings: 8192,
        };
        let tiny = ModelDims {
            hidden: 256,
            layers: 2,
            heads: 4,
            kv_heads: 2,
            head_dim: 64,
            ffn: 512,
            vocab: 32000,
            context_length: 2048,
            rms_eps: 1e-5,
            rope_theta: 10000.0,
            tied_embeddings: false,
            qkv_bias: false,
            rope_scaling: None,
            vocab_file: LLAMA_SPM,
        };
        match (arch, preset) {
            (Arch::Llama, Preset::Tiny) => tiny,
            (Arch::Qwen2, Preset::Tiny) => ModelDims {
                rms_eps: 1e-6,
                rope_theta: 1_000_000.0,
                tied_embeddings: true,
                qkv_bias: true,
                ..tiny
            },
            (Arch::Llama, Preset::B1) => ModelDims {
                hidden: 2048,
                layers: 16,
                heads: 32,
                kv_heads: 8,
                head_dim: 64,
                ffn: 8192,
                vocab: 128256,
                context_length: 131072,
                rms_eps: 1e-5,
                rope_theta: 500_000.0,
                tied_embeddings: true,
                qkv_bias: false,
                rope_scaling: Some(llama3_1b_scaling),
                vocab_file: LLAMA_BPE,
            },
            (Arch::Llama, Preset::B8) => ModelDims {
                hidden: 4096,
                layers: 32,
                heads: 32,
                kv_heads: 8,
                head_dim: 128,
                ffn: 14336,
                vocab: 128256,
                context_length: 8192,
                rms_eps: 1e-5,
                rope_theta: 500_000.0,
                tied_embeddings: false,
                qkv_bias: false,
                rope_scaling: None,
                vocab_file: LLAMA_BPE,
            },
            (Arch::Qwen2, Preset::B1) => ModelDims {
                hidden: 896,
                layers: 24,
                heads: 14,
                kv_heads: 2,
                head_dim: 64,
                ffn: 4864,
                vocab: 151936,
                context_length: 32768,
                rms_eps: 1e-6,
                rope_theta: 1_000_000.0,
                tied_embeddings: true,
                qkv_bias: true,
                rope_scaling: None,
                vocab_file: QWEN2,
            },
            (Arch::Qwen2, Preset::B8) => ModelDims {
                hidden: 3584,
                layers: 28,
                heads: 28,
                kv_heads: 4,
                head_dim: 128,
                ffn: 18944,
                vocab: 151936,
                context_length: 32768,
                rms_eps: 1e-6,
                rope_theta: 1_000_000.0,
                tied_embeddings: false,
                qkv_bias: true,
                rope_scaling: None,
                vocab_file: QWEN2,
            },
        }
    }
}
