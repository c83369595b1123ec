//! The bytes each token prints as: llama.cpp `llama_vocab::impl::token_to_piece` (src/llama-vocab.cpp).
//!
//! SentencePiece: `▁` becomes a space, `<0xXX>` is that byte, unknown is `▅`. Byte-level BPE: each
//! character maps back to one byte through GPT-2's `bytes_to_unicode` table. Control (and unknown and
//! unused) tokens print only when special tokens are asked for; user-defined tokens print their text.

use super::spec::{TokenKind, VocabKind};

/// Printable bytes of every token, computed once: `plain[id]` is what prints without special tokens,
/// `special[id]` what prints with them (the token text for control, unknown and unused tokens).
#[derive(Clone, Debug)]
pub(crate) struct PieceTable {
    plain: Vec<Vec<u8>>,
    special: Vec<Option<Vec<u8>>>,
}

impl PieceTable {
    pub(crate) fn new(kind: VocabKind, tokens: &[String], kinds: &[TokenKind]) -> Self {
        let byte_of_char = byte_level_decoder();
        let mut plain = Vec::with_capacity(tokens.len());
        let mut special = Vec::with_capacity(tokens.len());
        for (text, &token_kind) in tokens.iter().zip(kinds) {
            let shown = match (kind, token_kind) {
                (_, TokenKind::UserDefined) => text.as_bytes().to_vec(),
                (_, TokenKind::Control | TokenKind::Unused) => Vec::new(),
                (VocabKind::SentencePiece, TokenKind::Unknown) => "▅".as_bytes().to_vec(),
                (VocabKind::ByteLevelBpe, TokenKind::Unknown) => Vec::new(),
                (VocabKind::SentencePiece, TokenKind::Byte) => match parse_byte_piece(text) {
                    Some(byte) => vec![byte],
                    None => text.as_bytes().to_vec(),
                },
                (VocabKind::SentencePiece, _) => text.replace('▁', " ").into_bytes(),
                (VocabKind::ByteLevelBpe, _) => {
                    let mut bytes = Vec::with_capacity(text.len());
                    for ch in text.chars() {
                        match byte_of_char(ch) {
                            Some(byte) => bytes.push(byte),
                            None => bytes.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes()),
                        }
                    }
                    bytes
                }
            };
            let with_special = matches!(
                token_kind,
                TokenKind::Control | TokenKind::Unknown | TokenKind::Unused
            )
            .then(|| text.as_bytes().to_vec());
            plain.push(shown);
            special.push(with_special);
        }
        Self { plain, special }
    }

    /// The bytes of token `id` (`special`: print control tokens as their text). `None` outside the
    /// vocabulary.
    pub(crate) fn piece(&self, id: u32, special: bool) -> Option<&[u8]> {
        let index = id as usize;
        if special && let Some(Some(text)) = self.special.get(index) {
            return Some(text);
        }
        self.plain.get(index).map(Vec::as_slice)
    }
}

/// `<0x41>` → 0x41.
fn parse_byte_piece(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

/// The inverse of GPT-2's `bytes_to_unicode` (openai/gpt-2 `encoder.py`): printable Latin-1 bytes map
/// to themselves, the other 68 bytes to U+0100 onwards in byte order.
fn byte_level_decoder() -> impl Fn(char) -> Option<u8> {
    let mut table = [None::<u8>; 512];
    let mut next = 0x100usize;
    for byte in 0..=255u8 {
        let printable = matches!(byte, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        let code = if printable {
            byte as usize
        } else {
            let code = next;
            next += 1;
            code
        };
        table[code] = Some(byte);
    }
    move |ch: char| table.get(ch as usize).copied().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_table_matches_gpt2() {
        let decode = byte_level_decoder();
        assert_eq!(decode('Ġ'), Some(b' '));
        assert_eq!(decode('Ċ'), Some(b'\n'));
        assert_eq!(decode('A'), Some(b'A'));
        assert_eq!(decode('ĉ'), Some(b'\t'));
        assert_eq!(decode('\u{0143}'), Some(0xAD));
        assert_eq!(decode('€'), None);
    }

    #[test]
    fn byte_pieces_parse() {
        assert_eq!(parse_byte_piece("<0x0A>"), Some(10));
        assert_eq!(parse_byte_piece("<0xFF>"), Some(255));
        assert_eq!(parse_byte_piece("<0x1>"), None);
    }
}
