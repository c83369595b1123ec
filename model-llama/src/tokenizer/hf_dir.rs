//! `Tokenizer::from_hf_dir`: a Hugging Face model directory's `tokenizer.json` (the fast tokenizer,
//! run by the `tokenizers` crate) plus `tokenizer_config.json` (BOS/EOS, `add_bos_token`, chat template).
//!
//! Special-token splitting, BOS/EOS and decoding are ours, as for GGUF vocabularies: added tokens marked
//! `special` act as control tokens, the others as user-defined tokens. The model, normalizer and
//! pre-tokenizer are the file's own.

use std::path::Path;

use serde_json::Value;

use super::pieces::PieceTable;
use super::spec::{TokenKind, VocabKind};
use super::special_split::SpecialTokens;
use super::{Tokenizer, TokenizerError};

impl Tokenizer {
    /// Loads `dir/tokenizer.json` and, when present, `dir/tokenizer_config.json` and
    /// `dir/chat_template.jinja`.
    pub fn from_hf_dir(dir: impl AsRef<Path>) -> Result<Self, TokenizerError> {
        let dir = dir.as_ref();
        let json_path = dir.join("tokenizer.json");
        let source = json_path.display().to_string();
        let json_text = read(&json_path)?;
        let json: Value = parse(&json_path, &json_text)?;
        let mut loaded = json.clone();
        let metaspace_first_only = metaspace_first_to_never(&mut loaded["pre_tokenizer"]);
        let loaded_text = if metaspace_first_only {
            loaded.to_string()
        } else {
            json_text
        };
        let mut model =
            tokenizers::Tokenizer::from_bytes(loaded_text.as_bytes()).map_err(|error| {
                TokenizerError::Model {
                    origin: source.clone(),
                    message: error.to_string(),
                }
            })?;
        model.set_encode_special_tokens(true);

        let config_path = dir.join("tokenizer_config.json");
        let config = if config_path.exists() {
            parse(&config_path, &read(&config_path)?)?
        } else {
            Value::Null
        };

        let vocab = model.get_vocab(true);
        let size = vocab
            .values()
            .copied()
            .max()
            .map_or(0, |max| max as usize + 1);
        let mut tokens = vec![String::new(); size];
        for (text, id) in vocab {
            tokens[id as usize] = text;
        }
        let kind = if json["decoder"].to_string().contains("ByteLevel") {
            VocabKind::ByteLevelBpe
        } else {
            VocabKind::SentencePiece
        };
        let mut kinds: Vec<TokenKind> = tokens
            .iter()
            .map(|text| {
                let is_byte = text.len() == 6 && text.starts_with("<0x") && text.ends_with('>');
                if kind == VocabKind::SentencePiece && is_byte {
                    TokenKind::Byte
                } else {
                    TokenKind::Normal
                }
            })
            .collect();
        for (id, added) in model.get_added_tokens_decoder() {
            if let Some(slot) = kinds.get_mut(id as usize) {
                *slot = if added.special {
                    TokenKind::Control
                } else {
                    TokenKind::UserDefined
                };
            }
        }

        let id_of = |key: &str| -> Option<u32> {
            let text = match &config[key] {
                Value::String(text) => text.as_str(),
                Value::Object(token) => token.get("content")?.as_str()?,
                _ => return None,
            };
            model.token_to_id(text)
        };
        let bos = id_of("bos_token");
        let eos = id_of("eos_token");
        let pad = id_of("pad_token");
        let eot = ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>"]
            .iter()
            .find_map(|t| model.token_to_id(t));
        let post_adds = |position: fn(&[u32]) -> Option<&u32>, id: Option<u32>| -> bool {
            let (Some(id), Ok(with), Ok(without)) = (
                id,
                model.encode_fast("a", true),
                model.encode_fast("a", false),
            ) else {
                return false;
            };
            position(with.get_ids()) == Some(&id) && position(without.get_ids()) != Some(&id)
        };
        let add_bos = config["add_bos_token"]
            .as_bool()
            .unwrap_or_else(|| post_adds(<[u32]>::first, bos));
        let add_eos = config["add_eos_token"]
            .as_bool()
            .unwrap_or_else(|| post_adds(<[u32]>::last, eos));
        let normalizing = format!("{}{}", json["normalizer"], json["pre_tokenizer"]);
        let add_space_prefix = kind == VocabKind::SentencePiece
            && (normalizing.contains("Prepend")
                || normalizing.contains("\"prepend_scheme\":\"first\""));
        let template_path = dir.join("chat_template.jinja");
        let chat_template = if template_path.exists() {
            Some(read(&template_path)?)
        } else {
            match &config["chat_template"] {
                Value::String(text) => Some(text.clone()),
                Value::Array(named) => named
                    .iter()
                    .find(|entry| entry["name"] == "default")
                    .and_then(|entry| entry["template"].as_str())
                    .map(str::to_owned),
                _ => None,
            }
        };

        Ok(Self {
            source,
            kind,
            escape_spm_text: false,
            add_space_prefix,
            metaspace_first_only,
            specials: SpecialTokens::new(&tokens, &kinds),
            pieces: PieceTable::new(kind, &tokens, &kinds),
            model,
            tokens,
            bos,
            eos,
            eot,
            pad,
            add_bos: add_bos && bos.is_some(),
            add_eos: add_eos && eos.is_some(),
            chat_template,
        })
    }
}

/// Rewrites every Metaspace pre-tokenizer in `pre_tokenizer` (possibly inside a `Sequence`) with
/// `prepend_scheme: "first"` to `"never"`; true when there was one. `Tokenizer::encode` then prepends
/// the space itself, to the text's first fragment only, as Hugging Face does around added tokens.
fn metaspace_first_to_never(pre_tokenizer: &mut Value) -> bool {
    match pre_tokenizer {
        Value::Object(fields) => {
            let is_first_metaspace = fields.get("type").and_then(Value::as_str)
                == Some("Metaspace")
                && fields.get("prepend_scheme").and_then(Value::as_str) == Some("first");
            if is_first_metaspace {
                fields.insert("prepend_scheme".into(), Value::from("never"));
            }
            let mut found = is_first_metaspace;
            if let Some(Value::Array(inner)) = fields.get_mut("pretokenizers") {
                for item in inner {
                    found |= metaspace_first_to_never(item);
                }
            }
            found
        }
        _ => false,
    }
}

fn read(path: &Path) -> Result<String, TokenizerError> {
    std::fs::read_to_string(path).map_err(|source| TokenizerError::Io {
        path: path.display().to_string(),
        source,
    })
}

fn parse(path: &Path, text: &str) -> Result<Value, TokenizerError> {
    serde_json::from_str(text).map_err(|source| TokenizerError::Json {
        path: path.display().to_string(),
        source,
    })
}
