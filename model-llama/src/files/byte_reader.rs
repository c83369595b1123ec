//! A bounds-checked little-endian cursor over a file's bytes. Every read checks the bytes left first,
//! and every length read from the file is checked against the bytes left before anything is allocated.

use super::FileError;

/// A cursor over `bytes`, reporting errors against the file named `path`.
pub(crate) struct ByteReader<'a> {
    bytes: &'a [u8],
    pos: usize,
    path: &'a str,
}

impl<'a> ByteReader<'a> {
    pub(crate) fn new(bytes: &'a [u8], path: &'a str) -> Self {
        Self {
            bytes,
            pos: 0,
            path,
        }
    }

    pub(crate) fn path(&self) -> &'a str {
        self.path
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// The next `n` bytes; `what` names the field for the error.
    pub(crate) fn take(
        &mut self,
        n: usize,
        what: &dyn Fn() -> String,
    ) -> Result<&'a [u8], FileError> {
        if n > self.remaining() {
            return Err(FileError::Truncated {
                path: self.path.to_owned(),
                what: what(),
                offset: self.pos as u64,
                needed: n as u64,
                file_size: self.bytes.len() as u64,
            });
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn array<const N: usize>(
        &mut self,
        what: &dyn Fn() -> String,
    ) -> Result<[u8; N], FileError> {
        let bytes = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, what: &dyn Fn() -> String) -> Result<u8, FileError> {
        Ok(self.array::<1>(what)?[0])
    }

    pub(crate) fn u32(&mut self, what: &dyn Fn() -> String) -> Result<u32, FileError> {
        self.array(what).map(u32::from_le_bytes)
    }

    pub(crate) fn u64(&mut self, what: &dyn Fn() -> String) -> Result<u64, FileError> {
        self.array(what).map(u64::from_le_bytes)
    }

    /// Reads a u64 count of items that each take at least `min_item_bytes` in the file, and rejects a
    /// count the bytes left could not hold. The result is safe to pass to `Vec::with_capacity`.
    pub(crate) fn count(
        &mut self,
        min_item_bytes: usize,
        what: &dyn Fn() -> String,
    ) -> Result<usize, FileError> {
        let count = self.u64(what)?;
        let max = (self.remaining() / min_item_bytes.max(1)) as u64;
        if count > max {
            return Err(FileError::CountTooLarge {
                path: self.path.to_owned(),
                what: what(),
                count,
                remaining: self.remaining() as u64,
                max,
            });
        }
        // `count <= remaining <= usize::MAX`.
        Ok(count as usize)
    }

    /// A GGUF string: u64 byte length, then that many UTF-8 bytes.
    pub(crate) fn str(&mut self, what: &dyn Fn() -> String) -> Result<&'a str, FileError> {
        let len = self.count(1, &|| format!("{} (string length)", what()))?;
        let bytes = self.take(len, what)?;
        std::str::from_utf8(bytes).map_err(|source| FileError::InvalidUtf8 {
            path: self.path.to_owned(),
            what: what(),
            source,
        })
    }

    /// Advances to the next multiple of `alignment` (a power of two); past the end is allowed and
    /// leaves the cursor at the end.
    pub(crate) fn align_to(&mut self, alignment: usize) -> usize {
        let aligned = self.pos.div_ceil(alignment).saturating_mul(alignment);
        self.pos = aligned.min(self.bytes.len());
        aligned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounded_and_lengths_checked_before_use() {
        let mut bytes = 5u64.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"hello");
        bytes.extend_from_slice(&u64::MAX.to_le_bytes());
        let mut r = ByteReader::new(&bytes, "t.gguf");
        assert_eq!(r.str(&|| "s".into()).unwrap(), "hello");
        let err = r.count(4, &|| "n".into()).unwrap_err();
        assert!(
            matches!(
                err,
                FileError::CountTooLarge {
                    count: u64::MAX,
                    max: 0,
                    ..
                }
            ),
            "{err}"
        );
        assert!(matches!(
            r.u8(&|| "x".into()),
            Err(FileError::Truncated { offset: 21, .. })
        ));
    }
}
