//! Splitting text at special tokens before the model sees it: llama.cpp
//! `llama_vocab::impl::tokenizer_st_partition` (src/llama-vocab.cpp).
//!
//! Special tokens (control, user-defined, unknown) are tried longest text first; each claims every
//! occurrence in the text fragments still unclaimed. Without `parse_special` only user-defined tokens
//! are split off, so `<|eot_id|>` typed by a user stays plain text.

use super::spec::TokenKind;

/// A piece of the input: raw text for the model, or a special token found in the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Fragment<'a> {
    Text(&'a str),
    Token(u32),
}

/// Special tokens in llama.cpp's matching order.
#[derive(Clone, Debug)]
pub(crate) struct SpecialTokens {
    /// (text, id, kind), longest text first.
    tokens: Vec<(String, u32, TokenKind)>,
}

impl SpecialTokens {
    pub(crate) fn new(texts: &[String], kinds: &[TokenKind]) -> Self {
        let mut tokens: Vec<(String, u32, TokenKind)> = texts
            .iter()
            .zip(kinds)
            .enumerate()
            .filter(|(_, (text, kind))| kind.is_special() && !text.is_empty())
            .map(|(id, (text, &kind))| (text.clone(), id as u32, kind))
            .collect();
        tokens.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        Self { tokens }
    }

    pub(crate) fn split<'a>(&self, text: &'a str, parse_special: bool) -> Vec<Fragment<'a>> {
        let mut fragments = if text.is_empty() {
            Vec::new()
        } else {
            vec![Fragment::Text(text)]
        };
        for (special, id, kind) in &self.tokens {
            if !parse_special && *kind != TokenKind::UserDefined {
                continue;
            }
            let mut next = Vec::with_capacity(fragments.len());
            for fragment in fragments {
                let Fragment::Text(mut rest) = fragment else {
                    next.push(fragment);
                    continue;
                };
                while let Some(at) = rest.find(special.as_str()) {
                    if at > 0 {
                        next.push(Fragment::Text(&rest[..at]));
                    }
                    next.push(Fragment::Token(*id));
                    rest = &rest[at + special.len()..];
                }
                if !rest.is_empty() {
                    next.push(Fragment::Text(rest));
                }
            }
            fragments = next;
        }
        fragments
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specials() -> SpecialTokens {
        let texts = ["a", "<s>", "<|im_end|>", "<tool>", "<|im"].map(String::from);
        let kinds = [
            TokenKind::Normal,
            TokenKind::Control,
            TokenKind::Control,
            TokenKind::UserDefined,
            TokenKind::Control,
        ];
        SpecialTokens::new(&texts, &kinds)
    }

    #[test]
    fn longest_special_token_wins() {
        let got = specials().split("x<|im_end|>y<s>", true);
        assert_eq!(
            got,
            vec![
                Fragment::Text("x"),
                Fragment::Token(2),
                Fragment::Text("y"),
                Fragment::Token(1)
            ]
        );
    }

    #[test]
    fn without_parse_special_only_user_defined_tokens_split() {
        let got = specials().split("<s>hi<tool>", false);
        assert_eq!(got, vec![Fragment::Text("<s>hi"), Fragment::Token(3)]);
    }
}
