//! Tokenizers: GGUF-embedded vocabularies (SentencePiece `llama`, byte-level BPE `gpt2`) and Hugging Face
//! `tokenizer.json` directories, encoding exactly as llama.cpp does.
//!
//! The subword algorithms are the `tokenizers` crate's BPE model (built from the GGUF vocabulary in
//! [`build`]); around it this module reproduces llama.cpp's `llama_vocab::impl::tokenize`: special tokens
//! split off first ([`special_split`]), SentencePiece's space prefix after the start and after each
//! special token, `▁` for spaces, BOS/EOS as the metadata says. Decoding mirrors `token_to_piece`.

mod build;
mod detokenizer;
mod hf_dir;
mod pieces;
mod spec;
mod special_split;

use crate::files::{FileError, GgufFile};

pub use detokenizer::Detokenizer;
pub use spec::{TokenKind, TokenizerSpec, VocabKind};

use pieces::PieceTable;
use special_split::{Fragment, SpecialTokens};

/// A tokenizer that cannot be built or used.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error(transparent)]
    File(Box<FileError>),
    #[error("{path}: unsupported {what}")]
    Unsupported { path: String, what: String },
    #[error("{origin}: bad vocabulary: {reason}")]
    BadVocab { origin: String, reason: String },
    #[error("{origin}: tokenizer model: {message}")]
    Model { origin: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Json {
        path: String,
        #[source]
        source: serde_json::Error,
    },
}

/// Text ↔ token ids for one model.
#[derive(Debug)]
pub struct Tokenizer {
    source: String,
    kind: VocabKind,
    model: tokenizers::Tokenizer,
    /// GGUF SentencePiece: prefix `" "` to each text fragment after the start or a special token and
    /// write spaces as `▁` before the model sees it (a `tokenizer.json` does this in its normalizer).
    escape_spm_text: bool,
    add_space_prefix: bool,
    /// A `tokenizer.json` whose Metaspace pre-tokenizer said `prepend_scheme: "first"` (loaded as `"never"`):
    /// `" "` goes before the text's first fragment only, when it starts the text and does not already
    /// start with a space or `▁`. Hugging Face's splits after an added token do not start at offset 0,
    /// so get no `▁` (`tokenizers` `pre_tokenizers/metaspace.rs`, `PrependScheme::First`).
    metaspace_first_only: bool,
    specials: SpecialTokens,
    pieces: PieceTable,
    tokens: Vec<String>,
    bos: Option<u32>,
    eos: Option<u32>,
    eot: Option<u32>,
    pad: Option<u32>,
    add_bos: bool,
    add_eos: bool,
    chat_template: Option<String>,
}

impl Tokenizer {
    /// The tokenizer embedded in a GGUF file.
    pub fn from_gguf(file: &GgufFile) -> Result<Self, TokenizerError> {
        let spec = TokenizerSpec::from_gguf(file)?;
        Self::from_spec(&spec, file.path_name())
    }

    /// Builds the tokenizer for a vocabulary; `source` names it in errors.
    pub fn from_spec(spec: &TokenizerSpec, source: &str) -> Result<Self, TokenizerError> {
        spec.validate(source)?;
        let model = build::build_model(spec, source)?;
        Ok(Self {
            source: source.to_owned(),
            kind: spec.kind,
            model,
            escape_spm_text: spec.kind == VocabKind::SentencePiece,
            add_space_prefix: spec.kind == VocabKind::SentencePiece && spec.add_space_prefix,
            metaspace_first_only: false,
            specials: SpecialTokens::new(&spec.tokens, &spec.token_kinds),
            pieces: PieceTable::new(spec.kind, &spec.tokens, &spec.token_kinds),
            tokens: spec.tokens.clone(),
            bos: spec.bos,
            eos: spec.eos,
            eot: spec.eot,
            pad: spec.pad,
            add_bos: spec.add_bos,
            add_eos: spec.add_eos,
            chat_template: spec.chat_template.clone(),
        })
    }

    /// Token ids of `text`. `add_special`: add BOS / EOS where the vocabulary says to
    /// (`add_bos_token`, `add_eos_token`). `parse_special`: turn control-token text such as
    /// `<|eot_id|>` into that token (user-defined tokens are always recognised).
    pub fn encode(
        &self,
        text: &str,
        add_special: bool,
        parse_special: bool,
    ) -> Result<Vec<u32>, TokenizerError> {
        let mut ids = Vec::new();
        if add_special && self.add_bos {
            ids.extend(self.bos);
        }
        let mut after_special = true;
        let mut at_text_start = true;
        for fragment in self.specials.split(text, parse_special) {
            match fragment {
                Fragment::Token(id) => {
                    ids.push(id);
                    after_special = true;
                }
                Fragment::Text(raw) => {
                    let escaped;
                    let input = if self.escape_spm_text {
                        let prefix = if self.add_space_prefix && after_special {
                            " "
                        } else {
                            ""
                        };
                        escaped = format!("{prefix}{raw}").replace(' ', "▁");
                        escaped.as_str()
                    } else if self.metaspace_first_only
                        && at_text_start
                        && !raw.starts_with([' ', '▁'])
                    {
                        escaped = format!(" {raw}");
                        escaped.as_str()
                    } else {
                        raw
                    };
                    let encoding = self.model.encode_fast(input, false).map_err(|error| {
                        TokenizerError::Model {
                            origin: self.source.clone(),
                            message: error.to_string(),
                        }
                    })?;
                    ids.extend_from_slice(encoding.get_ids());
                    after_special = false;
                }
            }
            at_text_start = false;
        }
        if add_special && self.add_eos {
            ids.extend(self.eos);
        }
        Ok(ids)
    }

    /// Text of `ids`, as llama.cpp `llama_detokenize(remove_special = !special, unparse_special = special)`:
    /// without `special` a leading BOS is dropped, control tokens print nothing, and SentencePiece's
    /// space prefix is removed from the first token. Invalid UTF-8 becomes U+FFFD; ids outside the
    /// vocabulary are skipped.
    pub fn decode(&self, ids: &[u32], special: bool) -> String {
        let mut ids = ids;
        let mut strip_space = self.add_space_prefix;
        let starts_with_bos = self.bos.is_some() && ids.first().copied() == self.bos;
        if !special && self.add_bos && starts_with_bos {
            ids = &ids[1..];
        } else if special && starts_with_bos {
            strip_space = false;
        }
        let mut bytes = Vec::new();
        for (index, &id) in ids.iter().enumerate() {
            let Some(piece) = self.pieces.piece(id, special) else {
                continue;
            };
            let piece = if index == 0 && strip_space {
                piece.strip_prefix(b" ").unwrap_or(piece)
            } else {
                piece
            };
            bytes.extend_from_slice(piece);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The bytes token `id` prints as (possibly part of a UTF-8 character); `None` outside the vocabulary.
    pub fn token_bytes(&self, id: u32, special: bool) -> Option<&[u8]> {
        self.pieces.piece(id, special)
    }

    /// A streaming decoder for generated tokens.
    pub fn detokenizer(&self, special: bool) -> Detokenizer<'_> {
        Detokenizer::new(self, special)
    }

    /// The token's text as stored in the vocabulary (`▁`/`Ġ` unescaped neither).
    pub fn token_text(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    pub fn kind(&self) -> VocabKind {
        self.kind
    }

    pub fn bos_id(&self) -> Option<u32> {
        self.bos
    }

    pub fn eos_id(&self) -> Option<u32> {
        self.eos
    }

    /// End of turn (`<|eot_id|>`, `<|im_end|>`), from metadata or found by text as llama.cpp does.
    pub fn eot_id(&self) -> Option<u32> {
        self.eot
    }

    pub fn pad_id(&self) -> Option<u32> {
        self.pad
    }

    /// Whether `encode(.., add_special = true, ..)` starts with BOS.
    pub fn adds_bos(&self) -> bool {
        self.add_bos
    }

    /// Whether generation stops at `id` (EOS or EOT).
    pub fn is_end_of_generation(&self, id: u32) -> bool {
        Some(id) == self.eos || Some(id) == self.eot
    }

    /// The chat template shipped with the vocabulary, if any.
    pub fn chat_template(&self) -> Option<&str> {
        self.chat_template.as_deref()
    }

    /// BOS text for chat templates (`bos_token`).
    pub fn bos_text(&self) -> Option<&str> {
        self.bos.and_then(|id| self.token_text(id))
    }

    /// EOS text for chat templates (`eos_token`).
    pub fn eos_text(&self) -> Option<&str> {
        self.eos.and_then(|id| self.token_text(id))
    }
}
