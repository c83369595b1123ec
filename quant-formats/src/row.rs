//! The runtime API over raw byte buffers (GGUF tensor data, possibly unaligned mmap slices),
//! dispatched on [`GgmlType`] to the block formats in `formats/`.

use crate::{BlockIQ4NL, BlockIQ4XS, BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K};
use crate::{BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ8_1};
use crate::{GgmlType, QuantBlock, QuantError};
use half::{bf16, f16};
use std::borrow::Cow;

/// Evaluates `$body` with the type name `$B` bound to the block struct of `$ty`; the body must
/// be a `Result<_, QuantError>`. This is the one place that maps a runtime type to a block type.
macro_rules! dispatch_block {
    ($ty:expr, $B:ident => $body:expr) => {
        match $ty {
            GgmlType::F32 => {
                type $B = f32;
                $body
            }
            GgmlType::F16 => {
                type $B = f16;
                $body
            }
            GgmlType::BF16 => {
                type $B = bf16;
                $body
            }
            GgmlType::Q4_0 => {
                type $B = BlockQ4_0;
                $body
            }
            GgmlType::Q4_1 => {
                type $B = BlockQ4_1;
                $body
            }
            GgmlType::Q5_0 => {
                type $B = BlockQ5_0;
                $body
            }
            GgmlType::Q5_1 => {
                type $B = BlockQ5_1;
                $body
            }
            GgmlType::Q8_0 => {
                type $B = BlockQ8_0;
                $body
            }
            GgmlType::Q8_1 => {
                type $B = BlockQ8_1;
                $body
            }
            GgmlType::Q2_K => {
                type $B = BlockQ2K;
                $body
            }
            GgmlType::Q3_K => {
                type $B = BlockQ3K;
                $body
            }
            GgmlType::Q4_K => {
                type $B = BlockQ4K;
                $body
            }
            GgmlType::Q5_K => {
                type $B = BlockQ5K;
                $body
            }
            GgmlType::Q6_K => {
                type $B = BlockQ6K;
                $body
            }
            GgmlType::Q8_K => {
                type $B = BlockQ8K;
                $body
            }
            GgmlType::IQ4_NL => {
                type $B = BlockIQ4NL;
                $body
            }
            GgmlType::IQ4_XS => {
                type $B = BlockIQ4XS;
                $body
            }
        }
    };
}

/// Dequantises a row: `bytes` holds whole `ty` blocks, `out` exactly their elements.
/// Bit-identical to ggml's `dequantize_row_*` and gguf-py's `gguf.quants.dequantize`.
pub fn dequantize_row(ty: GgmlType, bytes: &[u8], out: &mut [f32]) -> Result<(), QuantError> {
    dispatch_block!(ty, B => dequantize_blocks::<B>(bytes, out))
}

/// Quantises a row of whole blocks with llama.cpp's `quantize_row_*_ref`; returns the block bytes.
pub fn quantize_row(ty: GgmlType, src: &[f32]) -> Result<Vec<u8>, QuantError> {
    dispatch_block!(ty, B => quantize_blocks::<B>(src))
}

/// The activation format `vec_dot_row` expects for weights of type `weight`: F32 for float
/// weights, Q8_1 for the 32-element integer formats and the k-quants, Q8_K for Q8_K.
pub fn activation_type(weight: GgmlType) -> Result<GgmlType, QuantError> {
    dispatch_block!(weight, B => Ok(<<B as QuantBlock>::Activation as QuantBlock>::TYPE))
}

/// Dot product of one weight row (`weight_bytes`, whole `ty` blocks) with an activation row
/// quantised for that weight type, computed as ggml-cuda's `vecdotq.cuh` computes it.
pub fn vec_dot_row(
    ty: GgmlType,
    weight_bytes: &[u8],
    act: &QuantizedActivation,
) -> Result<f32, QuantError> {
    dispatch_block!(ty, B => vec_dot_blocks::<B>(weight_bytes, act))
}

/// An activation row in the format a weight type's `vec_dot` consumes, as its block bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantizedActivation {
    ty: GgmlType,
    elements: usize,
    bytes: Vec<u8>,
}

impl QuantizedActivation {
    /// Quantises `x` into [`activation_type`]`(weight)` (f32 stays f32).
    pub fn for_weight(weight: GgmlType, x: &[f32]) -> Result<Self, QuantError> {
        let ty = activation_type(weight)?;
        Ok(QuantizedActivation {
            ty,
            elements: x.len(),
            bytes: quantize_row(ty, x)?,
        })
    }

    /// The activation format.
    pub fn ty(&self) -> GgmlType {
        self.ty
    }

    /// Number of activation elements.
    pub fn elements(&self) -> usize {
        self.elements
    }

    /// The blocks as bytes, in ggml's layout.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The values the quantised activation stands for.
    pub fn dequantize(&self) -> Result<Vec<f32>, QuantError> {
        let mut out = vec![0.0; self.elements];
        dequantize_row(self.ty, &self.bytes, &mut out)?;
        Ok(out)
    }
}

/// Views `bytes` as blocks, copying only when the buffer is not aligned for `B`.
fn blocks_from_bytes<B: QuantBlock>(bytes: &[u8]) -> Result<Cow<'_, [B]>, QuantError> {
    if !bytes.len().is_multiple_of(B::BLOCK_BYTES) {
        return Err(QuantError::PartialBlockBytes {
            ty: B::TYPE,
            bytes: bytes.len(),
            block: B::BLOCK_BYTES,
        });
    }
    Ok(match bytemuck::try_cast_slice(bytes) {
        Ok(blocks) => Cow::Borrowed(blocks),
        Err(_) => Cow::Owned(
            bytes
                .chunks_exact(B::BLOCK_BYTES)
                .map(bytemuck::pod_read_unaligned)
                .collect(),
        ),
    })
}

fn dequantize_blocks<B: QuantBlock>(bytes: &[u8], out: &mut [f32]) -> Result<(), QuantError> {
    let blocks = blocks_from_bytes::<B>(bytes)?;
    let expected = blocks.len() * B::BLOCK_ELEMS;
    if out.len() != expected {
        return Err(QuantError::LengthMismatch {
            ty: B::TYPE,
            expected,
            got: out.len(),
        });
    }
    for (block, y) in blocks.iter().zip(out.chunks_exact_mut(B::BLOCK_ELEMS)) {
        block.dequantize_block(y);
    }
    Ok(())
}

fn quantize_blocks<B: QuantBlock>(src: &[f32]) -> Result<Vec<u8>, QuantError> {
    B::TYPE.blocks_for(src.len())?;
    let blocks: Vec<B> = src
        .chunks_exact(B::BLOCK_ELEMS)
        .map(B::quantize_block)
        .collect();
    Ok(bytemuck::cast_slice(&blocks).to_vec())
}

fn vec_dot_blocks<B: QuantBlock>(
    weight_bytes: &[u8],
    act: &QuantizedActivation,
) -> Result<f32, QuantError> {
    let expected_act = <B::Activation as QuantBlock>::TYPE;
    if act.ty != expected_act {
        return Err(QuantError::ActivationMismatch {
            weight: B::TYPE,
            expected: expected_act,
            got: act.ty,
        });
    }
    let weights = blocks_from_bytes::<B>(weight_bytes)?;
    let elements = weights.len() * B::BLOCK_ELEMS;
    if act.elements != elements {
        return Err(QuantError::LengthMismatch {
            ty: B::TYPE,
            expected: elements,
            got: act.elements,
        });
    }
    let act_blocks = blocks_from_bytes::<B::Activation>(&act.bytes)?;
    Ok(B::vec_dot(&weights, &act_blocks))
}
