//! PTX text generation: a typed builder, `KernelType`, one module per kernel family. No GPU.
