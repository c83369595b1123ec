//! `TokenizerSpec`: a vocabulary as GGUF stores it (`tokenizer.ggml.*`), before any model is built.
//!
//! Defaults follow llama.cpp `llama_vocab::impl::load` (src/llama-vocab.cpp): SentencePiece vocabularies
//! default to BOS 1 / EOS 2 / UNK 0, `add_bos_token` true and `add_space_prefix` true; byte-level BPE
//! vocabularies add BOS only for the Llama 3 family of pre-tokenizers and have no space prefix. EOT is
//! found by text (`<|eot_id|>`, `<|im_end|>`, ...) when the metadata does not name it.

use crate::files::{FileError, GgufFile};

use super::TokenizerError;

/// Which tokenizer algorithm a vocabulary is for (`tokenizer.ggml.model`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VocabKind {
    /// `llama`: SentencePiece pieces with scores, `▁` for spaces, `<0xXX>` byte fallback.
    SentencePiece,
    /// `gpt2`: byte-level BPE with ranked merges and a regex pre-tokenizer.
    ByteLevelBpe,
}

/// `tokenizer.ggml.token_type`, as llama.cpp's `llama_token_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    Normal,
    Unknown,
    /// Special tokens such as `<s>` or `<|eot_id|>`: parsed from text only with `parse_special`,
    /// printed only when asked for.
    Control,
    /// Added tokens that are always parsed from text and always printed.
    UserDefined,
    Unused,
    /// `<0xXX>` byte-fallback pieces.
    Byte,
}

impl TokenKind {
    /// llama.cpp `LLAMA_TOKEN_TYPE_*`: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
    pub fn from_gguf(value: i32) -> Self {
        match value {
            2 => Self::Unknown,
            3 => Self::Control,
            4 => Self::UserDefined,
            5 => Self::Unused,
            6 => Self::Byte,
            _ => Self::Normal,
        }
    }

    /// Tokens matched in raw text before the model sees it (llama.cpp `cache_special_tokens`).
    pub(crate) fn is_special(self) -> bool {
        matches!(self, Self::Control | Self::UserDefined | Self::Unknown)
    }
}

/// Everything needed to build a [`super::Tokenizer`].
#[derive(Clone, Debug, PartialEq)]
pub struct TokenizerSpec {
    pub kind: VocabKind,
    /// `tokenizer.ggml.pre` (BPE pre-tokenizer name: `llama-bpe`, `qwen2`, `gpt-2`, ...).
    pub pre: String,
    /// Token text by id.
    pub tokens: Vec<String>,
    /// SentencePiece scores by id (empty for BPE).
    pub scores: Vec<f32>,
    pub token_kinds: Vec<TokenKind>,
    /// BPE merges, `"left right"`, highest priority first.
    pub merges: Vec<String>,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    /// End of turn, e.g. `<|eot_id|>` or `<|im_end|>`.
    pub eot: Option<u32>,
    pub unk: Option<u32>,
    pub pad: Option<u32>,
    pub add_bos: bool,
    pub add_eos: bool,
    /// Prefix a space to text at the start and after each special token (SentencePiece only).
    pub add_space_prefix: bool,
    pub chat_template: Option<String>,
}

/// Token texts that llama.cpp treats as end-of-turn when `tokenizer.ggml.eot_token_id` is absent, the
/// first one present winning (llama.cpp scans a hash map; for Llama 3 it reports `<|eot_id|>`).
const EOT_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "<｜end▁of▁sentence｜>",
];

/// `tokenizer.ggml.pre` values whose vocabularies add BOS by default (llama.cpp: LLAMA3 family, tekken,
/// chameleon).
const BPE_PRE_WITH_BOS: &[&str] = &[
    "llama3",
    "llama-v3",
    "llama-bpe",
    "falcon3",
    "falcon-h1",
    "pixtral",
    "midm-2.0",
    "lfm2",
    "tekken",
    "chameleon",
];

impl TokenizerSpec {
    /// Reads `tokenizer.ggml.*` from a GGUF file.
    pub fn from_gguf(file: &GgufFile) -> Result<Self, TokenizerError> {
        let path = file.path_name().to_owned();
        let gguf = |source: FileError| TokenizerError::File(Box::new(source));
        let model = file.str("tokenizer.ggml.model").map_err(gguf)?;
        let kind = match model {
            "llama" => VocabKind::SentencePiece,
            "gpt2" => VocabKind::ByteLevelBpe,
            other => {
                return Err(TokenizerError::Unsupported {
                    path,
                    what: format!("tokenizer.ggml.model '{other}'"),
                });
            }
        };
        let pre = file
            .opt_str("tokenizer.ggml.pre")
            .map_err(gguf)?
            .unwrap_or("default")
            .to_owned();
        let tokens = file
            .str_array("tokenizer.ggml.tokens")
            .map_err(gguf)?
            .to_vec();
        let n_tokens = tokens.len();
        let scores = file
            .opt_f32_array("tokenizer.ggml.scores")
            .map_err(gguf)?
            .map(<[f32]>::to_vec)
            .unwrap_or_default();
        let token_kinds: Vec<TokenKind> = match file
            .opt_i32_array("tokenizer.ggml.token_type")
            .map_err(gguf)?
        {
            Some(types) => types.iter().map(|&t| TokenKind::from_gguf(t)).collect(),
            None => vec![TokenKind::Normal; n_tokens],
        };
        let merges = file
            .opt_str_array("tokenizer.ggml.merges")
            .map_err(gguf)?
            .map(<[String]>::to_vec)
            .unwrap_or_default();

        let (default_bos, default_eos, default_unk, default_add_bos, default_space_prefix) =
            match kind {
                VocabKind::SentencePiece => (Some(1), Some(2), Some(0), true, true),
                VocabKind::ByteLevelBpe => (
                    Some(11),
                    Some(11),
                    None,
                    BPE_PRE_WITH_BOS.contains(&pre.as_str()),
                    false,
                ),
            };
        let special_id = |key: &str, default: Option<u32>| -> Result<Option<u32>, TokenizerError> {
            let in_range = |id: u32| (id as usize) < n_tokens;
            Ok(match file.opt_u32(key).map_err(gguf)? {
                Some(id) if in_range(id) => Some(id),
                _ => default.filter(|&id| in_range(id)),
            })
        };
        let bos = special_id("tokenizer.ggml.bos_token_id", default_bos)?;
        let eos = special_id("tokenizer.ggml.eos_token_id", default_eos)?;
        let eot = special_id("tokenizer.ggml.eot_token_id", None)?.or_else(|| {
            EOT_TEXTS
                .iter()
                .find_map(|eot| tokens.iter().position(|t| t == eot))
                .map(|id| id as u32)
        });
        let unk = special_id("tokenizer.ggml.unknown_token_id", default_unk)?;
        let pad = special_id("tokenizer.ggml.padding_token_id", None)?;
        let add_bos = file
            .opt_bool("tokenizer.ggml.add_bos_token")
            .map_err(gguf)?
            .unwrap_or(default_add_bos);
        let add_eos = file
            .opt_bool("tokenizer.ggml.add_eos_token")
            .map_err(gguf)?
            .unwrap_or(false);
        let add_space_prefix = file
            .opt_bool("tokenizer.ggml.add_space_prefix")
            .map_err(gguf)?
            .unwrap_or(default_space_prefix);
        let chat_template = file
            .opt_str("tokenizer.chat_template")
            .map_err(gguf)?
            .map(str::to_owned);

        let spec = Self {
            kind,
            pre,
            tokens,
            scores,
            token_kinds,
            merges,
            bos,
            eos,
            eot,
            unk,
            pad,
            add_bos,
            add_eos,
            add_space_prefix,
            chat_template,
        };
        spec.validate(&path)?;
        Ok(spec)
    }

    /// Checks the array lengths agree and that BOS/EOS exist when they are to be added.
    pub fn validate(&self, source: &str) -> Result<(), TokenizerError> {
        let bad = |reason: String| TokenizerError::BadVocab {
            origin: source.to_owned(),
            reason,
        };
        let n = self.tokens.len();
        if n == 0 {
            return Err(bad("the vocabulary is empty".into()));
        }
        if self.token_kinds.len() < n {
            return Err(bad(format!(
                "{} token types for {n} tokens",
                self.token_kinds.len()
            )));
        }
        if self.kind == VocabKind::SentencePiece && !self.scores.is_empty() && self.scores.len() < n
        {
            return Err(bad(format!("{} scores for {n} tokens", self.scores.len())));
        }
        if self.add_bos && self.bos.is_none() {
            return Err(bad("add_bos_token is true but there is no BOS token".into()));
        }
        if self.add_eos && self.eos.is_none() {
            return Err(bad("add_eos_token is true but there is no EOS token".into()));
        }
        Ok(())
    }
}
