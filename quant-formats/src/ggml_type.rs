//! The GGML tensor type ids a Llama-family GGUF can hold, and their block geometry.
//!
//! Ids from ggml's `enum ggml_type` (ggml/include/ggml.h).

use crate::QuantError;
use std::fmt;

/// A GGML tensor element type. The discriminant is the id stored in GGUF tensor infos.
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
pub enum GgmlType {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ4_NL = 20,
    IQ4_XS = 23,
    BF16 = 30,
}

impl GgmlType {
    /// Every supported type, in id order.
    pub const ALL: [GgmlType; 17] = [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::Q8_0,
        GgmlType::Q8_1,
        GgmlType::Q2_K,
        GgmlType::Q3_K,
        GgmlType::Q4_K,
        GgmlType::Q5_K,
        GgmlType::Q6_K,
        GgmlType::Q8_K,
        GgmlType::IQ4_NL,
        GgmlType::IQ4_XS,
        GgmlType::BF16,
    ];

    /// Parses a GGUF tensor type id. Ids ggml knows but this engine does not run
    /// (removed Q4_2/Q4_3, the IQ1/IQ2/IQ3 families, TQ*, MXFP4, I8..I64) are typed errors.
    pub fn from_id(id: u32) -> Result<Self, QuantError> {
        Self::ALL
            .iter()
            .copied()
            .find(|t| t.id() == id)
            .ok_or(match id {
                4 | 5 => QuantError::UnsupportedType("Q4_2/Q4_3 (removed upstream)"),
                16..=19 | 21 | 22 | 29 => QuantError::UnsupportedType("IQ1/IQ2/IQ3 family"),
                24..=28 => QuantError::UnsupportedType("I8/I16/I32/I64/F64"),
                31..=33 => {
                    QuantError::UnsupportedType("Q4_0_4_4/Q4_0_4_8/Q4_0_8_8 (removed upstream)")
                }
                34 | 35 => QuantError::UnsupportedType("TQ1_0/TQ2_0"),
                39 => QuantError::UnsupportedType("MXFP4"),
                _ => QuantError::UnknownTypeId(id),
            })
    }

    /// The GGUF tensor type id.
    pub const fn id(self) -> u32 {
        self as u32
    }

    /// ggml's name (`ggml_type_name`).
    pub const fn name(self) -> &'static str {
        match self {
            GgmlType::F32 => "F32",
            GgmlType::F16 => "F16",
            GgmlType::Q4_0 => "Q4_0",
            GgmlType::Q4_1 => "Q4_1",
            GgmlType::Q5_0 => "Q5_0",
            GgmlType::Q5_1 => "Q5_1",
            GgmlType::Q8_0 => "Q8_0",
            GgmlType::Q8_1 => "Q8_1",
            GgmlType::Q2_K => "Q2_K",
            GgmlType::Q3_K => "Q3_K",
            GgmlType::Q4_K => "Q4_K",
            GgmlType::Q5_K => "Q5_K",
            GgmlType::Q6_K => "Q6_K",
            GgmlType::Q8_K => "Q8_K",
            GgmlType::IQ4_NL => "IQ4_NL",
            GgmlType::IQ4_XS => "IQ4_XS",
            GgmlType::BF16 => "BF16",
        }
    }

    /// Parses ggml's name, case-insensitively.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|t| t.name().eq_ignore_ascii_case(name))
    }

    /// Elements per block (`ggml_blck_size`): 1 for floats, 32 or 256 for quantised types.
    pub const fn block_elems(self) -> usize {
        match self {
            GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 => 1,
            GgmlType::Q4_0
            | GgmlType::Q4_1
            | GgmlType::Q5_0
            | GgmlType::Q5_1
            | GgmlType::Q8_0
            | GgmlType::Q8_1
            | GgmlType::IQ4_NL => 32,
            GgmlType::Q2_K
            | GgmlType::Q3_K
            | GgmlType::Q4_K
            | GgmlType::Q5_K
            | GgmlType::Q6_K
            | GgmlType::Q8_K
            | GgmlType::IQ4_XS => 256,
        }
    }

    /// Bytes per block (`ggml_type_size`). Equals `size_of` of the block struct (asserted there).
    pub const fn block_bytes(self) -> usize {
        match self {
            GgmlType::F32 => 4,
            GgmlType::F16 | GgmlType::BF16 => 2,
            GgmlType::Q4_0 => 18,
            GgmlType::Q4_1 => 20,
            GgmlType::Q5_0 => 22,
            GgmlType::Q5_1 => 24,
            GgmlType::Q8_0 => 34,
            GgmlType::Q8_1 => 36,
            GgmlType::Q2_K => 84,
            GgmlType::Q3_K => 110,
            GgmlType::Q4_K => 144,
            GgmlType::Q5_K => 176,
            GgmlType::Q6_K => 210,
            GgmlType::Q8_K => 292,
            GgmlType::IQ4_NL => 18,
            GgmlType::IQ4_XS => 136,
        }
    }

    /// True for the integer block formats (everything but F32/F16/BF16).
    pub const fn is_quantized(self) -> bool {
        self.block_elems() > 1
    }

    /// Number of blocks holding `elements`; a partial block is an error.
    pub fn blocks_for(self, elements: usize) -> Result<usize, QuantError> {
        let block = self.block_elems();
        if !elements.is_multiple_of(block) {
            return Err(QuantError::PartialBlock {
                ty: self,
                elements,
                block,
            });
        }
        Ok(elements / block)
    }

    /// Bytes holding `elements` (`ggml_row_size`), checked for partial blocks and overflow.
    pub fn bytes_for(self, elements: u64) -> Result<u64, QuantError> {
        let block = self.block_elems() as u64;
        if !elements.is_multiple_of(block) {
            return Err(QuantError::PartialBlock {
                ty: self,
                elements: usize::try_from(elements).unwrap_or(usize::MAX),
                block: block as usize,
            });
        }
        (elements / block)
            .checked_mul(self.block_bytes() as u64)
            .ok_or(QuantError::SizeOverflow { ty: self, elements })
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_unknown_ids_are_errors() {
        for t in GgmlType::ALL {
            assert_eq!(GgmlType::from_id(t.id()), Ok(t));
            assert_eq!(GgmlType::from_name(t.name()), Some(t));
        }
        assert_eq!(
            GgmlType::from_id(1000),
            Err(QuantError::UnknownTypeId(1000))
        );
        assert!(matches!(
            GgmlType::from_id(4),
            Err(QuantError::UnsupportedType(_))
        ));
    }

    #[test]
    fn partial_blocks_are_errors() {
        assert_eq!(GgmlType::Q4_K.blocks_for(512), Ok(2));
        assert!(GgmlType::Q4_K.blocks_for(100).is_err());
        assert_eq!(GgmlType::Q8_0.bytes_for(64), Ok(68));
        assert!(GgmlType::Q8_0.bytes_for(u64::MAX - 31).is_err());
    }
}
