//! Incremental detokenisation: push token ids as they are generated, get text only once it is whole
//! UTF-8. Byte-fallback and byte-level tokens can end inside a character (an emoji is four `<0xXX>`
//! tokens); those bytes wait until the character completes.

use super::Tokenizer;

/// Streams text for a sequence of generated tokens.
#[derive(Debug)]
pub struct Detokenizer<'t> {
    tokenizer: &'t Tokenizer,
    special: bool,
    /// Bytes of an unfinished UTF-8 character (at most 3).
    pending: Vec<u8>,
}

impl<'t> Detokenizer<'t> {
    /// `special`: print control tokens (`<|eot_id|>`) as their text. Each piece prints as llama.cpp's
    /// `llama_token_to_piece` does, leading space included.
    pub fn new(tokenizer: &'t Tokenizer, special: bool) -> Self {
        Self {
            tokenizer,
            special,
            pending: Vec::new(),
        }
    }

    /// Adds one token; returns the text that is now complete (possibly empty).
    pub fn push(&mut self, id: u32) -> String {
        if let Some(piece) = self.tokenizer.token_bytes(id, self.special) {
            self.pending.extend_from_slice(piece);
        }
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(text) => {
                    out.push_str(text);
                    self.pending.clear();
                    return out;
                }
                Err(error) => {
                    let valid = error.valid_up_to();
                    out.push_str(std::str::from_utf8(&self.pending[..valid]).unwrap_or_default());
                    match error.error_len() {
                        // An unfinished character at the end: keep it for the next token.
                        None => {
                            self.pending.drain(..valid);
                            return out;
                        }
                        // Bytes that can never start valid UTF-8: print U+FFFD, as lossy decoding does.
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + bad);
                        }
                    }
                }
            }
        }
    }

    /// Ends the stream: any unfinished character becomes U+FFFD.
    pub fn finish(&mut self) -> String {
        let rest = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        rest
    }
}
