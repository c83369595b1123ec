//! Builds a Hugging Face `tokenizers` BPE model from a GGUF vocabulary.
//!
//! SentencePiece: llama.cpp's `llm_tokenizer_spm` repeatedly merges the adjacent pair whose concatenation
//! is a token with the highest score. That is BPE whose merge ranks are the pieces ordered by score, which
//! is how transformers' `SentencePieceExtractor` (convert_slow_tokenizer.py) derives merges: every split
//! of a piece into two pieces is a merge ranked by the whole piece's score. Unknown characters fall back
//! to `<0xXX>` byte pieces, as llama.cpp's `resegment` does.
//!
//! Byte-level BPE: merges from `tokenizer.ggml.merges`, the pre-tokenizer regexes llama.cpp uses for
//! `tokenizer.ggml.pre` (`llm_tokenizer_bpe::llm_tokenizer_bpe`), then the GPT-2 byte-to-unicode map.

use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{PreTokenizerWrapper, SplitDelimiterBehavior};

use super::TokenizerError;
use super::spec::{TokenizerSpec, VocabKind};

/// Llama 3 (`llama-bpe`), adapted by llama.cpp from `(?i:'s|...)`.
const REGEX_LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2: as Llama 3 but single digits.
const REGEX_QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// GPT-2.
const REGEX_GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";

/// Pre-tokenizer regexes, applied one after another, and whether whole words found in the vocabulary
/// skip merging (`ignore_merges`), for a `tokenizer.ggml.pre` name.
fn bpe_pre_tokenizer(pre: &str) -> Option<(Vec<&'static str>, bool)> {
    Some(match pre {
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral" | "midm-2.0"
        | "lfm2" => (vec![REGEX_LLAMA3], true),
        "dbrx" | "smaug-bpe" | "glm4" | "chatglm-bpe" => (vec![REGEX_LLAMA3], false),
        "qwen2" | "deepseek-r1-qwen" | "stablelm2" | "megrez" | "hunyuan" | "kormo"
        | "solar-open" => (vec![REGEX_QWEN2], false),
        "gpt-2" | "phi-2" | "mpt" | "olmo" | "jais" | "jina-es" | "jina-de" | "gigachat"
        | "jina-v2-es" | "jina-v2-de" | "a.x-4.0" | "mellum" | "exaone4" | "trillion"
        | "granite-docling" => (vec![REGEX_GPT2], false),
        "starcoder" | "refact" | "command-r" | "smollm" | "codeshell" | "exaone" | "minerva-7b" => {
            (vec![r"\p{N}", REGEX_GPT2], false)
        }
        "default" => (
            vec![
                r"[\p{P}\$\+<=>\^~\|]+",
                REGEX_GPT2,
                r"\p{N}+",
                "[0-9][0-9][0-9]",
            ],
            false,
        ),
        _ => return None,
    })
}

/// The model that tokenizes one raw-text fragment (special tokens already split off).
pub(crate) fn build_model(
    spec: &TokenizerSpec,
    source: &str,
) -> Result<tokenizers::Tokenizer, TokenizerError> {
    let mut vocab = Vocab::default();
    vocab.reserve(spec.tokens.len());
    for (id, text) in spec.tokens.iter().enumerate() {
        vocab.entry(text.clone()).or_insert(id as u32);
    }
    let model_error = |error: tokenizers::Error| TokenizerError::Model {
        origin: source.to_owned(),
        message: error.to_string(),
    };
    match spec.kind {
        VocabKind::SentencePiece => {
            let merges = merges_from_scores(spec, &vocab);
            let mut builder = BPE::builder()
                .vocab_and_merges(vocab, merges)
                .byte_fallback(true);
            if let Some(unk) = spec.unk.and_then(|id| spec.tokens.get(id as usize)) {
                builder = builder.unk_token(unk.clone());
            }
            let model = builder.build().map_err(model_error)?;
            Ok(tokenizers::Tokenizer::new(model))
        }
        VocabKind::ByteLevelBpe => {
            let (regexes, ignore_merges) =
                bpe_pre_tokenizer(&spec.pre).ok_or_else(|| TokenizerError::Unsupported {
                    path: source.to_owned(),
                    what: format!("BPE pre-tokenizer '{}'", spec.pre),
                })?;
            let merges = spec
                .merges
                .iter()
                .map(|merge| split_merge(merge))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| TokenizerError::BadVocab {
                    origin: source.to_owned(),
                    reason: "a merge has no space separating its two parts".into(),
                })?;
            let model = BPE::builder()
                .vocab_and_merges(vocab, merges)
                .ignore_merges(ignore_merges)
                .build()
                .map_err(model_error)?;
            let mut steps: Vec<PreTokenizerWrapper> = Vec::with_capacity(regexes.len() + 1);
            for regex in regexes {
                let split = Split::new(
                    SplitPattern::Regex(regex.to_owned()),
                    SplitDelimiterBehavior::Isolated,
                    false,
                )
                .map_err(model_error)?;
                steps.push(split.into());
            }
            steps.push(ByteLevel::new(false, false, false).into());
            let mut tokenizer = tokenizers::Tokenizer::new(model);
            tokenizer.with_pre_tokenizer(Some(Sequence::new(steps)));
            Ok(tokenizer)
        }
    }
}

/// `"left right"` split at the first space after the first byte (llama.cpp: `word.find(' ', 1)`).
fn split_merge(merge: &str) -> Option<(String, String)> {
    let first_len = merge.chars().next()?.len_utf8();
    let space = merge[first_len..].find(' ')? + first_len;
    Some((merge[..space].to_owned(), merge[space + 1..].to_owned()))
}

/// Every way to write a piece as two pieces, ranked by the whole piece's score (highest first), ties by
/// the ids of the whole, left and right piece.
fn merges_from_scores(spec: &TokenizerSpec, vocab: &Vocab) -> Vec<(String, String)> {
    let mut ranked: Vec<(f32, u32, u32, u32)> = Vec::new();
    for (id, piece) in spec.tokens.iter().enumerate() {
        if vocab.get(piece) != Some(&(id as u32)) {
            continue;
        }
        let score = spec.scores.get(id).copied().unwrap_or(0.0);
        for (split, _) in piece.char_indices().skip(1) {
            let (left, right) = piece.split_at(split);
            if let (Some(&l), Some(&r)) = (vocab.get(left), vocab.get(right)) {
                ranked.push((score, id as u32, l, r));
            }
        }
    }
    ranked.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then(a.1.cmp(&b.1))
            .then(a.2.cmp(&b.2))
            .then(a.3.cmp(&b.3))
    });
    ranked
        .into_iter()
        .map(|(_, _, l, r)| {
            (
                spec.tokens[l as usize].clone(),
                spec.tokens[r as usize].clone(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_split_at_the_first_space_after_the_first_character() {
        assert_eq!(split_merge("Ġ Ġ"), Some(("Ġ".into(), "Ġ".into())));
        assert_eq!(split_merge("  a"), Some((" ".into(), "a".into())));
        assert_eq!(split_merge("ab"), None);
    }
}
