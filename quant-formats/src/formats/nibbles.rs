//! Bit packing shared by the 32-element 4- and 5-bit formats (Q4_0, Q4_1, Q5_0, Q5_1).
//!
//! Layout (ggml-common.h): byte `qs[j]` holds element `j` in its low nibble and element `j + 16`
//! in its high nibble; for 5-bit formats bit `j` of the little-endian `u32` `qh` is the fifth bit
//! of element `j`.

/// Elements per block of every format in this module.
pub(crate) const QK: usize = 32;

/// The 32 unsigned 4-bit values of `qs`, in element order.
pub(crate) fn unpack_nibbles(qs: &[u8; QK / 2]) -> [u8; QK] {
    let mut q = [0u8; QK];
    for (j, &byte) in qs.iter().enumerate() {
        q[j] = byte & 0x0F;
        q[j + QK / 2] = byte >> 4;
    }
    q
}

/// The 32 unsigned 5-bit values of `qs` + `qh`, in element order.
pub(crate) fn unpack_nibbles_high_bits(qs: &[u8; QK / 2], qh: [u8; 4]) -> [u8; QK] {
    let high = u32::from_le_bytes(qh);
    let mut q = unpack_nibbles(qs);
    for (j, v) in q.iter_mut().enumerate() {
        *v |= (((high >> j) & 1) as u8) << 4;
    }
    q
}

/// Packs 32 values below 16 into `qs` (inverse of [`unpack_nibbles`]).
pub(crate) fn pack_nibbles(q: &[u8; QK]) -> [u8; QK / 2] {
    std::array::from_fn(|j| (q[j] & 0x0F) | ((q[j + QK / 2] & 0x0F) << 4))
}

/// Packs 32 values below 32 into `(qs, qh)` (inverse of [`unpack_nibbles_high_bits`]).
pub(crate) fn pack_nibbles_high_bits(q: &[u8; QK]) -> ([u8; QK / 2], [u8; 4]) {
    let high = q
        .iter()
        .enumerate()
        .fold(0u32, |acc, (j, &v)| acc | (u32::from((v >> 4) & 1) << j));
    (pack_nibbles(q), high.to_le_bytes())
}

/// Integer dot product of unsigned quants with signed Q8 quants: the dp4a sum `sumi` of
/// ggml-cuda's `vec_dot_*_q8_1_impl` over a whole block.
pub(crate) fn dot_unsigned_signed(q: &[u8; QK], q8: &[i8; QK]) -> i32 {
    q.iter()
        .zip(q8)
        .map(|(&a, &b)| i32::from(a) * i32::from(b))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_round_trips_and_matches_ggml_positions() {
        let q: [u8; QK] = std::array::from_fn(|i| ((i * 7 + 3) % 32) as u8);
        let (qs, qh) = pack_nibbles_high_bits(&q);
        assert_eq!(unpack_nibbles_high_bits(&qs, qh), q);
        // Element 0 in the low nibble of byte 0, element 16 in its high nibble.
        assert_eq!(qs[0], (q[0] & 0xF) | ((q[16] & 0xF) << 4));
        // Fifth bit of element 31 is bit 31 of qh.
        assert_eq!(qh[3] >> 7, q[31] >> 4);
        let q4: [u8; QK] = std::array::from_fn(|i| (i % 16) as u8);
        assert_eq!(unpack_nibbles(&pack_nibbles(&q4)), q4);
    }
}
