//! One file per GGML block format. Layouts from ggml/src/ggml-common.h, maths from
//! ggml/src/ggml-quants.c and ggml/src/ggml-cuda/vecdotq.cuh.

mod float;
mod nibbles;
mod q4_0;
mod q4_1;
mod q5_0;
mod q5_1;
mod q8_0;
mod q8_1;

pub use q4_0::BlockQ4_0;
pub use q4_1::BlockQ4_1;
pub use q5_0::BlockQ5_0;
pub use q5_1::BlockQ5_1;
pub use q8_0::BlockQ8_0;
pub use q8_1::BlockQ8_1;
